//! Images in and out: publishing a container to a registry, a container as an image
//! archive and back (`export`, `import`), and Dockerfile builds. Archives and build
//! contexts go through files in the cache's work folders, streamed, never whole in memory.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::Lookup;
use super::{Snapshot, blocking, local_error};
use crate::backend::{self, BuildSpec, ImageConfig};
use crate::engine::digest::Hasher;
use crate::engine::objects::{Container, Directory, File};
use crate::engine::tree::{Blob, FileEntry, HashCache, normalize_relative};
use crate::engine::{Engine, EngineError};

/// The most a `manifest.json` of an image archive may hold: it lists a few file names.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

impl Engine {
    /// Pushes an image of the container (exactly its configuration, none of tanto's
    /// labels) to `address` (`registry/repository[:tag]`, `latest` when it names no tag)
    /// and returns `address@sha256:...`, the digest the registry stored. Pushes with the
    /// credentials the container was given for the registry, else the user's own.
    pub async fn publish(&self, container: &Container, address: &str) -> Result<String, EngineError> {
        check_address(address)?;
        let image = self.image(container).await?;
        let credentials = container.registry_auth(address).map(|auth| auth.credentials());
        let digest = self.backend.push_image(&image, address, credentials.as_ref()).await?;
        Ok(format!("{address}@{digest}"))
    }

    /// A container's image as a `docker save` archive in the cache (untagged: loading it
    /// changes no name on the daemon), made once per image.
    pub(super) async fn eval_image_archive(&self, container: &Container) -> Result<FileEntry, EngineError> {
        let image = self.image(container).await?;
        let mut hasher = Hasher::new("image-archive");
        hasher.str(&image);
        let key = hasher.finish();
        let installed = self
            .cached_tree_dir(&key, "an image archive", |work| async move {
                self.backend.save_image(&image, &work.path().join("root")).await?;
                Ok(work)
            })
            .await?;
        let root = installed.join("root");
        blocking(move || Ok(HashCache::with_installed(&installed, |hashes| FileEntry::from_host(&root, hashes))?)).await
    }

    /// The image of an image archive, loaded once per archive content. The archive is
    /// rewritten without its tags first: a module's archive must not retag (and so
    /// replace) images on the user's daemon.
    pub(super) async fn eval_import(&self, archive: &File) -> Result<Snapshot, EngineError> {
        let entry = self.eval_file(archive).await?;
        let mut hasher = Hasher::new("import-snapshot");
        hasher.digest(&entry.hash);
        let key = hasher.finish();
        let image = match self.cached_or_lock(&key).await? {
            Lookup::Cached(step) => step.image,
            Lookup::Missing(_lock) => {
                let work = self.store.temp_dir().map_err(local_error("cannot create a work folder"))?;
                let untagged = work.path().join("untagged.tar");
                let destination = untagged.clone();
                blocking(move || untag_archive(&entry.blob, &destination)).await?;
                let image = self.backend.load_image(&untagged).await?;
                self.record_snapshot(&key, &image.id).await;
                image.id
            }
        };
        self.snapshot_of(image, key).await
    }

