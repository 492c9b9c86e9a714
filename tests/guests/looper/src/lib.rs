//! A module that never returns, or recurses without end: the CPU budget, the wall-clock
//! limit, signals and the stack limit must all stop it, each with its own message.

use tanto_sdk::{Result, dag};

#[derive(Default)]
struct Looper;

/// Spins forever.
#[tanto_sdk::module]
impl Looper {
    /// Loops without end, never calling the host.
    pub fn spin(&self) -> Result<i64> {
        let mut counter: i64 = 0;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
            if counter == i64::MIN {
                return Ok(counter);
            }
        }
    }

    /// Recurses `depth` times, each frame holding a buffer on the stack: deep enough, it
    /// overflows the module's stack.
    pub fn recurse(&self, depth: i64) -> Result<i64> {
        Ok(descend(depth))
    }

    /// Lists a directory of `files` files (made once in `base`) over and over, forever:
    /// the time is the host's, spent computing for the module, not waiting for it.
    pub fn list_forever(&self, base: String, files: i64) -> Result<i64> {
        let script = format!("mkdir /many && cd /many && seq 1 {files} | xargs touch");
        let directory = dag().container().from(base).with_exec(["sh", "-c", &script]).directory("/many");
        let mut listed: i64 = 0;
        loop {
            listed += std::hint::black_box(directory.entries(".")?).len() as i64;
            if listed == i64::MAX {
                return Ok(listed);
            }
        }
    }
}

fn descend(depth: i64) -> i64 {
    let mut frame = [0u8; 1024];
    frame[(depth as usize) % 1024] = 1;
    let frame = std::hint::black_box(frame);
    if depth <= 0 {
        return i64::from(frame[0]);
    }
    descend(depth - 1) + i64::from(frame[(depth as usize) % 1024])
}
