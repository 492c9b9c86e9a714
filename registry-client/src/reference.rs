//! Module references: where a module lives and which version of it is wanted.
//!
//! # Forms
//!
//! | form | example |
//! | --- | --- |
//! | host style | `github.com/acme/ci-modules/golang@v1.2.0` |
//! | https / http / git URL | `https://github.com/acme/ci-modules.git/golang@^1` |
//! | ssh URL | `ssh://git@github.com:22/acme/ci-modules/golang@main` |
//! | scp-like | `git@github.com:acme/ci-modules.git/golang@1a2b3c4` |
//! | local path | `./mods/x`, `../x`, `/abs/path` (never a version) |
//!
//! # Where the repository ends
//!
//! A host-style reference always names the repository with its first three segments,
//! `host/owner/repo`; everything after is the subpath of the module inside the
//! repository. That is the Daggerverse's rule, and it fits github.com, gitlab.com,
//! codeberg.org and most forges. A repository nested deeper (a GitLab subgroup) is
//! written as a URL with a `.git` suffix: in URL and scp-like forms the repository
//! ends at the first segment ending in `.git`, and without one it is the first two
//! path segments (`owner/repo`).
//!
//! Host-style references are cloned over `https://host/owner/repo`. Users (and the
//! tests) reroute that URL with git's own `url.<base>.insteadOf`, so mirrors, SSH and
//! credentials behave exactly as they do for plain git.
//!
//! # Versions
//!
//! The text after the last `@` of the path is the version spec, classified when parsed
//! (see [`VersionKind`]): a full `X.Y.Z` version (optionally `v`-prefixed) is exact;
//! 7–40 hex digits are a commit; anything semver accepts as a requirement (`^1.2`,
//! `~1.4`, `1`, `v1`, `>=1.0, <2`, `*`) is a requirement; any other valid git ref
//! name is a branch. The classification is a reading, not the truth: resolution looks
//! at the repository and lets an existing tag, then branch, then commit of that exact
//! name win (see [`crate::resolve`]), so a branch called `v1` or `1.2.0` is still
//! reachable.
//!
//! References never carry credentials: `https://user:password@host/...` is rejected
//! because a reference is written into `tanto.lock` and logs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The forms a reference may take, shown by every [`ReferenceError`].
pub const ACCEPTED_FORMS: &str = "\
accepted forms:
  host/owner/repo[/subpath][@version]                      github.com/acme/ci-modules/golang@v1.2.0
  https://host/owner/repo[.git][/subpath][@version]        https://gitlab.com/acme/ci.git/golang@^1
  ssh://[user@]host[:port]/owner/repo[/subpath][@version]  ssh://git@github.com/acme/ci-modules@main
  git@host:owner/repo[.git][/subpath][@version]            git@github.com:acme/ci-modules.git/golang@~1.4
  ./path, ../path or /absolute/path                        a local module (no version)
a version is an exact tag (v1.2.0), a semver requirement (^1.2, ~1.4, 1), a branch or a commit (7-40 hex digits)";

/// A parsed module reference: a source plus an optional version spec.
///
/// `Display` writes the reference back in the form it was written, and parsing that
/// text gives an equal `Reference` (round trip).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    source: Source,
    version: Option<VersionSpec>,
}

/// Where a module lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A module inside a git repository.
    Remote(RemoteSource),
    /// A module folder on this machine, as written (relative paths are relative to the
    /// manifest that names them).
    Local(PathBuf),
}

/// A git repository plus the module's folder inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteSource {
    repository: Repository,
    subpath: Option<String>,
}

/// A git repository as written in a reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    scheme: Scheme,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    /// Repository path without a leading `/` and without the `.git` suffix.
    path: String,
    /// Whether the path was written with a `.git` suffix (kept for round trips).
    dot_git: bool,
}

