//! From LP flows to an executable plan: integer amounts, exact fees, and an order in which
//! no location ever spends what it does not yet hold.

use intermargin_model::Amount;
use serde::{Deserialize, Serialize};

use crate::error::AllocateError;
use crate::lp::{self, FeeMode, LpOutcome};
use crate::problem::{Prepared, Problem};

/// Where one asset should sit at one location once the plan has run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Location.
    pub location: String,
    /// Asset symbol.
    pub asset: String,
    /// Balance now, base units.
    pub current: Amount,
    /// Balance after every transfer of the plan, base units.
    pub target: Amount,
    /// `target - current`, base units.
    pub change: Amount,
}

/// One transfer of the plan, in execution order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Position in the plan, from 0.
    pub step: usize,
    /// Index of the route used, in the input's `routes`.
    pub route: usize,
    /// Source location.
    pub from: String,
    /// Destination location.
    pub to: String,
    /// Asset moved.
    pub asset: String,
    /// Amount debited at the source, base units.
    pub amount: Amount,
    /// Fee charged (fixed plus proportional, rounded up), base units.
    pub fee: Amount,
    /// Amount credited at the destination (`amount - fee`), base units.
    pub received: Amount,
    /// The route's latency: seconds from sending to the funds being usable at the destination.
    pub latency_s: u64,
    /// Time the funds are usable at the destination, counted from the start of the plan, if
    /// each transfer starts as soon as the funds it spends have arrived (ms).
    pub arrives_after_ms: i64,
}

/// How well one requirement is covered before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    /// Location, or `total` for a requirement over all locations.
    pub location: String,
    /// Requirement, quote currency.
    pub requirement: f64,
    /// Haircut collateral value now, quote currency.
    pub value_before: f64,
    /// Haircut collateral value after the plan, quote currency.
    pub value_after: f64,
    /// `value_before / requirement`; `None` when the requirement is zero.
    pub ratio_before: Option<f64>,
    /// `value_after / requirement`; `None` when the requirement is zero.
    pub ratio_after: Option<f64>,
    /// Seconds until the plan covers this location's requirement: 0 when covered now, `None` when
    /// the plan does not cover it (outgoing transfers count at once, incoming ones on arrival).
    pub time_to_cure_s: Option<u64>,
}

/// A requirement that the plan cannot cover, and by how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    /// Location, or `total`.
    pub location: String,
    /// Haircut collateral value missing after the plan, quote currency.
    pub amount: f64,
}

/// The decision: target holdings, the ordered transfers to reach them, and the coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// Holdings per location and asset after the plan (every pair held before or after).
    pub targets: Vec<Target>,
    /// Transfers in execution order.
    pub transfers: Vec<Transfer>,
    /// Coverage of every requirement.
    pub headroom: Vec<Headroom>,
    /// Requirements still not met after the plan (empty when the plan covers everything).
    pub shortfall: Vec<Shortfall>,
    /// Worst `ratio_after` over location requirements (what stage 1 maximised).
    pub worst_ratio: Option<f64>,
    /// Stage 1's optimum of the worst ratio, against requirements padded for rounding
    /// (locations no active route touches are left out).
    pub lp_worst_ratio: Option<f64>,
    /// Total fees of the plan, valued in the quote currency.
    pub fees_quote: f64,
    /// Seconds until every location requirement is covered (the largest `headroom[].time_to_cure_s`);
    /// `None` when some shortfall remains after the plan.
    pub time_to_cure_s: Option<u64>,
    /// Set when the LP solver failed numerically: the plan then makes no transfers and the
    /// shortfall reports what stays uncovered, so the caller still gets a safe answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver_note: Option<String>,
}

