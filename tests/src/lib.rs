//! Shared fixtures for tanto's integration tests: the `tanto` binary with an isolated
//! cache and session, the test guests built from source, Docker helpers and base images.
//!
//! Every test runs tanto against the machine's real Docker daemon. Each [`Tanto`] gets
//! its own cache folder and session label, so tests run in parallel and each can check
//! that it left no container behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

pub mod daemon;
pub mod git;
pub mod python;
pub mod registry;
pub mod sshd;

pub use daemon::{SecondDaemon, free_port};
pub use registry::Registry;
pub use sshd::Sshd;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The component of test guest `name` (a folder of tests/guests), built by build.rs.
pub fn guest_wasm(name: &str) -> PathBuf {
    let path = Path::new(env!("TANTO_TEST_GUESTS_WASM")).join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "missing guest component {}", path.display());
    path
}

/// The source folder of test guest `name`.
pub fn guest_dir(name: &str) -> PathBuf {
    Path::new(env!("TANTO_TEST_GUESTS_DIR")).join(name)
}

/// The `tanto` binary of this build profile, built once if it is missing: cargo builds
/// a package's binaries only for that package's own tests, and tanto's live here.
pub fn tanto_bin() -> PathBuf {
    static BUILT: Once = Once::new();
    // Integration tests live in target/<profile>/deps; the binary one level up.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = profile_dir.join("tanto");
    // Built once per test process even when the binary exists: a stale binary would test
    // old code (the SDK it embeds, say) without a word. `--workspace --bins` as
    // scripts/test builds it, so both resolve the same features and a fresh build is a
    // no-op.
    BUILT.call_once(|| {
        let release = profile_dir.file_name().is_some_and(|name| name == "release");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "--workspace", "--bins"]).current_dir(repo_root());
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "cannot build the tanto binary");
    });
    assert!(bin.is_file(), "{} is missing: build it with `cargo build -p tanto`", bin.display());
    bin
}

/// `text` without the lines of plain progress (`[3] …`, `[call] …`, `[tanto] …`): step timings and
/// module builds, which change between runs, out of snapshots of what a command says.
pub fn without_progress(text: &str) -> String {
    let is_progress = |line: &str| {
        line.strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .is_some_and(|(inside, _)| inside == "tanto" || inside == "call" || (!inside.is_empty() && inside.bytes().all(|byte| byte.is_ascii_digit())))
    };
    let mut kept: String = text.lines().filter(|line| !is_progress(line)).collect::<Vec<_>>().join("\n");
    if text.ends_with('\n') && !kept.is_empty() {
        kept.push('\n');
    }
    kept
}

