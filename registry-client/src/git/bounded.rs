//! git commands whose output a size ceiling bounds: a fetch, stopped once the packs it
//! writes pass the ceiling (git has no such limit of its own: `receive.maxInputSize` holds
//! for pushes only), and the size of a commit's files, counted before a checkout (a small
//! pack can expand to far more). Shared by the module cache ([`super::GitCli`]) and the git
//! sources a pipeline reads.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The settings a bounded fetch needs: what it receives is kept as packs, however few
/// objects it holds, so that [`run_bounded_fetch`] sees all of it in one folder.
pub const PACKS_ONLY: [&str; 4] = ["-c", "fetch.unpackLimit=1", "-c", "transfer.unpackLimit=1"];

/// How much of git's stdout and stderr is kept.
const KEPT_OUTPUT: u64 = 1 << 20;

/// How a bounded fetch ended.
#[derive(Debug)]
pub enum Fetched {
    /// git exited by itself: its status, stdout and stderr (each cut at 1 MiB).
    Exited { success: bool, stdout: String, stderr: String },
    /// What it received passed the limit: git was stopped (or had finished over it) and
    /// the packs it wrote are removed.
    TooBig,
}

/// Runs `command`, a fetch into the bare repository `database` given [`PACKS_ONLY`],
/// stopping it once the packs it adds pass `limit` bytes. A fetch stopped, or finished
/// over the limit, leaves nothing behind. Fails only when git cannot be run or waited for.
pub fn run_bounded_fetch(mut command: Command, database: &Path, limit: u64) -> std::io::Result<Fetched> {
    let folder = database.join("objects").join("pack");
    let before = files_in(&folder);
    let added = || -> u64 {
        files_in(&folder)
            .iter()
            .filter(|(name, size)| before.get(*name) != Some(size))
            .map(|(_, size)| size)
            .sum()
    };
    let remove_added = || {
        for name in files_in(&folder).into_keys().filter(|name| !before.contains_key(name)) {
            let _ = std::fs::remove_file(folder.join(name));
        }
    };
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = keep_start(child.stdout.take());
    let stderr = keep_start(child.stderr.take());
    let status = loop {
        match child.try_wait()? {
            Some(status) => break status,
            None if added() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                remove_added();
                return Ok(Fetched::TooBig);
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    if added() > limit {
        remove_added();
        return Ok(Fetched::TooBig);
    }
    Ok(Fetched::Exited {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Reads `stream` to its end on a thread of its own (a full pipe would stall git), keeping
/// its first [`KEPT_OUTPUT`] bytes.
fn keep_start(stream: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let Some(mut stream) = stream else {
            return String::new();
        };
        let mut kept = Vec::new();
        let _ = (&mut stream).take(KEPT_OUTPUT).read_to_end(&mut kept);
        let _ = std::io::copy(&mut stream, &mut std::io::sink());
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// The files of `folder` and their sizes.
fn files_in(folder: &Path) -> HashMap<OsString, u64> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name(), entry.metadata().ok()?.len())))
        .collect()
}

/// How many bytes the files of `commit` in the bare repository `database` hold, counted
/// with `git` (the program `command` runs, given `--git-dir` and `ls-tree`'s arguments
/// here) until the count passes `limit`. Read line by line, never held whole.
pub fn files_size(mut command: Command, database: &Path, commit: &str, limit: u64) -> Result<u64, FilesSizeError> {
    let mut git_dir = OsString::from("--git-dir=");
    git_dir.push(database);
    command
        .arg(git_dir)
        .args(["ls-tree", "-r", "-l", "-z", "--full-tree"])
        .arg(commit)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().map_err(FilesSizeError::Spawn)?;
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut total: u64 = 0;
    let mut line = Vec::new();
    // `<mode> <type> <object> <size>\t<path>\0`; the size of a submodule's commit is `-`.
    while total <= limit {
        line.clear();
        if lines.read_until(0, &mut line).map_err(FilesSizeError::Read)? == 0 {
            break;
        }
        let fields = line.split(|byte| *byte == b'\t').next().unwrap_or_default();
        let size = fields.split(|byte| *byte == b' ').filter(|field| !field.is_empty()).nth(3);
        total += size.and_then(|size| std::str::from_utf8(size).ok()?.parse::<u64>().ok()).unwrap_or(0);
    }
    let _ = child.kill();
    let status = child.wait().map_err(FilesSizeError::Read)?;
    if total <= limit && !status.success() {
        return Err(FilesSizeError::Failed(status));
    }
    Ok(total)
}

/// Why [`files_size`] could not count.
#[derive(Debug, thiserror::Error)]
pub enum FilesSizeError {
    #[error("cannot run git ({0})")]
    Spawn(std::io::Error),
    #[error("{0}")]
    Read(std::io::Error),
    #[error("git ls-tree failed ({0})")]
    Failed(std::process::ExitStatus),
}
