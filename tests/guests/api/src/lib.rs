//! Exercises every method of the tanto API, each function returning what a test can
//! compare byte for byte.

use tanto_sdk::{BuildOptions, Container, Directory, Error, ExecOptions, Expect, Filter, GitRef, Result, Secret, Sharing, dag};

const IMAGE: &str = "busybox:latest";

fn busybox() -> Container {
    dag().container().from(IMAGE)
}

/// The ref of the repository at `url` that `kind` (`branch`, `tag`, `commit`, `ref`)
/// and `name` pick.
fn git_ref(url: &str, kind: &str, name: &str) -> Result<GitRef> {
    let repository = dag().git(url);
    match kind {
        "branch" => Ok(repository.branch(name)),
        "tag" => Ok(repository.tag(name)),
        "commit" => Ok(repository.commit(name)),
        "ref" => Ok(repository.git_ref(name)),
        other => Err(Error::msg(format!("unknown ref kind {other:?}"))),
    }
}

/// A build context whose Dockerfile runs `run` (one line) with `token` mounted at
/// `/run/secrets/token` and the context's file `expected` at `/expected`.
fn secret_dockerfile(token: &Secret, run: &str) -> Directory {
    let dockerfile = format!(
        "FROM {IMAGE}\nRUN --mount=type=secret,id={id},target=/run/secrets/token --mount=type=bind,source=expected,target=/expected {run}\n",
        id = token.name()
    );
    dag().directory().with_new_file("Dockerfile", dockerfile)
}

fn expect_from(name: &str) -> Result<Expect> {
    match name {
        "success" => Ok(Expect::Success),
        "failure" => Ok(Expect::Failure),
        "any" => Ok(Expect::Any),
        other => Err(Error::msg(format!("unknown expectation {other:?}"))),
    }
}

#[derive(Default)]
struct Api;

/// Every corner of the API.
#[tanto_sdk::module]
impl Api {
    /// The environment of a command after setting `name` and removing `HOME`.
    pub fn env_vars(&self, name: String, value: String) -> Result<String> {
        busybox()
            .with_env_variable(&name, &value)
            .with_env_variable("HOME", "/set-then-removed")
            .without_env_variable("HOME")
            .with_exec(["env"])
            .stdout()
    }

    /// The working directory a command sees.
    pub fn workdir(&self, path: String) -> Result<String> {
        busybox()
            .with_exec(["mkdir", "-p", path.as_str()])
            .with_workdir(&path)
            .with_exec(["pwd"])
            .stdout()
    }

    /// `id` run as `name`.
    pub fn user(&self, name: String) -> Result<String> {
        busybox().with_user(&name).with_exec(["id"]).stdout()
    }

    /// A command run through an entrypoint.
    pub fn entrypoint(&self) -> Result<String> {
        busybox()
            .with_entrypoint(["echo", "from-entrypoint"])
            .with_exec_opts(
                ["argument"],
                ExecOptions {
                    use_entrypoint: true,
                    ..Default::default()
                },
            )
            .stdout()
    }

    /// A container with every piece of image configuration set, for its committed image.
    pub fn configured(&self) -> Container {
        busybox()
            .with_env_variable("APP_MODE", "production")
            .with_workdir("/srv")
            .with_user("1000")
            .with_entrypoint(["/bin/sh", "-c"])
            .with_default_args(["echo configured"])
            .with_label("org.opencontainers.image.title", "tanto-test")
            .with_label("tanto.test", "yes")
    }

    /// A new file's mode, size and contents.
    pub fn new_file(&self, contents: String) -> Result<String> {
        busybox()
            .with_new_file_permissions("/data/hello.txt", contents.as_str(), 0o600)
            .with_exec(["sh", "-c", "stat -c '%a %s' /data/hello.txt && cat /data/hello.txt"])
            .stdout()
    }

    /// The files of `source` copied with include/exclude filters, as `find` lists them.
    pub fn copy_filtered(&self, source: Directory, include: Vec<String>, exclude: Vec<String>) -> Result<String> {
        busybox()
            .with_directory_filtered("/src", &source, Filter::new().include(include).exclude(exclude))
            .with_exec(["sh", "-c", "cd /src && find . -type f | sort"])
            .stdout()
    }

    /// A file written by a command, read back with `file(path).contents()`.
    pub fn read_file(&self, text: String) -> Result<String> {
        let container = busybox().with_exec(["sh", "-c", "mkdir -p /out && printf '%s' \"$0\" > /out/result.txt", text.as_str()]);
        let file = container.file("/out/result.txt");
        Ok(format!("{} {} {}", file.name(), file.size()?, file.contents()?))
    }