/// How a repository was written; decides its clone URL and its `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `host/owner/repo`, cloned over https.
    HostPath,
    Https,
    Http,
    Git,
    Ssh,
    /// `[user@]host:path`, git's scp-like ssh syntax.
    ScpLike,
}

/// A version spec as written after `@`, with its parsed reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionSpec {
    raw: String,
    kind: VersionKind,
}

/// How a version spec reads before the repository is consulted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionKind {
    /// `X.Y.Z` or `vX.Y.Z` (pre-release and build metadata allowed).
    Exact(semver::Version),
    /// Anything semver parses as a requirement (a leading `v` before a digit is
    /// ignored: `v1` means `1`, which means `^1`).
    Requirement(semver::VersionReq),
    /// 7 to 40 hexadecimal digits.
    Commit,
    /// Any other valid git ref name.
    Branch,
}

/// A reference that could not be parsed. `Display` names the input, says what is
/// wrong and lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid module reference `{input}`: {kind}\n{ACCEPTED_FORMS}")]
pub struct ReferenceError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub kind: ReferenceErrorKind,
}

/// What is wrong with a reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceErrorKind {
    #[error("the reference is empty")]
    Empty,
    #[error("a reference cannot contain whitespace or control characters")]
    Whitespace,
    /// Leading or trailing whitespace, usually from quoting or copying. Refused rather
    /// than trimmed: the text is written into tanto.toml as given, and a version spec
    /// with a trailing space would otherwise read as a requirement (`v1.0.0 ` as
    /// `^1.0.0`) and lock another version than the tag asked for.
    #[error("remove the whitespace around `{trimmed}`")]
    SurroundingWhitespace { trimmed: String },
    #[error("a local path takes no version (drop `@{0}`)")]
    LocalWithVersion(String),
    #[error("unsupported URL scheme `{0}://` (use https, http, git or ssh)")]
    UnsupportedScheme(String),
    #[error("the host is missing")]
    MissingHost,
    #[error("`{0}` is not a valid host name")]
    InvalidHost(String),
    #[error("`{0}` is not a valid port")]
    InvalidPort(String),
    #[error("a reference cannot carry a password (it is written into tanto.lock); use a credential helper")]
    CredentialsInUrl,
    #[error("the repository path is missing (expected owner/repo after the host)")]
    MissingRepository,
    #[error("`{0}` is not a valid path segment")]
    InvalidSegment(String),
    #[error("`{0}` has no host; write `./{0}` for a local module or `host/owner/repo` for a remote one")]
    NoHost(String),
    #[error("the version after `@` is empty")]
    EmptyVersion,
    #[error("`{0}` is not a version, requirement, branch or commit")]
    InvalidVersion(String),
    #[error("the source already has a version (`@{0}`); give it once")]
    VersionTwice(String),
}

fn error(input: &str, kind: ReferenceErrorKind) -> ReferenceError {
    ReferenceError { input: input.to_owned(), kind }
}

