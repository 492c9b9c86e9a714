//! Remote engines: a second daemon started by the test listens on `tcp://127.0.0.1:PORT`
//! with mutual TLS (certificates made with `openssl`), and tanto reaches it through
//! `DOCKER_HOST` + `DOCKER_TLS_VERIFY` + `DOCKER_CERT_PATH` or through a Docker context
//! made by the docker CLI. An engine reached over TCP is never assumed to share this
//! machine's files: mounted directories and secrets reach it by upload, exports come
//! back by download. The daemon does run on this machine, so the test also checks that no
//! host path was bind-mounted (the step reads its own mount table).
//!
//! Services on such an engine are probed and forwarded the way a truly remote engine
//! needs: through ports the engine publishes on the address tanto reaches it at (TCP),
//! or through the engine's machine itself (`ssh -W`). The second daemon's bridge is on
//! this machine, so a probe straight to the container's address would succeed too: the
//! tests assert the route taken (tanto's debug log says it for every probe, and sshd's
//! own log shows the forwarded connections), and that no probe went by the bridge.

use std::time::{Duration, Instant};

use tanto_tests::{SecondDaemon, Sshd, Tanto, docker_now, write, write_module};

const MODULE: &str = r#"
use tanto_sdk::{Container, Directory, Result, Secret, dag};

fn busybox() -> Container {
    dag().container().from("busybox:latest")
}

#[derive(Default)]
struct Remote;

/// Host data reaching a container, whatever the engine.
#[tanto_sdk::module]
impl Remote {
    /// `source` copied and mounted, `token` mounted and as a variable.
    pub fn mixed(&self, source: Directory, token: Secret) -> Result<String> {
        busybox()
            .with_directory("/src", &source)
            .with_mounted_directory("/mnt", &source)
            .with_mounted_secret("/run/secrets/token", &token)
            .with_secret_variable("TOKEN", &token)
            .with_exec(["sh", "-c", "(cat /src/input.txt /mnt/input.txt; wc -c < /run/secrets/token; ls -l /run/secrets/token | cut -c1-10; printf %s \"$TOKEN\" | wc -c) > /result; echo more > /mnt/written"])
            .with_exec(["sh", "-c", "cat /result; ls /mnt; ls /src; test -e /mnt/written && echo kept || echo discarded"])
            .stdout()
    }

    /// The mount table lines of `/mnt` and `/run/secrets/token` as a step sees them.
    pub fn mount_table(&self, source: Directory, token: Secret) -> Result<String> {
        busybox()
            .with_mounted_directory("/mnt", &source)
            .with_mounted_secret("/run/secrets/token", &token)
            .with_exec(["sh", "-c", "grep -E ' /mnt | /run/secrets/token ' /proc/self/mountinfo"])
            .stdout()
    }

    /// The size of `token` mounted into a step whose image has no shell.
    pub fn shell_less(&self, token: Secret) -> Result<String> {
        busybox()
            .with_exec(["rm", "/bin/sh"])
            .with_mounted_secret("/run/secrets/token", &token)
            .with_exec(["wc", "-c", "/run/secrets/token"])
            .stdout()
    }

    /// A directory built from `source`, for `-o`.
    pub fn built(&self, source: Directory) -> Directory {
        busybox()
            .with_mounted_directory("/in", &source)
            .with_exec(["sh", "-c", "mkdir /out && tr a-z A-Z < /in/input.txt > /out/upper.txt"])
            .directory("/out")
    }
}
"#;

const TOKEN: &str = "s3cret-remote-value";

struct Setup {
    module: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let module = tempfile::tempdir().expect("a temporary folder");
        write_module(module.path(), "remote", MODULE, &[]);
        write(module.path(), "input/input.txt", "the input\n");
        Self { module }
    }

    fn source(&self) -> String {
        format!("--source={}", self.module.path().join("input").display())
    }

    fn call(&self, tanto: &Tanto, args: &[&str]) -> tanto_tests::Run {
        let mut all = vec!["call"];
        all.extend_from_slice(args);
        tanto.run_in(self.module.path(), &all)
    }
}

/// A tanto reaching `daemon` over TCP with TLS through the environment.
fn over_tls(daemon: &SecondDaemon) -> Tanto {
    Tanto::new()
        .env("REMOTE_TOKEN", TOKEN)
        .env("DOCKER_HOST", &daemon.tls_host())
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", daemon.client_certs().to_str().expect("utf-8"))
}

