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
//! ## Plugging in the margin crate's unified model
//! Implement [`requirement::RequirementModel`] for an adapter that turns a [`requirement::Book`]
//! (spoke chain id → underlying → size) into the canonical portfolio (one venue per spoke),
//! values it on a market at the hub's stress prices, and returns the unified maintenance
//! requirement rounded up to collateral base units. The one property xchain relies on is
//! subadditivity up to [`requirement::ROUNDING_GUARD`] (`R(A+B) ≤ R(A) + R(B) + guard`), which
//! scenario-grid (worst-loss) and net-Greek models have; a model with superlinear add-ons
//! (concentration charges) would need spokes to charge marginal rather than standalone
//! requirements. The proptest in `requirement.rs` is the template for checking an adapter.
//!
//! This crate owns transport-level safety (signatures, domains, nonces, expiry, rate limits,
//! pauses) and refuses pricing: the requirement is a trait, so the margin crate's unified
//! model plugs in without xchain depending on it.
#![deny(missing_docs)]

pub mod efficiency;
pub mod error;
pub mod guardian;
pub mod hub;
pub mod messages;
pub mod ratelimit;
pub mod requirement;
pub mod sim;
pub mod spoke;
pub mod typed_data;

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