/// Haircut value of the holdings that count for a requirement (debt at full price).
pub(crate) fn requirement_value(
    prep: &Prepared,
    location: Option<usize>,
    holdings: &[Vec<i128>],
) -> f64 {
    let value_at = |l: usize, weight: &dyn Fn(usize) -> f64| -> f64 {
        holdings[l]
            .iter()
            .enumerate()
            .map(|(a, &h)| {
                let units = h as f64 / prep.scale[a];
                if h >= 0 {
                    weight(a) * units
                } else {
                    prep.assets[a].price * units
                }
            })
            .sum()
    };
    match location {
        Some(l) => value_at(l, &|a| prep.weight[l][a]),
        None => (0..prep.locations.len())
            .map(|l| {
                value_at(l, &|a| {
                    prep.assets[a].price * (1.0 - prep.assets[a].haircut)
                })
            })
            .sum(),
    }
}

/// Below half a base unit a flow is solver noise, not a transfer.
fn used(prep: &Prepared, r: usize, flow: f64) -> bool {
    flow * prep.scale[prep.routes[r].asset] >= 0.5
}

/// Chooses the routes to use and solves for the flows.
///
/// Fixed fees and minimum amounts make the exact problem a mixed-integer one. The allocator
/// solves it by route selection: a relaxed LP (fixed fees spread over capacity) picks the
/// candidate routes; exact LPs (fixed fees charged on every active route) then drop routes
/// that carry nothing until the set is stable; a last LP imposes the minimum amounts,
/// dropping the route furthest below its minimum while that is infeasible. With proportional
/// fees only, the first solve is already exact and optimal.
fn select_and_solve(prep: &Prepared, terms: &[lp::ReqTerms]) -> Result<LpOutcome, AllocateError> {
    let mut active: Vec<bool> = prep.routes.iter().map(|r| r.eligible).collect();
    let needs_selection = prep
        .routes
        .iter()
        .any(|r| r.eligible && (r.fee_fixed > 0 || r.min_amount > 0));
    let relaxed = lp::solve(prep, terms, &active, FeeMode::Relaxed)?
        .ok_or_else(|| AllocateError::Solver("relaxed programme infeasible".to_string()))?;
    if !needs_selection {
        return Ok(relaxed);
    }
    for (r, on) in active.iter_mut().enumerate() {
        *on = *on && used(prep, r, relaxed.flows[r]);
    }
    let mut last = relaxed;
    // Charge fixed fees on every active route; drop the routes that then carry nothing.
    // Each round either stops or deactivates at least one route, so this terminates.
    for _ in 0..=prep.routes.len() {
        let mode = FeeMode::Exact {
            lower_bounds: false,
        };
        last = lp::solve(prep, terms, &active, mode)?
            .ok_or_else(|| AllocateError::Solver("exact programme infeasible".to_string()))?;
        let next: Vec<bool> = (0..active.len())
            .map(|r| active[r] && used(prep, r, last.flows[r]))
            .collect();
        if next == active {
            break;
        }
        active = next;
    }
    // Impose the minimum amounts; while infeasible, drop the active route whose last flow
    // is furthest below its minimum.
    loop {
        let mode = FeeMode::Exact { lower_bounds: true };
        if let Some(out) = lp::solve(prep, terms, &active, mode)? {
            return Ok(out);
        }
        let fill = |r: usize| {
            let route = &prep.routes[r];
            last.flows[r] * prep.scale[route.asset] / route.lower.max(1) as f64
        };
        let worst = (0..active.len())
            .filter(|&r| active[r])
            .min_by(|&x, &y| fill(x).total_cmp(&fill(y)));
        match worst {
            Some(r) => active[r] = false,
            None => {
                return Err(AllocateError::Solver(
                    "programme without routes is infeasible".to_string(),
                ))
            }
        }
    }
}

