//! The unified cross-venue model: what an account must hold, and where, when its venues are independent.
//!
//! Venues are **segregated** (an independent exchange or protocol that liquidates on its own rules) or
//! **credit** (a venue that counts a credit line backed by the pooled collateral: a hub spoke). Each
//! segregated venue's own maintenance margin plus a buffer is a **local floor** held at that venue;
//! netting across venues never lowers it. On top of the floors the hub holds the **pooled requirement**:
//! the whole book's stress loss over the close-out horizon, on net positions:
//!
//! * each underlying is scanned alone over its own grid (price x vol, plus the extended table applied in
//!   full to every leg, coin collateral included); underlyings combine SPAN-style: each at its own worst,
//!   less an inter-commodity credit only where one is published (none by default), and never below the
//!   loss of any single-underlying, opposite-pair or co-moving scenario;
//! * a depeg scenario per stablecoin on net long exposure;
//! * venue-index basis and funding divergence over the horizon, per venue and underlying;
//! * a concentration charge per venue and underlying that grows as size^1.5 against that venue's depth.
//!
//! The siloed baseline is the same scenarios venue by venue with no transfers (local floor + that
//! venue's stress, at least the venue's own initial margin at its most favourable leverage); a venue
//! with nothing open and nothing borrowed requires 0. Every number is explained by venue, by risk
//! factor and by scenario.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, Position, Settlement,
    SizeUnit, Venue,
};
use serde::{Deserialize, Serialize};

use super::explain::{Component, Contribution, Explanation, FactorLoss, ScenarioLoss};
use super::params::{
    Cover, DeltaShockParams, ExtendedParams, GridParams, MinimumMode, Numeraire, Order, RollMode,
    RollParams, UnderlyingParams, VolMove, VolParams, UNIFIED_TOML,
};
use super::scenario::{
    price_row, resolve, risk_matrix, NumeraireCtx, Priced, RiskMatrix, Scenario,
};
use crate::error::MarginError;
use crate::report::VenueMargin;

/// File name errors about the bundled parameters refer to.
pub const UNIFIED_FILE: &str = "crates/margin/params/unified.toml";

/// Funding intervals are quoted per 8 hours by every venue listed.
const FUNDING_INTERVAL_S: f64 = 8.0 * 3600.0;

/// How a venue relates to the pooled collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    /// Independent venue that liquidates on its own rules: its own maintenance margin + buffer is held there.
    Segregated,
    /// Venue that counts a credit line backed by the pooled collateral (a hub spoke, tri-party settlement).
    Credit,
}

/// Close-out horizon parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizonParams {
    /// Documentation of the figures.
    pub source: String,
    /// Default transfer time into a segregated venue, seconds.
    pub transfer_s: f64,
    /// Time to close out once collateral is missing, seconds.
    pub close_out_s: f64,
    /// Horizon the price ranges are calibrated for, seconds.
    pub reference_s: f64,
    /// Lowest multiple of the ranges the horizon scaling may produce.
    pub min_scale: f64,
}

/// The per-underlying scenario grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioParams {
    /// Documentation.
    pub source: String,
    /// Standard price points per side.
    pub steps_per_side: u32,
    /// Vol moves at every price point.
    pub vol_moves: Vec<VolMove>,
    /// Extended price moves (fractions).
    pub extended_moves: Vec<f64>,
    /// Vol move of the extended scenarios.
    pub extended_vol: VolMove,
    /// Extended losses count at `min(1, factor x range / |move|)`.
    pub extended_factor: f64,
}

/// Shock sizes of one underlying.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedUnderlying {
    /// Documentation.
    pub source: String,
    /// Largest standard price move at the reference horizon.
    pub price_range: f64,
    /// Vol-up shock size.
    pub vol_up: f64,
    /// Vol-down shock size.
    pub vol_down: f64,
    /// Daily volatility used by the market-impact (concentration) charge.
    pub daily_vol: f64,
}

/// One published inter-commodity credit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPair {
    /// First underlying.
    pub a: String,
    /// Second underlying.
    pub b: String,
    /// Credit rate in [0, 1].
    pub rate: f64,
}

/// Cross-underlying credit table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossCredit {
    /// Documentation.
    pub source: String,
    /// Rate for pairs not listed.
    pub default: f64,
    /// Listed pairs.
    #[serde(default)]
    pub pairs: Vec<CreditPair>,
}

/// Depeg calibration of one stablecoin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stablecoin {
    /// The episode the figure comes from.
    pub source: String,
    /// Fraction of value lost in the scenario.
    pub depeg: f64,
}

/// Market-impact law parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidityParams {
    /// Documentation.
    pub source: String,
    /// Prefactor of the square-root law.
    pub y: f64,
}

/// A venue's declaration as written in the file (every field checked by [`UnifiedParams::from_toml`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVenue {
    kind: Option<VenueKind>,
    source: Option<String>,
    buffer: Option<f64>,
    basis: Option<f64>,
    funding_per_8h: Option<f64>,
    depth_source: Option<String>,
    depth: Option<BTreeMap<String, f64>>,
}

/// One venue's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueParams {
    /// Segregated or credit.
    pub kind: VenueKind,
    /// Why this kind.
    pub source: String,
    /// Buffer held on top of the venue's own maintenance margin, as a multiple of it (0.1 = +10 %).
    pub buffer: f64,
    /// Divergence of the venue's index from the common underlying over the reference horizon.
    pub basis: f64,
    /// Stressed funding rate of its perpetuals per 8 hours.
    pub funding_per_8h: f64,
    /// Where the depth figures come from.
    pub depth_source: String,
    /// Depth (24h traded notional, quote currency) per underlying; `"*"` for the rest.
    pub depth: BTreeMap<String, f64>,
}

impl VenueParams {
    /// Depth for `underlying`, falling back to `"*"` (present by validation).
    pub fn depth_of(&self, underlying: &str) -> f64 {
        self.depth
            .get(underlying)
            .or_else(|| self.depth.get("*"))
            .copied()
            .unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    name: String,
    source: String,
    as_of: String,
    maintenance_fraction: f64,
    horizon: HorizonParams,
    scenarios: ScenarioParams,
    vol: VolParams,
    underlyings: BTreeMap<String, UnifiedUnderlying>,
    cross_credit: CrossCredit,
    stablecoins: BTreeMap<String, Stablecoin>,
    liquidity: LiquidityParams,
    venues: BTreeMap<Venue, RawVenue>,
}

/// The unified model's parameters (`params/unified.toml`).
#[derive(Debug, Clone)]
pub struct UnifiedParams {
    /// Model name.
    pub name: String,
    /// Documentation of the structure.
    pub source: String,
    /// Date the figures were checked.
    pub as_of: String,
    /// Unified maintenance = Σ own maintenance + this x pooled requirement.
    pub maintenance_fraction: f64,
    /// Close-out horizon.
    pub horizon: HorizonParams,
    /// Scenario grid.
    pub scenarios: ScenarioParams,
    /// Vol-shock form.
    pub vol: VolParams,
    /// Per-underlying shocks; `"*"` for the rest.
    pub underlyings: BTreeMap<String, UnifiedUnderlying>,
    /// Inter-commodity credit.
    pub cross_credit: CrossCredit,
    /// Stablecoins and their depeg calibration.
    pub stablecoins: BTreeMap<String, Stablecoin>,
    /// Market-impact law.
    pub liquidity: LiquidityParams,
    /// Every venue's declaration.
    pub venues: BTreeMap<Venue, VenueParams>,
}

fn bad(file: &str, field: impl Into<String>, reason: impl Into<String>) -> MarginError {
    MarginError::Params {
        file: file.to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}

fn check_range(file: &str, field: &str, v: f64, lo: f64, hi: f64) -> Result<(), MarginError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(bad(file, field, format!("{v} is outside [{lo}, {hi}]")))
    }
}

impl UnifiedParams {
    /// Parses and validates; errors name the file and the key.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, MarginError> {
        let raw: RawParams = toml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            // toml names the key in its message; keep it whole on one line.
            bad(file, "(document)", msg.replace('\n', " "))
        })?;
        check_range(
            file,
            "maintenance_fraction",
            raw.maintenance_fraction,
            0.0,
            1.0,
        )?;
        let h = &raw.horizon;
        check_range(
            file,
            "horizon.transfer_s",
            h.transfer_s,
            0.0,
            30.0 * 86400.0,
        )?;
        check_range(
            file,
            "horizon.close_out_s",
            h.close_out_s,
            0.0,
            30.0 * 86400.0,
        )?;
        check_range(
            file,
            "horizon.reference_s",
            h.reference_s,
            1.0,
            365.0 * 86400.0,
        )?;
        check_range(file, "horizon.min_scale", h.min_scale, 0.01, 10.0)?;
        let s = &raw.scenarios;
        if !(1..=50).contains(&s.steps_per_side) {
            return Err(bad(file, "scenarios.steps_per_side", "must be in 1..=50"));
        }
        if s.vol_moves.is_empty() || s.vol_moves.len() > 3 {
            return Err(bad(
                file,
                "scenarios.vol_moves",
                "must list 1 to 3 vol moves",
            ));
        }
        if s.extended_moves.len() > 32 {
            return Err(bad(file, "scenarios.extended_moves", "at most 32 moves"));
        }
        for (i, m) in s.extended_moves.iter().enumerate() {
            if !m.is_finite() || *m <= -1.0 || *m == 0.0 || *m > 20.0 {
                return Err(bad(
                    file,
                    format!("scenarios.extended_moves[{i}]"),
                    "must be finite, non-zero, above -100% and at most +2000%",
                ));
            }
        }
        check_range(
            file,
            "scenarios.extended_factor",
            s.extended_factor,
            0.0,
            10.0,
        )?;
        if !raw.underlyings.contains_key("*") {
            return Err(bad(
                file,
                "underlyings.\"*\"",
                "a fallback table for unlisted underlyings is required",
            ));
        }
        for (u, p) in &raw.underlyings {
            let f = |k: &str| format!("underlyings.{u}.{k}");
            if !(p.price_range > 0.0 && p.price_range < 1.0) {
                return Err(bad(file, f("price_range"), "must be in (0, 1)"));
            }
            check_range(file, &f("vol_up"), p.vol_up, 0.0, 10.0)?;
            check_range(file, &f("vol_down"), p.vol_down, 0.0, 1.0)?;
            check_range(file, &f("daily_vol"), p.daily_vol, 0.0, 1.0)?;
        }
        check_range(
            file,
            "cross_credit.default",
            raw.cross_credit.default,
            0.0,
            1.0,
        )?;
        for (i, c) in raw.cross_credit.pairs.iter().enumerate() {
            check_range(
                file,
                &format!("cross_credit.pairs[{i}].rate"),
                c.rate,
                0.0,
                1.0,
            )?;
        }
        for (a, c) in &raw.stablecoins {
            check_range(file, &format!("stablecoins.{a}.depeg"), c.depeg, 0.0, 1.0)?;
        }
        check_range(file, "liquidity.y", raw.liquidity.y, 0.0, 100.0)?;
        let mut venues = BTreeMap::new();
        for v in Venue::ALL {
            let Some(r) = raw.venues.get(&v) else {
                return Err(bad(
                    file,
                    format!("venues.{v}.kind"),
                    "venue not declared: every venue needs a kind (segregated | credit) and a source",
                ));
            };
            let f = |k: &str| format!("venues.{v}.{k}");
            let missing = |k: &str| bad(file, f(k), "missing");
            let kind = r.kind.ok_or_else(|| {
                bad(
                    file,
                    f("kind"),
                    "missing: declare segregated or credit, with a source",
                )
            })?;
            let source = r
                .source
                .clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| missing("source"))?;
            let buffer = r.buffer.ok_or_else(|| missing("buffer"))?;
            check_range(file, &f("buffer"), buffer, 0.0, 10.0)?;
            let basis = r.basis.ok_or_else(|| missing("basis"))?;
            check_range(file, &f("basis"), basis, 0.0, 1.0)?;
            let funding = r.funding_per_8h.ok_or_else(|| missing("funding_per_8h"))?;
            check_range(file, &f("funding_per_8h"), funding, 0.0, 1.0)?;
            let depth_source = r
                .depth_source
                .clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| missing("depth_source"))?;
            let depth = r.depth.clone().ok_or_else(|| missing("depth"))?;
            if !depth.contains_key("*") {
                return Err(bad(
                    file,
                    f("depth.\"*\""),
                    "missing: a depth for underlyings not listed is required",
                ));
            }
            for (u, d) in &depth {
                if !(d.is_finite() && *d > 0.0) {
                    return Err(bad(
                        file,
                        f(&format!("depth.{u}")),
                        format!("{d} is not > 0"),
                    ));
                }
            }
            venues.insert(
                v,
                VenueParams {
                    kind,
                    source,
                    buffer,
                    basis,
                    funding_per_8h: funding,
                    depth_source,
                    depth,
                },
            );
        }
        Ok(UnifiedParams {
            name: raw.name,
            source: raw.source,
            as_of: raw.as_of,
            maintenance_fraction: raw.maintenance_fraction,
            horizon: raw.horizon,
            scenarios: raw.scenarios,
            vol: raw.vol,
            underlyings: raw.underlyings,
            cross_credit: raw.cross_credit,
            stablecoins: raw.stablecoins,
            liquidity: raw.liquidity,
            venues,
        })
    }

    /// The bundled parameter set.
    pub fn bundled() -> Result<Self, MarginError> {
        Self::from_toml(UNIFIED_TOML, UNIFIED_FILE)
    }

    /// Shocks of `underlying`, falling back to `"*"`.
    pub fn underlying(&self, underlying: &str) -> &UnifiedUnderlying {
        self.underlyings
            .get(underlying)
            .or_else(|| self.underlyings.get("*"))
            .expect("validated: the \"*\" table exists")
    }

    /// The default close-out horizon (seconds): default transfer time plus close-out time.
    pub fn default_horizon_s(&self) -> f64 {
        self.horizon.transfer_s + self.horizon.close_out_s
    }

    /// Multiple of the ranges at horizon `h` seconds: `max(min_scale, sqrt(h / reference_s))`.
    pub fn range_scale(&self, horizon_s: f64) -> f64 {
        (horizon_s / self.horizon.reference_s)
            .sqrt()
            .max(self.horizon.min_scale)
    }

    /// True when `asset` is a stablecoin of the table (or the report currency).
    pub fn is_stable(&self, asset: &str, quote: &str) -> bool {
        asset == quote || self.stablecoins.contains_key(asset)
    }

    /// Inter-commodity credit rate between two underlyings.
    pub fn credit_rate(&self, a: &str, b: &str) -> f64 {
        self.cross_credit
            .pairs
            .iter()
            .find(|p| (p.a == a && p.b == b) || (p.a == b && p.b == a))
            .map(|p| p.rate)
            .unwrap_or(self.cross_credit.default)
    }

    /// The per-underlying scenario grid at a range multiple, in the form the risk matrix reads.
    pub fn grid(&self, scale: f64, quote: &str) -> GridParams {
        let s = &self.scenarios;
        let mut stable: Vec<String> = self.stablecoins.keys().cloned().collect();
        stable.push(quote.to_string());
        GridParams {
            name: self.name.clone(),
            source: self.source.clone(),
            numeraire: Numeraire::Quote,
            initial_multiplier: 1.0,
            maintenance_fraction: 1.0,
            look_ahead_days: 0.0,
            steps_per_side: s.steps_per_side,
            vol_moves: s.vol_moves.clone(),
            order: Order::PriceMajor,
            stable_assets: stable,
            short_option_minimum_mode: MinimumMode::Add,
            extended: ExtendedParams {
                source: s.source.clone(),
                moves: s.extended_moves.clone(),
                moves_in_ranges: false,
                vol: s.extended_vol,
                cover: Cover::RangeOverMove,
                factor: s.extended_factor,
                cap_delta_one: false,
            },
            vol: self.vol.clone(),
            delta_shock: DeltaShockParams {
                max_delta_shock: 0.0,
                threshold_notional: 0.0,
            },
            roll: RollParams {
                mode: RollMode::PerPosition,
                spread_rate: 0.0,
            },
            underlyings: self
                .underlyings
                .iter()
                .map(|(k, u)| {
                    (
                        k.clone(),
                        UnderlyingParams {
                            source: u.source.clone(),
                            price_range: (u.price_range * scale).min(0.95),
                            vol_up: u.vol_up,
                            vol_down: u.vol_down,
                            annualised_move_risk: 0.0,
                            min_annualised_move: 0.0,
                            short_option_minimum: 0.0,
                            pnl_offset: 0.0,
                        },
                    )
                })
                .collect(),
        }
    }

    /// A venue's declaration, or an error naming the missing key.
    pub fn venue(&self, v: Venue) -> Result<&VenueParams, MarginError> {
        self.venues.get(&v).ok_or_else(|| {
            bad(
                UNIFIED_FILE,
                format!("venues.{v}.kind"),
                "venue not declared",
            )
        })
    }
}

