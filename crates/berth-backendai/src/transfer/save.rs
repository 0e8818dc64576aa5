//! A whole file written into a cluster folder for the window's editor: the same check as the
//! local engine's against the folder's listing, then one upload grant and one PATCH. The storage
//! proxy writes the upload beside the folder (`.upload/`) and renames it into place once it has
//! every byte, so the folder never holds a half-written file under its name. The check and
//! the rename are two requests apart: a change made by someone else in that moment (the time
//! of one small upload) is not seen — the closest the storage proxy's API allows.

use std::time::Duration;

use berth_core::engine::split_file_path;
use berth_core::files::check_save;
use berth_core::{Error, FileEntry, FileVersion, FolderPath, Result, SaveMode};
use serde_json::json;

use super::{StorageProxyTransport, cut, refused};
use crate::folders;

impl StorageProxyTransport {
    /// Writes `bytes` as file `path` of `folder` by `mode` (see
    /// [`berth_core::Engine::write_file`]).
    pub(crate) async fn save(
        &self,
        folder: &str,
        path: &FolderPath,
        bytes: Vec<u8>,
        mode: SaveMode,
    ) -> Result<FileVersion> {
        let (parent, name) = split_file_path(path)?;
        folders::writable(self.engine.connection(), folder).await?;
        let found = self.entry(folder, &parent, &name).await?;
        check_save(folder, path.as_str(), found.as_ref(), mode)?;
        let size = bytes.len() as u64;
        let grant = self
            .grant(
                folder,
                "request-upload",
                json!({ "path": path.as_str(), "size": size }),
            )
            .await?;
        let url = self.address(&grant.url, &grant.token)?;
        let response = self
            .http()
            .patch(url.clone())
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .timeout(Duration::from_secs(60))
            .body(bytes)
            .send()
            .await
            .map_err(|e| cut(&url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(refused(&url, status, &body));
        }
        self.remember(folder, path);
        let saved = self.entry(folder, &parent, &name).await?.ok_or_else(|| {
            Error::internal(format!(
                "The storage proxy took \"{path}\" but folder \"{folder}\" does not list it."
            ))
        })?;
        Ok(FileVersion::from(&saved))
    }

    /// What is at `name` in `parent` of `folder` now.
    async fn entry(
        &self,
        folder: &str,
        parent: &FolderPath,
        name: &str,
    ) -> Result<Option<FileEntry>> {
        let found =
            folders::stat_files(self.engine.connection(), folder, parent, vec![name.into()])
                .await?;
        Ok(found.into_iter().next())
    }
}