impl Reference {
    /// Parses any of the accepted forms (see the module docs).
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.trim().is_empty() {
            return Err(error(input, ReferenceErrorKind::Empty));
        }
        if input.trim() != input {
            let trimmed = input.trim().to_owned();
            return Err(error(input, ReferenceErrorKind::SurroundingWhitespace { trimmed }));
        }
        if is_local(input) {
            if input.chars().any(char::is_control) {
                return Err(error(input, ReferenceErrorKind::Whitespace));
            }
            if let Some((_, version)) = input.rsplit_once('@') {
                return Err(error(input, ReferenceErrorKind::LocalWithVersion(version.to_owned())));
            }
            return Ok(Reference {
                source: Source::Local(PathBuf::from(input)),
                version: None,
            });
        }
        let (source, version) = split_version(input);
        if source.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error(input, ReferenceErrorKind::Whitespace));
        }
        let remote = parse_remote(source).map_err(|kind| error(input, kind))?;
        let version = match version {
            None => None,
            Some(raw) => Some(VersionSpec::parse(raw).map_err(|kind| error(input, kind))?),
        };
        Ok(Reference {
            source: Source::Remote(remote),
            version,
        })
    }

    /// Builds a reference from a source written without a version plus a separate
    /// version spec, as in a `{ source = "...", version = "..." }` manifest table.
    pub fn from_parts(source: &str, version: Option<&str>) -> Result<Reference, ReferenceError> {
        let reference = Reference::parse(source)?;
        if let Some(existing) = &reference.version {
            return Err(error(source, ReferenceErrorKind::VersionTwice(existing.raw.clone())));
        }
        match version {
            None => Ok(reference),
            Some(raw) => {
                let input = format!("{source}@{raw}");
                if reference.is_local() {
                    return Err(error(&input, ReferenceErrorKind::LocalWithVersion(raw.to_owned())));
                }
                let version = VersionSpec::parse(raw).map_err(|kind| error(&input, kind))?;
                Ok(reference.with_version(Some(version)))
            }
        }
    }

    /// Where the module lives.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The version spec, if one was written.
    pub fn version(&self) -> Option<&VersionSpec> {
        self.version.as_ref()
    }

    /// The same source with another version spec.
    pub fn with_version(self, version: Option<VersionSpec>) -> Reference {
        Reference { source: self.source, version }
    }

    /// Whether this is a local path.
    pub fn is_local(&self) -> bool {
        matches!(self.source, Source::Local(_))
    }

    /// The remote source, unless the reference is a local path.
    pub fn remote(&self) -> Option<&RemoteSource> {
        match &self.source {
            Source::Remote(remote) => Some(remote),
            Source::Local(_) => None,
        }
    }

    /// The URL handed to `git` (`https://host/owner/repo` for host-style references).
    pub fn clone_url(&self) -> Option<String> {
        self.remote().map(|remote| remote.repository.clone_url())
    }

    /// The module's folder inside its repository, if not the root.
    pub fn subpath(&self) -> Option<&str> {
        self.remote().and_then(|remote| remote.subpath())
    }

    /// A dependency name for this module when the user gives none: the last segment
    /// of the subpath, else of the repository (or of the local path), reduced to the
    /// characters a dependency name allows.
    pub fn default_name(&self) -> String {
        let last = match &self.source {
            Source::Remote(remote) => match &remote.subpath {
                Some(subpath) => subpath.rsplit('/').next().unwrap_or(subpath).to_owned(),
                None => remote.repository.path.rsplit('/').next().unwrap_or(&remote.repository.path).to_owned(),
            },
            Source::Local(path) => path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "module".to_owned()),
        };
        let name: String = last
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect();
        if name.is_empty() { "module".to_owned() } else { name }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(version) = &self.version {
            write!(f, "@{}", version.raw)?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Reference::parse(input)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Reference::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Source {
    /// The local path, if this is a local source.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Source::Local(path) => Some(path),
            Source::Remote(_) => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Remote(remote) => write!(f, "{remote}"),
            Source::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

impl RemoteSource {
    /// The repository holding the module.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The module's folder inside the repository (`/`-separated, no `.` or `..`), if
    /// not the root.
    pub fn subpath(&self) -> Option<&str> {
        self.subpath.as_deref()
    }
}

impl fmt::Display for RemoteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(subpath) = &self.subpath {
            write!(f, "/{subpath}")?;
        }
        Ok(())
    }
}

impl Repository {
    /// The URL handed to `git`.
    pub fn clone_url(&self) -> String {
        match self.scheme {
            Scheme::HostPath => format!("https://{}/{}{}", self.host, self.path, if self.dot_git { ".git" } else { "" }),
            _ => self.to_string(),
        }
    }

