//! An in-memory [`Backend`] for the engine's unit tests. Images are trees; commands are a
//! tiny language: `echo ARGS...`, `write PATH TEXT`, `link TARGET PATH`, `cat PATH`, `exit CODE`,
//! `sleep MILLIS`, `env`, `pwd`.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Backend, BackendError, Commit, CommitSpec, ImageConfig, ImageInfo, OutputSink, Removal, RunOutcome, RunSpec, SNAPSHOT_LABEL, SnapshotImage, Stream, Swept,
    TerminalIo, TerminalSpec,
};
use crate::engine::tree::{Entry, FileEntry, Filter, Tree};

#[derive(Default)]
pub struct FakeBackend {
    images: Mutex<HashMap<String, Tree>>,
    /// Snapshot images and the key their label names.
    snapshot_keys: Mutex<HashMap<String, String>>,
    next_image: AtomicUsize,
    /// Every command run, in order.
    pub commands: Mutex<Vec<Vec<String>>>,
    pub commits: AtomicUsize,
    /// Questions about images: one at a time, and listings of the snapshots.
    pub existence_checks: AtomicUsize,
    pub snapshot_listings: AtomicUsize,
    /// Archives of paths read out of images.
    pub path_reads: AtomicUsize,
    /// How many commands are running right now, and the most ever at once.
    running: AtomicUsize,
    pub max_running: AtomicUsize,
    /// `start COMMAND` and `end COMMAND` as commands start and end, in order.
    pub timeline: Mutex<Vec<String>>,
    /// The mounts of every command run, in order.
    pub mounts: Mutex<Vec<Vec<super::Mount>>>,
    /// How long a commit takes; a commit that takes any time adds `committed COMMAND`
    /// to the timeline when it is done.
    pub commit_delay: Mutex<Duration>,
}

impl FakeBackend {
    pub fn runs(&self) -> usize {
        self.commands.lock().unwrap().len()
    }

    pub fn forget_images(&self) {
        self.images.lock().unwrap().clear();
    }

    fn store(&self, tree: Tree) -> String {
        let id = format!("sha256:fake{}", self.next_image.fetch_add(1, Ordering::SeqCst));
        self.images.lock().unwrap().insert(id.clone(), tree);
        id
    }

    fn store_snapshot(&self, tree: Tree, labels: &std::collections::BTreeMap<String, String>) -> String {
        let id = self.store(tree);
        if let Some(key) = labels.get(SNAPSHOT_LABEL) {
            self.snapshot_keys.lock().unwrap().insert(id.clone(), key.clone());
        }
        id
    }

    fn tree(&self, image: &str) -> Result<Tree, BackendError> {
        self.images.lock().unwrap().get(image).cloned().ok_or_else(|| BackendError::Failed {
            operation: "fake".into(),
            reason: format!("no image {image}"),
        })
    }
}

fn apply_archive(mut tree: Tree, archive: &[u8]) -> Tree {
    let mut reader = tar::Archive::new(archive);
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        let mode = entry.header().mode().unwrap();
        if entry.header().entry_type().is_dir() {
            tree = tree.with_tree(&path, &Tree::new(), &Filter::default()).unwrap();
        } else if entry.header().entry_type().is_symlink() {
            let target = entry.link_name().unwrap().unwrap().to_string_lossy().into_owned();
            tree = tree.with_symlink(&path, &target).unwrap();
        } else {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            tree = tree.with_file(&path, FileEntry::from_bytes(bytes, mode)).unwrap();
        }
    }
    tree
}

#[async_trait]
impl Backend for FakeBackend {
    fn address(&self) -> String {
        "fake".into()
    }

    fn shares_host_files(&self) -> bool {
        true
    }

    async fn resolve_image(&self, address: &str, _credentials: Option<&super::Credentials>) -> Result<ImageInfo, BackendError> {
        if address.starts_with("missing") {
            return Err(BackendError::ImageNotFound {
                address: address.into(),
                reason: "not in the fake".into(),
            });
        }
        let id = format!("sha256:base-{address}");
        self.images.lock().unwrap().entry(id.clone()).or_default();
        Ok(ImageInfo {
            id,
            config: ImageConfig {
                env: vec!["PATH=/bin".into()],
                ..Default::default()
            },
        })
    }

