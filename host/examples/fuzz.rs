//! A stable-toolchain fuzzer for the targets of `fuzz/` (which need nightly and
//! `cargo fuzz`): generates hostile inputs at random (structured, then mutated) and runs
//! them through `tanto::engine::fuzzing` for a given time.
//!
//! `cargo run --release -p tanto --example fuzz -- TARGET SECONDS [SEED]`, where TARGET is
//! `tree_path` or `tar_unpack`. On a failed property it writes the input to
//! `fuzz/artifacts/TARGET/crash-SEED-N` and exits 1. `benches/fuzz.sh` runs it.

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use tanto::engine::fuzzing;

/// xorshift64*: small, fast, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Components an attacker would try, and some noise.
const COMPONENTS: &[&str] = &[
    "a",
    "b",
    "0",
    "victim",
    "..",
    ".",
    "",
    "\\",
    "a\\..\\0",
    "..\\..",
    "/",
    "\0",
    "./",
    "~",
    "a b",
    "\u{2215}",
    "%2e%2e",
    "destination",
    "...",
];

fn path(rng: &mut Rng) -> String {
    let mut path = String::new();
    if rng.below(4) == 0 {
        path.push('/');
    }
    let count = 1 + rng.below(5);
    for index in 0..count {
        if index > 0 {
            path.push(if rng.below(8) == 0 { '\\' } else { '/' });
        }
        if rng.below(40) == 0 {
            path.push_str(&"x".repeat(1 + rng.below(300)));
        } else {
            path.push_str(rng.pick(COMPONENTS));
        }
    }
    if rng.below(6) == 0 {
        path.push('/');
    }
    path
}

fn tree_input(rng: &mut Rng) -> Vec<u8> {
    let mut text = String::new();
    for _ in 0..1 + rng.below(12) {
        let operation = rng.pick(&["f", "d", "l", "x", "n"]);
        let target = if rng.below(2) == 0 { path(rng) } else { format!("../../{}", path(rng)) };
        text.push_str(&format!("{operation} {} {target}\n", path(rng)));
    }
    text.into_bytes()
}

fn tar_input(rng: &mut Rng) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for _ in 0..1 + rng.below(8) {
        let kind = match rng.below(8) {
            0 | 1 => tar::EntryType::Regular,
            2 => tar::EntryType::Directory,
            3 | 4 => tar::EntryType::Symlink,
            5 => tar::EntryType::Link,
            6 => tar::EntryType::Fifo,
            _ => tar::EntryType::Char,
        };
        let name = path(rng);
        let data = vec![b'x'; rng.below(64)];
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode([0o644, 0o755, 0o000, 0o4777, 0o555][rng.below(5)]);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            let target = path(rng);
            let mut end = target.len().min(100);
            while !target.is_char_boundary(end) {
                end -= 1;
            }
            let _ = header.set_link_name_literal(&target[..end]);
        }
        let size = if kind == tar::EntryType::Regular { data.len() } else { 0 };
        header.set_size(size as u64);
        if name.len() <= 100 {
            // Raw, so that the `tar` crate's own checks cannot clean the name up.
            if let Some(gnu) = header.as_gnu_mut() {
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            }
            header.set_cksum();
            let _ = builder.append(&header, &data[..size]);
        } else {
            // A GNU long name (the crate refuses `..` here, which is fine).
            let _ = builder.append_data(&mut header, &name, &data[..size]);
        }
    }
    let mut bytes = builder.into_inner().unwrap_or_default();
    // Sometimes damage it, to reach the reader's error paths.
    if !bytes.is_empty() && rng.below(4) == 0 {
        for _ in 0..1 + rng.below(8) {
            let index = rng.below(bytes.len());
            bytes[index] = rng.next() as u8;
        }
    }
    bytes
}

/// Makes one input of a target.
type Generator = fn(&mut Rng) -> Vec<u8>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(target), Some(seconds)) = (args.get(1), args.get(2).and_then(|text| text.parse::<u64>().ok())) else {
        eprintln!("usage: fuzz tree_path|tar_unpack SECONDS [SEED]");
        std::process::exit(2);
    };
    let seed = args.get(3).and_then(|text| text.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |time| time.as_nanos() as u64)
            | 1
    });
    let (generate, check): (Generator, fn(&[u8])) = match target.as_str() {
        "tree_path" => (tree_input, fuzzing::tree_path),
        "tar_unpack" => (tar_input, fuzzing::tar_unpack),
        other => {
            eprintln!("unknown target {other:?}: tree_path or tar_unpack");
            std::process::exit(2);
        }
    };
    let mut rng = Rng(seed);
    let started = Instant::now();
    let deadline = Duration::from_secs(seconds);
    let mut runs: u64 = 0;
    while started.elapsed() < deadline {
        let input = generate(&mut rng);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_default();
            let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/artifacts").join(target);
            let _ = std::fs::create_dir_all(&folder);
            let file = folder.join(format!("crash-{seed}-{runs}"));
            let _ = std::fs::File::create(&file).and_then(|mut out| out.write_all(&input));
            eprintln!(
                "{target}: property failed after {runs} runs ({:.0?}): {message}\ninput: {}",
                started.elapsed(),
                file.display()
            );
            std::process::exit(1);
        }
        runs += 1;
    }
    println!("{target}: {runs} runs in {:.0?} without a failure (seed {seed})", started.elapsed());
}
