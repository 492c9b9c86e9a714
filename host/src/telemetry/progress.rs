//! Progress displays: a live view on a terminal, plain lines in logs, JSON for tools.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::Stream;
use crate::engine::{Event, Progress, StepOutcome};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A live view on a terminal, plain lines otherwise.
    Auto,
    /// One line per step event, step output prefixed with the step number.
    Plain,
    /// A live view with a spinner per running step.
    Tty,
    /// One JSON object per event.
    Json,
    /// Nothing.
    Quiet,
}

/// The progress display for `mode`.
pub fn display(mode: ProgressMode) -> Arc<dyn Progress> {
    let mode = match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
        ProgressMode::Auto => ProgressMode::Plain,
        mode => mode,
    };
    match mode {
        ProgressMode::Tty => Arc::new(TtyProgress::new()),
        ProgressMode::Plain => Arc::new(PlainProgress::default()),
        ProgressMode::Json => Arc::new(JsonProgress),
        _ => Arc::new(crate::engine::NoProgress),
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// Splits output into whole lines per step, keeping partial lines until they end.
#[derive(Default)]
struct LineBuffers(Mutex<HashMap<(u64, bool), Vec<u8>>>);

impl LineBuffers {
    fn push(&self, id: u64, stream: Stream, bytes: &[u8], mut line: impl FnMut(&str)) {
        let Ok(mut buffers) = self.0.lock() else {
            return;
        };
        let buffer = buffers.entry((id, stream == Stream::Stderr)).or_default();
        buffer.extend_from_slice(bytes);
        while let Some(index) = buffer.iter().position(|byte| *byte == b'\n') {
            let text: Vec<u8> = buffer.drain(..=index).collect();
            line(String::from_utf8_lossy(&text[..text.len() - 1]).trim_end_matches('\r'));
        }
    }

    fn flush(&self, id: u64, mut line: impl FnMut(&str)) {
        let Ok(mut buffers) = self.0.lock() else {
            return;
        };
        for stderr in [false, true] {
            if let Some(rest) = buffers.remove(&(id, stderr))
                && !rest.is_empty()
            {
                line(&String::from_utf8_lossy(&rest));
            }
        }
    }
}

/// Plain lines, for logs and CI.
#[derive(Default)]
struct PlainProgress {
    lines: LineBuffers,
}

impl Progress for PlainProgress {
    fn event(&self, event: Event<'_>) {
        let mut stderr = std::io::stderr().lock();
        match event {
            Event::StepStarted { id, description } => {
                let _ = writeln!(stderr, "[{id}] {description}");
            }
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |line| {
                let _ = writeln!(std::io::stderr(), "[{id}] | {line}");
            }),
            Event::StepFinished { id, description, outcome } => {
                self.lines.flush(id, |line| {
                    let _ = writeln!(std::io::stderr(), "[{id}] | {line}");
                });
                let status = match outcome {
                    StepOutcome::Cached => "CACHED".to_string(),
                    StepOutcome::Done(duration) => format!("DONE {}", seconds(duration)),
                    StepOutcome::Failed(duration) => format!("FAILED {}", seconds(duration)),
                };
                let _ = writeln!(stderr, "[{id}] {status} {description}");
            }
        }
    }
}

/// A spinner per running step; finished steps and output scroll above.
struct TtyProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<u64, ProgressBar>>,
    lines: LineBuffers,
}

impl TtyProgress {
    fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            lines: LineBuffers::default(),
        }
    }
}

impl Progress for TtyProgress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::StepStarted { id, description } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
                bar.set_message(description.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(id, bar);
                }
            }
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |line| {
                let _ = self.multi.println(format!("  │ {line}"));
            }),
            Event::StepFinished { id, description, outcome } => {
                self.lines.flush(id, |line| {
                    let _ = self.multi.println(format!("  │ {line}"));
                });
                if let Ok(mut bars) = self.bars.lock()
                    && let Some(bar) = bars.remove(&id)
                {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let line = match outcome {
                    StepOutcome::Cached => format!("✔ {description} CACHED"),
                    StepOutcome::Done(duration) => format!("✔ {description} {}", seconds(duration)),
                    StepOutcome::Failed(duration) => {
                        format!("✘ {description} {}", seconds(duration))
                    }
                };
                let _ = self.multi.println(line);
            }
        }
    }
}

/// One JSON object per line.
struct JsonProgress;

impl Progress for JsonProgress {
    fn event(&self, event: Event<'_>) {
        let value = match event {
            Event::StepStarted { id, description } => {
                serde_json::json!({ "event": "started", "step": id, "description": description })
            }
            Event::StepOutput { id, stream, bytes } => serde_json::json!({
                "event": "output",
                "step": id,
                "stream": if stream == Stream::Stdout { "stdout" } else { "stderr" },
                "text": String::from_utf8_lossy(bytes),
            }),
            Event::StepFinished { id, description, outcome } => {
                let (status, seconds) = match outcome {
                    StepOutcome::Cached => ("cached", 0.0),
                    StepOutcome::Done(duration) => ("done", duration.as_secs_f64()),
                    StepOutcome::Failed(duration) => ("failed", duration.as_secs_f64()),
                };
                serde_json::json!({ "event": "finished", "step": id, "description": description, "status": status, "seconds": seconds })
            }
        };
        let _ = writeln!(std::io::stderr().lock(), "{value}");
    }
}
