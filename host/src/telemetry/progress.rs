//! Progress displays: a live view on a terminal, plain lines in logs, JSON for tools.

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::Stream;
use crate::engine::cache::body_file_name;
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
        ProgressMode::Json => Arc::new(JsonProgress::default()),
        _ => Arc::new(crate::engine::NoProgress),
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// How many lines at the start of each step's output a display shows as they come.
pub const HEAD_LINES: usize = 20;
/// How many lines at the end of each step's output a display shows when the step ends.
/// The lines in between are counted and replaced by "… N lines omitted, full log: PATH".
pub const TAIL_LINES: usize = 20;
/// The most of one line a display shows; the rest is counted, never buffered (a step
/// printing 24 MB without a newline costs this much memory, not 24 MB).
pub const MAX_LINE_BYTES: usize = 1024;

/// A line being received: its first [`MAX_LINE_BYTES`] and how many bytes were cut.
#[derive(Default)]
struct PartialLine {
    bytes: Vec<u8>,
    cut: u64,
}

impl PartialLine {
    fn append(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.bytes.len());
        let taken = bytes.len().min(room);
        self.bytes.extend_from_slice(&bytes[..taken]);
        self.cut += (bytes.len() - taken) as u64;
    }

    /// Writes the line as text into `line` (cleared first) and starts a new one.
    fn take_into(&mut self, line: &mut String) {
        line.clear();
        line.push_str(String::from_utf8_lossy(&self.bytes).trim_end_matches('\r'));
        if self.cut > 0 {
            line.push_str(&format!(" … [{} more bytes]", self.cut));
        }
        self.bytes.clear();
        self.cut = 0;
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.cut == 0
    }
}

/// The output of one running step as a display shows it: the first [`HEAD_LINES`] lines
/// as they complete, the last [`TAIL_LINES`] at the end, a count of the rest. Each byte
/// is looked at once, and memory is bounded whatever the step prints.
#[derive(Default)]
struct StepLines {
    partial: [PartialLine; 2],
    shown: usize,
    /// The last lines after the head, oldest first.
    tail: VecDeque<(Stream, String)>,
    omitted: u64,
    /// Which streams had lines omitted.
    omitted_from: [bool; 2],
}

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl StepLines {
    /// Takes a chunk of `stream`; calls `show` with each line of the head as it completes.
    fn push(&mut self, stream: Stream, bytes: &[u8], show: &mut impl FnMut(Stream, &str)) {
        let mut rest = bytes;
        while let Some(index) = rest.iter().position(|byte| *byte == b'\n') {
            self.partial[stream_index(stream)].append(&rest[..index]);
            self.complete(stream, show);
            rest = &rest[index + 1..];
        }
        self.partial[stream_index(stream)].append(rest);
    }

    fn complete(&mut self, stream: Stream, show: &mut impl FnMut(Stream, &str)) {
        let partial = &mut self.partial[stream_index(stream)];
        if self.shown < HEAD_LINES {
            self.shown += 1;
            let mut line = String::new();
            partial.take_into(&mut line);
            show(stream, &line);
            return;
        }
        // A full tail gives its oldest line's buffer to the newest: no allocation per line.
        let mut line = if self.tail.len() == TAIL_LINES {
            let (dropped, line) = self.tail.pop_front().unwrap_or((stream, String::new()));
            self.omitted += 1;
            self.omitted_from[stream_index(dropped)] = true;
            line
        } else {
            String::new()
        };
        partial.take_into(&mut line);
        self.tail.push_back((stream, line));
    }

    /// The step ended: unfinished lines complete, and what is left to show is returned.
    fn finish(mut self, show: &mut impl FnMut(Stream, &str)) -> Ending {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if !self.partial[stream_index(stream)].is_empty() {
                self.complete(stream, show);
            }
        }
        Ending {
            omitted: self.omitted,
            omitted_from: self.omitted_from,
            tail: self.tail.into(),
        }
    }
}

/// What a display shows when a step ends.
struct Ending {
    omitted: u64,
    omitted_from: [bool; 2],
    tail: Vec<(Stream, String)>,
}