    /// The image the Dockerfile builds from `context`, by the daemon's builder, labelled
    /// and recorded as a snapshot (so `cache prune` can remove it like any other).
    pub(super) async fn eval_docker_build(&self, context: &Directory, build: &BuildSpec) -> Result<Snapshot, EngineError> {
        let dockerfile = normalize_relative(&build.dockerfile)?;
        if dockerfile.is_empty() {
            return Err(EngineError::InvalidArgument(
                "docker-build needs the path of a Dockerfile in the directory".into(),
            ));
        }
        let tree = self.eval_tree(context).await?;
        tree.file(&dockerfile)
            .map_err(|_| EngineError::NotFound(format!("docker-build: the directory has no file {dockerfile} (the Dockerfile)")))?;
        let mut hasher = Hasher::new("docker-build-snapshot");
        hasher.digest(&tree.digest()).str(&dockerfile).u64(build.build_args.len() as u64);
        for (name, value) in &build.build_args {
            hasher.str(name).str(value);
        }
        hasher.opt_str(build.target.as_deref());
        // Only the keyed hash of a secret's value enters the key: a new value builds
        // again, and the key tells nothing about the value.
        if !build.secrets.is_empty() {
            hasher.str("secrets").u64(build.secrets.len() as u64);
            for (id, secret) in &build.secrets {
                hasher.str(id).str(&self.secret_hash(secret)?);
            }
        }
        let key = hasher.finish();
        let image = match self.cached_or_lock(&key).await? {
            Lookup::Cached(step) => step.image,
            Lookup::Missing(_lock) => {
                let work = self.store.temp_dir().map_err(local_error("cannot create a work folder"))?;
                let context_archive = work.path().join("context.tar");
                let destination = context_archive.clone();
                blocking(move || {
                    let file = std::fs::File::create(&destination).map_err(local_error("cannot write a build context"))?;
                    let mut file = tree.write_tar("/", std::io::BufWriter::new(file))?;
                    file.flush().map_err(local_error("cannot write a build context"))
                })
                .await?;
                let spec = BuildSpec {
                    dockerfile: dockerfile.clone(),
                    ..build.clone()
                };
                let image = self.backend.build_image(&context_archive, &spec, &self.snapshot_labels(&key)).await?;
                self.record_snapshot(&key, &image.id).await;
                image.id
            }
        };
        self.snapshot_of(image, key).await
    }

    /// A snapshot of a local image, with its configuration as the base (without tanto's
    /// labels, which only mark the image as a snapshot).
    async fn snapshot_of(&self, image: String, key: crate::engine::Digest) -> Result<Snapshot, EngineError> {
        let info = self.backend.resolve_image(&image, None).await?;
        let mut config: ImageConfig = info.config;
        config.labels.retain(|name, _| !backend::INTERNAL_LABELS.contains(&name.as_str()));
        Ok(Snapshot {
            image: info.id,
            key,
            base: Arc::new(config),
        })
    }
}

/// Refuses addresses no registry takes, before anything is built or pushed.
fn check_address(address: &str) -> Result<(), EngineError> {
    let problem = if address.is_empty() {
        Some("it is empty")
    } else if address.contains('@') {
        Some("it names a digest; publish to a repository and tag (`registry/repository:tag`)")
    } else if address.chars().any(|character| character.is_whitespace() || character.is_control()) {
        Some("it contains whitespace")
    } else if address.ends_with(':') || address.ends_with('/') {
        Some("it ends without a name or tag")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(EngineError::InvalidArgument(format!("cannot publish to {address:?}: {problem}"))),
        None => Ok(()),
    }
}

