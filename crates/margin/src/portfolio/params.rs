//! Parameter sets of the scenario-grid models, read from `params/*.toml` (each table cites its source).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::MarginError;

/// The Deribit Portfolio Margin parameter file, bundled so that the binary needs no data directory.
pub const DERIBIT_PM_TOML: &str = include_str!("../../params/deribit_pm.toml");
/// The CME SPAN parameter file.
pub const SPAN_TOML: &str = include_str!("../../params/span.toml");
/// The unified cross-venue parameter file.
pub const UNIFIED_TOML: &str = include_str!("../../params/unified.toml");
/// The sensitivity (SIMM-form) parameter file.
pub const SIMM_TOML: &str = include_str!("../../params/simm.toml");

/// Currency a grid reports P&L in: each pool's settlement currency (Deribit S:PM) or the snapshot quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Numeraire {
    /// One pool per settlement currency, figures in that currency.
    Settle,
    /// One pool for the whole account, figures in the snapshot's quote currency.
    Quote,
}

/// Implied-vol move of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolMove {
    /// Vol shocked up.
    Up,
    /// Vol unchanged.
    None,
    /// Vol shocked down.
    Down,
}

/// Order of the standard scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// −range … +range, each price point with every vol move (Deribit's standard vector).
    PriceMajor,
    /// SPAN numbering: 0, +1/3, −1/3, +2/3, −2/3, +3/3, −3/3, each with every vol move.
    Span,
}

/// How the short-option minimum combines with the other components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinimumMode {
    /// Requirement = max(scan + add-ons, short-option minimum) (SPAN).
    Floor,
    /// Requirement = scan + add-ons + short-option minimum (Deribit's former option contingency).
    Add,
}

/// Implied-vol shock form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolMode {
    /// IV × (1 ± range × (ref/days)^power).
    Relative,
    /// IV ± range (SPAN volatility scan range).
    Absolute,
}

/// How the extended scenarios count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cover {
    /// A fixed fraction (`factor`) of the loss (SPAN 35%).
    Fixed,
    /// `factor × price_range / |move|` of the loss (Deribit extended table).
    RangeOverMove,
}

/// Roll/basis component between expiries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollMode {
    /// |position delta| × max(annualised_move_risk × years, min_annualised_move) per position (Deribit roll shock).
    PerPosition,
    /// `spread_rate` × matched long/short delta notional of one underlying (SPAN intra-commodity spread charge).
    CalendarSpread,
}

/// Extended-range scenarios for short deep out-of-the-money options.
#[derive(Debug, Clone, Deserialize)]
pub struct ExtendedParams {
    /// Documentation of the table.
    pub source: String,
    /// Price moves (fractions, or multiples of the range when `moves_in_ranges`).
    pub moves: Vec<f64>,
    /// Whether `moves` are multiples of each underlying's price range.
    pub moves_in_ranges: bool,
    /// Vol move applied with the extended price moves.
    pub vol: VolMove,
    /// How much of the extended loss counts.
    pub cover: Cover,
    /// Fraction (fixed) or multiplier (range over move).
    pub factor: f64,
    /// Delta-one legs move by at most the standard range in extended scenarios.
    pub cap_delta_one: bool,
}

/// Vol-shock form shared by every underlying.
#[derive(Debug, Clone, Deserialize)]
pub struct VolParams {
    /// Relative or absolute.
    pub mode: VolMode,
    /// Days at which the expiry scaling is 1.
    pub reference_days: f64,
    /// Power below `reference_days`.
    pub short_term_power: f64,
    /// Power from `reference_days` on.
    pub long_term_power: f64,
    /// Vol-up never leaves IV below this.
    pub min_vol_for_shock_up: f64,
    /// Vol-down never goes below this.
    pub floor: f64,
}

/// Delta shock: a liquidity charge on very large net delta.
#[derive(Debug, Clone, Deserialize)]
pub struct DeltaShockParams {
    /// Fraction charged on net delta notional above the threshold.
    pub max_delta_shock: f64,
    /// Net delta notional (quote currency) below which nothing is charged.
    pub threshold_notional: f64,
}

/// Roll/basis component.
#[derive(Debug, Clone, Deserialize)]
pub struct RollParams {
    /// Per-position or calendar-spread form.
    pub mode: RollMode,
    /// Rate of the calendar-spread form.
    pub spread_rate: f64,
}

/// Shock sizes of one underlying.
#[derive(Debug, Clone, Deserialize)]
pub struct UnderlyingParams {
    /// Documentation of these values.
    pub source: String,
    /// Largest standard price move (0.16 = ±16%).
    pub price_range: f64,
    /// Vol-up shock size.
    pub vol_up: f64,
    /// Vol-down shock size.
    pub vol_down: f64,
    /// Roll shock per year of time to expiry.
    pub annualised_move_risk: f64,
    /// Roll shock floor.
    pub min_annualised_move: f64,
    /// Short-option minimum per short option, as a fraction of the underlying value.
    pub short_option_minimum: f64,
    /// Fraction of this underlying's gain that may offset another underlying's loss in the same scenario.
    pub pnl_offset: f64,
}

