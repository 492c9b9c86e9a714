//! HMAC-SHA256 (RFC 2104), so a digest that must change with a secret's value (a step's
//! cache key, an object's structural digest) reveals nothing about the value to whoever
//! reads it without the key: a plain hash of a short token is guessed offline.

use std::io::Read;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|key_byte| key_byte ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// `hmac-sha256:<hex>` of `message` under `key`, as digests are written.
pub fn keyed_hash(key: &[u8], message: &[u8]) -> String {
    format!("hmac-sha256:{}", hex::encode(hmac_sha256(key, message)))
}

/// 32 bytes from the kernel's random source.
pub fn random_key() -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

/// A key drawn once per process: it keys the structural digests of secrets, which live
/// only as long as the process (the cache has a key of its own, kept on disk).
pub fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        random_key().unwrap_or_else(|error| {
            // Without a random source the digests are still distinct per value; they are
            // only easier to guess. Worth a warning, not a failure.
            tracing::warn!(%error, "cannot read /dev/urandom; secrets' in-process digests use a weaker key");
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|time| time.as_nanos())
                .unwrap_or_default();
            Sha256::digest(format!("{}:{nanos}", std::process::id())).into()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
