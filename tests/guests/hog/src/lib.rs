//! A module that allocates more memory than its sandbox allows.

use tanto_sdk::Result;

#[derive(Default)]
struct Hog;

/// Allocates memory.
#[tanto_sdk::module]
impl Hog {
    /// Allocates and touches `mib` MiB, returning how many bytes it holds.
    pub fn allocate(&self, mib: i64) -> Result<i64> {
        let size = usize::try_from(mib).map_err(tanto_sdk::Error::msg)? << 20;
        let mut block = vec![0u8; size];
        for index in (0..block.len()).step_by(4096) {
            block[index] = 1;
        }
        Ok(std::hint::black_box(block).len() as i64)
    }
}
