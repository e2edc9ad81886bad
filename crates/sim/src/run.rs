//! Runs: many paths in parallel (rayon), summaries, the frontier sweep.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Margining};
use crate::engine::{Engine, PathResult, TimelinePoint};
use crate::error::SimError;
use crate::measures::{tail, Tail};
use crate::paths::{History, PathModel};
use crate::population::generate;

/// Per-venue averages over paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueStats {
    /// Venue name (`hub` for the unified pool).
    pub venue: String,
    /// Mean bad debt.
    pub mean_bad_debt: f64,
    /// Probability of any bad debt.
    pub prob_bad_debt: f64,
    /// Mean bad debt beyond the insurance fund (socialised or deleveraged).
    pub mean_uncovered: f64,
    /// Probability that the insurance fund is exhausted.
    pub prob_fund_depleted: f64,
    /// Mean liquidated notional (0 for the hub, whose legs liquidate on venues).
    pub mean_liquidated: f64,
}

/// Statistics of one run (with or without breakers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Probability of any bad debt.
    pub prob_bad_debt: f64,
    /// Mean bad debt.
    pub mean_bad_debt: f64,
    /// Tail of bad debt.
    pub bad_debt: Tail,
    /// Mean liquidated notional.
    pub mean_liquidated: f64,
    /// Tail of liquidated notional.
    pub liquidated: Tail,
    /// Share of liquidated notional caused by other liquidations' impact within a step.
    pub cascade_share: f64,
    /// Mean number of venues with a liquidation.
    pub mean_venues_hit: f64,
    /// Mean breaker trips per path.
    pub mean_breaker_trips: f64,
    /// Mean lowest price relative to start, per asset.
    pub mean_min_price: Vec<f64>,
    /// Per venue, then the hub.
    pub venues: Vec<VenueStats>,
    /// Path with the largest bad debt (then liquidated notional).
    pub worst_path: u64,
}

/// What `simulate` writes to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Config name.
    pub name: String,
    /// Paths run.
    pub paths: usize,
    /// Seed.
    pub seed: u64,
    /// Steps per path.
    pub steps: usize,
    /// Accounts.
    pub accounts: usize,
    /// Margin pools (a siloed hub account has one per leg).
    pub pools: usize,
    /// Gross notional at start.
    pub total_notional: f64,
    /// Collateral posted.
    pub total_collateral: f64,
    /// Notional / collateral.
    pub capital_efficiency: f64,
    /// Without circuit breakers.
    pub without_breakers: RunStats,
    /// With the configured breakers (absent when none are configured).
    pub with_breakers: Option<RunStats>,
}

/// Raw per-path results kept for plots.
pub struct RunOutput {
    /// The summary.
    pub summary: Summary,
    /// Bad debt per path, without breakers.
    pub bad_debt: Vec<f64>,
    /// Bad debt per path, with breakers.
    pub bad_debt_breakers: Option<Vec<f64>>,
    /// Timeline of the worst path, without breakers.
    pub timeline: Vec<TimelinePoint>,
    /// Timeline of the same path with breakers.
    pub timeline_breakers: Option<Vec<TimelinePoint>>,
}

fn stats(c: &Config, results: &[PathResult], nv: usize) -> RunStats {
    let n = results.len().max(1) as f64;
    let bd: Vec<f64> = results.iter().map(|r| r.total_bad_debt()).collect();
    let liq: Vec<f64> = results.iter().map(|r| r.total_liquidated()).collect();
    let total_liq: f64 = liq.iter().sum();
    let casc: f64 = results.iter().map(|r| r.cascade_liquidated).sum();
    let mut venues = Vec::new();
    for v in 0..=nv {
        let name = if v < nv {
            c.venues[v].name.clone()
        } else {
            "hub".to_string()
        };
        let fund0 = if v < nv {
            c.venues[v].insurance_fund
        } else {
            c.hub.insurance_fund
        };
        venues.push(VenueStats {
            venue: name,
            mean_bad_debt: results.iter().map(|r| r.bad_debt[v]).sum::<f64>() / n,
            prob_bad_debt: results.iter().filter(|r| r.bad_debt[v] > 0.0).count() as f64 / n,
            mean_uncovered: results.iter().map(|r| r.uncovered[v]).sum::<f64>() / n,
            prob_fund_depleted: results
                .iter()
                .filter(|r| r.uncovered[v] > 0.0 || (fund0 > 0.0 && r.fund_low[v] <= 0.0))
                .count() as f64
                / n,
            mean_liquidated: if v < nv {
                results.iter().map(|r| r.liquidated[v]).sum::<f64>() / n
            } else {
                0.0
            },
        });
    }
    let worst = results
        .iter()
        .enumerate()
        .max_by(|a, b| {
            a.1.total_bad_debt()
                .total_cmp(&b.1.total_bad_debt())
                .then(a.1.total_liquidated().total_cmp(&b.1.total_liquidated()))
        })
        .map(|x| x.0 as u64)
        .unwrap_or(0);
    let na = c.assets.len();
    RunStats {
        prob_bad_debt: bd.iter().filter(|x| **x > 0.0).count() as f64 / n,
        mean_bad_debt: bd.iter().sum::<f64>() / n,
        bad_debt: tail(&bd, c.seed),
        mean_liquidated: total_liq / n,
        liquidated: tail(&liq, c.seed ^ 2),
        cascade_share: if total_liq > 0.0 {
            casc / total_liq
        } else {
            0.0
        },
        mean_venues_hit: results.iter().map(|r| r.venues_hit as f64).sum::<f64>() / n,
        mean_breaker_trips: results.iter().map(|r| r.breaker_trips as f64).sum::<f64>() / n,
        mean_min_price: (0..na)
            .map(|a| results.iter().map(|r| r.min_price[a]).sum::<f64>() / n)
            .collect(),
        venues,
        worst_path: worst,
    }
}

