//! Guardian keys and k-of-n quorum verification.
//!
//! The hub's attestations are signed by guardians; a verifier accepts a message only when at
//! least `threshold` *distinct*, *known* guardians signed its EIP-712 digest. A compromised key
//! below the quorum can therefore never pass a message alone (duplicating its own signature
//! does not count twice).
//!
//! Two schemes share the same quorum code: [`Scheme::Ecdsa`] (secp256k1 via `k256`, 65-byte
//! `r ‖ s ‖ v` signatures that `ecrecover` accepts, low-`s` enforced) is what messages use;
//! [`Scheme::KeyedHash`] is a cheap keyed-keccak test double used only to run the soak
//! harness's million schedules in minutes; it exercises the same quorum, domain, nonce and
//! expiry logic but is not a public-key signature (the verifier holds the secrets).

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{keccak256, Address, Bytes, Signature, B256, U256};
use k256::ecdsa::SigningKey;

use crate::error::XchainError;

/// Half the secp256k1 group order: signatures with a larger `s` are malleable and refused.
const SECP256K1_HALF_N: U256 = U256::from_be_slice(&[
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// Which signature primitive a guardian set uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// secp256k1 ECDSA, verifiable on Ethereum with `ecrecover`.
    Ecdsa,
    /// Keyed keccak tag: a fast stand-in for soak runs only (see module docs).
    KeyedHash,
}

/// One guardian's secret key and its Ethereum address.
#[derive(Clone)]
pub struct GuardianKey {
    secret: [u8; 32],
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for GuardianKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuardianKey({})", self.address)
    }
}

impl GuardianKey {
    /// A key from 32 secret bytes; refuses zero or out-of-range scalars.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<GuardianKey, XchainError> {
        let key = SigningKey::from_slice(secret)
            .map_err(|e| XchainError::malformed("private_key", e.to_string()))?;
        let address = Address::from_private_key(&key);
        Ok(GuardianKey {
            secret: *secret,
            key,
            address,
        })
    }

    /// A deterministic key for simulations: `keccak256(label)`, re-hashed until valid.
    pub fn from_label(label: &str) -> GuardianKey {
        let mut h = keccak256(label.as_bytes());
        loop {
            if let Ok(k) = GuardianKey::from_bytes(&h.0) {
                return k;
            }
            h = keccak256(h.as_slice());
        }
    }

    /// The guardian's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest; the result is `r ‖ s ‖ v` with `v ∈ {27, 28}` for ECDSA.
    pub fn sign(&self, scheme: Scheme, digest: &B256) -> Result<Bytes, XchainError> {
        match scheme {
            Scheme::Ecdsa => {
                let (sig, recid) = self
                    .key
                    .sign_prehash_recoverable(digest.as_slice())
                    .map_err(|e| XchainError::malformed("digest", e.to_string()))?;
                let sig = Signature::from_signature_and_parity(sig, recid.is_y_odd());
                Ok(Bytes::copy_from_slice(&sig.as_bytes()))
            }
            Scheme::KeyedHash => {
                let mut out = [0u8; 65];
                out[..20].copy_from_slice(self.address.as_slice());
                out[20..52].copy_from_slice(keyed_tag(&self.secret, digest).as_slice());
                out[64] = 27;
                Ok(Bytes::copy_from_slice(&out))
            }
        }
    }
}

fn keyed_tag(secret: &[u8; 32], digest: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(secret);
    buf[32..].copy_from_slice(digest.as_slice());
    keccak256(buf)
}

/// Recovers the signer of an ECDSA `r ‖ s ‖ v` signature over a digest.
pub fn recover_ecdsa(digest: &B256, sig: &[u8], index: usize) -> Result<Address, XchainError> {
    let bad = |reason: String| XchainError::BadSignature { index, reason };
    if sig.len() != 65 {
        return Err(bad(format!("expected 65 bytes, got {}", sig.len())));
    }
    let parsed = Signature::from_raw(sig).map_err(|e| bad(e.to_string()))?;
    if parsed.s() > SECP256K1_HALF_N {
        return Err(bad("high s value (malleable signature)".into()));
    }
    parsed
        .recover_address_from_prehash(digest)
        .map_err(|e| bad(e.to_string()))
}

