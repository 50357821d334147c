//! Password hashing (argon2id with the crate's default, OWASP-recommended
//! parameters: 19 MiB, 2 passes), verification that costs the same whether
//! or not the user exists, and a cache of successful verifications so that
//! HTTP basic credentials, sent on every call, are hashed once, not on
//! every request.
//!
//! The cache maps (user, SHA-256 of the password) to the user's generation
//! when it verified; a password change, disable or role change bumps the
//! generation, so stale entries stop counting at once. It holds at most
//! [`MAX_VERIFIED_CREDENTIALS`] entries and is cleared when full. Failed
//! verifications are never cached: every wrong guess pays full price.
//! At most [`MAX_CONCURRENT_PASSWORD_VERIFICATIONS`] run at once.
//!
//! Not here: throttling repeated failures (`throttle`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Most argon2 verifications running at once, per server. Each holds 19
/// MiB and a core for tens of milliseconds: unbounded, 64 clients sending
/// the same new credentials at once took 1.3 GiB, and anyone who can reach
/// the port could ask for more. Callers beyond it wait their turn (and
/// find the cache filled by the one before them).
pub const MAX_CONCURRENT_PASSWORD_VERIFICATIONS: usize = 2;
/// Most cached successful verifications, in entries.
pub const MAX_VERIFIED_CREDENTIALS: usize = 10_000;
/// Shortest password accepted, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest password accepted, in bytes (argon2 takes any length; this
/// bounds the work an unauthenticated caller can ask for).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes `password` with a fresh random salt (PHC string).
pub fn hash(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail on a valid salt")
        .to_string()
}

/// Whether `password` matches `phc`. An unparsable hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a password no one knows, verified against when the user does
/// not exist so that the answer takes as long as for a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()))
}

/// SHA-256 of `s`, hex.
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Successful verifications: (user, SHA-256 of password) → generation.
#[derive(Debug, Default)]
pub struct VerifiedCache {
    map: Mutex<HashMap<(String, String), u64>>,
}

impl VerifiedCache {
    /// Whether `user` with this password verified at `generation`.
    pub fn hit(&self, user: &str, password_sha: &str, generation: u64) -> bool {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(user.to_owned(), password_sha.to_owned())) == Some(&generation)
    }

    pub fn insert(&self, user: &str, password_sha: String, generation: u64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_VERIFIED_CREDENTIALS {
            map.clear();
        }
        map.insert((user.to_owned(), password_sha), generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(hash("correct horse"), h, "salted");
    }
}
