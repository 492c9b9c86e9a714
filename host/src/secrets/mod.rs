//! Secrets: where their values come from ([`provider`]: `env://`, `file://`, `cmd://`
//! arguments), the one scrubber every line tanto shows passes through ([`scrub`]), and
//! the keyed hash that stands for a value wherever a value would otherwise be recorded
//! ([`keyed_hash`]).
//!
//! A value lives in host memory only, in an [`engine::Secret`](crate::engine::Secret);
//! making one registers it here, so from then on nothing printed shows it.

mod hash;
pub mod provider;
mod scrub;

pub use self::hash::{hmac_sha256, keyed_hash, process_key, random_key};
pub use self::scrub::{StreamScrubber, register, scrub, scrub_bytes};
