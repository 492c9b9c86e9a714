//! The `owner` of copied files (`user`, `uid`, `user:group`, `uid:gid`, as Dagger and
//! `chown` take it), resolved to numbers against the container's own `/etc/passwd` and
//! `/etc/group`.

use super::extract::Extracted;
use super::{Snapshot, blocking};
use crate::engine::tree::Owner;
use crate::engine::{Engine, EngineError};

/// A user or group: a number, or a name to look up.
#[derive(Debug, PartialEq, Eq)]
enum Id {
    Number(u32),
    Name(String),
}

impl Id {
    fn parse(text: &str) -> Id {
        text.parse().map_or_else(|_| Id::Name(text.to_string()), Id::Number)
    }
}

/// An owner as a module wrote it.
#[derive(Debug)]
pub(super) struct OwnerSpec {
    text: String,
    user: Id,
    group: Option<Id>,
}

impl OwnerSpec {
    pub(super) fn parse(text: &str) -> Result<OwnerSpec, EngineError> {
        let (user, group) = match text.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (text, None),
        };
        let valid = |part: &str| !part.is_empty() && !part.contains([':', '\n', '\0']);
        if !valid(user) || !group.is_none_or(valid) {
            return Err(EngineError::InvalidArgument(format!(
                "owner {text:?} is not `user`, `uid`, `user:group` or `uid:gid`"
            )));
        }
        Ok(OwnerSpec {
            text: text.to_string(),
            user: Id::parse(user),
            group: group.map(Id::parse),
        })
    }

    /// Whether resolving needs the container's `/etc/passwd` or `/etc/group`.
    pub(super) fn needs_names(&self) -> bool {
        matches!(self.user, Id::Name(_)) || matches!(self.group, Some(Id::Name(_)))
    }

    /// The numeric owner, given the container's `passwd` and `group` files (read only
    /// when a name needs them). A user alone also names the group: the user's primary
    /// group for a name, the same number for a uid.
    fn resolve(&self, passwd: Option<&str>, group_file: Option<&str>) -> Result<Owner, EngineError> {
        let unknown =
            |what: &str, name: &str, file: &str| EngineError::InvalidArgument(format!("owner {:?}: no {what} {name:?} in the container's {file}", self.text));
        let (uid, primary_gid) = match &self.user {
            Id::Number(uid) => (*uid, *uid),
            Id::Name(name) => lookup(passwd.unwrap_or_default(), name)
                .and_then(|fields| Some((fields.first()?.parse().ok()?, fields.get(1)?.parse().ok()?)))
                .ok_or_else(|| unknown("user", name, "/etc/passwd"))?,
        };
        let gid = match &self.group {
            None => primary_gid,
            Some(Id::Number(gid)) => *gid,
            Some(Id::Name(name)) => lookup(group_file.unwrap_or_default(), name)
                .and_then(|fields| fields.first()?.parse().ok())
                .ok_or_else(|| unknown("group", name, "/etc/group"))?,
        };
        Ok(Owner { uid, gid })
    }
}

/// The fields after the password of the line for `name` in a passwd or group file.
fn lookup<'a>(file: &'a str, name: &str) -> Option<Vec<&'a str>> {
    file.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name)).then(|| fields.skip(1).collect())
    })
}

impl Engine {
    /// `spec` as numbers, reading names from `snapshot`.
    pub(super) async fn resolve_owner(&self, snapshot: &Snapshot, spec: &OwnerSpec) -> Result<Owner, EngineError> {
        if !spec.needs_names() {
            return spec.resolve(None, None);
        }
        let passwd = self.text_file(snapshot, "/etc/passwd").await?;
        let group = match &spec.group {
            Some(Id::Name(_)) => self.text_file(snapshot, "/etc/group").await?,
            _ => None,
        };
        spec.resolve(passwd.as_deref(), group.as_deref())
    }

    /// The text of `path` in `snapshot`, or `None` when there is no such file.
    async fn text_file(&self, snapshot: &Snapshot, path: &'static str) -> Result<Option<String>, EngineError> {
        match self.extract_resolved(snapshot, path).await {
            Ok(Extracted::File(entry)) => {
                let bytes = blocking(move || entry.blob.read().map_err(|error| EngineError::Local(format!("cannot read {path}: {error}")))).await?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Ok(_) | Err(EngineError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

    fn resolve(text: &str) -> Result<Owner, EngineError> {
        OwnerSpec::parse(text)?.resolve(Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn owners_resolve_like_chown() {
        assert_eq!(resolve("1234").unwrap(), Owner { uid: 1234, gid: 1234 });
        assert_eq!(resolve("12:34").unwrap(), Owner { uid: 12, gid: 34 });
        assert_eq!(resolve("app").unwrap(), Owner { uid: 1000, gid: 1001 });
        assert_eq!(resolve("app:staff").unwrap(), Owner { uid: 1000, gid: 50 });
        assert_eq!(resolve("0:app").unwrap(), Owner { uid: 0, gid: 1001 });
        assert!(!OwnerSpec::parse("1:2").unwrap().needs_names());
        for bad in ["", ":", "app:", ":app", "a:b:c"] {
            assert!(OwnerSpec::parse(bad).is_err(), "{bad:?}");
        }
        let error = resolve("nobody-here").unwrap_err().to_string();
        assert!(error.contains("no user \"nobody-here\" in the container's /etc/passwd"), "{error}");
        assert!(resolve("app:nogroup").is_err());
    }
}
