//! The compact account population.
//!
//! Simplification (documented in `BENCH.md` and the crate docs): an account is one or two
//! linear perpetual legs (signed base quantity and entry price per venue and asset) and a
//! collateral balance in the quote currency. A silo pool is one leg on one venue with
//! `IM = im_rate·|q|·P·multiplier`, `MM = mm_rate·|q|·P` (dYdX's linear rule, reference §5.1).
//! A hub account holds a leg on two venues (a basis trade with `hub_hedge_ratio`); siloed, each
//! leg is its own pool with its own collateral; unified, one account margined by the margin
//! crate's unified model (`intermargin_margin::portfolio::UnifiedModel`, the one source of the
//! formula): each segregated venue's own maintenance (`mm_rate·|q|·P`) plus its buffer is a local
//! floor that netting never lowers, and the pooled requirement is `stress_u·|Σ net notional of u|`
//! per underlying (no cross-underlying offset) plus basis, funding and concentration per leg:
//!
//! `IM = Σ_legs initial_l·|q|·P + Σ_u stress_u·|Σ q·P|`,
//! `MM = Σ_legs maintenance_l·|q|·P + maintenance_fraction·Σ_u stress_u·|Σ q·P|`,
//!
//! with `initial_l`, `maintenance_l` from `UnifiedModel::linear_leg_rates` (the concentration
//! charge linearised at the leg's entry notional) and `stress_u` from
//! `UnifiedModel::delta_one_stress`, computed once per pool when the population is drawn.
//! Collateral and settlement are the quote currency itself, so no stablecoin depeg applies; the
//! unified account's collateral is reallocated between its venues within a step (the close-out
//! horizon is priced by the pooled requirement, not simulated as transfer delays).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp, LogNormal};

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_model::Venue;

use crate::config::{Config, Margining};
use crate::error::{cfg, SimError};

/// One linear perpetual leg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leg {
    /// Venue index.
    pub venue: usize,
    /// Asset index.
    pub asset: usize,
    /// Signed base quantity.
    pub q: f64,
    /// Entry price.
    pub p0: f64,
}

/// A margin pool: one collateral balance and the legs it backs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Account index.
    pub account: usize,
    /// One or two legs.
    pub legs: Vec<Leg>,
    /// Collateral, quote currency.
    pub collateral: f64,
    /// Margined at the hub (unified) rather than by the leg's venue.
    pub unified: bool,
    /// The unified model's coefficients (unified pools; empty for siloed ones).
    pub charge: UnifiedCharge,
}

/// The unified model's requirement of one pool, per unit of notional, fixed when the pool is drawn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnifiedCharge {
    /// Per leg (in the order of `legs`): (initial, maintenance) per unit of the leg's `|q|·P`.
    pub leg: Vec<(f64, f64)>,
    /// Per asset of the pool: (asset, initial, maintenance) per unit of `|Σ q·P|` over its legs.
    pub net: Vec<(usize, f64, f64)>,
}

/// The unified model as the risk lab applies it: per venue the margin crate's venue, per asset its
/// delta-one stress.
#[derive(Debug, Clone)]
pub struct UnifiedRates {
    model: UnifiedModel,
    venue: Vec<Venue>,
    asset: Vec<String>,
    mm: Vec<f64>,
    stress: Vec<f64>,
}