/// A credit line a venue accepts as collateral, backed by the pooled collateral at the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditLine {
    /// Venue that accepts it.
    pub venue: Venue,
    /// Asset it is denominated in.
    pub asset: String,
    /// Base units.
    pub amount: Amount,
}

/// One venue's own requirement next to what the unified model requires there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueConstraint {
    /// Venue.
    pub venue: Venue,
    /// Segregated or credit.
    pub kind: VenueKind,
    /// Honest siloed baseline: what this venue alone needs to survive the same scenarios with no
    /// transfers (own maintenance + buffer + stress), at least its own initial margin at the most
    /// favourable leverage; 0 when nothing is open or borrowed there.
    pub siloed_initial_margin: f64,
    /// The venue's own maintenance margin (its liquidation line), quote currency; 0 where nothing can
    /// be liquidated (no debt, no position the venue charges maintenance for).
    pub siloed_maintenance_margin: f64,
    /// The venue's own initial margin at the most favourable leverage it allows for this size.
    pub own_initial_margin: f64,
    /// Stress loss of this venue's slice alone over the horizon (the siloed buffer).
    pub stress: f64,
    /// The local floor the unified model requires held at this venue (own maintenance + buffer;
    /// 0 at a credit venue).
    pub local_minimum: f64,
    /// The buffer part of the floor.
    pub buffer: f64,
    /// This venue's share of the pooled requirement (negative when its legs hedge the pool).
    pub attributed: f64,
    /// True when the local floor exceeds the attributed share.
    pub binds: bool,
    /// Collateral held at the venue plus credit lines it accepts, quote currency.
    pub held: f64,
    /// Credit lines at the venue, quote currency.
    pub credit: f64,
    /// Part of the local floor not covered by what is held there.
    pub floor_shortfall: f64,
    /// Scenario that sets this venue's stress.
    pub binding_scenario: Option<String>,
    /// Underlying whose move `liquidation_move` refers to.
    pub liquidation_underlying: Option<String>,
    /// Move of that underlying (fraction, signed) at which the venue starts liquidating; `None` when
    /// no move up to -99 % / +500 % reaches its maintenance margin, or nothing can be liquidated.
    pub liquidation_move: Option<f64>,
}

/// Our liquidation price of one position beside the venue's (see
/// [`UnifiedModel::position_liquidations`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionLiquidation {
    /// Instrument id (`venue:symbol`).
    pub instrument: String,
    /// Venue.
    pub venue: Venue,
    /// Underlying whose move is searched.
    pub underlying: String,
    /// The venue pool holding the position (`cross:USDT`, `isolated:…:USDT`).
    pub pool: String,
    /// The price the move applies to: the mark of a future or perpetual, the venue's index of
    /// the underlying for an option (else the underlying's FX rate); `None` when unpriced.
    pub reference_price: Option<f64>,
    /// Signed move (fraction) at which the pool meets the venue's maintenance margin; `None`
    /// when no move up to −99 % / +500 % reaches it or nothing there can be liquidated.
    pub liquidation_move: Option<f64>,
    /// `reference_price × (1 + liquidation_move)`: our liquidation price.
    pub liquidation_price: Option<f64>,
    /// The venue's own liquidation price for the position, when its rules define one.
    pub venue_liquidation_price: Option<f64>,
    /// `venue_liquidation_price / reference_price − 1`: the venue's distance, signed.
    pub venue_liquidation_move: Option<f64>,
}

/// The price a position's liquidation move applies to: the mark of a delta-one contract, the
/// venue's index of the underlying for an option (else the underlying's FX rate).
fn reference_price(ins: &Instrument, market: &Market) -> Option<f64> {
    let index = || {
        market
            .index_prices
            .get(&format!("{}:{}", ins.venue, ins.underlying))
            .or_else(|| market.fx.get(&ins.underlying))
            .copied()
    };
    let price = match ins.kind {
        InstrumentKind::Option { .. } => index(),
        _ => market.mark_prices.get(&ins.id()).copied().or_else(index),
    };
    price.filter(|p| p.is_finite() && *p > 0.0)
}

/// Where the saving comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct SavingSplit {
    /// Stress buffers pooled once at the hub instead of held at every segregated venue.
    pub pooled_buffer: f64,
    /// Requirements of credit venues replaced by their share of the pool (cross-venue netting).
    pub credit_netting: f64,
}

/// The unified verdict on one account, quote currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnifiedMargin {
    /// Σ of each venue's honest siloed baseline.
    pub siloed_total: f64,
    /// Unified initial requirement = Σ local floors + pooled requirement.
    pub initial_margin: f64,
    /// Σ segregated venues' own maintenance + maintenance fraction x pooled requirement.
    pub maintenance_margin: f64,
    /// Pooled requirement held at the hub.
    pub pooled_requirement: f64,
    /// Σ of the local floors.
    pub local_minimum_total: f64,
    /// `siloed_total − initial_margin`.
    pub saving: f64,
    /// The saving by source.
    pub saving_split: SavingSplit,
    /// Close-out horizon the scenarios cover, seconds.
    pub horizon_s: f64,
    /// Multiple of the calibrated ranges at that horizon.
    pub range_scale: f64,
    /// The segregated venue whose liquidation move is smallest.
    pub liquidates_first: Option<Venue>,
    /// The broken-hedge add-on (with a forecast and a hedge across venues), charged when material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_hedge: Option<super::broken_hedge::BrokenHedgeAddOn>,
    /// Per venue.
    pub venues: Vec<VenueConstraint>,
    /// Why.
    pub explain: Explanation,
}

/// The figures of a [`UnifiedMargin`] without its explanation ([`UnifiedModel::margin_figures`]),
/// quote currency.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UnifiedFigures {
    /// Σ of each venue's honest siloed baseline.
    pub siloed_total: f64,
    /// Unified initial requirement.
    pub initial_margin: f64,
    /// Unified maintenance requirement.
    pub maintenance_margin: f64,
    /// Pooled requirement held at the hub.
    pub pooled_requirement: f64,
    /// Σ of the local floors.
    pub local_minimum_total: f64,
    /// `siloed_total − initial_margin`.
    pub saving: f64,
}

/// An account's venue pools (as held) and unified figures ([`UnifiedModel::account_figures`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFigures {
    /// Each venue's own pools on the book as held, in [`crate::venue_margins`] order.
    pub venues: Vec<VenueMargin>,
    /// The unified model's figures.
    pub unified: UnifiedFigures,
}

impl UnifiedFigures {
    /// The figures of a full verdict.
    pub fn of(u: &UnifiedMargin) -> UnifiedFigures {
        UnifiedFigures {
            siloed_total: u.siloed_total,
            initial_margin: u.initial_margin,
            maintenance_margin: u.maintenance_margin,
            pooled_requirement: u.pooled_requirement,
            local_minimum_total: u.local_minimum_total,
            saving: u.saving,
        }
    }
}

/// One risk matrix of many instruments under the unified model's pooled grid at one market, shared
/// by every account margined at that market ([`UnifiedModel::shared_rows`]): each instrument is
/// repriced once per market instead of once per account holding it.
#[derive(Debug, Clone)]
pub struct SharedRows {
    matrix: RiskMatrix,
    index: HashMap<String, usize>,
    instruments: Vec<Instrument>,
    /// [`gross_unit`] of each instrument (its error, when a spot leg has no price of its own).
    gross_unit: Vec<Result<f64, MarginError>>,
    quote: String,
    range_scale: f64,
}

impl SharedRows {
    /// Number of instruments priced.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// True when no instrument is priced.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// True when the matrix holds `inst` (same id and terms).
    pub fn holds(&self, inst: &Instrument) -> bool {
        self.index
            .get(&inst.id())
            .is_some_and(|&r| self.instruments[r] == *inst)
    }
}

/// Which requirement collateral must cover: the room to keep trading or the liquidation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RequirementKind {
    /// Initial margin.
    #[default]
    Initial,
    /// Maintenance margin.
    Maintenance,
}

