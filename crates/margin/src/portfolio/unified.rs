//! The unified cross-venue model: one requirement for an account's positions and collateral on every venue.
//!
//! Every position and every collateral balance enters one quote-currency scenario grid, where each
//! underlying moves by the same fraction of its own range (so ETH collateral loses value in the
//! scenario where BTC options lose). On top of the scan: (a) basis between each venue's index and the
//! common underlying, and between each quote asset and the report currency; (b) a counterparty haircut
//! on collateral held at each venue; (c) a static collateral haircut per asset; (d) the share of its own
//! maintenance margin that each venue still enforces locally. `IM = max(risk, Σ local minimums)`.

use std::collections::BTreeMap;

use intermargin_model::{
    Account, Asset, Instrument, InstrumentKind, Market, Settlement, SizeUnit, Venue,
};
use serde::{Deserialize, Serialize};

use super::explain::{Component, Explanation};
use super::params::{GridParams, UNIFIED_TOML};
use super::scan::{margin_pool, Leg};
use super::scenario::risk_matrix;
use crate::error::MarginError;
use crate::report::VenueMargin;

/// Rates keyed by venue with a default.
#[derive(Debug, Clone, Deserialize)]
pub struct VenueRates {
    /// Documentation of the rates.
    pub source: String,
    /// Rate for venues not listed.
    pub default: f64,
    /// Rate per venue.
    #[serde(default)]
    pub venue: BTreeMap<Venue, f64>,
}

impl VenueRates {
    fn get(&self, v: Venue) -> f64 {
        self.venue.get(&v).copied().unwrap_or(self.default)
    }
}

/// Collateral haircuts per asset.
#[derive(Debug, Clone, Deserialize)]
pub struct AssetRates {
    /// Documentation.
    pub source: String,
    /// Rate for assets not listed.
    pub default: f64,
    /// Rate per asset.
    #[serde(default)]
    pub asset: BTreeMap<String, f64>,
}

/// Basis-risk rates.
#[derive(Debug, Clone, Deserialize)]
pub struct BasisParams {
    /// Documentation.
    pub source: String,
    /// Venue-index basis for venues not listed.
    pub default_venue: f64,
    /// Quote-asset basis for assets not listed.
    pub quote_default: f64,
    /// Venue index vs common underlying.
    #[serde(default)]
    pub venue: BTreeMap<Venue, f64>,
    /// Quote asset vs report currency.
    #[serde(default)]
    pub quote: BTreeMap<String, f64>,
}

/// The unified model's parameters: a quote-currency grid plus the cross-venue components.
#[derive(Debug, Clone, Deserialize)]
pub struct UnifiedParams {
    /// The scenario grid.
    #[serde(flatten)]
    pub grid: GridParams,
    /// (a) Basis.
    pub basis: BasisParams,
    /// (b) Counterparty haircut per venue.
    pub counterparty: VenueRates,
    /// (c) Collateral haircut per asset.
    pub collateral: AssetRates,
    /// (d) Fraction of each venue's own maintenance margin enforced locally.
    pub local_minimum: VenueRates,
}

impl UnifiedParams {
    /// Parses and validates.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, MarginError> {
        let p: UnifiedParams = toml::from_str(text).map_err(|e| MarginError::Params {
            file: file.to_string(),
            field: "(document)".into(),
            reason: e.to_string(),
        })?;
        p.grid.validate(file)?;
        let rates = [
            ("basis.default_venue", p.basis.default_venue),
            ("basis.quote_default", p.basis.quote_default),
            ("counterparty.default", p.counterparty.default),
            ("collateral.default", p.collateral.default),
            ("local_minimum.default", p.local_minimum.default),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            p.basis
                .venue
                .iter()
                .map(|(v, r)| (format!("basis.venue.{v}"), *r)),
        )
        .chain(
            p.basis
                .quote
                .iter()
                .map(|(a, r)| (format!("basis.quote.{a}"), *r)),
        )
        .chain(
            p.counterparty
                .venue
                .iter()
                .map(|(v, r)| (format!("counterparty.venue.{v}"), *r)),
        )
        .chain(
            p.collateral
                .asset
                .iter()
                .map(|(a, r)| (format!("collateral.asset.{a}"), *r)),
        )
        .chain(
            p.local_minimum
                .venue
                .iter()
                .map(|(v, r)| (format!("local_minimum.venue.{v}"), *r)),
        );
        for (k, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(MarginError::Params {
                    file: file.to_string(),
                    field: k,
                    reason: format!("{v} is not a fraction in [0, 1]"),
                });
            }
        }
        Ok(p)
    }

    /// The bundled parameter set.
    pub fn bundled() -> Result<Self, MarginError> {
        Self::from_toml(UNIFIED_TOML, "params/unified.toml")
    }
}

