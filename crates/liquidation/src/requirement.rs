//! The requirement function the planner searches: anything that maps an account to
//! (equity, initial, maintenance) in one currency, and names the leg driving the number.

use std::collections::BTreeMap;

#[cfg(feature = "margin-models")]
use intermargin_margin::MarginModel;
use intermargin_model::{Account, Market, Settlement, SizeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};
use crate::state::Figures;
use crate::valuation::leg_value;

/// One margin pool's figures: a venue liquidates each pool on its own (a dYdX subaccount, an
/// isolated position, a settlement currency), so states are decided pool by pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolFigures {
    /// Venue.
    pub venue: String,
    /// Settlement currency of the pool.
    pub settlement: String,
    /// Pool label (`cross`, `isolated:<id>:<side>`, `subaccount:<n>`).
    pub pool: String,
    /// Figures in the market's quote currency.
    pub figures: Figures,
}

impl PoolFigures {
    /// `(venue, settlement, pool)`, the key positions map to.
    pub fn key(&self) -> (String, String, String) {
        (
            self.venue.clone(),
            self.settlement.clone(),
            self.pool.clone(),
        )
    }
}

/// A requirement with the leg that contributes most to maintenance (the "driving leg").
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// Totals in the market's quote currency.
    pub figures: Figures,
    /// Instrument id of the largest maintenance contributor, when the model reports legs.
    pub driver: Option<String>,
    /// Per-pool figures when the model has pools (venue rules); empty means one pool: the
    /// whole account (a unified or rate model).
    pub pools: Vec<PoolFigures>,
}

impl Requirement {
    /// Figures of the pool `key`, or of the whole account when `key` is `None`; a pool that
    /// no longer exists (every position closed, no collateral) is empty.
    pub fn pool(&self, key: Option<&(String, String, String)>) -> Figures {
        match key {
            None => self.figures,
            Some(k) => self
                .pools
                .iter()
                .find(|p| &p.key() == k)
                .map(|p| p.figures)
                .unwrap_or(Figures {
                    equity: 0.0,
                    initial: 0.0,
                    maintenance: 0.0,
                }),
        }
    }
}

/// Any margin model seen from the liquidation side; implemented by venue models and by the
/// unified model so one planner serves both.
pub trait RequirementFn {
    /// Requirement of `account` valued in `market`.
    fn requirement(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Requirement, LiquidationError>;
}

#[cfg(feature = "margin-models")]
/// The requirement as the venues state it: the sum of every venue model's pools, in quote
/// currency; the driver is the position with the largest maintenance margin.
pub struct ModelRequirement<'a> {
    models: Vec<&'a dyn MarginModel>,
    assets: Vec<intermargin_model::Asset>,
}

#[cfg(feature = "margin-models")]
impl<'a> ModelRequirement<'a> {
    /// Wraps a set of venue models (one per venue the accounts use) and the portfolio's
    /// asset table (collateral decimals).
    pub fn new(models: Vec<&'a dyn MarginModel>, assets: Vec<intermargin_model::Asset>) -> Self {
        ModelRequirement { models, assets }
    }
}

#[cfg(feature = "margin-models")]
impl RequirementFn for ModelRequirement<'_> {
    fn requirement(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Requirement, LiquidationError> {
        let venues = account.venues();
        let mut pools = Vec::new();
        for m in &self.models {
            if venues.contains(&m.venue()) {
                pools.extend(m.margin(account, &self.assets, market)?);
            }
        }
        sum_pools(pools, market)
    }
}

/// The siloed requirement every venue states for the account, through
/// `intermargin_margin::venue_margins` (each venue's own rules and parameter files), summed in
/// quote currency; the driving leg is the position with the largest maintenance margin.
#[cfg(feature = "margin-models")]
pub struct VenueMarginsRequirement {
    /// The portfolio's asset table (collateral decimals).
    pub assets: Vec<intermargin_model::Asset>,
}

