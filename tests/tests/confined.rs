//! Third-party modules never touch the host while tanto obtains them: a git dependency
//! built from source runs its build scripts in the sandbox (no network, no host file
//! outside its checkout), and everything its manifest names stays inside its checkout.
//!
//! Each module here is a real git repository served on 127.0.0.1 (see
//! `tanto_tests::git`), installed and called through the `tanto` binary.

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;

use tanto_tests::git::{GitServer, Repository};
use tanto_tests::{Tanto, guest_wasm};

/// An empty project: a module with no dependencies.
const APP: &str = "name = \"app\"\nsdk = \"rust\"\n";

/// The crate of a source module: the vendored SDK `tanto init` writes, a profile that
/// builds fast (one sandboxed build per test, not a release build), and a build script.
const CARGO_TOML: &str = r#"[package]
name = "probe"
version = "1.0.0"
edition = "2024"
publish = false
build = "build.rs"

[lib]
crate-type = ["cdylib"]

[dependencies]
tanto-sdk = { path = "sdk" }

[workspace]
exclude = ["sdk"]

[profile.release]
opt-level = 0
debug = false
lto = false
codegen-units = 256
incremental = false
"#;

/// The module reports what its build script could do.
const LIB_RS: &str = r#"//! Reports what its build script saw.
use tanto_sdk::Result;

#[derive(Default)]
pub struct Probe;

/// Functions of the probe module.
#[tanto_sdk::module]
impl Probe {
    /// What the build script could do on the machine that built this module.
    pub fn probe(&self) -> Result<String> {
        Ok(env!("PROBE").to_string())
    }
}
"#;

/// A build script that tries to write a host file, read another and connect to a port
/// on 127.0.0.1, and records each outcome in the module (ignoring failures, as a hostile
/// script would).
fn build_rs(victim: &Path, secret: &Path, port: u16) -> String {
    format!(
        r#"use std::time::Duration;

fn outcome<T>(result: std::io::Result<T>, done: &str) -> String {{
    match result {{
        Ok(_) => done.to_string(),
        Err(error) => format!("refused ({{:?}})", error.kind()),
    }}
}}

fn main() {{
    let write = outcome(std::fs::write({victim:?}, "written by build.rs"), "WRITTEN");
    let read = match std::fs::read_to_string({secret:?}) {{
        Ok(text) => format!("READ {{text}}"),
        Err(error) => format!("refused ({{:?}})", error.kind()),
    }};
    let address = "127.0.0.1:{port}".parse().expect("an address");
    let connect = outcome(std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5)), "CONNECTED");
    println!("cargo:rustc-env=PROBE=write: {{write}}; read: {{read}}; connect: {{connect}}");
}}
"#
    )
}

/// Writes a Rust source module `probe` (no prebuilt component) into `repo`'s work tree:
/// `tanto init` for the SDK, then the files above, and a Cargo.lock resolved from the
/// local crate cache so the fetch downloads nothing new.
fn write_source_module(tanto: &Tanto, repo: &Repository, build_script: &str) {
    tanto.run_in(&repo.work, &["init", "--sdk=rust", "--name", "probe", "."]).success();
    repo.write("Cargo.toml", CARGO_TOML);
    repo.write("src/lib.rs", LIB_RS);
    fs::remove_file(repo.work.join("src/dependencies.rs")).expect("remove the generated bindings");
    repo.write("build.rs", build_script);
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["generate-lockfile", "--offline"])
        .current_dir(&repo.work)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo generate-lockfile failed");
}