impl UnifiedMargin {
    /// What each venue and the hub must hold, the input the collateral allocator needs.
    ///
    /// With `local_only` each segregated venue holds its local floor (initial) or its own maintenance
    /// margin (maintenance) and the hub the pooled requirement; otherwise each venue holds its siloed
    /// baseline (or own maintenance) and the hub nothing. Venues appear once, in name order; the hub
    /// is never among them (it is where the pooled figure sits).
    pub fn location_requirements(
        &self,
        kind: RequirementKind,
        local_only: bool,
    ) -> (Vec<(String, f64)>, f64) {
        let mut venues: BTreeMap<String, f64> = BTreeMap::new();
        for v in self.venues.iter().filter(|v| v.venue != Venue::Hub) {
            let figure = match (local_only, kind) {
                (true, RequirementKind::Initial) => v.local_minimum,
                (true, RequirementKind::Maintenance) => {
                    if v.local_minimum > 0.0 {
                        v.siloed_maintenance_margin
                    } else {
                        0.0
                    }
                }
                (false, RequirementKind::Initial) => v.siloed_initial_margin,
                (false, RequirementKind::Maintenance) => v.siloed_maintenance_margin,
            };
            *venues.entry(v.venue.as_str().to_string()).or_default() += figure;
        }
        let pooled = if !local_only {
            0.0
        } else {
            match kind {
                RequirementKind::Initial => self.pooled_requirement,
                RequirementKind::Maintenance => {
                    self.maintenance_margin
                        - self
                            .venues
                            .iter()
                            .filter(|v| v.local_minimum > 0.0)
                            .map(|v| v.siloed_maintenance_margin)
                            .sum::<f64>()
                }
            }
        };
        (venues.into_iter().collect(), pooled.max(0.0))
    }
}

/// Nets identical contracts of one venue account (same instrument, sub-account and margin mode) and
/// identical balances (same venue, asset, sub-account, chain), as a venue itself holds them.
pub fn net_account(account: &Account) -> Result<Account, MarginError> {
    let mut out = Account::new(account.id.clone());
    let mut pos_index: BTreeMap<(String, Option<String>, bool), usize> = BTreeMap::new();
    let mut gross: Vec<f64> = Vec::new();
    for p in &account.positions {
        let key = (p.instrument.id(), p.sub_account.clone(), p.isolated);
        match pos_index.get(&key) {
            Some(&i) => {
                let q: &mut Position = &mut out.positions[i];
                let (s0, s1) = (q.size, p.size);
                let s = s0 + s1;
                q.entry_price = match (q.entry_price, p.entry_price) {
                    (Some(a), Some(b)) if s0.signum() == s1.signum() => Some((a * s0 + b * s1) / s),
                    (a, b) => {
                        if s.signum() == s0.signum() {
                            a
                        } else {
                            b
                        }
                    }
                };
                q.unrealized_pnl = match (q.unrealized_pnl, p.unrealized_pnl) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                q.isolated_margin = match (q.isolated_margin, p.isolated_margin) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                q.size = s;
                gross[i] += s1.abs();
            }
            None => {
                pos_index.insert(key, out.positions.len());
                gross.push(p.size.abs());
                out.positions.push(p.clone());
            }
        }
    }
    let mut keep = gross.iter();
    out.positions.retain(|p| {
        let g = keep.next().copied().unwrap_or(0.0);
        p.size.abs() > 1e-12 * g
    });
    let mut coll_index: BTreeMap<(Venue, String, Option<String>, Option<u64>), usize> =
        BTreeMap::new();
    for (ci, c) in account.collateral.iter().enumerate() {
        let key = (c.venue, c.asset.clone(), c.sub_account.clone(), c.chain_id);
        match coll_index.get(&key) {
            Some(&i) => {
                let field = format!("account.collateral[{ci}].amount");
                out.collateral[i].amount =
                    out.collateral[i].amount.checked_add(c.amount, &field)?;
            }
            None => {
                coll_index.insert(key, out.collateral.len());
                out.collateral.push(c.clone());
            }
        }
    }
    out.collateral.retain(|c: &Collateral| c.amount.0 != 0);
    out.orders = account.orders.clone();
    Ok(out)
}

/// Each venue's own verdict on the netted account at the most favourable leverage the venue allows
/// for that size (the book's leverage setting is ignored). Venue by venue: only a venue whose
/// parameters publish no maximum leverage falls back to the book's setting.
pub fn venue_margins_most_favourable(
    account: &Account,
    assets: &[Asset],
    market: &Market,
) -> Result<Vec<VenueMargin>, MarginError> {
    let netted = net_account(account)?;
    let mut out = Vec::new();
    for v in netted.venues() {
        out.extend(venue_margins_most_favourable_at(
            v, &netted, assets, market,
        )?);
    }
    Ok(out)
}

/// One venue's part of [`venue_margins_most_favourable`], on an account already netted
/// ([`net_account`]): the venue's own rules on its slice of the book (nothing for the hub).
pub fn venue_margins_most_favourable_at(
    v: Venue,
    netted: &Account,
    assets: &[Asset],
    market: &Market,
) -> Result<Vec<VenueMargin>, MarginError> {
    if v == Venue::Hub {
        return Ok(Vec::new());
    }
    let slice = Account {
        reported: Vec::new(),
        orders: netted
            .orders
            .iter()
            .filter(|o| o.instrument.venue == v)
            .cloned()
            .collect(),
        id: netted.id.clone(),
        collateral: netted
            .collateral
            .iter()
            .filter(|c| c.venue == v)
            .cloned()
            .collect(),
        positions: netted
            .positions
            .iter()
            .filter(|p| p.instrument.venue == v)
            .cloned()
            .collect(),
    };
    let mut cleared = slice.clone();
    for p in &mut cleared.positions {
        p.leverage = None;
    }
    match crate::venues::venue_margins(&cleared, assets, market) {
        Ok(m) => Ok(m),
        Err(_) => crate::venues::venue_margins(&slice, assets, market),
    }
}

/// Whether [`net_account`] and clearing the leverage leave venue `v`'s part of `account` as it is:
/// no two of its positions share a contract, sub-account and margin mode, none nets away or sets
/// a leverage, and no two of its balances share an asset, sub-account and chain, none zero. Then
/// [`venue_margins_most_favourable_at`] of the netted book equals the venue's pools as held
/// (its rules read only its own positions, balances and orders, in the same order).
pub fn unchanged_by_netting(v: Venue, account: &Account) -> bool {
    let ps = || account.positions.iter().filter(|p| p.instrument.venue == v);
    for (i, p) in ps().enumerate() {
        // The test `net_account` keeps a position by (its gross is its own size here).
        let kept = p.size.abs() > 1e-12 * p.size.abs();
        if p.leverage.is_some() || !kept {
            return false;
        }
        if ps().take(i).any(|q| {
            q.instrument.symbol == p.instrument.symbol
                && q.sub_account == p.sub_account
                && q.isolated == p.isolated
        }) {
            return false;
        }
    }
    let cs = || account.collateral.iter().filter(|c| c.venue == v);
    for (i, c) in cs().enumerate() {
        if c.amount.0 == 0 {
            return false;
        }
        if cs().take(i).any(|d| {
            d.asset == c.asset && d.sub_account == c.sub_account && d.chain_id == c.chain_id
        }) {
            return false;
        }
    }
    true
}

/// Per-unit-notional coefficients of one linear leg under the unified model ([`UnifiedModel::linear_leg_rates`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearLegRates {
    /// Segregated (a local floor is held at the venue) or credit.
    pub kind: VenueKind,
    /// Initial coefficient: local floor + pooled add-ons, per unit of `|q|·P`.
    pub initial: f64,
    /// Maintenance coefficient: the venue's own maintenance + `maintenance_fraction` x add-ons.
    pub maintenance: f64,
}

/// One leg of the pooled scan, per unit of size ([`UnifiedModel::scan_table`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanLeg {
    /// Instrument id (`venue:symbol`) or `venue:ASSET collateral`.
    pub label: String,
    /// Venue holding it.
    pub venue: Venue,
    /// Underlying it moves with (the asset itself for a balance).
    pub underlying: String,
    /// Venue sub-account, when any.
    pub sub_account: Option<String>,
    /// Isolated-margin position.
    pub isolated: bool,
    /// A position (true) or a collateral balance (false).
    pub position: bool,
    /// The contract, for a position.
    pub instrument: Option<Instrument>,
    /// A perpetual (pays funding).
    pub perpetual: bool,
    /// Net size: contracts, or units of the asset for a balance (negative = debt).
    pub size: f64,
    /// Loss of one unit in each grid scenario, quote currency (a gain is negative).
    pub loss: Vec<f64>,
    /// Delta notional of one unit, quote currency.
    pub delta_notional: f64,
    /// Gross notional of one unit of a position, quote currency (0 for balances).
    pub gross: f64,
    /// Value of one unit of a balance, quote currency (0 for positions).
    pub value: f64,
    /// Stablecoin (other than the quote) whose depeg this leg is exposed to: a stable balance, or
    /// the settlement coin of a linear position (a short is long it for its notional).
    pub stablecoin: Option<String>,
}

/// The pooled scan of one account leg by leg, with the horizon it is computed at.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanTable {
    /// Quote currency of every figure.
    pub currency: String,
    /// Close-out horizon, seconds.
    pub horizon_s: f64,
    /// Multiple of the calibrated ranges at that horizon.
    pub range_scale: f64,
    /// Grid scenario names, one per entry of each leg's `loss`.
    pub scenarios: Vec<String>,
    /// Legs: positions and non-stable balances, then stable balances.
    pub legs: Vec<ScanLeg>,
}

/// The unified cross-venue model at one close-out horizon.
#[derive(Debug, Clone)]
pub struct UnifiedModel {
    /// Parameters.
    pub params: UnifiedParams,
    /// Close-out horizon, seconds.
    pub horizon_s: f64,
    /// The risk lab's auto-deleveraging forecast: with it, a material broken-hedge add-on is
    /// charged ([`super::broken_hedge`]); without it (the default) nothing is.
    pub broken_hedge: Option<super::broken_hedge::BrokenHedgeForecast>,
}

/// A position or non-stable balance in the scan.
struct Leg {
    venue: Venue,
    group: usize,
    row: usize,
    size: f64,
    label: String,
    position: bool,
    perpetual: bool,
    delta_notional: f64,
    gross: f64,
    /// Gross notional of one unit (positions; 0 for balances).
    gross_unit: f64,
    sub_account: Option<String>,
    isolated: bool,
    /// The contract, for a position.
    instrument: Option<Instrument>,
    /// Stablecoin a linear position settles in (other than the quote): its depeg exposure.
    stable_settle: Option<String>,
}

/// A stable balance: no scan row, only depeg exposure.
struct StableBalance {
    venue: Venue,
    asset: String,
    sub_account: Option<String>,
    units: f64,
    price: f64,
}

/// The legs of a netted account over the pooled grid (rows of its own matrix, or of a shared
/// [`SharedRows`] matrix built at the same market).
struct LegBook<'s> {
    matrix: Cow<'s, RiskMatrix>,
    legs: Vec<Leg>,
    groups: Vec<String>,
    exposure: BTreeMap<String, BTreeMap<Venue, f64>>,
    held: BTreeMap<Venue, f64>,
    debt_at: BTreeSet<Venue>,
    stable: Vec<StableBalance>,
}

/// Losses of one (underlying, venue) over the grid, and the combined per-underlying vectors.
struct Scan<'m> {
    /// Names of the grid scenarios.
    names: Vec<&'m str>,
    /// Grid scenarios.
    scenarios: &'m [Scenario],
    /// `(group, venue)` → loss per scenario.
    by_venue: BTreeMap<(usize, Venue), Vec<f64>>,
    /// group → loss per scenario (Σ over venues).
    total: Vec<Vec<f64>>,
}

impl Scan<'_> {
    fn mirror(&self, s: usize) -> Option<usize> {
        let sc = &self.scenarios[s];
        if sc.extended || sc.price <= 0.0 {
            return None;
        }
        self.scenarios
            .iter()
            .position(|t| !t.extended && t.vol == sc.vol && (t.price + sc.price).abs() < 1e-12)
    }
}

/// Worst loss of one vector: (loss ≥ 0, scenario index).
fn worst(v: &[f64], zero: usize) -> (f64, usize) {
    let mut best = (0.0, zero);
    for (i, &l) in v.iter().enumerate() {
        if l > best.0 {
            best = (l, i);
        }
    }
    best
}

/// Signed net delta per group of a set of legs.
fn group_deltas(legs: &[&Leg], groups: usize) -> Vec<f64> {
    let mut d = vec![0.0; groups];
    for l in legs {
        d[l.group] += l.delta_notional;
    }
    d
}

/// SPAN-style combination: Σ each underlying at its own worst, less published inter-commodity credit.
fn independent_worst(
    p: &UnifiedParams,
    groups: &[String],
    worsts: &[(f64, usize)],
    deltas: &[f64],
) -> (f64, f64) {
    let sum: f64 = worsts.iter().map(|w| w.0).sum();
    let mut credit = 0.0;
    for g in 0..groups.len() {
        for h in g + 1..groups.len() {
            let rate = p.credit_rate(&groups[g], &groups[h]);
            if rate > 0.0 && deltas[g] * deltas[h] < 0.0 {
                credit += rate * worsts[g].0.min(worsts[h].0);
            }
        }
    }
    (sum, credit.min(sum))
}

