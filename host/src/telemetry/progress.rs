//! Progress displays: a live view on a terminal, plain lines in logs, JSON for tools.
//! Each shows the module function calls (the command's and those into dependencies,
//! nested) and the steps (container steps and module builds) they run.
//!
//! Every display writes to the terminal in one place: `write_stderr` for plain and JSON,
//! and for the live view `TtyProgress::print` (finished lines) and
//! `TtyProgress::on_screen` (the text of the running steps' lines): the places where
//! every shown line can be checked, e.g. scrubbed of secret values, before it leaves the
//! process.

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::Stream;
use crate::engine::cache::body_file_name;
use crate::engine::{Event, Progress, StepOutcome};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A live view on a terminal; plain lines when stderr is not a terminal, when
    /// `TERM=dumb`, or when `CI` is set.
    Auto,
    /// One line per step event, step output prefixed with the step number.
    Plain,
    /// A live view of the running steps, finished steps one line each.
    Tty,
    /// One JSON object per event (schema: docs/progress-json.md).
    Json,
    /// Nothing.
    Quiet,
}

/// The version of the JSON event schema (docs/progress-json.md), in every event as
/// `"version"`. Raised when a field changes meaning or goes away; new fields and new
/// events do not raise it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// What the environment says about the terminal, read once.
#[derive(Clone, Debug, Default)]
pub struct Terminal {
    /// stderr is a terminal.
    pub is_terminal: bool,
    /// `TERM=dumb`: no cursor movement, no colour.
    pub dumb: bool,
    /// `CI` is set (to anything but `false` or `0`): a log that someone reads later.
    pub ci: bool,
    /// `NO_COLOR` is set (to anything non-empty).
    pub no_color: bool,
}

impl Terminal {
    pub fn from_env() -> Self {
        let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        Self {
            is_terminal: std::io::stderr().is_terminal(),
            dumb: std::env::var("TERM").is_ok_and(|term| term == "dumb"),
            ci: std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0"),
            no_color: set("NO_COLOR"),
        }
    }

    /// The display `mode` comes to here: `Auto` is a live view only on a capable
    /// terminal outside CI, and a live view needs a terminal that can redraw.
    pub fn resolve(&self, mode: ProgressMode) -> ProgressMode {
        let live = self.is_terminal && !self.dumb;
        match mode {
            ProgressMode::Auto if live && !self.ci => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            ProgressMode::Tty if !live => ProgressMode::Plain,
            mode => mode,
        }
    }
}

/// The progress display for `mode` on this process's stderr.
pub fn display(mode: ProgressMode) -> Arc<dyn Progress> {
    let terminal = Terminal::from_env();
    let display: Arc<dyn Progress> = match terminal.resolve(mode) {
        ProgressMode::Tty => Arc::new(TtyProgress::new(!terminal.no_color)),
        ProgressMode::Plain => Arc::new(PlainProgress::default()),
        ProgressMode::Json => Arc::new(JsonProgress::default()),
        ProgressMode::Auto | ProgressMode::Quiet => Arc::new(crate::engine::NoProgress),
    };
    super::otel::traced(display)
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

    /// The newest complete line of step `id` past its head, if any.
    fn newest(&self, id: u64) -> Option<String> {
        let steps = self.0.lock().ok()?;
        steps.get(&id)?.tail.back().map(|(_, line)| line.clone())
    }

    fn finish(&self, id: u64, mut show: impl FnMut(Stream, &str)) -> Option<Ending> {
        let lines = self.0.lock().ok()?.remove(&id)?;
        Some(lines.finish(&mut show))
    }
}

/// Writes `text` to stderr in one call, through the secrets scrubber. A closed stderr is
/// not an error of the run: what cannot be shown is dropped. The one way plain and JSON
/// progress reach the terminal.
fn write_stderr(text: &str) {
    if !text.is_empty() {
        let _ = std::io::stderr().lock().write_all(crate::secrets::scrub(text).as_bytes());
    }
}

/// How much plain or JSON progress is kept while a shell has the terminal; past it, lines
/// are counted, not kept, so a long shell session costs bounded memory.
const HELD_LIMIT: usize = 1 << 20;

