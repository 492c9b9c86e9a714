//! The hostile-module suite: guest modules (tests/guests/escaper, schema-forger) and
//! modules written here that try, as a third-party module author would, to read or write
//! host files they were not given. Each test checks that no host file outside the target
//! changed ([`Victim::assert_untouched`]) and that no host byte reached the module or its
//! outputs ([`Victim::assert_not_leaked`]).

use tanto_tests::{Run, Tanto, Victim, write_module};

/// `tanto call -m GUEST FUNCTION ARGS` with a marker in tanto's own environment, which
/// must never reach the module (`/proc/self/environ`).
fn call(tanto: &Tanto, guest: &str, function: &str, args: &[&str]) -> Run {
    tanto.call_guest(guest, function, args)
}

fn arg(name: &str, value: impl AsRef<std::path::Path>) -> String {
    format!("--{name}={}", value.as_ref().display())
}

pub mod escaper {
    use super::*;

    const GUEST: &str = "escaper";

    /// `a\..\0\file` beside `0 -> victim`, exported with `-o`: the name stays one file,
    /// the link stays a link, and a second export whose folder `0` replaces that link
    /// writes into the folder, never through the link. Absolute and relative links.
    #[test]
    fn exports_write_only_inside_the_target() {
        let tanto = Tanto::new().env("TANTO_HOSTILE_ENV", "env-marker");
        let victim = Victim::new();
        let out = victim.out();
        for target in [victim.root().display().to_string(), "../victim".to_string()] {
            let destination = out.join(if target.starts_with('/') { "absolute" } else { "relative" });
            let destination_arg = destination.display().to_string();
            let run = call(
                &tanto,
                GUEST,
                "backslash-tree",
                &[&format!("--target={target}"), "--name=file", "-o", &destination_arg],
            )
            .success();
            victim.assert_untouched();
            assert_eq!(std::fs::read_to_string(destination.join("a\\..\\0\\file")).unwrap(), "pwned");
            assert_eq!(std::fs::read_link(destination.join("0")).unwrap().display().to_string(), target);
            victim.assert_not_leaked(&run, &destination);

            // The same folder again: now `0` is a link on the host, and the tree has a
            // folder `0` with a file in it.
            let run = call(
                &tanto,
                GUEST,
                "link-then-file",
                &[&format!("--target={target}"), "--name=file", "-o", &destination_arg],
            )
            .success();
            victim.assert_untouched();
            assert!(std::fs::symlink_metadata(destination.join("0")).unwrap().is_dir());
            assert_eq!(std::fs::read_to_string(destination.join("0/file")).unwrap(), "pwned");
            victim.assert_not_leaked(&run, &destination);
        }
        tanto.assert_no_leftovers();
    }

    /// Links to a host file and folder, absolute and climbing, exported with `-o`: they
    /// are written as links, and nothing is read through them.
    #[test]
    fn exported_links_stay_links() {
        let tanto = Tanto::new();
        let victim = Victim::new();
        for target in [victim.file(), victim.root()] {
            let destination = victim.out().join(target.file_name().unwrap());
            let run = call(&tanto, GUEST, "links", &[&arg("target", &target), "-o", destination.to_str().unwrap()]).success();
            assert_eq!(std::fs::read_link(destination.join("abs")).unwrap(), target);
            assert!(std::fs::symlink_metadata(destination.join("rel")).unwrap().is_symlink());
            victim.assert_untouched();
            victim.assert_not_leaked(&run, &destination);
        }
        tanto.assert_no_leftovers();
    }