fn snapshot(server: &GitServer, tanto: &Tanto, run: &tanto_tests::Run, host_dir: &Path) -> String {
    let text = format!("exit: {:?}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr);
    let host_dir = host_dir.display().to_string();
    // Climbing paths spell the host folder without its leading `/`, after `../`s.
    let text = redact_climbing(&text, host_dir.trim_start_matches('/')).replace(&host_dir, "[HOST]");
    server.redact(tanto, &text)
}

/// Replaces `../../…/<host_dir>` with `[../…]/[HOST]`.
fn redact_climbing(text: &str, host_dir: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("../") {
        out.push_str(&rest[..start]);
        let run = rest[start..].len() - rest[start..].trim_start_matches("../").len();
        out.push_str("[../…]/");
        rest = &rest[start + run..];
        if let Some(after) = rest.strip_prefix(host_dir) {
            out.push_str("[HOST]");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_build_script_of_a_dependency_cannot_touch_the_host() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let host = tempfile::tempdir().expect("tempdir");
    let victim = host.path().join("written-by-build-rs");
    let secret = host.path().join("secret.txt");
    fs::write(&secret, "host secret").expect("write the secret");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();

    let repo = server.repository("probe");
    write_source_module(&tanto, &repo, &build_rs(&victim, &secret, port));
    repo.commit("probe 1.0.0");
    repo.annotated_tag("v1.0.0");
    repo.push();

    let project = server.project("app", APP);
    let run = tanto.run_in(&project, &["install", "github.com/acme/probe@^1"]).success();
    insta::assert_snapshot!("install_built_in_sandbox", snapshot(&server, &tanto, &run, host.path()));
    let lock = fs::read_to_string(project.join("tanto.lock")).expect("tanto.lock");
    assert!(!lock.contains("component ="), "a component built here is not pinned:\n{lock}");

    // The module works, and says what its build script could do: nothing.
    let run = tanto.run(&["call", "-m", "github.com/acme/probe@v1.0.0", "probe"]).success();
    assert_eq!(
        run.stdout.trim(),
        "write: refused (NotFound); read: refused (NotFound); connect: refused (ConnectionRefused)"
    );
    assert!(!victim.exists(), "the build script wrote {}", victim.display());
    match listener.accept() {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the build script reached 127.0.0.1:{port}: {other:?}"),
    }
    // Installing again finds the component built once.
    let run = tanto.run_in(&project, &["install"]).success();
    assert!(run.stderr.contains("probe@1.0.0: built from source in the sandbox (cached)"), "{}", run.stderr);
}

/// A module at `v1.0.0` of repository `name` whose tanto.toml is `manifest`, with the
/// extra files `setup` adds to its work tree.
fn hostile_module(server: &GitServer, name: &str, manifest: &str, setup: impl FnOnce(&Repository)) {
    let repo = server.repository(name);
    repo.write("tanto.toml", manifest);
    setup(&repo);
    repo.commit("hostile");
    repo.annotated_tag("v1.0.0");
    repo.push();
}

/// A service on loopback that counts the connections it gets (and drops them): its port.
fn loopback_service() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, connections)
}

/// A third-party module may not make `tanto install` fetch from this machine's own or
/// link-local addresses through the dependencies it declares (the user's own may).
#[test]
fn a_dependency_declared_by_a_third_party_cannot_lead_to_local_addresses() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let (port, connections) = loopback_service();
    for (name, url) in [
        ("loopback", format!("http://127.0.0.1:{port}/acme/tool.git")),
        ("metadata", "http://169.254.169.254/acme/tool.git".to_owned()),
    ] {
        let repo_name = format!("declares-{name}");
        let manifest = format!("name = \"hostile\"\nsdk = \"rust\"\n[dependencies]\ntool = \"{url}@^1\"\n");
        hostile_module(&server, &repo_name, &manifest, |_| {});
        let project = server.project(&repo_name, APP);
        let run = tanto.run_in(&project, &["install", &format!("github.com/acme/{repo_name}@^1")]).failure(2);
        assert!(
            run.stderr.contains("reaches this machine's own or link-local addresses") && run.stderr.contains("TANTO_ALLOW_LOCAL_URLS=1"),
            "{name}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(&format!("required by {repo_name}")), "{name}: {}", run.stderr);
        assert!(!project.join("tanto.lock").exists(), "{name}: the lock was written");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "the loopback service was reached");
    // The user's own choice is the user's: named directly, the same URL is asked for.
    let project = server.project("direct", APP);
    tanto
        .run_in(&project, &["install", &format!("http://127.0.0.1:{port}/acme/tool.git@^1")])
        .failure(2);
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) > 0, "the user's own URL was not fetched");
}