    /// The host name, without user or port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository path on the host, without `.git` (for example `acme/ci-modules`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How the repository was written.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.dot_git { ".git" } else { "" };
        let user = self.user.as_ref().map(|user| format!("{user}@")).unwrap_or_default();
        let port = self.port.map(|port| format!(":{port}")).unwrap_or_default();
        match self.scheme {
            Scheme::HostPath => write!(f, "{}/{}{suffix}", self.host, self.path),
            Scheme::ScpLike => write!(f, "{user}{}:{}{suffix}", self.host, self.path),
            Scheme::Https | Scheme::Http | Scheme::Git | Scheme::Ssh => {
                let scheme = match self.scheme {
                    Scheme::Https => "https",
                    Scheme::Http => "http",
                    Scheme::Git => "git",
                    _ => "ssh",
                };
                write!(f, "{scheme}://{user}{}{port}/{}{suffix}", self.host, self.path)
            }
        }
    }
}

impl VersionSpec {
    /// Reads a version spec (the text after `@`). See [`VersionKind`] for the rule.
    pub fn parse(raw: &str) -> Result<VersionSpec, ReferenceErrorKind> {
        if raw.trim().is_empty() {
            return Err(ReferenceErrorKind::EmptyVersion);
        }
        // semver reads `1.0.0 ` as the requirement `^1.0.0`: whitespace around a spec
        // must never change what it selects.
        if raw.trim() != raw {
            let trimmed = raw.trim().to_owned();
            return Err(ReferenceErrorKind::SurroundingWhitespace { trimmed });
        }
        if raw.chars().any(char::is_control) {
            return Err(ReferenceErrorKind::InvalidVersion(raw.to_owned()));
        }
        let kind = if let Some(version) = parse_exact_version(raw) {
            VersionKind::Exact(version)
        } else if is_commit_like(raw) {
            VersionKind::Commit
        } else if let Some(requirement) = parse_requirement(raw) {
            VersionKind::Requirement(requirement)
        } else if is_branch_name(raw) {
            VersionKind::Branch
        } else {
            return Err(ReferenceErrorKind::InvalidVersion(raw.to_owned()));
        };
        Ok(VersionSpec { raw: raw.to_owned(), kind })
    }