/// Where plain and JSON progress go: to `out` (stderr), except while an interactive shell
/// has the terminal ([`Progress::suspend`]), when lines written between the shell's
/// output would garble both. Then they are held, in order, and written when the shell
/// gives the terminal back.
struct PausableOutput {
    out: Box<dyn Fn(&str) + Send + Sync>,
    /// Says how many lines were not kept, in the display's own format.
    dropped_note: fn(u64) -> String,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    paused: bool,
    text: String,
    dropped: u64,
}

impl PausableOutput {
    fn new(out: impl Fn(&str) + Send + Sync + 'static, dropped_note: fn(u64) -> String) -> Self {
        Self {
            out: Box::new(out),
            dropped_note,
            held: Mutex::new(Held::default()),
        }
    }

    fn write(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        // Written under the lock, so nothing overtakes what a resume is flushing.
        let Ok(mut held) = self.held.lock() else {
            return (self.out)(text);
        };
        if !held.paused {
            (self.out)(text);
        } else if held.text.len() + text.len() <= HELD_LIMIT {
            held.text.push_str(text);
        } else {
            held.dropped += text.lines().count() as u64;
        }
    }

    fn pause(&self, paused: bool) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        held.paused = paused;
        if !paused {
            let text = std::mem::take(&mut held.text);
            (self.out)(&text);
            let dropped = std::mem::take(&mut held.dropped);
            if dropped > 0 {
                (self.out)(&(self.dropped_note)(dropped));
            }
        }
    }
}

/// Steps counted by how they ended, and the wall time since the display was made: the
/// summary every display ends with.
struct Tally {
    started: Instant,
    ran: AtomicU64,
    cached: AtomicU64,
    failed: AtomicU64,
    /// The summary was taken: it is shown once.
    summarized: AtomicBool,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            ran: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            summarized: AtomicBool::new(false),
        }
    }
}

/// The counts of a [`Tally`] at the end.
struct Summary {
    ran: u64,
    cached: u64,
    failed: u64,
    wall: Duration,
}

impl Tally {
    fn count(&self, outcome: &StepOutcome) {
        let counter = match outcome {
            StepOutcome::Cached => &self.cached,
            StepOutcome::Done(_) => &self.ran,
            StepOutcome::Failed(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The summary, or `None` when no step was reported (`tanto functions` of a built
    /// module says nothing more than its answer) or it was taken already.
    fn summary(&self) -> Option<Summary> {
        if self.summarized.swap(true, Ordering::Relaxed) {
            return None;
        }
        let summary = Summary {
            ran: self.ran.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            wall: self.started.elapsed(),
        };
        (summary.ran + summary.cached + summary.failed > 0).then_some(summary)
    }
}

impl std::fmt::Display for Summary {
    /// `5 steps: 2 run, 3 cached, 0 failed in 1.2s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.ran + self.cached + self.failed;
        let steps = if total == 1 { "step" } else { "steps" };
        write!(
            f,
            "{total} {steps}: {} run, {} cached, {} failed in {}",
            self.ran,
            self.cached,
            self.failed,
            seconds(self.wall)
        )
    }
}

/// The word for how a step ended, with its duration: `CACHED`, `DONE 1.2s`, `FAILED 0.3s`.
fn status(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Cached => "CACHED".to_string(),
        StepOutcome::Done(duration) => format!("DONE {}", seconds(*duration)),
        StepOutcome::Failed(duration) => format!("FAILED {}", seconds(*duration)),
    }
}

/// Two spaces per level of module-to-module calls.
fn indent(depth: u32) -> String {
    "  ".repeat(depth as usize)
}

/// Plain lines, for logs and CI: `[call] function` and `[call] function returned in 1.2s` around
/// each module function call (calls into dependencies indented), `[N] command` when step N starts, `[N] | line` for its
/// output (bounded, see [`HEAD_LINES`]), `[N] DONE 1.2s command` when it ends, and
/// `[tanto] …` for the summary.
struct PlainProgress {
    lines: LineBuffers,
    tally: Tally,
    output: PausableOutput,
}

impl Default for PlainProgress {
    fn default() -> Self {
        Self::writing_to(write_stderr)
    }
}

impl PlainProgress {
    fn writing_to(out: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            lines: LineBuffers::default(),
            tally: Tally::default(),
            output: PausableOutput::new(out, |dropped| {
                format!("[tanto] {dropped} lines of progress were not kept while a shell had the terminal\n")
            }),
        }
    }
}

impl Progress for PlainProgress {
    fn event(&self, event: Event<'_>) {
        let mut text = String::new();
        match event {
            Event::StepQueued { id, description } => text = format!("[{id}] QUEUED {description}\n"),
            Event::StepStarted { id, description } => text = format!("[{id}] {description}\n"),
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |_, line| {
                text.push_str(&format!("[{id}] | {line}\n"));
            }),
            Event::StepFinished {
                id, description, outcome, log, ..
            } => {
                let ending = self.lines.finish(id, |_, line| text.push_str(&format!("[{id}] | {line}\n")));
                if let Some(ending) = ending {
                    if let Some(omitted) = ending.omitted_line(log) {
                        text.push_str(&format!("[{id}] | {omitted}\n"));
                    }
                    for (_, line) in &ending.tail {
                        text.push_str(&format!("[{id}] | {line}\n"));
                    }
                }
                self.tally.count(&outcome);
                text.push_str(&format!("[{id}] {} {description}\n", status(&outcome)));
            }
            Event::CallStarted { name, depth, .. } => text = format!("[call] {}{name}\n", indent(depth)),
            Event::CallFinished { name, depth, outcome, .. } => {
                // Words of their own, so that `DONE`/`CACHED`/`FAILED` stay the words of steps.
                let ended = match outcome {
                    StepOutcome::Failed(duration) => format!("failed after {}", seconds(duration)),
                    StepOutcome::Done(duration) => format!("returned in {}", seconds(duration)),
                    StepOutcome::Cached => "returned from the cache".to_string(),
                };
                text = format!("[call] {}{name} {ended}\n", indent(depth));
            }
        }
        self.output.write(&text);
    }

