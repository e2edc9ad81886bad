//! The crate's one error type: every variant names the offending field or party, so a
//! rejected message can be classified (replay, expired, bad signature …) without parsing text.

use alloy_primitives::Address;

/// Why an xchain operation was refused. No operation that returns an error changes state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XchainError {
    /// A JSON-RPC call to a node failed (transport, HTTP status or the node's error object).
    #[error("rpc {url} {method}: {reason}")]
    Rpc {
        /// Endpoint.
        url: String,
        /// JSON-RPC method.
        method: String,
        /// What went wrong.
        reason: String,
    },
    /// Starting or driving a local devnet failed.
    #[error("devnet: {0}")]
    Devnet(String),
    /// A typed-data document could not be parsed or hashed.
    #[error("typed data: {0}")]
    TypedData(String),
    /// A message or input field is malformed.
    #[error("malformed `{field}`: {reason}")]
    Malformed {
        /// Field path.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The message was signed for another chain or verifying contract.
    #[error("wrong domain in `{field}`: message is for {got}, this verifier is {expected}")]
    WrongDomain {
        /// Field that carried the foreign domain.
        field: String,
        /// Domain the message claims.
        got: String,
        /// Domain of this verifier.
        expected: String,
    },
    /// The message names another account than the one this verifier serves.
    #[error("wrong account: message is for {got}, this verifier serves {expected}")]
    WrongAccount {
        /// Account named in the message.
        got: Address,
        /// Account of this verifier.
        expected: Address,
    },
    /// A signature's bytes are not a valid 65-byte secp256k1 signature (or fail its check).
    #[error("signatures[{index}]: bad signature: {reason}")]
    BadSignature {
        /// Position in the signature list.
        index: usize,
        /// Why it was refused.
        reason: String,
    },
    /// A signature recovers to an address that is not a known guardian.
    #[error("signatures[{index}]: signer {signer} is not a known guardian")]
    UnknownSigner {
        /// Position in the signature list.
        index: usize,
        /// Recovered address.
        signer: Address,
    },
    /// Fewer distinct known guardians signed than the threshold.
    #[error("no quorum: {distinct} distinct guardians signed, {threshold} required")]
    NoQuorum {
        /// Distinct known guardians that signed.
        distinct: usize,
        /// Required number.
        threshold: usize,
    },
    /// The nonce is not above the last accepted nonce for this (account, chain).
    #[error("replay: `{field}` {nonce} is not above last accepted {last}")]
    Replay {
        /// Which nonce sequence.
        field: String,
        /// Nonce in the message.
        nonce: u64,
        /// Last accepted nonce.
        last: u64,
    },
    /// The message's expiry is not after the verifier's current time.
    #[error("expired: expiry {expiry_ms} ms is not after time {now_ms} ms")]
    Expired {
        /// Expiry in the message (UTC ms).
        expiry_ms: u64,
        /// Verifier time (UTC ms).
        now_ms: u64,
    },
    /// The per-spoke token bucket does not hold enough credit for this window.
    #[error("rate limited: spoke {spoke} requested {requested}, bucket holds {available}")]
    RateLimited {
        /// Spoke chain id.
        spoke: u64,
        /// Requested amount (base units).
        requested: u128,
        /// Available tokens (base units).
        available: u128,
    },
    /// The spoke is paused by a breaker and the request is not risk-reducing.
    #[error("spoke {spoke} is paused: only risk-reducing orders are accepted")]
    Paused {
        /// Spoke chain id.
        spoke: u64,
    },
    /// The hub's free collateral does not cover the request.
    #[error("insufficient free collateral: requested {requested}, free {free}")]
    InsufficientFree {
        /// Requested amount (base units).
        requested: u128,
        /// Free amount (base units).
        free: u128,
    },
    /// The spoke's active credit does not cover the order's requirement charge.
    #[error("insufficient credit on spoke {spoke}: order needs {needed}, credit has {available}")]
    InsufficientCredit {
        /// Spoke chain id.
        spoke: u64,
        /// Charge of the order (base units).
        needed: u128,
        /// Remaining credit (base units).
        available: u128,
    },
    /// The chain id is not a configured spoke.
    #[error("unknown spoke chain id {0}")]
    UnknownSpoke(u64),
    /// A configuration key is missing or invalid.
    #[error("config `{key}`: {reason}")]
    Config {
        /// Key path in the config file.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Checked arithmetic overflowed.
    #[error("overflow in {0}")]
    Overflow(String),
}

impl XchainError {
    /// Shorthand for a [`XchainError::Malformed`].
    pub fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Self {
        XchainError::Malformed {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a [`XchainError::Config`].
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        XchainError::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
