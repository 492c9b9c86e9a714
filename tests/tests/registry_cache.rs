//! The shared cache in a registry (`--cache-to` / `--cache-from registry://HOST/REPO`):
//! a run on the machine's daemon (A) pushes its steps to Debian's `docker-registry` on
//! 127.0.0.1 (htpasswd authentication, credentials in a `DOCKER_CONFIG`), and runs on a
//! second daemon (B, started by the test with its own roots and bridge) pull them
//! instead of running them. Containers made on B are counted from B's own event log.

use std::path::{Path, PathBuf};

use tanto_tests::{Registry, SecondDaemon, Tanto, docker_now, write, write_module};

const REPOSITORY: &str = "tanto/cache";

/// Five steps: two before the source is copied in, three after; and a pipeline whose
/// middle step reads a secret.
const SHARED: &str = r#"
use tanto_sdk::{Container, Directory, Result, Secret, dag};

fn busybox() -> Container {
    dag().container().from("busybox:latest")
}

#[derive(Default)]
struct Shared;

/// Steps worth sharing.
#[tanto_sdk::module]
impl Shared {
    /// Five steps over `source`.
    pub fn pipeline(&self, source: Directory) -> Result<String> {
        busybox()
            .with_exec(["sh", "-c", "echo first > /one; echo step one"])
            .with_exec(["sh", "-c", "cat /one > /two; echo step two >&2"])
            .with_directory("/src", &source)
            .with_exec(["sh", "-c", "cat /src/input.txt > /three; echo step three"])
            .with_exec(["sh", "-c", "wc -c < /three > /four; echo step four"])
            .with_exec(["sh", "-c", "cat /one /two /three /four; echo done"])
            .stdout()
    }

    /// A plain step, a step reading `token`, and a step built on it.
    pub fn with_secret(&self, token: Secret) -> Result<String> {
        busybox()
            .with_exec(["sh", "-c", "echo plain > /plain"])
            .with_secret_variable("TOKEN", &token)
            .with_exec(["sh", "-c", "printf %s \"$TOKEN\" | wc -c > /length"])
            .without_env_variable("TOKEN")
            .with_exec(["cat", "/plain", "/length"])
            .stdout()
    }
}
"#;

struct Setup {
    registry: Registry,
    config: tempfile::TempDir,
    module: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let registry = Registry::start("cacher", "cache-password");
        let config = tempfile::tempdir().expect("a temporary folder");
        registry.docker_config(config.path(), "cacher", "cache-password");
        let module = tempfile::tempdir().expect("a temporary folder");
        write_module(module.path(), "shared", SHARED, &[]);
        write(module.path(), "src-input/input.txt", "the input\n");
        Self { registry, config, module }
    }

    fn location(&self) -> String {
        format!("registry://{}/{REPOSITORY}", self.registry.address)
    }

    /// A tanto with its own cache, the registry's credentials, on `daemon` (the machine's
    /// when `None`).
    fn tanto(&self, daemon: Option<&SecondDaemon>) -> Tanto {
        let tanto = Tanto::new().env("DOCKER_CONFIG", self.config.path().to_str().expect("utf-8"));
        match daemon {
            Some(daemon) => tanto.env("DOCKER_HOST", &daemon.host()),
            None => tanto,
        }
    }

    fn call(&self, tanto: &Tanto, cache: &str, function: &[&str]) -> (String, String) {
        let location = self.location();
        let mut args = vec!["call", cache, location.as_str()];
        args.extend_from_slice(function);
        let run = tanto.run_in(self.module.path(), &args).success();
        (run.stdout, run.stderr)
    }

    fn source(&self) -> PathBuf {
        self.module.path().join("src-input")
    }

    /// Pushes `image` (on the machine's daemon) over `tag` of the cache repository, as
    /// someone with write access to the registry could.
    fn overwrite(&self, image: &str, tag: &str) {
        let address = format!("{}/{REPOSITORY}:{tag}", self.registry.address);
        let docker = |args: &[&str]| {
            let output = std::process::Command::new("docker")
                .env("DOCKER_CONFIG", self.config.path())
                .args(args)
                .output()
                .expect("docker runs");
            assert!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        docker(&["tag", image, &address]);
        docker(&["push", &address]);
        docker(&["rmi", &address]);
    }
}

fn source_argument(path: &Path) -> String {
    format!("--source={}", path.display())
}

