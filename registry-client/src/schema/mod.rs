//! Serialized formats as plain serde types, with no I/O (the cargo-util-schemas
//! pattern): [`lock`] for `tanto.lock`, [`manifest`] for the `[dependencies]` table of
//! `tanto.toml`. Reading and writing files lives in [`crate::lockfile`] and
//! [`crate::manifest`].

pub mod lock;
pub mod manifest;
