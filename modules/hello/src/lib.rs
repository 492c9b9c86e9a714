//! The smallest tanto module: greetings from a busybox container, and a file of the
//! caller's directory read inside one.

use tanto_sdk::{Container, Directory, Result, dag};

/// The image every function runs in.
const IMAGE: &str = "busybox:latest";

#[derive(Default)]
struct Hello;

/// Greetings from containers.
#[tanto_sdk::module]
impl Hello {
    /// Says hello to `name` from a busybox container: the standard output of
    /// `echo "hello, NAME"`, trailing newline included.
    pub fn hello(&self, #[arg(description = "who to greet; `world` when not given")] name: Option<String>) -> Result<String> {
        let name = name.unwrap_or_else(|| "world".to_owned());
        busybox().with_exec(["echo", &format!("hello, {name}")]).stdout()
    }

    /// Prints the file at `path` in `source`, as read by `cat` inside a container that
    /// has `source` at `/src`.
    pub fn cat(
        &self,
        #[arg(description = "the directory holding the file")] source: Directory,
        #[arg(description = "the file's path, relative to `source`")] path: String,
    ) -> Result<String> {
        busybox().with_directory("/src", &source).with_exec(["cat", &format!("/src/{path}")]).stdout()
    }

    /// Greets `name` with `greeting`, e.g. `hi, ada`.
    pub fn greet(
        &self,
        #[arg(description = "the greeting", default = "hi")] greeting: String,
        #[arg(description = "who to greet")] name: String,
    ) -> Result<String> {
        busybox().with_exec(["echo", &format!("{greeting}, {name}")]).stdout()
    }
}

fn busybox() -> Container {
    dag().container().from(IMAGE)
}