/// Runs `engine` over `paths` paths in parallel; `progress(1)` after each path.
pub fn run_paths(
    engine: &Engine,
    paths: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<PathResult> {
    (0..paths as u64)
        .into_par_iter()
        .map(|i| {
            let r = engine.run_path(i, None);
            progress(1);
            r
        })
        .collect()
}

/// Full simulation: population, paths without and with breakers, summary and timelines.
pub fn simulate(
    c: &Config,
    history: Option<History>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunOutput, SimError> {
    let book = generate(c)?;
    let model = PathModel::new(c, history)?;
    let base = Engine::new(c, &book, model.clone(), false);
    let nv = base.venues();
    let r0 = run_paths(&base, c.paths, progress);
    let s0 = stats(c, &r0, nv);
    let mut timeline = Vec::new();
    base.run_path(s0.worst_path, Some(&mut timeline));
    let (s1, bd1, tl1) = if c.breakers.is_empty() {
        (None, None, None)
    } else {
        let e = Engine::new(c, &book, model, true);
        let r1 = run_paths(&e, c.paths, progress);
        let mut tl = Vec::new();
        e.run_path(s0.worst_path, Some(&mut tl));
        (
            Some(stats(c, &r1, nv)),
            Some(r1.iter().map(|r| r.total_bad_debt()).collect()),
            Some(tl),
        )
    };
    Ok(RunOutput {
        summary: Summary {
            name: c.name.clone(),
            paths: c.paths,
            seed: c.seed,
            steps: c.steps,
            accounts: book.accounts,
            pools: book.pools.len(),
            total_notional: book.total_notional,
            total_collateral: book.total_collateral,
            capital_efficiency: book.total_notional / book.total_collateral.max(f64::MIN_POSITIVE),
            without_breakers: s0,
            with_breakers: s1,
        },
        bad_debt: r0.iter().map(|r| r.total_bad_debt()).collect(),
        bad_debt_breakers: bd1,
        timeline,
        timeline_breakers: tl1,
    })
}

/// One point of the solvency–efficiency frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// Siloed or unified.
    pub margining: Margining,
    /// Initial-margin multiplier.
    pub im_multiplier: f64,
    /// Collateral posted for the reference book.
    pub collateral: f64,
    /// Notional / collateral (leverage allowed).
    pub capital_efficiency: f64,
    /// Probability of any bad debt.
    pub prob_bad_debt: f64,
    /// Mean bad debt.
    pub mean_bad_debt: f64,
    /// ES 99% of bad debt.
    pub es_99_bad_debt: f64,
}

/// The frontier, and where unified margin dominates siloed margin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    /// Every point.
    pub points: Vec<FrontierPoint>,
    /// Multipliers where unified needs less collateral and has no more bad-debt probability.
    pub unified_dominates_at: Vec<f64>,
    /// Multipliers where unified has a higher bad-debt probability or ES.
    pub unified_riskier_at: Vec<f64>,
}

/// Sweeps `frontier.im_multipliers` × {siloed, unified}, same seeds for every point.
pub fn frontier(
    c: &Config,
    history: Option<History>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Frontier, SimError> {
    let fc = c
        .frontier
        .clone()
        .ok_or_else(|| crate::error::cfg("frontier", "missing [frontier] table"))?;
    let paths = fc.paths.unwrap_or(c.paths);
    let model = PathModel::new(c, history)?;
    let mut points = Vec::new();
    for &m in &fc.im_multipliers {
        for mode in [Margining::Siloed, Margining::Unified] {
            let mut cc = c.clone();
            cc.population.im_multiplier = m;
            cc.population.margining = mode;
            let book = generate(&cc)?;
            let e = Engine::new(&cc, &book, model.clone(), false);
            let r = run_paths(&e, paths, progress);
            let s = stats(&cc, &r, e.venues());
            points.push(FrontierPoint {
                margining: mode,
                im_multiplier: m,
                collateral: book.total_collateral,
                capital_efficiency: book.total_notional
                    / book.total_collateral.max(f64::MIN_POSITIVE),
                prob_bad_debt: s.prob_bad_debt,
                mean_bad_debt: s.mean_bad_debt,
                es_99_bad_debt: s.bad_debt.es_99.value,
            });
        }
    }
    let mut dom = Vec::new();
    let mut risk = Vec::new();
    for pair in points.chunks(2) {
        let (s, u) = (&pair[0], &pair[1]);
        if u.collateral <= s.collateral
            && u.prob_bad_debt <= s.prob_bad_debt
            && u.es_99_bad_debt <= s.es_99_bad_debt
        {
            dom.push(s.im_multiplier);
        }
        if u.prob_bad_debt > s.prob_bad_debt || u.es_99_bad_debt > s.es_99_bad_debt {
            risk.push(s.im_multiplier);
        }
    }
    Ok(Frontier {
        points,
        unified_dominates_at: dom,
        unified_riskier_at: risk,
    })
}
