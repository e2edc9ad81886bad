//! Explanations: why a requirement is what it is, filled by the loop that computes it.

use serde::{Deserialize, Serialize};

/// One named part of a requirement (`scenario_loss`, `short_option_minimum`, `roll_shock`, `basis`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Amount, in the explanation's currency (credits are negative).
    pub value: f64,
    /// How it was obtained, in one line.
    pub detail: String,
}

/// One position's share of the worst scenario's loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Instrument id (`venue:symbol`) or collateral (`venue:ASSET collateral`).
    pub instrument: String,
    /// Signed size in contracts (or whole units of collateral).
    pub size: f64,
    /// Loss of this position in the worst scenario (negative = gain offsetting others), after offsets.
    pub loss: f64,
}

/// Loss of the whole pool in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioLoss {
    /// Scenario name.
    pub scenario: String,
    /// Pool loss (positive = loss).
    pub loss: f64,
}

/// One risk factor's part of a requirement (an underlying, a stablecoin, basis, funding, concentration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorLoss {
    /// `underlying:BTC`, `stablecoin:USDC`, `basis`, `funding`, `concentration`, `cross_underlying_credit`.
    pub factor: String,
    /// Its loss (credits negative), in the explanation's currency.
    pub loss: f64,
    /// The scenario in which it takes that loss.
    pub scenario: String,
}

/// The explanation of one pool's requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Currency of every figure here.
    pub currency: String,
    /// Name of the scenario with the largest loss.
    pub worst_scenario: String,
    /// Index of that scenario in the model's scenario list.
    pub worst_index: usize,
    /// Each position's loss in the worst scenario; they sum to the scenario loss component.
    pub contributions: Vec<Contribution>,
    /// The components that add up to the requirement, in order.
    pub components: Vec<Component>,
    /// Loss of the pool in every scenario.
    pub scenarios: Vec<ScenarioLoss>,
    /// Initial margin of the pool.
    pub initial_margin: f64,
    /// Maintenance margin of the pool.
    pub maintenance_margin: f64,
    /// Loss by risk factor (unified model; empty for single-venue grids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<FactorLoss>,
}
