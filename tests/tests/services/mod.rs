//! Services against the real daemon: a step reads from a busybox `httpd` it binds by
//! alias, two steps share one instance, a service that never opens its port fails with
//! its log, `up` forwards a port to this machine until SIGINT, and nothing (container or
//! network) is left after success, failure or Ctrl-C.

use std::time::{Duration, Instant};

use tanto_tests::{Tanto, docker, free_port, guest_wasm, http_get, send_signal, spawn_up};

/// The `services` guest (tests/guests/services), named for the guest-has-a-test check.
#[test]
fn services() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("services", "fetch", &["--page=hello from httpd"]).success();
    assert_eq!(run.stdout, "hello from httpd");
    tanto.assert_no_leftovers();

    // The step is cached by what the service runs: the same service answers from the
    // cache without starting it, another page runs the step again.
    let again = tanto.call_guest("services", "fetch", &["--page=hello from httpd"]).success();
    assert_eq!(again.stdout, "hello from httpd");
    assert!(again.stderr.contains("0 run, 1 cached"), "{}", again.stderr);
    let other = tanto.call_guest("services", "fetch", &["--page=another page"]).success();
    assert_eq!(other.stdout, "another page");
    assert!(other.stderr.contains("1 run, 0 cached"), "{}", other.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn two_steps_binding_one_service_share_its_instance() {
    let tanto = Tanto::new();
    let since = tanto_tests::docker_now();
    let run = tanto.call_guest("services", "shared", &["--page=shared", "-j", "2"]).success();
    let ids: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(ids.len(), 2, "{}", run.stdout);
    assert_eq!(ids[0], ids[1], "the two steps saw different instances");
    assert_eq!(ids[0].len(), 36, "{}", run.stdout);
    // Two steps and one service: three containers, so one instance.
    assert_eq!(tanto.containers_created(&since), 3, "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn a_service_is_reached_by_its_hostname_and_started_by_hand() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("services", "by-hostname", &["--page=by name"]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("tanto-service-"), "{}", run.stdout);
    assert_eq!(lines[1], format!("http://{}:80", lines[0]));
    assert_eq!(lines[2], "by name");
    let started = tanto.call_guest("services", "started", &["--page=by hand"]).success();
    assert_eq!(started.stdout, "by hand");
    tanto.assert_no_leftovers();
}

#[test]
fn a_service_that_never_opens_its_port_fails_with_its_log() {
    let tanto = Tanto::new().env("TANTO_SERVICE_TIMEOUT", "3");
    // Built before the clock starts.
    tanto_tests::tanto_bin();
    let started = Instant::now();
    let run = tanto.call_guest("services", "never-ready", &[]).failure(1);
    assert!(started.elapsed() < Duration::from_secs(60), "the wait was not bounded");
    assert!(run.stderr.contains("its port 8080/tcp did not accept connections within 3 s"), "{}", run.stderr);
    assert!(run.stderr.contains("warming up"), "the log tail is missing: {}", run.stderr);
    assert!(run.stderr.contains("port 8080 stays closed"), "the log tail is missing: {}", run.stderr);
    assert!(!run.stdout.contains("reached"), "the bound step ran: {}", run.stdout);
    tanto.assert_no_leftovers();
}

/// Waits until a container of `tanto`'s session runs.
fn wait_for_containers(tanto: &Tanto, count: usize) {
    let filter = format!("label=tanto.session={}", tanto.session);
    let running = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        docker(&["ps", "-q", "--filter", &filter]).lines().count() >= count
    });
    assert!(running, "{count} containers never ran");
}

#[test]
fn ctrl_c_removes_a_running_service_and_its_network() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("services");
    let child = tanto
        .command()
        .args(["call", "-m", wasm.to_str().unwrap(), "hold", "--page=held", "--seconds=120"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The service and the step that binds it.
    wait_for_containers(&tanto, 2);
    let filter = format!("label=tanto.session={}", tanto.session);
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &filter]).lines().count(), 1, "no services network");
    send_signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    tanto.assert_no_leftovers();
}

#[test]
fn up_forwards_a_port_until_sigint_then_cleans_up() {
    let tanto = Tanto::new();
    let port = free_port();
    let child = spawn_up(&tanto, "served up", port);
    let started = Instant::now();
    let body = loop {
        if let Some(body) = http_get(port, "/index.html", Duration::from_secs(5)).filter(|body| !body.is_empty()) {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the forwarded port never answered");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(body, "served up");
    send_signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port} -> 80")), "{stderr}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the port is still forwarded");
    tanto.assert_no_leftovers();
}

#[test]
fn a_service_serves_its_mounted_host_directory_cache_and_tmpfs() {
    let tanto = Tanto::new();
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "from the host\n").unwrap();
    let run = tanto
        .call_guest("services", "mounted", &[&format!("--site={}", site.path().display())])
        .success();
    // The mounted folder served, the tmpfs seen, the cache volume's file read.
    assert_eq!(run.stdout, "from the host\ntmpfs\nfilled by a step\n", "{}", run.stderr);
    // The service's writes went to its own copy of the mount, never to the host folder.
    assert!(!site.path().join("mounts.txt").exists());
    // A changed mounted file is a changed service: the step binding it runs again.
    std::fs::write(site.path().join("index.html"), "changed\n").unwrap();
    let changed = tanto
        .call_guest("services", "mounted", &[&format!("--site={}", site.path().display())])
        .success();
    assert!(changed.stdout.starts_with("changed\n"), "{}", changed.stdout);
    tanto.assert_no_leftovers();
}

