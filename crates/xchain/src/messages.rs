//! The four attestations between hub and spokes, as EIP-712 typed structs that an Ethereum
//! contract can verify with `ecrecover`, and the envelope that carries them with signatures.
//!
//! Amounts are `uint256` collateral base units; sizes `int256` in units of
//! `10^-size_decimals` of the underlying; times are UTC milliseconds (`uint64`).
//! Every message binds the account address and the chain id, so margin follows the account
//! (an EOA or an ERC-4337 / ERC-1271 smart account) and not a key.

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

use crate::error::XchainError;

sol! {
    /// Hub → spoke: the hub backs `amount` of requirement increments on `spokeChainId` until `expiry`.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct MarginCredit {
        address account;
        uint256 spokeChainId;
        uint256 amount;
        uint64 nonce;
        uint64 expiry;
        uint64 hubStateVersion;
    }

    /// One position in a report: underlying ticker and signed size.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct Position {
        string underlying;
        int256 size;
    }

    /// Spoke → hub: the account's positions, realised P&L and credit usage at a final block.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct PositionReport {
        address account;
        uint256 spokeChainId;
        uint64 blockHeight;
        uint64 blockTime;
        uint64 nonce;
        Position[] positions;
        int256 realisedPnl;
        uint64 creditNonce;
        uint256 creditUsed;
        bool creditVoid;
    }

    /// Hub → user: `amount` may be paid to `recipient` from the hub pool.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct WithdrawalPermit {
        address account;
        address recipient;
        uint256 amount;
        uint64 nonce;
        uint64 expiry;
        uint64 hubStateVersion;
    }

    /// Spoke → hub: credit `creditNonce` was voided at `blockHeight` after `used` was charged.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct CreditRelease {
        address account;
        uint256 spokeChainId;
        uint64 creditNonce;
        uint256 used;
        uint64 blockHeight;
        uint64 nonce;
    }
}

/// Name in every intermargin EIP-712 domain.
pub const DOMAIN_NAME: &str = "intermargin";
/// Version in every intermargin EIP-712 domain.
pub const DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of one verifying contract on one chain (domain separation).
pub fn domain(chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(verifying_contract),
        None,
    )
}

/// One of the four attestations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "message")]
pub enum Payload {
    /// Hub → spoke credit.
    MarginCredit(MarginCredit),
    /// Spoke → hub report.
    PositionReport(PositionReport),
    /// Hub → user withdrawal permit.
    WithdrawalPermit(WithdrawalPermit),
    /// Spoke → hub credit release.
    CreditRelease(CreditRelease),
}

impl Payload {
    /// The EIP-712 digest of this payload under `domain`.
    pub fn signing_hash(&self, domain: &Eip712Domain) -> B256 {
        match self {
            Payload::MarginCredit(m) => m.eip712_signing_hash(domain),
            Payload::PositionReport(m) => m.eip712_signing_hash(domain),
            Payload::WithdrawalPermit(m) => m.eip712_signing_hash(domain),
            Payload::CreditRelease(m) => m.eip712_signing_hash(domain),
        }
    }

    /// Short name of the payload type, for errors and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::MarginCredit(_) => "MarginCredit",
            Payload::PositionReport(_) => "PositionReport",
            Payload::WithdrawalPermit(_) => "WithdrawalPermit",
            Payload::CreditRelease(_) => "CreditRelease",
        }
    }
}

/// A payload, the domain it was signed for, and the guardians' 65-byte signatures (r ‖ s ‖ v).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Chain id of the verifying contract.
    pub chain_id: u64,
    /// Verifying contract.
    pub verifying_contract: Address,
    /// The attestation.
    pub payload: Payload,
    /// Guardian signatures over the EIP-712 digest.
    pub signatures: Vec<Bytes>,
}

impl Envelope {
    /// The EIP-712 digest the signatures must cover.
    pub fn digest(&self) -> B256 {
        self.payload
            .signing_hash(&domain(self.chain_id, self.verifying_contract))
    }

    /// Parses an envelope from JSON; malformed input is a typed error.
    pub fn from_json(text: &str) -> Result<Envelope, XchainError> {
        serde_json::from_str(text).map_err(|e| XchainError::malformed("envelope", e.to_string()))
    }

    /// Serialises the envelope to JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Converts a `uint256` field to `u128` base units, naming the field on overflow.
pub fn u256_to_u128(v: U256, field: &str) -> Result<u128, XchainError> {
    u128::try_from(v).map_err(|_| XchainError::malformed(field, "exceeds u128 base units"))
}

/// Converts a `uint256` chain id to `u64`, naming the field on overflow.
pub fn u256_to_u64(v: U256, field: &str) -> Result<u64, XchainError> {
    u64::try_from(v).map_err(|_| XchainError::malformed(field, "exceeds u64"))
}
