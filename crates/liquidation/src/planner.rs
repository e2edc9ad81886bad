//! The partial-liquidation planner: which legs to reduce, and by how much.
//!
//! Goal (mango's "liquidation end" health): equity after costs ≥ maintenance × (1 + buffer).
//! Each round scores every leg by the requirement it frees per unit of notional closed, net
//! of penalty and impact (`(ΔMM·(1+b) − cost) / notional`), skips legs whose reduction does not
//! lower the requirement (hedges), prefers the driving leg the margin explanation names when it
//! is within 10% of the best score, then searches the smallest reduction of that leg that
//! restores the target (bisection on the requirement function, mango's
//! `max_swap_source_for_health_ratio` idea). A round that would lower equity / maintenance is
//! not taken. Bankrupt accounts are closed in full; the waterfall pays the rest.

use intermargin_model::{Account, Market};
use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};
use crate::impact::DepthBook;
use crate::requirement::RequirementFn;
use crate::rules::RuleBook;
use crate::state::{classify, AccountState, Figures};
use crate::valuation::leg_value;

/// Planner settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlannerOptions {
    /// Target equity ≥ maintenance × (1 + buffer); also the hysteresis exit buffer.
    pub buffer: f64,
    /// Relative precision of the size search.
    pub tolerance: f64,
}

impl Default for PlannerOptions {
    fn default() -> Self {
        PlannerOptions {
            buffer: 0.05,
            tolerance: 1e-9,
        }
    }
}

/// One leg of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLeg {
    /// Venue of the leg.
    pub venue: String,
    /// Instrument id (`venue:symbol`).
    pub instrument: String,
    /// Contracts to close (positive; the side is `side`).
    pub reduce: f64,
    /// `sell` to reduce a long, `buy` to reduce a short.
    pub side: String,
    /// Average execution price after impact, in the instrument's quote currency.
    pub expected_price: f64,
    /// Notional closed, quote currency.
    pub notional: f64,
    /// Impact cost against the mark, quote currency.
    pub impact_cost: f64,
    /// Liquidation penalty, quote currency.
    pub fee: f64,
    /// Share of the penalty to the liquidator.
    pub fee_to_liquidator: f64,
    /// Share of the penalty to the insurance fund.
    pub fee_to_insurance: f64,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiquidationPlan {
    /// State before the plan.
    pub state: AccountState,
    /// Figures before.
    pub margin_before: Figures,
    /// Legs to close, in order.
    pub plan: Vec<PlanLeg>,
    /// Figures after the plan (equity net of impact and penalties).
    pub margin_after: Figures,
    /// State after the plan.
    pub state_after: AccountState,
    /// Equity deficit left for the insurance fund / ADL / socialisation (≥ 0).
    pub bad_debt: f64,
    /// Driving leg named by the margin model, when any.
    pub driver: Option<String>,
    /// Each margin pool's state before and after, when the model has pools: the account's
    /// state is the worst of them (a surplus in one pool never covers another).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolOutcome>,
}

/// One margin pool's verdict and figures before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolOutcome {
    /// Venue.
    pub venue: String,
    /// Settlement currency.
    pub settlement: String,
    /// Pool label (`cross`, `isolated:<id>:<side>`, `subaccount:<n>`).
    pub pool: String,
    /// State before the plan.
    pub state: AccountState,
    /// Figures before (quote currency).
    pub margin_before: Figures,
    /// State after the plan.
    pub state_after: AccountState,
    /// Figures after (equity net of the plan's costs in this pool).
    pub margin_after: Figures,
}

type PoolKey = (String, String, String);

/// The pool key of a position, as the venue models label their pools.
#[cfg(feature = "margin-models")]
fn position_pool(
    p: &intermargin_model::Position,
    market: &intermargin_model::Market,
) -> Option<PoolKey> {
    let (v, s, l) = intermargin_margin::pool_of_in(p, market);
    Some((v.to_string(), s, l))
}

#[cfg(not(feature = "margin-models"))]
fn position_pool(
    _: &intermargin_model::Position,
    _: &intermargin_model::Market,
) -> Option<PoolKey> {
    None
}

struct Leg {
    venue: String,
    id: String,
    pool: Option<PoolKey>,
    size: f64,
    mark: f64,
    per: f64,
    fee_rate: f64,
    insurance_share: f64,
    allowed: f64,
    impact: crate::impact::ImpactParams,
}

impl Leg {
    fn notional(&self, x: f64) -> f64 {
        x * self.per
    }
    fn impact_cost(&self, x: f64) -> f64 {
        self.impact.cost(self.notional(x))
    }
    fn fee(&self, x: f64) -> f64 {
        (self.notional(x) - self.impact_cost(x)).max(0.0) * self.fee_rate
    }
    fn cost(&self, x: f64) -> f64 {
        self.impact_cost(x) + self.fee(x)
    }
}

fn with_sizes(account: &Account, sizes: &[f64]) -> Account {
    let mut a = account.clone();
    a.positions = account
        .positions
        .iter()
        .zip(sizes)
        .filter(|(_, s)| s.abs() > 0.0)
        .map(|(p, s)| {
            let mut p = p.clone();
            p.size = *s;
            p
        })
        .collect();
    a
}