/// Runs `docker ARGS` and returns its stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().expect("the docker client runs");
    assert!(output.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes sure the daemon answers and `busybox:latest` exists (made locally from Debian's
/// busybox-static when it cannot be pulled).
pub fn ensure_docker() {
    static READY: Once = Once::new();
    READY.call_once(|| {
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .expect("the docker client runs");
        assert!(info.status.success(), "the Docker daemon does not answer: run scripts/setup first");
        let status = Command::new(repo_root().join("scripts/make-busybox-image"))
            .arg("busybox:latest")
            .status()
            .expect("make-busybox-image runs");
        assert!(status.success(), "cannot make busybox:latest");
    });
}

/// What a `tanto` run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics, showing both streams, unless the run succeeded.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "tanto failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Panics unless the run failed with `code`.
    #[track_caller]
    pub fn failure(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A `tanto` with its own cache folder and session label.
pub struct Tanto {
    pub cache: tempfile::TempDir,
    pub session: String,
    envs: Vec<(String, String)>,
}

impl Default for Tanto {
    fn default() -> Self {
        Self::new()
    }
}

impl Tanto {
    pub fn new() -> Self {
        ensure_docker();
        let session = format!("test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        Self {
            cache: tempfile::tempdir().expect("tempdir"),
            session,
            envs: Vec::new(),
        }
    }

    /// Another tanto sharing this one's cache (a second process on the same machine).
    pub fn sharing_cache(&self) -> Command {
        self.command()
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    /// A `tanto` command with this fixture's environment and plain progress.
    pub fn command(&self) -> Command {
        self.command_with_progress("plain")
    }

    /// A `tanto` command with this fixture's environment and `--progress=MODE`.
    pub fn command_with_progress(&self, mode: &str) -> Command {
        let mut command = Command::new(tanto_bin());
        command
            .env("TANTO_CACHE_DIR", self.cache.path())
            .env("TANTO_SESSION", &self.session)
            // Modules the tests build share one cargo target folder, so their
            // dependencies compile once for the whole suite.
            .env("CARGO_TARGET_DIR", repo_root().join("target/test-modules"))
            .env_remove("TANTO_LOG")
            .arg(format!("--progress={mode}"));
        for (name, value) in &self.envs {
            command.env(name, value);
        }
        command
    }

    /// The name tanto gives this fixture's cache on the snapshot images it makes (label
    /// `tanto.cache`): the first 20 hex digits of the sha256 of the canonical cache path.
    pub fn cache_id(&self) -> String {
        let path = std::fs::canonicalize(self.cache.path()).expect("the cache folder exists");
        let output = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().expect("stdin").write_all(path.as_os_str().as_encoded_bytes())?;
                child.wait_with_output()
            })
            .expect("sha256sum runs");
        String::from_utf8_lossy(&output.stdout)[..20].to_string()
    }

    /// The snapshot images of this fixture's cache.
    pub fn snapshot_images(&self) -> Vec<String> {
        docker(&[
            "image",
            "ls",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=tanto.cache={}", self.cache_id()),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Runs `tanto ARGS` in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        Run::from(self.command().args(args).current_dir(dir).output().expect("tanto runs"))
    }

    /// Runs `tanto ARGS` in the repository root.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(&repo_root(), args)
    }

    /// Runs `tanto ARGS` in the repository root under `/usr/bin/time`, returning the run
    /// and tanto's peak resident memory (VmHWM) in KiB.
    pub fn run_measured(&self, args: &[&str]) -> (Run, u64) {
        let report = tempfile::NamedTempFile::new().expect("a temporary file");
        let tanto = self.command();
        let mut command = Command::new("/usr/bin/time");
        command.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(tanto.get_program());
        command.args(tanto.get_args()).args(args).current_dir(repo_root());
        for (name, value) in tanto.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let run = Run::from(command.output().expect("/usr/bin/time runs"));
        let text = std::fs::read_to_string(report.path()).expect("/usr/bin/time wrote its report");
        // The report may start with "Command exited with non-zero status N".
        let peak = text
            .lines()
            .filter_map(|line| line.trim().parse::<u64>().ok())
            .next_back()
            .unwrap_or_else(|| panic!("no peak memory in /usr/bin/time's report: {text}"));
        (run, peak)
    }

    /// Starts `tanto ARGS` in the repository root without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command()
            .args(args)
            .current_dir(repo_root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tanto starts")
    }

    /// The ids of this session's running containers.
    pub fn running_containers(&self) -> Vec<String> {
        let filter = format!("label=tanto.session={}", self.session);
        docker(&["ps", "-q", "--filter", &filter]).lines().map(str::to_string).collect()
    }

    /// `tanto call -m GUEST FUNCTION ARGS` against a test guest's component.
    pub fn call_guest(&self, guest: &str, function: &str, args: &[&str]) -> Run {
        let wasm = guest_wasm(guest);
        let mut all = vec!["call", "-m", wasm.to_str().expect("utf-8 path"), function];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Runs `tanto ARGS` in the repository root with its output piped into a shell
    /// command (`pipe`, e.g. `2>&1 | head -1`) by bash; the exit code is tanto's own
    /// (`PIPESTATUS[0]`), and stdout is what the pipe printed.
    pub fn run_piped(&self, args: &[&str], pipe: &str) -> Run {
        let tanto = self.command();
        let mut bash = Command::new("bash");
        bash.arg("-c")
            .arg(format!(r#""$0" "$@" {pipe}; exit "${{PIPESTATUS[0]}}""#))
            .arg(tanto.get_program())
            .args(tanto.get_args())
            .args(args)
            .current_dir(repo_root());
        for (name, value) in tanto.get_envs() {
            match value {
                Some(value) => bash.env(name, value),
                None => bash.env_remove(name),
            };
        }
        Run::from(bash.output().expect("bash runs"))
    }

    /// Panics if any container, volume or network of this session is still there.
    #[track_caller]
    pub fn assert_no_leftovers(&self) {
        let filter = format!("label=tanto.session={}", self.session);
        wait_for_network_holders(docker, Some(&filter));
        let containers = docker(&["ps", "-aq", "--filter", &filter]);
        assert!(containers.trim().is_empty(), "containers left behind by {}: {containers}", self.session);
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter]);
        assert!(volumes.trim().is_empty(), "volumes left behind by {}: {volumes}", self.session);
        let networks = docker(&["network", "ls", "-q", "--filter", &filter]);
        assert!(networks.trim().is_empty(), "networks left behind by {}: {networks}", self.session);
    }

    /// How many containers this session created so far, from Docker's event log.
    pub fn containers_created(&self, since: &str) -> usize {
        containers_created_by(docker, since, &format!("label=tanto.session={}", self.session))
    }
}

impl Drop for Tanto {
    /// Removes the snapshot images and cache volumes this fixture's cache made: they live
    /// in the daemon, outside the temporary cache folder.
    fn drop(&mut self) {
        let _ = self.command().args(["cache", "prune", "--all", "--volumes"]).output();
    }
}

/// Sends `signal` (`INT`, `TERM`, `HUP`) to a process.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {} failed", child.id());
}

/// The body of `GET path` from 127.0.0.1:`port`, if it answers within a second and
/// sends its response within `read_timeout`.
pub fn http_get(port: u16, path: &str, read_timeout: std::time::Duration) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), std::time::Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(read_timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

/// `tanto call -m services web --page=PAGE up --ports=PORT:80` started in the background
/// (the `services` guest's httpd serving `page`, forwarded to 127.0.0.1:`port`), its
/// output piped.
pub fn spawn_up(tanto: &Tanto, page: &str, port: u16) -> std::process::Child {
    let wasm = guest_wasm("services");
    tanto
        .command()
        .args([
            "call",
            "-m",
            wasm.to_str().expect("utf-8"),
            "web",
            &format!("--page={page}"),
            "up",
            &format!("--ports={port}:80"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tanto starts")
}

/// Waits for `child` at most `limit`, killing it (SIGKILL) if it is still running then;
/// returns the run and whether it ended on its own.
pub fn wait_at_most(mut child: std::process::Child, limit: std::time::Duration) -> (Run, bool) {
    let started = std::time::Instant::now();
    let mut ended = true;
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            ended = false;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (Run::from(child.wait_with_output().expect("tanto's output")), ended)
}

/// How many step containers a daemon created from `since` (a unix time) until now,
/// counted from its event log through `docker` (the machine's client or one aimed at
/// another daemon; the network holders steps share are not steps); `filter` narrows the
/// events, e.g. to one tanto session's label.
pub fn containers_created_by(docker: impl Fn(&[&str]) -> String, since: &str, filter: &str) -> usize {
    let until = (docker_now().parse::<u64>().expect("a time") + 1).to_string();
    let mut args = vec![
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--filter",
        "event=create",
    ];
    if !filter.is_empty() {
        args.extend(["--filter", filter]);
    }
    args.extend(["--format", "{{.ID}} {{index .Actor.Attributes \"tanto.network-holder\"}}"]);
    docker(&args).lines().filter(|line| !line.trim().is_empty() && !line.ends_with(" true")).count()
}

/// Waits until no network holder is left among the containers `filter` selects (all of a
/// daemon's when `None`), through `docker` (the machine's client or one aimed at another
/// daemon). The daemon removes a run's holders itself once the run has ended, a moment
/// after its process exits; 30 s without that fails the test.
pub fn wait_for_network_holders(docker: impl Fn(&[&str]) -> String, filter: Option<&str>) {
    let started = std::time::Instant::now();
    let mut args = vec!["ps", "-aq", "--filter", "label=tanto.network-holder=true"];
    if let Some(filter) = filter {
        args.extend(["--filter", filter]);
    }
    loop {
        let left = docker(&args);
        if left.trim().is_empty() {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "network holders still there 30 s after their run ended: {left}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The current time as Docker's `--since` wants it.
pub fn docker_now() -> String {
    format!(
        "{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
    )
}

/// Writes a Rust module named `name` into `dir`: tanto.toml (with `dependencies`, as
/// `(name, reference)` pairs), a Cargo.toml that uses this checkout's SDK, and
/// `src/lib.rs`. The release profile is light (no LTO) to keep test builds quick.
pub fn write_module(dir: &Path, name: &str, lib_rs: &str, dependencies: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("src")).expect("module folder");
    let mut manifest = format!("name = \"{name}\"\nsdk = \"rust\"\n");
    if !dependencies.is_empty() {
        manifest.push_str("\n[dependencies]\n");
        for (dependency, reference) in dependencies {
            manifest.push_str(&format!("{dependency} = \"{reference}\"\n"));
        }
    }
    std::fs::write(dir.join("tanto.toml"), manifest).expect("tanto.toml");
    let sdk = repo_root().join("guest-sdk");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\ntanto-sdk = {{ path = \"{}\" }}\n\n[workspace]\n\n[profile.release]\nopt-level = 1\n",
            sdk.display()
        ),
    )
    .expect("Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), lib_rs).expect("lib.rs");
    if !dir.join("src/dependencies.rs").exists() {
        std::fs::write(
            dir.join("src/dependencies.rs"),
            "pub trait Dependencies {}\nimpl Dependencies for tanto_sdk::Client {}\n",
        )
        .expect("dependencies.rs");
    }
}

/// Writes `contents` to `path` under `dir`, creating the folders on the way.
pub fn write(dir: &Path, path: &str, contents: &str) {
    let target = dir.join(path);
    std::fs::create_dir_all(target.parent().expect("a path under dir")).expect("create folders");
    std::fs::write(target, contents).expect("write a test file");
}

/// `name` made unique to this process and moment, so no earlier run's cache answers a
/// step built from it.
pub fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_nanos()
    )
}

/// Counts the containers one session creates, from a live `docker events` stream started
/// before them. Unlike `docker events --since`, which reads the daemon's short in-memory
/// history (the last 256 events of a busy shared daemon), a live stream misses nothing.
pub struct ContainerEvents {
    events: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    session: String,
}

impl ContainerEvents {
    /// Starts listening for the containers `session` creates.
    pub fn start(session: &str) -> Self {
        let mut events = Command::new("docker")
            .args([
                "events",
                "--filter",
                "type=container",
                "--filter",
                "event=create",
                "--format",
                "{{.ID}} {{index .Actor.Attributes \"tanto.session\"}} {{index .Actor.Attributes \"tanto.network-holder\"}}",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker events runs");
        let stdout = events.stdout.take().expect("the event stream");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listening = Self {
            events,
            lines,
            session: session.to_string(),
        };
        // The stream is live once it reports a container made after it started. Nothing
        // says when `docker events` has subscribed (a busy daemon can take seconds), and a
        // container made before is never reported: sentinels are made until one is.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while listening.sentinel_within(std::time::Duration::from_secs(5)).is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker events reported none of its sentinel containers in 120 s"
            );
        }
        listening
    }

    /// Creates and removes a container, and reads the stream up to its creation: every
    /// event before it has been read. Returns the lines read before it.
    fn sentinel(&mut self) -> Vec<String> {
        self.sentinel_within(std::time::Duration::from_secs(60))
            .expect("docker events reports the sentinel container")
    }

    /// [`Self::sentinel`], or `None` when the stream has not reported the container within
    /// `wait`.
    fn sentinel_within(&mut self, wait: std::time::Duration) -> Option<Vec<String>> {
        let id = docker(&["create", "--label", "tanto-test-sentinel=yes", "busybox:latest", "true"])
            .trim()
            .to_string();
        let deadline = std::time::Instant::now() + wait;
        let mut before = Vec::new();
        let seen = loop {
            let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) else {
                break false;
            };
            if line.starts_with(&id) {
                break true;
            }
            before.push(line);
        };
        docker(&["rm", &id]);
        seen.then_some(before)
    }

    /// How many step containers the session created since the start or the last count
    /// (the network holders its steps share are not steps).
    pub fn count(&mut self) -> usize {
        let session = self.session.clone();
        self.sentinel()
            .iter()
            .filter(|line| {
                let mut fields = line.split(' ').skip(1);
                fields.next() == Some(session.as_str()) && fields.next() != Some("true")
            })
            .count()
    }
}

impl Drop for ContainerEvents {
    fn drop(&mut self) {
        let _ = self.events.kill();
        let _ = self.events.wait();
    }
}

/// A host folder a hostile module aims at, with files of known bytes and modes and a
/// secret marker, beside a scratch folder the test may hand to tanto (`out`). Tests check
/// afterwards that nothing in it changed and that the marker appears in no output.
pub struct Victim {
    base: tempfile::TempDir,
    /// A string found only in the victim's files.
    pub secret: String,
    before: Vec<String>,
}

impl Default for Victim {
    fn default() -> Self {
        Self::new()
    }
}

impl Victim {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().expect("tempdir");
        let secret = format!("HOSTILE-SECRET-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let root = base.path().join("victim");
        std::fs::create_dir_all(root.join("folder")).expect("victim folder");
        std::fs::write(root.join("file"), format!("victim bytes {secret}\n")).expect("victim file");
        std::fs::set_permissions(root.join("file"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::write(root.join("folder/inner"), format!("inner bytes {secret}\n")).expect("victim inner file");
        std::fs::write(root.join(format!("name-{secret}")), "").expect("victim named file");
        std::fs::create_dir(base.path().join("out")).expect("out folder");
        let mut victim = Self {
            base,
            secret,
            before: Vec::new(),
        };
        victim.before = describe_tree(&victim.root());
        victim
    }

    /// The victim folder.
    pub fn root(&self) -> PathBuf {
        self.base.path().join("victim")
    }

    /// The victim's file with the secret.
    pub fn file(&self) -> PathBuf {
        self.root().join("file")
    }

    /// A scratch folder beside the victim (`../victim` from it).
    pub fn out(&self) -> PathBuf {
        self.base.path().join("out")
    }

    /// Panics if anything in the victim folder changed: a name, a kind, a mode, a byte.
    #[track_caller]
    pub fn assert_untouched(&self) {
        assert_eq!(describe_tree(&self.root()), self.before, "a host file outside the target changed");
    }

    /// Panics if the secret (or any victim file name) appears in `text`.
    #[track_caller]
    pub fn assert_not_in(&self, text: &str) {
        assert!(!text.contains(&self.secret), "a host secret reached the output:\n{text}");
    }

    /// Panics if the secret appears in a run's output or in any file or link under `dir`.
    #[track_caller]
    pub fn assert_not_leaked(&self, run: &Run, dir: &Path) {
        self.assert_not_in(&run.stdout);
        self.assert_not_in(&run.stderr);
        for line in describe_tree(dir) {
            self.assert_not_in(&line);
        }
    }
}

/// One line per entry under `root`, sorted: path, kind, mode, and bytes or link target.
/// Links are never followed.
pub fn describe_tree(root: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut lines = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
            let mode = metadata.permissions().mode() & 0o7777;
            if metadata.is_symlink() {
                let target = std::fs::read_link(&path).map(|target| target.display().to_string()).unwrap_or_default();
                lines.push(format!("{relative} link -> {target}"));
            } else if metadata.is_dir() {
                lines.push(format!("{relative} dir {mode:o}"));
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                lines.push(format!("{relative} file {mode:o} {}", String::from_utf8_lossy(&bytes)));
            }
        }
    }
    lines.sort();
    lines
}
