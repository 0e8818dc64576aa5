//! The desktop notification shown when a batch of transfers ends: what it says is worked out
//! here from the batch's jobs; showing it is the notification plugin's job.

use std::path::{Path, PathBuf};

use berth_transfer::{Direction, Job, Queue, QueueEvent};
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// The notice for a finished batch of `jobs` (all of one batch) with `done` files moved and
/// `failed` failed; `None` when nothing moved or failed (the user cancelled everything, and
/// knows).
pub fn describe<'a>(
    jobs: impl IntoIterator<Item = &'a Job>,
    done: u32,
    failed: u32,
) -> Option<Notice> {
    let jobs: Vec<&Job> = jobs.into_iter().collect();
    let first = jobs.first()?;
    if done == 0 && failed == 0 {
        return None;
    }
    let files = |n: u32| {
        if n == 1 {
            "1 file".to_string()
        } else {
            format!("{n} files")
        }
    };
    let (verb, place) = match first.spec.direction {
        Direction::Upload => ("uploaded", first.spec.folder.clone()),
        Direction::Download => (
            "downloaded",
            common_directory(jobs.iter().map(|j| j.spec.local_path.as_path()))
                .display()
                .to_string(),
        ),
    };
    let title = match (first.spec.direction, failed) {
        (Direction::Upload, 0) => "Upload finished",
        (Direction::Download, 0) => "Download finished",
        (Direction::Upload, _) => "Upload finished with errors",
        (Direction::Download, _) => "Download finished with errors",
    };
    let mut body = format!("{} {verb} to {place}", files(done));
    if failed > 0 {
        body.push_str(&format!(", {} failed", files(failed)));
    }
    body.push('.');
    Some(Notice {
        title: title.to_string(),
        body,
    })
}

/// The deepest directory holding every path: where a download batch went.
fn common_directory<'a>(paths: impl Iterator<Item = &'a Path>) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths {
        let parent = path.parent().unwrap_or(path);
        common = Some(match common {
            None => parent.to_path_buf(),
            Some(so_far) => so_far
                .components()
                .zip(parent.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// Shows a notification whenever one of `queue`'s batches finishes, for as long as the app runs.
pub fn show_when_batches_finish(app: AppHandle, queue: Queue) {
    let mut events = queue.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            let (batch, done, failed) = match events.recv().await {
                // A sync's passes are not announced: its row in Syncs says how it stands.
                Ok(QueueEvent::BatchFinished { batch, .. })
                    if batch.starts_with(berth_sync::live::BATCH_PREFIX) =>
                {
                    continue;
                }
                Ok(QueueEvent::BatchFinished {
                    batch,
                    done,
                    failed,
                }) => (batch, done, failed),
                Ok(_) => continue,
                // Progress floods may push a batch's end out of the buffer; missing one
                // notification beats stalling the queue.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let jobs = queue.jobs();
            let Some(notice) =
                describe(jobs.iter().filter(|j| j.spec.batch == batch), done, failed)
            else {
                continue;
            };
            if let Err(error) = app
                .notification()
                .builder()
                .title(&notice.title)
                .body(&notice.body)
                .show()
            {
                tracing::warn!(%error, "cannot show the transfer notification");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use berth_transfer::{ConflictPolicy, JobState, TransferSpec};

    use super::*;

    fn job(direction: Direction, local: &str) -> Job {
        Job {
            id: 1,
            spec: TransferSpec {
                batch: "b".into(),
                direction,
                folder: "user2-vfolder".into(),
                remote_path: "x".into(),
                local_path: PathBuf::from(local),
                size: 1,
                conflict: ConflictPolicy::Fail,
            },
            state: JobState::Done,
            done_bytes: 1,
            error: None,
            final_path: None,
        }
    }

    #[test]
    fn uploads_name_the_folder_and_downloads_the_directory() {
        let up = [
            job(Direction::Upload, "/home/u/a"),
            job(Direction::Upload, "/home/u/b"),
        ];
        let notice = describe(&up, 2, 0).unwrap();
        assert_eq!(notice.title, "Upload finished");
        assert_eq!(notice.body, "2 files uploaded to user2-vfolder.");

        let down = [
            job(Direction::Download, "/tmp/out/test_file"),
            job(Direction::Download, "/tmp/out/results/metrics.csv"),
        ];
        let notice = describe(&down, 1, 1).unwrap();
        assert_eq!(notice.title, "Download finished with errors");
        assert_eq!(notice.body, "1 file downloaded to /tmp/out, 1 file failed.");
    }

    #[test]
    fn a_batch_cancelled_entirely_says_nothing() {
        assert_eq!(describe(&[job(Direction::Upload, "/a")], 0, 0), None);
        assert_eq!(describe(&[], 1, 0), None);
    }
}