/// The known guardians and how many distinct ones must sign.
#[derive(Debug, Clone)]
pub struct GuardianSet {
    scheme: Scheme,
    members: BTreeSet<Address>,
    /// Secrets, only for [`Scheme::KeyedHash`].
    secrets: BTreeMap<Address, [u8; 32]>,
    threshold: usize,
}

impl GuardianSet {
    /// An ECDSA guardian set of `members` with quorum `threshold` (1 ≤ threshold ≤ n, distinct members).
    pub fn new(members: Vec<Address>, threshold: usize) -> Result<GuardianSet, XchainError> {
        let n = members.len();
        let set: BTreeSet<Address> = members.into_iter().collect();
        if set.len() != n {
            return Err(XchainError::config(
                "guardians",
                "duplicate guardian address",
            ));
        }
        if threshold == 0 || threshold > n {
            return Err(XchainError::config(
                "guardians.threshold",
                format!("must be between 1 and {n}, got {threshold}"),
            ));
        }
        Ok(GuardianSet {
            scheme: Scheme::Ecdsa,
            members: set,
            secrets: BTreeMap::new(),
            threshold,
        })
    }

    /// A guardian set built from keys, using `scheme`.
    pub fn from_keys(
        keys: &[GuardianKey],
        threshold: usize,
        scheme: Scheme,
    ) -> Result<GuardianSet, XchainError> {
        let mut s = GuardianSet::new(keys.iter().map(|k| k.address()).collect(), threshold)?;
        s.scheme = scheme;
        if scheme == Scheme::KeyedHash {
            s.secrets = keys.iter().map(|k| (k.address(), k.secret)).collect();
        }
        Ok(s)
    }

    /// The signature scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Quorum size.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Checks that at least `threshold` distinct known guardians signed `digest`.
    ///
    /// Any unparsable signature or unknown signer rejects the whole message (a well-formed
    /// attestation carries only guardian signatures); duplicates of a known guardian count once.
    pub fn verify(&self, digest: &B256, signatures: &[Bytes]) -> Result<usize, XchainError> {
        let mut seen = BTreeSet::new();
        for (index, sig) in signatures.iter().enumerate() {
            let signer = match self.scheme {
                Scheme::Ecdsa => recover_ecdsa(digest, sig, index)?,
                Scheme::KeyedHash => self.check_keyed(digest, sig, index)?,
            };
            if !self.members.contains(&signer) {
                return Err(XchainError::UnknownSigner { index, signer });
            }
            seen.insert(signer);
        }
        if seen.len() < self.threshold {
            return Err(XchainError::NoQuorum {
                distinct: seen.len(),
                threshold: self.threshold,
            });
        }
        Ok(seen.len())
    }

    fn check_keyed(&self, digest: &B256, sig: &[u8], index: usize) -> Result<Address, XchainError> {
        let bad = |reason: &str| XchainError::BadSignature {
            index,
            reason: reason.to_string(),
        };
        if sig.len() != 65 {
            return Err(bad("expected 65 bytes"));
        }
        if sig[64] != 27 && sig[64] != 28 {
            return Err(bad("invalid v byte"));
        }
        let signer = Address::from_slice(&sig[..20]);
        let Some(secret) = self.secrets.get(&signer) else {
            return Err(XchainError::UnknownSigner { index, signer });
        };
        if keyed_tag(secret, digest).as_slice() != &sig[20..52] {
            return Err(bad("tag does not match digest"));
        }
        Ok(signer)
    }
}

/// Signs `digest` with every key in `keys`.
pub fn sign_all(
    keys: &[GuardianKey],
    scheme: Scheme,
    digest: &B256,
) -> Result<Vec<Bytes>, XchainError> {
    keys.iter().map(|k| k.sign(scheme, digest)).collect()
}
