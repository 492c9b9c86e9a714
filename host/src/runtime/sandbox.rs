//! The sandbox of one invocation: a WASI context that grants nothing, a memory cap, and a
//! guest CPU budget that does not count time spent waiting for the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use super::accounting::HostMemory;
use crate::engine::Engine as Pipeline;

/// Resource limits of a module invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// The most memory the module may make the host hold: its linear memories plus the
    /// bytes of the host objects it created (see [`HostMemory`]).
    pub memory_bytes: usize,
    /// Guest execution time, excluding time spent waiting for containers (CPU time the
    /// host spends on the guest's behalf counts).
    pub cpu_time: Duration,
    /// Wall-clock time of one invocation, waiting for containers included.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            cpu_time: Duration::from_secs(30),
            // Generous: a whole pipeline (builds, test suites) runs inside one
            // invocation; this only stops modules that never finish.
            timeout: Duration::from_secs(60 * 60),
        }
    }
}

/// The largest values a limit may take: beyond them a number is a mistake (or an attempt
/// to overflow the host's arithmetic), not a budget.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
const MAX_MEMORY_MIB: u64 = 64 << 10;

/// Why a limit's value is unusable, worded to follow the name of the flag or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitError(String);

impl Limits {
    /// These limits lowered by the module's own (a module can lower its limits, never
    /// raise them above what its caller granted).
    pub fn lowered_by(&self, cpu_time: Option<Duration>, memory_bytes: Option<usize>, timeout: Option<Duration>) -> Limits {
        Limits {
            memory_bytes: memory_bytes.map_or(self.memory_bytes, |bytes| bytes.min(self.memory_bytes)),
            cpu_time: cpu_time.map_or(self.cpu_time, |time| time.min(self.cpu_time)),
            timeout: timeout.map_or(self.timeout, |time| time.min(self.timeout)),
        }
    }

    /// A CPU budget from a number of seconds.
    pub fn cpu_time_from_seconds(seconds: f64) -> Result<Duration, LimitError> {
        // `1e300` as written, not its three hundred digits.
        let shown = if seconds.abs() >= 1e9 { format!("{seconds:e}") } else { format!("{seconds}") };
        if !seconds.is_finite() || seconds <= 0.0 {
            return Err(LimitError(format!("`{shown}` is not a positive number of seconds")));
        }
        if seconds > MAX_SECONDS {
            return Err(LimitError(format!("`{shown}` seconds is more than the maximum of {MAX_SECONDS} (a week)")));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    /// A memory limit from a number of MiB.
    pub fn memory_bytes_from_mib(mib: u64) -> Result<usize, LimitError> {
        if mib == 0 {
            return Err(LimitError("`0` MiB leaves no memory at all: give at least 1".into()));
        }
        if mib > MAX_MEMORY_MIB {
            return Err(LimitError(format!("`{mib}` MiB is more than the maximum of {MAX_MEMORY_MIB} (64 GiB)")));
        }
        usize::try_from(mib << 20).map_err(|_| LimitError(format!("`{mib}` MiB does not fit this machine's address space")))
    }

    /// A wall-clock limit from `90`, `90s`, `30m`, `2h` or `1d`.
    pub fn timeout_from_text(text: &str) -> Result<Duration, LimitError> {
        let trimmed = text.trim();
        let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let invalid = || LimitError(format!("`{text}` is not a duration such as 90s, 30m or 2h"));
        let number: u64 = number.parse().map_err(|_| invalid())?;
        let unit_seconds: u64 = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        let seconds = number.checked_mul(unit_seconds).filter(|seconds| *seconds as f64 <= MAX_SECONDS);
        match seconds {
            Some(0) => Err(LimitError(format!("`{text}` is no time at all: give a positive duration"))),
            Some(seconds) => Ok(Duration::from_secs(seconds)),
            None => Err(LimitError(format!("`{text}` is more than the maximum of 7d"))),
        }
    }
}

/// The most objects a module may hold at once: each is a handle in wasmtime's table and
/// a node on the host (wasmtime's own cap is 100 000 handles per store).
pub const MAX_OBJECTS: usize = 50_000;

/// The errors the sandbox raises as traps, recognisable after the fact.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the module exceeded its CPU time budget of {limit:?}")]
    CpuBudgetExceeded { limit: Duration },
    #[error("the module tried to grow its memory past {limit_bytes} bytes")]
    MemoryExceeded { limit_bytes: usize },
    #[error("the module holds more than {} MiB in host objects", limit_bytes >> 20)]
    HostMemoryExceeded { limit_bytes: usize },
    #[error("the module holds more than {limit} objects")]
    TooManyObjects { limit: usize },
}

/// The CPU time this process has used so far, on all its threads.
pub(crate) fn process_cpu_time() -> Duration {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `time` is a valid timespec for the call to write; the clock exists on every
    // Linux (and POSIX) system tanto runs on.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut time) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(time.tv_sec).unwrap_or(0), u32::try_from(time.tv_nsec).unwrap_or(0))
}

/// How much guest CPU time an invocation has used.
pub struct CpuBudget {
    started: Instant,
    in_host: Duration,
    limit: Duration,
}

impl CpuBudget {
    /// Called at each epoch tick while the guest runs.
    pub fn check(&self) -> wasmtime::Result<()> {
        let used = self.started.elapsed().saturating_sub(self.in_host);
        if used > self.limit {
            Err(wasmtime::Error::new(SandboxError::CpuBudgetExceeded { limit: self.limit }))
        } else {
            Ok(())
        }
    }

