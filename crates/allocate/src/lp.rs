//! The linear programme: where collateral should sit, as continuous flows on routes.
//!
//! Variables are the amounts sent on each active route (whole units of its asset) and `t`,
//! the worst headroom ratio. Holdings after the plan are affine in the flows:
//! `x[l,a] = h[l,a] + Σ_in (1 - p_r) f_r - Σ_in fixed_r - Σ_out f_r`, so no holding variable
//! is needed. Stage 1 maximises `t` subject to `value_i(x) >= t · R_i` for every location
//! requirement; stage 2 keeps `t` within a tolerance of that optimum and minimises fees.

use good_lp::{
    microlp, variable, Constraint, Expression, ProblemVariables, ResolutionError, Solution,
    SolverModel, Variable,
};

use crate::error::AllocateError;
use crate::problem::Prepared;

/// Relative safety margin on requirements, so solver round-off never lands below them.
const REL_BUFFER: f64 = 1e-6;
/// Stage 2 may give up this much of stage 1's worst ratio (relative), tried in order.
const STAGE_TOLERANCES: [f64; 3] = [1e-11, 1e-8, 1e-6];
/// Per unit of value moved, a tiny cost that breaks ties towards fewer, faster moves
/// (and removes zero-fee cycles); 1e-6 of the value = 0.01 bp.
const TIE_BREAK: f64 = 1e-6;

/// How fixed fees enter the programme (they are not linear: paid only if a route is used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeeMode {
    /// Fixed fees ignored in the flows and spread over the route's capacity in the cost
    /// (the LP relaxation of the fixed charge); used to choose which routes to use.
    Relaxed,
    /// Every active route is used: its fixed fee is charged; with `lower_bounds` its
    /// flow must also reach the route's minimum useful amount.
    Exact {
        /// Enforce `f_r >= lower_r` on active routes.
        lower_bounds: bool,
    },
}

/// Result of one two-stage solve.
#[derive(Debug, Clone)]
pub(crate) struct LpOutcome {
    /// Amount sent per route, whole units (0 on inactive routes).
    pub flows: Vec<f64>,
    /// Stage 1's optimum worst ratio (against buffered requirements), if any requirement counts.
    pub worst_ratio: Option<f64>,
}

/// Per-requirement data that does not change between solves.
#[derive(Debug, Clone)]
pub(crate) struct ReqTerms {
    /// Requirement plus rounding and round-off buffers, quote currency.
    pub buffered: f64,
    /// Haircut value before any transfer, quote currency.
    pub base_value: f64,
}

/// Buffers and base values of every requirement.
pub(crate) fn requirement_terms(prep: &Prepared) -> Vec<ReqTerms> {
    prep.requirements
        .iter()
        .map(|r| {
            // Integer rounding costs at most ~2 base units per route endpoint (amount rounded up
            // at the source, fee rounded up at the destination) plus clamping on pass-through.
            let mut rounding = 0.0;
            for (a, scale) in prep.scale.iter().enumerate() {
                let touching = prep
                    .routes
                    .iter()
                    .filter(|pr| {
                        pr.eligible
                            && pr.asset == a
                            && match r.location {
                                Some(l) => pr.from == l || pr.to == l,
                                None => true,
                            }
                    })
                    .count();
                if touching == 0 {
                    continue;
                }
                let w = match r.location {
                    Some(l) => prep.weight[l][a],
                    None => prep.assets[a].price * (1.0 - prep.assets[a].haircut),
                };
                rounding += w * (2.0 * touching as f64 + 2.0) / scale;
            }
            ReqTerms {
                buffered: r.requirement * (1.0 + REL_BUFFER) + rounding,
                base_value: crate::plan::requirement_value(prep, r.location, &prep.holdings),
            }
        })
        .collect()
}

struct Built {
    vars: ProblemVariables,
    flows: Vec<Option<Variable>>,
    t: Variable,
    constraints: Vec<Constraint>,
    cost: Expression,
    /// Whether any requirement takes part in the max-min.
    has_ratio: bool,
}