    fn suspend(&self, suspended: bool) {
        self.output.pause(suspended);
    }

    fn finish(&self) {
        if let Some(summary) = self.tally.summary() {
            self.output.write(&format!("[tanto] {summary}\n"));
        }
    }
}

/// ANSI colours, or none (`NO_COLOR`).
#[derive(Clone, Copy)]
struct Palette {
    color: bool,
}

impl Palette {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    fn red(self, text: &str) -> String {
        self.paint("31", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// The columns of the terminal on stderr (80 when it says nothing). Read at each event,
/// so lines drawn after a resize fit the new width.
fn terminal_columns() -> usize {
    let mut size = std::mem::MaybeUninit::<libc::winsize>::zeroed();
    // SAFETY: TIOCGWINSZ writes a `winsize` into the memory given, nothing else.
    let answered = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, size.as_mut_ptr()) } == 0;
    // SAFETY: zeroed is a valid `winsize`, and the ioctl wrote a whole one if it answered.
    let size = unsafe { size.assume_init() };
    if answered && size.ws_col > 0 { usize::from(size.ws_col) } else { 80 }
}

/// The most of a description that fits on a line of `columns` holding `depth` levels of
/// indentation, a mark, a step number of `number` digits and a status with a duration
/// (`FAILED 123.4s`), so that no line of the live view wraps. Never less than 12: a very
/// narrow terminal wraps rather than showing nothing.
fn description_room(columns: usize, depth: u32, number: usize) -> usize {
    let fixed = 2 * depth as usize + 2 + if number > 0 { number + 3 } else { 0 } + 14;
    columns.saturating_sub(fixed).max(12)
}

/// `text` cut to `max` characters, with `…` for what was cut.
fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// What a line of the live view stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RowKey {
    Call(u64),
    Step(u64),
}

/// A line (or two, with a step's newest output) of the live view.
struct Row {
    key: RowKey,
    bar: ProgressBar,
    /// The open calls this row is drawn under, outermost first; a call's own row ends
    /// with the call itself.
    under: Vec<u64>,
    /// Levels of indentation: a call's depth, one more than its call for a step.
    depth: u32,
    /// The description or function name, whole; cut to the terminal's width when drawn.
    label: String,
}