impl UnifiedRates {
    /// The bundled unified parameters at the config's horizon; errors name the key.
    pub fn new(c: &Config) -> Result<UnifiedRates, SimError> {
        let params = UnifiedParams::bundled().map_err(|e| cfg("hub", e.to_string()))?;
        let mut model = UnifiedModel::new(params);
        if let Some(h) = c.hub.horizon_s {
            model = model.with_horizon_s(h);
        }
        let mut venue = Vec::with_capacity(c.venues.len());
        for (i, v) in c.venues.iter().enumerate() {
            let (key, name) = match &v.model_venue {
                Some(m) => (format!("venues[{i}].model_venue"), m.as_str()),
                None => (format!("venues[{i}].name"), v.name.as_str()),
            };
            let mv: Venue = name.parse().map_err(|_| {
                cfg(
                    key.clone(),
                    format!(
                        "{name:?} is not a venue of the unified model's parameters; set venues[{i}].model_venue to one of {}",
                        Venue::ALL.map(|v| v.as_str()).join(", ")
                    ),
                )
            })?;
            model
                .params
                .venue(mv)
                .map_err(|e| cfg(key, e.to_string()))?;
            venue.push(mv);
        }
        let stress = c
            .assets
            .iter()
            .map(|a| model.delta_one_stress(&a.name))
            .collect();
        Ok(UnifiedRates {
            venue,
            asset: c.assets.iter().map(|a| a.name.clone()).collect(),
            mm: c.venues.iter().map(|v| v.mm_rate).collect(),
            stress,
            model,
        })
    }

    /// Coefficients of a unified pool with these legs at `prices[venue * n_assets + asset]`, one leg
    /// per venue and asset (as the population draws them); the concentration charge is fixed at
    /// each leg's notional at these prices.
    pub fn charge(&self, legs: &[Leg], prices: &[f64]) -> Result<UnifiedCharge, SimError> {
        let na = self.asset.len();
        let mut out = UnifiedCharge::default();
        for l in legs {
            let gross = (l.q * prices[l.venue * na + l.asset]).abs();
            let r = self
                .model
                .linear_leg_rates(
                    self.venue[l.venue],
                    &self.asset[l.asset],
                    self.mm[l.venue],
                    gross,
                )
                .map_err(|e| cfg(format!("venues[{}]", l.venue), e.to_string()))?;
            out.leg.push((r.initial, r.maintenance));
            if !out.net.iter().any(|n| n.0 == l.asset) {
                let s = self.stress[l.asset];
                out.net
                    .push((l.asset, s, self.model.params.maintenance_fraction * s));
            }
        }
        Ok(out)
    }
}

/// Maintenance and penalty constants the pool evaluation needs.
#[derive(Debug, Clone)]
pub struct Rates {
    /// Maintenance fraction per venue.
    pub mm: Vec<f64>,
    /// Initial fraction per venue.
    pub im: Vec<f64>,
}

impl Rates {
    /// From the config.
    pub fn new(c: &Config) -> Rates {
        Rates {
            mm: c.venues.iter().map(|v| v.mm_rate).collect(),
            im: c.venues.iter().map(|v| v.im_rate).collect(),
        }
    }
}

impl Pool {
    /// Equity at `prices[venue * n_assets + asset]`.
    pub fn equity(&self, prices: &[f64], n_assets: usize) -> f64 {
        self.collateral
            + self
                .legs
                .iter()
                .map(|l| l.q * (prices[l.venue * n_assets + l.asset] - l.p0))
                .sum::<f64>()
    }

    /// Requirement (`initial = false` for maintenance) at the given prices.
    pub fn requirement(&self, prices: &[f64], n_assets: usize, r: &Rates, initial: bool) -> f64 {
        let rate = |v: usize| if initial { r.im[v] } else { r.mm[v] };
        if !self.unified {
            return self
                .legs
                .iter()
                .map(|l| rate(l.venue) * l.q.abs() * prices[l.venue * n_assets + l.asset])
                .sum();
        }
        // Unified: the model's coefficients; netting happens within an asset only, and every
        // leg keeps its venue's own floor.
        let mut total = 0.0;
        for (l, c) in self.legs.iter().zip(&self.charge.leg) {
            let k = if initial { c.0 } else { c.1 };
            total += k * l.q.abs() * prices[l.venue * n_assets + l.asset];
        }
        for &(a, si, sm) in &self.charge.net {
            let net: f64 = self
                .legs
                .iter()
                .filter(|l| l.asset == a)
                .map(|l| l.q * prices[l.venue * n_assets + l.asset])
                .sum();
            total += if initial { si } else { sm } * net.abs();
        }
        total
    }