/// A step and a service it binds (directly or through another service) mounting one
/// cache volume `locked` would wait forever, since the service holds the lock while it
/// runs: refused, naming both. One side `shared` runs.
#[test]
fn a_step_and_its_service_locking_one_cache_volume_are_refused() {
    let tanto = Tanto::new();
    for nested in ["--nested=false", "--nested=true"] {
        let run = tanto
            .call_guest("services", "locked-by-service", &["--service-sharing=locked", nested])
            .failure(1);
        assert!(
            run.stderr.contains("the step and the service bound as `")
                && run.stderr.contains("both mount the cache volume \"services-locked\" with locked sharing"),
            "{nested}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("mount it shared or private in one of them"), "{}", run.stderr);
    }
    let run = tanto
        .call_guest("services", "locked-by-service", &["--service-sharing=shared", "--nested=true"])
        .success();
    assert_eq!(run.stdout, "served\n", "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn a_service_reads_its_secrets_and_nothing_shows_them() {
    const TOKEN: &str = "svc-Probe-7f3a9c1e5b";
    let tanto = Tanto::new().env("SVC_PROBE_TOKEN", TOKEN);
    let wasm = guest_wasm("services");
    let child = tanto
        .command()
        .args([
            "call",
            "-m",
            wasm.to_str().unwrap(),
            "secret-service",
            "--token=env://SVC_PROBE_TOKEN",
            "--seconds=8",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The service and the step binding it, while the step sleeps.
    wait_for_containers(&tanto, 2);
    let filter = format!("label=tanto.session={}", tanto.session);
    let ids: Vec<String> = docker(&["ps", "-q", "--filter", &filter]).lines().map(str::to_string).collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let mut arguments = vec!["inspect"];
    arguments.extend(ids.iter().map(String::as_str));
    let inspected = docker(&arguments);
    assert!(inspected.contains("tanto-service-"), "the service is not among them: {inspected}");
    assert!(!inspected.contains(TOKEN), "a secret shows in docker inspect: {inspected}");
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The variable and the file hold the same value, of the token's length.
    assert_eq!(stdout, format!("same\n{}\n", TOKEN.len()), "{stderr}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "a secret shows in tanto's output");
    tanto.assert_no_leftovers();
}

/// An image of busybox that `EXPOSE`s 8080 and starts its `httpd` there two seconds
/// late, tagged for this test and removed with the guard.
struct ExposingImage(String);

impl ExposingImage {
    fn build(tanto: &Tanto) -> Self {
        let tag = format!("tanto-test-expose:{}", tanto.session.to_ascii_lowercase());
        let context = tempfile::tempdir().unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            "FROM busybox:latest\nRUN mkdir /www && echo exposed > /www/index.html\nEXPOSE 8080\nCMD [\"sh\", \"-c\", \"sleep 2; exec httpd -f -p 8080 -h /www\"]\n",
        )
        .unwrap();
        docker(&["build", "-q", "-t", &tag, context.path().to_str().unwrap()]);
        Self(tag)
    }
}

impl Drop for ExposingImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn a_service_is_waited_for_on_the_ports_its_image_exposes_and_export_writes_them() {
    let tanto = Tanto::new();
    let image = ExposingImage::build(&tanto);
    // No with-exposed-port: the step reads right away, so it runs only once 8080 opened.
    let run = tanto.call_guest("services", "image-ports", &[&format!("--image={}", image.0)]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("tanto-service-") && lines[0].ends_with(":8080"), "{}", run.stdout);
    assert_eq!(lines[1], "exposed", "{}", run.stderr);

    // The exported image carries the image's port and the one added.
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("image.tar");
    tanto
        .call_guest(
            "services",
            "exported-ports",
            &[&format!("--image={}", image.0), "-o", archive.to_str().unwrap()],
        )
        .success();
    let listing = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg("manifest.json")
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
    let config = std::process::Command::new("tar").arg("-xOf").arg(&archive).arg(&config_name).output().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    let ports = config["config"]["ExposedPorts"].as_object().unwrap_or_else(|| panic!("{config}"));
    let mut names: Vec<&str> = ports.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["5353/udp", "8080/tcp"], "{config}");
    tanto.assert_no_leftovers();
}

#[test]
fn a_service_exposing_only_udp_does_not_block_the_step() {
    let tanto = Tanto::new().env("TANTO_SERVICE_TIMEOUT", "3");
    let run = tanto.call_guest("services", "udp-only", &[]).success();
    assert_eq!(run.stdout, "reached\n");
    tanto.assert_no_leftovers();
}
