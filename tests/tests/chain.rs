//! The command line as a newcomer uses it: methods chained after a function (`tanto call
//! FUNCTION ... with-exec --args=ls stdout`), tanto's own options anywhere, help and
//! errors built from the schema, and a project's module in `.tanto/`. Snapshots show what
//! a user sees; each chained result is also checked byte for byte.

use std::path::Path;

use tanto_tests::{Run, Tanto, guest_wasm, write};

/// `tanto call -m api.wasm pass-through --base=busybox:latest --marker=marked` followed by
/// `chain`: a busybox container with `/marker.txt` holding `marked`.
fn chained(tanto: &Tanto, chain: &[&str]) -> Run {
    let mut args = vec!["--base=busybox:latest", "--marker=marked"];
    args.extend_from_slice(chain);
    tanto.call_guest("api", "pass-through", &args)
}

/// Exit code and stderr, with the guest's and `dir`'s paths redacted.
fn shown(run: &Run, dir: &Path) -> String {
    let text = run
        .stderr
        .replace(&guest_wasm("api").display().to_string(), "[API]")
        .replace(&dir.display().to_string(), "[DIR]");
    let lines: Vec<&str> = text.lines().filter(|line| !line.starts_with('[')).collect();
    format!("exit: {:?}\n{}", run.code, lines.join("\n"))
}

const MAKE_TREE: &str = "--args=sh,-c,mkdir -p /out/sub && printf one > /out/a.txt && printf two > /out/sub/b.txt";

#[test]
fn chained_calls_of_each_kind() {
    let tanto = Tanto::new();
    let out = tempfile::tempdir().unwrap();
    let mut shown = String::new();
    let mut show = |chain: &[&str], stdout: &str| {
        shown.push_str(&format!("$ ... {}\n{stdout}", chain.join(" ")));
        if !stdout.ends_with('\n') {
            shown.push('\n');
        }
    };

    // A container: builders, then each of its terminal methods.
    let chain = [
        "with-env-variable",
        "--name=GREETING",
        "--value=hi there",
        "with-exec",
        "--args=sh,-c,echo $GREETING",
        "stdout",
    ];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "hi there\n");
    show(&chain, &run.stdout);
    // A repeated list flag is one item each, commas and all.
    let chain = ["with-exec", "--args=sh", "--args=-c", "--args=echo a,b >&2", "stderr"];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "a,b\n");
    show(&chain, &run.stdout);
    let chain = ["with-exec", "--args=true", "exit-code"];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "0\n");
    show(&chain, &run.stdout);
    let chain = ["with-exec", "--args=true", "sync"];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "");
    show(&chain, &run.stdout);

    // A file of the container: its contents, then written to the host.
    let chain = ["file", "--path=/marker.txt", "contents"];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "marked");
    show(&chain, &run.stdout);
    let marker = out.path().join("files/marker.txt");
    let export = format!("--path={}", marker.display());
    let run = chained(&tanto, &["file", "--path=/marker.txt", "export", &export]).success();
    assert_eq!(run.stdout, format!("{}\n", marker.display()));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "marked", "parents are created");

    // A directory of the container: entries, a subdirectory (`directory`, the API's
    // `subdirectory`), a file in it, then the whole tree written to the host.
    let chain = ["with-exec", MAKE_TREE, "directory", "--path=/out", "entries"];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "a.txt\nsub/\n");
    show(&chain, &run.stdout);
    let chain = [
        "with-exec",
        MAKE_TREE,
        "directory",
        "--path=/out",
        "directory",
        "--path=sub",
        "file",
        "--path=b.txt",
        "contents",
    ];
    let run = chained(&tanto, &chain).success();
    assert_eq!(run.stdout, "two");
    show(&chain, &run.stdout);
    let tree = out.path().join("tree");
    write(&tree, "kept.txt", "already there");
    let export = format!("--path={}", tree.display());
    chained(&tanto, &["with-exec", MAKE_TREE, "directory", "--path=/out", "export", &export]).success();
    assert_eq!(std::fs::read_to_string(tree.join("a.txt")).unwrap(), "one");
    assert_eq!(std::fs::read_to_string(tree.join("sub/b.txt")).unwrap(), "two");
    assert_eq!(
        std::fs::read_to_string(tree.join("kept.txt")).unwrap(),
        "already there",
        "export merges into a folder"
    );

    // A container written as an image archive, as Dagger's `export --path` does: `docker
    // load` reads it and the image runs.
    let archive = out.path().join("image.tar");
    let export = format!("--path={}", archive.display());
    chained(&tanto, &["with-exec", "--args=true", "export", &export]).success();
    let loaded = tanto_tests::docker(&["load", "-q", "-i", &archive.display().to_string()]);
    let image = loaded.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(tanto_tests::docker(&["run", "--rm", &image, "cat", "/marker.txt"]), "marked");
    tanto_tests::docker(&["rmi", &image]);

    insta::assert_snapshot!(shown);
    tanto.assert_no_leftovers();
}