    /// Gross notional at the given prices.
    pub fn notional(&self, prices: &[f64], n_assets: usize) -> f64 {
        self.legs
            .iter()
            .map(|l| (l.q * prices[l.venue * n_assets + l.asset]).abs())
            .sum()
    }
}

/// Generated population.
#[derive(Debug, Clone)]
pub struct PopulationBook {
    /// Every pool.
    pub pools: Vec<Pool>,
    /// Sum of collateral.
    pub total_collateral: f64,
    /// Sum of gross notional at start.
    pub total_notional: f64,
    /// Number of accounts.
    pub accounts: usize,
}

/// Draws the population (deterministic from the seed, independent of the path streams).
pub fn generate(c: &Config) -> Result<PopulationBook, SimError> {
    let p = &c.population;
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed ^ 0x9E37_79B9_7F4A_7C15);
    rng.set_stream(u64::MAX);
    let ln = LogNormal::new(p.notional_median.ln(), p.notional_sigma)
        .map_err(|e| cfg("population.notional_sigma", e.to_string()))?;
    let cushion = if p.mean_cushion > 0.0 {
        Some(
            Exp::new(1.0 / p.mean_cushion)
                .map_err(|e| cfg("population.mean_cushion", e.to_string()))?,
        )
    } else {
        None
    };
    let n_assets = c.assets.len();
    let nv = c.venues.len();
    let start: Vec<f64> = (0..nv)
        .flat_map(|_| c.assets.iter().map(|a| a.price))
        .collect();
    let rates = Rates::new(c);
    let unified_rates = if p.margining == Margining::Unified && p.hub_fraction > 0.0 {
        Some(UnifiedRates::new(c)?)
    } else {
        None
    };
    let mut pools = Vec::with_capacity(p.accounts * 2);
    for i in 0..p.accounts {
        let a = rng.gen_range(0..n_assets);
        let price = c.assets[a].price;
        let notional: f64 = rng.sample(ln);
        let q = notional / price;
        let cush = cushion.map(|d| rng.sample(d)).unwrap_or(0.0);
        let hub = rng.gen::<f64>() < p.hub_fraction;
        let long = rng.gen::<f64>() < p.long_fraction;
        let s = if long { 1.0 } else { -1.0 };
        let mut legs = vec![Leg {
            venue: rng.gen_range(0..nv),
            asset: a,
            q: s * q,
            p0: price,
        }];
        if hub {
            let mut v2 = rng.gen_range(0..nv - 1);
            if v2 >= legs[0].venue {
                v2 += 1;
            }
            legs.push(Leg {
                venue: v2,
                asset: a,
                q: -s * q * p.hub_hedge_ratio,
                p0: price,
            });
            legs.retain(|l| l.q != 0.0);
        }
        let unified = hub && p.margining == Margining::Unified;
        if unified || legs.len() == 1 {
            let charge = match (&unified_rates, unified) {
                (Some(u), true) => u.charge(&legs, &start)?,
                _ => UnifiedCharge::default(),
            };
            let mut pool = Pool {
                account: i,
                legs,
                collateral: 0.0,
                unified,
                charge,
            };
            pool.collateral =
                pool.requirement(&start, n_assets, &rates, true) * p.im_multiplier * (1.0 + cush);
            pools.push(pool);
        } else {
            for l in legs {
                let mut pool = Pool {
                    account: i,
                    legs: vec![l],
                    collateral: 0.0,
                    unified: false,
                    charge: UnifiedCharge::default(),
                };
                pool.collateral = pool.requirement(&start, n_assets, &rates, true)
                    * p.im_multiplier
                    * (1.0 + cush);
                pools.push(pool);
            }
        }
    }
    let total_collateral = pools.iter().map(|p| p.collateral).sum();
    let total_notional = pools.iter().map(|p| p.notional(&start, n_assets)).sum();
    Ok(PopulationBook {
        pools,
        total_collateral,
        total_notional,
        accounts: p.accounts,
    })
}
