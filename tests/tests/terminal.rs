//! Interactive shells on a real pseudo-terminal (made by util-linux `script`): `tanto
//! call ... terminal`, `container.terminal` from a module, and `tanto call -i` opening a
//! shell in a failed step's state. Each test types commands, reads what the shell
//! printed, checks the exit status, and that nothing (container, debug image) is left.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tanto_tests::{Tanto, docker, guest_wasm, tanto_bin, unique};

/// How long a shell may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(90);

/// `tanto ARGS` on a pseudo-terminal: what a user types goes to its stdin (the terminal's
/// keyboard), and everything the terminal shows is collected.
struct Terminal {
    child: Child,
    keyboard: ChildStdin,
    screen: Arc<Mutex<String>>,
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Terminal {
    /// Starts `tanto ARGS` with `-m` the api guest, after `setup` (shell commands run on the
    /// terminal first, such as `stty rows 40 cols 100;`).
    fn start(tanto: &Tanto, setup: &str, args: &[&str]) -> Self {
        let fixture = tanto.command();
        let line = format!(
            "{setup} exec {} {} {}",
            shell_quote(tanto_bin().to_str().expect("utf-8 path")),
            fixture.get_args().map(|arg| shell_quote(&arg.to_string_lossy())).collect::<Vec<_>>().join(" "),
            args.iter().map(|arg| shell_quote(arg)).collect::<Vec<_>>().join(" ")
        );
        let mut command = Command::new("script");
        command
            .args(["-qefc", &line, "/dev/null"])
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in fixture.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let mut child = command.spawn().expect("script (util-linux) runs");
        let keyboard = child.stdin.take().expect("stdin");
        let mut output = child.stdout.take().expect("stdout");
        let screen = Arc::new(Mutex::new(String::new()));
        let shown = screen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(count) = output.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                shown.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..count]));
            }
        });
        Self { child, keyboard, screen }
    }

    fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until the terminal shows `text`.
    #[track_caller]
    fn expect(&self, text: &str) {
        let started = Instant::now();
        while !self.screen().contains(text) {
            assert!(started.elapsed() < PATIENCE, "the terminal never showed {text:?}:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `keys`.
    fn type_keys(&mut self, keys: &str) {
        self.keyboard.write_all(keys.as_bytes()).expect("typing");
        self.keyboard.flush().expect("typing");
    }

    /// The id of the `tanto` process `script` runs.
    fn tanto_pid(&self) -> u32 {
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).expect("script's children");
        children.split_whitespace().next().expect("script runs tanto").parse().expect("a pid")
    }

    /// Waits for tanto to exit; returns its exit code and everything the terminal showed.
    #[track_caller]
    fn finish(mut self) -> (i32, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The reader drains what is left once the terminal closes.
                std::thread::sleep(Duration::from_millis(200));
                return (status.code().unwrap_or(-1), self.screen());
            }
            if started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("tanto did not exit:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A test that fails midway stops its tanto as Ctrl-C would (SIGTERM: tanto removes its
/// shell), so that no shell is left running.
impl Drop for Terminal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id();
            if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                && let Some(tanto) = children.split_whitespace().next()
            {
                let _ = Command::new("kill").arg("-TERM").arg(tanto).status();
                std::thread::sleep(Duration::from_secs(3));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn api() -> String {
    guest_wasm("api").to_str().expect("utf-8 path").to_string()
}

/// Panics if a container or a debug image of this session is left.
#[track_caller]
fn assert_nothing_left(tanto: &Tanto) {
    tanto.assert_no_leftovers();
    let images = docker(&["image", "ls", "-aq", "--filter", &format!("label=tanto.session={}", tanto.session)]);
    assert!(images.trim().is_empty(), "debug images left behind: {images}");
}

#[test]
fn terminal_opens_a_shell_with_the_containers_env_workdir_user_and_cache_and_exits_with_its_status() {
    let tanto = Tanto::new();
    let cache_key = unique("terminal-cache");
    let api = api();
    let mut terminal = Terminal::start(
        &tanto,
        "stty rows 40 cols 100;",
        &["call", "-m", &api, "debuggable", &format!("--cache-key={cache_key}"), "terminal"],
    );
    terminal.expect("a shell in the container");
    terminal.type_keys("echo \"FOO=[$FOO]\" \"PWD=[$(pwd)]\" \"UID=[$(id -u)]\" \"SIZE=[$(stty size)]\" \"CACHE=[$(cat /cache/step.txt)]\"; cat built.txt; echo kept > /cache/mark\r");
    terminal.expect("FOO=[foo-value] PWD=[/work] UID=[65534] SIZE=[40 100] CACHE=[from-step]");
    terminal.expect("built\r\n");
    terminal.type_keys("exit 3\r");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 3, "the shell's exit status is tanto's:\n{screen}");
    assert_nothing_left(&tanto);
    // The cache volume was mounted read-write, as for a step.
    let read = tanto
        .call_guest(
            "api",
            "debuggable",
            &[&format!("--cache-key={cache_key}"), "with-exec", "--args=cat,/cache/mark", "stdout"],
        )
        .success();
    assert_eq!(read.stdout, "kept\n");
}

#[test]
fn terminal_reaches_the_services_the_container_binds() {
    let tanto = Tanto::new();
    let services = guest_wasm("services").to_str().expect("utf-8 path").to_string();
    let page = unique("served to the shell");
    let mut terminal = Terminal::start(&tanto, "", &["call", "-m", &services, "client", &format!("--page={page}"), "terminal"]);
    terminal.expect("a shell in the container");
    terminal.type_keys("wget -qO- http://web/index.html; echo; echo \"got=$?\"\r");
    terminal.expect(&format!("{page}\r\ngot=0"));
    terminal.type_keys("exit\r");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    // The service stopped with the shell: nothing of the run is left.
    assert_nothing_left(&tanto);
}

#[test]
fn terminal_follows_the_terminals_size_and_ctrl_c_reaches_the_shell() {
    let tanto = Tanto::new();
    let api = api();
    // A few seconds in, the terminal is resized, as a user dragging its window does
    // (the kernel sends SIGWINCH to tanto).
    let mut terminal = Terminal::start(
        &tanto,
        "stty rows 30 cols 90; (sleep 4; stty rows 22 cols 77 </dev/tty) &",
        &["call", "-m", &api, "debuggable", "--cache-key=resize", "terminal", "--cmd=/bin/sh"],
    );
    terminal.expect("a shell in the container");
    terminal.type_keys("while [ \"$(stty size)\" != '22 77' ]; do sleep 0.2; done; echo \"RESIZED TO $(stty size)\"\r");
    terminal.expect("RESIZED TO 22 77");
    // Ctrl-C interrupts the shell's command, not tanto.
    terminal.type_keys("sleep 600\r");
    std::thread::sleep(Duration::from_millis(500));
    terminal.type_keys("\x03");
    terminal.type_keys("echo \"STILL $((40 + 2))\"\r");
    terminal.expect("STILL 42");
    terminal.type_keys("exit\r");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert_nothing_left(&tanto);
}

#[test]
fn a_module_calling_terminal_gets_the_shells_exit_code_and_an_unchanged_container() {
    let tanto = Tanto::new();
    let api = api();
    let mut terminal = Terminal::start(&tanto, "", &["call", "-m", &api, "shell", "--cache-key=module-shell", "--cmd=/bin/sh"]);
    terminal.expect("a shell in the container");
    terminal.type_keys("touch made-in-shell; exit 5\r");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("shell exited with 5; /work holds built.txt"), "{screen}");
    assert_nothing_left(&tanto);
}

#[test]
fn interactive_opens_a_shell_where_the_step_failed_and_ends_with_the_failure() {
    let tanto = Tanto::new();
    let api = api();
    let script = "echo evidence > /work/evidence.txt; echo oops >&2; exit 7";
    let mut terminal = Terminal::start(
        &tanto,
        "",
        &["call", "-i", "-m", &api, "broken", "--cache-key=interactive", &format!("--script={script}")],
    );
    terminal.expect("a shell in the failed step's state");
    terminal.type_keys("echo \"SEEN=[$(cat evidence.txt)]\" \"FOO=[$FOO]\" \"PWD=[$(pwd)]\"\r");
    terminal.expect("SEEN=[evidence] FOO=[foo-value] PWD=[/work]");
    terminal.type_keys("exit 0\r");
    let (code, screen) = terminal.finish();
    assert_eq!(code, 1, "the run ends with the step's failure:\n{screen}");
    assert!(screen.contains("exited with code 7"), "{screen}");
    assert_nothing_left(&tanto);
}

#[test]
fn a_killed_tanto_leaves_its_shell_and_debug_image_to_the_next_runs_sweep() {
    let tanto = Tanto::new();
    let api = api();
    let mut terminal = Terminal::start(
        &tanto,
        "",
        &["call", "-i", "-m", &api, "broken", "--cache-key=killed", "--script=touch /work/x; exit 4"],
    );
    terminal.expect("a shell in the failed step's state");
    terminal.type_keys("echo \"READY $((1 + 1))\"\r");
    terminal.expect("READY 2");
    let filter = format!("label=tanto.session={}", tanto.session);
    assert!(
        !docker(&["image", "ls", "-aq", "--filter", &filter]).trim().is_empty(),
        "the failed step was committed"
    );
    let status = Command::new("kill").arg("-9").arg(tanto_pid_text(&terminal)).status().expect("kill runs");
    assert!(status.success());
    let _ = terminal.finish();
    assert!(!docker(&["ps", "-aq", "--filter", &filter]).trim().is_empty(), "the killed run left its shell");
    // The next run sweeps what the killed one left: its shell and its debug image.
    tanto.call_guest("api", "secret-name", &["--token=env://HOME"]).success();
    assert_nothing_left(&tanto);
}

fn tanto_pid_text(terminal: &Terminal) -> String {
    terminal.tanto_pid().to_string()
}

#[test]
fn shells_without_a_terminal_are_refused_clearly() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("api", "debuggable", &["--cache-key=no-tty", "terminal"]).failure(2);
    assert!(
        run.stderr
            .contains("`terminal` opens an interactive shell, which needs an interactive terminal"),
        "{}",
        run.stderr
    );
    let run = tanto
        .run(&["call", "-i", "-m", &api(), "broken", "--cache-key=no-tty", "--script=exit 1"])
        .failure(2);
    assert!(
        run.stderr
            .contains("--interactive opens a shell when a step fails, which needs an interactive terminal"),
        "{}",
        run.stderr
    );
    // From a module, the call fails with an error the module can handle.
    let run = tanto.call_guest("api", "shell", &["--cache-key=no-tty", "--cmd=/bin/sh"]).failure(1);
    assert!(run.stderr.contains("container.terminal needs an interactive terminal"), "{}", run.stderr);
    assert_nothing_left(&tanto);
}
