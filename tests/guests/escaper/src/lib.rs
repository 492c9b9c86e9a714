//! A hostile module: every function tries to reach host files through what its containers
//! make (links to host paths, names with `..` and `\`, links replaced by folders), the
//! way a third-party module author would. The host must never read or write a host file
//! it was not given; tests/tests/hostile checks that nothing outside the targets changed
//! and that no host byte came back.

use tanto_sdk::{Container, Directory, Result, dag};

fn busybox() -> Container {
    dag().container().from("busybox:latest")
}

/// A container whose `/leak` links to `target`.
fn linking(target: &str) -> Container {
    busybox().with_exec(["ln", "-s", target, "/leak"])
}

#[derive(Default)]
struct Escaper;

/// Tries to escape the sandbox through the file system.
#[tanto_sdk::module]
impl Escaper {
    /// A folder holding a link `0` to `target` and, beside it, a file literally named
    /// `a\..\0\NAME` (mode 777): turned into a path, the name would climb out of the folder
    /// and through the link.
    pub fn backslash_tree(&self, target: String, name: String) -> Directory {
        let file = format!("/out/a\\..\\0\\{name}");
        busybox()
            .with_exec([
                "sh",
                "-c",
                "mkdir /out && ln -s \"$0\" /out/0 && printf pwned > \"$1\" && chmod 777 \"$1\"",
                &target,
                &file,
            ])
            .directory("/out")
    }

    /// A folder whose link `0` (to `target`) is then replaced by a folder holding
    /// `0/NAME`: a writer that followed the link would write `target/NAME`.
    pub fn link_then_file(&self, target: String, name: String) -> Directory {
        let linked = busybox()
            .with_exec(["sh", "-c", "mkdir /out && ln -s \"$0\" /out/0", &target])
            .directory("/out");
        dag().directory().with_directory(".", &linked).with_new_file(format!("0/{name}"), "pwned")
    }

    /// A folder of links to `target`: `abs` (absolute) and `rel` (climbing with `..`).
    pub fn links(&self, target: String) -> Directory {
        let relative = format!("../../../../../../../../../../..{target}");
        busybox()
            .with_exec(["sh", "-c", "mkdir /out && ln -s \"$0\" /out/abs && ln -s \"$1\" /out/rel", &target, &relative])
            .directory("/out")
    }

    /// `file("/leak").contents()` where `/leak` links to `target`.
    pub fn read_link(&self, target: String) -> Result<String> {
        linking(&target).file("/leak").contents()
    }

    /// The file `/leak` (a link to `target`), for `-o`.
    pub fn link_file(&self, target: String) -> tanto_sdk::File {
        linking(&target).file("/leak")
    }

    /// `directory("/leak").entries(".")` where `/leak` links to `target`.
    pub fn list_link(&self, target: String) -> Result<Vec<String>> {
        linking(&target).directory("/leak").entries(".")
    }

    /// A linked file copied with `with-file` into a new folder, read back.
    pub fn with_file_link(&self, target: String) -> Result<String> {
        dag().directory().with_file("copied", &linking(&target).file("/leak")).file("copied").contents()
    }

    /// A linked folder copied with `with-directory` into a new folder, for `-o`.
    pub fn with_directory_link(&self, target: String) -> Directory {
        dag().directory().with_directory("copied", &linking(&target).directory("/leak"))
    }

    /// A linked folder copied with `with-directory` straight into another container (from
    /// the daemon's archive of it), listed there.
    pub fn container_copy_link(&self, target: String) -> Result<String> {
        busybox()
            .with_directory("/in", &linking(&target).directory("/leak"))
            .with_exec(["ls", "-R", "/in"])
            .stdout()
    }

    /// The hostile folders copied into a container with `with-directory`, listed there.
    pub fn into_container(&self, target: String, name: String) -> Result<String> {
        busybox()
            .with_directory("/in", &self.backslash_tree(target.clone(), name.clone()))
            .with_directory("/in2", &self.link_then_file(target, name))
            .with_exec(["sh", "-c", "cd / && find in in2 | sort"])
            .stdout()
    }

    /// The hostile folders mounted with `with-mounted-directory`, listed there.
    pub fn mounted(&self, target: String, name: String) -> Result<String> {
        busybox()
            .with_mounted_directory("/mnt", &self.backslash_tree(target.clone(), name.clone()))
            .with_mounted_directory("/mnt2", &self.link_then_file(target, name))
            .with_exec(["sh", "-c", "cd / && find mnt mnt2 | sort"])
            .stdout()
    }

    /// Links that stay inside the container, absolute and climbing, read with `file()`:
    /// they resolve in the container, as a command there would see them.
    pub fn inner_links(&self) -> Result<String> {
        let container = busybox().with_exec([
            "sh",
            "-c",
            "mkdir -p /data/sub && echo container-bytes > /data/f && ln -s /data/f /abs && ln -s ../../../../data/f /data/sub/rel && ln -s /data /dir",
        ]);
        Ok(format!(
            "{}{}{:?}",
            container.file("/abs").contents()?,
            container.file("/data/sub/rel").contents()?,
            container.directory("/dir").entries(".")?
        ))
    }
}
