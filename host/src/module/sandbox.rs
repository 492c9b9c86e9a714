//! The confinement a third-party module's build runs in.
//!
//! Building a Rust crate runs its code: `build.rs` scripts and proc-macros execute with
//! the privileges of whoever runs cargo. A module fetched from git is untrusted, so its
//! build runs under bubblewrap (`bwrap`), in fresh namespaces: no network (its own empty
//! network namespace), no other process visible, and a file system made of
//!
//! * the system toolchain (`/usr`, the C linker its build scripts need) read-only,
//! * the Rust toolchain (`rustc --print sysroot`) read-only, at its own path,
//! * the crate cache (`$CARGO_HOME/registry`, `$CARGO_HOME/git`) read-only, under a
//!   private cargo home at `/cargo-home`,
//! * its build folder (a private copy of its checkout and its target folder) at `/build`,
//!   the only place it can write,
//! * an empty `/tmp`, a minimal `/dev` and `/proc`.
//!
//! Its crates are fetched before by `cargo fetch`, which runs no crate code, in a sandbox
//! of its own ([`Phase::Fetch`]) that differs from the build's in two ways only: it shares
//! the network, and it writes the crate cache (cargo verifies every crate's checksum). So
//! even a manifest naming `git = "file:///home/you/private"` or `path = "/etc"` sees
//! nothing of the host. The build ([`Phase::Build`]) then runs offline. The paths inside
//! are the same for every build, so what the build prints never names host folders.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Where the build folder appears inside the sandbox.
pub const BUILD_DIR: &str = "/build";
/// Where the private cargo home appears inside the sandbox.
const CARGO_HOME_DIR: &str = "/cargo-home";

/// Whether third-party code may be built on the host when no sandbox is available.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnsandboxedBuilds {
    /// Refuse to build (the default): a module's build scripts never run unconfined.
    #[default]
    Refuse,
    /// Build on the host, with the user's privileges (`--allow-unsandboxed-builds`).
    Allow,
}

/// The two steps of a confined build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `cargo fetch`: network shared, crate cache writable, run from `/build` (above the
    /// checkout, so cargo reads none of the module's `.cargo/config.toml`).
    Fetch,
    /// `cargo build`: no network, crate cache read-only, run in the crate's folder.
    Build,
}

/// Host files the fetch needs to reach crates.io: name resolution and TLS roots.
const NETWORK_FILES: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
];

/// Proxy settings the fetch keeps from the user's environment.
const PROXY_VARIABLES: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "CARGO_HTTP_PROXY",
    "CARGO_HTTP_CAINFO",
];

/// A working bubblewrap on this machine.
#[derive(Clone, Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
}

/// The toolchain a confined build uses, found on the host.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// `rustc --print sysroot`: rustc, cargo and the standard libraries.
    pub sysroot: PathBuf,
    /// The user's cargo home, whose crate cache the build reads.
    pub cargo_home: PathBuf,
}

impl Toolchain {
    /// The active toolchain, asked from a folder outside any third-party checkout, so a
    /// `rust-toolchain.toml` a module ships cannot make rustup pick (or download) another.
    pub fn find(neutral_dir: &Path) -> Result<Self, String> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let output = Command::new(&rustc)
            .args(["--print", "sysroot"])
            .current_dir(neutral_dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run `{}`: {error}", rustc.to_string_lossy()))?;
        if !output.status.success() {
            return Err(format!("`rustc --print sysroot` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if !sysroot.join("bin/cargo").is_file() {
            return Err(format!("the Rust toolchain at {} has no bin/cargo", sysroot.display()));
        }
        Ok(Self {
            sysroot,
            cargo_home: cargo_home(),
        })
    }

    /// The toolchain's own cargo binary (not a rustup proxy, which would need rustup's
    /// home inside the sandbox).
    pub fn cargo(&self) -> PathBuf {
        self.sysroot.join("bin/cargo")
    }
}

fn cargo_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".cargo")
}

