//! The compact account population.
//!
//! Simplification (documented in `BENCH.md` and the crate docs): an account is one or two
//! linear perpetual legs (signed base quantity and entry price per venue and asset) and a
//! collateral balance in the quote currency. A silo pool is one leg on one venue with
//! `IM = im_rate·|q|·P·multiplier`, `MM = mm_rate·|q|·P` (dYdX's linear rule, reference §5.1).
//! A hub account holds a leg on two venues (a basis trade with `hub_hedge_ratio`); siloed, each
//! leg is its own pool with its own collateral; unified, one pool at the hub with
//! `MM = max(mm_rate)·|Σ q·P| + mm_gross_charge·Σ|q|·P` (net delta plus a gross basis charge).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp, LogNormal};

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
}

/// Maintenance and penalty constants the pool evaluation needs.
#[derive(Debug, Clone)]
pub struct Rates {
    /// Maintenance fraction per venue.
    pub mm: Vec<f64>,
    /// Initial fraction per venue.
    pub im: Vec<f64>,
    /// Hub gross charges (initial, maintenance).
    pub hub_im_gross: f64,
    /// Hub gross maintenance charge.
    pub hub_mm_gross: f64,
}

impl Rates {
    /// From the config.
    pub fn new(c: &Config) -> Rates {
        Rates {
            mm: c.venues.iter().map(|v| v.mm_rate).collect(),
            im: c.venues.iter().map(|v| v.im_rate).collect(),
            hub_im_gross: c.hub.im_gross_charge,
            hub_mm_gross: c.hub.mm_gross_charge,
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
        let gross_rate = if initial {
            r.hub_im_gross
        } else {
            r.hub_mm_gross
        };
        let mut net = 0.0;
        let mut gross = 0.0;
        let mut m = 0.0f64;
        for l in &self.legs {
            let v = l.q * prices[l.venue * n_assets + l.asset];
            net += v;
            gross += v.abs();
            m = m.max(rate(l.venue));
        }
        m * net.abs() + gross_rate * gross
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
            let mut pool = Pool {
                account: i,
                legs,
                collateral: 0.0,
                unified,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_requirement_nets_delta_and_charges_gross() {
        // Long 10 at 100 on venue 0, short 8 at 100 on venue 1; mm 3%/5%, gross 0.5%:
        // MM = 5% × |1000 − 800| + 0.5% × 1800 = 10 + 9 = 19.
        let r = Rates {
            mm: vec![0.03, 0.05],
            im: vec![0.05, 0.1],
            hub_im_gross: 0.01,
            hub_mm_gross: 0.005,
        };
        let pool = Pool {
            account: 0,
            legs: vec![
                Leg {
                    venue: 0,
                    asset: 0,
                    q: 10.0,
                    p0: 100.0,
                },
                Leg {
                    venue: 1,
                    asset: 0,
                    q: -8.0,
                    p0: 100.0,
                },
            ],
            collateral: 50.0,
            unified: true,
        };
        let prices = [100.0, 100.0];
        assert!((pool.requirement(&prices, 1, &r, false) - 19.0).abs() < 1e-12);
        let silo = Pool {
            unified: false,
            ..pool.clone()
        };
        // Siloed: 3% × 1000 + 5% × 800 = 70.
        assert!((silo.requirement(&prices, 1, &r, false) - 70.0).abs() < 1e-12);
        // Equity at 90 on both venues: 50 + 10(−10) − 8(−10) = 30.
        assert!((pool.equity(&[90.0, 90.0], 1) - 30.0).abs() < 1e-12);
    }
}