/// Turns flows into integer transfers, executed in an order where every transfer's source
/// already holds what it sends; returns the transfers and the final balances.
fn integer_plan(
    prep: &Prepared,
    flows: &[f64],
) -> Result<(Vec<Transfer>, Vec<Vec<i128>>), AllocateError> {
    let nl = prep.locations.len();
    let na = prep.assets.len();
    let mut pending: Vec<(usize, i128)> = Vec::new();
    let mut pending_in = vec![vec![0usize; na]; nl];
    for (r, &f) in flows.iter().enumerate() {
        if !used(prep, r, f) {
            continue;
        }
        let route = &prep.routes[r];
        // Round the amount up: the destination gets at least what the LP planned.
        let planned = ((f * prep.scale[route.asset]).ceil() as i128)
            .max(route.lower)
            .min(route.cap);
        pending.push((r, planned));
        pending_in[route.to][route.asset] += 1;
    }

    let mut bal = prep.holdings.clone();
    let mut ready_at = vec![vec![0i64; na]; nl];
    let mut transfers = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        // A transfer is ready when nothing more will arrive at its source; if flows form a
        // cycle (they should not: moving costs), take the one its source can best afford.
        let pick = pending
            .iter()
            .position(|&(r, _)| {
                let route = &prep.routes[r];
                pending_in[route.from][route.asset] == 0
            })
            .unwrap_or_else(|| {
                (0..pending.len())
                    .max_by_key(|&i| {
                        let (r, planned) = pending[i];
                        let route = &prep.routes[r];
                        bal[route.from][route.asset].saturating_sub(planned)
                    })
                    .unwrap_or(0)
            });
        let (r, planned) = pending.remove(pick);
        let route = &prep.routes[r];
        let a = route.asset;
        pending_in[route.to][a] -= 1;
        let amount = planned.min(bal[route.from][a].max(0));
        if amount < route.lower {
            continue;
        }
        let overflow = || AllocateError::Overflow {
            field: format!("routes[{r}]"),
        };
        let fee = route.fee(amount).ok_or_else(overflow)?;
        let received = amount - fee;
        bal[route.from][a] -= amount;
        bal[route.to][a] = bal[route.to][a]
            .checked_add(received)
            .ok_or_else(overflow)?;
        let arrives = ready_at[route.from][a].saturating_add(route.latency_ms);
        ready_at[route.to][a] = ready_at[route.to][a].max(arrives);
        transfers.push(Transfer {
            step: transfers.len(),
            route: r,
            from: prep.locations[route.from].clone(),
            to: prep.locations[route.to].clone(),
            asset: prep.assets[a].symbol.clone(),
            amount: Amount(amount),
            fee: Amount(fee),
            received: Amount(received),
            latency_s: (route.latency_ms / 1000).max(0) as u64,
            arrives_after_ms: arrives,
        });
    }
    Ok((transfers, bal))
}