/// A module's repository may not fill the disk through the module cache: its fetch is
/// bounded by the cache's ceiling as downloads are.
#[test]
fn a_module_repository_bigger_than_the_cache_ceiling_is_refused() {
    let server = GitServer::start();
    let tanto = server.tanto().env("TANTO_CACHE_MAX_SIZE", "1000000");
    let noise = tanto_git_fixtures::incompressible(2_000_000);
    hostile_module(&server, "heavy", "name = \"heavy\"\nsdk = \"rust\"\n", |repo| {
        fs::write(repo.work.join("noise.txt"), &noise).expect("write")
    });
    let project = server.project("heavy", APP);
    let run = tanto.run_in(&project, &["install", "github.com/acme/heavy@^1"]).failure(2);
    assert!(
        run.stderr.contains("the most one fetch may add to the module cache (TANTO_CACHE_MAX_SIZE)"),
        "{}",
        run.stderr
    );
    assert!(!project.join("tanto.lock").exists());
}

/// What a hostile case adds to its repository's work tree.
type Setup<'a> = Box<dyn FnOnce(&Repository) + 'a>;

#[test]
fn a_dependency_manifest_cannot_name_host_paths() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let host = tempfile::tempdir().expect("tempdir");
    // A host crate a hostile `source` points at: building it would write target/ and
    // Cargo.lock here.
    let host_crate = host.path().join("crate");
    fs::create_dir_all(host_crate.join("src")).expect("mkdir");
    fs::write(host_crate.join("Cargo.toml"), CARGO_TOML).expect("write Cargo.toml");
    fs::write(host_crate.join("src/lib.rs"), "").expect("write lib.rs");
    // A host component a hostile `component` points at: its sha256 must not reach the lock.
    let host_wasm = host.path().join("host.wasm");
    fs::copy(guest_wasm("api"), &host_wasm).expect("copy a component");
    let host_digest = {
        let output = std::process::Command::new("sha256sum").arg(&host_wasm).output().expect("sha256sum");
        String::from_utf8_lossy(&output.stdout).split_whitespace().next().expect("digest").to_owned()
    };

    let module = |component_or_source: &str| format!("name = \"hostile\"\nsdk = \"rust\"\n{component_or_source}\n");
    let depth = "../".repeat(host.path().components().count() + 8);
    let cases: Vec<(&str, String, Setup)> = vec![
        ("component_absolute", module(&format!("component = {:?}", host_wasm)), Box::new(|_| {})),
        (
            "component_climbing",
            module(&format!("component = \"{depth}{}\"", host_wasm.display().to_string().trim_start_matches('/'))),
            Box::new(|_| {}),
        ),
        (
            "component_symlink",
            module("component = \"module.wasm\""),
            Box::new(|repo: &Repository| std::os::unix::fs::symlink(&host_wasm, repo.work.join("module.wasm")).expect("symlink")),
        ),
        ("source_absolute", module(&format!("source = {:?}", host_crate)), Box::new(|_| {})),
        (
            "source_climbing",
            module(&format!("source = \"{depth}{}\"", host_crate.display().to_string().trim_start_matches('/'))),
            Box::new(|_| {}),
        ),
        (
            "source_symlink",
            module("source = \"crate\""),
            Box::new(|repo: &Repository| std::os::unix::fs::symlink(&host_crate, repo.work.join("crate")).expect("symlink")),
        ),
    ];
    for (name, manifest, setup) in cases {
        let repo_name = name.replace('_', "-");
        hostile_module(&server, &repo_name, &manifest, setup);
        let project = server.project(name, APP);
        let run = tanto.run_in(&project, &["install", &format!("github.com/acme/{repo_name}@^1")]).failure(2);
        assert!(run.stderr.contains(&format!("dependency {repo_name}@1.0.0: ")), "{name}: {}", run.stderr);
        insta::assert_snapshot!(name, snapshot(&server, &tanto, &run, host.path()));
        assert!(!project.join("tanto.lock").exists(), "{name}: the lock was written");
        assert_eq!(fs::read_to_string(project.join("tanto.toml")).expect("tanto.toml"), APP, "{name}");

        // Called directly, it is refused the same way.
        let run = tanto.run(&["call", "-m", &format!("github.com/acme/{repo_name}@v1.0.0"), "probe"]).failure(2);
        assert!(!run.stderr.contains(&host_digest), "{name}: {}", run.stderr);
        assert!(run.stderr.contains("outside its repository"), "{name}: {}", run.stderr);
    }
    // Nothing was built in, or written to, the host crate.
    let mut entries: Vec<String> = fs::read_dir(&host_crate)
        .expect("read the host crate")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["Cargo.toml", "src"]);
}