/// The live part of the view: the open calls, each followed by what runs under it (the
/// steps it runs and the calls it makes into dependencies, nested), in drawing order.
#[derive(Default)]
struct Tree {
    rows: Vec<Row>,
    /// Open calls, innermost last: a new step is drawn under the innermost, as a trace
    /// puts its span under the running call.
    open_calls: Vec<(u64, u32)>,
    /// The width the rows were last cut to.
    columns: usize,
}

impl Tree {
    /// Where a new row goes: after everything drawn under the innermost open call, or
    /// at the end when no call is open. Returns the row to insert after, if any.
    fn anchor(&self) -> Option<usize> {
        let (parent, _) = *self.open_calls.last()?;
        self.rows.iter().rposition(|row| row.under.contains(&parent))
    }

    fn position(&self, key: RowKey) -> Option<usize> {
        self.rows.iter().position(|row| row.key == key)
    }

    fn remove(&mut self, key: RowKey) -> Option<Row> {
        let index = self.position(key)?;
        Some(self.rows.remove(index))
    }
}

/// The live view: the running module function calls as a tree, with the steps running
/// under each (queued, or a spinner with its elapsed time and, beneath it, its newest
/// output line); a finished step collapses to one line printed above the live part
/// (`✔ [3] make 1.2s`, `✔ [4] make CACHED`, `✘ [5] make FAILED 0.3s` followed by its
/// last lines and where its whole log is), indented under its call; a summary line at
/// the end. Lines are cut to the terminal's width.
struct TtyProgress {
    multi: MultiProgress,
    tree: Mutex<Tree>,
    lines: LineBuffers,
    /// The first lines of each running step, shown only if it fails.
    heads: Mutex<HashMap<u64, Vec<String>>>,
    tally: Tally,
    palette: Palette,
}

impl TtyProgress {
    fn new(color: bool) -> Self {
        Self::drawing_to(ProgressDrawTarget::stderr(), color)
    }