impl Sandbox {
    /// bubblewrap, if it is installed and can make its namespaces here (a kernel or a
    /// container runtime may forbid them). Probed once per process.
    pub fn probe() -> Result<Sandbox, String> {
        static PROBED: OnceLock<Result<Sandbox, String>> = OnceLock::new();
        PROBED
            .get_or_init(|| {
                let bwrap = find_in_path("bwrap").ok_or_else(|| "bubblewrap (`bwrap`) is not installed".to_owned())?;
                let output = Command::new(&bwrap)
                    .args(["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--", "true"])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|error| format!("cannot run {}: {error}", bwrap.display()))?;
                if !output.status.success() {
                    return Err(format!(
                        "bubblewrap cannot create namespaces on this machine: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ));
                }
                Ok(Sandbox { bwrap })
            })
            .clone()
    }

    /// `cargo ARGS` in the crate at `crate_dir` (relative to `work/src`), confined as the
    /// module docs say for `phase`. `work` holds `src/` (the private copy of the
    /// checkout), and gets `target/` and `cargo-home/`.
    pub fn cargo(&self, phase: Phase, toolchain: &Toolchain, work: &Path, crate_dir: &Path, args: &[&str]) -> std::io::Result<Command> {
        let private_home = work.join("cargo-home");
        std::fs::create_dir_all(&private_home)?;
        std::fs::create_dir_all(work.join("target"))?;
        let mut command = Command::new(&self.bwrap);
        command
            .args(["--unshare-all", "--die-with-parent", "--new-session"])
            .args(["--ro-bind", "/usr", "/usr"]);
        if phase == Phase::Fetch {
            command.arg("--share-net");
            for file in NETWORK_FILES {
                if Path::new(file).exists() {
                    command.args(["--ro-bind", file, file]);
                }
            }
        }
        // Run by root, bwrap keeps the capabilities (in the sandbox's user namespace)
        // unless told; an unprivileged user has none to drop.
        if running_as_root() {
            command.args(["--cap-drop", "ALL"]);
        }
        // Merged-/usr systems have /bin, /lib... as links into /usr; others have folders.
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let path = Path::new("/").join(top);
            match std::fs::read_link(&path) {
                Ok(target) => {
                    command.arg("--symlink").arg(target).arg(&path);
                }
                Err(_) if path.is_dir() => {
                    command.arg("--ro-bind").arg(&path).arg(&path);
                }
                Err(_) => {}
            }
        }
        // `cc` is a Debian alternative; the loader cache speeds up every process start.
        for file in ["/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"] {
            if Path::new(file).exists() {
                command.args(["--ro-bind", file, file]);
            }
        }
        // /tmp first: the build folder may itself live under /tmp.
        command.args(["--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]);
        command.arg("--ro-bind").arg(&toolchain.sysroot).arg(&toolchain.sysroot);
        command.arg("--bind").arg(work.join("src")).arg(Path::new(BUILD_DIR).join("src"));
        command.arg("--bind").arg(work.join("target")).arg(Path::new(BUILD_DIR).join("target"));
        command.arg("--bind").arg(&private_home).arg(CARGO_HOME_DIR);
        for cache in ["registry", "git"] {
            let path = toolchain.cargo_home.join(cache);
            let inside = Path::new(CARGO_HOME_DIR).join(cache);
            match phase {
                Phase::Fetch => {
                    std::fs::create_dir_all(&path)?;
                    command.arg("--bind").arg(&path).arg(inside);
                }
                Phase::Build if path.is_dir() => {
                    command.arg("--ro-bind").arg(&path).arg(inside);
                }
                Phase::Build => {}
            }
        }
        // The user's own cargo settings (a registry mirror, say) hold for the fetch; their
        // credentials stay out.
        let user_config = toolchain.cargo_home.join("config.toml");
        if phase == Phase::Fetch && user_config.is_file() {
            command.arg("--ro-bind").arg(&user_config).arg(Path::new(CARGO_HOME_DIR).join("config.toml"));
        }
        let working_dir = match phase {
            Phase::Fetch => PathBuf::from(BUILD_DIR),
            Phase::Build => Path::new(BUILD_DIR).join("src").join(crate_dir),
        };
        let mut path_var = OsString::from(toolchain.sysroot.join("bin"));
        path_var.push(":/usr/bin:/bin");
        command.arg("--chdir").arg(working_dir).arg("--clearenv");
        match phase {
            Phase::Fetch => {
                for name in PROXY_VARIABLES {
                    if let Some(value) = std::env::var_os(name) {
                        command.arg("--setenv").arg(name).arg(value);
                    }
                }
            }
            Phase::Build => {
                command.args(["--setenv", "CARGO_NET_OFFLINE", "true"]);
            }
        }
        command
            .arg("--setenv")
            .arg("PATH")
            .arg(path_var)
            .args(["--setenv", "HOME", BUILD_DIR])
            .args(["--setenv", "TMPDIR", "/tmp"])
            .args(["--setenv", "CARGO_HOME", CARGO_HOME_DIR])
            .args(["--setenv", "CARGO_TARGET_DIR", "/build/target"])
            .args(["--setenv", "CARGO_TERM_COLOR", "never"])
            .arg("--setenv")
            .arg("RUSTC")
            .arg(toolchain.sysroot.join("bin/rustc"))
            .arg("--")
            .arg(toolchain.cargo())
            .args(args);
        Ok(command)
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// A path cargo printed inside the sandbox, as the host sees it.
pub fn host_path(work: &Path, inside: &Path) -> Option<PathBuf> {
    inside.strip_prefix(BUILD_DIR).ok().map(|relative| work.join(relative))
}
