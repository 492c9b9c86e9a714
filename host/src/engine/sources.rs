//! Sources a pipeline reads from the network: git repositories ([`GitRepository`],
//! [`GitRef`]) and files over HTTP. Building one never fails or touches the network; the
//! URL is checked when it is evaluated (see `eval::sources`), since a module is
//! untrusted and may name anything.

use std::net::IpAddr;

use std::sync::Arc;
pub(crate) use tanto_registry::git::Reach;

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

/// The variable that lets modules fetch from this machine's own and link-local addresses.
pub(crate) const ALLOW_LOCAL_URLS: &str = "TANTO_ALLOW_LOCAL_URLS";

/// Whether the user let modules name this machine's own and link-local addresses
/// (`127.0.0.1`, `::1`, `localhost`, `169.254.169.254`): `TANTO_ALLOW_LOCAL_URLS=1`. By
/// default they may not. tanto fetches git and HTTP sources from the host, where loopback
/// reaches services no container can (a Docker API on a TCP port, local dashboards, a
/// developer's own servers) and link-local a cloud's metadata service (the machine's
/// credentials).
pub(crate) fn local_urls_allowed() -> bool {
    std::env::var(ALLOW_LOCAL_URLS).is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
}

/// Whether `address` is one a module may not fetch from: this machine's own (loopback,
/// or unspecified, which connects to the local host too) or link-local (169.254.0.0/16,
/// fe80::/10, where cloud metadata services hand out the machine's credentials to
/// whatever runs on it), IPv4-mapped ones included.
pub(crate) fn is_local_address(address: IpAddr) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    };
    match address {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_unicast_link_local(),
    }
}

/// Whether a URL's `host` (a name, an IP, or `[v6]`) names this machine or its link
/// without asking DNS: `localhost` (and `*.localhost`, which resolvers keep local) or a
/// local address.
pub(crate) fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.ends_with(".localhost") || bare.parse().is_ok_and(is_local_address)
}

/// The error for a module's URL that reaches this machine.
pub(crate) fn local_url_refused(url: &str, what: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "{what} {:?} is refused: it reaches {LOCAL_ADDRESSES}, which modules may not fetch from unless {ALLOW_LOCAL_URLS}=1",
        display_url(url)
    ))
}

/// How the refusals name what [`is_local_address`] holds.
pub(crate) const LOCAL_ADDRESSES: &str = "this machine's own or link-local addresses";

/// How git talks to a remote, as far as reaching its host goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GitTransport {
    /// `http://`, `https://`: libcurl, which resolves the name again and follows redirects.
    Http,
    /// `git://`: git connects itself, or through `core.gitProxy`.
    Git,
    /// `ssh://` and scp-like: ssh, which the user's ssh configuration steers.
    Ssh,
}

/// Checks the host of git URL `url` and pins git to the addresses checked, unless the user
/// allowed local URLs. A name is resolved once, here: refused when any address it has is
/// local, else handed to git as those addresses (`http.curloptResolve` for libcurl, the
/// address itself in a `git://` URL), so a second answer of DNS (rebinding) cannot lead
/// git elsewhere. Redirects, which libcurl follows to any host, are not followed. A name
/// that does not resolve fails here rather than being left to a second lookup by git,
/// unless a proxy resolves it. ssh connections go where the user's ssh configuration says
/// (it may rename hosts), so only the name is checked. A URL the user's
/// `url.<base>.insteadOf` `rewritten` goes where the user sends it: only the module's own
/// name is checked, and git resolves the user's.
pub(crate) fn git_remote(url: &str, rewritten: bool) -> Result<Reach, EngineError> {
    git_remote_resolved(url, rewritten, &system_resolver)
}

/// The addresses `host` resolves to, as the system resolves it.
fn system_resolver(host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    use std::net::ToSocketAddrs as _;
    Ok((host, port).to_socket_addrs()?.map(|address| address.ip()).collect())
}

/// Names resolved as the system does, or otherwise in tests.
pub(crate) type Resolver<'a> = &'a dyn Fn(&str, u16) -> std::io::Result<Vec<IpAddr>>;

