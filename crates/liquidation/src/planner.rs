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
}

struct Leg {
    venue: String,
    id: String,
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
    let state = classify(&before);
    let b = 1.0 + opts.buffer;
    let mut legs = Vec::with_capacity(account.positions.len());
    let hf = before.health_ratio();
    for p in &account.positions {
        let v = leg_value(p, market)?;
        let id = p.instrument.id();
        let r = rules.get(p.instrument.venue);
        let notional = p.size.abs() * v.notional_per_contract;
        let allowed = if state == AccountState::Bankrupt {
            p.size.abs()
        } else {
            p.size.abs() * r.close_fraction(notional, hf)
        };
        legs.push(Leg {
            venue: p.instrument.venue.to_string(),
            impact: depth.get(&id),
            id,
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
    let mut mm = before.maintenance;
    let mut im = before.initial;

    if state == AccountState::Bankrupt {
        for (i, l) in legs.iter().enumerate() {
            closed[i] = l.size.abs();
            cost += l.cost(closed[i]);
            sizes[i] = 0.0;
        }
        let after = req
            .requirement(&with_sizes(account, &sizes), market)?
            .figures;
        mm = after.maintenance;
        im = after.initial;
    } else if state == AccountState::Liquidation {
        let mut exhausted = vec![false; legs.len()];
        for _round in 0..legs.len() {
            let equity = before.equity - cost;
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
                let m = req
                    .requirement(&with_sizes(account, &reduced(&sizes, i, probe)), market)?
                    .figures
                    .maintenance;
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
            let health = |x: f64| -> Result<(f64, f64, f64), LiquidationError> {
                let f = req
                    .requirement(&with_sizes(account, &reduced(&sizes, pick, x)), market)?
                    .figures;
                Ok((
                    equity - l.cost(x) - f.maintenance * b,
                    f.maintenance,
                    f.initial,
                ))
            };
            // h is concave in x for convex requirements and convex costs: find its peak on
            // [0, room] (golden section), then the smallest x reaching h ≥ 0 below the peak.
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
            let (h_peak, mm_peak, im_peak) = health(peak)?;
            let (x, new_mm, new_im) = if h_peak >= 0.0 {
                let (mut lo, mut hi) = (0.0, peak);
                let mut at = (mm_peak, im_peak);
                while hi - lo > opts.tolerance * room.max(1e-12) {
                    let mid = 0.5 * (lo + hi);
                    let (h, m, i) = health(mid)?;
                    if h >= 0.0 {
                        hi = mid;
                        at = (m, i);
                    } else {
                        lo = mid;
                    }
                }
                (hi, at.0, at.1)
            } else {
                // Cannot reach the target on this leg: go to the peak only if health improves.
                let e_after = equity - l.cost(peak);
                let improves = e_after >= 0.0
                    && peak > 0.0
                    && (mm_peak <= 0.0 || e_after / mm_peak >= equity / mm);
                if !improves {
                    exhausted[pick] = true;
                    continue;
                }
                (peak, mm_peak, im_peak)
            };
            cost += l.cost(x);
            closed[pick] += x;
            sizes = reduced(&sizes, pick, x);
            mm = new_mm;
            im = new_im;
            exhausted[pick] = closed[pick] >= l.allowed || x < room;
        }
    }

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
    Ok(LiquidationPlan {
        state,
        margin_before: before,
        plan,
        margin_after: after,
        state_after: classify(&after),
        bad_debt: (-after.equity).max(0.0),
        driver: r0.driver,
    })
}