impl Ending {
    /// The files holding the streams that had lines omitted.
    fn log_files(&self, log: Option<&Path>) -> Vec<PathBuf> {
        let Some(log) = log else { return Vec::new() };
        [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .filter(|stream| self.omitted_from[stream_index(*stream)])
            .map(|stream| log.join(body_file_name(stream)))
            .collect()
    }

    /// "… N lines omitted, full log: PATH", or `None` when nothing was.
    fn omitted_line(&self, log: Option<&Path>) -> Option<String> {
        if self.omitted == 0 {
            return None;
        }
        let files = self.log_files(log);
        let mut line = format!("… {} lines omitted", self.omitted);
        if !files.is_empty() {
            let files: Vec<String> = files.iter().map(|file| file.display().to_string()).collect();
            line.push_str(&format!(", full log: {}", files.join(" ")));
        }
        Some(line)
    }
}

/// The [`StepLines`] of every running step.
#[derive(Default)]
struct LineBuffers(Mutex<HashMap<u64, StepLines>>);

impl LineBuffers {
    fn push(&self, id: u64, stream: Stream, bytes: &[u8], mut show: impl FnMut(Stream, &str)) {
        if let Ok(mut steps) = self.0.lock() {
            steps.entry(id).or_default().push(stream, bytes, &mut show);
        }
    }

