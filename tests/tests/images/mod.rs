//! Images and registries (guest `images`): publish to a real registry with htpasswd
//! authentication and pull back, refusals that name the registry, image archives through
//! `docker load` and back, and Dockerfile builds. Every credential comes from a Docker
//! configuration in a temporary folder (`DOCKER_CONFIG`), never the user's own.

use tanto_tests::{Registry, Tanto, docker, unique, write};

/// The configuration fields a published image must carry exactly, as `docker inspect`
/// shows them.
fn config_of(image: &str) -> serde_json::Value {
    let inspect: serde_json::Value = serde_json::from_str(&docker(&["image", "inspect", image])).expect("docker inspect prints JSON");
    let config = &inspect[0]["Config"];
    serde_json::json!({
        "Entrypoint": config["Entrypoint"],
        "Cmd": config["Cmd"],
        "Env": config["Env"],
        "WorkingDir": config["WorkingDir"],
        "User": config["User"],
        "ExposedPorts": config["ExposedPorts"],
        "Labels": config["Labels"],
    })
}

/// A tanto whose Docker credentials are `username`/`password` for `registry`.
fn tanto_with_login(registry: &Registry, folder: &std::path::Path, username: &str, password: &str) -> Tanto {
    let config = registry.docker_config(folder, username, password);
    Tanto::new().env("DOCKER_CONFIG", config.to_str().expect("utf-8 path"))
}

fn remove_image(address: &str) {
    let _ = std::process::Command::new("docker").args(["image", "rm", "--no-prune", address]).output();
}

#[test]
fn publish_then_pull_back_gives_the_same_configuration_and_files() {
    let registry = Registry::start("pusher", "correct-horse");
    let folder = tempfile::tempdir().unwrap();
    let tanto = tanto_with_login(&registry, folder.path(), "pusher", "correct-horse");
    let marker = unique("publish");
    let address = format!("{}/tanto-tests/published:v1", registry.address);

    let run = tanto
        .call_guest("images", "publish", &[&format!("--address={address}"), &format!("--marker={marker}")])
        .success();
    let published = run.stdout.trim();
    let digest = published
        .strip_prefix(&format!("{address}@"))
        .unwrap_or_else(|| panic!("publish returned {published:?}, not {address}@sha256:..."));
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{published}");
    assert_eq!(
        registry.manifest_digest("tanto-tests/published", "v1").as_deref(),
        Some(digest),
        "the registry holds the manifest publish named"
    );

    let config = config_of(&address);
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(config["Cmd"], serde_json::json!(["cat /app/data.bin"]));
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["User"], "1000:1000");
    assert!(
        config["Env"].as_array().unwrap().contains(&serde_json::json!(format!("APP_MARKER={marker}"))),
        "{config}"
    );
    assert_eq!(
        config["Labels"],
        serde_json::json!({ "org.opencontainers.image.title": "tanto-images-test" }),
        "the user's labels and none of tanto's"
    );

    // Gone from the daemon, then pulled back by `from` with the same credentials.
    remove_image(&address);
    assert!(docker(&["image", "ls", "-q", &address]).trim().is_empty(), "the local image is gone");
    let run = tanto
        .call_guest("images", "pulled-digest", &[&format!("--address={address}"), "--path=/app/data.bin"])
        .success();
    let expected = tanto.call_guest("images", "expected-digest", &[&format!("--marker={marker}")]).success();
    assert_eq!(run.stdout.trim(), expected.stdout.trim(), "the pulled file has the published bytes");
    assert_eq!(config_of(&address), config, "the pulled image has the published configuration");
    let repo_digests = docker(&["image", "inspect", "--format", "{{json .RepoDigests}}", &address]);
    assert!(repo_digests.contains(digest), "the pulled image is the published manifest: {repo_digests}");

    remove_image(&address);
    tanto.assert_no_leftovers();
}