    /// The spec exactly as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// How the spec reads.
    pub fn kind(&self) -> &VersionKind {
        &self.kind
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// `X.Y.Z` or `vX.Y.Z` as a semver version.
pub(crate) fn parse_exact_version(text: &str) -> Option<semver::Version> {
    let text = text.strip_prefix('v').unwrap_or(text);
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    semver::Version::parse(text).ok()
}

fn parse_requirement(text: &str) -> Option<semver::VersionReq> {
    let text = match text.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => text,
    };
    semver::VersionReq::parse(text).ok()
}

/// 7 to 40 hexadecimal digits: what git prints as an (abbreviated) commit id.
pub(crate) fn is_commit_like(text: &str) -> bool {
    (7..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A conservative reading of `git check-ref-format --branch`.
fn is_branch_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(['-', '/', '.'])
        && !text.ends_with(['/', '.'])
        && !text.ends_with(".lock")
        && !text.contains("..")
        && !text.contains("//")
        && !text.contains("@{")
        && !text.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
}

fn is_local(input: &str) -> bool {
    input == "." || input == ".." || input.starts_with("./") || input.starts_with("../") || input.starts_with('/')
}

/// Splits `source@version` at the last `@` that follows the start of the path, so a
/// user in `git@host:...` or `ssh://git@host/...` is never read as a version.
fn split_version(input: &str) -> (&str, Option<&str>) {
    let path_start = if let Some(index) = input.find("://") {
        let after = index + 3;
        input[after..].find('/').map(|slash| after + slash).unwrap_or(input.len())
    } else {
        scp_colon(input).unwrap_or_default()
    };
    match input[path_start..].rfind('@') {
        Some(at) => {
            let at = path_start + at;
            (&input[..at], Some(&input[at + 1..]))
        }
        None => (input, None),
    }
}

/// The position of the `:` of an scp-like `[user@]host:path`, if the input has that form.
fn scp_colon(input: &str) -> Option<usize> {
    if input.contains("://") {
        return None;
    }
    let colon = input.find(':')?;
    if input[..colon].contains('/') { None } else { Some(colon) }
}

fn parse_remote(source: &str) -> Result<RemoteSource, ReferenceErrorKind> {
    if let Some((scheme, rest)) = source.split_once("://") {
        let scheme = match scheme {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            "git" => Scheme::Git,
            "ssh" => Scheme::Ssh,
            other => return Err(ReferenceErrorKind::UnsupportedScheme(other.to_owned())),
        };
        let (authority, path) = match rest.split_once('/') {
            Some(parts) => parts,
            None => (rest, ""),
        };
        let (user, host_port) = split_user(authority)?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => {
                let port = port.parse::<u16>().map_err(|_| ReferenceErrorKind::InvalidPort(port.to_owned()))?;
                (host, Some(port))
            }
            None => (host_port, None),
        };
        check_host(host)?;
        let (path, dot_git, subpath) = split_repository_path(path)?;
        Ok(RemoteSource {
            repository: Repository {
                scheme,
                user,
                host: host.to_owned(),
                port,
                path,
                dot_git,
            },
            subpath,
        })
    } else if let Some(colon) = scp_colon(source) {
        let (user, host) = split_user(&source[..colon])?;
        check_host(host)?;
        let (path, dot_git, subpath) = split_repository_path(&source[colon + 1..])?;
        Ok(RemoteSource {
            repository: Repository {
                scheme: Scheme::ScpLike,
                user,
                host: host.to_owned(),
                port: None,
                path,
                dot_git,
            },
            subpath,
        })
    } else {
        let mut segments = source.split('/');
        let host = segments.next().unwrap_or_default();
        if host.is_empty() {
            return Err(ReferenceErrorKind::MissingHost);
        }
        if !host.contains('.') && host != "localhost" {
            return Err(ReferenceErrorKind::NoHost(source.to_owned()));
        }
        check_host(host)?;
        let segments: Vec<&str> = segments.collect();
        for segment in &segments {
            check_segment(segment)?;
        }
        if segments.len() < 2 {
            return Err(ReferenceErrorKind::MissingRepository);
        }
        let owner = segments[0];
        let (repo, dot_git) = strip_dot_git(segments[1]);
        let subpath = (segments.len() > 2).then(|| segments[2..].join("/"));
        Ok(RemoteSource {
            repository: Repository {
                scheme: Scheme::HostPath,
                user: None,
                host: host.to_owned(),
                port: None,
                path: format!("{owner}/{repo}"),
                dot_git,
            },
            subpath,
        })
    }
}

fn split_user(authority: &str) -> Result<(Option<String>, &str), ReferenceErrorKind> {
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            if user.contains(':') {
                return Err(ReferenceErrorKind::CredentialsInUrl);
            }
            if user.is_empty() || user.starts_with('-') || !user.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(ReferenceErrorKind::InvalidSegment(user.to_owned()));
            }
            Ok((Some(user.to_owned()), host))
        }
        None => Ok((None, authority)),
    }
}

fn check_host(host: &str) -> Result<(), ReferenceErrorKind> {
    if host.is_empty() {
        return Err(ReferenceErrorKind::MissingHost);
    }
    let valid = host.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) && !host.starts_with(['-', '.']) && !host.ends_with(['-', '.']);
    if valid {
        Ok(())
    } else {
        Err(ReferenceErrorKind::InvalidHost(host.to_owned()))
    }
}

fn check_segment(segment: &str) -> Result<(), ReferenceErrorKind> {
    let valid =
        !segment.is_empty() && segment != "." && segment != ".." && !segment.contains('\\') && !segment.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(ReferenceErrorKind::InvalidSegment(segment.to_owned()))
    }
}

fn strip_dot_git(segment: &str) -> (&str, bool) {
    match segment.strip_suffix(".git") {
        Some(stripped) if !stripped.is_empty() => (stripped, true),
        _ => (segment, false),
    }
}