    /// `file("/leak")` and `with-file` of it, where `/leak` links to a host file (absolute,
    /// climbing) or to tanto's environment: the link resolves in the container, where
    /// those paths do not exist, so the module gets "not found", never the host's bytes.
    /// `-o` of such a file writes nothing.
    #[test]
    fn linked_files_are_never_read_from_the_host() {
        let tanto = Tanto::new().env("TANTO_HOSTILE_ENV", "env-marker-4711");
        let victim = Victim::new();
        let absolute = victim.file().display().to_string();
        let climbing = format!("../../../../../../../../../..{absolute}");
        for target in [absolute.as_str(), climbing.as_str(), "/proc/self/environ"] {
            for function in ["read-link", "with-file-link"] {
                let run = call(&tanto, GUEST, function, &[&format!("--target={target}")]).failure(1);
                assert!(run.stderr.contains("no such file or directory"), "{function} {target}: {}", run.stderr);
                victim.assert_not_leaked(&run, &victim.out());
                assert!(!run.stdout.contains("env-marker-4711") && !run.stderr.contains("env-marker-4711"));
            }
            let exported = victim.out().join("exported.txt");
            let run = call(&tanto, GUEST, "link-file", &[&format!("--target={target}"), "-o", exported.to_str().unwrap()]).failure(1);
            assert!(!exported.exists(), "{target}");
            victim.assert_not_leaked(&run, &victim.out());
            victim.assert_untouched();
        }
        tanto.assert_no_leftovers();
    }

    /// `directory("/leak")` and `with-directory` of it (into a folder, and into another
    /// container), where `/leak` links to a host folder: never listed or copied from the
    /// host.
    #[test]
    fn linked_folders_are_never_read_from_the_host() {
        let tanto = Tanto::new();
        let victim = Victim::new();
        let absolute = victim.root().display().to_string();
        let climbing = format!("../../../../../../../../../..{absolute}");
        for target in [absolute.as_str(), climbing.as_str()] {
            let run = call(&tanto, GUEST, "list-link", &[&format!("--target={target}")]).failure(1);
            assert!(run.stderr.contains("no such file or directory"), "{target}: {}", run.stderr);
            victim.assert_not_leaked(&run, &victim.out());
            let destination = victim.out().join("copied");
            let run = call(
                &tanto,
                GUEST,
                "with-directory-link",
                &[&format!("--target={target}"), "-o", destination.to_str().unwrap()],
            )
            .failure(1);
            victim.assert_not_leaked(&run, &victim.out());
            let run = call(&tanto, GUEST, "container-copy-link", &[&format!("--target={target}")]).failure(1);
            assert!(run.stderr.contains("no such file or directory"), "{target}: {}", run.stderr);
            victim.assert_not_leaked(&run, &victim.out());
            victim.assert_untouched();
        }
        tanto.assert_no_leftovers();
    }

    /// The hostile folders copied into a container (`with-directory`) and mounted
    /// (`with-mounted-directory`): the names and links arrive as they are, inside the
    /// container, and nothing on the host changes.
    #[test]
    fn copies_and_mounts_stay_inside_the_container() {
        let tanto = Tanto::new();
        let victim = Victim::new();
        let target = arg("target", victim.root());
        let run = call(&tanto, GUEST, "into-container", &[&target, "--name=file"]).success();
        assert_eq!(run.stdout, "in\nin/0\nin/a\\..\\0\\file\nin2\nin2/0\nin2/0/file\n");
        victim.assert_untouched();
        victim.assert_not_leaked(&run, &victim.out());
        let run = call(&tanto, GUEST, "mounted", &[&target, "--name=file"]).success();
        assert_eq!(run.stdout, "mnt\nmnt/0\nmnt/a\\..\\0\\file\nmnt2\nmnt2/0\nmnt2/0/file\n");
        victim.assert_untouched();
        victim.assert_not_leaked(&run, &victim.out());
        tanto.assert_no_leftovers();
    }

    /// Links that stay inside the container, absolute and climbing, to a file and a
    /// folder: `file()` and `directory()` read what a command in the container would.
    #[test]
    fn links_inside_a_container_resolve_inside_it() {
        let tanto = Tanto::new();
        let run = call(&tanto, GUEST, "inner-links", &[]).success();
        assert_eq!(run.stdout, "container-bytes\ncontainer-bytes\n[\"f\", \"sub/\"]");
        tanto.assert_no_leftovers();
    }
}

pub mod schema_forger {
    use super::*;