    fn finish(&self, id: u64, mut show: impl FnMut(Stream, &str)) -> Option<Ending> {
        let lines = self.0.lock().ok()?.remove(&id)?;
        Some(lines.finish(&mut show))
    }
}

/// Writes `text` to stderr in one call, through the secrets scrubber. A closed stderr is
/// not an error of the run: what cannot be shown is dropped.
fn write_stderr(text: &str) {
    if !text.is_empty() {
        let _ = std::io::stderr().lock().write_all(crate::secrets::scrub(text).as_bytes());
    }
}

/// Plain lines, for logs and CI. Each step's output is bounded (see [`HEAD_LINES`]).
#[derive(Default)]
struct PlainProgress {
    lines: LineBuffers,
}

impl Progress for PlainProgress {
    fn event(&self, event: Event<'_>) {
        let mut text = String::new();
        match event {
            Event::StepStarted { id, description } => text = format!("[{id}] {description}\n"),
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |_, line| {
                text.push_str(&format!("[{id}] | {line}\n"));
            }),
            Event::StepFinished { id, description, outcome, log } => {
                let ending = self.lines.finish(id, |_, line| text.push_str(&format!("[{id}] | {line}\n")));
                if let Some(ending) = ending {
                    if let Some(omitted) = ending.omitted_line(log) {
                        text.push_str(&format!("[{id}] | {omitted}\n"));
                    }
                    for (_, line) in &ending.tail {
                        text.push_str(&format!("[{id}] | {line}\n"));
                    }
                }
                let status = match outcome {
                    StepOutcome::Cached => "CACHED".to_string(),
                    StepOutcome::Done(duration) => format!("DONE {}", seconds(duration)),
                    StepOutcome::Failed(duration) => format!("FAILED {}", seconds(duration)),
                };
                text.push_str(&format!("[{id}] {status} {description}\n"));
            }
        }
        write_stderr(&text);
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
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |_, line| {
                let _ = self.multi.println(format!("  │ {line}"));
            }),
            Event::StepFinished { id, description, outcome, log } => {
                let ending = self.lines.finish(id, |_, line| {
                    let _ = self.multi.println(format!("  │ {line}"));
                });
                if let Some(ending) = ending {
                    if let Some(omitted) = ending.omitted_line(log) {
                        let _ = self.multi.println(format!("  │ {omitted}"));
                    }
                    for (_, line) in &ending.tail {
                        let _ = self.multi.println(format!("  │ {line}"));
                    }
                }
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

/// One JSON object per line. Output comes as one `output` event per line, bounded per
/// step like plain progress, with an `omitted` event in place of the middle.
#[derive(Default)]
struct JsonProgress {
    lines: LineBuffers,
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

impl Progress for JsonProgress {
    fn event(&self, event: Event<'_>) {
        let mut text = String::new();
        let mut emit = |value: serde_json::Value| {
            text.push_str(&value.to_string());
            text.push('\n');
        };
        match event {
            Event::StepStarted { id, description } => {
                emit(serde_json::json!({ "event": "started", "step": id, "description": description }));
            }
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |stream, line| {
                emit(serde_json::json!({ "event": "output", "step": id, "stream": stream_name(stream), "text": line }));
            }),
            Event::StepFinished { id, description, outcome, log } => {
                let ending = self.lines.finish(id, |stream, line| {
                    emit(serde_json::json!({ "event": "output", "step": id, "stream": stream_name(stream), "text": line }));
                });
                if let Some(ending) = ending {
                    if ending.omitted > 0 {
                        let logs: Vec<String> = ending.log_files(log).iter().map(|file| file.display().to_string()).collect();
                        emit(serde_json::json!({ "event": "omitted", "step": id, "lines": ending.omitted, "logs": logs }));
                    }
                    for (stream, line) in &ending.tail {
                        emit(serde_json::json!({ "event": "output", "step": id, "stream": stream_name(*stream), "text": line }));
                    }
                }
                let (status, seconds) = match outcome {
                    StepOutcome::Cached => ("cached", 0.0),
                    StepOutcome::Done(duration) => ("done", duration.as_secs_f64()),
                    StepOutcome::Failed(duration) => ("failed", duration.as_secs_f64()),
                };
                let log = log.map(|log| log.display().to_string());
                emit(serde_json::json!({ "event": "finished", "step": id, "description": description, "status": status, "seconds": seconds, "log": log }));
            }
        }
        write_stderr(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown_and_ending(chunks: &[(Stream, &[u8])]) -> (Vec<String>, Ending) {
        let mut shown = Vec::new();
        let mut lines = StepLines::default();
        for (stream, bytes) in chunks {
            lines.push(*stream, bytes, &mut |_, line| shown.push(line.to_string()));
        }
        let ending = lines.finish(&mut |_, line| shown.push(line.to_string()));
        (shown, ending)
    }

    #[test]
    fn a_step_shows_its_first_and_last_lines_and_counts_the_rest() {
        let output: String = (0..1000).map(|index| format!("line {index}\n")).collect();
        // Cut at odd places, as output arrives.
        let chunks: Vec<(Stream, &[u8])> = output.as_bytes().chunks(7).map(|chunk| (Stream::Stdout, chunk)).collect();
        let (shown, ending) = shown_and_ending(&chunks);
        assert_eq!(shown, (0..HEAD_LINES).map(|index| format!("line {index}")).collect::<Vec<_>>());
        assert_eq!(ending.omitted, (1000 - HEAD_LINES - TAIL_LINES) as u64);
        let tail: Vec<&str> = ending.tail.iter().map(|(_, line)| line.as_str()).collect();
        assert_eq!(tail, (1000 - TAIL_LINES..1000).map(|index| format!("line {index}")).collect::<Vec<_>>());
        assert_eq!(
            ending.omitted_line(Some(Path::new("/cache/ops/ab/key"))).unwrap(),
            "… 960 lines omitted, full log: /cache/ops/ab/key/stdout"
        );
    }

    #[test]
    fn short_output_is_shown_whole_with_streams_apart() {
        let (shown, ending) = shown_and_ending(&[(Stream::Stdout, b"out "), (Stream::Stderr, b"err\n"), (Stream::Stdout, b"line\nlast")]);
        assert_eq!(shown, ["err", "out line", "last"]);
        assert_eq!(ending.omitted, 0);
        assert!(ending.omitted_line(None).is_none());
    }

    #[test]
    fn a_huge_line_is_cut_and_never_buffered_whole() {
        let mut lines = StepLines::default();
        let chunk = vec![b'a'; 64 << 10];
        for _ in 0..384 {
            // 24 MiB without a newline.
            lines.push(Stream::Stdout, &chunk, &mut |_, _| panic!("no line is complete yet"));
            assert!(lines.partial[0].bytes.len() <= MAX_LINE_BYTES);
        }
        let mut shown = Vec::new();
        lines.finish(&mut |_, line| shown.push(line.to_string()));
        assert_eq!(shown.len(), 1);
        assert!(shown[0].starts_with(&"a".repeat(MAX_LINE_BYTES)));
        assert!(
            shown[0].ends_with(&format!(" … [{} more bytes]", (24 << 20) - MAX_LINE_BYTES)),
            "{}",
            &shown[0][MAX_LINE_BYTES..]
        );
    }
}