    /// The entries of a directory made by a command, read back with `directory(path)`.
    pub fn read_dir(&self) -> Result<Vec<String>> {
        busybox()
            .with_exec(["sh", "-c", "mkdir -p /out/sub && touch /out/a.txt /out/b.txt /out/sub/c.txt"])
            .directory("/out")
            .entries(".")
    }

    /// A directory built with every directory operation, for `-o` to export.
    pub fn build_dir(&self, source: Directory) -> Result<Directory> {
        let copied = busybox().with_exec(["sh", "-c", "echo from-container > /made.txt"]).file("/made.txt");
        Ok(dag()
            .directory()
            .with_new_file("notes/new.txt", "new file\n")
            .with_new_file_permissions("bin/run.sh", "#!/bin/sh\necho run\n", 0o755)
            .with_file("copied.txt", &copied)
            .with_directory("tree", &source)
            .without_file("tree/drop.txt"))
    }

    /// A subdirectory's entries and a file's digest from a directory.
    pub fn inspect_dir(&self, source: Directory) -> Result<String> {
        let sub = source.directory("sub");
        let file = sub.file("c.txt");
        Ok(format!("{:?} {} {}", sub.entries(".")?, file.digest()?, source.digest()?))
    }

    /// The exit code of a command that prints to both streams and exits 3.
    pub fn fail(&self, expect: String) -> Result<i64> {
        let code = busybox()
            .with_exec_opts(
                ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
                ExecOptions {
                    expect: expect_from(&expect)?,
                    ..Default::default()
                },
            )
            .exit_code()?;
        Ok(i64::from(code))
    }

    /// The stdout and stderr of a failing command, with expect = any.
    pub fn streams(&self) -> Result<String> {
        let container = busybox().with_exec_opts(
            ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
            ExecOptions {
                expect: Expect::Any,
                ..Default::default()
            },
        );
        Ok(format!("out={} err={}", container.stdout()?.trim(), container.stderr()?.trim()))
    }

    /// A failing command's error, caught and described by the module.
    pub fn catch(&self) -> Result<String> {
        match busybox().with_exec(["sh", "-c", "echo broken >&2; exit 7"]).sync() {
            Err(Error::ExecFailed {
                exit_code,
                stderr_tail,
                command,
                ..
            }) => Ok(format!("caught {exit_code} from {} with {}", command.join(" "), stderr_tail.trim())),
            Err(other) => Err(other),
            Ok(()) => Err(Error::msg("the command should have failed")),
        }
    }

    /// `text` fed to `cat` on standard input.
    pub fn stdin(&self, text: String) -> Result<String> {
        busybox()
            .with_exec_opts(
                ["cat"],
                ExecOptions {
                    stdin: Some(text),
                    ..Default::default()
                },
            )
            .stdout()
    }

    /// A command run in an image that exists nowhere.
    pub fn missing_image(&self) -> Result<String> {
        dag().container().from("tanto-test/no-such-image:1").with_exec(["true"]).stdout()
    }

    /// A program that does not exist.
    pub fn missing_program(&self) -> Result<String> {
        busybox().with_exec(["no-such-program"]).stdout()
    }

    /// A mounted directory read by a command, and the mount point's contents in the
    /// container's filesystem afterwards (a mount is not part of the snapshot).
    pub fn mounted(&self, source: Directory) -> Result<String> {
        let container =
            busybox()
                .with_mounted_directory("/mnt/src", &source)
                .with_exec(["sh", "-c", "cat /mnt/src/a.txt && touch /mnt/src/written-by-command"]);
        let seen = container.stdout()?;
        let after = container.directory("/mnt").entries(".")?;
        Ok(format!("{} {:?}", seen.trim(), after))
    }

    /// Sleeps `seconds` in a container: guest CPU time stays near zero.
    pub fn sleep(&self, seconds: i64) -> Result<String> {
        busybox().with_exec(["sleep", &seconds.to_string()]).with_exec(["echo", "slept"]).stdout()
    }

    /// The bytes of `path` in `source` as hex, read with `contents-bytes`, and what
    /// `contents` (text) says about them.
    pub fn read_bytes(&self, source: Directory, path: String) -> Result<String> {
        let file = source.file(&path);
        let hex: String = file.contents_bytes()?.iter().map(|byte| format!("{byte:02x}")).collect();
        let text = match file.contents() {
            Ok(text) => format!("text {text:?}"),
            Err(Error::InvalidArgument(message)) => format!("not text: {message}"),
            Err(other) => return Err(other),
        };
        Ok(format!("{hex} {text}"))
    }