/// Makes `path` in `repo` a symlink to `host_file`: absolute at v1.0.0, climbing out with
/// `../`s at v1.1.0 (refused the same way), both pushed.
fn link_to_host_file(repo: &Repository, path: &str, host_file: &Path) {
    std::os::unix::fs::symlink(host_file, repo.work.join(path)).expect("symlink");
    repo.commit(&format!("{path} is a host file"));
    repo.annotated_tag("v1.0.0");
    fs::remove_file(repo.work.join(path)).expect("remove the link");
    let depth = "../".repeat(repo.work.join(path).components().count() + 3);
    let relative = format!("{depth}{}", host_file.display().to_string().trim_start_matches('/'));
    std::os::unix::fs::symlink(&relative, repo.work.join(path)).expect("symlink");
    repo.commit(&format!("{path} climbs to a host file"));
    repo.annotated_tag("v1.1.0");
    repo.push();
}

#[test]
fn a_dependency_whose_sources_link_to_host_files_is_refused() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let host = tempfile::tempdir().expect("tempdir");
    let host_source = host.path().join("secret.rs");
    fs::write(&host_source, "pub const SECRET: &str = \"host secret\";\n").expect("write a host file");

    let repo = server.repository("linked");
    write_source_module(&tanto, &repo, "fn main() {}\n");
    fs::remove_file(repo.work.join("src/lib.rs")).expect("remove lib.rs");
    link_to_host_file(&repo, "src/lib.rs", &host_source);

    let project = server.project("app", APP);
    for (version, name) in [("v1.0.0", "symlink_absolute"), ("v1.1.0", "symlink_relative")] {
        let run = tanto.run_in(&project, &["install", &format!("github.com/acme/linked@{version}")]).failure(2);
        insta::assert_snapshot!(name, snapshot(&server, &tanto, &run, host.path()));
        assert!(run.stderr.contains("src/lib.rs"), "{}", run.stderr);
        assert!(!project.join("tanto.lock").exists());
        let run = tanto.run(&["call", "-m", &format!("github.com/acme/linked@{version}"), "probe"]).failure(2);
        assert!(run.stderr.contains("is a symlink to"), "{}", run.stderr);
        assert!(!run.stderr.contains("host secret"), "{}", run.stderr);
    }
}

#[test]
fn without_a_sandbox_a_source_build_is_refused_unless_allowed() {
    let server = GitServer::start();
    let repo = server.repository("probe");
    write_source_module(&server.tanto(), &repo, "fn main() {}\n");
    repo.commit("probe 1.0.0");
    repo.annotated_tag("v1.0.0");
    repo.push();

    // A PATH with git alone: no bubblewrap, and no Rust toolchain either.
    let bin = tempfile::tempdir().expect("tempdir");
    let git = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|dir| dir.join("git"))
        .find(|path| path.is_file())
        .expect("git is installed");
    std::os::unix::fs::symlink(git, bin.path().join("git")).expect("symlink git");
    let tanto = server.tanto().env("PATH", &bin.path().display().to_string()).env("RUSTC", "rustc");
    let project = server.project("app", APP);

    let run = tanto.run_in(&project, &["install", "github.com/acme/probe@^1"]).failure(2);
    insta::assert_snapshot!("no_sandbox", snapshot(&server, &tanto, &run, bin.path()));
    assert!(!project.join("tanto.lock").exists());
    assert_eq!(fs::read_to_string(project.join("tanto.toml")).expect("tanto.toml"), APP);

    // The flag gets past the refusal: the build then looks for the toolchain this PATH
    // lacks (rather than building, which the sandboxed test above covers).
    let run = tanto
        .run_in(&project, &["--allow-unsandboxed-builds", "install", "github.com/acme/probe@^1"])
        .failure(2);
    assert!(run.stderr.contains("cannot build probe@1.0.0: cannot run `rustc`"), "{}", run.stderr);
    assert!(!project.join("tanto.lock").exists());
}