#[test]
fn with_registry_auth_pushes_and_pulls_with_a_secret_that_is_never_shown() {
    let registry = Registry::start("pusher", "staple-battery-42");
    // The user's own configuration has no credentials: only the pipeline's count.
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("config.json"), "{}").unwrap();
    let tanto = Tanto::new()
        .env("DOCKER_CONFIG", folder.path().to_str().unwrap())
        .env("TANTO_TEST_REGISTRY_PASSWORD", "staple-battery-42")
        .env("TANTO_TEST_WRONG_PASSWORD", "not-the-password-77");
    let marker = unique("with-auth");
    let address = format!("{}/tanto-tests/with-auth:v1", registry.address);
    let publish = |password_variable: &str| {
        tanto.call_guest(
            "images",
            "publish-with-auth",
            &[
                &format!("--registry={}", registry.address),
                "--username=pusher",
                &format!("--password=env://{password_variable}"),
                &format!("--address={address}"),
                &format!("--marker={marker}"),
            ],
        )
    };

    let refused = publish("TANTO_TEST_WRONG_PASSWORD").failure(2);
    assert!(
        refused.stderr.contains(&format!("registry {} rejected the credentials", registry.address)),
        "{}",
        refused.stderr
    );
    let run = publish("TANTO_TEST_REGISTRY_PASSWORD").success();
    let digest = run.stdout.trim().strip_prefix(&format!("{address}@")).expect("address@digest").to_string();
    assert_eq!(registry.manifest_digest("tanto-tests/with-auth", "v1"), Some(digest));

    remove_image(&address);
    let run = tanto
        .call_guest(
            "images",
            "pulled-digest-with-auth",
            &[
                "--username=pusher",
                "--password=env://TANTO_TEST_REGISTRY_PASSWORD",
                &format!("--address={address}"),
                "--path=/app/data.bin",
            ],
        )
        .success();
    let expected = tanto.call_guest("images", "expected-digest", &[&format!("--marker={marker}")]).success();
    assert_eq!(run.stdout.trim(), expected.stdout.trim());

    // Neither password is anywhere tanto writes: its output, its cache, the image.
    for password in ["staple-battery-42", "not-the-password-77"] {
        for shown in [&refused.stdout, &refused.stderr, &run.stdout, &run.stderr] {
            assert!(!shown.contains(password), "{password} shown: {shown}");
        }
        let grep = std::process::Command::new("grep")
            .args(["-r", "-l", "-a", password])
            .arg(tanto.cache.path())
            .output()
            .unwrap();
        assert!(grep.stdout.is_empty(), "{password} in the cache: {}", String::from_utf8_lossy(&grep.stdout));
        assert!(!docker(&["image", "inspect", &address]).contains(password));
        assert!(!docker(&["image", "history", "--no-trunc", &address]).contains(password));
    }
    remove_image(&address);
    tanto.assert_no_leftovers();
}

#[test]
fn a_wrong_password_is_refused_naming_the_registry() {
    let registry = Registry::start("pusher", "correct-horse");
    let folder = tempfile::tempdir().unwrap();
    let tanto = tanto_with_login(&registry, folder.path(), "pusher", "wrong-password");
    let address = format!("{}/tanto-tests/refused:v1", registry.address);
    let run = tanto
        .call_guest("images", "publish", &[&format!("--address={address}"), "--marker=refused"])
        .failure(2);
    assert!(
        run.stderr.contains(&format!("registry {} rejected the credentials", registry.address)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("docker login {}", registry.address)),
        "the hint says what to do: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-password"), "the password is never shown: {}", run.stderr);
    assert_eq!(registry.manifest_digest("tanto-tests/refused", "v1"), None, "nothing was pushed");
    remove_image(&address);

    // `from` with the same wrong password: the same refusal, not "image not found".
    let run = tanto
        .call_guest("images", "pulled-digest", &[&format!("--address={address}"), "--path=/app/data.bin"])
        .failure(2);
    assert!(
        run.stderr.contains(&format!("registry {} rejected the credentials", registry.address)),
        "{}",
        run.stderr
    );
    tanto.assert_no_leftovers();
}