/// Copies the image archive `source` to `destination` entry by entry, with its
/// `manifest.json` naming no tag and without the legacy `repositories` file, and checks
/// it holds exactly one image.
fn untag_archive(source: &Blob, destination: &Path) -> Result<(), EngineError> {
    let invalid = |reason: String| EngineError::InvalidArgument(format!("import: the file is not an image archive (`docker save` format): {reason}"));
    let input: Box<dyn std::io::Read> = match source {
        Blob::Host(path) => Box::new(std::fs::File::open(path).map_err(local_error("cannot read the image archive"))?),
        Blob::Bytes(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
    };
    let output = std::fs::File::create(destination).map_err(local_error("cannot write an image archive"))?;
    let mut archive = tar::Archive::new(input);
    let mut builder = tar::Builder::new(std::io::BufWriter::new(output));
    let mut manifests = 0;
    for entry in archive.entries().map_err(|error| invalid(error.to_string()))? {
        let mut entry = entry.map_err(|error| invalid(error.to_string()))?;
        let path: PathBuf = entry.path().map_err(|error| invalid(error.to_string()))?.into_owned();
        let mut header = entry.header().clone();
        match path.to_str() {
            Some("repositories") => continue,
            Some("manifest.json") => {
                let mut text = Vec::new();
                (&mut entry)
                    .take(MAX_MANIFEST_BYTES + 1)
                    .read_to_end(&mut text)
                    .map_err(|error| invalid(error.to_string()))?;
                if text.len() as u64 > MAX_MANIFEST_BYTES {
                    return Err(invalid("its manifest.json is larger than 1 MiB".into()));
                }
                let mut manifest: Vec<serde_json::Map<String, serde_json::Value>> =
                    serde_json::from_slice(&text).map_err(|error| invalid(format!("manifest.json: {error}")))?;
                if manifest.len() != 1 {
                    return Err(invalid(format!("it holds {} images; import takes one", manifest.len())));
                }
                for image in &mut manifest {
                    image.insert("RepoTags".into(), serde_json::Value::Null);
                }
                let bytes = serde_json::to_vec(&manifest).map_err(|error| invalid(error.to_string()))?;
                header.set_size(bytes.len() as u64);
                header.set_cksum();
                builder
                    .append_data(&mut header, &path, bytes.as_slice())
                    .map_err(local_error("cannot write an image archive"))?;
                manifests += 1;
            }
            _ => {
                if header.entry_type().is_symlink() || header.entry_type().is_hard_link() {
                    let target = entry
                        .link_name()
                        .map_err(|error| invalid(error.to_string()))?
                        .ok_or_else(|| invalid(format!("the link {} has no target", path.display())))?
                        .into_owned();
                    builder
                        .append_link(&mut header, &path, &target)
                        .map_err(local_error("cannot write an image archive"))?;
                } else {
                    builder
                        .append_data(&mut header, &path, &mut entry)
                        .map_err(local_error("cannot write an image archive"))?;
                }
            }
        }
    }
    if manifests != 1 {
        return Err(invalid("it has no manifest.json".into()));
    }
    builder
        .into_inner()
        .and_then(|mut writer| writer.flush())
        .map_err(local_error("cannot write an image archive"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *bytes).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn untagging_drops_the_tags_and_keeps_the_layers() {
        let manifest = br#"[{"Config":"abc.json","RepoTags":["busybox:latest"],"Layers":["l/layer.tar"]}]"#;
        let source = archive(&[
            ("manifest.json", manifest),
            ("repositories", br#"{"busybox":{"latest":"l"}}"#),
            ("abc.json", b"{}"),
            ("l/layer.tar", b"layer bytes"),
        ]);
        let folder = tempfile::tempdir().unwrap();
        let destination = folder.path().join("out.tar");
        untag_archive(&Blob::Bytes(source.into()), &destination).unwrap();
        let mut names = Vec::new();
        let mut output = tar::Archive::new(std::fs::File::open(&destination).unwrap());
        for entry in output.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            if name == "manifest.json" {
                let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(manifest[0]["RepoTags"], serde_json::Value::Null);
                assert_eq!(manifest[0]["Layers"][0], "l/layer.tar");
            }
            if name == "l/layer.tar" {
                assert_eq!(text, "layer bytes");
            }
            names.push(name);
        }
        assert_eq!(names, ["manifest.json", "abc.json", "l/layer.tar"]);
    }

    #[test]
    fn untagging_refuses_what_is_not_one_image() {
        let folder = tempfile::tempdir().unwrap();
        let two = archive(&[("manifest.json", br#"[{"Config":"a.json"},{"Config":"b.json"}]"#)]);
        let error = untag_archive(&Blob::Bytes(two.into()), &folder.path().join("two.tar")).unwrap_err();
        assert!(error.to_string().contains("holds 2 images"), "{error}");
        let none = archive(&[("hello.txt", b"hi")]);
        let error = untag_archive(&Blob::Bytes(none.into()), &folder.path().join("none.tar")).unwrap_err();
        assert!(error.to_string().contains("no manifest.json"), "{error}");
    }

    #[test]
    fn addresses_are_checked_before_anything_runs() {
        assert!(check_address("127.0.0.1:5000/app:1").is_ok());
        assert!(check_address("127.0.0.1:5000/app").is_ok());
        for bad in ["", "app@sha256:abc", "app name", "app:", "registry/"] {
            assert!(check_address(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