    async fn scratch_image(&self) -> Result<ImageInfo, BackendError> {
        self.resolve_image("scratch", None).await
    }

    async fn push_image(&self, image: &str, _address: &str, _credentials: Option<&super::Credentials>) -> Result<String, BackendError> {
        self.tree(image)?;
        Ok(format!("sha256:pushed-{}", image.trim_start_matches("sha256:")))
    }

    /// The fake's archive of an image is its id.
    async fn save_image(&self, image: &str, archive: &std::path::Path) -> Result<(), BackendError> {
        self.tree(image)?;
        std::fs::write(archive, image).map_err(|error| BackendError::Failed {
            operation: "fake save".into(),
            reason: error.to_string(),
        })
    }

    async fn load_image(&self, archive: &std::path::Path) -> Result<ImageInfo, BackendError> {
        let id = std::fs::read_to_string(archive).map_err(|error| BackendError::Failed {
            operation: "fake load".into(),
            reason: error.to_string(),
        })?;
        self.tree(&id)?;
        Ok(ImageInfo {
            id,
            config: ImageConfig::default(),
        })
    }

    async fn build_image(
        &self,
        _context: &std::path::Path,
        _build: &super::BuildSpec,
        _labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<ImageInfo, BackendError> {
        Err(BackendError::Failed {
            operation: "building a Dockerfile".into(),
            reason: "the fake backend has no Dockerfile builder".into(),
        })
    }

    async fn run(&self, spec: RunSpec, sink: &dyn OutputSink) -> Result<RunOutcome, BackendError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        self.commands.lock().unwrap().push(spec.command.clone());
        self.mounts.lock().unwrap().push(spec.mounts.clone());
        self.timeline.lock().unwrap().push(format!("start {}", spec.command.join(" ")));
        let mut tree = self.tree(&spec.image)?;
        for archive in &spec.archives {
            tree = apply_archive(tree, &std::fs::read(archive.path()).unwrap());
        }
        let (mut stdout, mut stderr, mut exit_code) = (Vec::new(), Vec::new(), 0);
        let args = &spec.command;
        match args[0].as_str() {
            "echo" => stdout = format!("{}\n", args[1..].join(" ")).into_bytes(),
            "write" => tree = tree.with_file(&args[1], FileEntry::from_bytes(args[2].clone().into_bytes(), 0o644)).unwrap(),
            "link" => tree = tree.with_symlink(&args[2], &args[1]).unwrap(),
            "cat" => match tree.file(&args[1]) {
                Ok(file) => stdout = file.blob.read().unwrap(),
                Err(error) => {
                    stderr = error.to_string().into_bytes();
                    exit_code = 1;
                }
            },
            "exit" => {
                stderr = b"failing on purpose\n".to_vec();
                exit_code = args[1].parse().unwrap();
            }
            "sleep" => tokio::time::sleep(Duration::from_millis(args[1].parse().unwrap())).await,
            "env" => stdout = spec.config.env.join("\n").into_bytes(),
            "pwd" => stdout = spec.config.workdir.clone().unwrap_or_default().into_bytes(),
            other => {
                stderr = format!("{other}: not found").into_bytes();
                exit_code = 127;
            }
        }
        sink.output(Stream::Stdout, &stdout);
        sink.output(Stream::Stderr, &stderr);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.timeline.lock().unwrap().push(format!("end {}", spec.command.join(" ")));
        sink.exited();
        let commit = match spec.commit {
            Commit::Always => true,
            Commit::WhenExit(accepts) => accepts(exit_code),
        };
        let commit_delay = *self.commit_delay.lock().unwrap();
        if commit && !commit_delay.is_zero() {
            tokio::time::sleep(commit_delay).await;
            self.timeline.lock().unwrap().push(format!("committed {}", spec.command.join(" ")));
        }
        let image = commit.then(|| {
            self.commits.fetch_add(1, Ordering::SeqCst);
            self.store_snapshot(tree, &spec.snapshot_labels)
        });
        Ok(RunOutcome {
            exit_code,
            image,
            failed_image: None,
            duration: Duration::ZERO,
        })
    }

