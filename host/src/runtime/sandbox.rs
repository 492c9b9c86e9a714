//! The sandbox of one invocation: a WASI context that grants nothing, a memory cap, and a
//! guest CPU budget that does not count time spent waiting for the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::engine::Engine as Pipeline;

/// Resource limits of a module invocation.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest a linear memory may grow.
    pub memory_bytes: usize,
    /// Guest execution time, excluding time spent in host calls (waiting for containers).
    pub cpu_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            cpu_time: Duration::from_secs(30),
        }
    }
}

/// The errors the sandbox raises as traps, recognisable after the fact.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the module exceeded its CPU time budget of {limit:?}")]
    CpuBudgetExceeded { limit: Duration },
    #[error("the module tried to grow its memory past {limit_bytes} bytes")]
    MemoryExceeded { limit_bytes: usize },
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
}

/// Caps linear memories and remembers whether the cap was hit.
pub struct MemoryLimit {
    limit: usize,
    exceeded: bool,
}

impl MemoryLimit {
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Err(wasmtime::Error::new(SandboxError::MemoryExceeded { limit_bytes: self.limit }));
        }
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
    pub returned_errors: Vec<crate::engine::EngineError>,
    /// For calls to other modules: the runtime, what this module may call, and how deep
    /// in a chain of calls this invocation is.
    pub runtime: Arc<super::Runtime>,
    pub dependencies: Arc<dyn super::Dependencies>,
    pub depth: u32,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
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
                exceeded: false,
            },
            returned_errors: Vec::new(),
            runtime,
            dependencies,
            depth,
            stdout,
            stderr,
        }
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
