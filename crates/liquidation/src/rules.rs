//! Per-venue liquidation rules, read from `params/venues.toml` (each table cites its source).

use std::collections::BTreeMap;

use intermargin_model::Venue;
use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};

/// Who pays bad debt, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaterfallStep {
    /// The venue's insurance fund (dYdX, Drift, Hyperliquid's HLP backstop).
    InsuranceFund,
    /// Auto-deleveraging of the most profitable opposite positions.
    Adl,
    /// Spread over all holders (Drift funding deltas, Aave reserve deficit, Mango lenders).
    Socialised,
}

/// One venue's liquidation rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueRules {
    /// Documentation page the numbers come from.
    pub source: String,
    /// Further pages the table's values come from.
    #[serde(default)]
    pub see_also: Vec<String>,
    /// Date the pages were read.
    #[serde(default)]
    pub as_of: Option<String>,
    /// False when the reference marks the value UNCONFIRMED.
    #[serde(default)]
    pub confirmed: bool,
    /// Penalty as a fraction of the closed notional (Aave: the liquidation bonus).
    pub liquidation_fee: f64,
    /// Fraction of the penalty paid to the insurance fund / treasury; the rest to the liquidator.
    pub insurance_share: f64,
    /// Largest fraction of a position one liquidation step may close (Aave close factor 0.5).
    pub max_close_fraction: f64,
    /// Health factor at or below which a full close is allowed (Aave 0.95).
    #[serde(default)]
    pub full_close_below_health_factor: Option<f64>,
    /// Whether the health-factor threshold is inclusive (Aave v3.3: "below (inclusive)").
    #[serde(default)]
    pub health_factor_threshold_inclusive: bool,
    /// Position notional above which only `partial_first_fraction` is closed first (Hyperliquid).
    #[serde(default)]
    pub partial_threshold_notional: Option<f64>,
    /// Fraction closed first for large positions.
    #[serde(default)]
    pub partial_first_fraction: Option<f64>,
    /// Cooldown after a partial liquidation, ms.
    #[serde(default)]
    pub partial_cooldown_ms: Option<i64>,
    /// Equity / maintenance below which the backstop takes the whole account (Hyperliquid 2/3).
    #[serde(default)]
    pub backstop_equity_fraction_of_maintenance: Option<f64>,
    /// Notional closed per incremental liquidation round, quote currency (Deribit).
    #[serde(default)]
    pub incremental_round_notional: Option<f64>,
    /// Incremental liquidation rounds per second (Deribit).
    #[serde(default)]
    pub incremental_rounds_per_second: Option<f64>,
    /// Largest position notional the insurance fund takes over, as a fraction of its balance;
    /// beyond it the position is auto-deleveraged (Binance: 100 %).
    #[serde(default)]
    pub insurance_fund_max_notional_fraction: Option<f64>,
    /// Largest loss the backstop liquidator vault may take, as a fraction of its capital at the
    /// start; a takeover that would lose more triggers auto-deleveraging instead (Hyperliquid's
    /// liquidator sub-vault of HLP: "ADL will be triggered if the Liquidator loses above a certain
    /// threshold"). `None`: the vault pays until its capital is gone.
    #[serde(default)]
    pub liquidator_max_loss_fraction: Option<f64>,
    /// Bad-debt waterfall, in order; a residual is always socialised.
    pub bankruptcy: Vec<WaterfallStep>,
}

const VENUES_TOML: &str = include_str!("../params/venues.toml");
const FILE: &str = "params/venues.toml";