#[test]
fn a_tls_engine_runs_mounts_and_secrets_by_upload_with_the_local_output() {
    let setup = Setup::new();
    let local = Tanto::new().env("REMOTE_TOKEN", TOKEN);
    let token = "--token=env://REMOTE_TOKEN";
    let on_local = setup.call(&local, &["mixed", &setup.source(), token]).success().stdout;
    assert_eq!(
        on_local,
        format!(
            "the input\nthe input\n{}\n-r--------\n{}\ninput.txt\ninput.txt\ndiscarded\n",
            TOKEN.len(),
            TOKEN.len()
        )
    );

    let daemon = SecondDaemon::start_with_tls();
    let remote = over_tls(&daemon);
    let since = docker_now();
    let run = setup.call(&remote, &["mixed", &setup.source(), token]).success();
    assert_eq!(run.stdout, on_local, "the same output on the remote engine:\n{}", run.stderr);
    assert!(daemon.containers_created(&since) >= 2, "the steps ran on the TLS engine");
    assert!(!run.stderr.contains(TOKEN), "{}", run.stderr);

    // The daemon shares this machine, but tanto did not use that: the directory is a
    // volume of the engine's, the secret a file on the engine's tmpfs, no host folder of
    // tanto's.
    let table = setup.call(&remote, &["mount-table", &setup.source(), token]).success().stdout;
    let mount_line = table.lines().find(|line| line.contains(" /mnt ")).unwrap_or_else(|| panic!("{table}"));
    assert!(mount_line.contains("/volumes/") && mount_line.contains("/_data"), "{mount_line}");
    let secret_line = table
        .lines()
        .find(|line| line.contains(" /run/secrets/token "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(secret_line.contains(" - tmpfs ") && !secret_line.contains("tanto-secrets-"), "{secret_line}");

    // A mounted secret needs nothing of the step's image, not even a shell: the holder of
    // its tmpfs on the engine runs tanto's own pause image.
    let run = setup.call(&remote, &["shell-less", token]).success();
    assert_eq!(run.stdout, format!("{} /run/secrets/token\n", TOKEN.len()), "{}", run.stderr);

    // An export comes back by download.
    let out = tempfile::tempdir().expect("a temporary folder");
    let folder = out.path().join("built");
    setup
        .call(&remote, &["built", &setup.source(), "-o", folder.to_str().expect("utf-8")])
        .success();
    assert_eq!(std::fs::read_to_string(folder.join("upper.txt")).expect("the export"), "THE INPUT\n");

    // Nothing left on the engine: no container, no volume (the secrets' tmpfs volume
    // and the mounts' volumes went with their containers).
    drop(remote);
    tanto_tests::wait_for_network_holders(|args| daemon.docker(args), None);
    assert_eq!(daemon.docker(&["ps", "-aq"]).trim(), "", "containers left");
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).trim(), "", "volumes left");
    assert_no_secret_in_images(&daemon);
}

/// Every image on `daemon`, as `docker save` writes it, is searched for the token.
fn assert_no_secret_in_images(daemon: &SecondDaemon) {
    let images = daemon.docker(&["image", "ls", "-aq"]);
    for image in images.lines().filter(|line| !line.is_empty()) {
        let output = std::process::Command::new("docker")
            .args(["-H", &daemon.host(), "save", image])
            .output()
            .expect("docker save runs");
        assert!(output.status.success());
        let found = output.stdout.windows(TOKEN.len()).any(|window| window == TOKEN.as_bytes());
        assert!(!found, "image {image} holds the secret");
    }
}

