//! API keys: `im_<key id>_<secret>`, and what each may do.
//!
//! Secrets are high-entropy random strings (192 bits when the service makes them), so they
//! are stored as an HMAC-SHA256 under a server secret (the pepper, a file in the data
//! directory) — a microsecond to check, where argon2 took tens of milliseconds and let a flood of
//! wrong secrets starve every other request. Keys stored by older versions as argon2 hashes
//! are still accepted and re-hashed on their first successful use.
//!
//! Failed attempts are limited per key id and per client address: past the allowance a failure
//! answers 429 with `Retry-After` instead of 401 (a correct key is never refused for someone
//! else's failures). Revoking a key drops it from the cache and closes its WebSockets at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::ledger::Ledger;

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything, including accounts, keys and assets.
    Admin,
    /// Records facts observed on venues and chains (deposits, credits, positions, imports) and
    /// executes liquidations, on every account.
    Operator,
    /// Reads every account, changes nothing.
    ReadOnly,
    /// Reads one account and requests its withdrawals and transfers.
    Account(String),
}

/// Storage form of the operator role (account ids cannot contain `:`).
const OPERATOR: &str = "role:operator";
/// Storage form of the read-only role.
const READ_ONLY: &str = "role:read-only";

impl Scope {
    /// Parses the storage form.
    pub fn parse(s: &str) -> Scope {
        match s {
            "admin" => Scope::Admin,
            OPERATOR => Scope::Operator,
            READ_ONLY => Scope::ReadOnly,
            a => Scope::Account(a.to_string()),
        }
    }

    /// Storage form of the scope (also a job's owner).
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Admin => "admin",
            Scope::Operator => OPERATOR,
            Scope::ReadOnly => READ_ONLY,
            Scope::Account(a) => a,
        }
    }

    /// The name clients use: `admin`, `operator`, `read-only` or the account id.
    pub fn label(&self) -> &str {
        match self {
            Scope::Admin => "admin",
            Scope::Operator => "operator",
            Scope::ReadOnly => "read-only",
            Scope::Account(a) => a,
        }
    }

    /// The role: `admin`, `operator`, `read-only` or `account`.
    pub fn role(&self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Operator => "operator",
            Scope::ReadOnly => "read-only",
            Scope::Account(_) => "account",
        }
    }

    /// True when the scope may read every account.
    pub fn sees_all(&self) -> bool {
        !matches!(self, Scope::Account(_))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Public part of the key, used for idempotency and rate limits.
    pub key_id: String,
    /// What it may do.
    pub scope: Scope,
}

impl Principal {
    /// Refuses reading an account the key may not see (admins, operators and read-only keys see all).
    pub fn check_account(&self, account: &str) -> Result<(), ApiError> {
        match &self.scope {
            Scope::Account(a) if a != account => Err(hidden(account)),
            _ => Ok(()),
        }
    }

    /// Refuses requests on an account (withdrawals, transfers) unless the key is the account's
    /// own, an operator's or an admin's.
    pub fn check_request(&self, account: &str) -> Result<(), ApiError> {
        match &self.scope {
            Scope::Admin | Scope::Operator => Ok(()),
            Scope::Account(a) if a == account => Ok(()),
            Scope::Account(_) => Err(hidden(account)),
            Scope::ReadOnly => Err(ApiError::Forbidden(
                "a read-only key changes nothing".into(),
            )),
        }
    }

    /// Refuses declarations of fact (deposits, credits, positions, imports, liquidations) from
    /// anyone but an operator or admin: an account cannot mint its own collateral.
    pub fn check_operator(&self, account: &str) -> Result<(), ApiError> {
        self.check_account(account)?;
        match self.scope {
            Scope::Admin | Scope::Operator => Ok(()),
            _ => Err(ApiError::Forbidden(
                "this records a fact observed on a venue or chain and needs an operator or admin key"
                    .into(),
            )),
        }
    }

