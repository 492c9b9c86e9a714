//! The `tanto` command line. Each command parses its arguments into a settings struct
//! and calls one function of [`crate::ops`]; errors are rendered in one place
//! (`report`): the exit code and hint come from the error's type.

/// The CLI's own `print!`/`println!`/`eprintln!`: std's panic when the pipe
/// they write to is closed; these drop the text (see [`console`]). Defined before the
/// modules below so that the whole CLI uses them.
macro_rules! print {
    ($($arg:tt)*) => { $crate::cli::console::write_out(format_args!($($arg)*)) };
}
macro_rules! println {
    () => { print!("\n") };
    ($($arg:tt)*) => { $crate::cli::console::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}
macro_rules! eprintln {
    () => { $crate::cli::console::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::console::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

mod console;
mod lock;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use self::report::Signal;
use crate::engine::CacheMode;
use crate::error::{Hint, UsageError};
use crate::module::Sdk;
use crate::module::sandbox::UnsandboxedBuilds;
use crate::ops::call::{CallSettings, OutputFormat};
use crate::ops::init::InitSettings;
use crate::ops::install::{InstallSettings, LockSettings, NewDependency, UninstallSettings, UpdateSettings};
use crate::ops::publish::PublishSettings;
use crate::ops::{ModuleLocation, Session, SessionSettings};
use crate::runtime::Limits;
use crate::telemetry::progress::{self, ProgressMode};
use tanto_registry::install::LockMode;
use tanto_registry::reference::Reference;
use tanto_registry::resolve::Network;

/// Pipelines as WebAssembly modules, run on Docker, cached by content.
#[derive(Parser, Debug)]
#[command(name = "tanto", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Args, Debug)]
struct GlobalArgs {
    /// How to show progress on stderr.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    progress: ProgressMode,
    /// More diagnostics on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Use only what is in the local cache: no network for modules and dependencies.
    #[arg(long, global = true)]
    offline: bool,
    /// Fail instead of changing tanto.lock.
    #[arg(long, global = true)]
    locked: bool,
    /// Build third-party modules from source even when no sandbox (bubblewrap) can be
    /// made: their build scripts and proc-macros then run on this machine with your
    /// privileges. Without it, such a build is refused.
    #[arg(long, global = true)]
    allow_unsandboxed_builds: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new module.
    Init(InitArgs),
    /// List the functions of a module.
    Functions(FunctionsArgs),
    /// Call a function of a module: `tanto call FUNCTION --arg=value ...`.
    Call(CallArgs),
    /// Regenerate the typed APIs of a module's dependencies (src/dependencies.rs).
    /// `install`, `update` and `uninstall` do it too; this is for a local dependency
    /// whose functions changed, a newer tanto, or a deleted file.
    Develop(FunctionsArgs),
    /// Add a module to tanto.toml and pin it in tanto.lock; without REF, install what
    /// tanto.toml declares.
    Install(InstallArgs),
    /// Remove a dependency from tanto.toml and tanto.lock.
    Uninstall(UninstallArgs),
    /// Move dependencies to the newest versions their requirements allow.
    Update(UpdateArgs),
    /// Release this module: tag the current commit `vX.Y.Z` (`subpath/vX.Y.Z` in a
    /// monorepo) and push the tag.
    Publish(PublishArgs),
    /// Inspect and prune the cache.
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Args, Debug)]
struct InstallArgs {
    /// The module: `host/owner/repo[/subpath][@version]` (a version is a tag `v1.2.0`,
    /// a requirement `^1.2`, a branch or a commit) or a local path. Without a version,
    /// the newest release is added as `@^X.Y.Z`.
    #[arg(value_name = "REF")]
    reference: Option<String>,
    /// The name the module is called by (default: the last segment of REF).
    #[arg(long, requires = "reference")]
    name: Option<String>,
}

#[derive(Args, Debug)]
struct UninstallArgs {
    /// The dependency's name in tanto.toml.
    name: String,
}

#[derive(Args, Debug)]
struct UpdateArgs {
    /// The dependencies to update (names or `name@version` ids); all when none.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

#[derive(Args, Debug)]
struct PublishArgs {
    /// The version to release, `X.Y.Z` (required: tanto.toml has no version, the tag is
    /// the version, and a released tag can never be taken back).
    #[arg(long, value_name = "X.Y.Z", value_parser = parse_release_version)]
    version: semver::Version,
    /// The git remote to push the tag to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    remote: String,
}

/// `1.2.0` or `v1.2.0`.
fn parse_release_version(text: &str) -> Result<semver::Version, String> {
    semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).map_err(|error| format!("`{text}` is not a version X.Y.Z: {error}"))
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Show what the cache holds.
    Du,
    /// Remove cached steps, trees and compiled modules (and cache volumes with
    /// --volumes). With no selection, removes everything.
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
struct PruneArgs {
    /// Remove everything.
    #[arg(long)]
    all: bool,
    /// Remove least recently used entries until the cache is at most SIZE (`10GB`).
    #[arg(long, value_name = "SIZE")]
    keep_storage: Option<String>,
    /// Remove entries not used for DURATION (`24h`, `7d`).
    #[arg(long, value_name = "DURATION")]
    older_than: Option<String>,
    /// Also remove the cache volumes made through this cache.
    #[arg(long)]
    volumes: bool,
}

#[derive(Args, Debug)]
struct InitArgs {
    /// The folder to create the module in.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The language of the module.
    #[arg(long, value_enum)]
    sdk: SdkArg,
    /// The module's name (default: the folder's name).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SdkArg {
    Rust,
}

#[derive(Args, Debug)]
struct ModuleArgs {
    /// The module: a folder with a tanto.toml, or a .wasm component (default: the nearest
    /// tanto.toml at or above the current folder).
    #[arg(short = 'm', long = "mod", value_name = "PATH")]
    module: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct FunctionsArgs {
    #[command(flatten)]
    module: ModuleArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Run every step again instead of answering from the cache (results are still
    /// recorded for the next run).
    #[arg(long)]
    no_cache: bool,
    /// How many steps may run at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Guest CPU seconds per call; time waiting for containers does not count.
    #[arg(long, value_name = "SECONDS")]
    cpu_limit: Option<f64>,
    /// Most memory a module may make tanto hold, in MiB: its own memory plus the host
    /// objects it creates.
    #[arg(long, value_name = "MIB")]
    memory_limit: Option<u64>,
    /// Wall-clock limit of one module invocation, waiting for containers included
    /// (`90s`, `30m`, `2h`; default 1h).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
}

#[derive(Args, Debug)]
#[command(trailing_var_arg = true)]
struct CallArgs {
    #[command(flatten)]
    module: ModuleArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Save a directory, file or string result to this path.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// The function to call.
    function: String,
    /// The function's arguments: `--name=value` (see `tanto functions`).
    #[arg(allow_hyphen_values = true, value_name = "ARGS")]
    arguments: Vec<String>,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(report::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    crate::telemetry::init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return report::render(&anyhow::anyhow!("cannot start the async runtime: {error}"));
        }
    };
    let code = runtime.block_on(run(cli));
    // Blocking threads (file hashing, archive building) must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run(cli: Cli) -> ExitCode {
    let Cli {
        command,
        global:
            GlobalArgs {
                progress: progress_mode,
                verbose: _,
                offline,
                locked,
                allow_unsandboxed_builds,
            },
    } = cli;
    // Installed first, so that from here on no signal kills tanto without its cleanup.
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => return report::render(&error),
    };
    let signals = &mut signals;
    let unsandboxed_builds = if allow_unsandboxed_builds {
        UnsandboxedBuilds::Allow
    } else {
        UnsandboxedBuilds::Refuse
    };
    let network = if offline { Network::Offline } else { Network::Online };
    // `--locked` matters to the commands that could change tanto.lock; calls never do.
    let lock_mode = if locked { LockMode::Locked } else { LockMode::Write };
    let base_settings = || SessionSettings {
        network,
        unsandboxed_builds,
        ..SessionSettings::from_env()
    };
    let lock_settings = || -> anyhow::Result<LockSettings> {
        Ok(LockSettings {
            working_dir: std::env::current_dir()?,
            cache_root: SessionSettings::from_env().cache_root,
            network,
            lock_mode,
            unsandboxed_builds,
        })
    };
    match command {
        Command::Init(args) => finish(with_interrupt(signals, None, async { init(args) }).await),
        Command::Install(args) => {
            let session = Session::new(base_settings(), progress::display(progress_mode));
            finish(with_interrupt(signals, Some(&session), install(&session, lock_settings, args)).await)
        }
        Command::Uninstall(UninstallArgs { name }) => {
            let session = Session::new(base_settings(), progress::display(progress_mode));
            finish(with_interrupt(signals, Some(&session), uninstall(&session, lock_settings, name)).await)
        }
        Command::Update(UpdateArgs { names }) => {
            let session = Session::new(base_settings(), progress::display(progress_mode));
            finish(with_interrupt(signals, Some(&session), update(&session, lock_settings, names)).await)
        }
        Command::Publish(args) => finish(with_interrupt(signals, None, publish(args)).await),
        Command::Functions(FunctionsArgs { module }) => {
            let session = Session::new(base_settings(), progress::display(progress_mode));
            let result = with_interrupt(signals, Some(&session), functions(&session, module)).await;
            finish(result)
        }
        Command::Cache(command) => {
            let session = Session::new(base_settings(), progress::display(ProgressMode::Quiet));
            let result = with_interrupt(signals, Some(&session), cache(&session, command)).await;
            finish(result)
        }
        Command::Develop(FunctionsArgs { module }) => {
            let session = Session::new(base_settings(), progress::display(progress_mode));
            let result = with_interrupt(signals, Some(&session), develop(&session, module)).await;
            finish(result)
        }
        Command::Call(args) => {
            let settings = match session_settings(&args.run, base_settings()) {
                Ok(settings) => settings,
                Err(error) => return report::render(&error),
            };
            let session = Session::new(settings, progress::display(progress_mode));
            let result = with_interrupt(signals, Some(&session), call(&session, args)).await;
            finish(result)
        }
    }
}

async fn install(session: &Session, lock: impl FnOnce() -> anyhow::Result<LockSettings>, args: InstallArgs) -> anyhow::Result<()> {
    let InstallArgs { reference, name } = args;
    let add = match reference {
        Some(text) => Some(NewDependency {
            reference: Reference::parse(&text)?,
            name,
        }),
        None => None,
    };
    let outcome = crate::ops::install::install(session, InstallSettings { lock: lock()?, add }).await?;
    eprintln!("{}", lock::install_summary(&outcome));
    Ok(())
}

async fn uninstall(session: &Session, lock: impl FnOnce() -> anyhow::Result<LockSettings>, name: String) -> anyhow::Result<()> {
    let outcome = crate::ops::install::uninstall(session, UninstallSettings { lock: lock()?, name }).await?;
    eprintln!("{}", lock::install_summary(&outcome));
    Ok(())
}

async fn update(session: &Session, lock: impl FnOnce() -> anyhow::Result<LockSettings>, names: Vec<String>) -> anyhow::Result<()> {
    let outcome = crate::ops::install::update(session, UpdateSettings { lock: lock()?, names }).await?;
    eprintln!("{}", lock::update_summary(&outcome));
    Ok(())
}

async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let PublishArgs { version, remote } = args;
    let settings = PublishSettings {
        working_dir: std::env::current_dir()?,
        cache_root: SessionSettings::from_env().cache_root,
        version,
        remote,
    };
    let published = crate::ops::publish::publish(settings).await?;
    eprintln!("Published {} (commit {}) to {}", published.tag, published.commit, published.remote_url);
    eprintln!("Install it with: tanto install {}", published.install_reference());
    println!("{}", published.reference);
    Ok(())
}

async fn cache(session: &Session, command: CacheCommand) -> anyhow::Result<()> {
    use crate::ops::cache::{PruneSettings, human_age, human_bytes, parse_duration, parse_size, prune, usage};
    use anyhow::Context as _;
    let store = session.pipeline.store();
    let backend = session.pipeline.backend().as_ref();
    match command {
        CacheCommand::Du => {
            let usage = usage(store, backend).await;
            let max = crate::ops::cache::max_size_from_env().map_err(UsageError::new)?;
            println!("Cache at {} (ceiling {}, TANTO_CACHE_MAX_SIZE)", store.root().display(), human_bytes(max));
            println!(
                "  steps       {:>6}  {:>10}  snapshot images and recorded outputs",
                usage.held.steps,
                human_bytes(usage.held.step_bytes)
            );
            println!(
                "  trees       {:>6}  {:>10}  files and directories read from containers",
                usage.held.trees,
                human_bytes(usage.held.tree_bytes)
            );
            println!(
                "  components  {:>6}  {:>10}  compiled modules",
                usage.held.components,
                human_bytes(usage.held.component_bytes)
            );
            println!(
                "  git                 {:>10}  fetched repositories and checkouts of dependencies",
                human_bytes(usage.held.git_bytes)
            );
            println!(
                "  logs        {:>6}  {:>10}  output of recent steps that failed",
                usage.held.logs,
                human_bytes(usage.held.log_bytes)
            );
            println!(
                "  volumes     {:>6}  {:>10}  cache volumes (removed only by prune --volumes)",
                usage.volumes, ""
            );
            println!("  total               {:>10}", human_bytes(usage.held.bytes()));
            match (usage.oldest, usage.newest) {
                (Some(oldest), Some(newest)) => println!("  last used: oldest {}, newest {}", human_age(oldest), human_age(newest)),
                _ => println!("  empty"),
            }
        }
        CacheCommand::Prune(PruneArgs {
            all,
            keep_storage,
            older_than,
            volumes,
        }) => {
            let keep_storage = keep_storage
                .map(|text| parse_size(&text))
                .transpose()
                .map_err(|error| UsageError::new(format!("--keep-storage: {error}")))?;
            let older_than = older_than
                .map(|text| parse_duration(&text))
                .transpose()
                .map_err(|error| UsageError::new(format!("--older-than: {error}")))?;
            let all = all || (keep_storage.is_none() && older_than.is_none());
            let report = prune(
                store,
                backend,
                &PruneSettings {
                    all,
                    keep_storage,
                    older_than,
                    volumes,
                },
            )
            .await
            .with_context(|| format!("cannot lock the cache at {} for pruning", store.root().display()))?;
            if !report.swept.is_empty() {
                println!("{}", capitalized(&report.swept.to_string()));
            }
            println!(
                "Removed {} steps, {} trees and {} compiled modules: {}",
                report.removed.steps,
                report.removed.trees,
                report.removed.components,
                human_bytes(report.removed.bytes())
            );
            if report.removed.git_bytes > 0 {
                println!("Removed the git cache: {}", human_bytes(report.removed.git_bytes));
            }
            if report.removed.logs > 0 {
                println!(
                    "Removed {} of failed steps: {}",
                    if report.removed.logs == 1 {
                        "1 log".to_string()
                    } else {
                        format!("{} logs", report.removed.logs)
                    },
                    human_bytes(report.removed.log_bytes)
                );
            }
            if !report.volumes.is_empty() {
                println!("Removed {} cache volumes: {}", report.volumes.len(), report.volumes.join(", "));
            }
            if report.unreferenced_snapshots > 0 {
                println!("Removed {} snapshots no cache record referred to", report.unreferenced_snapshots);
            }
            if !report.kept.is_empty() {
                println!("Kept {} entries:", report.kept.len());
                for kept in &report.kept {
                    println!("  {}: {}", kept.entry, kept.reason);
                }
            }
        }
    }
    Ok(())
}

/// `text` with its first letter upper-case, for a sentence that starts a line.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report::render(&error),
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught for the whole life of the process.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hang_up: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind| signal(kind).map_err(|error| anyhow::anyhow!("cannot install a signal handler: {error}"));
        Ok(Self {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hang_up: install(SignalKind::hangup())?,
        })
    }

    /// The next of the three to arrive.
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
            _ = self.hang_up.recv() => Signal::HangUp,
        }
    }
}

