//! Collateral allocation for intermargin: where an account's collateral should sit across
//! venues and chains, and the ordered transfers that put it there.
//!
//! The crate owns one decision. Input ([`Problem`]): balances per location and asset in exact
//! base units, each asset's price and haircut (with per-location overrides), the requirement
//! each location must cover (a venue's own margin, or the unified requirement at the hub), and
//! the transfer routes with their fees, latency and limits. Output ([`Allocation`]): target
//! holdings, the transfer plan, the headroom of every requirement and the shortfall where
//! collateral runs out.
//!
//! Why a linear programme (solved by `good_lp` with the pure-Rust `microlp` solver): the
//! max-min headroom objective with proportional fees and capacities is exactly linear, and an
//! LP gives the optimum rather than a heuristic's guess. The objective is lexicographic:
//! stage 1 maximises the worst location's ratio (haircut collateral value / requirement,
//! optionally capped by [`Options::target_ratio`]); stage 2 fixes that ratio within a
//! tolerance and minimises the fees. Fixed fees and minimum transfer sizes are not linear;
//! they are handled by route selection (see [`allocate`]), exact in the fees it charges.
//!
//! Money stays exact: the LP works in whole units (f64), the plan in integer base units,
//! rounded against the account (amounts up at the source, fees up), with requirements padded
//! by the worst rounding so that a plan the LP calls feasible is feasible in integers.
//!
//! The crate refuses to compute margin (requirements come from `intermargin-margin`) or to
//! read files: it is a pure function of its input. The JSON routes format the CLI reads is
//! [`RoutesFile`].
#![deny(missing_docs)]

mod error;
mod lp;
mod plan;
mod problem;
mod routes;

pub use error::AllocateError;
pub use plan::{allocate, Allocation, Headroom, Shortfall, Target, Transfer};
pub use problem::{AssetSpec, HaircutOverride, Holding, Options, Problem, Requirement, Route};
pub use routes::RoutesFile;
