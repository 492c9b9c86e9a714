//! What tanto shows while it works: `tanto version`, plain lines and JSON events
//! (snapshots, with times, paths and nonces redacted), the live view on a real pseudo
//! terminal (`script` from util-linux), and a module build shown as a step.

use std::path::Path;
use std::process::Command;

use tanto_tests::{Tanto, guest_wasm, tanto_bin};

fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

/// `text` with each number of seconds (`1.2s`, `"seconds":0.0123`) made `[TIME]`.
fn redact_times(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let number_len = from
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
            .unwrap_or(from.len());
        let number = &from[..number_len];
        let after = &from[number_len..];
        let json_seconds = out.ends_with("\"seconds\":");
        if number.contains('.') && (after.starts_with('s') || json_seconds) {
            out.push_str("[TIME]");
        } else {
            out.push_str(number);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `text` with `ops/ab/<64 hex digits>` (a step's key in the cache) made `ops/[KEY]`.
fn redact_keys(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find("/ops/") {
        out.push_str(&rest[..index + "/ops/".len()]);
        rest = &rest[index + "/ops/".len()..];
        let key_len = 3 + 64;
        if rest.len() >= key_len && rest[..2].bytes().all(|byte| byte.is_ascii_hexdigit()) && rest[3..key_len].bytes().all(|byte| byte.is_ascii_hexdigit()) {
            out.push_str("[KEY]");
            rest = &rest[key_len..];
        }
    }
    out.push_str(rest);
    out
}

fn redact(text: &str, tanto: &Tanto, nonce: &str) -> String {
    redact_times(&redact_keys(
        &text.replace(nonce, "[NONCE]").replace(&tanto.cache.path().display().to_string(), "[CACHE]"),
    ))
}

/// `text` without ANSI escape sequences (colours, cursor moves): the text a terminal shows.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(char) = chars.next() {
        if char == '\x1b' {
            if chars.next() == Some('[') {
                for char in chars.by_ref() {
                    if char.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(char);
        }
    }
    out
}

#[test]
fn version_names_tanto_the_apis_wasmtime_and_docker() {
    let run = |args: &[&str], docker_host: Option<&str>| {
        let mut command = Command::new(tanto_bin());
        command.args(args);
        if let Some(host) = docker_host {
            command.env("DOCKER_HOST", host);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let version = run(&["version"], None);
    assert_eq!(run(&["--version"], None), version);
    let lines: Vec<&str> = version.lines().collect();
    assert_eq!(lines[0], format!("tanto {}", env!("CARGO_PKG_VERSION")));
    // The versions the runtime serves: a module built against either one runs.
    assert_eq!(lines[1], "api: tanto:core@0.1.0, tanto:core@0.2.0");
    assert!(lines[2].starts_with("wasmtime 48."), "{version}");
    let engine = tanto_tests::docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(lines[3].starts_with(&format!("docker: engine {} (API 1.", engine.trim())), "{version}");

    // No daemon: said plainly, and not a failure.
    let unreachable = run(&["version"], Some("unix:///nonexistent/docker.sock"));
    insta::assert_snapshot!(
        "version_without_docker",
        unreachable.replace(lines[0], "tanto [TANTO]").replace(lines[2], "wasmtime [WASMTIME]")
    );
}

#[test]
fn plain_and_json_progress_of_a_step_and_its_cached_rerun() {
    let tanto = Tanto::new();
    let nonce = nonce();
    // One stream: the order of lines across stdout and stderr is the daemon's.
    let script = format!("echo {nonce}; echo second line");
    let wasm = guest_wasm("api");
    let args = ["call", "-m", wasm.to_str().unwrap(), "run-script", &format!("--script={script}")];
    let first = tanto.run(&args).success();
    let second = tanto.run(&args).success();
    insta::assert_snapshot!(
        "plain_step_then_cached",
        format!("{}--- again\n{}", redact(&first.stderr, &tanto, &nonce), redact(&second.stderr, &tanto, &nonce))
    );

    let json = |args: &[&str]| {
        let output = tanto.command_with_progress("json").args(args).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    let nonce = self::nonce();
    let script = format!("echo {nonce}; echo second line");
    let args = ["call", "-m", wasm.to_str().unwrap(), "run-script", &format!("--script={script}")];
    let first = json(&args);
    let second = json(&args);
    for line in first.lines().chain(second.lines()) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert_eq!(event["version"], 1, "{line}");
    }
    insta::assert_snapshot!(
        "json_step_then_cached",
        format!("{}--- again\n{}", redact(&first, &tanto, &nonce), redact(&second, &tanto, &nonce))
    );
    tanto.assert_no_leftovers();
}

/// Runs `tanto --progress=auto call … run-script` on a pseudo terminal made by
/// `script`, with `env` added; returns what the terminal received.
fn on_a_terminal(tanto: &Tanto, script: &str, env: &[(&str, &str)]) -> String {
    let mut command = Command::new("script");
    command
        .args([
            "-qefc",
            r#"if [ -n "$STTY" ]; then stty $STTY; fi; "$TANTO" --progress=auto call -m "$GUEST" run-script "--script=$SCRIPT""#,
            "/dev/null",
        ])
        .env("TANTO", tanto_bin())
        .env("GUEST", guest_wasm("api"))
        .env("SCRIPT", script)
        .env("TANTO_CACHE_DIR", tanto.cache.path())
        .env("TANTO_SESSION", &tanto.session)
        .env("TERM", "xterm-256color")
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .env_remove("TANTO_PROGRESS")
        .env_remove("TANTO_LOG")
        .env_remove("STTY");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    text
}

#[test]
fn the_live_view_on_a_terminal_shows_steps_cached_and_a_summary() {
    let tanto = Tanto::new();
    let nonce = nonce();
    let script = format!("echo {nonce}; for i in 1 2 3; do echo working $i; sleep 0.4; done");
    let raw = on_a_terminal(&tanto, &script, &[]);
    assert!(raw.contains("\x1b[32m✔"), "colour on a terminal: {raw:?}");
    let first = strip_ansi(&raw);
    // Collapsed when done: a check mark, the step and its duration; no plain lines.
    // The step ran under the call: its line is indented one level.
    assert!(first.contains("  ✔ [1] sh -c"), "{first}");
    assert!(!first.contains("[1] DONE"), "{first}");
    // The call, collapsed too.
    assert!(first.contains("✔ run-script "), "{first}");
    // The running step's newest output line was drawn beneath it.
    assert!(first.contains("│ working"), "{first}");
    assert!(first.contains("1 step: 1 run, 0 cached, 0 failed in "), "{first}");
    // The summary comes before the result, both on the one screen.
    assert!(first.trim_end().ends_with("done"), "{first}");

    let again = on_a_terminal(&tanto, &script, &[("NO_COLOR", "1")]);
    assert!(again.contains("✔ [1] sh -c") && again.contains("CACHED"), "{again}");
    assert!(again.contains("1 step: 0 run, 1 cached, 0 failed in "), "{again}");
    assert!(!again.contains("\x1b[32m") && !again.contains("\x1b[2m"), "NO_COLOR: {again:?}");

    // A narrow terminal: the step's lines are cut to its width, never wrapped.
    // indicatif moves the cursor between lines: each escape sequence ends a line.
    let narrow = on_a_terminal(&tanto, &format!("{script}; echo {}", "y".repeat(100)), &[("STTY", "cols 40 rows 20")]);
    let narrow = strip_ansi(&narrow.replace('\x1b', "\n\x1b"));
    let step_lines: Vec<&str> = narrow.split(['\n', '\r']).filter(|line| line.contains("[1] ") || line.contains('│')).collect();
    assert!(!step_lines.is_empty(), "{narrow}");
    for line in step_lines {
        assert!(line.trim_end().chars().count() <= 40, "{line:?} is wider than the terminal: {narrow}");
    }

    // A terminal that cannot redraw, and CI logs, get plain lines.
    for env in [("TERM", "dumb"), ("CI", "true")] {
        let plain = on_a_terminal(&tanto, &script, &[env]);
        assert!(plain.contains("[1] CACHED sh -c"), "{env:?}: {plain}");
        assert!(plain.contains("[tanto] 1 step: 0 run, 1 cached, 0 failed in "), "{env:?}: {plain}");
        assert!(!plain.contains('✔'), "{env:?}: {plain}");
    }
    tanto.assert_no_leftovers();
}

#[test]
fn a_module_build_is_a_step_in_every_mode() {
    let tanto = Tanto::new();
    let workspace = tempfile::tempdir().unwrap();
    tanto.run_in(workspace.path(), &["init", "shown", "--sdk=rust"]).success();
    let module = workspace.path().join("shown");
    // A unique source, so the stamp is new and cargo runs.
    append(&module.join("src/lib.rs"), &format!("\n// {}\n", nonce()));

    let built = tanto.run_in(&module, &["functions"]).success();
    assert!(built.stderr.contains("[1] build module shown\n"), "{}", built.stderr);
    assert!(built.stderr.contains("[1] | "), "cargo's messages are the step's output:\n{}", built.stderr);
    assert!(built.stderr.contains("[1] DONE "), "{}", built.stderr);
    assert!(built.stderr.contains("[tanto] 1 step: 1 run, 0 cached, 0 failed in "), "{}", built.stderr);
    // The build's whole output is kept where the omission line says, or, when nothing
    // was omitted, in the cache's logs.
    let logs = tanto.cache.path().join("logs");
    let build_log = std::fs::read_dir(&logs)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_str().unwrap().starts_with("build-"))
        .expect("a build log")
        .join("stderr");
    let log = std::fs::read_to_string(&build_log).unwrap();
    for line in built.stderr.lines().filter_map(|line| line.strip_prefix("[1] | ")) {
        if let Some(paths) = line.split_once("full log: ").map(|(_, paths)| paths) {
            assert_eq!(Path::new(paths), build_log, "{}", built.stderr);
        } else {
            assert!(log.contains(line), "{line:?} is in the log:\n{log}");
        }
    }

    // Built already: no step at all.
    let again = tanto.run_in(&module, &["functions"]).success();
    assert!(!again.stderr.contains("build module"), "{}", again.stderr);

    // JSON: the same step as events.
    append(&module.join("src/lib.rs"), &format!("\n// {}\n", nonce()));
    let output = tanto.command_with_progress("json").arg("functions").current_dir(&module).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let events: Vec<serde_json::Value> = String::from_utf8(output.stderr)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "started");
    assert_eq!(events[0]["description"], "build module shown");
    let finished = events.iter().find(|event| event["event"] == "finished").expect("a finished event");
    assert_eq!(finished["status"], "done");
    assert!(finished["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(events.last().unwrap()["event"], "summary");
}

fn append(path: &Path, text: &str) {
    let mut contents = std::fs::read_to_string(path).unwrap();
    contents.push_str(text);
    std::fs::write(path, contents).unwrap();
}

/// An OTLP receiver on 127.0.0.1: each `POST /v1/traces` body is answered 200 and sent,
/// raw, to the returned channel.
fn otlp_receiver() -> (String, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            let Ok(connection) = connection else { return };
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(connection.try_clone().unwrap());
                let mut writer = connection;
                // Requests, one after another on a kept-alive connection.
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    assert!(request_line.starts_with("POST /v1/traces "), "{request_line}");
                    writer
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                    let _ = sender.send(body);
                }
            });
        }
    });
    (endpoint, receiver)
}

