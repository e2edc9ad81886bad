//! Portfolio margin: scenario grids (Deribit PM, CME SPAN), a Greek-netting model in the ISDA SIMM
//! form, and the unified cross-venue model, each explained by the loop that computes it.
//!
//! Layers: [`scenario`] reprices every instrument once per snapshot into a risk matrix (loss per unit
//! per scenario); [`scan`] is the only loop that sums a book over that matrix and adds the
//! components; [`batch`] runs the same scan over millions of accounts; [`unified`] is the cross-venue
//! model (local floors at segregated venues + a pooled stress requirement at the hub).

pub mod batch;
pub mod broken_hedge;
pub mod explain;
pub mod params;
pub mod scan;
pub mod scenario;
pub mod simm;
pub mod unified;

pub use batch::{BatchBook, BatchEngine, UnifiedBatch};
pub use broken_hedge::{BrokenHedgeAddOn, BrokenHedgeForecast, BrokenHedgeLeg};
pub use explain::{Component, Contribution, Explanation, FactorLoss, ScenarioLoss};
pub use params::GridParams;
pub use scan::{GridMargin, GridModel, PoolMargin, ScanFigures};
pub use scenario::{scenario_matrix, scenarios, RiskMatrix, Scenario, ScenarioMatrix};
pub use simm::{SensitivityMargin, SensitivityModel, SimmParams};
pub use unified::{
    net_account, unchanged_by_netting, venue_margins_most_favourable,
    venue_margins_most_favourable_at, AccountFigures, CreditLine, LinearLegRates,
    PositionLiquidation, RequirementKind, SavingSplit, ScanLeg, ScanTable, SharedRows,
    UnifiedFigures, UnifiedMargin, UnifiedModel, UnifiedParams, VenueConstraint, VenueKind,
    VenueParams,
};