    /// Refuses non-admin keys.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            _ => Err(ApiError::Forbidden(
                "this operation needs an admin key".into(),
            )),
        }
    }

    /// Refuses read-only keys (starting jobs spends the service's compute).
    pub fn require_writer(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::ReadOnly => Err(ApiError::Forbidden(
                "a read-only key changes nothing".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn hidden(account: &str) -> ApiError {
    // Same answer as for a missing account, so keys cannot probe for other accounts.
    ApiError::NotFound(format!("account {account:?} does not exist"))
}

/// Failed attempts allowed in a burst per key id and per client address.
pub const FAILURE_BURST: f64 = 10.0;
/// Failed attempts regained per second after the burst (one every six seconds).
pub const FAILURE_REFILL_PER_SEC: f64 = 1.0 / 6.0;
/// Prefix of stored keyed hashes.
const HMAC_PREFIX: &str = "hmac-sha256$";
/// Name of the pepper file in the data directory.
pub const PEPPER_FILE: &str = "auth-pepper";

/// A token bucket: `tokens` left at `last`.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one token, or says in how many seconds one will be there.
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), u64> {
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if rate > 0.0 {
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
        } else {
            Err(3600)
        }
    }
}

/// One key as cached: its stored hash and scope.
#[derive(Clone)]
struct KeyRecord {
    hash: String,
    scope: Scope,
}

/// Key verification, its cache, request and failure rate limits, and revocation notices.
pub struct Auth {
    pepper: [u8; 32],
    keys: RwLock<HashMap<String, KeyRecord>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    failures: Mutex<HashMap<String, Bucket>>,
    rate_per_sec: f64,
    burst: f64,
    revoked: broadcast::Sender<String>,
}

/// A fresh random key: (full key to give out once, key id, secret).
pub fn random_key() -> (String, String, String) {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    (format!("im_{id}_{secret}"), id, secret)
}

/// Splits `im_<id>_<secret>` into its parts.
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("im_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Refuses a key an operator supplies (`INTERMARGIN_ADMIN_KEY`) unless it is well formed and its
/// secret carries at least 128 bits: 32 hex digits, or 22 letters and digits, not repetitive.
pub fn check_strong(field: &str, key: &str) -> Result<(), ApiError> {
    let (id, secret) =
        split_key(key).ok_or_else(|| ApiError::bad(field, "expected the form im_<id>_<secret>"))?;
    if id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad(
            field,
            "the key id must be 1-32 letters or digits",
        ));
    }
    if !secret.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad(
            field,
            "the secret must be letters and digits",
        ));
    }
    let hex = secret.chars().all(|c| c.is_ascii_hexdigit());
    let bits = secret.len() as f64 * if hex { 4.0 } else { 62f64.log2() };
    let distinct = secret
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if bits < 128.0 || distinct < 8 {
        return Err(ApiError::bad(
            field,
            "weak secret: use at least 32 random hex digits (128 bits), e.g. from `openssl rand -hex 24`",
        ));
    }
    Ok(())
}

/// Reads the pepper from `<dir>/auth-pepper`, creating it (random, mode 0600) on first start.
pub fn load_pepper(dir: &Path) -> Result<[u8; 32], ApiError> {
    let path = dir.join(PEPPER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim())
                .map_err(|e| ApiError::Storage(format!("{}: {e}", path.display())))?;
            bytes
                .try_into()
                .map_err(|_| ApiError::Storage(format!("{}: expected 32 bytes", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut p = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut p);
            let tmp = dir.join(format!("{PEPPER_FILE}.tmp"));
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&tmp)?;
                f.write_all(hex::encode(p).as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| ApiError::Storage(format!("{}: {e}", path.display())))?;
            Ok(p)
        }
        Err(e) => Err(ApiError::Storage(format!("{}: {e}", path.display()))),
    }
}