    /// A directory holding `hex` as bytes in `blob.bin` (0o751), written twice: by the
    /// directory and by a container, whose `od` view of its copy is in `od.txt`.
    pub fn write_bytes(&self, hex: String) -> Result<Directory> {
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(hex.get(index..index + 2).unwrap_or("zz"), 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|_| Error::InvalidArgument(format!("{hex:?} is not hex")))?;
        let od = busybox()
            .with_new_file_bytes_permissions("/in/blob.bin", &bytes, 0o751)
            .with_exec(["sh", "-c", "stat -c '%a %s' /in/blob.bin && od -An -tx1 /in/blob.bin"])
            .stdout()?;
        Ok(dag().directory().with_new_file_bytes("blob.bin", &bytes).with_new_file("od.txt", od))
    }

    /// Containers and directories passed in and out: `base` gets `marker` and is returned.
    pub fn pass_through(&self, base: Container, marker: String) -> Container {
        base.with_new_file("/marker.txt", marker)
    }

    /// Runs `script` with `sh -c` and waits for it; its output is never read.
    pub fn run_script(&self, script: String) -> Result<String> {
        busybox().with_exec(["sh", "-c", script.as_str()]).sync()?;
        Ok("done".into())
    }

    /// The stdout of `script` run with `sh -c`.
    pub fn script_stdout(&self, script: String) -> Result<String> {
        busybox().with_exec(["sh", "-c", script.as_str()]).stdout()
    }

    /// The length of the stdout of `script`, as the module received it (whole, as one
    /// string), and the number of lines in it.
    pub fn stdout_size(&self, script: String) -> Result<String> {
        let stdout = busybox().with_exec(["sh", "-c", script.as_str()]).stdout()?;
        Ok(format!("{} bytes, {} lines", stdout.len(), stdout.lines().count()))
    }

    /// The commit a git ref resolves to, every path of its tree (`glob("**")`) and the
    /// contents of its `README.md`.
    pub fn git_files(&self, url: String, kind: String, name: String) -> Result<String> {
        let git_ref = git_ref(&url, &kind, &name)?;
        let tree = git_ref.tree();
        Ok(format!(
            "commit {}\npaths {}\nreadme {}",
            git_ref.commit()?,
            tree.glob("**")?.join(" "),
            tree.file("README.md").contents()?
        ))
    }

    /// The tree of a git ref, for `-o` to export.
    pub fn git_tree(&self, url: String, kind: String, name: String) -> Result<Directory> {
        Ok(git_ref(&url, &kind, &name)?.tree())
    }

    /// The content digest of a git ref's tree.
    pub fn inspect_git(&self, url: String, kind: String, name: String) -> Result<String> {
        git_ref(&url, &kind, &name)?.tree().digest()
    }

    /// A git tree's `README.md` as a container sees it (copied in, read by `cat`).
    pub fn git_in_container(&self, url: String, kind: String, name: String) -> Result<String> {
        let tree = git_ref(&url, &kind, &name)?.tree();
        busybox().with_directory("/src", &tree).with_exec(["cat", "/src/README.md"]).stdout()
    }

    /// The name, size and contents of the file downloaded from `url`, and the same
    /// bytes as `cat` sees them in a container.
    pub fn http_file(&self, url: String) -> Result<String> {
        let file = dag().http(&url);
        let seen = busybox().with_file("/downloaded", &file).with_exec(["cat", "/downloaded"]).stdout()?;
        Ok(format!("{} {} {} | {}", file.name(), file.size()?, file.contents()?, seen))
    }

    /// The paths of `source` that match `pattern`.
    pub fn glob(&self, source: Directory, pattern: String) -> Result<Vec<String>> {
        source.glob(&pattern)
    }

    /// What `find` lists under /data after removing a file, a directory, a file added by
    /// the step before, and a path that never existed.
    pub fn without(&self) -> Result<String> {
        busybox()
            .with_exec([
                "sh",
                "-c",
                "mkdir -p /data/sub/deeper && touch /data/a.txt /data/b.txt /data/sub/c.txt /data/sub/deeper/d.txt",
            ])
            .with_new_file("/data/new.txt", "added then removed")
            .without_file("/data/new.txt")
            .without_file("/data/a.txt")
            .without_directory("/data/sub")
            .without_file("/data/never-there")
            .with_exec(["sh", "-c", "find /data | sort"])
            .stdout()
    }

