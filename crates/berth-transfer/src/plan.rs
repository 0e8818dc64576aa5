//! Planning is the engine's part of a transfer: it knows its folders, so it turns "these paths,
//! into there" into one spec per file and says which destinations already exist. The app and
//! the CLI hold whichever engine is active behind this one trait instead of asking each time.

use std::path::{Path, PathBuf};

use berth_core::{FolderPath, Result};

use crate::{ConflictPolicy, TransferSpec};

#[async_trait::async_trait]
pub trait PlanTransfers: Send + Sync {
    /// Files and directory trees of this computer into directory `to` of `folder`; refuses a
    /// read-only or missing folder before anything is walked.
    async fn plan_upload(
        &self,
        folder: &str,
        sources: &[PathBuf],
        to: &FolderPath,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>>;

    /// Files and trees of `folder` into directory `to` on this computer.
    async fn plan_download(
        &self,
        folder: &str,
        paths: &[FolderPath],
        to: &Path,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>>;

    /// The planned transfers whose destination already exists, for the conflict question.
    async fn existing_destinations(&self, specs: &[TransferSpec]) -> Result<Vec<String>>;
}