impl VenueRules {
    /// Checks ranges, naming `path` in the error.
    pub fn validate(&self, path: &str) -> Result<(), LiquidationError> {
        let unit = |name: &str, v: f64| -> Result<(), LiquidationError> {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(param(
                    format!("{path}.{name}"),
                    format!("must be within [0, 1], got {v}"),
                ));
            }
            Ok(())
        };
        if self.source.trim().is_empty() {
            return Err(param(
                format!("{path}.source"),
                "must cite a documentation page",
            ));
        }
        unit("liquidation_fee", self.liquidation_fee)?;
        unit("insurance_share", self.insurance_share)?;
        unit("max_close_fraction", self.max_close_fraction)?;
        if self.max_close_fraction == 0.0 {
            return Err(param(format!("{path}.max_close_fraction"), "must be > 0"));
        }
        if let Some(f) = self.partial_first_fraction {
            unit("partial_first_fraction", f)?;
        }
        if let Some(f) = self.backstop_equity_fraction_of_maintenance {
            unit("backstop_equity_fraction_of_maintenance", f)?;
        }
        if let Some(f) = self.liquidator_max_loss_fraction {
            unit("liquidator_max_loss_fraction", f)?;
        }
        if let Some(f) = self.insurance_fund_max_notional_fraction {
            if !(f.is_finite() && f >= 0.0) {
                return Err(param(
                    format!("{path}.insurance_fund_max_notional_fraction"),
                    format!("must be >= 0, got {f}"),
                ));
            }
        }
        if self.bankruptcy.is_empty() {
            return Err(param(
                format!("{path}.bankruptcy"),
                "must list at least one step",
            ));
        }
        Ok(())
    }

    /// Fraction of a position of `notional` that may be closed now, given the health factor
    /// (equity / maintenance for perps, Aave's HF for lending).
    pub fn close_fraction(&self, notional: f64, health_factor: f64) -> f64 {
        if let Some(th) = self.full_close_below_health_factor {
            let full = if self.health_factor_threshold_inclusive {
                health_factor <= th
            } else {
                health_factor < th
            };
            if full {
                return 1.0;
            }
        }
        if let (Some(th), Some(f)) = (self.partial_threshold_notional, self.partial_first_fraction)
        {
            if notional > th {
                return f.min(self.max_close_fraction);
            }
        }
        self.max_close_fraction
    }

    /// The waterfall with the always-present socialised residual appended when missing.
    pub fn waterfall(&self) -> Vec<WaterfallStep> {
        let mut w = self.bankruptcy.clone();
        if w.last() != Some(&WaterfallStep::Socialised) {
            w.retain(|s| *s != WaterfallStep::Socialised);
            w.push(WaterfallStep::Socialised);
        }
        w
    }
}

/// Every venue's rules, with a default for venues not listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleBook {
    default: VenueRules,
    venues: BTreeMap<String, VenueRules>,
}

impl RuleBook {
    /// The rules shipped in `params/venues.toml`.
    pub fn bundled() -> Result<RuleBook, LiquidationError> {
        Self::from_toml(VENUES_TOML, FILE)
    }

    /// Parses a rules file; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<RuleBook, LiquidationError> {
        let mut tables: BTreeMap<String, VenueRules> = toml::from_str(text)
            .map_err(|e| param(file, format!("cannot parse: {}", e.message())))?;
        let default = tables
            .remove("default")
            .ok_or_else(|| param(format!("{file}: default"), "table missing"))?;
        default.validate(&format!("{file}: default"))?;
        for (k, r) in &tables {
            r.validate(&format!("{file}: {k}"))?;
        }
        Ok(RuleBook {
            default,
            venues: tables,
        })
    }

    /// Rules for a venue (the default table when the venue has none).
    pub fn get(&self, venue: Venue) -> &VenueRules {
        self.by_name(venue.as_str())
    }

    /// Rules by table name, which may be a protocol outside [`Venue`] (`drift`).
    pub fn by_name(&self, name: &str) -> &VenueRules {
        self.venues.get(name).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_rules_parse_and_cite_sources() {
        let b = RuleBook::bundled().unwrap();
        for v in [Venue::Dydx, Venue::Hyperliquid, Venue::Aave, Venue::Deribit] {
            assert!(b.get(v).source.starts_with("https://"));
        }
    }

    #[test]
    fn aave_close_factor_is_half_above_and_full_at_or_below_hf_095() {
        // Reference §7: DEFAULT_LIQUIDATION_CLOSE_FACTOR 0.5, MAX 1.0 when HF ≤ 0.95 (v3.3).
        let b = RuleBook::bundled().unwrap();
        let a = b.get(Venue::Aave);
        assert_eq!(a.close_fraction(10_000.0, 0.97), 0.5);
        assert_eq!(a.close_fraction(10_000.0, 0.95), 1.0);
        assert_eq!(a.close_fraction(10_000.0, 0.90), 1.0);
    }

    #[test]
    fn hyperliquid_closes_twenty_percent_of_positions_above_100k_first() {
        // Reference §6: positions > 100,000 USDC: 20% first.
        let b = RuleBook::bundled().unwrap();
        let h = b.get(Venue::Hyperliquid);
        assert_eq!(h.close_fraction(150_000.0, 0.9), 0.2);
        assert_eq!(h.close_fraction(90_000.0, 0.9), 1.0);
    }

    #[test]
    fn a_waterfall_always_ends_in_socialised_loss() {
        let b = RuleBook::bundled().unwrap();
        assert_eq!(
            b.by_name("drift").waterfall().last(),
            Some(&WaterfallStep::Socialised)
        );
    }

    #[test]
    fn a_bad_rule_names_file_venue_and_key() {
        let text = VENUES_TOML.replace("max_close_fraction = 0.5", "max_close_fraction = 1.5");
        let e = RuleBook::from_toml(&text, FILE).unwrap_err().to_string();
        assert!(
            e.contains("aave") && e.contains("max_close_fraction"),
            "{e}"
        );
        let e = RuleBook::from_toml("[nowhere]\nsource = 'x'", FILE)
            .unwrap_err()
            .to_string();
        assert!(e.contains(FILE), "{e}");
    }
}
