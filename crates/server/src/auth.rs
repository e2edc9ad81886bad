//! API keys: `im_<key id>_<secret>`, the secret hashed at rest with argon2.
//!
//! A key is either `admin` (every account, key management) or scoped to one account.
//! Argon2 is deliberately slow, so a verified key is remembered in memory by the
//! SHA-256 of the whole key; a restart forgets the cache, never the keys.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::ledger::Ledger;

/// What a key may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account and key management.
    Admin,
    /// Exactly one account.
    Account(String),
}

impl Scope {
    fn parse(s: &str) -> Scope {
        if s == "admin" {
            Scope::Admin
        } else {
            Scope::Account(s.to_string())
        }
    }

    /// Storage form of the scope.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Admin => "admin",
            Scope::Account(a) => a,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Public part of the key, used for idempotency and rate limits.
    pub key_id: String,
    /// What it may touch.
    pub scope: Scope,
}

impl Principal {
    /// Refuses access to any account but the key's own (admins see all).
    pub fn check_account(&self, account: &str) -> Result<(), ApiError> {
        match &self.scope {
            Scope::Admin => Ok(()),
            Scope::Account(a) if a == account => Ok(()),
            // Same answer as for a missing account, so keys cannot probe for other accounts.
            Scope::Account(_) => Err(ApiError::NotFound(format!(
                "account {account:?} does not exist"
            ))),
        }
    }

    /// Refuses non-admin keys.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::Account(_) => Err(ApiError::Forbidden(
                "this operation needs an admin key".into(),
            )),
        }
    }
}

/// Key verification with a cache and a per-key token-bucket rate limit.
pub struct Auth {
    verified: RwLock<HashMap<[u8; 32], Principal>>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    rate_per_sec: f64,
    burst: f64,
}

/// Generates a fresh key: (full key to give out once, key id, argon2 hash of the secret).
pub fn generate_key() -> Result<(String, String, String), ApiError> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let hash = hash_secret(&secret)?;
    Ok((format!("im_{id}_{secret}"), id, hash))
}

/// Argon2id hash of a key secret in PHC string form.
pub fn hash_secret(secret: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Engine(format!("argon2: {e}")))
}

/// Splits `im_<id>_<secret>` into its parts.
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("im_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

impl Auth {
    /// A verifier allowing `rate_per_sec` requests per key with bursts of `burst`.
    pub fn new(rate_per_sec: f64, burst: f64) -> Auth {
        Auth {
            verified: RwLock::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            rate_per_sec,
            burst,
        }
    }

    /// Resolves a presented key to its principal, or refuses it.
    pub async fn authenticate(&self, ledger: &Ledger, key: &str) -> Result<Principal, ApiError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let cached = self
            .verified
            .read()
            .ok()
            .and_then(|m| m.get(&digest).cloned());
        let principal = match cached {
            Some(p) => p,
            None => {
                let (id, secret) = split_key(key)
                    .ok_or_else(|| ApiError::Unauthorized("malformed API key".into()))?;
                let (hash, scope) = ledger
                    .key(id)
                    .await?
                    .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))?;
                let parsed = PasswordHash::new(&hash)
                    .map_err(|e| ApiError::Storage(format!("api_keys: {e}")))?;
                Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .map_err(|_| ApiError::Unauthorized("unknown API key".into()))?;
                let p = Principal {
                    key_id: id.to_string(),
                    scope: Scope::parse(&scope),
                };
                if let Ok(mut m) = self.verified.write() {
                    m.insert(digest, p.clone());
                }
                p
            }
        };
        self.take_token(&principal.key_id)?;
        Ok(principal)
    }

    fn take_token(&self, key_id: &str) -> Result<(), ApiError> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let (tokens, last) = buckets
            .entry(key_id.to_string())
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.rate_per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::RateLimited)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_split_and_verify_against_their_hash() {
        let (full, id, hash) = generate_key().unwrap();
        let (i, secret) = split_key(&full).unwrap();
        assert_eq!(i, id);
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());
        assert!(
            !hash.contains(secret),
            "the secret must not be stored in clear"
        );
    }

    #[test]
    fn malformed_keys_do_not_split() {
        assert!(split_key("im_").is_none());
        assert!(split_key("bearer xyz").is_none());
        assert!(split_key("im_abc").is_none());
    }

    #[test]
    fn bucket_refuses_after_burst() {
        let a = Auth::new(0.0, 2.0);
        assert!(a.take_token("k").is_ok());
        assert!(a.take_token("k").is_ok());
        assert!(matches!(a.take_token("k"), Err(ApiError::RateLimited)));
        assert!(a.take_token("other").is_ok());
    }
}