    /// Links made in a container: one relative, one absolute, one to a missing path, as
    /// `readlink` and `cat` see them.
    pub fn container_symlinks(&self) -> Result<String> {
        busybox()
            .with_new_file("/data/target.txt", "through the link")
            .with_symlink("target.txt", "/data/relative")
            .with_symlink("/data/target.txt", "/links/absolute")
            .with_symlink("/nowhere", "/data/dangling")
            .with_exec([
                "sh",
                "-c",
                "for link in /data/relative /links/absolute /data/dangling; do readlink $link; done; cat /data/relative; echo; cat /links/absolute",
            ])
            .stdout()
    }

    /// A directory with a file, a link to it and a link to `outside` (never followed), for
    /// `-o` to export; and the same links copied into a container, as `ls -l` shows them.
    pub fn directory_symlinks(&self, outside: String) -> Result<Directory> {
        let directory = dag()
            .directory()
            .with_new_file("a.txt", "a\n")
            .with_symlink("a.txt", "link-to-a")
            .with_symlink(&outside, "sub/outside");
        let listed = busybox()
            .with_directory("/d", &directory)
            .with_exec(["sh", "-c", "readlink /d/link-to-a && readlink /d/sub/outside && cat /d/link-to-a"])
            .stdout()?;
        Ok(directory.with_new_file("listed.txt", listed))
    }

    /// Owners of copied files, as `stat` shows them: by user name, by numbers, by
    /// user and group names, and the default (root). The folder a directory is copied
    /// into is not part of the copy: it keeps its owner, or is made by root.
    pub fn owners(&self) -> Result<String> {
        let file = dag().directory().with_new_file("f.txt", "f").file("f.txt");
        let tree = dag().directory().with_new_file("x/y.txt", "y");
        busybox()
            .with_new_file_owner("/o/named", "n", "tanto")
            .with_file_owner("/o/numbers", &file, "1234:5678")
            .with_directory_owner("/o/tree", &tree, "nobody:nogroup")
            .with_new_file("/o/default", "d")
            .with_new_file_owner("/o/uid-only", "u", "1000")
            .with_exec([
                "sh",
                "-c",
                "cd /o && stat -c '%n %U:%G %u:%g' named numbers tree tree/x tree/x/y.txt default uid-only",
            ])
            .stdout()
    }

    /// A folder one container made, copied whole into another (from the archive the
    /// daemon gives of it, never unpacked on the host), reached through a link, with and
    /// without an owner: modes (setuid too), links, a hard link, and the owner replacing
    /// the source's; the fifo is left out, as a copy through the host leaves it out.
    pub fn container_folder_copy(&self) -> Result<String> {
        let built = busybox().with_exec([
            "sh",
            "-c",
            "mkdir -p /b/bin /b/lib && echo elf > /b/bin/prog && ln -s bin/prog /b/current && ln /b/bin/prog /b/bin/same \
             && mkfifo /b/pipe && chown -R 1234:5678 /b && chmod 4755 /b/bin/prog && chmod 700 /b/lib && ln -s /b /link-to-b",
        ]);
        busybox()
            .with_directory_owner("/o/copy", &built.directory("/link-to-b"), "nobody:nogroup")
            .with_directory("/o/plain", &built.directory("/b"))
            .with_exec([
                "sh",
                "-c",
                "cd /o && stat -c '%n %a %U:%G %h' copy/bin/prog copy/bin/same copy/lib plain/bin/prog plain/lib \
                 && readlink copy/current && cat copy/current && ls copy",
            ])
            .stdout()
    }

    /// An owner naming a user the container does not have.
    pub fn unknown_owner(&self) -> Result<String> {
        busybox()
            .with_new_file_owner("/o/x", "x", "no-such-user")
            .with_exec(["ls", "-l", "/o"])
            .stdout()
    }

    // ---- secrets ----------------------------------------------------------------------

    /// A container whose commands use `token` as the variable `TOKEN` and `key` as the
    /// file `/run/secrets/key` (owned by uid 1000, mode 0440), checking each against its
    /// sha256 (the values themselves never appear in a command), then running as user
    /// 1000 to read the key. `marker` only changes the steps' identity.
    pub fn secret_use(&self, token: Secret, key: Secret, token_sha256: String, key_sha256: String, marker: String) -> Container {
        busybox()
            .with_env_variable("MARKER", &marker)
            .with_secret_variable("TOKEN", &token)
            .with_mounted_secret_owned("/run/secrets/key", &key, "1000:1000", 0o440)
            .with_exec([
                "sh",
                "-c",
                "test \"$(printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1)\" = \"$0\" && test \"$(sha256sum < /run/secrets/key | cut -d' ' -f1)\" = \"$1\" && stat -c '%u:%g %a' /run/secrets/key > /checked",
                token_sha256.as_str(),
                key_sha256.as_str(),
            ])
            .with_user("1000")
            .with_exec(["sh", "-c", "cat /run/secrets/key > /dev/null && echo \"$TOKEN\" | wc -c > /tmp/length"])
            .with_user("0")
    }