/// Splits a URL or scp-like path into repository path, `.git` flag and subpath: the
/// repository ends at the first segment ending in `.git`, else after two segments.
#[allow(clippy::type_complexity)]
fn split_repository_path(path: &str) -> Result<(String, bool, Option<String>), ReferenceErrorKind> {
    if path.is_empty() {
        return Err(ReferenceErrorKind::MissingRepository);
    }
    let segments: Vec<&str> = path.split('/').collect();
    for segment in &segments {
        check_segment(segment)?;
    }
    let end = match segments.iter().position(|segment| segment.len() > 4 && segment.ends_with(".git")) {
        Some(index) => index + 1,
        None if segments.len() >= 2 => 2,
        None => return Err(ReferenceErrorKind::MissingRepository),
    };
    let mut repository: Vec<&str> = segments[..end].to_vec();
    let last = repository.len() - 1;
    let (stripped, dot_git) = strip_dot_git(repository[last]);
    repository[last] = stripped;
    let subpath = (segments.len() > end).then(|| segments[end..].join("/"));
    Ok((repository.join("/"), dot_git, subpath))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Reference {
        match Reference::parse(input) {
            Ok(reference) => reference,
            Err(error) => panic!("{input} should parse: {error}"),
        }
    }

    fn parse_error(input: &str) -> ReferenceError {
        match Reference::parse(input) {
            Ok(reference) => panic!("{input} should not parse, got {reference:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn host_style_reference_takes_the_first_three_segments_as_repository() {
        let reference = parse("github.com/acme/ci-modules/golang@v1.2.0");
        assert_eq!(reference.clone_url().as_deref(), Some("https://github.com/acme/ci-modules"));
        assert_eq!(reference.subpath(), Some("golang"));
        let version = reference.version().expect("version");
        assert_eq!(version.as_str(), "v1.2.0");
        assert_eq!(version.kind(), &VersionKind::Exact(semver::Version::new(1, 2, 0)));
        assert_eq!(reference.default_name(), "golang");

        let deep = parse("gitlab.com/acme/ci/tools/go/lint");
        assert_eq!(deep.subpath(), Some("tools/go/lint"));
        assert_eq!(deep.clone_url().as_deref(), Some("https://gitlab.com/acme/ci"));
        assert!(deep.version().is_none());
        assert_eq!(deep.default_name(), "lint");

        let root = parse("github.com/acme/hello.git");
        assert_eq!(root.clone_url().as_deref(), Some("https://github.com/acme/hello.git"));
        assert_eq!(root.subpath(), None);
        assert_eq!(root.default_name(), "hello");
    }

    #[test]
    fn url_forms_parse() {
        let https = parse("https://github.com/acme/ci-modules.git/golang@^1.2");
        assert_eq!(https.clone_url().as_deref(), Some("https://github.com/acme/ci-modules.git"));
        assert_eq!(https.subpath(), Some("golang"));
        assert!(matches!(https.version().map(VersionSpec::kind), Some(VersionKind::Requirement(_))));

        let nested = parse("https://gitlab.com/group/sub/repo.git/mods/x@main");
        assert_eq!(nested.clone_url().as_deref(), Some("https://gitlab.com/group/sub/repo.git"));
        assert_eq!(nested.subpath(), Some("mods/x"));
        assert_eq!(nested.version().map(VersionSpec::kind), Some(&VersionKind::Branch));

        let ssh = parse("ssh://git@example.com:2222/acme/repo/sub@1a2b3c4");
        assert_eq!(ssh.clone_url().as_deref(), Some("ssh://git@example.com:2222/acme/repo"));
        assert_eq!(ssh.subpath(), Some("sub"));
        assert_eq!(ssh.version().map(VersionSpec::kind), Some(&VersionKind::Commit));

        let scp = parse("git@github.com:acme/ci-modules.git/golang@~1.4");
        assert_eq!(scp.clone_url().as_deref(), Some("git@github.com:acme/ci-modules.git"));
        assert_eq!(scp.subpath(), Some("golang"));

        let scp_without_version = parse("git@github.com:acme/ci-modules");
        assert!(scp_without_version.version().is_none());
        assert_eq!(scp_without_version.clone_url().as_deref(), Some("git@github.com:acme/ci-modules"));

        let git = parse("git://127.0.0.1:9418/acme/repo@v1.0.0");
        assert_eq!(git.clone_url().as_deref(), Some("git://127.0.0.1:9418/acme/repo"));
    }

    #[test]
    fn local_paths_parse_without_version() {
        for input in ["./mods/x", "../x", "/abs/path", ".", ".."] {
            let reference = parse(input);
            assert_eq!(reference.source().local_path(), Some(Path::new(input)));
            assert!(reference.version().is_none());
            assert!(reference.clone_url().is_none());
        }
        assert_eq!(parse("./mods/x").default_name(), "x");
    }

    #[test]
    fn version_specs_are_classified() {
        let kind = |raw: &str| VersionSpec::parse(raw).map(|spec| spec.kind().clone());
        assert_eq!(kind("1.2.0"), Ok(VersionKind::Exact(semver::Version::new(1, 2, 0))));
        assert!(matches!(kind("v1.5.0-rc.1"), Ok(VersionKind::Exact(v)) if !v.pre.is_empty()));
        for requirement in ["^1.2", "~1.4", "1", "v1", "1.2", ">=1.0, <2", "*", "=1.2.0"] {
            assert!(matches!(kind(requirement), Ok(VersionKind::Requirement(_))), "{requirement}");
        }
        for commit in ["1a2b3c4", "deadbeefcafe", &"a".repeat(40), "1234567"] {
            assert_eq!(kind(commit), Ok(VersionKind::Commit), "{commit}");
        }
        for branch in ["main", "feature/x", "release-1.x", "abcdef", &"a".repeat(41)] {
            assert_eq!(kind(branch), Ok(VersionKind::Branch), "{branch}");
        }
        for invalid in ["", "a b", "x..y", "-x", "x~1", "with:colon"] {
            assert!(kind(invalid).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "github.com/acme/ci-modules/golang@v1.2.0",
            "github.com/acme/ci-modules",
            "github.com/acme/ci-modules.git/a/b@^1",
            "https://github.com/acme/ci-modules/golang@>=1.0, <2",
            "https://gitlab.com/group/sub/repo.git/mods/x@main",
            "http://localhost:8080/acme/repo",
            "ssh://git@example.com:2222/acme/repo/sub@1a2b3c4",
            "ssh://example.com/acme/repo",
            "git@github.com:acme/ci-modules.git/golang@~1.4",
            "github.com:acme/repo",
            "git://127.0.0.1:9418/acme/repo@v1.0.0",
            "./mods/x",
            "../x",
            "/abs/path",
        ] {
            let reference = parse(input);
            assert_eq!(reference.to_string(), input);
            assert_eq!(parse(&reference.to_string()), reference);
        }
    }

    #[test]
    fn from_parts_joins_source_and_version() {
        let reference = Reference::from_parts("github.com/acme/ci-modules/golang", Some("^1")).expect("parts");
        assert_eq!(reference.to_string(), "github.com/acme/ci-modules/golang@^1");
        let twice = Reference::from_parts("github.com/acme/x@v1.0.0", Some("^1")).expect_err("version twice");
        assert_eq!(twice.kind, ReferenceErrorKind::VersionTwice("v1.0.0".into()));
        let local = Reference::from_parts("./x", Some("^1")).expect_err("local with version");
        assert_eq!(local.kind, ReferenceErrorKind::LocalWithVersion("^1".into()));
    }

    #[test]
    fn errors_name_the_problem_and_the_accepted_forms() {
        let cases = [
            ("", ReferenceErrorKind::Empty),
            ("mods/x", ReferenceErrorKind::NoHost("mods/x".into())),
            ("github.com/acme", ReferenceErrorKind::MissingRepository),
            ("ftp://example.com/a/b", ReferenceErrorKind::UnsupportedScheme("ftp".into())),
            ("https://user:secret@example.com/a/b", ReferenceErrorKind::CredentialsInUrl),
            ("./x@v1.0.0", ReferenceErrorKind::LocalWithVersion("v1.0.0".into())),
            ("github.com/acme/x@", ReferenceErrorKind::EmptyVersion),
            ("github.com/acme/x@a..b", ReferenceErrorKind::InvalidVersion("a..b".into())),
            ("github.com/acme/x/../y", ReferenceErrorKind::InvalidSegment("..".into())),
            ("https://example.com:99999/a/b", ReferenceErrorKind::InvalidPort("99999".into())),
            ("github.com/acme/x y", ReferenceErrorKind::Whitespace),
            ("https://example.com/repo", ReferenceErrorKind::MissingRepository),
            ("   ", ReferenceErrorKind::Empty),
        ];
        for (input, kind) in cases {
            assert_eq!(parse_error(input).kind, kind, "{input:?}");
        }
        insta::assert_snapshot!("no_host", parse_error("mods/x").to_string());
        insta::assert_snapshot!("bad_version", parse_error("github.com/acme/x@a..b").to_string());
        insta::assert_snapshot!("credentials", parse_error("https://user:secret@example.com/a/b").to_string());
    }

    #[test]
    fn whitespace_around_a_reference_or_version_is_refused() {
        let around = |trimmed: &str| ReferenceErrorKind::SurroundingWhitespace { trimmed: trimmed.into() };
        for (input, trimmed) in [
            // semver alone would read `v1.0.0 ` as `^1.0.0` and lock the newest 1.x.
            ("github.com/acme/lib@v1.0.0 ", "github.com/acme/lib@v1.0.0"),
            (" github.com/acme/lib@^1", "github.com/acme/lib@^1"),
            ("github.com/acme/lib\t", "github.com/acme/lib"),
            ("./mods/x ", "./mods/x"),
            ("git@github.com:acme/lib.git@main\n", "git@github.com:acme/lib.git@main"),
        ] {
            assert_eq!(parse_error(input).kind, around(trimmed), "{input:?}");
        }
        // Whitespace inside the version, as in `tanto install 'github.com/acme/lib@ 1.0.0'`.
        assert_eq!(parse_error("github.com/acme/lib@ 1.0.0").kind, around("1.0.0"));
        for raw in ["v1.0.0 ", " ^1", "main\t", "1.0.0\n"] {
            assert_eq!(VersionSpec::parse(raw), Err(around(raw.trim())), "{raw:?}");
        }
        let parts = Reference::from_parts("github.com/acme/lib", Some("v1.0.0 ")).expect_err("version with a space");
        assert_eq!(parts.kind, around("v1.0.0"));
        // Whitespace between the comparators of a requirement is part of it.
        assert!(matches!(
            VersionSpec::parse(">=1.0, <2").map(|spec| spec.kind().clone()),
            Ok(VersionKind::Requirement(_))
        ));
        insta::assert_snapshot!("surrounding_whitespace", parse_error("github.com/acme/lib@v1.0.0 ").to_string());
    }

    #[test]
    fn serde_uses_the_string_form() {
        #[derive(Serialize, Deserialize)]
        struct Holder {
            reference: Reference,
        }
        let holder: Holder = toml::from_str("reference = \"github.com/acme/x/y@^1\"").expect("deserialize");
        assert_eq!(holder.reference.subpath(), Some("y"));
        let text = toml::to_string(&holder).expect("serialize");
        assert_eq!(text.trim(), "reference = \"github.com/acme/x/y@^1\"");
    }
}