#[test]
fn cargo_sees_no_host_crate_a_dependency_names() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let host = tempfile::tempdir().expect("tempdir");
    let host_crate = host.path().join("hostcrate");
    fs::create_dir_all(host_crate.join("src")).expect("mkdir");
    fs::write(
        host_crate.join("Cargo.toml"),
        "[package]\nname = \"hostcrate\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .expect("write Cargo.toml");
    fs::write(host_crate.join("src/lib.rs"), "pub const SECRET: &str = \"host secret\";\n").expect("write lib.rs");

    // A source module whose Cargo.toml pulls a crate from a host folder: even the fetch,
    // which runs before the build, sees nothing of the host.
    let repo = server.repository("pathdep");
    write_source_module(&tanto, &repo, "fn main() {}\n");
    let cargo_toml = CARGO_TOML.replace(
        "tanto-sdk = { path = \"sdk\" }",
        &format!("tanto-sdk = {{ path = \"sdk\" }}\nhostcrate = {{ path = {:?} }}", host_crate),
    );
    repo.write("Cargo.toml", &cargo_toml);
    fs::remove_file(repo.work.join("Cargo.lock")).expect("remove Cargo.lock");
    repo.commit("pathdep 1.0.0");
    repo.annotated_tag("v1.0.0");
    repo.push();

    let project = server.project("app", APP);
    let run = tanto.run_in(&project, &["install", "github.com/acme/pathdep@^1"]).failure(2);
    assert!(run.stderr.contains("cannot fetch the crates of pathdep@1.0.0"), "{}", run.stderr);
    assert!(run.stderr.contains("hostcrate"), "{}", run.stderr);
    assert!(!project.join("tanto.lock").exists());
    let mut entries: Vec<String> = fs::read_dir(&host_crate)
        .expect("read the host crate")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["Cargo.toml", "src"]);
}

/// `cargo fetch` shares the host's network: a module's crates may not come from this
/// machine's own or link-local addresses, named by its manifest or its lockfile.
#[test]
fn cargo_fetches_no_crate_from_this_machines_own_addresses() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let (port, connections) = loopback_service();
    let git_dependency = format!("tanto-sdk = {{ path = \"sdk\" }}\nevil = {{ git = \"http://127.0.0.1:{port}/evil.git\" }}");
    for (name, manifest, lock_source, named) in [
        (
            "gitdep",
            CARGO_TOML.replace("tanto-sdk = { path = \"sdk\" }", &git_dependency),
            None,
            "Cargo.toml: crate source",
        ),
        (
            "lockdep",
            CARGO_TOML.to_owned(),
            Some("sparse+http://169.254.169.254/index/"),
            "Cargo.lock: crate source",
        ),
    ] {
        let repo = server.repository(name);
        write_source_module(&tanto, &repo, "fn main() {}\n");
        repo.write("Cargo.toml", &manifest);
        if let Some(source) = lock_source {
            let lock = fs::read_to_string(repo.work.join("Cargo.lock")).expect("read Cargo.lock");
            repo.write(
                "Cargo.lock",
                &format!("{lock}\n[[package]]\nname = \"evil\"\nversion = \"1.0.0\"\nsource = \"{source}\"\n"),
            );
        } else {
            fs::remove_file(repo.work.join("Cargo.lock")).expect("remove Cargo.lock");
        }
        repo.commit(&format!("{name} 1.0.0"));
        repo.annotated_tag("v1.0.0");
        repo.push();
        let project = server.project(name, APP);
        let run = tanto.run_in(&project, &["install", &format!("github.com/acme/{name}@^1")]).failure(2);
        assert!(
            run.stderr.contains(&format!("cannot fetch the crates of {name}@1.0.0: {named}")),
            "{name}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("reaches this machine's own or link-local addresses"),
            "{name}: {}",
            run.stderr
        );
        assert!(!project.join("tanto.lock").exists());
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "the loopback service was reached");
}

