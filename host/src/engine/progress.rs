//! Progress events from the engine. The engine never prints: it reports steps to a
//! [`Progress`] sink, and the CLI decides how to show them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::backend::Stream;

/// How a step ended.
#[derive(Clone, Debug)]
pub enum StepOutcome {
    /// Answered from the cache: nothing ran.
    Cached,
    /// Ran and met its expectation.
    Done(Duration),
    /// Ran and failed.
    Failed(Duration),
}

/// Something that happened during evaluation.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// A step waits for a run permit (`-j`): all are taken by running steps. Only such a
    /// step is reported queued; it is reported started when it gets one.
    StepQueued { id: u64, description: &'a str },
    /// A step (exec, pull, copy, read) started. `id` is unique within the process.
    StepStarted { id: u64, description: &'a str },
    /// Output of a running step.
    StepOutput { id: u64, stream: Stream, bytes: &'a [u8] },
    /// A step finished. `log` is the folder holding its whole output, one file per
    /// stream (named by [`body_file_name`](super::cache::body_file_name)), when it was kept.
    StepFinished {
        id: u64,
        description: &'a str,
        outcome: StepOutcome,
        log: Option<&'a std::path::Path>,
        /// The step's cache key, for a step of the graph.
        key: Option<&'a super::Digest>,
        /// The exit code of the step's process, when one ran (or was answered from the cache).
        exit_code: Option<i64>,
    },
    /// A module function was called: the command's own call (`depth` 0) or a call into
    /// a dependency (`depth` 1 and more, `name` is `module.function`). `id` is unique
    /// among calls of the process (calls are numbered apart from steps).
    CallStarted { id: u64, name: &'a str, depth: u32 },
    /// A call returned (`Done`) or failed (`Failed`).
    CallFinished { id: u64, name: &'a str, depth: u32, outcome: StepOutcome },
}

/// Receives progress events. Implementations must be cheap: events arrive on the
/// evaluation path.
pub trait Progress: Send + Sync {
    fn event(&self, event: Event<'_>);

    /// The work is over: a display clears what it keeps live and shows its summary,
    /// before the command's result or error is printed. Later calls do nothing.
    fn finish(&self) {}

    /// An interactive shell takes the terminal (`suspended`), or gives it back: a live
    /// display clears itself and stops drawing meanwhile, so the two never fight.
    fn suspend(&self, _suspended: bool) {}
}

/// Discards every event.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event<'_>) {}
}

/// Numbers steps and reports them to the display: the engine's, shared with work outside
/// the graph (building a module) so that it shows as a step like any other, numbered
/// with the rest.
#[derive(Clone)]
pub struct StepReporter {
    progress: Arc<dyn Progress>,
    next_id: Arc<AtomicU64>,
    next_call: Arc<AtomicU64>,
}

impl StepReporter {
    pub fn new(progress: Arc<dyn Progress>) -> Self {
        Self {
            progress,
            next_id: Arc::new(AtomicU64::new(1)),
            next_call: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Reports a module function call as started; it reports its end when finished (or,
    /// dropped unfinished, as failed).
    pub fn start_call(&self, name: impl Into<String>, depth: u32) -> RunningCall {
        let call = RunningCall {
            reporter: self.clone(),
            id: self.next_call.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            depth,
            started: Instant::now(),
            finished: false,
        };
        self.event(Event::CallStarted {
            id: call.id,
            name: &call.name,
            depth,
        });
        call
    }

    /// Reports nothing: for work that has no display (`tanto publish`'s check build).
    pub fn silent() -> Self {
        Self::new(Arc::new(NoProgress))
    }

    /// A number no other step of this process has.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn event(&self, event: Event<'_>) {
        self.progress.event(event);
    }

    /// The work is over (see [`Progress::finish`]).
    pub fn finish(&self) {
        self.progress.finish();
    }

    /// Reports a step outside the graph as started; it reports its end when finished
    /// (or, dropped unfinished, as failed: an error on the way out still closes it).
    pub fn start(&self, description: impl Into<String>) -> RunningStep {
        self.start_logged(description, None)
    }

    /// [`StepReporter::start`], keeping the step's whole output in the folder `log` (one
    /// file per stream, as the cache keeps a step's), whose path the display shows when
    /// it shows only part of the output. A folder that cannot be written is no log.
    pub fn start_logged(&self, description: impl Into<String>, log: Option<PathBuf>) -> RunningStep {
        let log = log.and_then(|dir| {
            std::fs::create_dir_all(&dir)
                .inspect_err(|error| tracing::debug!(%error, dir = %dir.display(), "cannot keep a step's log"))
                .ok()?;
            Some(StepLog {
                dir,
                files: Default::default(),
            })
        });
        let step = RunningStep {
            reporter: self.clone(),
            id: self.next_id(),
            description: description.into(),
            started: Instant::now(),
            finished: false,
            log,
        };
        self.event(Event::StepStarted {
            id: step.id,
            description: &step.description,
        });
        step
    }
}

impl std::fmt::Debug for StepReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepReporter").finish_non_exhaustive()
    }
}

/// The files a [`RunningStep`] writes its output to, opened on first output.
struct StepLog {
    dir: PathBuf,
    files: std::sync::Mutex<[Option<std::fs::File>; 2]>,
}

impl StepLog {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        use std::io::Write as _;
        let index = match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        };
        let Ok(mut files) = self.files.lock() else { return };
        if files[index].is_none() {
            files[index] = std::fs::File::create(self.dir.join(super::cache::body_file_name(stream)))
                .inspect_err(|error| tracing::debug!(%error, "cannot write a step's log"))
                .ok();
        }
        if let Some(file) = &mut files[index] {
            let _ = file.write_all(bytes);
        }
    }
}

/// A step outside the graph, reported while it runs (see [`StepReporter::start`]).
pub struct RunningStep {
    reporter: StepReporter,
    id: u64,
    description: String,
    started: Instant,
    finished: bool,
    log: Option<StepLog>,
}

impl RunningStep {
    /// Output of the step, shown (bounded) like a container's, and kept whole in its log.
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        if let Some(log) = &self.log {
            log.write(stream, bytes);
        }
        self.reporter.event(Event::StepOutput { id: self.id, stream, bytes });
    }

    /// The step succeeded.
    pub fn done(mut self) {
        self.finish(StepOutcome::Done(self.started.elapsed()));
    }

    fn finish(&mut self, outcome: StepOutcome) {
        if !self.finished {
            self.finished = true;
            self.reporter.event(Event::StepFinished {
                id: self.id,
                description: &self.description,
                outcome,
                log: self.log.as_ref().map(|log| log.dir.as_path()),
                key: None,
                exit_code: None,
            });
        }
    }
}

impl Drop for RunningStep {
    fn drop(&mut self) {
        self.finish(StepOutcome::Failed(self.started.elapsed()));
    }
}

/// A module function call, reported while it runs (see [`StepReporter::start_call`]).
pub struct RunningCall {
    reporter: StepReporter,
    id: u64,
    name: String,
    depth: u32,
    started: Instant,
    finished: bool,
}

impl RunningCall {
    /// The call returned, with a value or an error.
    pub fn finish(mut self, succeeded: bool) {
        let elapsed = self.started.elapsed();
        self.end(if succeeded {
            StepOutcome::Done(elapsed)
        } else {
            StepOutcome::Failed(elapsed)
        });
    }

    fn end(&mut self, outcome: StepOutcome) {
        if !self.finished {
            self.finished = true;
            self.reporter.event(Event::CallFinished {
                id: self.id,
                name: &self.name,
                depth: self.depth,
                outcome,
            });
        }
    }
}

impl Drop for RunningCall {
    fn drop(&mut self) {
        self.end(StepOutcome::Failed(self.started.elapsed()));
    }
}
