//! The queue: which jobs run now, and what happens when the user pauses, resumes, cancels or
//! retries one. Jobs live in memory for speed and in the [`Journal`] for crashes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use berth_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};

use crate::journal::{JobId, Journal};
use crate::progress::Meter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From this computer into a folder.
    Upload,
    /// From a folder to this computer.
    Download,
}

/// What to do when the destination already exists, decided before the job is queued (the UI
/// asks; the CLI takes `--conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    Replace,
    Skip,
    /// Keep the existing file and write this one as `name (1).ext`.
    KeepBoth,
    /// Fail the job rather than touch the existing file.
    Fail,
}

/// One file to move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct TransferSpec {
    /// Jobs queued by one user action share a batch; its end is announced once.
    pub batch: String,
    pub direction: Direction,
    /// The folder's name on the engine.
    pub folder: String,
    /// The path inside the folder (destination of an upload, source of a download).
    pub remote_path: String,
    /// The file on this computer (source of an upload, destination of a download).
    #[specta(type = String)]
    pub local_path: PathBuf,
    /// Bytes expected, as measured when queued.
    pub size: u64,
    pub conflict: ConflictPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Paused,
    Done,
    /// The destination existed and the policy said skip.
    Skipped,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Skipped | Self::Failed | Self::Cancelled
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Job {
    pub id: JobId,
    pub spec: TransferSpec,
    pub state: JobState,
    pub done_bytes: u64,
    pub error: Option<String>,
    /// Where the file ended up (with keep-both, not the name asked for).
    pub final_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueEvent {
    Progress {
        id: JobId,
        done_bytes: u64,
        total_bytes: u64,
        bytes_per_second: f64,
        eta_seconds: Option<f64>,
    },
    /// A job was queued or changed state; carries the whole job so a listener that has not
    /// seen it yet can show it without asking for the list again.
    State { job: Job },
    BatchFinished {
        batch: String,
        done: u32,
        failed: u32,
    },
}

/// How a transport's attempt ended when it did not finish.
#[derive(Debug)]
pub enum TransferError {
    /// The queue asked it to stop (pause or cancel); what it wrote so far stays for a resume.
    Stopped,
    Failed(Error),
}

impl From<Error> for TransferError {
    fn from(error: Error) -> Self {
        Self::Failed(error)
    }
}

/// How a transport's attempt ended when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done { final_path: String, size: u64 },
    Skipped,
}

/// Set when the queue wants a running job to stop; transports check it between chunks.
#[derive(Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// How one engine moves bytes. `run` continues from whatever a previous attempt of the same job
/// left at the destination, reports bytes done, checks `stop` between chunks, verifies the
/// result, and only then puts the file under its final name.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn run(
        &self,
        job: &Job,
        stop: StopSignal,
        progress: ProgressFn,
    ) -> Result<Outcome, TransferError>;

    /// Removes what a cancelled job left behind (its partial file). Never touches a final file.
    async fn discard(&self, job: &Job);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Pause,
    Cancel,
}

struct Running {
    stop: watch::Sender<bool>,
    reason: Option<StopReason>,
}

struct State {
    jobs: BTreeMap<JobId, Job>,
    /// Queued job ids in the order they will start; stale ids (no longer queued) are skipped.
    waiting: VecDeque<JobId>,
    running: HashMap<JobId, Running>,
    /// Per batch, how many jobs have not finished; kept as jobs change state so finishing one
    /// of 10,000 jobs does not scan them all.
    unfinished: HashMap<String, usize>,
    /// How many jobs are queued or running.
    busy: usize,
}

impl State {
    /// Records that `job` goes from `from` (None: new to the queue) to `to` in the counters.
    fn count(&mut self, batch: &str, from: Option<JobState>, to: JobState) {
        let unfinished = |s: Option<JobState>| s.is_some_and(|s| !s.is_finished());
        let busy = |s: Option<JobState>| matches!(s, Some(JobState::Queued | JobState::Running));
        match (unfinished(from), unfinished(Some(to))) {
            (false, true) => *self.unfinished.entry(batch.to_string()).or_default() += 1,
            (true, false) => {
                if let Some(left) = self.unfinished.get_mut(batch) {
                    *left = left.saturating_sub(1);
                }
            }
            _ => {}
        }
        match (busy(from), busy(Some(to))) {
            (false, true) => self.busy += 1,
            (true, false) => self.busy = self.busy.saturating_sub(1),
            _ => {}
        }
    }