/// One venue's own requirement next to its share of the unified one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueConstraint {
    /// Venue.
    pub venue: Venue,
    /// The venue's own initial margin, quote currency (its siloed requirement).
    pub siloed_initial_margin: f64,
    /// The venue's own maintenance margin, quote currency.
    pub siloed_maintenance_margin: f64,
    /// Part of its maintenance margin the venue still enforces locally.
    pub local_minimum: f64,
    /// The venue's positions' and collateral's share of the unified requirement (≥ 0).
    pub attributed: f64,
    /// True when the local minimum exceeds the attributed share: collateral must sit there for the venue's sake.
    pub binds: bool,
}

/// The unified verdict on one account, quote currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnifiedMargin {
    /// Σ of each venue's own initial margin.
    pub siloed_total: f64,
    /// Unified initial margin = max(risk requirement, Σ local minimums).
    pub initial_margin: f64,
    /// Unified maintenance margin.
    pub maintenance_margin: f64,
    /// Scan + add-ons + basis + haircuts.
    pub risk_requirement: f64,
    /// Σ of the venues' local minimums.
    pub local_minimum_total: f64,
    /// `siloed_total − initial_margin`.
    pub saving: f64,
    /// Per venue.
    pub venues: Vec<VenueConstraint>,
    /// Why.
    pub explain: Explanation,
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
    /// What each venue and the unified pool must hold, the input the collateral allocator needs.
    ///
    /// With `local_only` each venue must hold only the minimum it still enforces under unified
    /// margin (the pool holds the rest); otherwise each venue must hold its own siloed figure.
    /// Venues appear once, in name order; figures are in the quote currency.
    pub fn location_requirements(
        &self,
        siloed: &[VenueMargin],
        kind: RequirementKind,
        local_only: bool,
    ) -> (Vec<(String, f64)>, f64) {
        let mut venues: BTreeMap<String, f64> = BTreeMap::new();
        if local_only {
            for v in &self.venues {
                *venues.entry(v.venue.as_str().to_string()).or_default() += v.local_minimum;
            }
        } else {
            for m in siloed {
                let figure = match kind {
                    RequirementKind::Initial => m.in_quote.initial_margin,
                    RequirementKind::Maintenance => m.in_quote.maintenance_margin,
                };
                *venues.entry(m.venue.as_str().to_string()).or_default() += figure;
            }
        }
        let total = match kind {
            RequirementKind::Initial => self.initial_margin,
            RequirementKind::Maintenance => self.maintenance_margin,
        };
        (venues.into_iter().collect(), total)
    }
}

/// The unified cross-venue model.
#[derive(Debug, Clone)]
pub struct UnifiedModel {
    /// Parameters.
    pub params: UnifiedParams,
}

/// A collateral balance as a spot instrument of its venue, so it moves with its underlying.
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

impl UnifiedModel {
    /// A model over `params`.
    pub fn new(params: UnifiedParams) -> Self {
        UnifiedModel { params }
    }

