//! Images in and out of tanto: publishing to a registry, pulling back with `from`, image
//! archives (`export`, `import`) and Dockerfile builds. Each function returns what a
//! test compares byte for byte.

use tanto_sdk::{BuildOptions, Container, Directory, File, Result, Secret, dag};

const IMAGE: &str = "busybox:latest";

/// The bytes `configured` puts in `/app/data.bin`: every byte value, then `marker`.
fn payload(marker: &str) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255).collect();
    bytes.extend_from_slice(marker.as_bytes());
    bytes
}

#[derive(Default)]
struct Images;

/// Images and registries.
#[tanto_sdk::module]
impl Images {
    /// A container with every piece of image configuration set and a binary file.
    pub fn configured(&self, marker: String) -> Container {
        dag()
            .container()
            .from(IMAGE)
            .with_new_file_bytes_permissions("/app/data.bin", payload(&marker), 0o644)
            .with_exec(["sh", "-c", "echo built > /app/built.txt"])
            .with_env_variable("APP_MARKER", &marker)
            .with_workdir("/app")
            .with_user("1000:1000")
            .with_entrypoint(["/bin/sh", "-c"])
            .with_default_args(["cat /app/data.bin"])
            .with_label("org.opencontainers.image.title", "tanto-images-test")
    }

    /// `configured` pushed to `address`; returns `address@sha256:...`.
    pub fn publish(&self, address: String, marker: String) -> Result<String> {
        self.configured(marker).publish(&address)
    }

    /// `configured` pushed to `address` with `username` and `password` given by
    /// `with-registry-auth` for the registry `registry`.
    pub fn publish_with_auth(&self, registry: String, username: String, password: Secret, address: String, marker: String) -> Result<String> {
        self.configured(marker).with_registry_auth(&registry, &username, &password).publish(&address)
    }

    /// The sha256 of `path` in the image at `address`, pulled with `username` and
    /// `password` given by `with-registry-auth` when it is not local.
    pub fn pulled_digest_with_auth(&self, username: String, password: Secret, address: String, path: String) -> Result<String> {
        dag()
            .container()
            .with_registry_auth(&address, &username, &password)
            .from(&address)
            .file(&path)
            .digest()
    }

    /// The sha256 of `path` in the image at `address` (pulled when not local).
    pub fn pulled_digest(&self, address: String, path: String) -> Result<String> {
        dag().container().from(&address).file(&path).digest()
    }

    /// `configured` as an image archive.
    pub fn exported(&self, marker: String) -> File {
        self.configured(marker).export()
    }

    /// `configured` exported and imported back, then run: its file and configuration as
    /// a command inside sees them.
    pub fn round_trip(&self, marker: String) -> Result<String> {
        let archive = self.configured(marker).export();
        dag()
            .container()
            .import(&archive)
            .with_exec([
                "sh",
                "-c",
                "pwd; id -u; echo $APP_MARKER; sha256sum /app/data.bin | cut -d' ' -f1; cat /app/built.txt",
            ])
            .stdout()
    }

    /// The image archive `archive`, imported.
    pub fn imported(&self, archive: File) -> Container {
        dag().container().import(&archive)
    }

    /// The Dockerfile of `source` built with the build argument `GREETING` and stopped at
    /// stage `target`, then asked what it holds.
    pub fn built(&self, source: Directory, greeting: String, target: String) -> Result<String> {
        source
            .docker_build_opts("Dockerfile", BuildOptions::new().build_arg("GREETING", greeting).target(target))
            .with_exec(["sh", "-c", "cat /greeting.txt; ls /stages"])
            .stdout()
    }

    /// The Dockerfile of `source` built as it is.
    pub fn build(&self, source: Directory) -> Container {
        source.docker_build("Dockerfile")
    }

    /// The sha256 of `/app/data.bin` as `configured` writes it, to compare with.
    pub fn expected_digest(&self, marker: String) -> Result<String> {
        dag().directory().with_new_file_bytes("data.bin", payload(&marker)).file("data.bin").digest()
    }
}