    /// What a command prints of `token`: the value, its base64 and the file mounted from
    /// it, to stdout and stderr.
    pub fn secret_echo(&self, token: Secret) -> Result<String> {
        let container = busybox()
            .with_secret_variable("TOKEN", &token)
            .with_mounted_secret("/run/secrets/token", &token)
            .with_exec([
                "sh",
                "-c",
                "echo \"token is $TOKEN\"; printf %s \"$TOKEN\" | base64; cat /run/secrets/token; echo \"on stderr $TOKEN\" >&2",
            ]);
        Ok(format!("{}--stderr--\n{}", container.stdout()?, container.stderr()?))
    }

    /// A command that prints `token` and fails.
    pub fn secret_fail(&self, token: Secret) -> Result<String> {
        busybox()
            .with_secret_variable("TOKEN", &token)
            .with_exec(["sh", "-c", "echo \"leaking $TOKEN\"; echo \"leaking $TOKEN\" >&2; exit 3"])
            .stdout()
    }

    /// The image a Dockerfile builds with `token` as a build secret (its id is the
    /// secret's name): its `RUN` compares the secret's sha256 with `token-sha256` (a file
    /// of the context, bind-mounted, so neither enters the image), writes `match` or
    /// `mismatch` to `/checked` and a fresh `/run-id`, so a test sees whether the build
    /// ran again and with which value.
    pub fn secret_build(&self, token: Secret, token_sha256: String) -> Container {
        let run = "cat /proc/sys/kernel/random/uuid > /run-id && \
                   if test \"$(sha256sum < /run/secrets/token | cut -d' ' -f1)\" = \"$(cat /expected)\"; then echo match; else echo mismatch; fi > /checked";
        secret_dockerfile(&token, run)
            .with_new_file("expected", token_sha256)
            .docker_build_opts("Dockerfile", BuildOptions::new().secret(&token))
    }

    /// A Dockerfile build whose `RUN` prints `token` (read as a build secret) and fails.
    pub fn secret_build_fail(&self, token: Secret) -> Container {
        secret_dockerfile(&token, "echo \"leaking $(cat /run/secrets/token)\"; exit 7")
            .with_new_file("expected", "")
            .docker_build_opts("Dockerfile", BuildOptions::new().secret(&token))
    }

    /// The name of a secret argument.
    pub fn secret_name(&self, token: Secret) -> String {
        token.name()
    }

    /// A secret the module makes itself with `set-secret`, printed by a command.
    pub fn secret_made(&self) -> Result<String> {
        let made = dag().set_secret("made", "module-made-secret-9f1c2e");
        busybox()
            .with_secret_variable("MADE", &made)
            .with_exec(["sh", "-c", "echo \"made: $MADE\""])
            .stdout()
    }

    /// A container to debug in: `FOO` set to `foo-value`, working directory `/work`, user
    /// `nobody`'s id, the cache volume `cache-key` at `/cache` (holding `step.txt`, so
    /// that Docker never copies the image's mount point over it), and `/work/built.txt`.
    pub fn debuggable(&self, cache_key: String) -> Container {
        busybox()
            .with_env_variable("FOO", "foo-value")
            .with_mounted_cache("/cache", &dag().cache_volume(cache_key), Sharing::Shared)
            .with_workdir("/work")
            .with_exec(["sh", "-c", "echo built > built.txt; echo from-step > /cache/step.txt; chmod 777 /work /cache"])
            .with_user("65534")
    }

    /// Opens `cmd` (a shell when empty) in [`Api::debuggable`] with `container.terminal`,
    /// then says how it exited and that the container is unchanged.
    pub fn shell(&self, cache_key: String, cmd: Vec<String>) -> Result<String> {
        let container = self.debuggable(cache_key);
        let code = container.terminal(cmd)?;
        let after = container.with_exec(["sh", "-c", "ls /work"]).stdout()?;
        Ok(format!("shell exited with {code}; /work holds {}", after.trim()))
    }

    /// Runs `script` in [`Api::debuggable`] (it is expected to fail).
    pub fn broken(&self, cache_key: String, script: String) -> Result<String> {
        self.debuggable(cache_key).with_exec(["sh", "-c", script.as_str()]).stdout()
    }
}