/// Additive per-(venue, underlying) charges.
#[derive(Default, Clone, Copy)]
struct AddOns {
    basis: f64,
    funding: f64,
    concentration: f64,
}

impl UnifiedModel {
    /// A model at the default horizon of `params`.
    pub fn new(params: UnifiedParams) -> Self {
        let horizon_s = params.default_horizon_s();
        UnifiedModel {
            params,
            horizon_s,
            broken_hedge: None,
        }
    }

    /// The same model charging the broken-hedge add-on from `forecast` where it is material.
    pub fn with_broken_hedge(
        mut self,
        forecast: super::broken_hedge::BrokenHedgeForecast,
    ) -> Result<Self, MarginError> {
        forecast.validate()?;
        self.broken_hedge = Some(forecast);
        Ok(self)
    }

    /// The same model at another close-out horizon (seconds), e.g. the slowest route's latency plus
    /// the close-out time.
    pub fn with_horizon_s(mut self, horizon_s: f64) -> Self {
        if horizon_s.is_finite() && horizon_s >= 0.0 {
            self.horizon_s = horizon_s;
        }
        self
    }

    /// Worst loss of one unit of delta-one exposure to `underlying`, as a fraction of its notional, over
    /// this model's scenarios at its horizon (the largest `cover x |move|`): the pooled scan of a
    /// delta-one book is `Σ_u |net notional_u| x this`, with no cross-underlying credit by default.
    pub fn delta_one_stress(&self, underlying: &str) -> f64 {
        let scale = self.params.range_scale(self.horizon_s);
        let grid = self.params.grid(scale, "USD");
        let range = (self.params.underlying(underlying).price_range * scale).min(0.95);
        super::scenario::scenarios(&grid)
            .iter()
            .map(|s| super::scenario::cover(&grid, s, range) * s.price_move(range).abs())
            .fold(0.0, f64::max)
    }

    /// Concentration charge per unit of gross notional of `underlying` on `venue` for any size up to
    /// `cap` (quote currency): `y x daily vol x sqrt(cap / depth)`. Charging gross x this is linear
    /// (so subadditive) and never below the square-root-law charge for sizes within the cap.
    pub fn linear_concentration_rate(
        &self,
        venue: Venue,
        underlying: &str,
        cap: f64,
    ) -> Result<f64, MarginError> {
        let p = &self.params;
        let vp = p.venue(venue)?;
        Ok(p.liquidity.y
            * p.underlying(underlying).daily_vol
            * (cap / vp.depth_of(underlying)).sqrt())
    }

    /// Basis charge per unit of net delta notional on `venue` at this horizon.
    pub fn basis_rate(&self, venue: Venue) -> Result<f64, MarginError> {
        Ok(self.params.venue(venue)?.basis * self.params.range_scale(self.horizon_s))
    }

    /// Coefficients of the requirement of one linear perpetual leg (one per venue and underlying in
    /// its account), per unit of the leg's notional `|q|·P`, for compact books that re-margin at every
    /// price (the risk lab): the same composition as [`UnifiedModel::margin_given`] for a book of linear
    /// perpetuals settled in the quote currency. `own_mm_rate` is the venue's own maintenance fraction,
    /// `entry_gross` the leg's notional at which the concentration charge is linearised.
    ///
    /// Initial: `own_mm_rate x (1 + buffer)` (the local floor, segregated venues only) + the pooled
    /// add-ons (basis x range scale + stressed funding over the horizon + `y x daily vol x
    /// sqrt(entry_gross / depth)`); maintenance: `own_mm_rate` (segregated only) + `maintenance_fraction`
    /// x the add-ons. The pooled scan, `|Σ net notional of an underlying| x`
    /// [`UnifiedModel::delta_one_stress`] per underlying (x `maintenance_fraction` for maintenance), is
    /// added on the net: nothing nets across underlyings and no venue's floor is ever netted away.
    pub fn linear_leg_rates(
        &self,
        venue: Venue,
        underlying: &str,
        own_mm_rate: f64,
        entry_gross: f64,
    ) -> Result<LinearLegRates, MarginError> {
        let p = &self.params;
        let vp = p.venue(venue)?;
        if !(own_mm_rate.is_finite() && own_mm_rate >= 0.0) {
            return Err(MarginError::Unsupported {
                field: "own_mm_rate".into(),
                reason: format!("must be a finite number >= 0, got {own_mm_rate}"),
            });
        }
        if !(entry_gross.is_finite() && entry_gross >= 0.0) {
            return Err(MarginError::Unsupported {
                field: "entry_gross".into(),
                reason: format!("must be a finite number >= 0, got {entry_gross}"),
            });
        }
        let addons = self.basis_rate(venue)?
            + vp.funding_per_8h * (self.horizon_s / FUNDING_INTERVAL_S)
            + p.liquidity.y
                * p.underlying(underlying).daily_vol
                * (entry_gross / vp.depth_of(underlying)).sqrt();
        let (floor_im, floor_mm) = match vp.kind {
            VenueKind::Segregated => (own_mm_rate * (1.0 + vp.buffer), own_mm_rate),
            VenueKind::Credit => (0.0, 0.0),
        };
        Ok(LinearLegRates {
            kind: vp.kind,
            initial: floor_im + addons,
            maintenance: floor_mm + p.maintenance_fraction * addons,
        })
    }

    /// Unified requirement of `account`, with each venue's own rules evaluated here on the netted
    /// book at the most favourable leverage.
    pub fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<UnifiedMargin, MarginError> {
        self.margin_with_credits(account, assets, market, &[])
    }

    /// As [`UnifiedModel::margin`], counting credit lines as collateral at the venues that accept them.
    pub fn margin_with_credits(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        credits: &[CreditLine],
    ) -> Result<UnifiedMargin, MarginError> {
        let venues = venue_margins_most_favourable(account, assets, market)?;
        self.margin_given(account, assets, market, &venues, credits)
    }

    /// The unified requirement given each venue's own verdict (`venue_margins`, in the quote currency
    /// under `in_quote`, computed on the netted book).
    pub fn margin_given(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        venue_margins: &[VenueMargin],
        credits: &[CreditLine],
    ) -> Result<UnifiedMargin, MarginError> {
        self.margin_given_known(
            account,
            assets,
            market,
            venue_margins,
            credits,
            &BTreeMap::new(),
        )
    }

    /// As [`UnifiedModel::margin_given`], taking the liquidation search of each venue in `known`
    /// (venue → its [`VenueConstraint::liquidation_underlying`] and `liquidation_move`) from a
    /// margin computed before instead of searching again. The search reads only the venue's own
    /// slice of the netted book, its own pools and the market, so the caller passes only venues
    /// whose slice (positions, balances, orders) and market are those of that earlier margin: the
    /// what-if reuses the venues a trade does not touch.
    pub fn margin_given_known(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        venue_margins: &[VenueMargin],
        credits: &[CreditLine],
        known: &BTreeMap<Venue, (Option<String>, Option<f64>)>,
    ) -> Result<UnifiedMargin, MarginError> {
        self.margin_inner(
            account,
            None,
            assets,
            market,
            venue_margins,
            credits,
            None,
            true,
            known,
        )
    }

    /// The figures of [`UnifiedModel::margin`] alone, by the same computation without the
    /// explanation, the scenario names or the liquidation-move searches (the live monitor's fast
    /// path): instrument rows come from `shared` when it holds every instrument of the account
    /// (it must have been built by this model at `market`), else from the account's own matrix.
    pub fn margin_figures(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        shared: Option<&SharedRows>,
    ) -> Result<UnifiedFigures, MarginError> {
        let venues = venue_margins_most_favourable(account, assets, market)?;
        let u = self.margin_inner(
            account,
            None,
            assets,
            market,
            &venues,
            &[],
            shared,
            false,
            &BTreeMap::new(),
        )?;
        Ok(UnifiedFigures::of(&u))
    }

    /// Everything the live monitor keeps of an account: each venue's own pools on the book as held
    /// ([`crate::venue_margins`]) and the unified figures ([`UnifiedModel::margin_figures`]).
    pub fn account_figures(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        shared: Option<&SharedRows>,
    ) -> Result<AccountFigures, MarginError> {
        // Each venue as held, remembering where its pools sit.
        let mut held: Vec<VenueMargin> = Vec::new();
        let mut spans: Vec<(Venue, usize, usize)> = Vec::new();
        for v in account.venues() {
            let start = held.len();
            held.extend(crate::venues::venue_margins_at(v, account, assets, market)?);
            spans.push((v, start, held.len()));
        }
        let netted = net_account(account)?;
        // Each venue on the netted book at the most favourable leverage: the pools as held when
        // netting and clearing the leverage leave that venue's part of the book as it is (its rules
        // read only that part), else evaluated again ([`venue_margins_most_favourable`]'s order).
        let mut favourable: Vec<VenueMargin> = Vec::with_capacity(held.len());
        for v in netted.venues() {
            match spans.iter().find(|s| s.0 == v) {
                Some(&(_, a, b)) if unchanged_by_netting(v, account) => {
                    favourable.extend_from_slice(&held[a..b])
                }
                _ => favourable.extend(venue_margins_most_favourable_at(
                    v, &netted, assets, market,
                )?),
            }
        }
        let u = self.margin_inner(
            account,
            Some(&netted),
            assets,
            market,
            &favourable,
            &[],
            shared,
            false,
            &BTreeMap::new(),
        )?;
        Ok(AccountFigures {
            venues: held,
            unified: UnifiedFigures::of(&u),
        })
    }

    /// The risk-matrix rows of `instruments` (deduplicated by id, first definition kept) under this
    /// model's pooled grid at `market`, to share between accounts ([`UnifiedModel::margin_figures`]).
    pub fn shared_rows(
        &self,
        market: &Market,
        instruments: impl IntoIterator<Item = Instrument>,
    ) -> Result<SharedRows, MarginError> {
        let quote = market.quote.as_str();
        let scale = self.params.range_scale(self.horizon_s);
        let grid = self.params.grid(scale, quote);
        let mut index = HashMap::new();
        let mut list = Vec::new();
        for inst in instruments {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(inst.id()) {
                e.insert(list.len());
                list.push(inst);
            }
        }
        let matrix = match risk_matrix(market, &list, &grid, quote) {
            Ok(m) => m,
            Err(e) => {
                // An instrument the market cannot price is left out (its accounts use their own
                // matrix, which reports the error); the others are still shared.
                let before = list.len();
                list.retain(|i| risk_matrix(market, std::slice::from_ref(i), &grid, quote).is_ok());
                if list.len() == before {
                    return Err(e);
                }
                index = list.iter().enumerate().map(|(k, i)| (i.id(), k)).collect();
                risk_matrix(market, &list, &grid, quote)?
            }
        };
        Ok(SharedRows {
            matrix,
            index,
            gross_unit: list.iter().map(|i| gross_unit(i, market)).collect(),
            instruments: list,
            quote: quote.to_string(),
            range_scale: scale,
        })
    }

    /// The instruments of the pooled scan of `account`: its positions' contracts and a spot leg
    /// per non-stable balance (what [`UnifiedModel::shared_rows`] needs to cover the account).
    pub fn scan_instruments(&self, account: &Account, quote: &str) -> Vec<Instrument> {
        let mut out: Vec<Instrument> = account
            .collateral
            .iter()
            .filter(|c| !self.params.is_stable(&c.asset, quote))
            .map(|c| collateral_instrument(c.venue, &c.asset, quote))
            .collect();
        out.extend(account.positions.iter().map(|p| p.instrument.clone()));
        out
    }

