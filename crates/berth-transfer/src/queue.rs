//! The queue: which jobs run now, and what happens when the user pauses, resumes, cancels or
//! retries one. Jobs live in memory for speed and in the [`Journal`] for crashes.

use berth_core::clock::now_ms;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use berth_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};

use crate::checkpoint::Checkpoint;
use crate::journal::{JobId, Journal};
use crate::names::HostNames;
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

    /// [`Transport::run`] for transports whose resumable state is not at the destination (a
    /// tus upload's token and offset): `checkpoint` holds what an earlier attempt saved, in the
    /// journal, across restarts; the queue forgets it once the job is done or cancelled. The
    /// queue always calls this; the default ignores the checkpoint and calls `run`.
    async fn run_with_checkpoint(
        &self,
        job: &Job,
        stop: StopSignal,
        progress: ProgressFn,
        checkpoint: Checkpoint,
    ) -> Result<Outcome, TransferError> {
        let _ = checkpoint;
        self.run(job, stop, progress).await
    }

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
    /// How this computer names files; the tests judge as Windows does.
    host_names: HostNames,
    /// On a computer where case does not tell names apart: per download destination with its
    /// case folded, the first job that writes it. A second job whose destination differs only
    /// in case (`Data.csv`, `data.csv` from one folder) would land on the same file.
    claims: HashMap<String, (JobId, PathBuf)>,
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

    fn claim(&mut self, id: JobId, spec: &TransferSpec) {
        if self.host_names.case_insensitive && spec.direction == Direction::Download {
            let key = spec.local_path.to_string_lossy().to_lowercase();
            self.claims
                .entry(key)
                .or_insert_with(|| (id, spec.local_path.clone()));
        }
    }

    /// Why download `job` cannot be written here: a name this computer cannot hold, or a
    /// destination another job writes under a name differing only in case. Said per file, so
    /// the rest of the batch goes on.
    fn name_problem(&self, job: &Job) -> Option<String> {
        if job.spec.direction != Direction::Download {
            return None;
        }
        let dest = &job.spec.local_path;
        if let Some(rule) = self.host_names.path_refusal(dest) {
            return Some(format!("Not downloaded: {rule}"));
        }
        let key = dest.to_string_lossy().to_lowercase();
        match self.claims.get(&key) {
            Some((other, other_path))
                if *other != job.id
                    && self
                        .host_names
                        .same_file_differently_named(dest, other_path) =>
            {
                Some(format!(
                    "Not downloaded: its name differs only in case from {}, and this computer's \
                     file names do not tell them apart, so it would replace that file. Download \
                     it into another directory.",
                    other_path.display()
                ))
            }
            _ => None,
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
    /// How many jobs run at once; the user can change it while jobs run.
    limit: AtomicUsize,
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
        let jobs = journal.jobs()?;
        Self::open_with(journal, transport, limit, jobs)
    }

    /// [`Queue::open`] without the finished jobs (up to 1,000 are kept), for a command that
    /// runs a batch and ends: loading that history cost every `berth upload` about 3 ms.
    /// Where file names ignore case, finished downloads still claim their names (see
    /// `name_problem`), so there every job is loaded.
    pub fn open_unfinished(
        journal: Journal,
        transport: Arc<dyn Transport>,
        limit: usize,
    ) -> Result<Self> {
        let jobs = if HostNames::THIS_COMPUTER.case_insensitive {
            journal.jobs()?
        } else {
            journal.unfinished_jobs()?
        };
        Self::open_with(journal, transport, limit, jobs)
    }

    fn open_with(
        journal: Journal,
        transport: Arc<dyn Transport>,
        limit: usize,
        loaded: Vec<Job>,
    ) -> Result<Self> {
        let mut jobs = BTreeMap::new();
        let mut waiting = VecDeque::new();
        let mut counted = State {
            jobs: BTreeMap::new(),
            waiting: VecDeque::new(),
            running: HashMap::new(),
            unfinished: HashMap::new(),
            busy: 0,
            host_names: HostNames::THIS_COMPUTER,
            claims: HashMap::new(),
        };
        for mut job in loaded {
            if job.state == JobState::Running {
                job.state = JobState::Queued;
                journal.set_state(job.id, JobState::Queued, None)?;
            }
            if job.state == JobState::Queued {
                waiting.push_back(job.id);
            }
            counted.count(&job.spec.batch, None, job.state);
            counted.claim(job.id, &job.spec);
            jobs.insert(job.id, job);
        }
        let (events, _) = broadcast::channel(4096);
        Ok(Self {
            inner: Arc::new(Inner {
                journal,
                transport,
                limit: AtomicUsize::new(limit.max(1)),
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
            state.claim(id, &spec);
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
        let State { jobs, claims, .. } = &mut *state;
        claims.retain(|_, (id, _)| jobs.contains_key(id));
        Ok(())
    }

    /// Judges download names as `host` names files instead of as this computer does: the
    /// tests on Linux check what Windows and macOS refuse.
    pub fn judge_names_as(&self, host: HostNames) {
        let mut state = self.lock();
        state.host_names = host;
        let jobs: Vec<(JobId, TransferSpec)> = state
            .jobs
            .values()
            .map(|j| (j.id, j.spec.clone()))
            .collect();
        state.claims.clear();
        for (id, spec) in &jobs {
            state.claim(*id, spec);
        }
    }

    /// How many jobs run at once.
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// Changes how many jobs run at once (at least one). Raising it starts waiting jobs now;
    /// lowering it stops none: running jobs finish and fewer start after them, because a
    /// stopped job would have to redo its last chunk for nothing.
    pub fn set_limit(&self, limit: usize) {
        self.inner.limit.store(limit.max(1), Ordering::Relaxed);
        self.inner.wake.notify_one();
    }

    /// How many jobs are not finished: queued, running or paused. A paused job counts because
    /// quitting leaves it half done just like a running one.
    pub fn unfinished_count(&self) -> usize {
        self.lock().unfinished.values().sum()
    }

    /// The file a finished download wrote on this computer, for "reveal in file manager".
    /// `not_found` for an unknown job, `invalid_input` for an upload or an unfinished job: the
    /// caller only ever learns paths the queue itself wrote.
    pub fn downloaded_path(&self, id: JobId) -> Result<PathBuf> {
        let state = self.lock();
        let job = state.jobs.get(&id).ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("Transfer {id} is not in the list any more."),
            )
        })?;
        match (job.spec.direction, job.state, &job.final_path) {
            (Direction::Download, JobState::Done, Some(path)) => Ok(PathBuf::from(path)),
            (Direction::Download, JobState::Done, None) => Ok(job.spec.local_path.clone()),
            (Direction::Upload, ..) => Err(Error::invalid_input(format!(
                "Transfer {id} is an upload; only downloads can be shown in the file manager."
            ))),
            _ => Err(Error::invalid_input(format!(
                "Transfer {id} has not finished downloading yet."
            ))),
        }
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
        let limit = self.limit();
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
        let problem = self.lock().name_problem(&job);
        if let Some(problem) = problem {
            let mut state = self.lock();
            state.running.remove(&id);
            if let Err(error) = self.set_state(&mut state, id, JobState::Failed, Some(problem)) {
                tracing::error!(%error, id, "cannot record a transfer's end");
            }
            drop(state);
            self.announce_batch_if_finished(&job.spec.batch);
            self.inner.wake.notify_one();
            return;
        }
        let progress = self.progress_reporter(&job);
        let checkpoint = self.checkpoint(id);
        let outcome = self
            .inner
            .transport
            .run_with_checkpoint(&job, stop, progress, checkpoint)
            .await;
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

    /// Job `id`'s checkpoint, saved to the journal. A journal that cannot be read gives an
    /// empty one: the transport then starts the job over instead of failing it.
    fn checkpoint(&self, id: JobId) -> Checkpoint {
        let saved = self
            .inner
            .journal
            .resume_state(id)
            .inspect_err(
                |error| tracing::warn!(%error, id, "cannot read a transfer's resume state"),
            )
            .unwrap_or_default();
        let queue = self.clone();
        Checkpoint::persisted(
            saved,
            Arc::new(move |state| queue.inner.journal.set_resume_state(id, state)),
        )
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::AtomicUsize;

    use tokio::sync::Semaphore;

    use super::*;

    /// A transport whose jobs run until the test lets one finish, counting how many run at once.
    struct Gate {
        running: AtomicUsize,
        release: Semaphore,
    }

    impl Default for Gate {
        fn default() -> Self {
            Self {
                running: AtomicUsize::new(0),
                release: Semaphore::new(0),
            }
        }
    }

    #[async_trait]
    impl Transport for Gate {
        async fn run(
            &self,
            job: &Job,
            stop: StopSignal,
            _progress: ProgressFn,
        ) -> Result<Outcome, TransferError> {
            self.running.fetch_add(1, Ordering::SeqCst);
            let outcome = loop {
                if stop.is_set() {
                    break Err(TransferError::Stopped);
                }
                if let Ok(Ok(permit)) =
                    tokio::time::timeout(Duration::from_millis(10), self.release.acquire()).await
                {
                    permit.forget();
                    break Ok(Outcome::Done {
                        final_path: job.spec.local_path.display().to_string(),
                        size: job.spec.size,
                    });
                }
            };
            self.running.fetch_sub(1, Ordering::SeqCst);
            outcome
        }

        async fn discard(&self, _job: &Job) {}
    }

    fn spec(direction: Direction, name: &str) -> TransferSpec {
        TransferSpec {
            batch: "b1".into(),
            direction,
            folder: "w".into(),
            remote_path: name.into(),
            local_path: PathBuf::from("/downloads").join(name),
            size: 1,
            conflict: ConflictPolicy::Fail,
        }
    }

    fn open(dir: &tempfile::TempDir, limit: usize) -> (Queue, Arc<Gate>) {
        let gate = Arc::new(Gate::default());
        let journal = Journal::open(&dir.path().join("transfers.sqlite3")).unwrap();
        let queue = Queue::open(journal, gate.clone(), limit).unwrap();
        queue.start();
        (queue, gate)
    }

    /// A runtime standing for one process: a queue on it is dropped with it, which unlocks
    /// the journal for the next.
    fn process_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn count(queue: &Queue, state: JobState) -> usize {
        queue.jobs().iter().filter(|j| j.state == state).count()
    }

    async fn wait_for(what: &str, mut probe: impl FnMut() -> bool) {
        for _ in 0..500 {
            if probe() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// A command running one batch opens the queue without the history: a finished job is not
    /// loaded (where names tell case apart), a paused one is (and resumes), and a new batch
    /// runs beside it. Each queue lives on a runtime of its own, as each process has one (the
    /// journal is locked while open).
    #[test]
    fn a_queue_for_one_batch_leaves_the_finished_jobs_in_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transfers.sqlite3");
        let (finished, paused) = process_runtime().block_on(async {
            let (queue, gate) = open(&dir, 2);
            let ids = queue
                .enqueue(vec![
                    spec(Direction::Upload, "done.bin"),
                    spec(Direction::Upload, "paused.bin"),
                ])
                .unwrap();
            wait_for("both running", || count(&queue, JobState::Running) == 2).await;
            queue.pause(ids[1]).unwrap();
            wait_for("one paused", || count(&queue, JobState::Paused) == 1).await;
            gate.release.add_permits(1);
            wait_for("the other done", || count(&queue, JobState::Done) == 1).await;
            (ids[0], ids[1])
        });
        process_runtime().block_on(async {
            let gate = Arc::new(Gate::default());
            let queue =
                Queue::open_unfinished(Journal::open(&path).unwrap(), gate.clone(), 2).unwrap();
            queue.start();
            // Where file names ignore case (Windows, macOS), finished downloads claim their
            // names, so there the history is loaded after all.
            assert_eq!(
                queue.job(finished).is_some(),
                HostNames::THIS_COMPUTER.case_insensitive,
                "the finished job stays in the journal only, where names tell case apart"
            );
            assert_eq!(queue.job(paused).unwrap().state, JobState::Paused);
            let new = queue
                .enqueue(vec![spec(Direction::Upload, "new.bin")])
                .unwrap()[0];
            queue.resume(paused).unwrap();
            gate.release.add_permits(2);
            queue.wait_idle().await;
            assert_eq!(queue.job(new).unwrap().state, JobState::Done);
            assert_eq!(queue.job(paused).unwrap().state, JobState::Done);
        });
        let all = Journal::open(&path).unwrap().jobs().unwrap();
        assert_eq!(all.len(), 3, "nothing left the journal: {all:?}");
        assert!(all.iter().all(|j| j.state == JobState::Done), "{all:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn names_windows_cannot_hold_fail_per_file_and_the_batch_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let gate = Arc::new(Gate::default());
        let journal = Journal::open(&dir.path().join("transfers.sqlite3")).unwrap();
        let queue = Queue::open(journal, gate.clone(), 2).unwrap();
        queue.judge_names_as(HostNames::WINDOWS);
        queue.start();
        let names = [
            "aux.txt",
            "Data.csv",
            "notes.",
            "data.csv",
            "ok.txt",
            "con/inner.txt",
        ];
        let ids = queue
            .enqueue(names.iter().map(|n| spec(Direction::Download, n)).collect())
            .unwrap();
        gate.release.add_permits(2);

        wait_for("every job to finish", || {
            queue.jobs().iter().all(|j| j.state.is_finished())
        })
        .await;
        let outcome = |i: usize| {
            let job = queue.job(ids[i]).unwrap();
            (job.state, job.error.unwrap_or_default())
        };
        let first = Path::new("/downloads").join("Data.csv");
        let case_rule = format!(
            "Not downloaded: its name differs only in case from {}",
            first.display()
        );
        for (i, rule) in [
            (0, "Not downloaded: \"aux.txt\" is a device name on Windows"),
            (2, "Not downloaded: \"notes.\" ends with a dot or a space"),
            (5, "Not downloaded: \"con\" is a device name"),
            (3, case_rule.as_str()),
        ] {
            let (state, error) = outcome(i);
            assert_eq!(state, JobState::Failed, "{}", names[i]);
            assert!(error.starts_with(rule), "{}: {error}", names[i]);
        }
        assert_eq!(outcome(1), (JobState::Done, String::new()));
        assert_eq!(outcome(4), (JobState::Done, String::new()));
        assert_eq!(gate.running.load(Ordering::SeqCst), 0);

        // On Linux the same names are files like any other.
        let queue_dir = tempfile::tempdir().unwrap();
        let (linux, gate) = open(&queue_dir, 6);
        linux.judge_names_as(HostNames::LINUX);
        linux
            .enqueue(names.iter().map(|n| spec(Direction::Download, n)).collect())
            .unwrap();
        gate.release.add_permits(names.len());
        wait_for("every job to be done", || {
            count(&linux, JobState::Done) == names.len()
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raising_the_limit_starts_waiting_jobs_and_lowering_it_stops_none() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, gate) = open(&dir, 1);
        let names = ["a", "b", "c", "d", "e"];
        queue
            .enqueue(names.map(|n| spec(Direction::Download, n)).to_vec())
            .unwrap();
        wait_for("one running job", || {
            gate.running.load(Ordering::SeqCst) == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(count(&queue, JobState::Running), 1, "the limit holds");

        queue.set_limit(3);
        wait_for("three running jobs", || {
            count(&queue, JobState::Running) == 3
        })
        .await;
        assert_eq!(queue.limit(), 3);

        // Lowering the limit leaves the three running: none is paused or restarted.
        queue.set_limit(1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(count(&queue, JobState::Running), 3);
        assert_eq!(gate.running.load(Ordering::SeqCst), 3);
        assert_eq!(count(&queue, JobState::Paused), 0);

        // One finishes: two still run, which is above the new limit, so nothing new starts.
        gate.release.add_permits(1);
        wait_for("one done", || count(&queue, JobState::Done) == 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(count(&queue, JobState::Running), 2);
        assert_eq!(count(&queue, JobState::Queued), 2);

        gate.release.add_permits(names.len());
        queue.wait_idle().await;
        assert_eq!(count(&queue, JobState::Done), names.len());
        assert_eq!(queue.unfinished_count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_finished_download_reveals_its_file_and_nothing_else_reveals_anything() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, gate) = open(&dir, 2);
        let ids = queue
            .enqueue(vec![
                spec(Direction::Download, "model.bin"),
                spec(Direction::Upload, "up.txt"),
            ])
            .unwrap();
        wait_for("both running", || count(&queue, JobState::Running) == 2).await;
        assert_eq!(queue.unfinished_count(), 2);
        let early = queue.downloaded_path(ids[0]).unwrap_err();
        assert_eq!(early.code, ErrorCode::InvalidInput, "{early}");

        gate.release.add_permits(2);
        queue.wait_idle().await;
        assert_eq!(
            queue.downloaded_path(ids[0]).unwrap(),
            PathBuf::from("/downloads/model.bin")
        );
        let upload = queue.downloaded_path(ids[1]).unwrap_err();
        assert_eq!(upload.code, ErrorCode::InvalidInput, "{upload}");
        let unknown = queue.downloaded_path(9_999).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::NotFound, "{unknown}");
    }

    /// A transport that saves how far it got in its checkpoint and stops, the way a tus upload
    /// keeps its token and offset; the next attempt reports what it was handed.
    #[derive(Default)]
    struct Resumer {
        handed: Mutex<Vec<Option<String>>>,
    }

    #[async_trait]
    impl Transport for Resumer {
        async fn run(
            &self,
            _job: &Job,
            _stop: StopSignal,
            _progress: ProgressFn,
        ) -> Result<Outcome, TransferError> {
            unreachable!("the queue runs jobs through run_with_checkpoint")
        }

        async fn run_with_checkpoint(
            &self,
            job: &Job,
            stop: StopSignal,
            _progress: ProgressFn,
            checkpoint: Checkpoint,
        ) -> Result<Outcome, TransferError> {
            let saved = checkpoint.load();
            self.handed.lock().unwrap().push(saved.clone());
            if saved.is_some() {
                return Ok(Outcome::Done {
                    final_path: job.spec.remote_path.clone(),
                    size: job.spec.size,
                });
            }
            checkpoint.save(r#"{"token":"t","offset":5}"#)?;
            while !stop.is_set() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(TransferError::Stopped)
        }

        async fn discard(&self, _job: &Job) {}
    }

    /// One "process": a runtime with a queue on the journal at `path`, dropped at the end so
    /// the next one can open the journal (it is locked while open).
    fn with_queue<T>(
        path: &std::path::Path,
        transport: Arc<Resumer>,
        body: impl AsyncFnOnce(Queue) -> T,
    ) -> T {
        process_runtime().block_on(async {
            let queue = Queue::open(Journal::open(path).unwrap(), transport, 2).unwrap();
            queue.start();
            body(queue).await
        })
    }

    #[test]
    fn a_checkpoint_saved_during_a_run_is_handed_back_after_a_restart_and_dropped_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transfers.sqlite3");
        let transport = Arc::new(Resumer::default());
        let id = with_queue(&path, transport.clone(), async |queue| {
            let id = queue
                .enqueue(vec![spec(Direction::Upload, "big.bin")])
                .unwrap()[0];
            wait_for("the checkpoint", || {
                !transport.handed.lock().unwrap().is_empty()
            })
            .await;
            queue.pause(id).unwrap();
            wait_for("paused", || count(&queue, JobState::Paused) == 1).await;
            id
        });
        let journal = Journal::open(&path).unwrap();
        assert_eq!(
            journal.resume_state(id).unwrap().as_deref(),
            Some(r#"{"token":"t","offset":5}"#),
            "the state is in the journal, not only in memory"
        );
        drop(journal);

        with_queue(&path, transport.clone(), async |queue| {
            queue.resume(id).unwrap();
            queue.wait_idle().await;
            assert_eq!(queue.job(id).unwrap().state, JobState::Done);
        });
        assert_eq!(
            *transport.handed.lock().unwrap(),
            [None, Some(r#"{"token":"t","offset":5}"#.to_string())]
        );
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.resume_state(id).unwrap(), None, "done forgets it");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paused_jobs_count_as_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, gate) = open(&dir, 1);
        let ids = queue.enqueue(vec![spec(Direction::Download, "x")]).unwrap();
        wait_for("running", || count(&queue, JobState::Running) == 1).await;
        queue.pause(ids[0]).unwrap();
        wait_for("paused", || count(&queue, JobState::Paused) == 1).await;
        assert!(!queue.is_busy());
        assert_eq!(queue.unfinished_count(), 1);
        queue.cancel(ids[0]).await.unwrap();
        assert_eq!(queue.unfinished_count(), 0);
        drop(gate);
    }
}