#[test]
fn a_python_dependency_cannot_bundle_host_packages() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let host = tempfile::tempdir().expect("tempdir");
    let host_wheel = host.path().join("secret-1.0-py3-none-any.whl");
    fs::write(&host_wheel, "not really a wheel").expect("write a host file");

    // pip installs whatever a requirement locates: a path or URL, or a bare archive name
    // it would look for in its working folder. Only index names are allowed here.
    let repo = server.repository("pyhostile");
    repo.write("tanto.toml", "name = \"pyhostile\"\nsdk = \"python\"\n");
    repo.write(
        "main.py",
        "import tanto\n\n\n@tanto.module\nclass Pyhostile:\n    @tanto.function\n    def probe(self) -> str:\n        return \"probe\"\n",
    );
    let pyproject = |requirement: &str| format!("[project]\nname = \"pyhostile\"\nversion = \"1.0.0\"\ndependencies = [{requirement:?}]\n");
    let cases = [
        ("v1.0.0", format!("secret @ file://{}", host_wheel.display())),
        ("v1.1.0", host_wheel.display().to_string()),
        ("v1.2.0", "secret-1.0-py3-none-any.whl".to_owned()),
    ];
    for (tag, requirement) in &cases {
        repo.write("pyproject.toml", &pyproject(requirement));
        repo.commit(&format!("lists {requirement}"));
        repo.annotated_tag(tag);
    }
    repo.push();

    let project = server.project("app", APP);
    for (tag, requirement) in &cases {
        let run = tanto.run_in(&project, &["install", &format!("github.com/acme/pyhostile@{tag}")]).failure(2);
        assert!(run.stderr.contains(&format!("`{requirement}` names a path or URL")), "{tag}: {}", run.stderr);
        assert!(
            run.stderr.contains("only by name (and version) from the package index"),
            "{tag}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("install Python packages"), "{tag}: pip ran:\n{}", run.stderr);
        assert!(!project.join("tanto.lock").exists(), "{tag}: the lock was written");
        let run = tanto.run(&["call", "-m", &format!("github.com/acme/pyhostile@{tag}"), "probe"]).failure(2);
        assert!(run.stderr.contains("names a path or URL"), "{tag}: {}", run.stderr);
    }
    assert!(!tanto.cache.path().join("python-packages").exists(), "pip ran");
}

/// A repository whose tanto.toml is a symlink to a file of this machine: install refuses
/// it before reading it, so nothing of the file (here, the dependencies it names) is used
/// or shown.
#[test]
fn a_dependency_manifest_linking_to_a_host_file_is_not_read() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let host = tempfile::tempdir().expect("tempdir");
    let host_manifest = host.path().join("tanto.toml");
    fs::write(
        &host_manifest,
        "name = \"private\"\nsdk = \"rust\"\n\n[dependencies]\nleaked = \"github.com/acme/leaked-name@^1\"\n",
    )
    .expect("write a host file");

    let repo = server.repository("linkedmanifest");
    repo.write("README.md", "a module whose manifest is elsewhere\n");
    link_to_host_file(&repo, "tanto.toml", &host_manifest);

    let project = server.project("app", APP);
    for version in ["v1.0.0", "v1.1.0"] {
        let run = tanto
            .run_in(&project, &["install", &format!("github.com/acme/linkedmanifest@{version}")])
            .failure(2);
        assert!(
            run.stderr.contains("the tanto.toml of github.com/acme/linkedmanifest@") && run.stderr.contains("lies outside its repository"),
            "{version}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("leaked-name") && !run.stderr.contains("private"),
            "{version}: {}",
            run.stderr
        );
        assert!(!project.join("tanto.lock").exists(), "{version}: the lock was written");
        // Called directly, it is refused the same way.
        let run = tanto
            .run(&["call", "-m", &format!("github.com/acme/linkedmanifest@{version}"), "probe"])
            .failure(2);
        assert!(run.stderr.contains("lies outside its repository"), "{version}: {}", run.stderr);
        assert!(
            !run.stderr.contains("leaked-name") && !run.stderr.contains("private"),
            "{version}: {}",
            run.stderr
        );
    }
}