    /// Moves job `id` to `to`, keeping the counters right; returns the updated job.
    fn transition(&mut self, id: JobId, to: JobState) -> Option<&mut Job> {
        let (batch, from) = self
            .jobs
            .get(&id)
            .map(|j| (j.spec.batch.clone(), j.state))?;
        self.count(&batch, Some(from), to);
        let job = self.jobs.get_mut(&id)?;
        job.state = to;
        Some(job)
    }
}

struct Inner {
    journal: Journal,
    transport: Arc<dyn Transport>,
    /// How many jobs run at once.
    limit: usize,
    state: Mutex<State>,
    wake: Notify,
    events: broadcast::Sender<QueueEvent>,
}

/// The transfer queue. Cheap to clone; all clones are the same queue.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

/// How often a running job reports progress to listeners and to the journal.
const EVENT_EVERY: Duration = Duration::from_millis(100);
const JOURNAL_EVERY: Duration = Duration::from_secs(1);

impl Queue {
    /// Opens the queue on `journal`. Jobs a crash left running are queued again (their
    /// transport resumes them from what reached the destination); paused jobs stay paused.
    /// Call [`Queue::start`] to begin running jobs.
    pub fn open(journal: Journal, transport: Arc<dyn Transport>, limit: usize) -> Result<Self> {
        let mut jobs = BTreeMap::new();
        let mut waiting = VecDeque::new();
        let mut counted = State {
            jobs: BTreeMap::new(),
            waiting: VecDeque::new(),
            running: HashMap::new(),
            unfinished: HashMap::new(),
            busy: 0,
        };
        for mut job in journal.jobs()? {
            if job.state == JobState::Running {
                job.state = JobState::Queued;
                journal.set_state(job.id, JobState::Queued, None)?;
            }
            if job.state == JobState::Queued {
                waiting.push_back(job.id);
            }
            counted.count(&job.spec.batch, None, job.state);
            jobs.insert(job.id, job);
        }
        let (events, _) = broadcast::channel(4096);
        Ok(Self {
            inner: Arc::new(Inner {
                journal,
                transport,
                limit: limit.max(1),
                state: Mutex::new(State {
                    jobs,
                    waiting,
                    ..counted
                }),
                wake: Notify::new(),
                events,
            }),
        })
    }

