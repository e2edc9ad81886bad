//! Deterministic discrete-event simulation of one hub and several spoke chains.
//!
//! Per-chain block times and finality depths, exponential message latencies (so messages
//! reorder), reorgs that drop a spoke's non-final blocks, dropped / duplicated / withheld /
//! replayed / misrouted / corrupted messages, an attacker holding guardian keys below quorum
//! who forges credits and reports, price shocks that trip breakers, user withdrawals and
//! credit releases. Everything is driven by one `ChaCha8Rng` seeded from the caller's seed, and
//! all collections are ordered, so a (config, seed) pair always gives the same run.
//!
//! After every event an omniscient checker evaluates the invariant on the *true* state:
//! `haircut(collateral) ≥ R(true book) + Σ remaining active credits + Σ acceptable pending credits`,
//! i.e. the requirement of every position any spoke holds or may still open. After
//! `faults_end_ms` the network is honest and trading stops; at the end the user asks for every
//! base unit they are entitled to under the true book, and the hub must grant it (liveness).

mod config;
mod engine;
mod schedule;

pub use config::{
    FaultConfig, GuardianConfig, HubConfig, PriceConfig, SimConfig, SpokeConfig, TestingConfig,
};
pub use engine::{run, Rejected, SimReport};
pub use schedule::random_schedule;