/// Runs `work`, stopping it at the first signal; either way the session is closed, so
/// nothing is left on the backend. Signals that arrive during the cleanup wait for it.
async fn with_interrupt<T>(signals: &mut Signals, session: Option<&Session>, work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let result = tokio::select! {
        // Checked first at every wake-up: `work` may always be ready again (a module
        // computing yields at each epoch tick), and must not starve the signal.
        biased;
        signal = signals.next() => Err(anyhow::Error::new(report::Interrupted(signal))),
        result = work => result,
    };
    if let Some(session) = session {
        session.close().await;
    }
    result
}

fn session_settings(run: &RunArgs, mut settings: SessionSettings) -> anyhow::Result<SessionSettings> {
    let RunArgs {
        no_cache,
        jobs,
        cpu_limit,
        memory_limit,
        timeout,
    } = run;
    settings.cache_mode = if *no_cache { CacheMode::Refresh } else { CacheMode::Use };
    if let Some(jobs) = jobs {
        if *jobs == 0 {
            anyhow::bail!(UsageError::new("--jobs must be at least 1"));
        }
        settings.parallelism = *jobs;
    }
    if let Some(seconds) = cpu_limit {
        settings.limits.cpu_time = Limits::cpu_time_from_seconds(*seconds).map_err(|error| UsageError::new(format!("--cpu-limit: {error}")))?;
    }
    if let Some(mib) = memory_limit {
        settings.limits.memory_bytes = Limits::memory_bytes_from_mib(*mib).map_err(|error| UsageError::new(format!("--memory-limit: {error}")))?;
    }
    if let Some(text) = timeout {
        settings.limits.timeout = Limits::timeout_from_text(text).map_err(|error| UsageError::new(format!("--timeout: {error}")))?;
    }
    Ok(settings)
}