    /// Spawns the scheduler on the current tokio runtime; it lives as long as the runtime.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let queue = self.clone();
        tokio::spawn(async move {
            loop {
                queue.start_waiting_jobs();
                // notify_one stores a permit, so a wake between the two lines is not lost.
                queue.inner.wake.notified().await;
            }
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        self.inner.events.subscribe()
    }

    /// Queues one job per spec, in order, and returns their ids.
    pub fn enqueue(&self, specs: Vec<TransferSpec>) -> Result<Vec<JobId>> {
        let ids = self.inner.journal.insert_all(&specs, now_ms())?;
        let mut state = self.lock();
        for (&id, spec) in ids.iter().zip(specs) {
            state.count(&spec.batch, None, JobState::Queued);
            state.jobs.insert(
                id,
                Job {
                    id,
                    spec,
                    state: JobState::Queued,
                    done_bytes: 0,
                    error: None,
                    final_path: None,
                },
            );
            state.waiting.push_back(id);
        }
        let queued: Vec<Job> = ids
            .iter()
            .filter_map(|id| state.jobs.get(id).cloned())
            .collect();
        drop(state);
        for job in queued {
            self.emit(QueueEvent::State { job });
        }
        self.inner.wake.notify_one();
        Ok(ids)
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.lock().jobs.values().cloned().collect()
    }

    pub fn job(&self, id: JobId) -> Option<Job> {
        self.lock().jobs.get(&id).cloned()
    }

    /// Stops a running job keeping what it transferred, or holds a queued one back.
    pub fn pause(&self, id: JobId) -> Result<()> {
        let mut state = self.lock();
        if let Some(running) = state.running.get_mut(&id) {
            running.reason = Some(StopReason::Pause);
            let _ = running.stop.send(true);
            return Ok(());
        }
        match self.state_of(&state, id)? {
            JobState::Queued => self.set_state(&mut state, id, JobState::Paused, None),
            _ => Ok(()),
        }
    }

    /// Queues a paused job again; it continues where it stopped.
    pub fn resume(&self, id: JobId) -> Result<()> {
        let mut state = self.lock();
        if self.state_of(&state, id)? == JobState::Paused {
            self.set_state(&mut state, id, JobState::Queued, None)?;
            state.waiting.push_back(id);
            drop(state);
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    /// Queues a failed or cancelled job again.
    pub fn retry(&self, id: JobId) -> Result<()> {
        let mut state = self.lock();
        if matches!(
            self.state_of(&state, id)?,
            JobState::Failed | JobState::Cancelled
        ) {
            self.set_state(&mut state, id, JobState::Queued, None)?;
            state.waiting.push_back(id);
            drop(state);
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    /// Stops a job for good and removes its partial file. Other jobs are not held up: the freed
    /// slot goes to the next queued job at once.
    pub async fn cancel(&self, id: JobId) -> Result<()> {
        let discard = {
            let mut state = self.lock();
            if let Some(running) = state.running.get_mut(&id) {
                running.reason = Some(StopReason::Cancel);
                let _ = running.stop.send(true);
                None
            } else if matches!(
                self.state_of(&state, id)?,
                JobState::Queued | JobState::Paused | JobState::Failed
            ) {
                self.set_state(&mut state, id, JobState::Cancelled, None)?;
                state.jobs.get(&id).cloned()
            } else {
                None
            }
        };
        if let Some(job) = discard {
            self.inner.transport.discard(&job).await;
            self.announce_batch_if_finished(&job.spec.batch);
        }
        Ok(())
    }

    /// Applies `action` to every job it makes sense for.
    pub async fn pause_all(&self) -> Result<()> {
        for id in self.ids_in(&[JobState::Queued, JobState::Running]) {
            self.pause(id)?;
        }
        Ok(())
    }

    pub async fn resume_all(&self) -> Result<()> {
        for id in self.ids_in(&[JobState::Paused]) {
            self.resume(id)?;
        }
        Ok(())
    }

    pub async fn cancel_all(&self) -> Result<()> {
        for id in self.ids_in(&[JobState::Queued, JobState::Running, JobState::Paused]) {
            self.cancel(id).await?;
        }
        Ok(())
    }

    /// Forgets finished jobs, in memory and in the journal.
    pub fn clear_finished(&self) -> Result<()> {
        let mut state = self.lock();
        self.inner.journal.clear_finished()?;
        state.jobs.retain(|_, job| {
            !matches!(
                job.state,
                JobState::Done | JobState::Skipped | JobState::Cancelled
            )
        });
        Ok(())
    }

    /// Whether any job is queued or running (paused ones wait for the user, not the queue).
    pub fn is_busy(&self) -> bool {
        self.lock().busy > 0
    }

    /// Waits until no job is queued or running.
    pub async fn wait_idle(&self) {
        let mut events = self.subscribe();
        while self.is_busy() {
            // Any state change may be the last one; a lagged receiver just re-checks.
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    }

    fn ids_in(&self, states: &[JobState]) -> Vec<JobId> {
        self.lock()
            .jobs
            .values()
            .filter(|j| states.contains(&j.state))
            .map(|j| j.id)
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn state_of(&self, state: &State, id: JobId) -> Result<JobState> {
        state
            .jobs
            .get(&id)
            .map(|j| j.state)
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("There is no transfer #{id}.")))
    }

    fn set_state(
        &self,
        state: &mut State,
        id: JobId,
        next: JobState,
        error: Option<String>,
    ) -> Result<()> {
        self.inner.journal.set_state(id, next, error.as_deref())?;
        if let Some(job) = state.transition(id, next) {
            job.error = error;
            let job = job.clone();
            self.emit(QueueEvent::State { job });
        }
        Ok(())
    }

    fn emit(&self, event: QueueEvent) {
        let _ = self.inner.events.send(event);
    }

    fn start_waiting_jobs(&self) {
        let limit = self.inner.limit;
        let mut state = self.lock();
        while state.running.len() < limit {
            let Some(id) = state.waiting.pop_front() else {
                break;
            };
            if state.jobs.get(&id).map(|j| j.state) != Some(JobState::Queued) {
                continue;
            }
            if let Err(error) = self.set_state(&mut state, id, JobState::Running, None) {
                tracing::error!(%error, id, "cannot record a transfer start");
                continue;
            }
            let (stop, signal) = watch::channel(false);
            state.running.insert(id, Running { stop, reason: None });
            let Some(job) = state.jobs.get(&id).cloned() else {
                continue;
            };
            let queue = self.clone();
            tokio::spawn(async move { queue.run_job(job, StopSignal(signal)).await });
        }
    }

    async fn run_job(&self, job: Job, stop: StopSignal) {
        let id = job.id;
        let progress = self.progress_reporter(&job);
        let outcome = self.inner.transport.run(&job, stop, progress).await;
        let reason = self.lock().running.remove(&id).and_then(|r| r.reason);
        let recorded = match outcome {
            Ok(Outcome::Done { final_path, size }) => self
                .inner
                .journal
                .set_done(id, &final_path, size)
                .map(|()| {
                    let mut state = self.lock();
                    if let Some(job) = state.transition(id, JobState::Done) {
                        job.done_bytes = size;
                        job.error = None;
                        job.final_path = Some(final_path);
                        let job = job.clone();
                        drop(state);
                        self.emit(QueueEvent::State { job });
                    }
                }),
            Ok(Outcome::Skipped) => self.set_state(&mut self.lock(), id, JobState::Skipped, None),
            Err(TransferError::Stopped) if reason == Some(StopReason::Cancel) => {
                let recorded = self.set_state(&mut self.lock(), id, JobState::Cancelled, None);
                self.inner.transport.discard(&job).await;
                recorded
            }
            Err(TransferError::Stopped) => {
                self.set_state(&mut self.lock(), id, JobState::Paused, None)
            }
            Err(TransferError::Failed(error)) => {
                tracing::warn!(id, %error, "transfer failed");
                self.set_state(&mut self.lock(), id, JobState::Failed, Some(error.message))
            }
        };
        if let Err(error) = recorded {
            tracing::error!(%error, id, "cannot record a transfer's end");
        }
        self.announce_batch_if_finished(&job.spec.batch);
        self.inner.wake.notify_one();
    }

    /// Progress callback for one job: smooths speed, throttles events and journal writes.
    fn progress_reporter(&self, job: &Job) -> ProgressFn {
        let queue = self.clone();
        let id = job.id;
        let started = Instant::now();
        let total = job.spec.size;
        // The journal's byte count is for display after a restart, so a file done within its
        // first second never writes one (resuming reads the destination, not the journal).
        let throttle = Mutex::new((Meter::new(total), None::<Instant>, Some(started)));
        Arc::new(move |done: u64| {
            let now = Instant::now();
            let mut guard = throttle.lock().unwrap_or_else(|p| p.into_inner());
            let (meter, last_event, last_journal) = &mut *guard;
            let figures = meter.record(started.elapsed(), done);
            if let Some(job) = queue.lock().jobs.get_mut(&id) {
                job.done_bytes = done;
            }
            if last_event.is_none_or(|t| now - t >= EVENT_EVERY) || done == total {
                *last_event = Some(now);
                queue.emit(QueueEvent::Progress {
                    id,
                    done_bytes: done,
                    total_bytes: total,
                    bytes_per_second: figures.bytes_per_second,
                    eta_seconds: figures.eta_seconds,
                });
            }
            if last_journal.is_none_or(|t| now - t >= JOURNAL_EVERY) {
                *last_journal = Some(now);
                let _ = queue.inner.journal.set_progress(id, done);
            }
        })
    }

    /// Announces `batch`'s end once its last job finished (it may start again on a retry).
    fn announce_batch_if_finished(&self, batch: &str) {
        let mut state = self.lock();
        // Exactly one caller sees the count at zero and takes it away: no double announcement
        // when two jobs of the batch end at once.
        if state.unfinished.get(batch) != Some(&0) {
            return;
        }
        state.unfinished.remove(batch);
        let (mut done, mut failed) = (0, 0);
        for job in state.jobs.values().filter(|j| j.spec.batch == batch) {
            match job.state {
                JobState::Done | JobState::Skipped => done += 1,
                JobState::Failed => failed += 1,
                _ => {}
            }
        }
        drop(state);
        self.emit(QueueEvent::BatchFinished {
            batch: batch.to_string(),
            done,
            failed,
        });
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