fn build(prep: &Prepared, terms: &[ReqTerms], active: &[bool], mode: FeeMode) -> Built {
    let mut vars = ProblemVariables::new();
    let flows: Vec<Option<Variable>> = prep
        .routes
        .iter()
        .zip(active)
        .map(|(r, &on)| {
            on.then(|| {
                let scale = prep.scale[r.asset];
                let lo = match mode {
                    FeeMode::Exact { lower_bounds: true } => r.lower as f64 / scale,
                    _ => 0.0,
                };
                vars.add(variable().min(lo).max(r.cap as f64 / scale))
            })
        })
        .collect();
    let mut t_def = variable();
    if let Some(cap) = prep.target_ratio {
        t_def = t_def.max(cap);
    }
    let t = vars.add(t_def);
    let exact = matches!(mode, FeeMode::Exact { .. });

    let mut constraints = Vec::new();
    // No location spends more than it has (debt is never moved, nor increased).
    let na = prep.assets.len();
    for l in 0..prep.locations.len() {
        for a in 0..na {
            let mut net = Expression::with_capacity(4);
            let mut any_out = false;
            for (r, f) in prep.routes.iter().zip(&flows) {
                let Some(f) = f else { continue };
                if r.asset != a {
                    continue;
                }
                if r.from == l {
                    net.add_mul(-1.0, *f);
                    any_out = true;
                } else if r.to == l {
                    net.add_mul(1.0 - r.rate(), *f);
                    if exact {
                        net -= r.fee_fixed as f64 / prep.scale[a];
                    }
                }
            }
            if any_out {
                let have = prep.holdings[l][a].max(0) as f64 / prep.scale[a];
                constraints.push(net.geq(-have));
            }
        }
    }

    let mut has_ratio = false;
    for (req, term) in prep.requirements.iter().zip(terms) {
        if req.requirement <= 0.0 {
            continue;
        }
        let mut value = Expression::with_capacity(8);
        let mut touched = false;
        for (r, f) in prep.routes.iter().zip(&flows) {
            let Some(f) = f else { continue };
            let scale = prep.scale[r.asset];
            match req.location {
                Some(l) => {
                    let w = prep.weight[l][r.asset];
                    if r.to == l {
                        value.add_mul(w * (1.0 - r.rate()), *f);
                        if exact {
                            value -= w * r.fee_fixed as f64 / scale;
                        }
                        touched = true;
                    } else if r.from == l {
                        value.add_mul(-w, *f);
                        touched = true;
                    }
                }
                None => {
                    let w = prep.assets[r.asset].price * (1.0 - prep.assets[r.asset].haircut);
                    value.add_mul(-w * r.rate(), *f);
                    if exact {
                        value -= w * r.fee_fixed as f64 / scale;
                    }
                }
            }
        }
        value += term.base_value;
        match req.location {
            // value / R' >= t, scaled so that every row is of order one.
            Some(_) if touched => {
                has_ratio = true;
                let scaled = value * (1.0 / term.buffered);
                constraints.push(scaled.geq(t));
            }
            Some(_) => {}
            // The unified total changes only by fees: never let fees push it under the
            // requirement if it is met now (it is not part of the max-min, which fees would freeze).
            None => {
                let floor = term.buffered.min(term.base_value);
                constraints.push((value * (1.0 / term.buffered)).geq(floor / term.buffered));
            }
        }
    }

    let mut cost = Expression::with_capacity(flows.len());
    for (r, f) in prep.routes.iter().zip(&flows) {
        let Some(f) = f else { continue };
        let price = prep.assets[r.asset].price;
        let scale = prep.scale[r.asset];
        let latency_hours = r.latency_ms as f64 / 3_600_000.0;
        let mut per_unit = price * (r.rate() + TIE_BREAK * (1.0 + latency_hours));
        if mode == FeeMode::Relaxed && r.cap > 0 {
            per_unit += price * (r.fee_fixed as f64 / scale) / (r.cap as f64 / scale);
        }
        cost.add_mul(per_unit, *f);
    }

    Built {
        vars,
        flows,
        t,
        constraints,
        cost,
        has_ratio,
    }
}

fn run<M: SolverModel<Error = ResolutionError>>(
    model: M,
) -> Result<Option<M::Solution>, AllocateError> {
    match model.solve() {
        Ok(s) => Ok(Some(s)),
        Err(ResolutionError::Infeasible) => Ok(None),
        Err(e) => Err(AllocateError::Solver(e.to_string())),
    }
}

/// Solves stage 1 (max worst ratio) then stage 2 (min cost at that ratio) on the active routes.
///
/// `Ok(None)` means the programme is infeasible, which only the lower bounds can cause.
pub(crate) fn solve(
    prep: &Prepared,
    terms: &[ReqTerms],
    active: &[bool],
    mode: FeeMode,
) -> Result<Option<LpOutcome>, AllocateError> {
    let b = build(prep, terms, active, mode);
    let worst_ratio = if b.has_ratio {
        let mut model = b.vars.maximise(b.t).using(microlp);
        for c in b.constraints {
            model = model.with(c);
        }
        match run(model)? {
            Some(sol) => Some(sol.value(b.t)),
            None => return Ok(None),
        }
    } else {
        None
    };

    // Stage 2 keeps t within a hair of the optimum (far below one base unit of value); if
    // round-off makes that infeasible, it retries with a looser hair.
    let mut found = None;
    for tolerance in STAGE_TOLERANCES {
        let b = build(prep, terms, active, mode);
        let mut model = b.vars.minimise(b.cost).using(microlp);
        for c in b.constraints {
            model = model.with(c);
        }
        if let Some(w) = worst_ratio {
            let floor = w - tolerance * w.abs().max(1.0);
            model = model.with(Expression::from(b.t).geq(floor));
        }
        if let Some(sol) = run(model)? {
            found = Some((b.flows, sol));
            break;
        }
        if worst_ratio.is_none() {
            break;
        }
    }
    let Some((flows, sol)) = found else {
        return Ok(None);
    };
    let flows = flows
        .iter()
        .map(|f| f.map_or(0.0, |v| sol.value(v).max(0.0)))
        .collect();
    Ok(Some(LpOutcome { flows, worst_ratio }))
}
