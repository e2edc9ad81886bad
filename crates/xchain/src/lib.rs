//! Cross-chain margin: one collateral pool on a **hub** backing positions on many **spokes**.
//!
//! The hub holds an account's collateral and sizes margin credits from a unified requirement
//! model over the union of all spokes' positions ([`requirement::RequirementModel`]); spokes
//! accept margin only through EIP-712 attestations signed by a k-of-n guardian quorum
//! ([`messages`], [`guardian`]). The invariant of `ARCHITECTURE.md`, that the collateral
//! locked at the hub, after haircuts, covers the unified maintenance requirement of every
//! position any spoke may still act on, valued on the stalest state any spoke could hold, is
//! kept by the bound in [`hub`] and checked by the deterministic multi-chain simulation in
//! [`sim`] under delays, duplicates, reorders, drops, reorgs, replays and forgeries.
//!
//! ## The margin crate's unified model
//! The hub's default model is [`unified::UnifiedSpokeModel`]: the margin crate's unified model with
//! the spokes as credit venues (no local floor; the pooled stress requirement of the union of all
//! spokes' positions). xchain relies on one property of a model, subadditivity up to
//! [`requirement::ROUNDING_GUARD`] (`R(A+B) ≤ R(A) + R(B) + guard`), because spokes charge each
//! order's standalone requirement; the unified model's superlinear concentration charge is
//! therefore linearised at a per-spoke position cap (`max_gross_notional`), above which the
//! requirement is refused. [`requirement::NetDeltaModel`] remains available
//! (`[model] kind = "net_delta"`). The proptests in `requirement.rs` and `unified.rs` check the property.

//! This crate owns transport-level safety (signatures, domains, nonces, expiry, rate limits,
//! pauses); the requirement is a trait, priced by the margin crate.
#![deny(missing_docs)]

pub mod agents;
pub mod client;
pub mod devnet;
pub mod efficiency;
pub mod error;
pub mod guardian;
pub mod hub;
pub mod messages;
pub mod ratelimit;
pub mod requirement;
pub mod rpc;
pub mod scenario;
pub mod sim;
pub mod spoke;
pub mod txsign;
pub mod typed_data;
pub mod unified;

pub use error::XchainError;
pub use guardian::{GuardianKey, GuardianSet, Scheme};
pub use hub::{Endpoint, Hub, HubParams};
pub use messages::{
    domain, CreditRelease, Envelope, MarginCredit, Payload, Position, PositionReport,
    WithdrawalPermit,
};
pub use requirement::{Book, NetDeltaModel, Positions, RequirementModel, ROUNDING_GUARD};
pub use spoke::Spoke;
pub use typed_data::{hash_typed_data_json, typed_data_hashes, TypedDataHashes};
pub use unified::{SpokeModel, UnifiedSpokeModel};