    fn drawing_to(target: ProgressDrawTarget, color: bool) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(target),
            tree: Mutex::new(Tree::default()),
            lines: LineBuffers::default(),
            heads: Mutex::new(HashMap::new()),
            tally: Tally::default(),
            palette: Palette { color },
        }
    }

    /// Prints a line above the live part. The one way the live view writes lines.
    fn print(&self, line: &str) {
        let _ = self.multi.println(crate::secrets::scrub(line));
    }

    /// Text for the live lines (their description, their newest output line), which
    /// indicatif draws. The one way text reaches those lines.
    fn on_screen(&self, text: String) -> String {
        crate::secrets::scrub(&text).into_owned()
    }

    fn style(&self, with_output: bool) -> ProgressStyle {
        let template = match (self.palette.color, with_output) {
            (true, false) => "{spinner:.cyan} {prefix} {elapsed:.dim}",
            (true, true) => "{spinner:.cyan} {prefix} {elapsed:.dim}\n{wide_msg:.dim}",
            (false, false) => "{spinner} {prefix} {elapsed}",
            (false, true) => "{spinner} {prefix} {elapsed}\n{wide_msg}",
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn queued_style(&self) -> ProgressStyle {
        // No spinner and no time: nothing runs yet.
        let template = if self.palette.color { "  {prefix} {msg:.dim}" } else { "  {prefix} {msg}" };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    /// The text before a row's elapsed time, cut to `columns`.
    fn prefix(&self, row: &Row, columns: usize) -> String {
        let text = match row.key {
            RowKey::Call(_) => format!("{}▸ {}", indent(row.depth), shortened(&row.label, description_room(columns, row.depth, 0))),
            RowKey::Step(id) => {
                let number = id.to_string();
                let room = description_room(columns, row.depth, number.len());
                format!("{}[{number}] {}", indent(row.depth), shortened(&row.label, room))
            }
        };
        self.on_screen(text)
    }

    /// The tree, its rows re-cut if the terminal's width changed since they were drawn.
    fn tree(&self) -> Option<std::sync::MutexGuard<'_, Tree>> {
        let mut tree = self.tree.lock().ok()?;
        let columns = terminal_columns();
        if tree.columns != columns {
            tree.columns = columns;
            for row in &tree.rows {
                row.bar.set_prefix(self.prefix(row, columns));
            }
        }
        Some(tree)
    }

    /// Adds a row under the innermost open call (or at the end), drawn with `style`.
    fn add_row(&self, tree: &mut Tree, key: RowKey, label: &str, depth: u32, style: ProgressStyle) -> ProgressBar {
        let mut under: Vec<u64> = tree.open_calls.iter().map(|(id, _)| *id).collect();
        if let RowKey::Call(id) = key {
            under.push(id);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(style);
        let row = Row {
            key,
            bar: bar.clone(),
            under,
            depth,
            label: label.to_string(),
        };
        bar.set_prefix(self.prefix(&row, tree.columns));
        match tree.anchor() {
            Some(index) => {
                self.multi.insert_after(&tree.rows[index].bar, bar.clone());
                tree.rows.insert(index + 1, row);
            }
            None => {
                self.multi.add(bar.clone());
                tree.rows.push(row);
            }
        }
        bar
    }

    /// The indentation of a new step: one level under the innermost open call.
    fn step_depth(tree: &Tree) -> u32 {
        tree.open_calls.last().map_or(0, |(_, depth)| depth + 1)
    }

    /// Shows `line` beneath the running step `id`.
    fn show_last_line(&self, id: u64, line: &str) {
        if let Some(tree) = self.tree()
            && let Some(index) = tree.position(RowKey::Step(id))
        {
            let row = &tree.rows[index];
            if row.bar.message().is_empty() {
                row.bar.set_style(self.style(true));
            }
            row.bar.set_message(self.on_screen(format!("{}    │ {line}", indent(row.depth))));
        }
    }

    /// Takes a finished row off the live part; returns its indentation.
    fn drop_row(&self, key: RowKey) -> Option<u32> {
        let mut tree = self.tree()?;
        let row = tree.remove(key)?;
        row.bar.finish_and_clear();
        self.multi.remove(&row.bar);
        Some(row.depth)
    }
}

impl Progress for TtyProgress {
    fn event(&self, event: Event<'_>) {
        let palette = self.palette;
        match event {
            Event::StepQueued { id, description } => {
                if let Some(mut tree) = self.tree() {
                    let depth = Self::step_depth(&tree);
                    let bar = self.add_row(&mut tree, RowKey::Step(id), description, depth, self.queued_style());
                    bar.set_message("queued");
                    bar.tick();
                }
            }
            Event::StepStarted { id, description } => {
                // A queued step keeps its line, now running, its time counted from now.
                if let Some(mut tree) = self.tree() {
                    let bar = match tree.position(RowKey::Step(id)) {
                        Some(index) => {
                            let bar = tree.rows[index].bar.clone();
                            bar.set_style(self.style(false));
                            bar
                        }
                        None => {
                            let depth = Self::step_depth(&tree);
                            self.add_row(&mut tree, RowKey::Step(id), description, depth, self.style(false))
                        }
                    };
                    bar.set_message("");
                    bar.reset_elapsed();
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            }
            Event::StepOutput { id, stream, bytes } => {
                // Every complete line passes by; only the newest is kept on screen.
                let mut head = Vec::new();
                self.lines.push(id, stream, bytes, |_, line| head.push(line.to_string()));
                let newest = head.last().cloned().or_else(|| self.lines.newest(id));
                if !head.is_empty()
                    && let Ok(mut heads) = self.heads.lock()
                {
                    heads.entry(id).or_default().extend(head);
                }
                if let Some(line) = newest {
                    self.show_last_line(id, &line);
                }
            }
            Event::StepFinished {
                id, description, outcome, log, ..
            } => {
                let mut head = self.heads.lock().ok().and_then(|mut heads| heads.remove(&id)).unwrap_or_default();
                let ending = self.lines.finish(id, |_, line| head.push(line.to_string()));
                let depth = match self.drop_row(RowKey::Step(id)) {
                    Some(depth) => depth,
                    None => self.tree().map_or(0, |tree| Self::step_depth(&tree)),
                };
                self.tally.count(&outcome);
                let margin = indent(depth);
                let description = shortened(description, description_room(terminal_columns(), depth, id.to_string().len()));
                match outcome {
                    StepOutcome::Cached => self.print(&format!("{margin}{} [{id}] {description} {}", palette.green("✔"), palette.dim("CACHED"))),
                    StepOutcome::Done(duration) => self.print(&format!(
                        "{margin}{} [{id}] {description} {}",
                        palette.green("✔"),
                        palette.dim(&seconds(duration))
                    )),
                    StepOutcome::Failed(duration) => {
                        self.print(&format!(
                            "{margin}{} [{id}] {description} {}",
                            palette.red("✘"),
                            palette.red(&format!("FAILED {}", seconds(duration)))
                        ));
                        // A failed step shows its output, bounded as in plain progress.
                        for line in &head {
                            self.print(&format!("{margin}    │ {line}"));
                        }
                        if let Some(ending) = ending {
                            if let Some(omitted) = ending.omitted_line(log) {
                                self.print(&format!("{margin}    │ {omitted}"));
                            }
                            for (_, line) in &ending.tail {
                                self.print(&format!("{margin}    │ {line}"));
                            }
                        }
                    }
                }
            }
            Event::CallStarted { id, name, depth } => {
                if let Some(mut tree) = self.tree() {
                    let bar = self.add_row(&mut tree, RowKey::Call(id), name, depth, self.style(false));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    tree.open_calls.push((id, depth));
                }
            }
            Event::CallFinished { id, name, depth, outcome } => {
                if let Some(mut tree) = self.tree() {
                    tree.open_calls.retain(|(open, _)| *open != id);
                }
                self.drop_row(RowKey::Call(id));
                let (mark, time) = match outcome {
                    StepOutcome::Failed(duration) => (palette.red("✘"), palette.red(&format!("FAILED {}", seconds(duration)))),
                    StepOutcome::Done(duration) => (palette.green("✔"), palette.dim(&seconds(duration))),
                    StepOutcome::Cached => (palette.green("✔"), palette.dim("CACHED")),
                };
                let name = shortened(name, description_room(terminal_columns(), depth, 0));
                self.print(&format!("{}{mark} {} {time}", indent(depth), palette.bold(&name)));
            }
        }
    }

    fn suspend(&self, suspended: bool) {
        if suspended {
            let _ = self.multi.clear();
            self.multi.set_draw_target(ProgressDrawTarget::hidden());
        } else {
            self.multi.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn finish(&self) {
        if let Some(mut tree) = self.tree() {
            tree.open_calls.clear();
            for row in tree.rows.drain(..) {
                row.bar.finish_and_clear();
                self.multi.remove(&row.bar);
            }
        }
        if let Some(summary) = self.tally.summary() {
            let line = summary.to_string();
            self.print(&if summary.failed > 0 {
                self.palette.red(&line)
            } else {
                self.palette.bold(&line)
            });
        }
    }
}

/// One JSON object per line (schema: docs/progress-json.md). Output comes as one
/// `output` event per line, bounded per step like plain progress, with an `omitted`
/// event in place of the middle.
struct JsonProgress {
    lines: LineBuffers,
    tally: Tally,
    output: PausableOutput,
}

impl Default for JsonProgress {
    fn default() -> Self {
        Self {
            lines: LineBuffers::default(),
            tally: Tally::default(),
            output: PausableOutput::new(write_stderr, |dropped| {
                let mut text = String::new();
                json_line(&mut text, serde_json::json!({ "event": "held-back", "lines": dropped }));
                text
            }),
        }
    }
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// `value` (an object) with the schema version, as one line.
fn json_line(text: &mut String, mut value: serde_json::Value) {
    if let Some(object) = value.as_object_mut() {
        object.insert("version".into(), JSON_SCHEMA_VERSION.into());
    }
    text.push_str(&value.to_string());
    text.push('\n');
}

impl Progress for JsonProgress {
    fn event(&self, event: Event<'_>) {
        let mut text = String::new();
        let mut emit = |value: serde_json::Value| json_line(&mut text, value);
        match event {
            Event::StepQueued { id, description } => {
                emit(serde_json::json!({ "event": "queued", "step": id, "description": description }));
            }
            Event::StepStarted { id, description } => {
                emit(serde_json::json!({ "event": "started", "step": id, "description": description }));
            }
            Event::StepOutput { id, stream, bytes } => self.lines.push(id, stream, bytes, |stream, line| {
                emit(serde_json::json!({ "event": "output", "step": id, "stream": stream_name(stream), "text": line }));
            }),
            Event::StepFinished {
                id, description, outcome, log, ..
            } => {
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
                self.tally.count(&outcome);
                let (status, seconds) = match outcome {
                    StepOutcome::Cached => ("cached", 0.0),
                    StepOutcome::Done(duration) => ("done", duration.as_secs_f64()),
                    StepOutcome::Failed(duration) => ("failed", duration.as_secs_f64()),
                };
                let log = log.map(|log| log.display().to_string());
                emit(serde_json::json!({ "event": "finished", "step": id, "description": description, "status": status, "seconds": seconds, "log": log }));
            }
            Event::CallStarted { id, name, depth } => {
                emit(serde_json::json!({ "event": "call-started", "call": id, "name": name, "depth": depth }));
            }
            Event::CallFinished { id, name, depth, outcome } => {
                let (status, seconds) = match outcome {
                    StepOutcome::Failed(duration) => ("failed", duration.as_secs_f64()),
                    StepOutcome::Done(duration) => ("done", duration.as_secs_f64()),
                    StepOutcome::Cached => ("cached", 0.0),
                };
                emit(serde_json::json!({ "event": "call-finished", "call": id, "name": name, "depth": depth, "status": status, "seconds": seconds }));
            }
        }
        self.output.write(&text);
    }

    fn suspend(&self, suspended: bool) {
        self.output.pause(suspended);
    }

    fn finish(&self) {
        if let Some(summary) = self.tally.summary() {
            let mut text = String::new();
            json_line(
                &mut text,
                serde_json::json!({
                    "event": "summary",
                    "ran": summary.ran,
                    "cached": summary.cached,
                    "failed": summary.failed,
                    "seconds": summary.wall.as_secs_f64(),
                }),
            );
            self.output.write(&text);
        }
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
    fn plain_progress_holds_its_lines_while_a_shell_has_the_terminal() {
        let written = Arc::new(Mutex::new(String::new()));
        let sink = written.clone();
        let plain = PlainProgress::writing_to(move |text| sink.lock().unwrap().push_str(text));
        plain.event(Event::StepStarted { id: 1, description: "before" });
        plain.suspend(true);
        plain.event(Event::StepStarted { id: 2, description: "during" });
        assert_eq!(*written.lock().unwrap(), "[1] before\n", "nothing is written while the shell runs");
        plain.suspend(false);
        plain.event(Event::StepStarted { id: 3, description: "after" });
        assert_eq!(*written.lock().unwrap(), "[1] before\n[2] during\n[3] after\n");

        // Held output is bounded: past the limit, lines are counted and said to be missing.
        written.lock().unwrap().clear();
        plain.suspend(true);
        let long = "x".repeat(1000);
        for id in 0..2000 {
            plain.event(Event::StepStarted { id, description: &long });
        }
        assert!(written.lock().unwrap().is_empty());
        plain.suspend(false);
        let written = written.lock().unwrap();
        assert!(written.len() <= HELD_LIMIT + 200, "{}", written.len());
        assert!(written.starts_with("[0] x"), "held lines come first, in order");
        let kept = written.lines().count() - 1;
        assert!(
            written.ends_with(&format!(
                "[tanto] {} lines of progress were not kept while a shell had the terminal\n",
                2000 - kept
            )),
            "{}",
            &written[written.len() - 200..]
        );
    }

    #[test]
    fn the_live_view_draws_steps_and_calls_under_the_running_call() {
        let view = TtyProgress::drawing_to(ProgressDrawTarget::hidden(), false);
        let step = |id| Event::StepStarted { id, description: "sh -c true" };
        view.event(Event::StepStarted {
            id: 9,
            description: "build module",
        });
        view.event(Event::CallStarted { id: 1, name: "ci", depth: 0 });
        view.event(step(1));
        view.event(Event::CallStarted {
            id: 2,
            name: "dep.lint",
            depth: 1,
        });
        view.event(step(2));
        view.event(Event::StepQueued {
            id: 3,
            description: "sh -c true",
        });
        let layout = |view: &TtyProgress| -> Vec<(RowKey, u32)> { view.tree.lock().unwrap().rows.iter().map(|row| (row.key, row.depth)).collect() };
        assert_eq!(
            layout(&view),
            [
                (RowKey::Step(9), 0),
                (RowKey::Call(1), 0),
                (RowKey::Step(1), 1),
                (RowKey::Call(2), 1),
                (RowKey::Step(2), 2),
                (RowKey::Step(3), 2),
            ]
        );
        // Once the dependency returns, new steps go after everything under the caller.
        view.event(Event::CallFinished {
            id: 2,
            name: "dep.lint",
            depth: 1,
            outcome: StepOutcome::Done(Duration::from_millis(5)),
        });
        view.event(step(4));
        let keys: Vec<RowKey> = layout(&view).into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys[keys.len() - 1], RowKey::Step(4));
        assert_eq!(layout(&view).last().unwrap().1, 1);
        assert!(!keys.contains(&RowKey::Call(2)));
        view.finish();
        assert!(layout(&view).is_empty());
    }

    #[test]
    fn live_lines_are_cut_to_the_terminal_width() {
        // 80 columns, a step numbered 12 under a call: the line holds the margin, mark,
        // number and status and no more.
        let room = description_room(80, 1, 2);
        assert_eq!(room, 80 - (2 + 2 + 5 + 14));
        let line = format!("  ⠋ [12] {} FAILED 123.4s", shortened(&"x".repeat(200), room));
        assert!(line.chars().count() <= 80, "{line}");
        // A very narrow terminal still shows the start of each description.
        assert_eq!(description_room(10, 3, 4), 12);
        // A wide one shows long descriptions whole.
        assert!(description_room(300, 0, 1) > 200);
    }

    #[test]
    fn auto_is_live_only_on_a_capable_terminal_outside_ci() {
        let terminal = |is_terminal, dumb, ci| Terminal {
            is_terminal,
            dumb,
            ci,
            no_color: false,
        };
        assert_eq!(terminal(true, false, false).resolve(ProgressMode::Auto), ProgressMode::Tty);
        assert_eq!(terminal(false, false, false).resolve(ProgressMode::Auto), ProgressMode::Plain);
        assert_eq!(terminal(true, true, false).resolve(ProgressMode::Auto), ProgressMode::Plain);
        assert_eq!(terminal(true, false, true).resolve(ProgressMode::Auto), ProgressMode::Plain);
        // Asked for by name: a live view still needs a terminal that redraws; CI may have one.
        assert_eq!(terminal(true, false, true).resolve(ProgressMode::Tty), ProgressMode::Tty);
        assert_eq!(terminal(false, false, false).resolve(ProgressMode::Tty), ProgressMode::Plain);
        assert_eq!(terminal(true, true, false).resolve(ProgressMode::Tty), ProgressMode::Plain);
        assert_eq!(terminal(true, false, false).resolve(ProgressMode::Json), ProgressMode::Json);
    }

    #[test]
    fn the_summary_counts_steps_by_outcome_once() {
        let tally = Tally::default();
        assert!(Tally::default().summary().is_none(), "no steps, no summary");
        tally.count(&StepOutcome::Cached);
        tally.count(&StepOutcome::Cached);
        tally.count(&StepOutcome::Done(Duration::from_millis(1200)));
        tally.count(&StepOutcome::Failed(Duration::from_millis(300)));
        let summary = tally.summary().expect("a summary");
        assert_eq!((summary.ran, summary.cached, summary.failed), (1, 2, 1));
        assert!(summary.to_string().starts_with("4 steps: 1 run, 2 cached, 1 failed in "), "{summary}");
        assert!(tally.summary().is_none(), "shown once");
    }

    #[test]
    fn long_descriptions_are_cut_for_the_live_view() {
        assert_eq!(shortened("make", 10), "make");
        assert_eq!(shortened("sh -c 'a very long command'", 10), "sh -c 'a …");
        assert_eq!(shortened("ééééé", 3), "éé…");
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