#[test]
fn an_unauthenticated_push_is_refused_clearly() {
    let registry = Registry::start("pusher", "correct-horse");
    let folder = tempfile::tempdir().unwrap();
    // A Docker configuration with no credentials at all.
    std::fs::write(folder.path().join("config.json"), "{}").unwrap();
    let tanto = Tanto::new().env("DOCKER_CONFIG", folder.path().to_str().unwrap());
    let address = format!("{}/tanto-tests/anonymous:v1", registry.address);
    let run = tanto
        .call_guest("images", "publish", &[&format!("--address={address}"), "--marker=anonymous"])
        .failure(2);
    assert!(
        run.stderr.contains(&format!(
            "registry {} requires authentication and no credentials were given for it",
            registry.address
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("hint: {} needs credentials", registry.address)), "{}", run.stderr);
    assert_eq!(registry.manifest_digest("tanto-tests/anonymous", "v1"), None, "nothing was pushed");
    remove_image(&address);
    tanto.assert_no_leftovers();
}

#[test]
fn an_exported_container_loads_and_runs_in_docker_and_imports_back() {
    let tanto = Tanto::new();
    let folder = tempfile::tempdir().unwrap();
    let marker = unique("export");

    // A `Container` result with `-o`: an image archive.
    let archive = folder.path().join("image.tar");
    tanto
        .call_guest("images", "configured", &[&format!("--marker={marker}"), "-o", archive.to_str().unwrap()])
        .success();
    let loaded = docker(&["load", "-i", archive.to_str().unwrap()]);
    let image = loaded
        .trim()
        .strip_prefix("Loaded image ID: ")
        .unwrap_or_else(|| panic!("docker load printed {loaded:?}: the archive names no tag"))
        .to_string();
    let output = std::process::Command::new("docker").args(["run", "--rm", &image]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut expected: Vec<u8> = (0..=255).collect();
    expected.extend_from_slice(marker.as_bytes());
    assert_eq!(output.stdout, expected, "the image runs its entrypoint and default arguments on its file");

    // `export()` as a file gives the same archive.
    let exported = folder.path().join("exported.tar");
    tanto
        .call_guest("images", "exported", &[&format!("--marker={marker}"), "-o", exported.to_str().unwrap()])
        .success();
    let loaded_again = docker(&["load", "-i", exported.to_str().unwrap()]);
    assert_eq!(loaded_again.trim(), loaded.trim(), "the same image");

    // And `import` reads an archive back, configuration included.
    let run = tanto.call_guest("images", "round-trip", &[&format!("--marker={marker}")]).success();
    let digest = tanto.call_guest("images", "expected-digest", &[&format!("--marker={marker}")]).success();
    let expected_hex = digest.stdout.trim().trim_start_matches("sha256:").to_string();
    assert_eq!(run.stdout, format!("/app\n1000\n{marker}\n{expected_hex}\nbuilt\n"));

    // An archive from the user's disk, imported: its tags never rename local images.
    let tagged = folder.path().join("tagged.tar");
    let tag = format!("tanto-tests-import:{}", unique("tag").to_lowercase());
    docker(&["tag", &image, &tag]);
    docker(&["save", "-o", tagged.to_str().unwrap(), &tag]);
    docker(&["image", "rm", "--no-prune", &tag]);
    let run = tanto
        .call_guest("images", "imported", &[&format!("--archive={}", tagged.display()), "--json"])
        .success();
    let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(config_of(result["image"].as_str().unwrap())["Cmd"], serde_json::json!(["cat /app/data.bin"]));
    assert!(docker(&["image", "ls", "-q", &tag]).trim().is_empty(), "importing did not tag {tag}");

    let _ = std::process::Command::new("docker").args(["image", "rm", "--no-prune", &image]).output();
    tanto.assert_no_leftovers();
}

#[test]
fn an_import_of_what_is_not_an_image_archive_says_so() {
    let tanto = Tanto::new();
    let folder = tempfile::tempdir().unwrap();
    let not_an_archive = folder.path().join("notes.txt");
    std::fs::write(&not_an_archive, "just text").unwrap();
    let run = tanto
        .call_guest("images", "imported", &[&format!("--archive={}", not_an_archive.display())])
        .failure(1);
    assert!(run.stderr.contains("import: the file is not an image archive"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn docker_build_takes_build_arguments_and_a_target_stage() {
    let tanto = Tanto::new();
    let source = tempfile::tempdir().unwrap();
    write(
        source.path(),
        "Dockerfile",
        "FROM busybox:latest AS base\n\
         ARG GREETING=unset\n\
         RUN echo \"$GREETING\" > /greeting.txt && mkdir /stages\n\
         FROM base AS test\n\
         RUN touch /stages/test\n\
         FROM base AS release\n\
         COPY app.txt /app.txt\n\
         RUN touch /stages/release\n\
         EXPOSE 8080\n\
         CMD [\"cat\", \"/app.txt\"]\n",
    );
    write(source.path(), "app.txt", "the app\n");
    let greeting = unique("hello");
    let source_arg = format!("--source={}", source.path().display());
    let run = tanto
        .call_guest("images", "built", &[&source_arg, &format!("--greeting={greeting}"), "--target=test"])
        .success();
    assert_eq!(
        run.stdout,
        format!("{greeting}\ntest\n"),
        "the build argument reached the build, which stopped at `test`"
    );
    let run = tanto
        .call_guest("images", "built", &[&source_arg, &format!("--greeting={greeting}"), "--target=release"])
        .success();
    assert_eq!(run.stdout, format!("{greeting}\nrelease\n"));

    // The last stage, as a container: its configuration (ports included) is the image's.
    let run = tanto.call_guest("images", "build", &[&source_arg, "--json"]).success();
    let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let config = config_of(result["image"].as_str().unwrap());
    assert_eq!(config["Cmd"], serde_json::json!(["cat", "/app.txt"]));
    assert_eq!(config["ExposedPorts"], serde_json::json!({ "8080/tcp": {} }));
    assert!(
        config["Labels"].is_null() || config["Labels"].as_object().unwrap().keys().all(|label| !label.starts_with("tanto.")),
        "{config}"
    );

    // A failing build names what failed.
    write(source.path(), "Dockerfile", "FROM busybox:latest\nRUN exit 3\n");
    let run = tanto.call_guest("images", "build", &[&source_arg]).failure(1);
    assert!(run.stderr.contains("returned a non-zero code: 3"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn the_ship_module_tests_then_publishes() {
    let registry = Registry::start("shipper", "ship-it-123");
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("config.json"), "{}").unwrap();
    let tanto = Tanto::new()
        .env("DOCKER_CONFIG", folder.path().to_str().unwrap())
        .env("TANTO_TEST_SHIP_PASSWORD", "ship-it-123");
    let source = tempfile::tempdir().unwrap();
    let dockerfile = "FROM busybox:latest AS base\n\
                      ARG VERSION\n\
                      COPY app.sh /app.sh\n\
                      FROM base AS test\n\
                      ARG VERSION\n\
                      RUN sh /app.sh > /out.txt && grep -q 'hello' /out.txt && echo \"passed $VERSION\" > /test-report.txt\n\
                      FROM base\n\
                      ENTRYPOINT [\"sh\", \"/app.sh\"]\n";
    write(source.path(), "Dockerfile", dockerfile);
    write(source.path(), "app.sh", "echo hello\n");
    let module = tanto_tests::repo_root().join("modules/ship");
    let source_arg = format!("--source={}", source.path().display());

    let run = tanto.run_in(&module, &["call", "test", &source_arg, "--version=1.0"]).success();
    assert_eq!(run.stdout, "passed 1.0\n");

    let address = format!("{}/tanto-tests/ship:1.0", registry.address);
    let publish = [
        "call",
        "publish",
        &source_arg,
        "--version=1.0",
        &format!("--address={address}"),
        "--username=shipper",
        "--password=env://TANTO_TEST_SHIP_PASSWORD",
    ];
    let run = tanto.run_in(&module, &publish).success();
    let digest = run.stdout.trim().strip_prefix(&format!("{address}@")).expect("address@digest").to_string();
    assert_eq!(registry.manifest_digest("tanto-tests/ship", "1.0"), Some(digest));
    let output = std::process::Command::new("docker").args(["run", "--rm", &address]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    assert_eq!(config_of(&address)["Labels"]["org.opencontainers.image.source"], "tanto ship");

    // Failing tests: nothing is pushed.
    write(source.path(), "app.sh", "echo goodbye\n");
    let failing_address = format!("{}/tanto-tests/ship:broken", registry.address);
    let mut publish_broken = publish.to_vec();
    let failing_argument = format!("--address={failing_address}");
    publish_broken[4] = &failing_argument;
    tanto.run_in(&module, &publish_broken).failure(1);
    assert_eq!(
        registry.manifest_digest("tanto-tests/ship", "broken"),
        None,
        "a failing test stage stops the publish"
    );

    remove_image(&address);
    tanto.assert_no_leftovers();
}