fn location(module: ModuleArgs) -> anyhow::Result<ModuleLocation> {
    let ModuleArgs { module } = module;
    Ok(match module {
        // An existing path is a local module; anything else must be a module reference.
        Some(path) if path.exists() => ModuleLocation::Path(path),
        Some(path) => {
            let text = path.to_string_lossy();
            match Reference::parse(&text) {
                Ok(reference) if !reference.is_local() => ModuleLocation::Remote(reference),
                Ok(_) => anyhow::bail!(UsageError::with_hint(format!("no module at {}", path.display()), Hint::CheckModulePath)),
                Err(error) => anyhow::bail!(UsageError::new(format!("{} is neither a path nor a module reference: {error}", path.display()))),
            }
        }
        None => ModuleLocation::Search(std::env::current_dir()?),
    })
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    let InitArgs { path, sdk, name } = args;
    let sdk = match sdk {
        SdkArg::Rust => Sdk::Rust,
    };
    let report = crate::ops::init::init(InitSettings { path, sdk, name })?;
    eprintln!("Initialized module {:?} in {}", report.name, report.root.display());
    eprintln!("Try: cd {} && tanto functions", report.root.display());
    Ok(())
}

async fn develop(session: &Session, module: ModuleArgs) -> anyhow::Result<()> {
    let root = match location(module)? {
        ModuleLocation::Path(path) => crate::module::find_module_root(&path)?,
        ModuleLocation::Search(start) => crate::module::find_module_root(&start)?,
        ModuleLocation::Remote(reference) => anyhow::bail!(UsageError::new(format!("develop works on a local module, not {reference}"))),
    };
    let report = crate::ops::develop::develop(session, &root).await?;
    let verb = if report.changed { "Wrote" } else { "Up to date:" };
    eprintln!(
        "{verb} {} ({} dependencies: {})",
        report.path.display(),
        report.dependencies.len(),
        report.dependencies.join(", ")
    );
    if !report.declared {
        eprintln!("hint: {}", Hint::DeclareDependenciesModule);
    }
    Ok(())
}