    /// [`UnifiedModel::margin_given`] with rows from `shared` when given; `full` adds the
    /// explanation, the scenario names and the liquidation moves (the figures are the same), the
    /// moves of the venues in `known` taken from it ([`UnifiedModel::margin_given_known`]).
    #[allow(clippy::too_many_arguments)]
    fn margin_inner(
        &self,
        account: &Account,
        netted: Option<&Account>,
        assets: &[Asset],
        market: &Market,
        venue_margins: &[VenueMargin],
        credits: &[CreditLine],
        shared: Option<&SharedRows>,
        full: bool,
        known: &BTreeMap<Venue, (Option<String>, Option<f64>)>,
    ) -> Result<UnifiedMargin, MarginError> {
        let p = &self.params;
        let owned;
        let acct: &Account = match netted {
            Some(a) => a,
            None => {
                owned = net_account(account)?;
                &owned
            }
        };
        let quote = market.quote.as_str();
        let scale = p.range_scale(self.horizon_s);
        let grid = || p.grid(scale, quote);
        let mut touched: BTreeSet<Venue> = acct.venues();
        touched.extend(venue_margins.iter().map(|v| v.venue));
        touched.extend(credits.iter().map(|c| c.venue));
        for v in &touched {
            p.venue(*v)?;
        }

        let LegBook {
            matrix: m,
            legs,
            groups,
            exposure,
            held,
            debt_at,
            ..
        } = self.legs_of(acct, assets, market, &grid, shared, full)?;
        let n = m.scenarios.len();
        let mut credit_at: BTreeMap<Venue, f64> = BTreeMap::new();
        for (i, c) in credits.iter().enumerate() {
            let a = find_asset(assets, &c.asset, &format!("credits[{i}].asset"))?;
            let px = market
                .fx_rate(&c.asset)
                .ok_or_else(|| MarginError::MissingMarket {
                    field: format!("market.fx[{:?}]", c.asset),
                    reason: format!("valuing credit line credits[{i}]"),
                })?;
            *credit_at.entry(c.venue).or_default() += c.amount.to_f64(a.decimals) * px;
        }
        let ng = groups.len();
        let mut by_venue: BTreeMap<(usize, Venue), Vec<f64>> = BTreeMap::new();
        let mut total = vec![vec![0.0; n]; ng];
        for l in &legs {
            let row = m.row(l.row);
            let v = by_venue
                .entry((l.group, l.venue))
                .or_insert_with(|| vec![0.0; n]);
            for s in 0..n {
                let x = l.size * row[s];
                v[s] += x;
                total[l.group][s] += x;
            }
        }
        let zero = m
            .scenarios
            .iter()
            .position(|s| !s.extended && s.price == 0.0 && s.vol == VolMove::None)
            .unwrap_or(0);
        let scan = Scan {
            names: m.scenarios.iter().map(|s| s.name.as_str()).collect(),
            scenarios: &m.scenarios,
            by_venue,
            total,
        };

        // Pool: worst per underlying, enumerated scenarios, SPAN combination.
        let worsts: Vec<(f64, usize)> = scan.total.iter().map(|v| worst(v, zero)).collect();
        let all_legs: Vec<&Leg> = legs.iter().collect();
        let deltas = group_deltas(&all_legs, ng);
        let (sum_w, credit) = independent_worst(p, &groups, &worsts, &deltas);
        let mut listed: Vec<ScenarioLoss> = Vec::new();
        // (loss, name, assignment: scenario per group or None for unmoved)
        let mut best: (f64, String, Vec<Option<usize>>) = (0.0, "no loss".into(), vec![None; ng]);
        // Names are built only for the explanation (`full`): the figures never read them.
        // The assignment is built only for a new best (most candidates lose).
        type Assign<'a> = &'a dyn Fn() -> Vec<Option<usize>>;
        let mut consider = |loss: f64, name: String, assign: Assign<'_>, list: bool| {
            if list && full {
                listed.push(ScenarioLoss {
                    scenario: name.clone(),
                    loss,
                });
            }
            if loss > best.0 + 1e-9 * best.0.abs().max(1.0) {
                best = (loss, name, assign());
            }
        };
        for g in 0..ng {
            for s in 0..n {
                consider(
                    scan.total[g][s],
                    if full {
                        format!("{} alone: {}", groups[g], scan.names[s])
                    } else {
                        String::new()
                    },
                    &|| {
                        let mut a = vec![None; ng];
                        a[g] = Some(s);
                        a
                    },
                    true,
                );
            }
        }
        if ng > 1 {
            for s in 0..n {
                let loss: f64 = (0..ng).map(|g| scan.total[g][s]).sum();
                consider(
                    loss,
                    if full {
                        format!("all underlyings together: {}", scan.names[s])
                    } else {
                        String::new()
                    },
                    &|| vec![Some(s); ng],
                    true,
                );
            }
            for g in 0..ng {
                for h in 0..ng {
                    if g == h {
                        continue;
                    }
                    // The worst opposite pair for (g up, h down), listed once.
                    let mut pair_best: Option<(f64, usize, usize)> = None;
                    for s in 0..n {
                        if let Some(t) = scan.mirror(s) {
                            let loss = scan.total[g][s] + scan.total[h][t];
                            if pair_best.is_none_or(|b| loss > b.0) {
                                pair_best = Some((loss, s, t));
                            }
                        }
                    }
                    if let Some((loss, s, t)) = pair_best {
                        consider(
                            loss,
                            if full {
                                format!(
                                    "{} up, {} down: {} / {}",
                                    groups[g], groups[h], scan.names[s], scan.names[t]
                                )
                            } else {
                                String::new()
                            },
                            &|| {
                                let mut a = vec![None; ng];
                                a[g] = Some(s);
                                a[h] = Some(t);
                                a
                            },
                            true,
                        );
                    }
                }
            }
        }
        let indep = sum_w - credit;
        let indep_assign: Vec<Option<usize>> =
            worsts.iter().map(|w| (w.0 > 0.0).then_some(w.1)).collect();
        let indep_name = if !full {
            String::new()
        } else if ng > 1 {
            format!(
                "each underlying at its own worst ({}; cross-underlying credit {:.2})",
                groups
                    .iter()
                    .zip(&worsts)
                    .map(|(g, w)| format!("{g}: {}", scan.names[w.1]))
                    .collect::<Vec<_>>()
                    .join("; "),
                credit
            )
        } else {
            "each underlying at its own worst".to_string()
        };
        consider(indep, indep_name, &|| indep_assign.clone(), ng > 1);
        let (scan_loss, binding_name, assign) = best;
        let scan_loss = scan_loss.max(0.0);

        // Attribution of the scan loss to venues and legs, at the binding assignment.
        let raw_venue = |v: Venue| -> f64 {
            (0..ng)
                .filter_map(|g| {
                    let s = assign[g]?;
                    scan.by_venue.get(&(g, v)).map(|x| x[s])
                })
                .sum()
        };
        let raw_total: f64 = (0..ng)
            .filter_map(|g| assign[g].map(|s| scan.total[g][s]))
            .sum();
        let factor = if raw_total.abs() > 1e-12 {
            scan_loss / raw_total
        } else {
            0.0
        };
        let contributions: Vec<Contribution> = legs
            .iter()
            .filter(|_| full)
            .map(|l| Contribution {
                instrument: l.label.clone(),
                size: l.size,
                loss: assign[l.group]
                    .map(|s| factor * l.size * m.row(l.row)[s])
                    .unwrap_or(0.0),
            })
            .collect();

        // Add-ons per (venue, underlying).
        let mut addons: BTreeMap<Venue, AddOns> = BTreeMap::new();
        for v in &touched {
            let vp = p.venue(*v)?;
            let mut a = AddOns::default();
            for (g, gname) in groups.iter().enumerate() {
                let vl = || {
                    legs.iter()
                        .filter(|l| l.venue == *v && l.group == g && l.position)
                };
                if vl().next().is_none() {
                    continue;
                }
                let net: f64 = vl().map(|l| l.delta_notional).sum();
                let perp: f64 = vl().filter(|l| l.perpetual).map(|l| l.delta_notional).sum();
                let gross: f64 = vl().map(|l| l.gross).sum();
                a.basis += vp.basis * scale * net.abs();
                a.funding += vp.funding_per_8h * (self.horizon_s / FUNDING_INTERVAL_S) * perp.abs();
                let depth = vp.depth_of(gname);
                a.concentration +=
                    p.liquidity.y * p.underlying(gname).daily_vol * gross * (gross / depth).sqrt();
            }
            addons.insert(*v, a);
        }
        let basis: f64 = addons.values().map(|a| a.basis).sum();
        let funding: f64 = addons.values().map(|a| a.funding).sum();
        let concentration: f64 = addons.values().map(|a| a.concentration).sum();

        // Depeg per stablecoin on net long exposure.
        let mut depeg_total = 0.0;
        let mut depeg_share: BTreeMap<Venue, f64> = BTreeMap::new();
        let mut factors: Vec<FactorLoss> = Vec::new();
        for (g, w) in groups.iter().zip(&worsts).filter(|_| full) {
            factors.push(FactorLoss {
                factor: format!("underlying:{g}"),
                loss: w.0,
                scenario: format!("{g} alone: {}", scan.names[w.1]),
            });
        }
        for (asset, per) in &exposure {
            let rate = p.stablecoins.get(asset).map(|s| s.depeg).unwrap_or(0.0);
            let e: f64 = per.values().sum();
            let loss = rate * e.max(0.0);
            if full {
                let name = format!("{asset} depeg -{:.0}%", rate * 100.0);
                listed.push(ScenarioLoss {
                    scenario: name.clone(),
                    loss,
                });
                factors.push(FactorLoss {
                    factor: format!("stablecoin:{asset}"),
                    loss,
                    scenario: name,
                });
            }
            if e > 0.0 {
                depeg_total += loss;
                for (v, x) in per {
                    *depeg_share.entry(*v).or_default() += rate * x;
                }
            }
        }
        if full {
            listed.push(ScenarioLoss {
                scenario: format!(
                    "venue-index basis and funding divergence over {:.0} s",
                    self.horizon_s
                ),
                loss: basis + funding,
            });
            factors.push(FactorLoss {
                factor: "basis".into(),
                loss: basis,
                scenario: "every venue index diverges adversely".into(),
            });
            factors.push(FactorLoss {
                factor: "funding".into(),
                loss: funding,
                scenario: format!("stressed funding for {:.0} s", self.horizon_s),
            });
            factors.push(FactorLoss {
                factor: "concentration".into(),
                loss: concentration,
                scenario: "closing each venue's gross size against its depth".into(),
            });
        }
        if full && credit > 0.0 {
            factors.push(FactorLoss {
                factor: "cross_underlying_credit".into(),
                loss: -credit,
                scenario: "published inter-commodity credit".into(),
            });
        }
        let pooled = scan_loss + depeg_total + basis + funding + concentration;