/// The spans of every request received so far (the process that sent them has exited:
/// it sends them all before).
fn received_spans(receiver: &std::sync::mpsc::Receiver<Vec<u8>>, bodies: &mut Vec<Vec<u8>>) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    let mut spans = Vec::new();
    while let Ok(body) = receiver.recv_timeout(std::time::Duration::from_millis(500)) {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf request");
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        bodies.push(body);
    }
    spans
}

fn attribute<'a>(span: &'a opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<&'a opentelemetry_proto::tonic::common::v1::any_value::Value> {
    span.attributes.iter().find(|attribute| attribute.key == key)?.value.as_ref()?.value.as_ref()
}

#[test]
fn spans_are_sent_over_otlp_under_the_traceparent() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let tanto = Tanto::new();
    let (endpoint, receiver) = otlp_receiver();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let nonce = nonce();
    let wasm = guest_wasm("api");
    let secret = format!("otlp-secret-{nonce}");
    let traced = |args: &[&str]| {
        let output = tanto
            .command()
            .args(args)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("TRACEPARENT", format!("00-{trace_id}-{parent_id}-01"))
            .env("PROBE_TOKEN", &secret)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    let args = ["call", "-m", wasm.to_str().unwrap(), "run-script", &format!("--script=echo {nonce}")];
    let mut bodies = Vec::new();
    traced(&args);
    let first = received_spans(&receiver, &mut bodies);

    let hex = |bytes: &[u8]| bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>();
    let root = first.iter().find(|span| span.name == "tanto").expect("a root span");
    assert_eq!(hex(&root.trace_id), trace_id);
    assert_eq!(hex(&root.parent_span_id), parent_id);
    assert!(first.iter().all(|span| hex(&span.trace_id) == trace_id), "{first:?}");
    let call = first.iter().find(|span| span.name == "run-script").expect("a span for the call");
    assert_eq!(call.parent_span_id, root.span_id);
    let step = first.iter().find(|span| span.name.starts_with("sh -c")).expect("a span for the step");
    assert_eq!(step.parent_span_id, call.span_id);
    assert_eq!(attribute(step, "tanto.step.cached"), Some(&Value::BoolValue(false)));
    assert_eq!(attribute(step, "tanto.step.exit_code"), Some(&Value::IntValue(0)));
    let Some(Value::StringValue(key)) = attribute(step, "tanto.step.key") else {
        panic!("a step key: {step:?}")
    };
    assert!(step.end_time_unix_nano > step.start_time_unix_nano);

    traced(&args);
    let second = received_spans(&receiver, &mut bodies);
    let step = second.iter().find(|span| span.name.starts_with("sh -c")).expect("a span for the cached step");
    assert_eq!(attribute(step, "tanto.step.cached"), Some(&Value::BoolValue(true)));
    assert_eq!(attribute(step, "tanto.step.key"), Some(&Value::StringValue(key.clone())));
    let root = second.iter().find(|span| span.name == "tanto").expect("a root span");
    assert_eq!(hex(&root.parent_span_id), parent_id);

    // A step using a secret: its value is in no span.
    traced(&["call", "-m", wasm.to_str().unwrap(), "secret-echo", "--token=env://PROBE_TOKEN"]);
    let spans = received_spans(&receiver, &mut bodies);
    assert!(spans.iter().any(|span| span.name == "secret-echo"), "{spans:?}");
    for body in &bodies {
        assert!(!body.windows(secret.len()).any(|window| window == secret.as_bytes()), "a secret was sent");
    }
    tanto.assert_no_leftovers();
}

