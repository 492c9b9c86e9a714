//! Sources and file operations of `tanto:core@0.2`, end to end through the `api` guest:
//! git repositories served by a real `git daemon` on 127.0.0.1 (reached as github.com
//! through the user's `insteadOf`, as a real user's mirror rule would), files over HTTP
//! from a server the test runs on 127.0.0.1, `glob`, removals, links and owners in
//! real Docker containers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tanto_tests::git::GitServer;
use tanto_tests::{Tanto, Victim, docker, write};

const URL: &str = "https://github.com/acme/src";

fn call(tanto: &Tanto, function: &str, args: &[&str]) -> String {
    tanto.call_guest("api", function, args).success().stdout
}

fn git_args(kind: &str, name: &str) -> [String; 3] {
    [format!("--url={URL}"), format!("--kind={kind}"), format!("--name={name}")]
}

fn git_call(tanto: &Tanto, function: &str, kind: &str, name: &str) -> String {
    let args = git_args(kind, name);
    call(tanto, function, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Commits of `acme/src`: `v1` (tagged `v1.0.0`, annotated, and `light`, not), `v2` on
/// `main`, and `feature` on the branch of that name.
struct Commits {
    v1: String,
    v2: String,
    feature: String,
}

fn source_repository(server: &GitServer) -> Commits {
    let repo = server.repository("src");
    repo.write("README.md", "version 1");
    repo.write("src/lib.txt", "library");
    let v1 = repo.commit("v1");
    repo.git(&["tag", "--annotate", "--message", "release", "v1.0.0"]);
    repo.git(&["tag", "light"]);
    repo.write("README.md", "version 2");
    repo.write("bin/run.sh", "#!/bin/sh\necho run\n");
    std::fs::set_permissions(repo.work.join("bin/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("../README.md", repo.work.join("src/readme-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.work.join("outside-link")).unwrap();
    let v2 = repo.commit("v2");
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.write("README.md", "feature work");
    let feature = repo.commit("feature");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.push();
    Commits { v1, v2, feature }
}

fn expected(commit: &str, paths: &str, readme: &str) -> String {
    format!("commit {commit}\npaths {paths}\nreadme {readme}")
}

const V1_PATHS: &str = "README.md src src/lib.txt";
const V2_PATHS: &str = "README.md bin bin/run.sh outside-link src src/lib.txt src/readme-link";

#[test]
fn git_sources_by_branch_tag_commit_and_ref_then_from_the_cache() {
    let server = GitServer::start();
    let commits = source_repository(&server);
    let tanto = server.tanto();

    assert_eq!(git_call(&tanto, "git-files", "branch", "main"), expected(&commits.v2, V2_PATHS, "version 2"));
    assert_eq!(
        git_call(&tanto, "git-files", "tag", "v1.0.0"),
        expected(&commits.v1, V1_PATHS, "version 1"),
        "an annotated tag peels to its commit"
    );
    assert_eq!(git_call(&tanto, "git-files", "tag", "light"), expected(&commits.v1, V1_PATHS, "version 1"));
    assert_eq!(
        git_call(&tanto, "git-files", "commit", &commits.feature),
        expected(&commits.feature, V2_PATHS, "feature work")
    );
    assert_eq!(
        git_call(&tanto, "git-files", "ref", "feature"),
        expected(&commits.feature, V2_PATHS, "feature work")
    );
    assert_eq!(
        git_call(&tanto, "git-files", "ref", "refs/tags/v1.0.0"),
        expected(&commits.v1, V1_PATHS, "version 1")
    );
    assert_eq!(git_call(&tanto, "git-in-container", "branch", "feature"), "feature work");

    // Each commit was fetched once: with the server gone, a commit id still reads from
    // the cache, while a branch (which only the remote can resolve) fails clearly.
    server.stop();
    assert_eq!(
        git_call(&tanto, "git-files", "commit", &commits.v2),
        expected(&commits.v2, V2_PATHS, "version 2")
    );
    assert_eq!(git_call(&tanto, "git-in-container", "commit", &commits.feature), "feature work");
    let args = git_args("branch", "main");
    let run = tanto
        .call_guest("api", "git-files", &args.iter().map(String::as_str).collect::<Vec<_>>())
        .failure(1);
    assert!(run.stderr.contains(&format!("git ls-remote {URL}")), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn unknown_refs_are_not_found() {
    let server = GitServer::start();
    source_repository(&server);
    let tanto = server.tanto();
    for (kind, name, message) in [
        ("branch", "no-such-branch", format!("{URL} has no branch no-such-branch")),
        ("tag", "v9", format!("{URL} has no tag v9")),
        (
            "commit",
            "0123456789012345678901234567890123456789",
            format!("{URL} has no commit 0123456789012345678901234567890123456789"),
        ),
        ("commit", "abc123", "is not a full commit id".to_string()),
    ] {
        let args = git_args(kind, name);
        let run = tanto
            .call_guest("api", "git-files", &args.iter().map(String::as_str).collect::<Vec<_>>())
            .failure(1);
        assert!(run.stderr.contains(&message), "{kind} {name}: {}", run.stderr);
    }
}

#[test]
fn a_git_tree_has_no_dot_git_keeps_links_and_has_one_digest_everywhere() {
    let server = GitServer::start();
    let commits = source_repository(&server);
    let out = tempfile::tempdir().unwrap();
    let destination = out.path().join("tree");
    let args = git_args("commit", &commits.v2);
    let mut with_output: Vec<&str> = args.iter().map(String::as_str).collect();
    with_output.extend(["-o", destination.to_str().unwrap()]);
    let tanto = server.tanto();
    tanto.call_guest("api", "git-tree", &with_output).success();

    assert!(!destination.join(".git").exists(), "a tree never holds .git");
    assert_eq!(std::fs::read_to_string(destination.join("README.md")).unwrap(), "version 2");
    assert_eq!(std::fs::metadata(destination.join("bin/run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::metadata(destination.join("README.md")).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_link(destination.join("src/readme-link")).unwrap().to_str(), Some("../README.md"));
    assert_eq!(
        std::fs::read_link(destination.join("outside-link")).unwrap().to_str(),
        Some("/etc/passwd"),
        "a link out is kept, never followed"
    );

    // The same commit through another cache (another checkout folder) and another
    // umask has the same content digest.
    let first = tanto
        .call_guest("api", "inspect-git", &args.iter().map(String::as_str).collect::<Vec<_>>())
        .success()
        .stdout;
    let other = server.tanto();
    let second = other
        .call_guest("api", "inspect-git", &args.iter().map(String::as_str).collect::<Vec<_>>())
        .success()
        .stdout;
    assert!(first.starts_with("sha256:"), "{first}");
    assert_eq!(first, second);
}

/// What a git source brings is kept in the cache, so neither what a fetch receives nor
/// the files a commit holds may be bigger than the cache's ceiling; a refused fetch
/// leaves nothing in the cache's repository.
#[test]
fn git_fetches_and_checkouts_are_bounded_by_the_cache_ceiling() {
    use std::io::Read;
    let server = GitServer::start();
    // 400 KB that do not compress: a pack of about that size.
    let noise = server.repository("noise");
    let mut random = vec![0; 400_000];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut random).unwrap();
    std::fs::write(noise.work.join("noise.bin"), &random).unwrap();
    noise.write("README.md", "noise");
    noise.commit("noise");
    noise.push();
    // 8 MB of zeros: a pack of a few KB, files of 8 MB.
    let zeros = server.repository("zeros");
    std::fs::write(zeros.work.join("zeros.bin"), vec![0u8; 8_000_000]).unwrap();
    zeros.write("README.md", "small");
    zeros.commit("zeros");
    zeros.push();

    let small = server.tanto().env("TANTO_CACHE_MAX_SIZE", "200KB");
    let files = |tanto: &Tanto, repository: &str| {
        tanto.call_guest(
            "api",
            "git-files",
            &[&format!("--url=https://github.com/acme/{repository}"), "--kind=branch", "--name=main"],
        )
    };
    let run = files(&small, "noise").failure(1);
    assert!(
        run.stderr.contains("the repository sends more than the cache's size ceiling") && run.stderr.contains("raise TANTO_CACHE_MAX_SIZE"),
        "{}",
        run.stderr
    );
    let packs: u64 = walk_sizes(&small.cache.path().join("git"));
    assert!(packs < 100_000, "a refused fetch left {packs} bytes in the cache's repositories");
    let run = files(&small, "zeros").failure(1);
    assert!(
        run.stderr.contains("its files take more than the cache's size ceiling") && run.stderr.contains("raise TANTO_CACHE_MAX_SIZE"),
        "{}",
        run.stderr
    );

    // Under the default ceiling both are fetched and checked out.
    let tanto = server.tanto();
    assert!(files(&tanto, "noise").success().stdout.contains("paths README.md noise.bin"));
    assert!(files(&tanto, "zeros").success().stdout.contains("paths README.md zeros.bin"));
    small.assert_no_leftovers();
    tanto.assert_no_leftovers();
}

/// The bytes the files under `folder` hold.
fn walk_sizes(folder: &std::path::Path) -> u64 {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk_sizes(&entry.path()),
            _ => entry.metadata().map(|metadata| metadata.len()).unwrap_or(0),
        })
        .sum()
}

#[test]
fn git_refuses_local_repositories_and_transport_tricks() {
    let tanto = Tanto::new();
    let local = tempfile::tempdir().unwrap();
    let path = local.path().display().to_string();
    for url in [
        format!("file://{path}"),
        path.clone(),
        "ext::sh -c touch% /tmp/tanto-pwned".to_string(),
        "./relative".to_string(),
    ] {
        let run = tanto
            .call_guest("api", "git-files", &[&format!("--url={url}"), "--kind=branch", "--name=main"])
            .failure(1);
        assert!(run.stderr.contains("is refused"), "{url}: {}", run.stderr);
        assert!(run.stderr.contains("use an https://"), "{url}: {}", run.stderr);
    }
    assert!(!std::path::Path::new("/tmp/tanto-pwned").exists());
}

/// An HTTP server on 127.0.0.1 answering `/files/hello.txt` and 404 for anything else.
fn http_server() -> String {
    http_server_on("127.0.0.1", None).0
}

/// An HTTP server on `ip` answering as [`http_server`] does, and any path starting with
/// `/redirect` with a 302 to `redirect_to`; it counts the requests it gets.
fn http_server_on(ip: &str, redirect_to: Option<String>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |read| read == 0) || header == "\r\n" {
                    break;
                }
            }
            if let (true, Some(target)) = (request.starts_with("GET /redirect"), &redirect_to) {
                let _ = write!(
                    stream,
                    "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                continue;
            }
            if request.starts_with("GET /files/unsized.txt ") {
                // No length: the body ends when the connection does.
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello over http, unsized");
                continue;
            }
            let (status, body) = if request.starts_with("GET /files/hello.txt ") {
                ("200 OK", "hello over http")
            } else {
                ("404 Not Found", "no such file")
            };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (format!("http://{address}"), requests)
}

/// The address of the machine on Docker's default bridge. The daemon names it in the
/// network's IPAM config only when it chose it; a daemon started on an existing docker0
/// leaves it out, and the interface's own address is the gateway.
fn bridge_gateway() -> String {
    let named = docker(&["network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]);
    if !named.trim().is_empty() {
        return named.trim().to_owned();
    }
    let interface = docker(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
    ]);
    let output = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", interface.trim()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    // `3: docker0    inet 172.17.0.1/16 brd ... scope global docker0`
    let address = listing.split_whitespace().skip_while(|word| *word != "inet").nth(1);
    address
        .and_then(|cidr| cidr.split('/').next())
        .unwrap_or_else(|| panic!("no IPv4 address on {}: {listing}", interface.trim()))
        .to_owned()
}

/// tanto fetches a module's sources from the host, where loopback reaches services no
/// container can and link-local addresses a cloud's metadata service (the machine's
/// credentials): a module may not name them, directly, through a redirect or through a
/// name, unless the user sets TANTO_ALLOW_LOCAL_URLS=1.
#[test]
fn modules_cannot_fetch_from_this_machines_own_addresses() {
    let (local, local_requests) = http_server_on("127.0.0.1", None);
    let port = local.rsplit(':').next().unwrap().to_owned();
    // A server this machine also answers on, but not on loopback (containers reach the
    // bridge's gateway too): allowed, and it redirects to the loopback one.
    let gateway = bridge_gateway();
    let (outside, outside_requests) = http_server_on(&gateway, Some(format!("{local}/files/hello.txt")));
    let tanto = Tanto::new();
    for url in [
        format!("{local}/files/hello.txt"),
        format!("http://localhost:{port}/files/hello.txt"),
        format!("http://[::1]:{port}/files/hello.txt"),
        format!("http://0.0.0.0:{port}/files/hello.txt"),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        "http://[fe80::a9fe:a9fe]/latest/meta-data/".to_owned(),
        "http://[::ffff:169.254.169.254]/latest/meta-data/".to_owned(),
    ] {
        let run = tanto.call_guest("api", "http-file", &[&format!("--url={url}")]).failure(1);
        assert!(
            run.stderr.contains("reaches this machine's own or link-local addresses") && run.stderr.contains("TANTO_ALLOW_LOCAL_URLS=1"),
            "{url}: {}",
            run.stderr
        );
    }
    let run = tanto.call_guest("api", "http-file", &[&format!("--url={outside}/redirect")]).failure(1);
    assert!(run.stderr.contains("redirects to this machine's own or link-local addresses"), "{}", run.stderr);
    assert_eq!(outside_requests.load(Ordering::SeqCst), 1, "the redirect was asked for");
    // git (libcurl) would follow a redirect to any address: it follows none.
    let run = tanto
        .call_guest(
            "api",
            "git-files",
            &[&format!("--url={outside}/redirect/repo.git"), "--kind=branch", "--name=main"],
        )
        .failure(1);
    assert!(
        run.stderr.contains("returned error: 302") && run.stderr.contains("the server redirects elsewhere"),
        "{}",
        run.stderr
    );
    assert_eq!(outside_requests.load(Ordering::SeqCst), 2, "git asked the outside server");
    for url in [
        format!("git://127.0.0.1:{port}/repo"),
        format!("http://localhost:{port}/repo.git"),
        format!("ssh://git@[::1]:{port}/repo"),
        "git@localhost:repo".to_owned(),
        "https://169.254.169.254/repo.git".to_owned(),
    ] {
        let run = tanto
            .call_guest("api", "git-files", &[&format!("--url={url}"), "--kind=branch", "--name=main"])
            .failure(1);
        assert!(
            run.stderr.contains("reaches this machine's own or link-local addresses"),
            "{url}: {}",
            run.stderr
        );
    }
    assert_eq!(local_requests.load(Ordering::SeqCst), 0, "the loopback server was reached");

    // The user's choice: allowed, the same download and redirect work.
    let allowed = Tanto::new().env("TANTO_ALLOW_LOCAL_URLS", "1");
    let run = allowed.call_guest("api", "http-file", &[&format!("--url={outside}/redirect")]).success();
    // Named after the URL the module gave.
    assert_eq!(run.stdout, "redirect 15 hello over http | hello over http");
    assert_eq!(local_requests.load(Ordering::SeqCst), 1);
    tanto.assert_no_leftovers();
}

#[test]
fn http_files_download_and_fail_clearly() {
    let base = http_server();
    // The server is on this machine's loopback, which the user allows here.
    let tanto = Tanto::new().env("TANTO_ALLOW_LOCAL_URLS", "1");
    let url = format!("--url={base}/files/hello.txt");
    assert_eq!(call(&tanto, "http-file", &[&url]), "hello.txt 15 hello over http | hello over http");

    let missing = format!("{base}/files/missing.txt");
    let run = tanto.call_guest("api", "http-file", &[&format!("--url={missing}")]).failure(1);
    assert!(
        run.stderr.contains(&format!("GET {missing}: the server answered 404 Not Found")),
        "{}",
        run.stderr
    );

    let run = tanto.call_guest("api", "http-file", &["--url=file:///etc/passwd"]).failure(1);
    assert!(run.stderr.contains("only http:// and https:// URLs"), "{}", run.stderr);

    // A download is kept in the cache, so it may not be bigger than the cache's ceiling:
    // refused from its announced length, or as soon as an unannounced body passes it.
    let small = Tanto::new().env("TANTO_ALLOW_LOCAL_URLS", "1").env("TANTO_CACHE_MAX_SIZE", "10");
    for file in ["hello.txt", "unsized.txt"] {
        let run = small.call_guest("api", "http-file", &[&format!("--url={base}/files/{file}")]).failure(1);
        assert!(
            run.stderr
                .contains("the file is larger than the cache's size ceiling (10 B); raise TANTO_CACHE_MAX_SIZE"),
            "{file}: {}",
            run.stderr
        );
    }
    let run = tanto.call_guest("api", "http-file", &[&format!("--url={base}/files/unsized.txt")]).success();
    assert_eq!(run.stdout, "unsized.txt 24 hello over http, unsized | hello over http, unsized");
    tanto.assert_no_leftovers();
    small.assert_no_leftovers();
}

#[test]
fn glob_lists_matching_paths() {
    let tanto = Tanto::new();
    let source = tempfile::tempdir().unwrap();
    for path in ["a.txt", "b.md", "sub/c.txt", "sub/deeper/d.txt"] {
        write(source.path(), path, path);
    }
    let source_arg = format!("--source={}", source.path().display());
    assert_eq!(
        call(&tanto, "glob", &[&source_arg, "--pattern=**/*.txt"]),
        "a.txt\nsub/c.txt\nsub/deeper/d.txt\n"
    );
    assert_eq!(call(&tanto, "glob", &[&source_arg, "--pattern=*"]), "a.txt\nb.md\nsub\n");
    assert_eq!(call(&tanto, "glob", &[&source_arg, "--pattern=sub/*"]), "sub/c.txt\nsub/deeper\n");
    assert_eq!(call(&tanto, "glob", &[&source_arg, "--pattern=*.rs"]), "");
    let run = tanto.call_guest("api", "glob", &[&source_arg, "--pattern=a[.txt"]).failure(1);
    assert!(run.stderr.contains("invalid glob pattern"), "{}", run.stderr);
}

#[test]
fn containers_lose_files_and_directories() {
    let tanto = Tanto::new();
    assert_eq!(call(&tanto, "without", &[]), "/data\n/data/b.txt\n");
    tanto.assert_no_leftovers();
}

#[test]
fn links_stay_links_in_containers_and_on_export() {
    let tanto = Tanto::new();
    assert_eq!(
        call(&tanto, "container-symlinks", &[]),
        "target.txt\n/data/target.txt\n/nowhere\nthrough the link\nthrough the link"
    );

    let victim = Victim::new();
    let out = tempfile::tempdir().unwrap();
    let destination = out.path().join("links");
    let outside = victim.file().display().to_string();
    tanto
        .call_guest(
            "api",
            "directory-symlinks",
            &[&format!("--outside={outside}"), "-o", destination.to_str().unwrap()],
        )
        .success();
    assert_eq!(std::fs::read_link(destination.join("link-to-a")).unwrap().to_str(), Some("a.txt"));
    assert_eq!(std::fs::read_link(destination.join("sub/outside")).unwrap().display().to_string(), outside);
    assert_eq!(
        std::fs::read_to_string(destination.join("listed.txt")).unwrap(),
        format!("a.txt\n{outside}\na\n")
    );
    victim.assert_untouched();
    tanto.assert_no_leftovers();
}

#[test]
fn a_container_folder_is_copied_into_another_container_as_it_was() {
    let tanto = Tanto::new();
    assert_eq!(
        call(&tanto, "container-folder-copy", &[]),
        "copy/bin/prog 4755 nobody:nogroup 2\n\
         copy/bin/same 4755 nobody:nogroup 2\n\
         copy/lib 700 nobody:nogroup 2\n\
         plain/bin/prog 4755 root:root 2\n\
         plain/lib 700 root:root 2\n\
         bin/prog\n\
         elf\n\
         bin\n\
         current\n\
         lib\n"
    );
    // Kept as the daemon's archives, never unpacked: no tree of the cache holds a folder.
    let trees = tanto.cache.path().join("trees");
    for tree in std::fs::read_dir(&trees).unwrap() {
        let root = tree.unwrap().path().join("root");
        assert!(!root.is_dir(), "{} was unpacked", root.display());
    }
    tanto.assert_no_leftovers();
}

#[test]
fn copies_take_an_owner() {
    let tanto = Tanto::new();
    assert_eq!(
        call(&tanto, "owners", &[]),
        "named tanto:tanto 1000:1000\n\
         numbers UNKNOWN:UNKNOWN 1234:5678\n\
         tree root:root 0:0\n\
         tree/x nobody:nogroup 65534:65534\n\
         tree/x/y.txt nobody:nogroup 65534:65534\n\
         default root:root 0:0\n\
         uid-only tanto:tanto 1000:1000\n"
    );
    let run = tanto.call_guest("api", "unknown-owner", &[]).failure(1);
    assert!(
        run.stderr
            .contains("owner \"no-such-user\": no user \"no-such-user\" in the container's /etc/passwd"),
        "{}",
        run.stderr
    );
    tanto.assert_no_leftovers();
}

/// Runs reading commits of one repository at the same time share its git cache: each
/// fetch waits for the one before it (git's own locks, `shallow.lock` among them, would
/// fail it), and every run reads its own commit.
#[test]
fn concurrent_runs_fetch_one_repository_in_turn() {
    let server = GitServer::start();
    let repo = server.repository("busy");
    let commits: Vec<String> = (0..4)
        .map(|index| {
            repo.write("README.md", &format!("version {index}"));
            // Something to send, so that fetches overlap.
            let noise: String = (0..400_000).map(|byte| char::from(b'a' + ((byte * 7 + index * 13) % 26) as u8)).collect();
            repo.write(&format!("noise-{index}.txt"), &noise);
            repo.commit(&format!("version {index}"))
        })
        .collect();
    repo.push();
    let tanto = server.tanto();
    std::thread::scope(|scope| {
        let runs: Vec<_> = commits
            .iter()
            .map(|commit| {
                let tanto = &tanto;
                scope.spawn(move || {
                    let args = [
                        "--url=https://github.com/acme/busy".to_owned(),
                        "--kind=commit".to_owned(),
                        format!("--name={commit}"),
                    ];
                    tanto.call_guest("api", "git-files", &args.iter().map(String::as_str).collect::<Vec<_>>())
                })
            })
            .collect();
        for (index, run) in runs.into_iter().enumerate() {
            let run = run.join().expect("a run").success();
            assert!(run.stdout.ends_with(&format!("readme version {index}")), "{}", run.stdout);
        }
    });
    tanto.assert_no_leftovers();
}