        // Venue rows.
        let mut own: BTreeMap<Venue, (f64, f64, f64)> = BTreeMap::new();
        for vm in venue_margins {
            // A pool without a rate into the quote currency is an error, never a zero.
            let q = vm.quote()?;
            let e = own.entry(vm.venue).or_default();
            e.0 += q.initial_margin;
            e.1 += q.maintenance_margin;
            e.2 += q.equity;
        }
        let mut rows: Vec<VenueConstraint> = Vec::new();
        for v in &touched {
            let vp = p.venue(*v)?;
            let (own_im, own_mm, equity) = own.get(v).copied().unwrap_or_default();
            // Something the venue can liquidate: a debt, or positions it charges maintenance for (a
            // credit venue's positions always count: they draw on the pool). Long options alone, or a
            // deposit with no debt, can never be liquidated: the venue requires nothing there.
            let has_positions = legs.iter().any(|l| l.venue == *v && l.position);
            let active = debt_at.contains(v)
                || (has_positions && (own_mm > 0.0 || vp.kind == VenueKind::Credit));
            let own_mm = if active { own_mm } else { 0.0 };
            // Nothing open and nothing borrowed: nothing to liquidate, nothing to hold.
            let floor_siloed = if active {
                own_mm * (1.0 + vp.buffer)
            } else {
                0.0
            };
            let local = if vp.kind == VenueKind::Segregated {
                floor_siloed
            } else {
                0.0
            };
            // The venue alone: same scenarios, same horizon, no transfers.
            let vlegs: Vec<&Leg> = legs.iter().filter(|l| l.venue == *v).collect();
            let vworsts: Vec<(f64, usize)> = (0..ng)
                .map(|g| {
                    scan.by_venue
                        .get(&(g, *v))
                        .map(|x| worst(x, zero))
                        .unwrap_or((0.0, zero))
                })
                .collect();
            let vdeltas = group_deltas(&vlegs, ng);
            let (vsum, vcredit) = independent_worst(p, &groups, &vworsts, &vdeltas);
            let vdepeg: f64 = exposure
                .iter()
                .map(|(asset, per)| {
                    p.stablecoins.get(asset).map(|s| s.depeg).unwrap_or(0.0)
                        * per.get(v).copied().unwrap_or(0.0).max(0.0)
                })
                .sum();
            let a = addons.get(v).copied().unwrap_or_default();
            let stress = if active {
                vsum - vcredit + vdepeg + a.basis + a.funding + a.concentration
            } else {
                0.0
            };
            let siloed = if active {
                own_im.max(floor_siloed + stress)
            } else {
                0.0
            };
            let binding = vworsts
                .iter()
                .enumerate()
                .filter(|(_, w)| full && w.0 > 0.0)
                .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
                .map(|(g, w)| format!("{} alone: {}", groups[g], scan.names[w.1]));
            let attributed = factor * raw_venue(*v)
                + depeg_share.get(v).copied().unwrap_or(0.0)
                + a.basis
                + a.funding
                + a.concentration;
            let credit_v = credit_at.get(v).copied().unwrap_or(0.0);
            let held_v = held.get(v).copied().unwrap_or(0.0) + credit_v;
            let (liq_u, liq) = if full && vp.kind == VenueKind::Segregated && active {
                match known.get(v) {
                    Some(k) => k.clone(),
                    None => self.liquidation_move(
                        acct, assets, market, *v, &legs, &groups, equity, own_mm,
                    )?,
                }
            } else {
                (None, None)
            };
            rows.push(VenueConstraint {
                venue: *v,
                kind: vp.kind,
                siloed_initial_margin: siloed,
                siloed_maintenance_margin: own_mm,
                own_initial_margin: own_im,
                stress,
                local_minimum: local,
                buffer: if local > 0.0 { local - own_mm } else { 0.0 },
                attributed,
                binds: local > attributed,
                held: held_v,
                credit: credit_v,
                floor_shortfall: (local - held_v).max(0.0),
                binding_scenario: if active { binding } else { None },
                liquidation_underlying: liq_u,
                liquidation_move: liq,
            });
        }
        let local_total: f64 = rows.iter().map(|r| r.local_minimum).sum();
        // Venues' own maintenance where a floor is held (segregated, something open or borrowed).
        let own_mm_seg: f64 = rows
            .iter()
            .filter(|r| r.local_minimum > 0.0)
            .map(|r| r.siloed_maintenance_margin)
            .sum();
        let mut im = local_total + pooled;
        let mut mm = own_mm_seg + p.maintenance_fraction * pooled;
        // Broken hedges: with a forecast, a material add-on is charged like the pooled figure.
        let broken_hedge = self.broken_hedge.as_ref().and_then(|f| {
            let book: Vec<(Venue, String, f64, bool)> = legs
                .iter()
                .map(|l| {
                    (
                        l.venue,
                        groups[l.group].clone(),
                        l.delta_notional,
                        l.position,
                    )
                })
                .collect();
            let a =
                super::broken_hedge::broken_hedge_addon(&book, |u| self.delta_one_stress(u), f, im);
            (a.value > 0.0).then_some(a)
        });
        if let Some(a) = broken_hedge.as_ref().filter(|a| a.material) {
            im += a.value;
            mm += p.maintenance_fraction * a.value;
        }
        let siloed_total: f64 = rows.iter().map(|r| r.siloed_initial_margin).sum();
        let mut split = SavingSplit::default();
        for r in &rows {
            match r.kind {
                VenueKind::Segregated => {
                    split.pooled_buffer += r.siloed_initial_margin - r.local_minimum - r.attributed
                }
                VenueKind::Credit => split.credit_netting += r.siloed_initial_margin - r.attributed,
            }
        }
        let liquidates_first = rows
            .iter()
            .filter_map(|r| r.liquidation_move.map(|m| (r.venue, m.abs())))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(v, _)| v);
        let mut components = if !full {
            Vec::new()
        } else {
            vec![
            Component {
                name: "local_minimum_topup".into(),
                value: local_total,
                detail: "Σ local floors held at segregated venues: each venue's own maintenance margin + buffer".into(),
            },
            Component {
                name: "scenario_loss".into(),
                value: scan_loss,
                detail: format!(
                    "pooled scan over {:.0} s (ranges x {scale:.2}): {binding_name}",
                    self.horizon_s
                ),
            },
            Component {
                name: "depeg".into(),
                value: depeg_total,
                detail: "per stablecoin: depeg x net long exposure (balances + linear contracts settled in it)".into(),
            },
            Component {
                name: "basis_venue_index".into(),
                value: basis,
                detail: "per (venue, underlying): basis rate x range scale x |net delta notional|".into(),
            },
            Component {
                name: "funding".into(),
                value: funding,
                detail: "per (venue, underlying): stressed funding per 8h x horizon / 8h x |net perpetual notional|".into(),
            },
            Component {
                name: "concentration".into(),
                value: concentration,
                detail: "per (venue, underlying): y x daily vol x gross x sqrt(gross / depth)".into(),
            },
        ]
        };
        if let Some(a) = broken_hedge.as_ref().filter(|a| full && a.material) {
            components.push(Component {
                name: "broken_hedge_adl".into(),
                value: a.value,
                detail: format!(
                    "per underlying: forecast share of the winning leg auto-deleveraged x hedged notional x stress move (charged: ≥ {:.0} % of the initial margin, {})",
                    self.broken_hedge.as_ref().map(|f| f.materiality * 100.0).unwrap_or(0.0),
                    self.broken_hedge.as_ref().map(|f| f.source.as_str()).unwrap_or("")
                ),
            });
        }
        let worst_index = listed
            .iter()
            .position(|s| s.scenario == binding_name)
            .unwrap_or(0);
        let explain = Explanation {
            currency: quote.to_string(),
            worst_scenario: binding_name,
            worst_index,
            contributions,
            components,
            scenarios: listed,
            initial_margin: im,
            maintenance_margin: mm,
            factors,
        };
        Ok(UnifiedMargin {
            siloed_total,
            initial_margin: im,
            maintenance_margin: mm,
            pooled_requirement: pooled,
            local_minimum_total: local_total,
            saving: siloed_total - im,
            saving_split: split,
            horizon_s: self.horizon_s,
            range_scale: scale,
            liquidates_first,
            broken_hedge,
            venues: rows,
            explain,
        })
    }

    /// Legs of the pooled scan of a netted account: positions and non-stable balances priced over
    /// `grid`, stable balances apart (they carry only depeg exposure). Shared by
    /// [`UnifiedModel::margin_given`] and [`UnifiedModel::scan_table`].
    fn legs_of<'s>(
        &self,
        acct: &Account,
        assets: &[Asset],
        market: &Market,
        grid: &dyn Fn() -> GridParams,
        shared: Option<&'s SharedRows>,
        full: bool,
    ) -> Result<LegBook<'s>, MarginError> {
        /// One leg before its row is known: the contract (borrowed for a position), its size,
        /// label (`full` only), whether it is a position, sub-account, margin mode, and the index
        /// of its contract among the account's distinct contracts.
        struct Pending<'a> {
            inst: Cow<'a, Instrument>,
            size: f64,
            label: String,
            position: bool,
            sub_account: Option<String>,
            isolated: bool,
            local: usize,
        }
        let p = &self.params;
        let quote = market.quote.as_str();
        // Legs: positions and non-stable balances; stable balances only carry depeg exposure.
        let mut groups: Vec<String> = Vec::new();
        let mut pending: Vec<Pending<'_>> =
            Vec::with_capacity(acct.positions.len() + acct.collateral.len());
        let mut stable: Vec<StableBalance> = Vec::new();
        let mut exposure: BTreeMap<String, BTreeMap<Venue, f64>> = BTreeMap::new();
        let mut held: BTreeMap<Venue, f64> = BTreeMap::new();
        let mut debt_at: BTreeSet<Venue> = BTreeSet::new();
        for (ci, c) in acct.collateral.iter().enumerate() {
            let a = match assets.iter().find(|a| a.symbol == c.asset) {
                Some(a) => a,
                None => find_asset(assets, &c.asset, &format!("account.collateral[{ci}].asset"))?,
            };
            let units = c.amount.to_f64(a.decimals);
            let px = market
                .fx_rate(&c.asset)
                .ok_or_else(|| MarginError::MissingMarket {
                    field: format!("market.fx[{:?}]", c.asset),
                    reason: format!("valuing collateral account.collateral[{ci}]"),
                })?;
            *held.entry(c.venue).or_default() += units * px;
            if c.amount.0 < 0 {
                debt_at.insert(c.venue);
            }
            if p.is_stable(&c.asset, quote) {
                stable.push(StableBalance {
                    venue: c.venue,
                    asset: c.asset.clone(),
                    sub_account: c.sub_account.clone(),
                    units,
                    price: px,
                });
                if c.asset != quote {
                    *exposure
                        .entry(c.asset.clone())
                        .or_default()
                        .entry(c.venue)
                        .or_default() += units * px;
                }
                continue;
            }
            pending.push(Pending {
                inst: Cow::Owned(collateral_instrument(c.venue, &c.asset, quote)),
                size: units,
                label: if full {
                    format!("{}:{} collateral", c.venue, c.asset)
                } else {
                    String::new()
                },
                position: false,
                sub_account: c.sub_account.clone(),
                isolated: false,
                local: 0,
            });
        }
        for pos in &acct.positions {
            pending.push(Pending {
                inst: Cow::Borrowed(&pos.instrument),
                size: pos.size,
                label: if full {
                    pos.instrument.id()
                } else {
                    String::new()
                },
                position: true,
                sub_account: pos.sub_account.clone(),
                isolated: pos.isolated,
                local: 0,
            });
        }
        // The distinct contracts, by id (`venue:symbol`: the same venue and symbol), first
        // definition kept; each leg points at its contract.
        let mut distinct: Vec<usize> = Vec::with_capacity(pending.len());
        for k in 0..pending.len() {
            let inst = &pending[k].inst;
            let found = distinct.iter().position(|&j| {
                let o = &pending[j].inst;
                o.venue == inst.venue && o.symbol == inst.symbol
            });
            pending[k].local = match found {
                Some(l) => l,
                None => {
                    distinct.push(k);
                    distinct.len() - 1
                }
            };
        }
        // Rows of the shared matrix when it holds every instrument as defined here (same terms),
        // else the account's own matrix: the same repricing of the same instrument either way.
        let rows: Option<Vec<usize>> = shared
            .filter(|s| s.quote == quote && s.range_scale == p.range_scale(self.horizon_s))
            .and_then(|s| {
                let mut id = String::new();
                distinct
                    .iter()
                    .map(|&j| {
                        let inst: &Instrument = &pending[j].inst;
                        id.clear();
                        id.push_str(inst.venue.as_str());
                        id.push(':');
                        id.push_str(&inst.symbol);
                        let &r = s.index.get(id.as_str())?;
                        (s.instruments[r] == *inst).then_some(r)
                    })
                    .collect()
            });
        let m = match (shared, &rows) {
            (Some(s), Some(_)) => Cow::Borrowed(&s.matrix),
            _ => {
                let instruments: Vec<Instrument> = distinct
                    .iter()
                    .map(|&j| pending[j].inst.as_ref().clone())
                    .collect();
                Cow::Owned(risk_matrix(market, &instruments, &grid(), quote)?)
            }
        };
        let mut legs: Vec<Leg> = Vec::with_capacity(pending.len());
        for Pending {
            inst,
            size,
            label,
            position,
            sub_account,
            isolated,
            local,
        } in pending
        {
            let inst: &Instrument = &inst;
            let row = rows.as_ref().map_or(local, |r| r[local]);
            let group = match groups.iter().position(|g| *g == inst.underlying) {
                Some(g) => g,
                None => {
                    groups.push(inst.underlying.clone());
                    groups.len() - 1
                }
            };
            let u = &m.unit[row];
            let delta_notional = size * u.delta_notional;
            let gross_unit = if !position {
                0.0
            } else {
                match (shared, &rows) {
                    (Some(s), Some(_)) if s.instruments[row] == *inst => {
                        s.gross_unit[row].clone()?
                    }
                    _ => gross_unit(inst, market)?,
                }
            };
            let gross = size.abs() * gross_unit;
            let settles_stable = position
                && p.is_stable(&inst.settle, quote)
                && inst.settle != quote
                && inst.settlement == Settlement::Linear;
            if settles_stable {
                // A short BTCUSDT is long USDT for its notional.
                *exposure
                    .entry(inst.settle.clone())
                    .or_default()
                    .entry(inst.venue)
                    .or_default() -= delta_notional;
            }
            legs.push(Leg {
                venue: inst.venue,
                group,
                row,
                size,
                label,
                position,
                perpetual: matches!(inst.kind, InstrumentKind::Perpetual),
                delta_notional,
                gross,
                gross_unit,
                sub_account,
                isolated,
                instrument: (full && position).then(|| inst.clone()),
                stable_settle: (full && settles_stable).then(|| inst.settle.clone()),
            });
        }
        Ok(LegBook {
            matrix: m,
            legs,
            groups,
            exposure,
            held,
            debt_at,
            stable,
        })
    }

    /// The pooled scan of `account` leg by leg, per unit of size, for statements that re-check the
    /// requirement outside this crate (the ZK margin proof): the same netted legs, risk matrix, grid
    /// and unit figures [`UnifiedModel::margin_given`] uses, with the stable balances as legs whose
    /// scenario losses are 0 (they carry only depeg exposure).
    pub fn scan_table(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<ScanTable, MarginError> {
        let p = &self.params;
        let acct = net_account(account)?;
        let quote = market.quote.as_str();
        let scale = p.range_scale(self.horizon_s);
        let grid = p.grid(scale, quote);
        for v in acct.venues() {
            p.venue(v)?;
        }
        let book = self.legs_of(&acct, assets, market, &|| grid.clone(), None, true)?;
        let n = book.matrix.scenarios.len();
        let mut legs: Vec<ScanLeg> = Vec::with_capacity(book.legs.len() + book.stable.len());
        for l in &book.legs {
            let u = &book.matrix.unit[l.row];
            let unit_value = if l.position {
                0.0
            } else {
                // A balance is a spot leg of one unit: its value is its delta notional.
                u.delta_notional
            };
            legs.push(ScanLeg {
                label: l.label.clone(),
                venue: l.venue,
                underlying: book.groups[l.group].clone(),
                sub_account: l.sub_account.clone(),
                isolated: l.isolated,
                position: l.position,
                instrument: l.instrument.clone(),
                perpetual: l.perpetual,
                size: l.size,
                loss: book.matrix.row(l.row)[..n].to_vec(),
                delta_notional: u.delta_notional,
                gross: l.gross_unit,
                value: unit_value,
                stablecoin: l.stable_settle.clone(),
            });
        }
        for b in &book.stable {
            legs.push(ScanLeg {
                label: format!("{}:{} collateral", b.venue, b.asset),
                venue: b.venue,
                underlying: b.asset.clone(),
                sub_account: b.sub_account.clone(),
                isolated: false,
                position: false,
                instrument: None,
                perpetual: false,
                size: b.units,
                loss: vec![0.0; n],
                delta_notional: 0.0,
                gross: 0.0,
                value: b.price,
                stablecoin: (b.asset != quote).then(|| b.asset.clone()),
            });
        }
        Ok(ScanTable {
            currency: quote.to_string(),
            horizon_s: self.horizon_s,
            range_scale: scale,
            scenarios: book
                .matrix
                .scenarios
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            legs,
        })
    }

    /// Stressed funding charge per unit of net perpetual notional on `venue` over this horizon.
    pub fn funding_rate(&self, venue: Venue) -> Result<f64, MarginError> {
        Ok(self.params.venue(venue)?.funding_per_8h * (self.horizon_s / FUNDING_INTERVAL_S))
    }

    /// Depeg loss rate of `asset` (0 for an asset outside the stablecoin table).
    pub fn depeg_rate(&self, asset: &str) -> f64 {
        self.params
            .stablecoins
            .get(asset)
            .map(|s| s.depeg)
            .unwrap_or(0.0)
    }

    /// Our liquidation price of each position: the move of the position's underlying at which
    /// the pool of its venue that holds it meets that venue's own maintenance margin, by the
    /// same search as [`VenueConstraint::liquidation_move`] (the venue's rules re-evaluated
    /// along the move), and the price it means (the position's reference price × (1 + move)).
    ///
    /// `venues` are the account's [`crate::venue_margins`] and `unified` its
    /// [`UnifiedModel::margin`] on the same market. Positions at a credit venue (margined by the
    /// pool), or at a venue that charges no maintenance for them, have none.
    pub fn position_liquidations(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        venues: &[VenueMargin],
        unified: &UnifiedMargin,
    ) -> Result<Vec<PositionLiquidation>, MarginError> {
        // One search per (venue, pool, underlying): positions sharing them share the answer.
        let mut done: BTreeMap<(Venue, String, String), Option<f64>> = BTreeMap::new();
        let mut out = Vec::with_capacity(account.positions.len());
        for p in &account.positions {
            let v = p.instrument.venue;
            let id = p.instrument.id();
            let u = p.instrument.underlying.clone();
            let venue_price = venues
                .iter()
                .flat_map(|x| x.positions.iter())
                .find(|x| x.instrument == id)
                .and_then(|x| x.liquidation_price);
            let pools: Vec<&VenueMargin> = venues.iter().filter(|x| x.venue == v).collect();
            let own: Vec<&VenueMargin> = pools
                .iter()
                .copied()
                .filter(|x| x.positions.iter().any(|q| q.instrument == id))
                .collect();
            let pool = own
                .first()
                .map(|x| format!("{}:{}", x.pool, x.settlement))
                .unwrap_or_default();
            let constraint = unified.venues.iter().find(|c| c.venue == v);
            // Segregated and liquidatable (the model charges the venue's own maintenance there).
            let liquidatable = constraint.is_some_and(|c| {
                c.kind == VenueKind::Segregated && c.siloed_maintenance_margin > 0.0
            });
            let mv = if !liquidatable {
                None
            } else if let Some(m) = done.get(&(v, pool.clone(), u.clone())) {
                *m
            } else {
                let m = match constraint {
                    // The venue has one pool and this is the underlying its own search moved.
                    Some(c)
                        if pools.len() == 1
                            && c.liquidation_underlying.as_deref() == Some(u.as_str()) =>
                    {
                        c.liquidation_move
                    }
                    _ => {
                        let chosen = if own.is_empty() { &pools } else { &own };
                        let (mut equity, mut mm) = (0.0, 0.0);
                        for x in chosen {
                            let q = x.quote()?;
                            equity += q.equity;
                            mm += q.maintenance_margin;
                        }
                        self.move_to_maintenance(
                            account,
                            assets,
                            market,
                            v,
                            &u,
                            Some(&id),
                            equity,
                            mm,
                        )?
                    }
                };
                done.insert((v, pool.clone(), u.clone()), m);
                m
            };
            let reference = reference_price(&p.instrument, market);
            out.push(PositionLiquidation {
                instrument: id,
                venue: v,
                underlying: u,
                pool,
                reference_price: reference,
                liquidation_move: mv,
                liquidation_price: match (reference, mv) {
                    (Some(r), Some(m)) => Some(r * (1.0 + m)),
                    _ => None,
                },
                venue_liquidation_price: venue_price,
                venue_liquidation_move: match (reference, venue_price) {
                    (Some(r), Some(x)) => Some(x / r - 1.0),
                    _ => None,
                },
            });
        }
        Ok(out)
    }

    /// Move of the venue's main underlying at which its equity (repriced) meets its own maintenance
    /// margin (re-evaluated by the venue's rules at the moved prices).
    #[allow(clippy::too_many_arguments)]
    fn liquidation_move(
        &self,
        acct: &Account,
        assets: &[Asset],
        market: &Market,
        v: Venue,
        legs: &[Leg],
        groups: &[String],
        equity: f64,
        own_mm: f64,
    ) -> Result<(Option<String>, Option<f64>), MarginError> {
        let mut by_group = vec![0.0f64; groups.len()];
        for l in legs.iter().filter(|l| l.venue == v) {
            by_group[l.group] += l.delta_notional.abs();
        }
        let Some(g) = (0..groups.len())
            .filter(|&g| by_group[g] > 0.0)
            .max_by(|&a, &b| by_group[a].total_cmp(&by_group[b]))
        else {
            return Ok((None, None));
        };
        let u = groups[g].clone();
        let m = self.move_to_maintenance(acct, assets, market, v, &u, None, equity, own_mm)?;
        Ok((Some(u), m))
    }

    /// The signed move of `u` (a fraction) at which venue `v`'s equity, repriced along the move,
    /// meets its own maintenance margin re-evaluated by the venue's rules at the moved prices:
    /// over the venue's pools, or only over the pool holding the instrument `pool_of` when given
    /// (each pool is liquidated on its own). `equity` and `own_mm` (quote currency, of the same
    /// pools) serve only where the venue's rules cannot value the moved book. `None` when no move
    /// up to −99 % / +500 % reaches maintenance; `Some(0.0)` when it is already reached. The
    /// search walks moves of increasing size on both sides and bisects the first bracket that
    /// crosses (12 halvings: the root to 1/4096 of the bracket, on the liquidated side).
    #[allow(clippy::too_many_arguments)]
    fn move_to_maintenance(
        &self,
        acct: &Account,
        assets: &[Asset],
        market: &Market,
        v: Venue,
        u: &str,
        pool_of: Option<&str>,
        equity: f64,
        own_mm: f64,
    ) -> Result<Option<f64>, MarginError> {
        let u = u.to_string();
        let quote = market.quote.as_str();
        let grid = self.params.grid(1.0, quote);
        let ctx = NumeraireCtx {
            params: &grid,
            market,
            currency: quote.to_string(),
        };
        // The venue's legs on this underlying, priced once.
        let mut priced: Vec<(Priced, f64)> = Vec::new();
        for pos in acct.positions.iter().filter(|p| p.instrument.venue == v) {
            if pos.instrument.underlying == u {
                priced.push((resolve(&pos.instrument, market)?, pos.size));
            }
        }
        for c in acct
            .collateral
            .iter()
            .filter(|c| c.venue == v && c.asset == u)
        {
            let a = find_asset(assets, &c.asset, "account.collateral.asset")?;
            priced.push((
                resolve(&collateral_instrument(v, &c.asset, quote), market)?,
                c.amount.to_f64(a.decimals),
            ));
        }
        let slice = Account {
            reported: Vec::new(),
            orders: acct
                .orders
                .iter()
                .filter(|o| o.instrument.venue == v)
                .cloned()
                .collect(),
            id: acct.id.clone(),
            collateral: acct
                .collateral
                .iter()
                .filter(|c| c.venue == v)
                .cloned()
                .collect(),
            positions: acct
                .positions
                .iter()
                .filter(|p| p.instrument.venue == v)
                .map(|p| {
                    let mut q = p.clone();
                    q.leverage = None;
                    q
                })
                .collect(),
        };
        let mut shift = MarketShift::new(market, &u, &slice)?;
        let mut surplus = |mv: f64| -> Result<f64, MarginError> {
            // The venue's own verdict on the moved market (its equity and maintenance, option legs
            // re-valued along the move); the scan's P&L and a scaled maintenance only where the
            // venue's rules cannot value the moved slice.
            let moved = shift.at(mv);
            let vs = crate::venues::venue_margins(&slice, assets, moved).map(|vs| {
                let holds = |x: &VenueMargin| {
                    pool_of.is_none_or(|id| x.positions.iter().any(|p| p.instrument == id))
                };
                // The pool holding the instrument; all pools if none names it.
                if vs.iter().any(holds) {
                    vs.into_iter().filter(holds).collect::<Vec<_>>()
                } else {
                    vs
                }
            });
            match vs {
                Ok(vs) if vs.iter().all(|x| x.in_quote.is_some()) => Ok(vs
                    .iter()
                    .filter_map(|x| x.in_quote.as_ref())
                    .map(|q| q.equity - q.maintenance_margin)
                    .sum()),
                _ => {
                    let sc = [Scenario {
                        name: String::new(),
                        price: mv,
                        in_ranges: false,
                        vol: VolMove::None,
                        extended: false,
                    }];
                    let mut pnl = 0.0;
                    for (pr, size) in &priced {
                        let mut out = [0.0];
                        price_row(pr, &ctx, &sc, &mut out)?;
                        pnl -= size * out[0];
                    }
                    Ok(equity + pnl - own_mm * (1.0 + mv.abs()))
                }
            }
        };
        if surplus(0.0)? <= 0.0 {
            return Ok(Some(0.0));
        }
        // Moves in increasing size, alternating sides: the first side to cross is the nearer one, so only
        // its bracket is bisected and the other side is never searched further than needed.
        const STEPS: [f64; 29] = [
            0.01, -0.01, 0.02, -0.02, 0.05, -0.05, 0.1, -0.1, 0.15, -0.15, 0.2, -0.2, 0.3, -0.3,
            0.4, -0.4, 0.5, -0.5, -0.6, -0.7, 0.75, -0.8, -0.9, -0.99, 1.0, 1.5, 2.0, 3.0, 5.0,
        ];
        let (mut prev_up, mut prev_down) = (0.0f64, 0.0f64);
        let mut m = None;
        for &mv in &STEPS {
            if surplus(mv)? <= 0.0 {
                let (mut lo, mut hi) = (if mv > 0.0 { prev_up } else { prev_down }, mv);
                for _ in 0..12 {
                    let mid = 0.5 * (lo + hi);
                    if surplus(mid)? <= 0.0 {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                m = Some(hi);
                break;
            }
            if mv > 0.0 {
                prev_up = mv;
            } else {
                prev_down = mv;
            }
        }
        Ok(m)
    }
}

/// The market after `underlying` moves by `mv` (a fraction): its index, FX and delta-one marks scale by
/// `1 + mv`, and each option mark of the slice is re-valued with Black-76 along the move (same vol,
/// same time to expiry): `mark + (V(F·(1+mv)) − V(F))` in the mark's units (the coin for inverse
/// options, `V/F` per unit), so the venue's own rules see the option at its moved value and the
/// venue's offset from the model price is kept.
///
/// The liquidation search evaluates dozens of moves of one slice: everything that does not
/// depend on the move (which entries move, each option's pricing inputs and unmoved value) is
/// found once, and each move rewrites only those entries of one working copy of the market,
/// from their unmoved values, in the order a fresh copy would be written.
struct MarketShift {
    /// The working copy: the unmoved market except the entries below, which `at` rewrites.
    work: Market,
    /// The unmoved FX rate of the underlying, if quoted.
    fx: Option<(String, f64)>,
    /// Venue indexes on the underlying, unmoved.
    index: Vec<(String, f64)>,
    /// Marks of the slice's positions on the underlying: id, unmoved mark, how it moves (one
    /// entry per position, as the positions are visited: a repeated instrument moves twice).
    marks: Vec<(String, f64, MarkMove)>,
}

enum MarkMove {
    /// Delta-one: scales with the move.
    Scale,
    /// An option re-valued with Black-76: (kind, forward, strike, years, vol, rate, settlement,
    /// value at the unmoved forward).
    Option {
        kind: intermargin_model::OptionKind,
        f0: f64,
        strike: f64,
        years: f64,
        vol: f64,
        rate: f64,
        settlement: Settlement,
        v0: f64,
    },
}

impl MarketShift {
    fn new(market: &Market, underlying: &str, slice: &Account) -> Result<Self, MarginError> {
        let fx = market
            .fx
            .get(underlying)
            .map(|x| (underlying.to_string(), *x));
        let suffix = format!(":{underlying}");
        let index = market
            .index_prices
            .iter()
            .filter(|(key, _)| key.ends_with(&suffix))
            .map(|(k, x)| (k.clone(), *x))
            .collect();
        let mut marks = Vec::new();
        for p in &slice.positions {
            if p.instrument.underlying != underlying {
                continue;
            }
            let id = p.instrument.id();
            let Some(&mark) = market.mark_prices.get(&id) else {
                continue;
            };
            if let InstrumentKind::Option {
                strike,
                option_kind,
                ..
            } = p.instrument.kind
            {
                // Priced on the unmoved market (forward, vol, time, rate), as the scan prices it.
                let pr = resolve(&p.instrument, market)?;
                let v0 = intermargin_pricing::black76_price(
                    option_kind,
                    pr.f0,
                    strike,
                    pr.years,
                    pr.vol,
                    pr.rate,
                );
                marks.push((
                    id,
                    mark,
                    MarkMove::Option {
                        kind: option_kind,
                        f0: pr.f0,
                        strike,
                        years: pr.years,
                        vol: pr.vol,
                        rate: pr.rate,
                        settlement: p.instrument.settlement,
                        v0,
                    },
                ));
            } else {
                marks.push((id, mark, MarkMove::Scale));
            }
        }
        Ok(MarketShift {
            work: market.clone(),
            fx,
            index,
            marks,
        })
    }

    /// The market moved by `mv`.
    fn at(&mut self, mv: f64) -> &Market {
        let k = 1.0 + mv;
        let m = &mut self.work;
        if let Some((key, x0)) = &self.fx {
            if let Some(x) = m.fx.get_mut(key) {
                *x = x0 * k;
            }
        }
        for (key, x0) in &self.index {
            if let Some(x) = m.index_prices.get_mut(key) {
                *x = x0 * k;
            }
        }
        // Back to the unmoved marks first: a repeated instrument moves from its moved value.
        for (id, x0, _) in &self.marks {
            if let Some(x) = m.mark_prices.get_mut(id) {
                *x = *x0;
            }
        }
        for (id, _, how) in &self.marks {
            let Some(x) = m.mark_prices.get_mut(id) else {
                continue;
            };
            match *how {
                MarkMove::Scale => *x *= k,
                MarkMove::Option {
                    kind,
                    f0,
                    strike,
                    years,
                    vol,
                    rate,
                    settlement,
                    v0,
                } => {
                    let f1 = f0 * k;
                    let v1 = intermargin_pricing::black76_price(kind, f1, strike, years, vol, rate);
                    let change = match settlement {
                        Settlement::Linear => v1 - v0,
                        Settlement::Inverse => v1 / f1 - v0 / f0,
                    };
                    *x = (*x + change).max(0.0);
                }
            }
        }
        &self.work
    }
}

fn find_asset<'a>(
    assets: &'a [Asset],
    symbol: &str,
    field: &str,
) -> Result<&'a Asset, MarginError> {
    assets.iter().find(|a| a.symbol == symbol).ok_or_else(|| {
        MarginError::Model(intermargin_model::ModelError::UnknownAsset {
            field: field.to_string(),
            asset: symbol.to_string(),
        })
    })
}