async fn functions(session: &Session, module: ModuleArgs) -> anyhow::Result<()> {
    let loaded = session.load(&location(module)?).await?;
    let schema = &loaded.schema;
    let mut out = String::new();
    if !schema.description.is_empty() {
        out.push_str(&format!("{}\n\n", schema.description.trim()));
    }
    out.push_str(&crate::module::args::function_list(schema));
    out.push('\n');
    for function in &schema.functions {
        out.push('\n');
        out.push_str(&crate::module::args::usage(function));
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

async fn call(session: &Session, args: CallArgs) -> anyhow::Result<()> {
    let CallArgs {
        module,
        run: _,
        mut output,
        mut json,
        function,
        arguments,
    } = args;
    // Output flags may follow the function's own arguments, as in Dagger.
    let mut function_arguments = Vec::new();
    let mut iter = arguments.into_iter();
    while let Some(argument) = iter.next() {
        match argument.as_str() {
            "--json" => json = true,
            "-o" | "--output" => {
                output = Some(
                    iter.next()
                        .map(PathBuf::from)
                        .ok_or_else(|| UsageError::new(format!("{argument} needs a path")))?,
                )
            }
            text if text.starts_with("--output=") => output = Some(PathBuf::from(&text["--output=".len()..])),
            _ => function_arguments.push(argument),
        }
    }
    let settings = CallSettings {
        location: location(module)?,
        function,
        arguments: function_arguments,
        output,
        format: if json { OutputFormat::Json } else { OutputFormat::Text },
        working_dir: std::env::current_dir()?,
    };
    let result = crate::ops::call::call(session, settings).await?;
    print!("{}", result.stdout);
    if let Some(path) = result.saved {
        eprintln!("Saved to {:?}", path.display().to_string());
    }
    Ok(())
}
