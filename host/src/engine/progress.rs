//! Progress events from the engine. The engine never prints: it reports steps to a
//! [`Progress`] sink, and the CLI decides how to show them.

use std::time::Duration;

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
    },
}

/// Receives progress events. Implementations must be cheap: events arrive on the
/// evaluation path.
pub trait Progress: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// Discards every event.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event<'_>) {}
}
