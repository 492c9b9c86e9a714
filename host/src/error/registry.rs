//! What `tanto-registry`'s errors are to tanto: all the user's to fix (a name, a version,
//! the network, the repository, tanto.lock), never tanto bugs, with the registry's own
//! hints.

use tanto_registry::{git, install, lockfile, manifest, publish, reference, resolve};

use super::{Diagnose, ErrorKind, Hint};

/// Implements [`Diagnose`] for registry errors: user errors with the registry's hint.
macro_rules! registry_errors {
    ($($error:ty => $hint:expr;)*) => {
        $(
            impl Diagnose for $error {
                fn kind(&self) -> ErrorKind {
                    ErrorKind::User
                }

                fn hint(&self) -> Option<Hint> {
                    let hint: fn(&$error) -> Option<tanto_registry::Hint> = $hint;
                    hint(self).map(Hint::Registry)
                }
            }
        )*
    };
}

registry_errors! {
    install::InstallError => install::InstallError::hint;
    resolve::ResolveError => resolve::ResolveError::hint;
    git::GitError => git::GitError::hint;
    lockfile::LockfileError => lockfile::LockfileError::hint;
    lockfile::VerifyError => lockfile::VerifyError::hint;
    publish::PublishError => publish::PublishError::hint;
    tanto_registry::Error => tanto_registry::Error::hint;
    // The message already shows the line, or the accepted forms.
    manifest::ManifestError => |_| None;
    reference::ReferenceError => |_| None;
}