    /// The forger's `File` argument defaults to `/proc/self/environ`: refused when the
    /// schema loads, by `call` and `functions`, naming the module, function and argument.
    #[test]
    fn a_file_default_naming_a_host_path_is_refused() {
        let tanto = Tanto::new().env("TANTO_HOSTILE_ENV", "env-marker-0815");
        for args in [vec!["leak-environ"], vec!["leak-parent"]] {
            let run = tanto.call_guest("schema-forger", args[0], &[]).failure(2);
            assert!(
                run.stderr.contains(
                    "module \"schema-forger\" declares an invalid schema: function `leak-environ`: argument `source`: a File argument cannot have a default"
                ),
                "{}",
                run.stderr
            );
            assert!(!run.stdout.contains("env-marker-0815") && !run.stderr.contains("env-marker-0815"));
            insta::assert_snapshot!("file_default_refused", run.stderr);
        }
        let wasm = tanto_tests::guest_wasm("schema-forger");
        let run = tanto.run(&["functions", "-m", wasm.to_str().unwrap()]).failure(2);
        assert!(run.stderr.contains("a File argument cannot have a default"), "{}", run.stderr);
        tanto.assert_no_leftovers();
    }

    /// A schema written by hand: `describe` returning `schema`, `invoke` refusing all.
    fn forged_module(schema: &str) -> String {
        format!(
            r#"use tanto_sdk::schema::{{ArgumentSchema, FunctionSchema, ModuleSchema, TypeKind, TypeRef}};
use tanto_sdk::value::Value;

#[unsafe(no_mangle)]
fn __tanto_module_describe() -> ModuleSchema {{
    {schema}
}}

#[unsafe(no_mangle)]
fn __tanto_module_call(_constructor_arguments: Vec<(String, Value)>, function: &str, arguments: Vec<(String, Value)>) -> tanto_sdk::Result<Value> {{
    match arguments.into_iter().next() {{
        Some((_, Value::Directory(directory))) => Ok(Value::String(directory.entries(".")?.join("\n"))),
        _ => Err(tanto_sdk::Error::msg(format!("{{function}} got nothing"))),
    }}
}}
"#
        )
    }