#[cfg(feature = "margin-models")]
impl RequirementFn for VenueMarginsRequirement {
    fn requirement(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Requirement, LiquidationError> {
        let pools = intermargin_margin::venue_margins(account, &self.assets, market)?;
        sum_pools(pools, market)
    }
}

#[cfg(feature = "margin-models")]
fn sum_pools(
    pools: Vec<intermargin_margin::VenueMargin>,
    market: &Market,
) -> Result<Requirement, LiquidationError> {
    let mut f = Figures {
        equity: 0.0,
        initial: 0.0,
        maintenance: 0.0,
    };
    let mut driver: Option<(String, f64)> = None;
    let mut out = Vec::with_capacity(pools.len());
    for pool in pools {
        let q = pool.quote()?;
        f.equity += q.equity;
        f.initial += q.initial_margin;
        f.maintenance += q.maintenance_margin;
        out.push(PoolFigures {
            venue: pool.venue.to_string(),
            settlement: pool.settlement.clone(),
            pool: pool.pool.clone(),
            figures: Figures {
                equity: q.equity,
                initial: q.initial_margin,
                maintenance: q.maintenance_margin,
            },
        });
        let fx = market.fx_rate(&pool.settlement).unwrap_or(1.0);
        for p in pool.positions {
            let mm = p.maintenance_margin * fx;
            if driver.as_ref().is_none_or(|(_, d)| mm > *d) {
                driver = Some((p.instrument, mm));
            }
        }
    }
    Ok(Requirement {
        figures: f,
        driver: driver.map(|d| d.0),
        pools: out,
    })
}

/// Initial and maintenance fractions of notional for one instrument (dYdX's IMF / MMF).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Initial margin fraction.
    pub imf: f64,
    /// Maintenance margin fraction.
    pub mmf: f64,
}

/// dYdX v4's linear rule (reference §5.1): `IMR = Σ|S·P·IMF|`, `MMR = Σ|S·P·MMF|`,
/// equity = collateral + unrealised P&L. A transparent requirement for venues whose model is
/// not loaded, and the exact rule for dYdX-style books.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRequirement {
    /// Rates by instrument id.
    pub rates: BTreeMap<String, Rates>,
    /// Rates for instruments not listed (dYdX large-cap tier: 5% / 3%).
    pub default: Rates,
    /// Decimals of each collateral asset.
    pub decimals: BTreeMap<String, u32>,
}

impl RateRequirement {
    /// Checks rates are within (0, 1] and maintenance ≤ initial.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        for (k, r) in self
            .rates
            .iter()
            .chain(std::iter::once((&"default".to_string(), &self.default)))
        {
            if !(r.mmf > 0.0 && r.mmf <= r.imf && r.imf <= 1.0) {
                return Err(param(
                    format!("rates[{k:?}]"),
                    format!("need 0 < mmf <= imf <= 1, got imf {} mmf {}", r.imf, r.mmf),
                ));
            }
        }
        Ok(())
    }
}

impl RequirementFn for RateRequirement {
    fn requirement(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Requirement, LiquidationError> {
        let mut f = Figures {
            equity: 0.0,
            initial: 0.0,
            maintenance: 0.0,
        };
        for (i, c) in account.collateral.iter().enumerate() {
            let dec = self.decimals.get(&c.asset).copied().ok_or_else(|| {
                param(
                    format!("accounts[{:?}].collateral[{i}].asset", account.id),
                    format!("undeclared asset {}", c.asset),
                )
            })?;
            let fx = market
                .fx_rate(&c.asset)
                .ok_or_else(|| LiquidationError::MissingMarket {
                    field: format!("market.fx[{:?}]", c.asset),
                    reason: "collateral value".into(),
                })?;
            f.equity += c.amount.to_f64(dec) * fx;
        }
        let mut driver: Option<(String, f64)> = None;
        for p in &account.positions {
            let id = p.instrument.id();
            let v = leg_value(p, market)?;
            let r = self.rates.get(&id).copied().unwrap_or(self.default);
            let notional = p.size.abs() * v.notional_per_contract;
            f.initial += notional * r.imf;
            let mm = notional * r.mmf;
            f.maintenance += mm;
            if driver.as_ref().is_none_or(|(_, d)| mm > *d) {
                driver = Some((id.clone(), mm));
            }
            // Unrealised P&L: venue figure when given, else from the entry price.
            let settle_fx = market.fx_rate(&p.instrument.settle).unwrap_or(v.quote_fx);
            let upnl = match (p.unrealized_pnl, p.entry_price) {
                (Some(u), _) => u * settle_fx,
                (None, Some(entry)) if entry > 0.0 => {
                    match (p.instrument.settlement, p.instrument.size_unit) {
                        (Settlement::Inverse, SizeUnit::Quote) => {
                            p.size
                                * p.instrument.contract_size
                                * (1.0 / entry - 1.0 / v.mark)
                                * settle_fx
                        }
                        _ => {
                            p.instrument.base_quantity(p.size, v.mark)
                                * (v.mark - entry)
                                * v.quote_fx
                        }
                    }
                }
                _ => 0.0,
            };
            f.equity += upnl;
        }
        Ok(Requirement {
            figures: f,
            driver: driver.map(|d| d.0),
            pools: Vec::new(),
        })
    }
}
