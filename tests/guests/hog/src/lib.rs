//! A module that makes its sandbox hold too much: linear memory, host objects, handles,
//! data copied to the host.

use tanto_sdk::{Result, dag};

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

    /// Creates `count` cache volumes, each with a distinct key of `kib` KiB, and keeps
    /// them all: the host holds every key.
    pub fn hold_keys(&self, count: i64, kib: i64) -> Result<i64> {
        let size = usize::try_from(kib).map_err(tanto_sdk::Error::msg)? << 10;
        let mut volumes = Vec::new();
        for index in 0..count {
            let key = format!("{index}-{}", "k".repeat(size));
            volumes.push(dag().cache_volume(key));
        }
        Ok(std::hint::black_box(volumes).len() as i64)
    }

    /// Creates `count` cache volumes with `kib` KiB keys, dropping each before the next:
    /// the host holds one key at a time.
    pub fn churn_keys(&self, count: i64, kib: i64) -> Result<i64> {
        let size = usize::try_from(kib).map_err(tanto_sdk::Error::msg)? << 10;
        let mut made = 0;
        for index in 0..count {
            let key = format!("{index}-{}", "k".repeat(size));
            drop(std::hint::black_box(dag().cache_volume(key)));
            made += 1;
        }
        Ok(made)
    }

    /// Creates `count` directories, each with a new binary file of `kib` KiB, and keeps
    /// them all: the host holds every file's bytes.
    pub fn hold_files(&self, count: i64, kib: i64) -> Result<i64> {
        let size = usize::try_from(kib).map_err(tanto_sdk::Error::msg)? << 10;
        let mut directories = Vec::new();
        for index in 0..count {
            let mut bytes = vec![0xa5_u8; size];
            bytes[..8].copy_from_slice(&index.to_le_bytes());
            directories.push(dag().directory().with_new_file_bytes("blob", bytes));
        }
        Ok(std::hint::black_box(directories).len() as i64)
    }

    /// Creates `count` empty directories and keeps them all.
    pub fn hold_objects(&self, count: i64) -> Result<i64> {
        let directories: Vec<_> = (0..count).map(|_| dag().directory()).collect();
        Ok(std::hint::black_box(directories).len() as i64)
    }

    /// Hands the host one string of `mib` MiB in a single call.
    pub fn transfer(&self, mib: i64) -> Result<i64> {
        let size = usize::try_from(mib).map_err(tanto_sdk::Error::msg)? << 20;
        let contents = "x".repeat(size);
        let directory = dag().directory().with_new_file("big.txt", contents);
        Ok(std::hint::black_box(directory).entries(".")?.len() as i64)
    }
}