/// [`git_remote`] with the names resolved by `resolve`.
pub(crate) fn git_remote_resolved(url: &str, rewritten: bool, resolve: Resolver) -> Result<Reach, EngineError> {
    let mut remote = Reach {
        url: url.to_owned(),
        settings: Vec::new(),
    };
    if local_urls_allowed() {
        return Ok(remote);
    }
    let (transport, default_port) = match url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase()).as_deref() {
        Some("https") => (GitTransport::Http, 443),
        Some("http") => (GitTransport::Http, 80),
        Some("git") => (GitTransport::Git, 9418),
        _ => (GitTransport::Ssh, 22),
    };
    let (host, port) = host_and_port(url, default_port);
    if rewritten {
        return match is_local_host(host) {
            true => Err(local_url_refused(url, "git URL")),
            false => Ok(remote),
        };
    }
    if transport == GitTransport::Http {
        remote.settings.push("http.followRedirects=false".into());
    }
    match check_host(url, "git URL", host, port, resolve)? {
        CheckedHost::Address => Ok(remote),
        CheckedHost::Resolved(addresses) => {
            // Only a `git://` pin depends on a proxy (libcurl's is harmless behind one).
            let proxied = transport == GitTransport::Git && proxied(transport);
            pin_git_remote(&mut remote, transport, host, port, &addresses, proxied);
            Ok(remote)
        }
        CheckedHost::Unresolved(_) if transport == GitTransport::Ssh || proxied(transport) => Ok(remote),
        CheckedHost::Unresolved(error) => Err(EngineError::Failed(format!(
            "git URL {:?}: cannot resolve host {host} ({error})",
            display_url(url)
        ))),
    }
}

/// What the host of a URL is, once checked.
enum CheckedHost {
    /// An address, named in the URL.
    Address,
    /// A name, and the addresses it resolves to (each once, in the resolver's order).
    Resolved(Vec<IpAddr>),
    /// A name that resolves to nothing.
    Unresolved(std::io::Error),
}

/// Checks `host` (with `port`) of `url`: refused as `what` when it names, or any address
/// it resolves to is, one of [`LOCAL_ADDRESSES`].
fn check_host(url: &str, what: &str, host: &str, port: u16, resolve: Resolver) -> Result<CheckedHost, EngineError> {
    if is_local_host(host) {
        return Err(local_url_refused(url, what));
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(CheckedHost::Address);
    }
    let addresses = match resolve(host, port) {
        Ok(addresses) if !addresses.is_empty() => addresses,
        Ok(_) => return Ok(CheckedHost::Unresolved(std::io::Error::other("no address"))),
        Err(error) => return Ok(CheckedHost::Unresolved(error)),
    };
    if addresses.iter().any(|address| is_local_address(*address)) {
        return Err(local_url_refused(url, what));
    }
    let mut unique: Vec<IpAddr> = Vec::new();
    for address in addresses {
        if !unique.contains(&address) {
            unique.push(address);
        }
    }
    Ok(CheckedHost::Resolved(unique))
}

/// The host of `url` (brackets of an IPv6 address taken off) and its port, `default_port`
/// when it names none: `host:port`, `[v6]:port`, `[v6]` or `host`; scp-like addresses
/// have no port.
fn host_and_port(url: &str, default_port: u16) -> (&str, u16) {
    let host_port = git_authority(url);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
            (host, after.strip_prefix(':'))
        }
        None if url.contains("://") => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
        None => (host_port, None),
    };
    (host, port.and_then(|port| port.parse::<u16>().ok()).unwrap_or(default_port))
}

/// Refuses `url`, which a program tanto runs for a third-party module reaches by itself
/// (cargo fetching a module's crates), when its host is, or resolves now to, one of
/// [`LOCAL_ADDRESSES`], unless allowed. That program resolves the name again, so this is
/// a check and not a pin; a name that does not resolve here is left to it.
pub(crate) fn refuse_local_url(url: &str, what: &str) -> Result<(), EngineError> {
    if local_urls_allowed() {
        return Ok(());
    }
    let (host, port) = host_and_port(url, 443);
    check_host(url, what, host, port, &system_resolver).map(drop)
}