#[test]
fn steps_pushed_from_one_daemon_are_pulled_on_another_instead_of_run() {
    let setup = Setup::new();
    let source = source_argument(&setup.source());
    let (on_a, _) = setup.call(&setup.tanto(None), "--cache-to", &["pipeline", &source]);
    assert_eq!(on_a, "first\nfirst\nthe input\n10\ndone\n");
    let tags = setup.registry.tags(REPOSITORY);
    assert_eq!(tags.iter().filter(|tag| tag.starts_with("record-")).count(), 5, "{tags:?}");
    assert_eq!(tags.iter().filter(|tag| tag.starts_with("snapshot-")).count(), 5, "{tags:?}");

    let daemon = SecondDaemon::start();
    let since = docker_now();
    let on_b = setup.tanto(Some(&daemon));
    let (output, stderr) = setup.call(&on_b, "--cache-from", &["pipeline", &source]);
    assert_eq!(output, on_a, "byte-identical output on B");
    assert!(!stderr.contains("ignoring"), "{stderr}");
    assert_eq!(daemon.containers_created(&since), 0, "no step ran on B:\n{stderr}");

    // A changed input: the two steps before it come from the registry, the three after
    // it run (a fresh cache on B, so nothing answers from B's own records).
    write(&setup.source(), "input.txt", "changed input\n");
    let since = docker_now();
    let fresh = setup.tanto(Some(&daemon));
    let (output, stderr) = setup.call(&fresh, "--cache-from", &["pipeline", &source]);
    assert_eq!(output, "first\nfirst\nchanged input\n14\ndone\n");
    assert_eq!(daemon.containers_created(&since), 3, "only the dependents of the input ran:\n{stderr}");
    drop((on_b, fresh));
}

#[test]
fn corrupt_entries_are_ignored_with_a_warning_and_the_steps_run() {
    let setup = Setup::new();
    let source = source_argument(&setup.source());
    let (on_a, _) = setup.call(&setup.tanto(None), "--cache-to", &["pipeline", &source]);
    let tags = setup.registry.tags(REPOSITORY);
    let daemon = SecondDaemon::start();

    // Every snapshot replaced by another image: the records name other image ids.
    for tag in tags.iter().filter(|tag| tag.starts_with("snapshot-")) {
        setup.overwrite("busybox:latest", tag);
    }
    let since = docker_now();
    let tanto = setup.tanto(Some(&daemon));
    let (output, stderr) = setup.call(&tanto, "--cache-from", &["pipeline", &source]);
    assert_eq!(output, on_a);
    assert!(
        stderr.contains("ignoring the registry cache's entry") && stderr.contains("the record names"),
        "{stderr}"
    );
    assert_eq!(daemon.containers_created(&since), 5, "every step ran");

    // Every record replaced by an image that is no record.
    for tag in tags.iter().filter(|tag| tag.starts_with("record-")) {
        setup.overwrite("busybox:latest", tag);
    }
    let since = docker_now();
    let fresh = setup.tanto(Some(&daemon));
    let (output, stderr) = setup.call(&fresh, "--cache-from", &["pipeline", &source]);
    assert_eq!(output, on_a);
    assert!(
        stderr.contains("ignoring the registry cache's entry") && stderr.contains("holds no tanto-record/record.json"),
        "{stderr}"
    );
    assert_eq!(daemon.containers_created(&since), 5, "every step ran");
    drop((tanto, fresh));
}

#[test]
fn steps_that_read_a_secret_and_their_children_are_never_pushed() {
    let setup = Setup::new();
    let tanto = setup.tanto(None).env("SHARED_TOKEN", "hunter2-not-shared");
    let (output, _) = setup.call(&tanto, "--cache-to", &["with-secret", "--token=env://SHARED_TOKEN"]);
    assert_eq!(output, "plain\n18\n");
    let tags = setup.registry.tags(REPOSITORY);
    assert_eq!(tags.len(), 2, "only the plain step (record and snapshot): {tags:?}");
}

#[test]
fn pushing_without_credentials_warns_and_keeps_the_result() {
    let setup = Setup::new();
    let empty = tempfile::tempdir().expect("a temporary folder");
    let tanto = Tanto::new().env("DOCKER_CONFIG", empty.path().to_str().expect("utf-8"));
    let (output, stderr) = setup.call(&tanto, "--cache-to", &["pipeline", &source_argument(&setup.source())]);
    assert_eq!(output, "first\nfirst\nthe input\n10\ndone\n");
    assert!(
        stderr.contains("could not push a step to the registry cache") && stderr.contains("requires authentication"),
        "{stderr}"
    );
    assert!(setup.registry.tags(REPOSITORY).is_empty());
}

#[test]
fn a_cache_location_that_is_no_registry_is_a_usage_error() {
    let setup = Setup::new();
    let run = setup
        .tanto(None)
        .run_in(setup.module.path(), &["call", "--cache-from", "s3://bucket/cache", "pipeline", "--source=."]);
    let run = run.failure(2);
    assert!(run.stderr.contains("is not a registry cache location"), "{}", run.stderr);
}
