//! Module constructors and shell completion: a module whose object takes arguments before
//! the function (`tanto call --greeting=hi greet --name=ada`), as `tanto functions`,
//! `tanto call --help` and errors show it, cached by value; a module calling such a
//! dependency through the API `tanto develop` generates; and the completion of the
//! module in the current folder, asked the way the shell scripts ask.

use std::path::Path;
use std::process::Command;

use tanto_tests::{Tanto, tanto_bin, write, write_module};

/// A module with a constructor: its greeting, repeat count and an optional folder are
/// given once, before the function.
const GREETER: &str = r#"
mod dependencies;
use tanto_sdk::{Container, Directory, Error, Result, dag};

/// Greets in busybox containers.
pub struct Greeter {
    greeting: String,
    times: i64,
    source: Option<Directory>,
}

#[tanto_sdk::module]
impl Greeter {
    /// Keeps what every function uses.
    pub fn new(
        #[arg(description = "how to greet")] greeting: String,
        #[arg(description = "how many times", default = 1)] times: i64,
        #[arg(description = "a folder with names.txt")] source: Option<Directory>,
    ) -> Result<Self> {
        if times < 1 {
            return Err(Error::InvalidArgument(format!("--times must be at least 1, got {times}")));
        }
        Ok(Greeter { greeting, times, source })
    }

    /// Greets `name` from a container.
    pub fn greet(&self, #[arg(description = "who to greet")] name: String) -> Result<String> {
        self.busybox()
            .with_exec(["sh", "-c", "for i in $(seq \"$0\"); do echo \"$1, $2\"; done", &self.times.to_string(), &self.greeting, &name])
            .stdout()
    }

    /// Greets everyone in the source folder's names.txt.
    pub fn greet_all(&self) -> Result<String> {
        let source = self.source.as_ref().ok_or_else(|| Error::InvalidArgument("greet-all needs --source".into()))?;
        self.busybox()
            .with_file("/names.txt", &source.file("names.txt"))
            .with_exec(["sh", "-c", "while read name; do echo \"$0, $name\"; done < /names.txt", &self.greeting])
            .stdout()
    }

    /// The container the greetings run in.
    pub fn base(&self) -> Container {
        self.busybox()
    }

    fn busybox(&self) -> Container {
        dag().container().from("busybox:latest")
    }
}
"#;

/// A module calling the greeter with constructor arguments, through `tanto develop`'s API.
const APP: &str = r#"
mod dependencies;
use dependencies::Dependencies;
use tanto_sdk::{Result, dag};

#[derive(Default)]
pub struct App;

#[tanto_sdk::module]
impl App {
    /// Has the greeter greet twice with `greeting`.
    pub fn welcome(&self, greeting: String, name: String) -> Result<String> {
        dag().greeter(greeting, Some(2), None).greet(name)
    }

    /// Calls the greeter without its required greeting.
    pub fn forgetful(&self) -> Result<String> {
        dag().call_constructed("greeter", Vec::new(), "greet", vec![("name", tanto_sdk::value::IntoValue::into_value("x".to_string()))])
    }
}
"#;

/// The greeter as the module `name` in a new folder. Each test names its own: modules
/// share the suite's cargo target folder, where one of the same name would replace the
/// component another test just built (and make its build stale).
fn greeter(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let workspace = tempfile::tempdir().unwrap();
    let module = workspace.path().join(name);
    write_module(&module, name, GREETER, &[]);
    (workspace, module)
}

