//! The release end of a pipeline: build an image from a source folder with its own
//! Dockerfile, run its tests in the image's test stage, and publish the release stage
//! to a registry, or hand it over as an image archive.
//!
//! ```text
//! tanto call -m modules/ship publish --source=. --address=registry.example.com/app:1.0
//! tanto call -m modules/ship release --source=. -o app.tar   # then: docker load -i app.tar
//! ```
//!
//! The Dockerfile (`Dockerfile` in the source folder unless `--dockerfile` says
//! otherwise) has a stage `test` whose last step runs the tests, and ends with the stage
//! to ship. Registry credentials come from your Docker configuration (`docker login`),
//! or from `--username` and `--password=env://VARIABLE`.

use tanto_sdk::{BuildOptions, Container, Directory, Error, Result, Secret};

/// The image the Dockerfile builds from `source`, stopped at `target` when given.
fn build(source: &Directory, dockerfile: &str, version: &str, target: Option<&str>) -> Container {
    let mut options = BuildOptions::new().build_arg("VERSION", version);
    if let Some(target) = target {
        options = options.target(target);
    }
    source.docker_build_opts(dockerfile, options)
}

#[derive(Default)]
struct Ship;

/// Build, test and publish an image.
#[tanto_sdk::module]
impl Ship {
    /// The release image: the Dockerfile's last stage, built with `VERSION` set.
    pub fn release(
        &self,
        #[arg(description = "the source folder: the build context, with the Dockerfile")] source: Directory,
        #[arg(description = "the Dockerfile's path in the source folder", default = "Dockerfile")] dockerfile: String,
        #[arg(description = "passed to the build as the build argument VERSION", default = "dev")] version: String,
    ) -> Container {
        build(&source, &dockerfile, &version, None).with_label("org.opencontainers.image.source", "tanto ship")
    }

    /// Builds the Dockerfile's `test` stage (whose steps run the tests) and returns what
    /// its last step printed to `/test-report.txt`.
    pub fn test(&self, source: Directory, #[arg(default = "Dockerfile")] dockerfile: String, #[arg(default = "dev")] version: String) -> Result<String> {
        build(&source, &dockerfile, &version, Some("test")).file("/test-report.txt").contents()
    }

    /// Tests, then publishes the release image to `address`; returns
    /// `address@sha256:...`. With `username` and `password`, those are the registry's
    /// credentials; without, your Docker configuration's.
    pub fn publish(
        &self,
        source: Directory,
        #[arg(description = "where to push: registry/repository:tag")] address: String,
        #[arg(default = "Dockerfile")] dockerfile: String,
        #[arg(default = "dev")] version: String,
        #[arg(description = "the registry user name, with --password")] username: Option<String>,
        #[arg(description = "the registry password or token, e.g. env://REGISTRY_TOKEN")] password: Option<Secret>,
    ) -> Result<String> {
        // The tests must pass before anything is pushed.
        build(&source, &dockerfile, &version, Some("test")).sync()?;
        let release = build(&source, &dockerfile, &version, None).with_label("org.opencontainers.image.source", "tanto ship");
        let release = match (username, password) {
            (Some(username), Some(password)) => release.with_registry_auth(&address, &username, &password),
            (None, None) => release,
            _ => return Err(Error::msg("give --username and --password together, or neither")),
        };
        release.publish(&address)
    }
}