/// A collateral balance as a spot instrument of its venue, so it moves with its underlying.
/// Gross notional of one contract in the quote currency (the concentration charge's size).
fn gross_unit(inst: &Instrument, market: &Market) -> Result<f64, MarginError> {
    let pr = resolve(inst, market)?;
    let q0 = match inst.size_unit {
        SizeUnit::Base => inst.contract_size,
        SizeUnit::Quote => inst.contract_size / pr.f0,
    };
    Ok(q0 * pr.f0 * pr.quote_fx)
}

fn collateral_instrument(venue: Venue, asset: &str, quote: &str) -> Instrument {
    Instrument {
        venue,
        symbol: asset.to_string(),
        kind: InstrumentKind::Spot,
        underlying: asset.to_string(),
        quote: quote.to_string(),
        settle: quote.to_string(),
        settlement: Settlement::Linear,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

#[cfg(test)]
mod linear_leg_tests {
    use super::*;

    #[test]
    fn linear_leg_rates_by_hand() {
        // Bundled params: horizon 1,800 + 3,600 = 5,400 s; range scale max(1, sqrt(5400/86400)) = 1.
        let m = UnifiedModel::new(UnifiedParams::bundled().unwrap());
        // Binance BTC (segregated, buffer 10 %): basis 0.0015 x 1; funding 0.003 x 5400/28800 =
        // 0.0005625; concentration 1.0 x 0.03 x sqrt(1.5e6 / 1.5e10) = 0.0003 → add-ons 0.0023625.
        // Initial 0.004 x 1.1 + 0.0023625 = 0.0067625; maintenance 0.004 + 0.8 x 0.0023625 = 0.00589.
        let r = m
            .linear_leg_rates(Venue::Binance, "BTC", 0.004, 1.5e6)
            .unwrap();
        assert_eq!(r.kind, VenueKind::Segregated);
        assert!((r.initial - 0.0067625).abs() < 1e-12, "{r:?}");
        assert!((r.maintenance - 0.00589).abs() < 1e-12, "{r:?}");
        // The hub is a credit venue: no local floor; basis and funding 0; depth "*" 1e8:
        // 0.03 x sqrt(1e6 / 1e8) = 0.003 → initial 0.003, maintenance 0.8 x 0.003 = 0.0024.
        let h = m.linear_leg_rates(Venue::Hub, "BTC", 0.05, 1e6).unwrap();
        assert_eq!(h.kind, VenueKind::Credit);
        assert!((h.initial - 0.003).abs() < 1e-12, "{h:?}");
        assert!((h.maintenance - 0.0024).abs() < 1e-12, "{h:?}");
        // The pooled scan of a delta-one book: BTC's range 0.16 at scale 1.
        assert!((m.delta_one_stress("BTC") - 0.16).abs() < 1e-12);
        assert!(m
            .linear_leg_rates(Venue::Binance, "BTC", f64::NAN, 1.0)
            .is_err());
    }
}

#[cfg(test)]
mod market_shift_tests {
    use super::*;
    use intermargin_model::{Instrument, OptionKind, Position};

    /// The moved market written the direct way (a fresh copy per move), as the search wrote it
    /// before [`MarketShift`]: the reference it must equal exactly.
    fn shift_fresh(market: &Market, underlying: &str, mv: f64, slice: &Account) -> Market {
        let mut m = market.clone();
        let k = 1.0 + mv;
        if let Some(x) = m.fx.get_mut(underlying) {
            *x *= k;
        }
        let suffix = format!(":{underlying}");
        for (key, x) in m.index_prices.iter_mut() {
            if key.ends_with(&suffix) {
                *x *= k;
            }
        }
        for p in &slice.positions {
            if p.instrument.underlying != underlying {
                continue;
            }
            let id = p.instrument.id();
            if let InstrumentKind::Option {
                strike,
                option_kind,
                ..
            } = p.instrument.kind
            {
                if !market.mark_prices.contains_key(&id) {
                    continue;
                }
                let pr = resolve(&p.instrument, market).unwrap();
                let f1 = pr.f0 * k;
                let v0 = intermargin_pricing::black76_price(
                    option_kind,
                    pr.f0,
                    strike,
                    pr.years,
                    pr.vol,
                    pr.rate,
                );
                let v1 = intermargin_pricing::black76_price(
                    option_kind,
                    f1,
                    strike,
                    pr.years,
                    pr.vol,
                    pr.rate,
                );
                let change = match p.instrument.settlement {
                    Settlement::Linear => v1 - v0,
                    Settlement::Inverse => v1 / f1 - v0 / pr.f0,
                };
                if let Some(x) = m.mark_prices.get_mut(&id) {
                    *x = (*x + change).max(0.0);
                }
            } else if let Some(x) = m.mark_prices.get_mut(&id) {
                *x *= k;
            }
        }
        m
    }

    fn option(strike: f64, kind: OptionKind, settlement: Settlement) -> Instrument {
        Instrument {
            venue: Venue::Deribit,
            symbol: format!("BTC-27DEC24-{strike}-{kind:?}-{settlement:?}"),
            kind: InstrumentKind::Option {
                strike,
                expiry_ms: 1_735_286_400_000,
                option_kind: kind,
            },
            underlying: "BTC".into(),
            quote: "USD".into(),
            settle: if settlement == Settlement::Inverse {
                "BTC".into()
            } else {
                "USDC".into()
            },
            settlement,
            contract_size: 1.0,
            size_unit: SizeUnit::Base,
        }
    }

    #[test]
    fn each_move_equals_a_fresh_copy_moved_in_any_order() {
        let mut market = Market::new(1_724_742_000_000, "USD");
        market.fx.insert("BTC".into(), 62_890.0);
        market.fx.insert("ETH".into(), 2_650.0);
        market.index_prices.insert("deribit:BTC".into(), 62_880.0);
        market.index_prices.insert("okx:BTC".into(), 62_885.0);
        market.index_prices.insert("deribit:ETH".into(), 2_651.0);
        let mut slice = Account::new("a");
        let perp = Instrument {
            venue: Venue::Deribit,
            symbol: "BTC-PERPETUAL".into(),
            kind: InstrumentKind::Perpetual,
            underlying: "BTC".into(),
            quote: "USD".into(),
            settle: "BTC".into(),
            settlement: Settlement::Inverse,
            contract_size: 10.0,
            size_unit: SizeUnit::Quote,
        };
        market.mark_prices.insert(perp.id(), 62_905.0);
        slice.positions.push(Position::new(perp.clone(), 100.0));
        for (i, (strike, kind, st)) in [
            (60_000.0, OptionKind::Call, Settlement::Inverse),
            (55_000.0, OptionKind::Put, Settlement::Inverse),
            (70_000.0, OptionKind::Call, Settlement::Linear),
            (200_000.0, OptionKind::Call, Settlement::Inverse),
        ]
        .into_iter()
        .enumerate()
        {
            let o = option(strike, kind, st);
            let mark = if st == Settlement::Inverse {
                0.05
            } else {
                3_000.0
            };
            market
                .mark_prices
                .insert(o.id(), mark * (1.0 + i as f64 / 10.0));
            market.mark_ivs.insert(o.id(), 0.5 + i as f64 / 20.0);
            slice.positions.push(Position::new(o, 2.0));
        }
        // A repeated instrument (two sub-accounts): it moves twice, as in a fresh copy.
        slice.positions.push(Position::new(perp, -20.0));
        slice.positions.push(Position::new(
            option(60_000.0, OptionKind::Call, Settlement::Inverse),
            1.0,
        ));
        // An option without a mark is left alone.
        slice.positions.push(Position::new(
            option(65_000.0, OptionKind::Put, Settlement::Inverse),
            1.0,
        ));
        let mut shift = MarketShift::new(&market, "BTC", &slice).unwrap();
        let mut seed = 7u64;
        for i in 0..200 {
            // Moves in any order (the search walks out and bisects back).
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mv = -0.99 + 5.99 * ((seed >> 11) as f64 / (1u64 << 53) as f64);
            let mv = if i % 17 == 0 { 0.0 } else { mv };
            assert_eq!(
                *shift.at(mv),
                shift_fresh(&market, "BTC", mv, &slice),
                "move {mv}"
            );
        }
    }
}
