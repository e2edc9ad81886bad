//! Liquidation for intermargin: account states, the partial-liquidation planner, penalties,
//! the insurance fund and the bad-debt waterfall.
//!
//! Layers follow Drift's split: [`sizing`] and [`impact`] compute scalars in closed form,
//! [`state`] holds the predicates (healthy → margin call → liquidation → bankrupt, with
//! hysteresis), [`planner`] searches a [`RequirementFn`] for the smallest close that restores
//! maintenance plus a buffer, and [`waterfall`] moves money in integer base units so that bad
//! debt is conserved exactly. Venue rules live in `params/venues.toml`, each table citing its
//! page; [`venue_style`] applies each venue's own liquidation procedure (dYdX, Hyperliquid,
//! Aave) beside the planner's minimal closure. The crate is pure: no I/O, clock or logging; the caller passes the market.
#![deny(missing_docs)]

mod error;
pub mod impact;
pub mod planner;
pub mod requirement;
pub mod rules;
pub mod sizing;
pub mod state;
mod valuation;
pub mod venue_style;
pub mod waterfall;

pub use error::LiquidationError;
pub use impact::{DepthBook, ImpactParams};
pub use planner::{plan_liquidation, LiquidationPlan, PlanLeg, PlannerOptions};
#[cfg(feature = "margin-models")]
pub use requirement::{ModelRequirement, VenueMarginsRequirement};
pub use requirement::{RateRequirement, Rates, Requirement, RequirementFn};
pub use rules::{RuleBook, VenueRules, WaterfallStep};
pub use sizing::base_to_cover_margin_shortage;
pub use state::{classify, next_state, AccountState, Figures, Hysteresis};
pub use valuation::{leg_value, LegValue};
pub use waterfall::{
    aave_liquidation, settle_bad_debt, split_fee, AaveLiquidation, AdlCandidate, BadDebtSettlement,
    FeeSplit,
};