    /// Unified requirement of `account`, given each venue's own verdict (`siloed`, from the venue rules).
    pub fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
        siloed: &[VenueMargin],
    ) -> Result<UnifiedMargin, MarginError> {
        let p = &self.params;
        let g = &p.grid;
        let quote = market.quote.as_str();
        let mut legs: Vec<Leg> = Vec::new();
        for pos in &account.positions {
            legs.push(Leg {
                label: pos.instrument.id(),
                instrument: pos.instrument.clone(),
                size: pos.size,
            });
        }
        // Collateral lines: value in quote, per venue, per asset.
        let mut coll_by_venue: BTreeMap<Venue, f64> = BTreeMap::new();
        let mut stable_exposure: BTreeMap<String, f64> = BTreeMap::new();
        let mut collateral_haircut = 0.0;
        for (ci, c) in account.collateral.iter().enumerate() {
            let a = assets.iter().find(|a| a.symbol == c.asset).ok_or_else(|| {
                MarginError::Model(intermargin_model::ModelError::UnknownAsset {
                    field: format!("account.collateral[{ci}].asset"),
                    asset: c.asset.clone(),
                })
            })?;
            let units = c.amount.to_f64(a.decimals);
            let px = market
                .fx_rate(&c.asset)
                .ok_or_else(|| MarginError::MissingMarket {
                    field: format!("market.fx[{:?}]", c.asset),
                    reason: format!("valuing collateral account.collateral[{ci}]"),
                })?;
            let value = units * px;
            *coll_by_venue.entry(c.venue).or_default() += value;
            if g.is_stable(&c.asset) && c.asset != quote {
                *stable_exposure.entry(c.asset.clone()).or_default() += value;
            }
            if value > 0.0 {
                collateral_haircut += p
                    .collateral
                    .asset
                    .get(&c.asset)
                    .copied()
                    .unwrap_or(p.collateral.default)
                    * value;
            }
            legs.push(Leg {
                label: format!("{}:{} collateral", c.venue, c.asset),
                instrument: collateral_instrument(c.venue, &c.asset, quote),
                size: units,
            });
        }
        let mut pool = margin_pool(&legs, market, g, quote)?;
        // Basis: per (venue, underlying) net delta of positions; quote assets: net stable exposure.
        let pos_insts: Vec<Instrument> = account
            .positions
            .iter()
            .map(|x| x.instrument.clone())
            .collect();
        let m = risk_matrix(market, &pos_insts, g, quote)?;
        let mut venue_delta: BTreeMap<(Venue, String), f64> = BTreeMap::new();
        for (i, pos) in account.positions.iter().enumerate() {
            let dn = pos.size * m.unit[i].delta_notional;
            *venue_delta
                .entry((pos.instrument.venue, pos.instrument.underlying.clone()))
                .or_default() += dn;
            let s = &pos.instrument.settle;
            if g.is_stable(s) && s != quote {
                // A short linear contract settled in USDT is long USDT for its notional.
                *stable_exposure.entry(s.clone()).or_default() -= dn;
            }
        }
        let mut basis_by_venue: BTreeMap<Venue, f64> = BTreeMap::new();
        for ((v, _), d) in &venue_delta {
            let r = p
                .basis
                .venue
                .get(v)
                .copied()
                .unwrap_or(p.basis.default_venue);
            *basis_by_venue.entry(*v).or_default() += r * d.abs();
        }
        let venue_basis: f64 = basis_by_venue.values().sum();
        let quote_basis: f64 = stable_exposure
            .iter()
            .map(|(a, e)| {
                p.basis
                    .quote
                    .get(a)
                    .copied()
                    .unwrap_or(p.basis.quote_default)
                    * e.abs()
            })
            .sum();
        let counterparty_by_venue: BTreeMap<Venue, f64> = coll_by_venue
            .iter()
            .map(|(v, val)| (*v, p.counterparty.get(*v) * val.max(0.0)))
            .collect();
        let counterparty: f64 = counterparty_by_venue.values().sum();
        // Venues' own requirements and local minimums.
        let mut venues: BTreeMap<Venue, VenueConstraint> = BTreeMap::new();
        for vm in siloed {
            let e = venues.entry(vm.venue).or_insert_with(|| VenueConstraint {
                venue: vm.venue,
                siloed_initial_margin: 0.0,
                siloed_maintenance_margin: 0.0,
                local_minimum: 0.0,
                attributed: 0.0,
                binds: false,
            });
            e.siloed_initial_margin += vm.in_quote.initial_margin;
            e.siloed_maintenance_margin += vm.in_quote.maintenance_margin;
        }
        for v in account.venues() {
            venues.entry(v).or_insert_with(|| VenueConstraint {
                venue: v,
                siloed_initial_margin: 0.0,
                siloed_maintenance_margin: 0.0,
                local_minimum: 0.0,
                attributed: 0.0,
                binds: false,
            });
        }
        // Attribution: the worst scenario's per-leg losses (from the scan's own explanation) plus the
        // venue's basis and counterparty charges.
        let mut by_venue_loss: BTreeMap<Venue, f64> = BTreeMap::new();
        for (leg, c) in legs.iter().zip(sorted_contributions(&legs, &pool.explain)) {
            *by_venue_loss.entry(leg.instrument.venue).or_default() += c;
        }
        let mut local_total = 0.0;
        for (v, e) in venues.iter_mut() {
            e.local_minimum = p.local_minimum.get(*v) * e.siloed_maintenance_margin;
            e.attributed = (by_venue_loss.get(v).copied().unwrap_or(0.0)
                + basis_by_venue.get(v).copied().unwrap_or(0.0)
                + counterparty_by_venue.get(v).copied().unwrap_or(0.0))
            .max(0.0);
            e.binds = e.local_minimum > e.attributed;
            local_total += e.local_minimum;
        }
        let scan_im = pool.figures.initial_margin;
        let risk = scan_im + venue_basis + quote_basis + counterparty + collateral_haircut;
        let im = risk.max(local_total);
        let mm = g.maintenance_fraction * im;
        let siloed_total: f64 = venues.values().map(|v| v.siloed_initial_margin).sum();
        let ex = &mut pool.explain;
        ex.components.extend([
            Component {
                name: "basis_venue_index".into(),
                value: venue_basis,
                detail: "per (venue, underlying): rate x |net delta notional|".into(),
            },
            Component {
                name: "basis_quote_asset".into(),
                value: quote_basis,
                detail: "per stablecoin: depeg rate x |net exposure| (collateral + linear contracts)".into(),
            },
            Component {
                name: "counterparty_haircut".into(),
                value: counterparty,
                detail: "per venue: haircut x collateral held there".into(),
            },
            Component {
                name: "collateral_haircut".into(),
                value: collateral_haircut,
                detail: "per asset: haircut x collateral value (price moves are in the scan)".into(),
            },
            Component {
                name: "local_minimum_topup".into(),
                value: (local_total - risk).max(0.0),
                detail: format!(
                    "venues enforce {local_total:.2} locally; requirement = max(risk {risk:.2}, that)"
                ),
            },
        ]);
        ex.initial_margin = im;
        ex.maintenance_margin = mm;
        Ok(UnifiedMargin {
            siloed_total,
            initial_margin: im,
            maintenance_margin: mm,
            risk_requirement: risk,
            local_minimum_total: local_total,
            saving: siloed_total - im,
            venues: venues.into_values().collect(),
            explain: pool.explain,
        })
    }
}

/// Contributions re-ordered to `legs` order (the scan sorts legs by underlying; labels are unique per leg
/// position in the sorted list, so match them in order).
fn sorted_contributions(legs: &[Leg], ex: &Explanation) -> Vec<f64> {
    let mut used = vec![false; ex.contributions.len()];
    legs.iter()
        .map(|l| {
            match ex
                .contributions
                .iter()
                .enumerate()
                .find(|(i, c)| !used[*i] && c.instrument == l.label && c.size == l.size)
            {
                Some((i, c)) => {
                    used[i] = true;
                    c.loss
                }
                None => 0.0,
            }
        })
        .collect()
}