/// Decides where collateral should sit and the ordered transfers to get there.
///
/// Lexicographic objective: first maximise the worst location's headroom ratio
/// (haircut collateral value / requirement), then minimise transfer fees at that ratio.
/// Running short is not an error: the uncovered part is returned per location in
/// [`Allocation::shortfall`].
pub fn allocate(problem: &Problem) -> Result<Allocation, AllocateError> {
    let prep = problem.prepare()?;
    let terms = lp::requirement_terms(&prep);
    let (flows, lp_worst_ratio, solver_note) = match select_and_solve(&prep, &terms) {
        Ok(out) => (out.flows, out.worst_ratio, None),
        Err(AllocateError::Solver(msg)) => (
            vec![0.0; prep.routes.len()],
            None,
            Some(format!("LP solver failed ({msg}); no transfers planned")),
        ),
        Err(e) => return Err(e),
    };
    let (mut transfers, mut after) = integer_plan(&prep, &flows)?;
    // Route selection is a heuristic when fixed fees or minimums apply: never return a plan
    // whose worst ratio (capped at the target) is below that of doing nothing.
    let cap = prep.target_ratio.unwrap_or(f64::INFINITY);
    let worst = |bal: &[Vec<i128>]| worst_location_ratio(&prep, bal).map(|w| w.min(cap));
    if let (Some(now), Some(planned)) = (worst(&prep.holdings), worst(&after)) {
        if planned < now - 1e-9 * now.abs().max(1.0) {
            transfers.clear();
            after = prep.holdings.clone();
        }
    }

    let mut targets = Vec::new();
    for (l, name) in prep.locations.iter().enumerate() {
        for (a, spec) in prep.assets.iter().enumerate() {
            let (now, then) = (prep.holdings[l][a], after[l][a]);
            if now == 0 && then == 0 {
                continue;
            }
            targets.push(Target {
                location: name.clone(),
                asset: spec.symbol.clone(),
                current: Amount(now),
                target: Amount(then),
                change: Amount(then - now),
            });
        }
    }

    let mut headroom = Vec::with_capacity(prep.requirements.len());
    let mut shortfall = Vec::new();
    let mut worst_ratio: Option<f64> = None;
    for (req, term) in prep.requirements.iter().zip(&terms) {
        let name = req
            .location
            .map_or_else(|| "total".to_string(), |l| prep.locations[l].clone());
        let value_after = requirement_value(&prep, req.location, &after);
        let ratio = |v: f64| (req.requirement > 0.0).then(|| v / req.requirement);
        let ratio_after = ratio(value_after);
        if let (Some(_), Some(r)) = (req.location, ratio_after) {
            worst_ratio = Some(worst_ratio.map_or(r, |w: f64| w.min(r)));
        }
        if value_after < req.requirement {
            shortfall.push(Shortfall {
                location: name.clone(),
                amount: req.requirement - value_after,
            });
        }
        let time_to_cure_s = match req.location {
            Some(l) => time_to_cure(&prep, l, req.requirement, &transfers, &prep.holdings),
            None => (value_after >= req.requirement).then_some(0),
        };
        headroom.push(Headroom {
            time_to_cure_s,
            location: name,
            requirement: req.requirement,
            value_before: term.base_value,
            value_after,
            ratio_before: ratio(term.base_value),
            ratio_after,
        });
    }
    let fees_quote = transfers
        .iter()
        .map(|t| {
            let a = prep.routes[t.route].asset;
            t.fee.0 as f64 / prep.scale[a] * prep.assets[a].price
        })
        .sum();
    let time_to_cure_s = headroom
        .iter()
        .map(|h| h.time_to_cure_s)
        .try_fold(0u64, |acc, t| t.map(|t| acc.max(t)));
    Ok(Allocation {
        time_to_cure_s,
        targets,
        transfers,
        headroom,
        shortfall,
        worst_ratio,
        lp_worst_ratio,
        fees_quote,
        solver_note,
    })
}

/// Seconds until location `l` covers `requirement` under the plan: what leaves `l` is gone at once,
/// what arrives counts from its arrival time; `None` if it is never covered.
fn time_to_cure(
    prep: &Prepared,
    l: usize,
    requirement: f64,
    transfers: &[Transfer],
    start: &[Vec<i128>],
) -> Option<u64> {
    let mut bal = start.to_vec();
    let covered = |b: &[Vec<i128>]| requirement_value(prep, Some(l), b) >= requirement;
    if covered(&bal) {
        return Some(0);
    }
    let mut incoming: Vec<&Transfer> = Vec::new();
    for t in transfers {
        let route = &prep.routes[t.route];
        if route.from == l {
            bal[l][route.asset] -= t.amount.0;
        } else if route.to == l {
            incoming.push(t);
        }
    }
    incoming.sort_by_key(|t| t.arrives_after_ms);
    for t in incoming {
        let route = &prep.routes[t.route];
        bal[l][route.asset] += t.received.0;
        if covered(&bal) {
            return Some((t.arrives_after_ms.max(0) as u64).div_ceil(1000));
        }
    }
    None
}

/// Worst haircut-value / requirement over location requirements with a positive requirement.
fn worst_location_ratio(prep: &Prepared, bal: &[Vec<i128>]) -> Option<f64> {
    prep.requirements
        .iter()
        .filter(|r| r.location.is_some() && r.requirement > 0.0)
        .map(|r| requirement_value(prep, r.location, bal) / r.requirement)
        .reduce(f64::min)
}