/// Keeps git on `addresses`, the ones `host` resolved to and tanto checked.
fn pin_git_remote(remote: &mut Reach, transport: GitTransport, host: &str, port: u16, addresses: &[IpAddr], proxied: bool) {
    let Some(first) = addresses.first() else {
        return;
    };
    let bracketed = |address: &IpAddr| match address {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    match transport {
        // Through a proxy libcurl resolves nothing, and the entry does no harm.
        GitTransport::Http => {
            let listed: Vec<String> = addresses.iter().map(bracketed).collect();
            remote.settings.push(format!("http.curloptResolve={host}:{port}:{}", listed.join(",")));
        }
        // A proxy command connects by the name; git protocol servers rarely look at the
        // `host=` the request carries.
        GitTransport::Git if !proxied => {
            let (scheme, rest) = remote.url.split_once("://").unwrap_or(("git", &remote.url));
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let user = authority
                .rsplit_once('@')
                .filter(|(user, _)| !user.is_empty())
                .map_or(String::new(), |(user, _)| format!("{user}@"));
            remote.url = format!("{scheme}://{user}{}:{port}{path}", bracketed(first));
        }
        GitTransport::Git | GitTransport::Ssh => {}
    }
}

/// Whether the user's environment or git configuration sends `transport` through a proxy,
/// which resolves remote names itself.
fn proxied(transport: GitTransport) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    let configured = |key: &str| {
        std::process::Command::new("git")
            .args(["config", "--get", key])
            .env_remove("GIT_DIR")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .is_ok_and(|output| output.status.success() && !output.stdout.trim_ascii().is_empty())
    };
    match transport {
        GitTransport::Http => ["https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"].into_iter().any(set) || configured("http.proxy"),
        GitTransport::Git => set("GIT_PROXY_COMMAND") || configured("core.gitProxy"),
        GitTransport::Ssh => false,
    }
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
    fn this_machines_own_and_link_local_addresses_are_told_apart() {
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
            "169.254.169.254",
            "[fe80::1]",
            "[::ffff:169.254.169.254]",
        ] {
            assert!(is_local_host(local), "{local}");
        }
        for remote in [
            "github.com",
            "10.0.0.1",
            "172.17.0.1",
            "169.255.0.1",
            "[2001:db8::1]",
            "[fd00::1]",
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
            "http://169.254.169.254/latest/meta-data/",
            "https://[fe80::1]:8443/repo.git",
        ] {
            let error = git_remote(url, false).unwrap_err().to_string();
            assert!(error.contains("reaches this machine's own or link-local addresses"), "{url}: {error}");
            assert!(!error.contains("token"), "{error}");
        }
    }

    #[test]
    fn git_is_kept_on_the_addresses_checked() {
        // An address needs no resolving; libcurl is told not to follow redirects.
        assert_eq!(
            git_remote("https://192.0.2.7/repo.git", false).unwrap(),
            Reach {
                url: "https://192.0.2.7/repo.git".into(),
                settings: vec!["http.followRedirects=false".into()],
            }
        );
        assert_eq!(git_remote("ssh://git@192.0.2.7/repo", false).unwrap().settings, Vec::<String>::new());
        // A name that does not resolve is not left to a second lookup by git, which DNS
        // could answer otherwise; ssh's own configuration may name hosts DNS does not know.
        let error = git_remote("https://user:token@no-such-host.invalid/repo.git", false).unwrap_err().to_string();
        assert!(error.contains("cannot resolve host no-such-host.invalid"), "{error}");
        assert!(!error.contains("token"), "{error}");
        assert!(git_remote("git://no-such-host.invalid/repo", false).is_err());
        git_remote("git@no-such-host.invalid:repo", false).unwrap();
        // The user's own rewrite (a mirror, which may be local) is the user's business;
        // the module's name is still checked.
        git_remote("https://no-such-host.invalid/repo.git", true).unwrap();
        assert!(git_remote("https://localhost/repo.git", true).is_err());

        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        let pinned = |url: &str, transport, port, proxied| {
            let mut remote = Reach {
                url: url.into(),
                settings: Vec::new(),
            };
            pin_git_remote(&mut remote, transport, "git.example.com", port, &[v4, v6], proxied);
            remote
        };
        assert_eq!(
            pinned("https://git.example.com/repo.git", GitTransport::Http, 443, false).settings,
            ["http.curloptResolve=git.example.com:443:192.0.2.7,[2001:db8::7]"]
        );
        assert_eq!(
            pinned("git://git.example.com/acme/app", GitTransport::Git, 9418, false).url,
            "git://192.0.2.7:9418/acme/app"
        );
        assert_eq!(
            pinned("git://me@git.example.com:9999/acme/app", GitTransport::Git, 9999, false).url,
            "git://me@192.0.2.7:9999/acme/app"
        );
        // A proxy command connects by name; ssh goes where its configuration says.
        assert_eq!(
            pinned("git://git.example.com/app", GitTransport::Git, 9418, true).url,
            "git://git.example.com/app"
        );
        let ssh = pinned("git@git.example.com:app", GitTransport::Ssh, 22, false);
        assert_eq!((ssh.url.as_str(), ssh.settings.len()), ("git@git.example.com:app", 0));
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