    /// Time spent in the host: not charged to the guest.
    pub fn add_host_time(&mut self, duration: Duration) {
        self.in_host += duration;
    }

    /// A host call that took `wall` time of which the process spent `cpu` computing:
    /// only the waiting (for containers, the daemon, the disk) is not charged, so CPU-heavy
    /// host work a guest triggers in a loop (listing a huge directory, hashing) counts
    /// against its budget.
    pub fn add_host_call(&mut self, wall: Duration, cpu: Duration) {
        self.in_host += wall.saturating_sub(cpu);
    }
}

/// Caps what a module makes the host hold, linear memories and host objects together,
/// and remembers which cap was hit.
pub struct MemoryLimit {
    limit: usize,
    /// The sum of the current sizes of the store's linear memories.
    linear: usize,
    exceeded: bool,
    /// Bytes held in host objects the module created.
    pub host: HostMemory,
}

impl MemoryLimit {
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Charges `bytes` held by the host for the object `rep`, derived from `parents`.
    pub fn charge(&mut self, rep: u32, bytes: usize, parents: &[u32]) -> wasmtime::Result<()> {
        self.host.charge(rep, bytes, parents);
        if self.linear.saturating_add(self.host.used()) > self.limit {
            self.exceeded = true;
            return Err(wasmtime::Error::new(SandboxError::HostMemoryExceeded { limit_bytes: self.limit }));
        }
        Ok(())
    }
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let linear = self.linear.saturating_sub(current).saturating_add(desired);
        if linear.saturating_add(self.host.used()) > self.limit {
            self.exceeded = true;
            return Err(wasmtime::Error::new(SandboxError::MemoryExceeded { limit_bytes: self.limit }));
        }
        self.linear = linear;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Everything a store holds for one invocation.
pub struct InvocationState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub pipeline: Arc<Pipeline>,
    pub cpu: CpuBudget,
    pub memory: MemoryLimit,
    /// Errors handed to the guest, so that when the guest passes one back as its own
    /// result the host still knows what it was (an unreachable daemon, say).
    /// Only the latest [`RETURNED_ERRORS_KEPT`] are kept: a module failing a call in a
    /// loop must not grow this without bound.
    returned_errors: Recent<crate::engine::EngineError>,
    /// For calls to other modules: the runtime, what this module may call, and how deep
    /// in a chain of calls this invocation is.
    pub runtime: Arc<super::Runtime>,
    pub dependencies: Arc<dyn super::Dependencies>,
    pub depth: u32,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// How many of the errors handed to the guest are remembered; a module passes on the one
/// it just got.
const RETURNED_ERRORS_KEPT: usize = 64;

/// The latest few items of a sequence.
struct Recent<T> {
    items: std::collections::VecDeque<T>,
    capacity: usize,
}

impl<T> Recent<T> {
    fn new(capacity: usize) -> Self {
        Self {
            items: std::collections::VecDeque::new(),
            capacity,
        }
    }

    fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    fn iter(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.items.iter()
    }
}

/// The most guest output kept per stream.
const LOG_CAPACITY: usize = 4 << 20;

impl InvocationState {
    pub fn new(
        pipeline: Arc<Pipeline>,
        limits: super::Limits,
        table: ResourceTable,
        runtime: Arc<super::Runtime>,
        dependencies: Arc<dyn super::Dependencies>,
        depth: u32,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(LOG_CAPACITY);
        let stderr = MemoryOutputPipe::new(LOG_CAPACITY);
        // Nothing is granted: no preopened directories, no environment, no arguments, no
        // sockets, no name lookup. Clocks and randomness stay: they reveal nothing.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table,
            pipeline,
            cpu: CpuBudget {
                started: Instant::now(),
                in_host: Duration::ZERO,
                limit: limits.cpu_time,
            },
            memory: MemoryLimit {
                limit: limits.memory_bytes,
                linear: 0,
                exceeded: false,
                host: HostMemory::default(),
            },
            returned_errors: Recent::new(RETURNED_ERRORS_KEPT),
            runtime,
            dependencies,
            depth,
            stdout,
            stderr,
        }
    }

    /// Remembers an error handed to the guest.
    pub fn remember_error(&mut self, error: crate::engine::EngineError) {
        self.returned_errors.push(error);
    }

    /// The errors handed to the guest, the latest last.
    pub fn returned_errors(&self) -> impl DoubleEndedIterator<Item = &crate::engine::EngineError> {
        self.returned_errors.iter()
    }

    /// What the guest wrote to stdout and stderr.
    pub fn log(&self) -> String {
        let mut log = String::from_utf8_lossy(&self.stdout.contents()).into_owned();
        log.push_str(&String::from_utf8_lossy(&self.stderr.contents()));
        log
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_lowers_limits_and_never_raises_them() {
        let granted = Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
        };
        let raised = granted.lowered_by(Some(Duration::from_secs(3600)), Some(4096 << 20), Some(Duration::from_secs(7200)));
        assert_eq!(raised, granted);
        let lowered = granted.lowered_by(Some(Duration::from_secs(1)), Some(32 << 20), Some(Duration::from_secs(5)));
        assert_eq!(
            lowered,
            Limits {
                memory_bytes: 32 << 20,
                cpu_time: Duration::from_secs(1),
                timeout: Duration::from_secs(5),
            }
        );
        assert_eq!(granted.lowered_by(None, None, None), granted);
    }

    #[test]
    fn only_the_latest_errors_are_remembered() {
        let mut recent = Recent::new(3);
        for item in 0..10 {
            recent.push(item);
        }
        assert_eq!(recent.iter().copied().collect::<Vec<_>>(), [7, 8, 9]);
    }

    #[test]
    fn timeouts_are_read_with_units() {
        assert_eq!(Limits::timeout_from_text("90"), Ok(Duration::from_secs(90)));
        assert_eq!(Limits::timeout_from_text("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(Limits::timeout_from_text("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(Limits::timeout_from_text("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(Limits::timeout_from_text("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "0s", "-1s", "1.5h", "8d", "18446744073709551615h", "soon"] {
            assert!(Limits::timeout_from_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_seconds_and_memory_are_bounded() {
        assert_eq!(Limits::cpu_time_from_seconds(0.5), Ok(Duration::from_millis(500)));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(Limits::cpu_time_from_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(Limits::memory_bytes_from_mib(64), Ok(64 << 20));
        assert!(Limits::memory_bytes_from_mib(0).is_err());
        assert!(Limits::memory_bytes_from_mib(u64::MAX).is_err());
    }
}