#[test]
fn constructor_arguments_are_given_before_the_function() {
    let tanto = Tanto::new();
    let (_workspace, module) = greeter("greeter-given");

    // Given, defaulted, and an object argument relative to the current folder.
    let run = tanto.run_in(&module, &["call", "--greeting=hi", "greet", "--name=ada"]).success();
    assert_eq!(run.stdout, "hi, ada\n");
    let run = tanto
        .run_in(&module, &["call", "--greeting", "yo", "--times=2", "greet", "--name", "bob"])
        .success();
    assert_eq!(run.stdout, "yo, bob\nyo, bob\n");
    write(&module, "people/names.txt", "ada\nbob\n");
    let run = tanto
        .run_in(&module, &["call", "--greeting=hey", "--source=people", "greet-all", "--no-cache"])
        .success();
    assert_eq!(run.stdout, "hey, ada\nhey, bob\n");
    // Then methods of what the function returned.
    let run = tanto
        .run_in(&module, &["call", "--greeting=hi", "base", "with-exec", "--args=echo,chained", "stdout"])
        .success();
    assert_eq!(run.stdout, "chained\n");
    // The constructor's own error.
    let run = tanto.run_in(&module, &["call", "--greeting=hi", "--times=0", "greet", "--name=x"]).failure(1);
    assert!(run.stderr.contains("--times must be at least 1, got 0"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn constructor_errors_and_help() {
    let tanto = Tanto::new();
    let (_workspace, module) = greeter("greeter");

    let unknown = tanto.run_in(&module, &["call", "--greting=hi", "greet", "--name=ada"]).failure(2);
    assert!(
        unknown
            .stderr
            .contains("module `greeter` has no constructor argument `--greting` (did you mean `greeting`?)"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("--greeting String"),
        "the constructor's arguments are listed: {}",
        unknown.stderr
    );
    let missing = tanto.run_in(&module, &["call", "greet", "--name=ada"]).failure(2);
    assert!(
        missing.stderr.contains("module `greeter` needs `--greeting` before the function"),
        "{}",
        missing.stderr
    );
    let misplaced = tanto.run_in(&module, &["call", "greet", "--name=ada", "--greeting=hi"]).failure(2);
    assert!(
        misplaced
            .stderr
            .contains("`--greeting` is an argument of module `greeter`'s constructor, not of function `greet`"),
        "{}",
        misplaced.stderr
    );

    // `tanto functions`, `tanto call FUNCTION --help` and `tanto call --help` show them.
    let functions = tanto.run_in(&module, &["functions"]).success().stdout;
    assert!(
        functions.contains("Constructor arguments of module `greeter`, given before the function"),
        "{functions}"
    );
    assert!(
        functions.contains("--times Integer") && functions.contains("how many times (default: 1)"),
        "{functions}"
    );
    assert!(functions.contains("--source Directory?"), "{functions}");
    let help = tanto.run_in(&module, &["call", "greet", "--help"]).success().stdout;
    assert!(help.contains("--name String") && help.contains("--greeting String"), "{help}");
    let help = tanto.run_in(&module, &["call", "--greeting=hi", "--help"]).success().stdout;
    assert!(help.contains("--greeting String") && help.contains("greet-all"), "{help}");
    // clap's help of `call`, then the module's, read from its last build.
    let help = tanto.run_in(&module, &["call", "--help"]).success().stdout;
    assert!(help.contains("--no-cache"), "{help}");
    assert!(help.contains("Module `greeter`") && help.contains("--greeting String"), "{help}");
}

#[test]
fn calls_are_cached_per_constructor_value() {
    let tanto = Tanto::new();
    let (_workspace, module) = greeter("greeter-cached");
    let first = tanto.run_in(&module, &["call", "--greeting=hi", "greet", "--name=ada"]).success();
    assert!(first.stderr.contains("DONE"), "{}", first.stderr);
    let again = tanto.run_in(&module, &["call", "--greeting=hi", "greet", "--name=ada"]).success();
    assert!(again.stderr.contains("CACHED") && !again.stderr.contains("DONE"), "{}", again.stderr);
    let other = tanto.run_in(&module, &["call", "--greeting=hello", "greet", "--name=ada"]).success();
    assert_eq!(other.stdout, "hello, ada\n");
    assert!(other.stderr.contains("DONE"), "another greeting is another step: {}", other.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn a_module_passes_constructor_arguments_to_its_dependency() {
    let tanto = Tanto::new();
    let workspace = tempfile::tempdir().unwrap();
    write_module(&workspace.path().join("greeter"), "greeter-dependency", GREETER, &[]);
    let app = workspace.path().join("app");
    write_module(&app, "constructor-app", APP, &[("greeter", "../greeter")]);
    tanto.run_in(&app, &["develop"]).success();
    let bindings = std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap();
    assert!(
        bindings.contains("fn greeter(&self, greeting: String, times: Option<i64>, source: Option<Directory>) -> Greeter;"),
        "{bindings}"
    );
    assert!(bindings.contains("pub fn greet(self, name: String) -> Result<String>"), "{bindings}");

    let run = tanto.run_in(&app, &["call", "welcome", "--greeting=ahoy", "--name=ada"]).success();
    assert_eq!(run.stdout, "ahoy, ada\nahoy, ada\n");
    let run = tanto.run_in(&app, &["call", "forgetful"]).failure(1);
    assert!(
        run.stderr
            .contains("the constructor of module `greeter-dependency`: missing required argument `greeting`"),
        "{}",
        run.stderr
    );
    tanto.assert_no_leftovers();
}

/// `tanto __complete SHELL -- WORDS...` in `dir`, as the completion scripts run it.
fn complete(tanto: &Tanto, dir: &Path, shell: &str, words: &[&str]) -> (Option<i32>, Vec<String>) {
    let output = tanto.command().args(["__complete", shell, "--"]).args(words).current_dir(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    (output.status.code(), stdout.lines().map(str::to_string).collect())
}

#[test]
fn completion_offers_the_module_in_the_current_folder() {
    let tanto = Tanto::new();
    let (workspace, module) = greeter("greeter-completed");

    // Nothing built yet: the static completion answers.
    let (code, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", ""]);
    assert_eq!((code, candidates.len()), (Some(1), 0), "{candidates:?}");
    tanto.run_in(&module, &["functions"]).success();

    let (code, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", ""]);
    assert_eq!(code, Some(0));
    assert_eq!(candidates, ["greet", "greet-all", "base"]);
    let (_, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", "--gr"]);
    assert_eq!(candidates, ["--greeting"]);
    let (_, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", "--"]);
    assert!(
        candidates.contains(&"--times".to_string()) && candidates.contains(&"--no-cache".to_string()),
        "constructor arguments and tanto's own options: {candidates:?}"
    );
    let (_, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", "--greeting", "hi", "greet-"]);
    assert_eq!(candidates, ["greet-all"]);
    let (_, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", "--greeting=hi", "greet", "--n"]);
    assert_eq!(candidates, ["--name", "--no-cache"], "the function's arguments, then tanto's own options");
    let (_, candidates) = complete(&tanto, &module, "bash", &["tanto", "call", "--greeting=hi", "base", "with-e"]);
    assert!(candidates.contains(&"with-exec".to_string()), "{candidates:?}");
    // fish shows what each is.
    let (_, candidates) = complete(&tanto, &module, "fish", &["tanto", "call", "greet-"]);
    assert_eq!(candidates, ["greet-all\tGreets everyone in the source folder's names.txt."]);

    // From a folder inside a project whose module is in .tanto/, and from anywhere with -m.
    let project = workspace.path().join("project");
    write_module(&project.join(".tanto"), "greeter-project", GREETER, &[]);
    write(&project, "src/main.txt", "a project\n");
    tanto.run_in(&project, &["functions"]).success();
    let (_, candidates) = complete(&tanto, &project.join("src"), "zsh", &["tanto", "call", "greet-"]);
    assert_eq!(candidates, ["greet-all"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let module_arg = module.display().to_string();
    let (_, candidates) = complete(&tanto, elsewhere.path(), "bash", &["tanto", "call", "-m", &module_arg, "ba"]);
    assert_eq!(candidates, ["base"]);
    // No module: silent, and the static completion answers.
    let (code, candidates) = complete(&tanto, elsewhere.path(), "bash", &["tanto", "call", ""]);
    assert_eq!((code, candidates.len()), (Some(1), 0));
    // A changed source is not built by a completion: static again until the next build.
    std::fs::write(module.join("src/lib.rs"), format!("{GREETER}\n// changed\n")).unwrap();
    let (code, _) = complete(&tanto, &module, "bash", &["tanto", "call", ""]);
    assert_eq!(code, Some(1));
}

#[test]
fn the_bash_script_completes_functions_through_the_hook() {
    let tanto = Tanto::new();
    let (_workspace, module) = greeter("greeter-bash");
    tanto.run_in(&module, &["functions"]).success();
    let script = tanto.run(&["completion", "bash"]).success().stdout;
    let script_file = module.join("tanto.bash");
    std::fs::write(&script_file, script).unwrap();
    // bash as it runs the hook on <TAB>: the line up to the cursor, the words, the index.
    let probe = format!(
        "source {}; COMP_LINE='tanto call --greeting=hi gr'; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(tanto call --greeting = hi gr); COMP_CWORD=5; \
         _tanto_module tanto gr hi; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
         COMP_LINE='tanto cal'; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(tanto cal); COMP_CWORD=1; _tanto_module tanto cal tanto; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script_file.display()
    );
    let bin_dir = tanto_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("bash");
    command.arg("-c").arg(&probe).current_dir(&module).env("PATH", path);
    for (name, value) in tanto.command().get_envs() {
        if let Some(value) = value {
            command.env(name, value);
        }
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // The module's functions after `call`; clap's static completion of subcommands before.
    assert_eq!(lines, ["greet", "greet-all", "call"], "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
}
