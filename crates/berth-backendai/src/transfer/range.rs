//! Part of a file of a cluster folder, for a preview: a download grant, then one ranged GET to
//! the storage proxy for just the bytes on screen — so the first screen of a 10 GB log costs
//! what a small file's does.

use berth_core::{Error, ErrorCode, FileRange, FolderPath, LARGEST_RANGE, Result};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE};

use super::download::{content_range, grant, unsatisfied_size};
use super::{StorageProxyTransport, cut, refused};

impl StorageProxyTransport {
    /// Up to `length` bytes of `path` in `folder` from `offset`, and the file's size.
    pub(crate) async fn read_range(
        &self,
        folder: &str,
        path: &FolderPath,
        offset: u64,
        length: u32,
    ) -> Result<FileRange> {
        // The server's words name no file ("File not found"): these do, as the local engine's.
        self.read(folder, path, offset, length)
            .await
            .map_err(|error| match error.code {
                ErrorCode::NotFound => Error::new(
                    ErrorCode::NotFound,
                    format!("There is no file \"{path}\" in folder \"{folder}\"."),
                ),
                ErrorCode::InvalidInput => Error::invalid_input(format!(
                    "\"{path}\" in folder \"{folder}\" is not a regular file."
                )),
                _ => error,
            })
    }

    async fn read(
        &self,
        folder: &str,
        path: &FolderPath,
        offset: u64,
        length: u32,
    ) -> Result<FileRange> {
        let url = grant(self, folder, path).await?;
        let length = u64::from(length.clamp(1, LARGEST_RANGE));
        let response = self
            .http()
            .get(url.clone())
            .header("Range", format!("bytes={offset}-{}", offset + length - 1))
            .send()
            .await
            .map_err(|e| cut(&url, &e))?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (range_header, length_header) = (header(CONTENT_RANGE), header(CONTENT_LENGTH));
        let size = match status {
            StatusCode::PARTIAL_CONTENT => range_header
                .as_deref()
                .and_then(content_range)
                .and_then(|(_, total)| total)
                .ok_or_else(|| {
                    Error::internal("The storage proxy sent part of a file without its size.")
                })?,
            // A server that ignores ranges sends it all: the part is cut out of the stream below.
            StatusCode::OK => length_header.and_then(|l| l.parse().ok()).unwrap_or(0),
            // Past the end: nothing to show there.
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let size = range_header
                    .as_deref()
                    .and_then(unsatisfied_size)
                    .unwrap_or(offset);
                return Ok(FileRange {
                    offset,
                    bytes: Vec::new(),
                    size,
                });
            }
            _ => {
                let body = response.text().await.unwrap_or_default();
                return Err(refused(&url, status, &body));
            }
        };
        let skip = if status == StatusCode::OK { offset } else { 0 };
        let mut bytes = Vec::with_capacity(length as usize);
        let mut seen = 0u64;
        let mut response = response;
        while (bytes.len() as u64) < length {
            let Some(chunk) = response.chunk().await.map_err(|e| cut(&url, &e))? else {
                break;
            };
            let start = skip.saturating_sub(seen).min(chunk.len() as u64) as usize;
            seen += chunk.len() as u64;
            let room = (length - bytes.len() as u64) as usize;
            let piece = &chunk[start..];
            bytes.extend_from_slice(&piece[..piece.len().min(room)]);
        }
        Ok(FileRange {
            offset,
            bytes,
            size,
        })
    }
}