#[test]
fn a_step_waiting_for_a_run_permit_is_shown_queued() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("cache");
    let args = |nonce: &str| {
        ["call", "-m", wasm.to_str().unwrap(), "-j", "1", "parallel-sleeps", "--count=2", "--seconds=1"]
            .map(str::to_string)
            .into_iter()
            .chain([format!("--nonce={nonce}")])
            .collect::<Vec<_>>()
    };
    // Two steps at once, one permit: one of them waits, then runs.
    let plain = tanto.command().args(args(&nonce())).output().unwrap();
    assert!(plain.status.success(), "{plain:?}");
    let plain = String::from_utf8(plain.stderr).unwrap();
    let queued = plain
        .lines()
        .find_map(|line| line.split_once(" QUEUED "))
        .unwrap_or_else(|| panic!("a queued step:\n{plain}"));
    let (queued_id, description) = queued;
    let started = plain.find(&format!("{queued_id} {description}\n")).expect("the queued step starts");
    assert!(plain.find(" QUEUED ").unwrap() < started, "{plain}");
    assert!(plain.contains(&format!("{queued_id} DONE ")), "{plain}");

    let json = tanto.command_with_progress("json").args(args(&nonce())).output().unwrap();
    assert!(json.status.success(), "{json:?}");
    let events: Vec<serde_json::Value> = String::from_utf8(json.stderr)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let queued = events.iter().position(|event| event["event"] == "queued").expect("a queued event");
    let step = &events[queued]["step"];
    let started = events
        .iter()
        .position(|event| event["event"] == "started" && &event["step"] == step)
        .expect("started after");
    assert!(queued < started);
    tanto.assert_no_leftovers();
}