    async fn terminal(&self, _spec: TerminalSpec, _io: TerminalIo) -> Result<i64, BackendError> {
        Err(BackendError::Failed {
            operation: "opening a terminal".into(),
            reason: "the fake backend runs no shells".into(),
        })
    }

    async fn commit(&self, spec: CommitSpec) -> Result<String, BackendError> {
        let mut tree = self.tree(&spec.image)?;
        for archive in &spec.archives {
            tree = apply_archive(tree, &std::fs::read(archive.path()).unwrap());
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(self.store_snapshot(tree, &spec.snapshot_labels))
    }

    async fn read_path(&self, image: &str, path: &str, archive: &std::path::Path) -> Result<(), BackendError> {
        self.path_reads.fetch_add(1, Ordering::SeqCst);
        let tree = self.tree(image)?;
        let relative = path.trim_start_matches('/');
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let not_found = || BackendError::PathNotFound { path: path.to_string() };
        // As Docker does, a link at `path` is archived as the link, never followed.
        let wrapped = if let Some((_, Entry::Symlink { target })) = tree.iter().find(|(entry, _)| entry.as_str() == relative) {
            Tree::new().with_symlink(name, target).unwrap()
        } else if let Ok(file) = tree.file(relative) {
            Tree::new().with_file(name, file.clone()).unwrap()
        } else {
            let subtree = tree.subtree(relative).map_err(|_| not_found())?;
            Tree::new().with_tree(name, &subtree, &Filter::default()).unwrap()
        };
        std::fs::write(archive, wrapped.to_tar("/").unwrap()).unwrap();
        Ok(())
    }

    async fn image_exists(&self, image: &str) -> Result<bool, BackendError> {
        self.existence_checks.fetch_add(1, Ordering::SeqCst);
        Ok(self.images.lock().unwrap().contains_key(image))
    }

    async fn ensure_volume(&self, _name: &str, _labels: &std::collections::BTreeMap<String, String>) -> Result<(), BackendError> {
        Ok(())
    }

    async fn volume_exists(&self, _name: &str) -> Result<bool, BackendError> {
        Ok(false)
    }

    async fn remove_volume(&self, _name: &str) -> Result<bool, BackendError> {
        Ok(true)
    }

    async fn layer_size(&self, image: &str) -> Result<u64, BackendError> {
        Ok(self.tree(image)?.size())
    }

    async fn remove_image(&self, image: &str) -> Result<Removal, BackendError> {
        self.snapshot_keys.lock().unwrap().remove(image);
        Ok(match self.images.lock().unwrap().remove(image) {
            Some(_) => Removal::Removed,
            None => Removal::Gone,
        })
    }

    async fn image_with_config(&self, image: &str, _config: &ImageConfig) -> Result<String, BackendError> {
        let tree = self.tree(image)?;
        Ok(self.store(tree))
    }

    async fn snapshot_images(&self, _cache: &str) -> Result<Vec<SnapshotImage>, BackendError> {
        self.snapshot_listings.fetch_add(1, Ordering::SeqCst);
        let images = self.images.lock().unwrap();
        Ok(self
            .snapshot_keys
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, _)| images.contains_key(*id))
            .map(|(id, key)| SnapshotImage {
                id: id.clone(),
                key: key.clone(),
                parent: None,
                created: 0,
            })
            .collect())
    }

    async fn sweep_owner(&self, _owner: &str) -> Result<Swept, BackendError> {
        Ok(Swept::default())
    }

    async fn cleanup(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn start_service(&self, _spec: super::ServiceSpec) -> Result<super::StartedService, BackendError> {
        Err(no_services())
    }

    async fn service_exit_code(&self, _id: &str) -> Result<Option<i64>, BackendError> {
        Err(no_services())
    }

    async fn service_log_tail(&self, _id: &str, _lines: usize) -> Result<String, BackendError> {
        Err(no_services())
    }

    async fn stop_service(&self, _id: &str) -> Result<(), BackendError> {
        Err(no_services())
    }
}

/// The fake runs no processes, so it has no services to run (their tests use Docker).
fn no_services() -> BackendError {
    BackendError::Failed {
        operation: "starting a service".into(),
        reason: "the fake backend runs no services".into(),
    }
}