    fn one_function(function: &str, argument: &str, kind: &str, default: Option<&str>) -> String {
        let default = match default {
            Some(default) => format!("Some({:?}.to_string())", format!("{default:?}")),
            None => "None".into(),
        };
        format!(
            r#"ModuleSchema {{
        name: "forged".to_string(),
        description: "Forged.".to_string(),
        functions: vec![FunctionSchema {{
            name: {function:?}.to_string(),
            description: "Docs.\n}}\ninclude_str!(\"/etc/passwd\");\n```\nfn injected() {{}}\n```".to_string(),
            arguments: vec![ArgumentSchema {{
                name: {argument:?}.to_string(),
                description: String::new(),
                type_ref: TypeRef::of(TypeKind::{kind}),
                default_value: {default},
            }}],
            return_type: TypeRef::of(TypeKind::String),
        }}],
        constructor: Vec::new(),
    }}"#
        )
    }

    /// A `Directory` argument defaulting to `../..`: refused with exit 2 before the
    /// module runs, so nothing of the folder above reaches it.
    #[test]
    fn a_directory_default_is_refused() {
        let tanto = Tanto::new();
        let victim = Victim::new();
        let module = victim.out().join("forged");
        write_module(
            &module,
            "forged",
            &forged_module(&one_function("leak-parent", "source", "Directory", Some("../.."))),
            &[],
        );
        let run = tanto.run_in(&module, &["call", "leak-parent"]).failure(2);
        assert!(
            run.stderr.contains(
                "module \"forged\" declares an invalid schema: function `leak-parent`: argument `source`: a Directory argument cannot have a default (it declares \"\\\"../..\\\"\")"
            ),
            "{}",
            run.stderr
        );
        victim.assert_not_leaked(&run, &module.join("src"));
        tanto.assert_no_leftovers();
    }

    /// `tanto develop` over a dependency whose schema names a function with Rust code in
    /// it: refused, naming the dependency and the name (escaped), and no file is written.
    #[test]
    fn develop_refuses_a_dependency_with_hostile_names() {
        let tanto = Tanto::new();
        let workspace = tempfile::tempdir().unwrap();
        let evil = workspace.path().join("evil");
        let app = workspace.path().join("app");
        let hostile_name = "x\", arguments) }\n pub const LEAK: &str = include_str!(\"/etc/passwd\"); fn y(&self) -> Result<String> { dag().call(\"evil";
        write_module(&evil, "evil", &forged_module(&one_function(hostile_name, "source", "String", None)), &[]);
        write_module(&app, "app", "", &[("evil", "../evil")]);
        let before = std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap();
        let run = tanto.run_in(&app, &["develop"]).failure(2);
        assert!(run.stderr.contains("cannot generate bindings for dependency `evil`"), "{}", run.stderr);
        assert!(
            run.stderr.contains(r#"function name "x\", arguments) }\n pub const LEAK"#) && run.stderr.contains("is not a kebab-case identifier"),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap(), before);
        insta::assert_snapshot!("develop_hostile_names_refused", tanto_tests::without_progress(&run.stderr));

        // The same hostile docs with a valid name: generated, and they stay comments.
        write_module(&evil, "evil", &forged_module(&one_function("fine", "source", "String", None)), &[]);
        tanto.run_in(&app, &["develop"]).success();
        let generated = std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap();
        for line in generated.lines().filter(|line| line.contains("include_str") || line.contains("fn injected")) {
            assert!(line.trim_start().starts_with("/// "), "{line:?} in\n{generated}");
        }
        assert!(!generated.contains("/// ```"), "{generated}");

        // A name tanto.toml accepts that no Rust identifier can be made of: the user's to
        // fix, named, and nothing is written.
        write_module(&app, "app", "", &[("_evil", "../evil")]);
        let refused = tanto.run_in(&app, &["develop"]).failure(2);
        assert_eq!(std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap(), generated);
        insta::assert_snapshot!("develop_unusable_dependency_name", refused.stderr);

        // A folder where the generated file goes: the user's to fix, not a tanto bug.
        write_module(&app, "app", "", &[("evil", "../evil")]);
        std::fs::remove_file(app.join("src/dependencies.rs")).unwrap();
        std::fs::create_dir(app.join("src/dependencies.rs")).unwrap();
        let unwritable = tanto.run_in(&app, &["develop"]).failure(2);
        insta::assert_snapshot!("develop_unwritable_bindings", unwritable.stderr.replace(&app.display().to_string(), "[MODULE]"));
        tanto.assert_no_leftovers();
    }
}

/// Steps of one run take turns in the network namespace of a holder container, and Docker
/// mounts a holder's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` writable into
/// every step joining it: what one step writes there must never reach another.
pub mod network_holders {
    use super::*;

    /// A chain of steps, every third one writing a name and a name server of its own into
    /// those files: no step sees them, and steps did share holders (a holder's hostname
    /// seen by more than one step).
    #[test]
    fn a_step_cannot_change_the_names_a_later_step_resolves() {
        let tanto = Tanto::new();
        let record = "--args=sh,-c,echo host:$(hostname) >> /seen; cat /etc/hosts /etc/resolv.conf /etc/hostname >> /seen";
        let poison =
            format!("{record}; echo '10.9.9.9 poisoned.example' >> /etc/hosts; echo 'nameserver 10.9.9.9' >> /etc/resolv.conf; echo poisoned > /etc/hostname");
        let mut args = vec!["--base=busybox:latest", "--marker=m"];
        for step in 0..12 {
            args.extend(["with-exec", if step % 3 == 2 { poison.as_str() } else { record }]);
        }
        args.extend(["with-exec", "--args=cat,/seen", "stdout"]);
        let run = tanto.call_guest("api", "pass-through", &args).success();
        assert!(!run.stdout.contains("poisoned") && !run.stdout.contains("10.9.9.9"), "{}", run.stdout);
        let hosts: Vec<&str> = run.stdout.lines().filter_map(|line| line.strip_prefix("host:")).collect();
        assert_eq!(hosts.len(), 12, "{}", run.stdout);
        let distinct: std::collections::HashSet<&str> = hosts.iter().copied().collect();
        assert!(distinct.len() < hosts.len(), "no two steps shared a network holder: {hosts:?}");
        tanto.assert_no_leftovers();
    }
}