fn reduced(sizes: &[f64], i: usize, x: f64) -> Vec<f64> {
    let mut s = sizes.to_vec();
    let left = (s[i].abs() - x).max(0.0);
    s[i] = s[i].signum() * left;
    s
}

/// Plans the liquidation of `account`.
pub fn plan_liquidation(
    account: &Account,
    market: &Market,
    req: &dyn RequirementFn,
    depth: &DepthBook,
    rules: &RuleBook,
    opts: PlannerOptions,
) -> Result<LiquidationPlan, LiquidationError> {
    if !(opts.buffer.is_finite() && opts.buffer >= 0.0) {
        return Err(param(
            "buffer",
            format!("must be >= 0, got {}", opts.buffer),
        ));
    }
    let r0 = req.requirement(account, market)?;
    let before = r0.figures;
    // Each pool is judged and liquidated on its own (a dYdX subaccount, an isolated position, a
    // settlement currency); a model without pools is one pool, the whole account.
    let targets: Vec<Option<PoolKey>> = if r0.pools.is_empty() {
        vec![None]
    } else {
        r0.pools.iter().map(|p| Some(p.key())).collect()
    };
    let pool_before: Vec<Figures> = targets.iter().map(|k| r0.pool(k.as_ref())).collect();
    let pool_state: Vec<AccountState> = pool_before.iter().map(classify).collect();
    let state = pool_state
        .iter()
        .copied()
        .max()
        .unwrap_or(AccountState::Healthy);
    let b = 1.0 + opts.buffer;
    let mut legs = Vec::with_capacity(account.positions.len());
    for p in &account.positions {
        let v = leg_value(p, market)?;
        let id = p.instrument.id();
        let r = rules.get(p.instrument.venue);
        let notional = p.size.abs() * v.notional_per_contract;
        let pool = if r0.pools.is_empty() {
            None
        } else {
            position_pool(p, market)
        };
        let t = targets.iter().position(|k| *k == pool);
        let (pool_figures, pstate) = match t {
            Some(t) => (pool_before[t], pool_state[t]),
            None => (before, state),
        };
        let allowed = if pstate == AccountState::Bankrupt {
            p.size.abs()
        } else {
            p.size.abs() * r.close_fraction(notional, pool_figures.health_ratio())
        };
        legs.push(Leg {
            venue: p.instrument.venue.to_string(),
            impact: depth.get(&id),
            id,
            pool,
            size: p.size,
            mark: v.mark,
            per: v.notional_per_contract,
            fee_rate: r.liquidation_fee,
            insurance_share: r.insurance_share,
            allowed,
        });
    }
    let mut sizes: Vec<f64> = legs.iter().map(|l| l.size).collect();
    let mut closed = vec![0.0; legs.len()];
    let mut cost = 0.0;
    let mut pool_cost = vec![0.0; targets.len()];

    for (t, target) in targets.iter().enumerate() {
        let in_pool = |l: &Leg| target.is_none() || l.pool == *target;
        match pool_state[t] {
            AccountState::Bankrupt => {
                for (i, l) in legs.iter().enumerate() {
                    if in_pool(l) && closed[i] == 0.0 {
                        closed[i] = l.size.abs();
                        let c = l.cost(closed[i]);
                        cost += c;
                        pool_cost[t] += c;
                        sizes[i] = 0.0;
                    }
                }
            }
            AccountState::Liquidation => {
                let figures = |sizes: &[f64]| -> Result<Figures, LiquidationError> {
                    Ok(req
                        .requirement(&with_sizes(account, sizes), market)?
                        .pool(target.as_ref()))
                };
                let start = pool_before[t];
                let mut mm = start.maintenance;
                let mut exhausted: Vec<bool> = legs.iter().map(|l| !in_pool(l)).collect();
                for _round in 0..legs.len() {
                    let equity = start.equity - pool_cost[t];
                    if equity >= mm * b {
                        break;
                    }
                    // Score every leg on a small probe.
                    let mut best: Option<(usize, f64)> = None;
                    let mut driver_score: Option<(usize, f64)> = None;
                    for (i, l) in legs.iter().enumerate() {
                        let room = l.allowed - closed[i];
                        if exhausted[i] || room <= 0.0 {
                            continue;
                        }
                        let probe = room.min(l.size.abs() * 0.01).max(room * 1e-6);
                        let m = figures(&reduced(&sizes, i, probe))?.maintenance;
                        let freed = mm - m;
                        if freed <= mm.abs() * 1e-12 {
                            exhausted[i] = true; // a hedge or a leg that does not lower the requirement
                            continue;
                        }
                        let gain = freed * b - l.cost(probe);
                        if gain <= 0.0 {
                            continue;
                        }
                        let score = gain / l.notional(probe).max(f64::MIN_POSITIVE);
                        if best.is_none_or(|(_, s)| score > s) {
                            best = Some((i, score));
                        }
                        if r0.driver.as_deref() == Some(l.id.as_str()) {
                            driver_score = Some((i, score));
                        }
                    }
                    let Some((mut pick, best_score)) = best else {
                        break;
                    };
                    if let Some((d, s)) = driver_score {
                        if s >= 0.9 * best_score {
                            pick = d;
                        }
                    }
                    let l = &legs[pick];
                    let room = l.allowed - closed[pick];
                    let health = |x: f64| -> Result<(f64, f64), LiquidationError> {
                        let f = figures(&reduced(&sizes, pick, x))?;
                        Ok((equity - l.cost(x) - f.maintenance * b, f.maintenance))
                    };
                    // h is concave in x for convex requirements and convex costs: find its peak
                    // on [0, room] (golden section), then the smallest x reaching h ≥ 0 below it.
                    let phi = 0.5 * (5f64.sqrt() - 1.0);
                    let (mut a, mut z) = (0.0, room);
                    let mut c = z - phi * (z - a);
                    let mut d = a + phi * (z - a);
                    let (mut hc, mut hd) = (health(c)?.0, health(d)?.0);
                    while z - a > opts.tolerance * room.max(1e-12) {
                        if hc >= hd {
                            z = d;
                            d = c;
                            hd = hc;
                            c = z - phi * (z - a);
                            hc = health(c)?.0;
                        } else {
                            a = c;
                            c = d;
                            hc = hd;
                            d = a + phi * (z - a);
                            hd = health(d)?.0;
                        }
                    }
                    let peak = if health(room)?.0 >= hc.max(hd) {
                        room
                    } else {
                        0.5 * (a + z)
                    };
                    let (h_peak, mm_peak) = health(peak)?;
                    let (x, new_mm) = if h_peak >= 0.0 {
                        let (mut lo, mut hi) = (0.0, peak);
                        let mut at = mm_peak;
                        while hi - lo > opts.tolerance * room.max(1e-12) {
                            let mid = 0.5 * (lo + hi);
                            let (h, m) = health(mid)?;
                            if h >= 0.0 {
                                hi = mid;
                                at = m;
                            } else {
                                lo = mid;
                            }
                        }
                        (hi, at)
                    } else {
                        // Cannot reach the target on this leg: go to the peak only if health
                        // improves.
                        let e_after = equity - l.cost(peak);
                        let improves = e_after >= 0.0
                            && peak > 0.0
                            && (mm_peak <= 0.0 || e_after / mm_peak >= equity / mm);
                        if !improves {
                            exhausted[pick] = true;
                            continue;
                        }
                        (peak, mm_peak)
                    };
                    let c = l.cost(x);
                    cost += c;
                    pool_cost[t] += c;
                    closed[pick] += x;
                    sizes = reduced(&sizes, pick, x);
                    mm = new_mm;
                    exhausted[pick] = closed[pick] >= l.allowed || x < room;
                }
            }
            AccountState::Healthy | AccountState::MarginCall => {}
        }
    }
    let r_after = if closed.iter().any(|x| *x > 0.0) {
        req.requirement(&with_sizes(account, &sizes), market)?
    } else {
        r0.clone()
    };
    let mut pools = Vec::new();
    let mut state_after = AccountState::Healthy;
    for (t, target) in targets.iter().enumerate() {
        let mut f = r_after.pool(target.as_ref());
        f.equity = pool_before[t].equity - pool_cost[t];
        let s = classify(&f);
        state_after = state_after.max(s);
        if let Some((venue, settlement, pool)) = target {
            pools.push(PoolOutcome {
                venue: venue.clone(),
                settlement: settlement.clone(),
                pool: pool.clone(),
                state: pool_state[t],
                margin_before: pool_before[t],
                state_after: s,
                margin_after: f,
            });
        }
    }
    let mm = r_after.figures.maintenance;
    let im = r_after.figures.initial;

    let mut plan = Vec::new();
    for (i, l) in legs.iter().enumerate() {
        let x = closed[i];
        if x <= 0.0 {
            continue;
        }
        let n = l.notional(x);
        let sell = l.size > 0.0;
        let fee = l.fee(x);
        plan.push(PlanLeg {
            venue: l.venue.clone(),
            instrument: l.id.clone(),
            reduce: x,
            side: if sell { "sell" } else { "buy" }.into(),
            expected_price: l.impact.expected_price(l.mark, n, sell),
            notional: n,
            impact_cost: l.impact_cost(x),
            fee,
            fee_to_liquidator: fee * (1.0 - l.insurance_share),
            fee_to_insurance: fee * l.insurance_share,
        });
    }
    let after = Figures {
        equity: before.equity - cost,
        initial: im,
        maintenance: mm,
    };
    // Bad debt is what pools end below zero: one pool's surplus does not pay another's deficit
    // (the venue cannot take it).
    let bad_debt = if pools.is_empty() {
        (-after.equity).max(0.0)
    } else {
        pools
            .iter()
            .map(|p| (-p.margin_after.equity).max(0.0))
            .sum()
    };
    Ok(LiquidationPlan {
        state,
        margin_before: before,
        plan,
        margin_after: after,
        state_after,
        bad_debt,
        driver: r0.driver,
        pools,
    })
}