#[test]
fn chain_errors_name_the_link() {
    let tanto = Tanto::new();
    let dir = tempfile::tempdir().unwrap();
    let mut errors = String::new();
    let cases: &[&[&str]] = &[
        &["directory", "--path=/etc", "stdout"],
        &["with-exec", "--args=true", "--foo=1", "stdout"],
        &["with-exec", "stdout"],
        &["file", "--path=/marker.txt", "contents", "export", "--path=x"],
        &["stdot"],
    ];
    for chain in cases {
        let run = chained(&tanto, chain).failure(2);
        errors.push_str(&format!("$ ... {}\n{}\n\n", chain.join(" "), shown(&run, dir.path())));
    }
    // A file result where a folder stands is the user's to fix, and names the path.
    let folder = format!("{}", dir.path().display());
    let run = chained(&tanto, &["file", "--path=/marker.txt", "-o", &folder]).failure(2);
    errors.push_str(&format!("$ ... file --path=/marker.txt -o [DIR]\n{}\n", shown(&run, dir.path())));
    insta::assert_snapshot!(errors);
    tanto.assert_no_leftovers();
}

#[test]
fn own_options_anywhere_help_and_the_function_list() {
    let tanto = Tanto::new();
    let dir = tempfile::tempdir().unwrap();
    // tanto's own options after the function, before and after its arguments.
    let run = tanto.call_guest("api", "workdir", &["--no-cache", "--path=/x", "-j", "2", "--json"]).success();
    assert_eq!(run.stdout.trim(), "\"/x\\n\"");
    // No function: the functions, with what they return, and a usage error.
    let run = tanto.run(&["call", "-m", guest_wasm("api").to_str().unwrap()]).failure(2);
    let listed = shown(&run, dir.path());
    assert!(
        listed.contains("configured -> Container") && listed.contains("read-dir -> [String]"),
        "{listed}"
    );
    // Help from the schema, for a function and for a chained method.
    let help = tanto.call_guest("api", "copy-filtered", &["--help"]).success();
    insta::assert_snapshot!("function_help", help.stdout);
    let help = chained(&tanto, &["with-exec", "--help"]).success();
    insta::assert_snapshot!("method_help", help.stdout);
    // Shell completions know the commands and their options.
    for shell in ["bash", "zsh", "fish"] {
        let script = tanto.run(&["completion", shell]).success().stdout;
        assert!(script.contains("functions") && script.contains("no-cache"), "{shell}:\n{script}");
    }
    // A near miss gets a suggestion.
    let run = tanto.call_guest("api", "wrkdir", &[]).failure(2);
    assert!(run.stderr.contains("(did you mean `workdir`?)"), "{}", run.stderr);
}

#[test]
fn init_in_a_project_makes_its_module_in_dot_tanto_found_from_anywhere() {
    let tanto = Tanto::new();
    let project = tempfile::tempdir().unwrap();
    let root = project.path().join("shop");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    write(&root, "src/deep/main.c", "int main() {}\n");
    let run = tanto.run_in(&root, &["init", "--sdk=rust"]).success();
    assert!(run.stderr.contains(".tanto"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join(".tanto/tanto.toml")).unwrap(),
        "name = \"shop\"\nsdk = \"rust\"\n"
    );
    assert!(
        !root.join("tanto.toml").exists() && !root.join("Cargo.toml").exists(),
        "the project's own files are left alone"
    );
    let deep = root.join("src/deep");
    let run = tanto.run_in(&deep, &["functions"]).success();
    assert!(run.stdout.contains("container-echo -> Container"), "{}", run.stdout);
    // The README's quick start, ending in `stdout`.
    let run = tanto.run_in(&deep, &["call", "container-echo", "--text=hi", "stdout"]).success();
    assert_eq!(run.stdout, "hi\n");
    let again = tanto.run_in(&root, &["init", "--sdk=rust"]).failure(2);
    assert!(again.stderr.contains("already has a tanto.toml"), "{}", again.stderr);
    tanto.assert_no_leftovers();
}
