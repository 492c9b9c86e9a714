//! Sources a pipeline reads from the network: git repositories ([`GitRepository`],
//! [`GitRef`]) and files over HTTP. Building one never fails or touches the network; the
//! URL is checked when it is evaluated (see `eval::sources`), since a module is
//! untrusted and may name anything.

use std::sync::Arc;

use super::EngineError;
use super::digest::{Digest, Hasher};

/// A remote git repository, named by its URL.
#[derive(Clone)]
pub struct GitRepository(Arc<str>);

/// What a [`GitRef`] names in its repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitReference {
    /// A branch (`refs/heads/<name>`).
    Branch(String),
    /// A tag (`refs/tags/<name>`), annotated or not.
    Tag(String),
    /// A full commit id.
    Commit(String),
    /// Any ref the remote advertises: a full name (`refs/pull/1/head`), a branch or a tag.
    Ref(String),
}

impl GitReference {
    fn kind(&self) -> &'static str {
        match self {
            GitReference::Branch(_) => "branch",
            GitReference::Tag(_) => "tag",
            GitReference::Commit(_) => "commit",
            GitReference::Ref(_) => "ref",
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            GitReference::Branch(name) | GitReference::Tag(name) | GitReference::Commit(name) | GitReference::Ref(name) => name,
        }
    }
}

impl std::fmt::Display for GitReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// A ref of a git repository, resolved to a commit when evaluated.
#[derive(Clone)]
pub struct GitRef(pub(crate) Arc<GitRefNode>);

pub(crate) struct GitRefNode {
    pub digest: Digest,
    pub url: Arc<str>,
    pub reference: GitReference,
}

impl GitRepository {
    pub fn new(url: &str) -> Self {
        Self(url.into())
    }

    pub fn url(&self) -> &str {
        &self.0
    }

    fn reference(&self, reference: GitReference) -> GitRef {
        let mut hasher = Hasher::new("git-ref");
        hasher.str(&self.0).str(reference.kind()).str(reference.name());
        GitRef(Arc::new(GitRefNode {
            digest: hasher.finish(),
            url: self.0.clone(),
            reference,
        }))
    }

    pub fn branch(&self, name: &str) -> GitRef {
        self.reference(GitReference::Branch(name.to_string()))
    }

    pub fn tag(&self, name: &str) -> GitRef {
        self.reference(GitReference::Tag(name.to_string()))
    }

    pub fn commit(&self, id: &str) -> GitRef {
        self.reference(GitReference::Commit(id.to_string()))
    }

    pub fn git_ref(&self, name: &str) -> GitRef {
        self.reference(GitReference::Ref(name.to_string()))
    }
}

impl GitRef {
    pub fn digest(&self) -> Digest {
        self.0.digest
    }

    /// The tree of the commit this ref resolves to.
    pub fn tree(&self) -> super::Directory {
        super::Directory::git(self.clone())
    }
}

/// Checks a git URL a module gave: only network transports git reaches through its own
/// configuration (so credential helpers and `insteadOf` apply): `https://`, `http://`,
/// `ssh://`, `git://` and scp-like `[user@]host:path`. Refused: local paths and
/// `file://` (a module would read the host's repositories), `<transport>::<address>`
/// (`ext::` runs a command), and anything starting with `-` (an option to git or ssh).
pub(crate) fn check_git_url(url: &str) -> Result<(), EngineError> {
    let refuse = |reason: &str| {
        Err(EngineError::InvalidArgument(format!(
            "git URL {:?} is refused: {reason}; use an https://, http://, ssh:// or git:// URL, or user@host:path",
            display_url(url)
        )))
    };
    if url.is_empty() || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse("it is empty or holds spaces or control characters");
    }
    if url.starts_with('-') {
        return refuse("it starts with `-`");
    }
    if let Some((scheme, _)) = url.split_once("://") {
        if !["https", "http", "ssh", "git"].contains(&scheme.to_ascii_lowercase().as_str()) {
            return refuse("its transport is not a network one");
        }
        let host = git_authority(url);
        if host.is_empty() || host.starts_with('-') {
            return refuse("it names no host");
        }
        return Ok(());
    }
    if url.contains("::") {
        return refuse("`<transport>::` addresses run helper programs");
    }
    // scp-like: `[user@]host:path`, a colon before any slash (else git reads a path).
    match url.split_once(':') {
        Some((authority, path)) if !authority.contains('/') && !path.is_empty() => {
            let host = git_authority(url);
            if host.is_empty() || host.starts_with('-') || (host.starts_with('[') && !host.ends_with(']')) {
                return refuse("it names no host");
            }
            Ok(())
        }
        _ => refuse("it is a local path"),
    }
}

/// The `host[:port]` of a git URL (an IPv6 host keeps its brackets): after `scheme://`
/// and any `user@`, or before the `:` of scp-like `[user@]host:path`.
fn git_authority(url: &str) -> &str {
    let authority = match url.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or_default(),
        None => url.split(':').next().unwrap_or_default(),
    };
    authority.rsplit('@').next().unwrap_or_default()
}

/// The variable that lets modules fetch from this machine's own addresses.
pub(crate) const ALLOW_LOCAL_URLS: &str = "TANTO_ALLOW_LOCAL_URLS";

/// Whether the user let modules name this machine's own addresses (`127.0.0.1`, `::1`,
/// `localhost`): `TANTO_ALLOW_LOCAL_URLS=1`. By default they may not. tanto fetches git and
/// HTTP sources from the host, where loopback reaches services no container can (a
/// Docker API on a TCP port, local dashboards, a developer's own servers).
pub(crate) fn local_urls_allowed() -> bool {
    std::env::var(ALLOW_LOCAL_URLS).is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
}

