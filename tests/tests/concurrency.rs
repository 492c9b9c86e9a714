//! The shared cache under concurrency and crashes, against the real Docker daemon: many
//! `tanto` processes on one cache, a `tanto` killed mid-step, a Docker daemon killed
//! mid-run, images handed to users, and prune of what no record refers to.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tanto_tests::{ContainerEvents, SecondDaemon, Tanto, docker, docker_now, guest_wasm, unique, write};

/// A source folder for the cache guest's `five-steps` with a unique `a.txt`, and the
/// output the pipeline prints for it.
fn five_steps_source() -> (tempfile::TempDir, String) {
    let source = tempfile::tempdir().unwrap();
    let a = unique("a");
    write(source.path(), "a.txt", &a);
    write(source.path(), "b.txt", "bee\n");
    let expected = format!("toolchain\n{0}\n{0}\n4\n", a.len());
    (source, expected)
}

fn spawn_call(tanto: &Tanto, args: &[&str]) -> Child {
    let wasm = guest_wasm("cache");
    tanto
        .command()
        .args(["call", "-m", wasm.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn five_steps(tanto: &Tanto, source: &Path) -> Child {
    spawn_call(tanto, &["five-steps", &format!("--source={}", source.display())])
}

#[track_caller]
fn succeeded(output: Output) -> String {
    assert!(
        output.status.success(),
        "tanto failed ({:?}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn eight_identical_runs_at_once_run_each_step_once() {
    // Each cache compiles the module first (`functions`), so that the times compare
    // running steps, not compiling the component once per process.
    let compiled = |tanto: &Tanto| {
        tanto.run(&["functions", "-m", guest_wasm("cache").to_str().unwrap()]).success();
    };
    // One cold run alone first, on its own cache, as the yardstick.
    let alone = Tanto::new();
    compiled(&alone);
    let (source, expected) = five_steps_source();
    let started = Instant::now();
    assert_eq!(succeeded(five_steps(&alone, source.path()).wait_with_output().unwrap()), expected);
    let one_cold = started.elapsed();

    let tanto = Tanto::new();
    compiled(&tanto);
    let (source, expected) = five_steps_source();
    let mut created = ContainerEvents::start(&tanto.session);
    let started = Instant::now();
    let runs: Vec<Child> = (0..8).map(|_| five_steps(&tanto, source.path())).collect();
    for run in runs {
        assert_eq!(succeeded(run.wait_with_output().unwrap()), expected, "every run prints the same bytes");
    }
    let eight_cold = started.elapsed();
    assert_eq!(created.count(), 5, "each of the five step keys ran once in all");
    eprintln!(
        "8 concurrent identical cold runs: {:.2} s; 1 cold run: {:.2} s; ratio {:.2}",
        eight_cold.as_secs_f64(),
        one_cold.as_secs_f64(),
        eight_cold.as_secs_f64() / one_cold.as_secs_f64()
    );

    let warm: Vec<Child> = (0..8).map(|_| five_steps(&tanto, source.path())).collect();
    for run in warm {
        assert_eq!(succeeded(run.wait_with_output().unwrap()), expected);
    }
    assert_eq!(created.count(), 0, "warm runs create no container");
    tanto.assert_no_leftovers();
}

#[test]
fn eight_different_runs_at_once_share_one_cache() {
    let tanto = Tanto::new();
    let sources: Vec<_> = (0..8).map(|_| five_steps_source()).collect();
    let mut created = ContainerEvents::start(&tanto.session);
    let runs: Vec<Child> = sources.iter().map(|(source, _)| five_steps(&tanto, source.path())).collect();
    for (run, (_, expected)) in runs.into_iter().zip(&sources) {
        assert_eq!(&succeeded(run.wait_with_output().unwrap()), expected);
    }
    // The toolchain step is the same for all eight; the four after it differ.
    assert_eq!(created.count(), 1 + 8 * 4, "each step key ran once");

    let warm: Vec<Child> = sources.iter().map(|(source, _)| five_steps(&tanto, source.path())).collect();
    for (run, (_, expected)) in warm.into_iter().zip(&sources) {
        assert_eq!(&succeeded(run.wait_with_output().unwrap()), expected);
    }
    assert_eq!(created.count(), 0, "warm runs create no container");
    tanto.assert_no_leftovers();
}

/// Waits until a step container of `session` is running on `host` (the machine's daemon
/// when `None`) and returns its id.
fn running_container(host: Option<&str>, session: &str) -> String {
    running_containers(host, session, |steps, _| steps.first().cloned())
}

/// Waits until a step container of `session` and the network holder the step had started
/// are both running on the machine's daemon, and returns the step's id.
fn running_step_and_holder(session: &str) -> String {
    running_containers(None, session, |steps, holders| steps.first().filter(|_| !holders.is_empty()).cloned())
}

/// Waits until `ready` finds what it looks for among the running step containers and
/// network holders of `session` on `host`.
fn running_containers(host: Option<&str>, session: &str, ready: impl Fn(&[String], &[String]) -> Option<String>) -> String {
    let started = Instant::now();
    loop {
        let mut command = Command::new("docker");
        if let Some(host) = host {
            command.args(["-H", host]);
        }
        let output = command
            .args(["ps", "--no-trunc", "--filter", &format!("label=tanto.session={session}")])
            .args(["--format", "{{.ID}} {{.Label \"tanto.network-holder\"}}"])
            .output()
            .unwrap();
        let (mut steps, mut holders) = (Vec::new(), Vec::new());
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            match line.split_once(' ') {
                Some((id, "true")) => holders.push(id.to_string()),
                _ => steps.push(line.trim().to_string()),
            }
        }
        if let Some(found) = ready(&steps, &holders) {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no step of {session} started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn container_exists(id: &str) -> bool {
    Command::new("docker")
        .args(["container", "inspect", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_killed_run_is_swept_by_the_next() {
    let tanto = Tanto::new();
    let source = tempfile::tempdir().unwrap();
    write(source.path(), "mounted.txt", &unique("mounted"));
    let mut killed = spawn_call(&tanto, &["mounted-sleep", &format!("--source={}", source.path().display()), "--seconds=60"]);
    // The step and the network holder it has started for later steps.
    let container = running_step_and_holder(&tanto.session);
    // kill -9: no handler runs, nothing is cleaned up; but the holder ends with the
    // process's connection to it, and the daemon removes it.
    killed.kill().unwrap();
    killed.wait().unwrap();
    tanto_tests::wait_for_network_holders(docker, Some(&format!("label=tanto.session={}", tanto.session)));
    let work_folders: Vec<_> = std::fs::read_dir(tanto.cache.path().join("tmp"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(work_folders.len(), 1, "the killed run's work folder: {work_folders:?}");
    assert!(container_exists(&container), "the orphan is there until someone sweeps it");

    let (source, expected) = five_steps_source();
    let output = five_steps(&tanto, source.path()).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(succeeded(output), expected);
    assert!(
        stderr.contains(&format!(
            "removed what ended tanto processes (pid {}) left behind: 1 container, work folders of",
            killed.id()
        )),
        "the new run says what it swept:\n{stderr}"
    );
    assert!(!container_exists(&container), "the orphan container is gone");
    assert!(!work_folders[0].exists(), "the orphan work folder is gone");
    // And the run that swept left no owner file or work folder of its own.
    for folder in ["owners", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(tanto.cache.path().join(folder)).unwrap().collect();
        assert!(left.is_empty(), "{folder}: {left:?}");
    }
    tanto.assert_no_leftovers();
}

/// The owner label of the containers `session` created since `since`.
fn owners_of(session: &str, since: &str) -> Vec<String> {
    let mut owners: Vec<String> = docker(&[
        "events",
        "--since",
        since,
        "--until",
        &(docker_now().parse::<u64>().unwrap() + 1).to_string(),
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--filter",
        &format!("label=tanto.session={session}"),
        "--format",
        "{{index .Actor.Attributes \"tanto.owner\"}}",
    ])
    .lines()
    .map(str::to_string)
    .collect();
    owners.sort();
    owners.dedup();
    owners
}

/// Replaces every run of 12 or more hex digits (image and container ids) with `[ID]`.
fn redact_ids(line: &str) -> String {
    line.split(' ')
        .map(|word| {
            let hex = word.trim_end_matches(':');
            if hex.len() >= 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                word.replace(hex, "[ID]")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Containers the test made as a user would, removed even when the test fails: the
/// images they hold have the same ids in every run.
struct UserContainers(Vec<String>);

impl Drop for UserContainers {
    fn drop(&mut self) {
        for container in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", container]).output();
        }
    }
}

fn labels(image: &str) -> serde_json::Map<String, serde_json::Value> {
    let labels: serde_json::Value = serde_json::from_str(&docker(&["image", "inspect", "--format", "{{json .Config.Labels}}", image])).unwrap();
    labels.as_object().cloned().unwrap_or_default()
}

#[test]
fn result_images_carry_only_the_users_labels_and_their_containers_survive_sweeps() {
    let tanto = Tanto::new();
    let since = docker_now();
    let run = tanto
        .call_guest(
            "api",
            "pass-through",
            &["--base=busybox:latest", &format!("--marker={}", unique("m")), "--json"],
        )
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let plain = json["image"].as_str().unwrap().to_string();
    assert!(
        labels(&plain).keys().all(|name| !name.starts_with("tanto.")),
        "no tanto.* label: {:?}",
        labels(&plain)
    );
    let run = tanto.call_guest("api", "configured", &["--json"]).success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let configured = json["image"].as_str().unwrap().to_string();
    assert_eq!(
        serde_json::Value::Object(labels(&configured)),
        serde_json::json!({ "org.opencontainers.image.title": "tanto-test", "tanto.test": "yes" }),
        "exactly the labels the module set"
    );

    // A user's containers from the images, as a user makes them.
    let user_containers = UserContainers(
        [plain.as_str(), configured.as_str()]
            .map(|image| docker(&["create", image]).trim().to_string())
            .to_vec(),
    );
    // As if the processes that made the images had been killed: their owner files are
    // there and free, so the next prune sweeps what carries their owner label.
    let owners = owners_of(&tanto.session, &since);
    assert!(!owners.is_empty());
    for owner in &owners {
        std::fs::create_dir_all(tanto.cache.path().join("owners")).unwrap();
        std::fs::write(tanto.cache.path().join("owners").join(format!("{owner}.lock")), "").unwrap();
    }
    let pruned = tanto.run(&["cache", "prune", "--all"]).success();
    for container in &user_containers.0 {
        assert!(container_exists(container), "the user's container survives:\n{}", pruned.stdout);
    }
    assert!(!pruned.stdout.contains("running pipelines"), "{}", pruned.stdout);
    // The images stay, for the real reason.
    let kept: Vec<String> = pruned.stdout.lines().skip_while(|line| !line.starts_with("Kept")).map(redact_ids).collect();
    insta::assert_snapshot!("prune_keeps_images_of_user_containers", kept.join("\n"));
    drop(user_containers);
    let pruned = tanto.run(&["cache", "prune", "--all"]).success();
    assert!(!pruned.stdout.contains("Kept"), "{}", pruned.stdout);
    assert!(tanto.snapshot_images().is_empty(), "{:?}", tanto.snapshot_images());
    tanto.assert_no_leftovers();
}

#[test]
fn prune_removes_snapshots_no_record_refers_to() {
    let tanto = Tanto::new();
    let (source, expected) = five_steps_source();
    assert_eq!(succeeded(five_steps(&tanto, source.path()).wait_with_output().unwrap()), expected);
    assert_eq!(tanto.snapshot_images().len(), 5);
    // --no-cache runs every step again and records the new snapshots: the first five are
    // no record's any more. The run itself removes nothing another process might use.
    assert_eq!(
        succeeded(
            spawn_call(&tanto, &["--no-cache", "five-steps", &format!("--source={}", source.path().display())])
                .wait_with_output()
                .unwrap()
        ),
        expected
    );
    let all = tanto.snapshot_images();
    assert_eq!(all.len(), 10, "{all:?}");

    // A prune that selects nothing by age still removes what nothing refers to.
    let pruned = tanto.run(&["cache", "prune", "--older-than=1000d"]).success();
    assert!(pruned.stdout.contains("Removed 5 snapshots no cache record referred to"), "{}", pruned.stdout);
    assert!(!pruned.stdout.contains("Kept"), "{}", pruned.stdout);
    assert_eq!(tanto.snapshot_images().len(), 5);
    let mut created = ContainerEvents::start(&tanto.session);
    assert_eq!(succeeded(five_steps(&tanto, source.path()).wait_with_output().unwrap()), expected);
    assert_eq!(created.count(), 0, "the records and their snapshots are intact");

    let pruned = tanto.run(&["cache", "prune", "--all"]).success();
    assert!(pruned.stdout.contains("Removed 5 steps"), "{}", pruned.stdout);
    assert!(tanto.snapshot_images().is_empty(), "{:?}", tanto.snapshot_images());
    tanto.assert_no_leftovers();
}

#[test]
fn a_docker_daemon_killed_mid_run_fails_the_run_clearly_and_the_next_run_recovers() {
    let mut daemon = SecondDaemon::start();
    let tanto = Tanto::new().env("DOCKER_HOST", &daemon.host());
    let marker = format!("--marker={}", unique("m"));
    let run = spawn_call(&tanto, &["hold", "--seconds=60", &marker]);
    let orphan = running_container(Some(&daemon.host()), &tanto.session);
    daemon.restart();
    let output = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The daemon is not there to talk to: the same error, hint and exit code as when it
    // was not there at the start.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("error: cannot connect to the Docker daemon at {}", daemon.host())) && stderr.contains("hint: start the Docker daemon"),
        "the error names the daemon:\n{stderr}"
    );
    assert!(
        daemon.docker(&["ps", "-aq", "--no-trunc"]).contains(&orphan),
        "the step's container is still on the restarted daemon"
    );

    // A prune on the machine's daemon, sharing the cache, leaves the orphan for a process
    // that talks to its daemon.
    let elsewhere = tanto
        .command()
        .env_remove("DOCKER_HOST")
        .args(["cache", "prune", "--older-than=1000d"])
        .output()
        .unwrap();
    assert!(!succeeded(elsewhere).contains("ended tanto processes"));
    assert!(daemon.docker(&["ps", "-aq", "--no-trunc"]).contains(&orphan));

    let output = spawn_call(&tanto, &["hold", "--seconds=1", &marker]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(succeeded(output), "held\n");
    assert!(stderr.contains("removed what ended tanto processes"), "{stderr}");
    assert!(!daemon.docker(&["ps", "-aq", "--no-trunc"]).contains(&orphan), "the orphan is swept");
    let pruned = tanto.run(&["cache", "prune", "--all"]).success();
    assert!(!pruned.stdout.contains("Kept"), "{}", pruned.stdout);
    tanto_tests::wait_for_network_holders(|args| daemon.docker(args), None);
    assert!(daemon.docker(&["ps", "-aq"]).trim().is_empty());
}

/// A network holder stopped by someone else while no step uses it is not joined (the
/// step would fail to start): the next step runs on a network of its own.
#[test]
fn a_network_holder_stopped_by_someone_else_is_not_joined() {
    let tanto = Tanto::new();
    let api = guest_wasm("api");
    let run = tanto
        .command()
        .args(["call", "-m", api.to_str().unwrap(), "pass-through", "--base=busybox:latest", "--marker=m"])
        .args(["with-exec", "--args=sh,-c,sleep 5", "with-exec", "--args=echo,after", "stdout"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first step runs on its own network and starts a holder for the next one.
    running_step_and_holder(&tanto.session);
    let holders = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=tanto.session={}", tanto.session),
        "--filter",
        "label=tanto.network-holder=true",
    ]);
    for holder in holders.split_whitespace() {
        docker(&["kill", holder]);
    }
    assert_eq!(succeeded(run.wait_with_output().unwrap()), "after\n");
    tanto.assert_no_leftovers();
}