#[test]
fn a_docker_context_chooses_the_engine() {
    let setup = Setup::new();
    let daemon = SecondDaemon::start_with_tls();
    let config = tempfile::tempdir().expect("a temporary folder");
    let certs = daemon.client_certs();
    let cert = |name: &str| certs.join(name).to_str().expect("utf-8").to_string();
    let endpoint = format!(
        "host={},ca={},cert={},key={}",
        daemon.tls_host(),
        cert("ca.pem"),
        cert("cert.pem"),
        cert("key.pem")
    );
    let docker = |args: &[&str]| {
        let output = std::process::Command::new("docker")
            .arg("--config")
            .arg(config.path())
            .args(args)
            .output()
            .expect("docker runs");
        assert!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    docker(&["context", "create", "engine-b", "--docker", &endpoint]);
    docker(&["context", "use", "engine-b"]);

    let tanto = Tanto::new()
        .env("REMOTE_TOKEN", TOKEN)
        .env("DOCKER_CONFIG", config.path().to_str().expect("utf-8"));
    let since = docker_now();
    let run = setup.call(&tanto, &["mixed", &setup.source(), "--token=env://REMOTE_TOKEN"]).success();
    assert!(run.stdout.starts_with("the input\nthe input\n"), "{}", run.stdout);
    assert!(daemon.containers_created(&since) >= 2, "the context's engine ran the steps:\n{}", run.stderr);

    // A client certificate the engine does not accept (the engine's own, made for
    // serverAuth only) is refused, and the error says what to check.
    let wrong = daemon.client_certs().with_file_name("server");
    let run = setup
        .call(
            &Tanto::new()
                .env("DOCKER_HOST", &daemon.tls_host())
                .env("DOCKER_TLS_VERIFY", "1")
                .env("DOCKER_CERT_PATH", wrong.to_str().expect("utf-8")),
            &["built", &setup.source()],
        )
        .failure(2);
    assert!(run.stderr.contains(&daemon.tls_host()) && run.stderr.contains("--tlsverify"), "{}", run.stderr);

    // DOCKER_HOST beats the context: the machine's daemon runs it (B sees nothing new).
    let since = docker_now();
    let overridden = Tanto::new()
        .env("REMOTE_TOKEN", "another-value")
        .env("DOCKER_CONFIG", config.path().to_str().expect("utf-8"))
        .env("DOCKER_HOST", "unix:///var/run/docker.sock");
    setup.call(&overridden, &["mixed", &setup.source(), "--token=env://REMOTE_TOKEN"]).success();
    assert_eq!(daemon.containers_created(&since), 0);
}

#[test]
fn an_engine_through_ssh_runs_the_pipeline_like_the_local_one() {
    let setup = Setup::new();
    let daemon = SecondDaemon::start();
    // The session's `docker system dial-stdio` reaches daemon B.
    let sshd = Sshd::start(&[("DOCKER_HOST", &daemon.host())]);
    let path = format!("{}:{}", sshd.client_path().display(), std::env::var("PATH").unwrap_or_default());
    let tanto = Tanto::new().env("REMOTE_TOKEN", TOKEN).env("PATH", &path).env("DOCKER_HOST", &sshd.address());
    let since = docker_now();
    let run = setup.call(&tanto, &["mixed", &setup.source(), "--token=env://REMOTE_TOKEN"]);
    assert_eq!(run.code, Some(0), "{}\nsshd:\n{}", run.stderr, sshd.log());
    assert_eq!(
        run.stdout,
        format!(
            "the input\nthe input\n{}\n-r--------\n{}\ninput.txt\ninput.txt\ndiscarded\n",
            TOKEN.len(),
            TOKEN.len()
        )
    );
    assert!(daemon.containers_created(&since) >= 2, "the steps ran on the engine behind ssh");
    drop(tanto);
    tanto_tests::wait_for_network_holders(|args| daemon.docker(args), None);
    assert_eq!(daemon.docker(&["ps", "-aq"]).trim(), "", "containers left");
    assert_eq!(daemon.docker(&["volume", "ls", "-q"]).trim(), "", "volumes left");
}

#[test]
fn engines_that_cannot_be_reached_are_named_with_what_to_check() {
    let setup = Setup::new();
    let closed = tanto_tests::free_port();
    let expect_error = |tanto: Tanto, wanted: &[&str]| {
        let run = setup.call(&tanto, &["built", &setup.source(), "-o", "/nonexistent-never-written"]).failure(2);
        for text in wanted {
            assert!(run.stderr.contains(text), "{text:?} not in:\n{}", run.stderr);
        }
    };
    let address = format!("tcp://127.0.0.1:{closed}");
    expect_error(
        Tanto::new().env("DOCKER_HOST", &address),
        &[&format!("cannot connect to the Docker daemon at {address}"), "hint:", "docker -H"],
    );

    let empty = tempfile::tempdir().expect("a temporary folder");
    expect_error(
        Tanto::new()
            .env("DOCKER_HOST", &address)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", empty.path().to_str().expect("utf-8")),
        &["TLS material", "ca.pem", "DOCKER_CERT_PATH"],
    );

    expect_error(
        Tanto::new().env("DOCKER_HOST", "ssh://nobody@127.0.0.1:1"),
        &[
            "ssh://nobody@127.0.0.1:1",
            "-l nobody -p 1 -- 127.0.0.1 docker system dial-stdio",
            "Connection refused",
            "known_hosts",
        ],
    );

    expect_error(
        Tanto::new().env("DOCKER_CONTEXT", "no-such-context"),
        &["Docker context \"no-such-context\" does not exist", "docker context ls"],
    );
    expect_error(Tanto::new().env("DOCKER_HOST", "ftp://example"), &["DOCKER_HOST", "tcp://host:port"]);
}

/// The `services` guest's `web ... up` on a remote engine: the service's port forwarded
/// to this machine; every readiness probe takes `route`, none the bridge; the page comes
/// back and nothing is left on the engine. (A step reaching the service on the engine,
/// `fetch`, is not tried: the test's second daemon runs with `--iptables=false` beside
/// the machine's, whose FORWARD policy drops traffic between containers on the second
/// daemon's own networks.)
fn serve_and_forward(tanto: Tanto, daemon: &SecondDaemon, route: &str) {
    let tanto = tanto.env("TANTO_LOG", "tanto::backend::docker=debug");
    let port = tanto_tests::free_port();
    let child = tanto_tests::spawn_up(&tanto, "forwarded", port);
    let started = Instant::now();
    let body = loop {
        if let Some(body) = tanto_tests::http_get(port, "/index.html", Duration::from_secs(10)).filter(|body| !body.is_empty()) {
            break body;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let output = child.wait_with_output().expect("tanto ends");
            panic!("the forwarded port never answered:\n{}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(body, "forwarded");
    tanto_tests::send_signal(&child, "INT");
    let output = child.wait_with_output().expect("tanto ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let probes: Vec<&str> = stderr.lines().filter(|line| line.contains("probing a service port")).collect();
    assert!(!probes.is_empty(), "no probe logged:\n{stderr}");
    for probe in &probes {
        assert!(probe.contains(&format!("route=\"{route}\"")), "a probe took another route: {probe}");
    }
    tanto_tests::wait_for_network_holders(|args| daemon.docker(args), None);
    assert_eq!(daemon.docker(&["ps", "-aq"]).trim(), "", "containers left");
}

#[test]
fn a_service_on_a_tls_engine_is_probed_and_forwarded_through_published_ports() {
    let daemon = SecondDaemon::start_with_tls();
    serve_and_forward(over_tls(&daemon), &daemon, "published");
}

#[test]
fn a_service_on_an_engine_through_ssh_is_probed_and_forwarded_through_ssh() {
    let daemon = SecondDaemon::start();
    let sshd = Sshd::start(&[("DOCKER_HOST", &daemon.host())]);
    let path = format!("{}:{}", sshd.client_path().display(), std::env::var("PATH").unwrap_or_default());
    let tanto = Tanto::new().env("PATH", &path).env("DOCKER_HOST", &sshd.address());
    serve_and_forward(tanto, &daemon, "ssh -W");
    // sshd itself made the connections to the service's port 80 (probes and `up`).
    let log = sshd.log();
    let forwarded = log
        .lines()
        .filter(|line| line.contains("server_request_direct_tcpip") && line.contains("port 80"))
        .count();
    assert!(forwarded >= 2, "sshd forwarded no connection to port 80:\n{log}");
}

#[test]
fn docker_tls_alone_encrypts_without_verifying_the_engine() {
    let setup = Setup::new();
    let daemon = SecondDaemon::start_with_tls();
    // This client's certificate and key, but no ca.pem: nothing to verify the engine by.
    let folder = tempfile::tempdir().expect("a temporary folder");
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(daemon.client_certs().join(file), folder.path().join(file)).expect("the client's TLS files");
    }
    let cert_path = folder.path().to_str().expect("utf-8");
    let unverified = Tanto::new()
        .env("DOCKER_HOST", &daemon.tls_host())
        .env("DOCKER_TLS", "1")
        .env("DOCKER_CERT_PATH", cert_path);
    let out = tempfile::tempdir().expect("a temporary folder");
    let built = out.path().join("built");
    let since = docker_now();
    let run = setup
        .call(&unverified, &["built", &setup.source(), "-o", built.to_str().expect("utf-8")])
        .success();
    assert_eq!(std::fs::read_to_string(built.join("upper.txt")).expect("the export"), "THE INPUT\n");
    assert!(daemon.containers_created(&since) >= 1, "the TLS engine ran the step:\n{}", run.stderr);
    assert!(run.stderr.contains("is not verified"), "the user is warned:\n{}", run.stderr);

    // Verifying wants the ca.pem this folder lacks.
    let verified = Tanto::new()
        .env("DOCKER_HOST", &daemon.tls_host())
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", cert_path);
    let run = setup.call(&verified, &["built", &setup.source()]).failure(2);
    assert!(run.stderr.contains("ca.pem"), "{}", run.stderr);
}