/// Whether `address` is this machine's own: loopback or unspecified (which connects to
/// the local host too), IPv4-mapped ones included.
pub(crate) fn is_local_address(address: std::net::IpAddr) -> bool {
    let address = match address {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(address),
        v4 => v4,
    };
    address.is_loopback() || address.is_unspecified()
}

/// Whether a URL's `host` (a name, an IP, or `[v6]`) names this machine without asking
/// DNS: `localhost` (and `*.localhost`, which resolvers keep local) or a local address.
pub(crate) fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.ends_with(".localhost") || bare.parse().is_ok_and(is_local_address)
}

/// The error for a module's URL that reaches this machine.
pub(crate) fn local_url_refused(url: &str, what: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "{what} {:?} is refused: it reaches this machine's own addresses, which modules may not fetch from unless {ALLOW_LOCAL_URLS}=1",
        display_url(url)
    ))
}

/// Refuses a git URL whose host is, or resolves (now) to, one of this machine's own
/// addresses, unless allowed. A name that does not resolve is left to git (the user's
/// `insteadOf` may rewrite it).
pub(crate) fn check_git_host(url: &str) -> Result<(), EngineError> {
    if local_urls_allowed() {
        return Ok(());
    }
    let default_port = match url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase()).as_deref() {
        Some("https") => 443,
        Some("http") => 80,
        Some("git") => 9418,
        _ => 22,
    };
    let host_port = git_authority(url);
    // `host:port`, `[v6]:port`, `[v6]` or `host`.
    let host = match host_port.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None if url.contains("://") => host_port.split(':').next().unwrap_or_default(),
        None => host_port,
    };
    if is_local_host(host) {
        return Err(local_url_refused(url, "git URL"));
    }
    use std::net::ToSocketAddrs as _;
    if let Ok(addresses) = (host, default_port).to_socket_addrs()
        && addresses.into_iter().any(|address| is_local_address(address.ip()))
    {
        return Err(local_url_refused(url, "git URL"));
    }
    Ok(())
}

/// Checks an HTTP URL a module gave: `http://` or `https://` with a host.
pub(crate) fn check_http_url(url: &str) -> Result<(), EngineError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(EngineError::InvalidArgument(format!(
            "URL {:?} is refused: only http:// and https:// URLs with a host can be downloaded",
            display_url(url)
        ))),
    }
}

/// `url` without the password of its user part, for messages: a token in a URL
/// (`https://user:token@host/...`) never reaches an error or a log.
pub(crate) fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// A file name for what `url` downloads: the last segment of its path.
pub(crate) fn url_file_name(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let path = without_query.split_once("://").map_or(without_query, |(_, rest)| rest);
    match path.split_once('/') {
        Some((_, path)) => match path.rsplit('/').next() {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => "index.html".to_string(),
        },
        None => "index.html".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machines_own_addresses_are_told_apart() {
        for local in [
            "127.0.0.1",
            "127.1.2.3",
            "localhost",
            "LOCALHOST.",
            "db.localhost",
            "[::1]",
            "::1",
            "0.0.0.0",
            "[::]",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_local_host(local), "{local}");
        }
        for remote in [
            "github.com",
            "10.0.0.1",
            "172.17.0.1",
            "169.254.169.254",
            "[2001:db8::1]",
            "localhost.example.com",
        ] {
            assert!(!is_local_host(remote), "{remote}");
        }
        // TANTO_ALLOW_LOCAL_URLS is not set for the unit tests.
        for url in [
            "git://127.0.0.1:9418/repo",
            "https://localhost/repo.git",
            "ssh://git@[::1]:22/repo",
            "git@localhost:repo",
            "http://user:token@127.0.0.1:8080/x",
        ] {
            let error = check_git_host(url).unwrap_err().to_string();
            assert!(error.contains("reaches this machine's own addresses"), "{url}: {error}");
            assert!(!error.contains("token"), "{error}");
        }
        // A name that does not resolve here is left to git (and the user's insteadOf).
        check_git_host("https://no-such-host.invalid/repo.git").unwrap();
        check_git_host("git@no-such-host.invalid:repo").unwrap();
    }

    #[test]
    fn git_urls_reach_only_the_network() {
        for good in [
            "https://github.com/acme/app",
            "http://127.0.0.1:8080/repo.git",
            "ssh://git@example.com/acme/app.git",
            "git://127.0.0.1:9418/acme/app",
            "git@github.com:acme/app.git",
            "example.com:acme/app",
        ] {
            check_git_url(good).unwrap_or_else(|error| panic!("{good}: {error}"));
        }
        for bad in [
            "",
            "file:///etc",
            "FILE:///etc",
            "/srv/repo",
            "./repo",
            "../repo",
            "repo",
            "ext::sh -c touch% /tmp/pwned",
            "ext::sh",
            "fd::17",
            "-uhelp",
            "ssh://-oProxyCommand=x/repo",
            "-oProxyCommand=x:repo",
            "a/b:c",
            "https://",
            "https://host/a b",
        ] {
            assert!(check_git_url(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn http_urls_and_names() {
        check_http_url("https://example.com/a.tar.gz").unwrap();
        check_http_url("http://127.0.0.1:9/x").unwrap();
        for bad in ["file:///etc/passwd", "ftp://x/y", "https://", "/etc/passwd", "http:///x"] {
            assert!(check_http_url(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(url_file_name("https://example.com/dl/tool-1.2.tar.gz?x=1"), "tool-1.2.tar.gz");
        assert_eq!(url_file_name("https://example.com"), "index.html");
        assert_eq!(url_file_name("https://example.com/dir/"), "index.html");
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(display_url("https://ada:s3cret@example.com/x"), "https://ada:***@example.com/x");
        assert_eq!(display_url("https://example.com/x"), "https://example.com/x");
    }
}
