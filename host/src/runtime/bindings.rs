//! One `bindgen!` per version of `wit/` the host serves. Generated types stay inside
//! `runtime`: the rest of the host speaks [`crate::engine`] objects and [`super::values`].
//!
//! Every version maps its resources to the same engine objects, so a container made by a
//! 0.1 module is the very object a 0.2 module receives: only the records and variants
//! around them differ between versions, and [`super::since_v0_1`] converts those.

/// `tanto:core@0.1.0`: released, served unchanged, implemented by delegating to
/// [`latest`] (see [`super::since_v0_1`]).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "tanto:core/module",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "tanto:core/types.container": crate::engine::Container,
            "tanto:core/types.directory": crate::engine::Directory,
            "tanto:core/types.file": crate::engine::File,
            "tanto:core/types.cache-volume": crate::engine::CacheVolume,
        },
    });
}

/// `tanto:core@0.2.0`: the latest version, the one [`super::host`] implements.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "tanto:core/module",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "tanto:core/types.container": crate::engine::Container,
            "tanto:core/types.directory": crate::engine::Directory,
            "tanto:core/types.file": crate::engine::File,
            "tanto:core/types.cache-volume": crate::engine::CacheVolume,
            "tanto:core/types.git-repository": crate::engine::GitRepository,
            "tanto:core/types.git-ref": crate::engine::GitRef,
            "tanto:core/types.secret": crate::engine::Secret,
            "tanto:core/types.service": crate::engine::Service,
        },
    });
}

/// The version the host implements; older ones delegate to it.
pub use v0_2 as latest;

/// A version of the tanto API this host serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiVersion {
    V0_1,
    V0_2,
}

impl ApiVersion {
    /// Every version served, oldest first.
    pub const SERVED: [ApiVersion; 2] = [ApiVersion::V0_1, ApiVersion::V0_2];

    /// The semver of the WIT package, as it appears in interface names.
    pub fn semver(self) -> &'static str {
        match self {
            ApiVersion::V0_1 => "0.1.0",
            ApiVersion::V0_2 => "0.2.0",
        }
    }

    /// The version whose package semver is `semver`, if it is served.
    pub fn from_semver(semver: &str) -> Option<ApiVersion> {
        ApiVersion::SERVED.into_iter().find(|version| version.semver() == semver)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tanto:core@{}", self.semver())
    }
}