/// A complete scenario-grid parameter set (Deribit PM, SPAN, or the unified grid).
#[derive(Debug, Clone, Deserialize)]
pub struct GridParams {
    /// Model name (`deribit-pm`, `span`, `unified`).
    pub name: String,
    /// Documentation the set follows.
    pub source: String,
    /// Pooling and reporting currency.
    pub numeraire: Numeraire,
    /// IM = initial_multiplier × computed requirement.
    pub initial_multiplier: f64,
    /// MM = maintenance_fraction × IM.
    pub maintenance_fraction: f64,
    /// Time decay between now and the scenario (SPAN: one day).
    pub look_ahead_days: f64,
    /// Standard price points per side (Deribit 4 → 9 points; SPAN 3 → thirds).
    pub steps_per_side: u32,
    /// Vol moves at every price point.
    pub vol_moves: Vec<VolMove>,
    /// Standard scenario order.
    pub order: Order,
    /// Assets that do not move in price scenarios (their risk is basis, not price).
    pub stable_assets: Vec<String>,
    /// Floor or add.
    pub short_option_minimum_mode: MinimumMode,
    /// Extended-range scenarios.
    pub extended: ExtendedParams,
    /// Vol-shock form.
    pub vol: VolParams,
    /// Delta shock.
    pub delta_shock: DeltaShockParams,
    /// Roll/basis between expiries.
    pub roll: RollParams,
    /// Per-underlying shock sizes; `"*"` applies to underlyings not listed.
    pub underlyings: BTreeMap<String, UnderlyingParams>,
}

impl GridParams {
    /// Parses and validates a TOML parameter set; errors name the file and key.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, MarginError> {
        let p: GridParams = toml::from_str(text).map_err(|e| MarginError::Params {
            file: file.to_string(),
            field: "(document)".into(),
            reason: e.to_string(),
        })?;
        p.validate(file)?;
        Ok(p)
    }

    /// The bundled Deribit Portfolio Margin set.
    pub fn deribit_pm() -> Result<Self, MarginError> {
        Self::from_toml(DERIBIT_PM_TOML, "params/deribit_pm.toml")
    }

    /// The bundled CME SPAN set.
    pub fn span() -> Result<Self, MarginError> {
        Self::from_toml(SPAN_TOML, "params/span.toml")
    }

    /// Shock sizes for `underlying`, falling back to `"*"`.
    pub fn underlying(&self, underlying: &str) -> Option<&UnderlyingParams> {
        self.underlyings
            .get(underlying)
            .or_else(|| self.underlyings.get("*"))
    }

    /// True when `asset` does not move in price scenarios.
    pub fn is_stable(&self, asset: &str) -> bool {
        self.stable_assets.iter().any(|s| s == asset)
    }

    pub(crate) fn validate(&self, file: &str) -> Result<(), MarginError> {
        let bad = |field: String, reason: &str| MarginError::Params {
            file: file.to_string(),
            field,
            reason: reason.to_string(),
        };
        let nonneg = |field: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(
                    field.to_string(),
                    "must be a finite non-negative number",
                ))
            }
        };
        if self.steps_per_side == 0 {
            return Err(bad("steps_per_side".into(), "must be at least 1"));
        }
        if self.vol_moves.is_empty() {
            return Err(bad("vol_moves".into(), "must name at least one vol move"));
        }
        nonneg("initial_multiplier", self.initial_multiplier)?;
        nonneg("maintenance_fraction", self.maintenance_fraction)?;
        if self.maintenance_fraction > 1.0 {
            return Err(bad(
                "maintenance_fraction".into(),
                "must not exceed 1 (maintenance <= initial)",
            ));
        }
        nonneg("look_ahead_days", self.look_ahead_days)?;
        nonneg("extended.factor", self.extended.factor)?;
        for (i, m) in self.extended.moves.iter().enumerate() {
            if !m.is_finite() || *m <= -1.0 && !self.extended.moves_in_ranges || *m == 0.0 {
                return Err(bad(
                    format!("extended.moves[{i}]"),
                    "must be finite, non-zero and above -100%",
                ));
            }
        }
        nonneg("vol.reference_days", self.vol.reference_days)?;
        nonneg("vol.floor", self.vol.floor)?;
        nonneg(
            "delta_shock.max_delta_shock",
            self.delta_shock.max_delta_shock,
        )?;
        nonneg("roll.spread_rate", self.roll.spread_rate)?;
        if !self.underlyings.contains_key("*") {
            return Err(bad(
                "underlyings.\"*\"".into(),
                "a fallback table for unlisted underlyings is required",
            ));
        }
        for (u, p) in &self.underlyings {
            let f = |k: &str| format!("underlyings.{u}.{k}");
            if !(p.price_range > 0.0 && p.price_range < 1.0) {
                return Err(bad(f("price_range"), "must be in (0, 1)"));
            }
            for (k, v) in [
                ("vol_up", p.vol_up),
                ("vol_down", p.vol_down),
                ("annualised_move_risk", p.annualised_move_risk),
                ("min_annualised_move", p.min_annualised_move),
                ("short_option_minimum", p.short_option_minimum),
                ("pnl_offset", p.pnl_offset),
            ] {
                nonneg(&f(k), v)?;
            }
            if p.pnl_offset > 1.0 {
                return Err(bad(f("pnl_offset"), "must not exceed 1"));
            }
        }
        Ok(())
    }
}