/// Constant-time equality of two byte strings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// A verifier with `pepper`, allowing `rate_per_sec` requests per key with bursts of `burst`.
    pub fn new(pepper: [u8; 32], rate_per_sec: f64, burst: f64) -> Auth {
        let (revoked, _) = broadcast::channel(64);
        Auth {
            pepper,
            keys: RwLock::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            rate_per_sec,
            burst,
            revoked,
        }
    }

    /// The stored form of a secret: HMAC-SHA256 under the pepper.
    pub fn hash_secret(&self, secret: &str) -> String {
        format!("{HMAC_PREFIX}{}", hex::encode(self.mac(secret)))
    }

    fn mac(&self, secret: &str) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.pepper)
            .expect("HMAC takes keys of any length");
        m.update(secret.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// Whether `secret` matches the stored `hash` (keyed hash, or argon2 from older versions).
    pub fn verifies(&self, secret: &str, hash: &str) -> Result<bool, ApiError> {
        Ok(self.matches(secret, hash)?.0)
    }

    /// Whether `secret` matches the stored `hash`; `legacy` is true when it was an argon2 hash.
    fn matches(&self, secret: &str, hash: &str) -> Result<(bool, bool), ApiError> {
        if let Some(h) = hash.strip_prefix(HMAC_PREFIX) {
            let want = hex::decode(h).map_err(|e| ApiError::Storage(format!("api_keys: {e}")))?;
            return Ok((same(&want, &self.mac(secret)), false));
        }
        let parsed =
            PasswordHash::new(hash).map_err(|e| ApiError::Storage(format!("api_keys: {e}")))?;
        Ok((
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok(),
            true,
        ))
    }

    /// Key ids revoked from now on (WebSockets close when theirs is announced).
    pub fn revocations(&self) -> broadcast::Receiver<String> {
        self.revoked.subscribe()
    }

    /// Forgets a key (after it was revoked in the ledger) and announces it.
    pub fn forget(&self, key_id: &str) {
        if let Ok(mut m) = self.keys.write() {
            m.remove(key_id);
        }
        let _ = self.revoked.send(key_id.to_string());
    }

    /// Counts one failed attempt against `who`; past the allowance, the seconds to wait.
    pub fn fail(&self, who: &str) -> Result<(), u64> {
        let Ok(mut m) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if m.len() > 100_000 {
            // Bounded memory under a flood of addresses or ids: forget the fully refilled ones.
            m.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * FAILURE_REFILL_PER_SEC
                    < FAILURE_BURST
            });
        }
        m.entry(who.to_string())
            .or_insert(Bucket {
                tokens: FAILURE_BURST,
                last: now,
            })
            .take(FAILURE_REFILL_PER_SEC, FAILURE_BURST, now)
    }

    /// Whether `who` has used up its failed attempts (then the seconds to wait), without counting one.
    fn locked(&self, who: &str) -> Option<u64> {
        let m = self.failures.lock().ok()?;
        let b = m.get(who)?;
        let now = Instant::now();
        let tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * FAILURE_REFILL_PER_SEC)
            .min(FAILURE_BURST);
        (tokens < 1.0).then(|| ((1.0 - tokens) / FAILURE_REFILL_PER_SEC).ceil().max(1.0) as u64)
    }

    /// Resolves a presented key to its principal, or refuses it (401, or 429 once the key id
    /// has failed too often).
    pub async fn authenticate(&self, ledger: &Ledger, key: &str) -> Result<Principal, ApiError> {
        let (id, secret) =
            split_key(key).ok_or_else(|| ApiError::Unauthorized("malformed API key".into()))?;
        if id.len() > 64 || secret.len() > 256 {
            return Err(ApiError::Unauthorized("malformed API key".into()));
        }
        let cached = self.keys.read().ok().and_then(|m| m.get(id).cloned());
        let record = match cached {
            Some(r) => r,
            None => {
                let Some((hash, scope)) = ledger.active_key(id).await? else {
                    return Err(ApiError::Unauthorized("unknown API key".into()));
                };
                KeyRecord {
                    hash,
                    scope: Scope::parse(&scope),
                }
            }
        };
        let legacy = !record.hash.starts_with(HMAC_PREFIX);
        let failures = format!("key:{id}");
        if legacy {
            // Argon2 costs tens of milliseconds: never run it for a key id that keeps failing.
            if let Some(wait) = self.locked(&failures) {
                return Err(ApiError::RateLimited(wait));
            }
        }
        let (ok, _) = self.matches(secret, &record.hash)?;
        if !ok {
            return Err(match self.fail(&failures) {
                Ok(()) => ApiError::Unauthorized("unknown API key".into()),
                Err(wait) => ApiError::RateLimited(wait),
            });
        }
        let record = if legacy {
            let upgraded = KeyRecord {
                hash: self.hash_secret(secret),
                scope: record.scope,
            };
            ledger.rehash_key(id, &upgraded.hash).await?;
            upgraded
        } else {
            record
        };
        let principal = Principal {
            key_id: id.to_string(),
            scope: record.scope.clone(),
        };
        if let Ok(mut m) = self.keys.write() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(id.to_string(), record);
        }
        self.take_token(&principal.key_id)?;
        Ok(principal)
    }

    fn take_token(&self, key_id: &str) -> Result<(), ApiError> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        buckets
            .entry(key_id.to_string())
            .or_insert(Bucket {
                tokens: self.burst,
                last: now,
            })
            .take(self.rate_per_sec, self.burst, now)
            .map_err(ApiError::RateLimited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_verify_only_the_right_secret_and_never_store_it() {
        let a = Auth::new([7; 32], 1.0, 1.0);
        let (full, id, secret) = random_key();
        assert_eq!(split_key(&full), Some((id.as_str(), secret.as_str())));
        let hash = a.hash_secret(&secret);
        assert!(!hash.contains(&secret));
        assert_eq!(a.matches(&secret, &hash).unwrap(), (true, false));
        assert_eq!(a.matches("wrong", &hash).unwrap(), (false, false));
        // Another pepper gives another hash: a stolen table alone does not verify guesses.
        assert_ne!(Auth::new([8; 32], 1.0, 1.0).hash_secret(&secret), hash);
    }

    #[test]
    fn weak_or_malformed_keys_are_refused() {
        assert!(check_strong("k", "im_a_b").is_err());
        assert!(check_strong("k", "im_admin_00000000000000000000000000000000").is_err());
        assert!(check_strong("k", "im_admin_0123456789abcdef").is_err());
        assert!(check_strong("k", "im_x_0123456789abcdef0123456789abcdef").is_ok());
        assert!(split_key("im_").is_none());
        assert!(split_key("bearer xyz").is_none());
        assert!(split_key("im_abc").is_none());
    }

    #[test]
    fn failures_are_limited_with_a_retry_time_and_requests_per_key_too() {
        let a = Auth::new([0; 32], 0.0, 2.0);
        for _ in 0..FAILURE_BURST as usize {
            assert!(a.fail("addr:1.2.3.4").is_ok());
        }
        let wait = a.fail("addr:1.2.3.4").unwrap_err();
        assert!((1..=6).contains(&wait), "{wait}");
        assert!(a.fail("addr:5.6.7.8").is_ok());
        assert!(a.take_token("k").is_ok());
        assert!(a.take_token("k").is_ok());
        assert!(matches!(a.take_token("k"), Err(ApiError::RateLimited(_))));
        assert!(a.take_token("other").is_ok());
    }
}
