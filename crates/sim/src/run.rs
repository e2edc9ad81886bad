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
    /// Probability that the venue auto-deleverages someone on a path.
    #[serde(default)]
    pub prob_adl: f64,
    /// Mean notional auto-deleveraged per path.
    #[serde(default)]
    pub mean_adl: f64,
    /// Probability that a winning leg deleveraged here breaks a hedge held on another venue.
    #[serde(default)]
    pub prob_broken_hedge: f64,
    /// Mean notional left unhedged per path by deleveraging here.
    #[serde(default)]
    pub mean_unhedged_notional: f64,
    /// Mean loss per path those broken hedges cause (the unhedged leg's adverse move).
    #[serde(default)]
    pub mean_broken_hedge_loss: f64,
    /// Notional at the start of legs here hedged by an opposite leg on another venue.
    #[serde(default)]
    pub hedged_notional: f64,
    /// `mean_unhedged_notional / hedged_notional`: the expected fraction of a hedged leg here left
    /// unhedged per path, the forecast the unified model's broken-hedge add-on reads
    /// (`crates/margin/params/unified.toml`, `[broken_hedge]`).
    #[serde(default)]
    pub expected_unhedged_fraction: f64,
}

/// Broken hedges: winning legs auto-deleveraged while the account's other leg stays open.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokenHedges {
    /// Probability that a path breaks at least one hedge.
    pub prob: f64,
    /// Mean notional left unhedged per path.
    pub mean_unhedged_notional: f64,
    /// Mean loss per path caused by the exposure left unhedged (its adverse move to the path's end).
    pub mean_loss: f64,
    /// Accounts most often auto-deleveraged (at most 10, most likely first).
    pub accounts: Vec<AccountAdl>,
}

/// One account's auto-deleveraging forecast over the paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountAdl {
    /// Account index in the population.
    pub account: usize,
    /// Probability that some leg of it is auto-deleveraged.
    pub prob_adl: f64,
    /// Expected notional auto-deleveraged per path (over all paths).
    pub mean_adl: f64,
    /// Probability that a deleveraged leg of it was a hedge (the account's other leg left open).
    #[serde(default)]
    pub prob_broken_hedge: f64,
    /// Expected notional left unhedged per path.
    #[serde(default)]
    pub mean_unhedged_notional: f64,
    /// Expected loss per path caused by the exposure left unhedged.
    #[serde(default)]
    pub mean_broken_hedge_loss: f64,
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
    /// Auto-deleveraging of winning legs and the hedges it breaks.
    #[serde(default)]
    pub broken_hedges: BrokenHedges,
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
    /// What the breakers did, path by path against the run without them: all together, then each
    /// alone (when more than one is configured). Empty when none are configured.
    #[serde(default)]
    pub breakers_explained: Vec<BreakerEffect>,
}

/// One breaker setting's effect, path by path against the same paths without breakers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerEffect {
    /// Which breakers (`all`, or `breakers[i]: trigger -> action`).
    pub breakers: String,
    /// Mean trips per path.
    pub mean_trips: f64,
    /// Mean steps per path with liquidations halted.
    pub mean_halted_steps: f64,
    /// Mean steps per path with any of these breakers active.
    pub mean_active_steps: f64,
    /// Change in mean liquidated notional per path (with − without), quote currency.
    pub liquidated_change: f64,
    /// Notional-weighted mean step of liquidations, with − without (> 0: liquidations deferred),
    /// over the paths that liquidate in both runs.
    pub liquidation_delay_steps: f64,
    /// P(bad debt) with these breakers, and the change against none.
    pub prob_bad_debt: f64,
    /// `prob_bad_debt` − P(bad debt) without breakers.
    pub prob_bad_debt_change: f64,
    /// Share of paths with bad debt only without the breakers (bad debt avoided).
    pub paths_bad_debt_avoided: f64,
    /// Share of paths with bad debt only with the breakers (bad debt created).
    pub paths_bad_debt_created: f64,
    /// Mean per path of the bad debt the breakers removed: Σ max(0, without − with) / paths.
    pub bad_debt_avoided: f64,
    /// Mean per path of the bad debt the breakers added: Σ max(0, with − without) / paths.
    pub bad_debt_added: f64,
    /// Mean change in the step of the first bad debt (with − without, > 0: moved later), over paths
    /// with bad debt in both runs.
    pub first_bad_debt_delay_steps: f64,
}

fn describe(i: usize, b: &crate::config::Breaker) -> String {
    use crate::config::{Action, Trigger};
    let t = match &b.trigger {
        Trigger::PriceMove { pct, window_steps } => {
            format!(
                "price moves > {:.1} % within {window_steps} steps",
                pct * 100.0
            )
        }
        Trigger::OracleDivergence { pct } => format!("oracles diverge > {:.1} %", pct * 100.0),
        Trigger::BadDebtExceedsFund => "bad debt exceeds the insurance fund".to_string(),
        Trigger::LiquidationSpike { notional } => {
            format!("a step liquidates > {notional:.0}")
        }
    };
    let a = match &b.action {
        Action::HaltLiquidations => "halt liquidations".to_string(),
        Action::OracleFallback => "fall back to the median oracle".to_string(),
        Action::ThrottleLiquidations { max_depth_fraction } => {
            format!("throttle liquidations to {max_depth_fraction} x depth per step")
        }
    };
    format!("breakers[{i}]: {t} -> {a} for {} steps", b.cooldown_steps)
}

/// The effect of one breaker setting (`with`) against the same paths without breakers (`base`).
pub fn breaker_effect(label: String, base: &[PathResult], with: &[PathResult]) -> BreakerEffect {
    let n = base.len().min(with.len()).max(1) as f64;
    let mut e = BreakerEffect {
        breakers: label,
        mean_trips: 0.0,
        mean_halted_steps: 0.0,
        mean_active_steps: 0.0,
        liquidated_change: 0.0,
        liquidation_delay_steps: 0.0,
        prob_bad_debt: 0.0,
        prob_bad_debt_change: 0.0,
        paths_bad_debt_avoided: 0.0,
        paths_bad_debt_created: 0.0,
        bad_debt_avoided: 0.0,
        bad_debt_added: 0.0,
        first_bad_debt_delay_steps: 0.0,
    };
    let (mut delay, mut nd, mut first, mut nf) = (0.0, 0usize, 0.0, 0usize);
    let mut p0 = 0.0;
    for (b, w) in base.iter().zip(with) {
        e.mean_trips += w.breaker_trips as f64;
        e.mean_halted_steps += w.halted_steps as f64;
        e.mean_active_steps += w.breaker_active_steps.iter().copied().max().unwrap_or(0) as f64;
        let (lb, lw) = (b.total_liquidated(), w.total_liquidated());
        e.liquidated_change += lw - lb;
        if lb > 0.0 && lw > 0.0 {
            delay += w.liquidation_step_weight / lw - b.liquidation_step_weight / lb;
            nd += 1;
        }
        let (db, dw) = (b.total_bad_debt(), w.total_bad_debt());
        if dw > 0.0 {
            e.prob_bad_debt += 1.0;
        }
        if db > 0.0 {
            p0 += 1.0;
        }
        if db > 0.0 && dw == 0.0 {
            e.paths_bad_debt_avoided += 1.0;
        }
        if db == 0.0 && dw > 0.0 {
            e.paths_bad_debt_created += 1.0;
        }
        e.bad_debt_avoided += (db - dw).max(0.0);
        e.bad_debt_added += (dw - db).max(0.0);
        if let (Some(fb), Some(fw)) = (b.first_bad_debt_step, w.first_bad_debt_step) {
            first += fw as f64 - fb as f64;
            nf += 1;
        }
    }
    for x in [
        &mut e.mean_trips,
        &mut e.mean_halted_steps,
        &mut e.mean_active_steps,
        &mut e.liquidated_change,
        &mut e.prob_bad_debt,
        &mut e.paths_bad_debt_avoided,
        &mut e.paths_bad_debt_created,
        &mut e.bad_debt_avoided,
        &mut e.bad_debt_added,
    ] {
        *x /= n;
    }
    e.prob_bad_debt_change = e.prob_bad_debt - p0 / n;
    e.liquidation_delay_steps = if nd > 0 { delay / nd as f64 } else { 0.0 };
    e.first_bad_debt_delay_steps = if nf > 0 { first / nf as f64 } else { 0.0 };
    e
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

fn stats(c: &Config, results: &[PathResult], nv: usize, hedged: &[f64]) -> RunStats {
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
            prob_adl: results
                .iter()
                .filter(|r| r.adl.get(v).is_some_and(|x| *x > 0.0))
                .count() as f64
                / n,
            mean_adl: results
                .iter()
                .map(|r| r.adl.get(v).copied().unwrap_or(0.0))
                .sum::<f64>()
                / n,
            prob_broken_hedge: results
                .iter()
                .filter(|r| {
                    r.broken_hedge_notional_by_venue
                        .get(v)
                        .is_some_and(|x| *x > 0.0)
                })
                .count() as f64
                / n,
            mean_unhedged_notional: results
                .iter()
                .map(|r| {
                    r.broken_hedge_notional_by_venue
                        .get(v)
                        .copied()
                        .unwrap_or(0.0)
                })
                .sum::<f64>()
                / n,
            mean_broken_hedge_loss: results
                .iter()
                .map(|r| r.broken_hedge_loss_by_venue.get(v).copied().unwrap_or(0.0))
                .sum::<f64>()
                / n,
            hedged_notional: hedged.get(v).copied().unwrap_or(0.0),
            expected_unhedged_fraction: match hedged.get(v) {
                Some(h) if *h > 0.0 => {
                    results
                        .iter()
                        .map(|r| {
                            r.broken_hedge_notional_by_venue
                                .get(v)
                                .copied()
                                .unwrap_or(0.0)
                        })
                        .sum::<f64>()
                        / n
                        / h
                }
                _ => 0.0,
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
    // Per account: paths on which it was deleveraged, and the notional.
    // (paths deleveraged, notional, paths with a broken hedge, unhedged notional, loss)
    let mut per_account: std::collections::HashMap<usize, [f64; 5]> =
        std::collections::HashMap::new();
    for r in results {
        let mut seen: Vec<usize> = Vec::new();
        for &(a, x) in &r.adl_accounts {
            let e = per_account.entry(a).or_default();
            e[1] += x;
            if !seen.contains(&a) {
                seen.push(a);
                e[0] += 1.0;
            }
        }
        let mut seen: Vec<usize> = Vec::new();
        for &(a, _, x, loss) in &r.broken_hedge_accounts {
            let e = per_account.entry(a).or_default();
            e[3] += x;
            e[4] += loss;
            if !seen.contains(&a) {
                seen.push(a);
                e[2] += 1.0;
            }
        }
    }
    let mut accounts: Vec<AccountAdl> = per_account
        .into_iter()
        .map(|(account, e)| AccountAdl {
            account,
            prob_adl: e[0] / n,
            mean_adl: e[1] / n,
            prob_broken_hedge: e[2] / n,
            mean_unhedged_notional: e[3] / n,
            mean_broken_hedge_loss: e[4] / n,
        })
        .collect();
    accounts.sort_by(|a, b| {
        b.prob_adl
            .total_cmp(&a.prob_adl)
            .then(b.mean_adl.total_cmp(&a.mean_adl))
            .then(a.account.cmp(&b.account))
    });
    accounts.truncate(10);
    let broken_hedges = BrokenHedges {
        prob: results
            .iter()
            .filter(|r| r.broken_hedge_notional > 0.0)
            .count() as f64
            / n,
        mean_unhedged_notional: results.iter().map(|r| r.broken_hedge_notional).sum::<f64>() / n,
        mean_loss: results.iter().map(|r| r.broken_hedge_loss).sum::<f64>() / n,
        accounts,
    };
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
        broken_hedges,
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
    let s0 = stats(c, &r0, nv, base.hedged_notional());
    let mut timeline = Vec::new();
    base.run_path(s0.worst_path, Some(&mut timeline));
    let mut explained = Vec::new();
    let (s1, bd1, tl1) = if c.breakers.is_empty() {
        (None, None, None)
    } else {
        let e = Engine::new(c, &book, model, true);
        let r1 = run_paths(&e, c.paths, progress);
        let mut tl = Vec::new();
        e.run_path(s0.worst_path, Some(&mut tl));
        explained.push(breaker_effect("all".into(), &r0, &r1));
        if c.breakers.len() > 1 {
            for (i, b) in c.breakers.iter().enumerate() {
                let alone = e.clone().only_breakers(&[i]);
                let ri = run_paths(&alone, c.paths, progress);
                explained.push(breaker_effect(describe(i, b), &r0, &ri));
            }
        }
        (
            Some(stats(c, &r1, nv, e.hedged_notional())),
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
            breakers_explained: explained,
        },
        bad_debt: r0.iter().map(|r| r.total_bad_debt()).collect(),
        bad_debt_breakers: bd1,
        timeline,
        timeline_breakers: tl1,
    })
}

/// Wilson score interval (95 %) of a binomial proportion: `k` successes in `n` trials.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.96f64;
    let n = n as f64;
    let p = k as f64 / n;
    let z2n = z * z / n;
    let center = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z / (1.0 + z2n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// Normal 95 % interval of a sample mean: `mean ± 1.96·s/√n` (s the sample standard deviation),
/// floored at 0 for a non-negative quantity.
pub fn mean_interval(sample: &[f64]) -> (f64, f64) {
    let n = sample.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sample.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, mean);
    }
    let var = sample.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = 1.96 * (var / n as f64).sqrt();
    ((mean - half).max(0.0), mean + half)
}

/// One point of the solvency–efficiency frontier, with 95 % confidence intervals from the paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// Siloed or unified.
    pub margining: Margining,
    /// Initial-margin multiplier.
    pub im_multiplier: f64,
    /// Paths behind the estimates.
    pub paths: usize,
    /// Collateral posted for the reference book, quote currency.
    pub collateral: f64,
    /// Notional / collateral (leverage allowed).
    pub capital_efficiency: f64,
    /// Probability of any bad debt on a path.
    pub prob_bad_debt: f64,
    /// 95 % Wilson interval of `prob_bad_debt`, [low, high].
    pub prob_bad_debt_ci: [f64; 2],
    /// Mean bad debt per path, quote currency.
    pub mean_bad_debt: f64,
    /// 95 % normal interval of `mean_bad_debt`, [low, high].
    pub mean_bad_debt_ci: [f64; 2],
    /// ES 99% of bad debt, quote currency.
    pub es_99_bad_debt: f64,
    /// 95 % bootstrap interval of `es_99_bad_debt`, [low, high].
    pub es_99_bad_debt_ci: [f64; 2],
}

/// The smallest swept multiplier from which on P(bad debt) stays under the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMultiplier {
    /// Siloed or unified.
    pub margining: Margining,
    /// The multiplier (`None`: no swept multiplier meets the target).
    pub im_multiplier: Option<f64>,
    /// Its capital efficiency (notional / collateral).
    pub capital_efficiency: Option<f64>,
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
    /// The P(bad debt) target of `frontier.target_prob_bad_debt`, if set.
    pub target_prob_bad_debt: Option<f64>,
    /// Per model, the smallest multiplier whose upper 95 % bound of P(bad debt), and that of every
    /// larger swept multiplier, is at most the target (conservative: the interval, not the estimate).
    pub target_multipliers: Vec<TargetMultiplier>,
    /// The default calibration (multiplier 1), where each model's own requirement is posted as is.
    pub default_multiplier: f64,
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
            let s = stats(&cc, &r, e.venues(), e.hedged_notional());
            let bd: Vec<f64> = r.iter().map(|x| x.total_bad_debt()).collect();
            let k = bd.iter().filter(|x| **x > 0.0).count();
            let (plo, phi) = wilson(k, bd.len());
            let (mlo, mhi) = mean_interval(&bd);
            points.push(FrontierPoint {
                margining: mode,
                im_multiplier: m,
                paths: r.len(),
                collateral: book.total_collateral,
                capital_efficiency: book.total_notional
                    / book.total_collateral.max(f64::MIN_POSITIVE),
                prob_bad_debt: s.prob_bad_debt,
                prob_bad_debt_ci: [plo, phi],
                mean_bad_debt: s.mean_bad_debt,
                mean_bad_debt_ci: [mlo, mhi],
                es_99_bad_debt: s.bad_debt.es_99.value,
                es_99_bad_debt_ci: [s.bad_debt.es_99.ci_low, s.bad_debt.es_99.ci_high],
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
    let target_multipliers = match fc.target_prob_bad_debt {
        None => Vec::new(),
        Some(t) => [Margining::Siloed, Margining::Unified]
            .into_iter()
            .map(|mode| {
                let mut pts: Vec<&FrontierPoint> =
                    points.iter().filter(|p| p.margining == mode).collect();
                pts.sort_by(|a, b| a.im_multiplier.total_cmp(&b.im_multiplier));
                // Walk down from the largest multiplier while the bound holds.
                let mut best: Option<&FrontierPoint> = None;
                for p in pts.iter().rev() {
                    if p.prob_bad_debt_ci[1] <= t {
                        best = Some(p);
                    } else {
                        break;
                    }
                }
                TargetMultiplier {
                    margining: mode,
                    im_multiplier: best.map(|p| p.im_multiplier),
                    capital_efficiency: best.map(|p| p.capital_efficiency),
                }
            })
            .collect(),
    };
    Ok(Frontier {
        points,
        unified_dominates_at: dom,
        unified_riskier_at: risk,
        target_prob_bad_debt: fc.target_prob_bad_debt,
        target_multipliers,
        default_multiplier: 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_by_hand() {
        // 10 of 100: p = 0.1, z²/n = 0.038416; centre (0.1 + 0.019208) / 1.038416 = 0.114799;
        // half 1.96 / 1.038416 × √(0.0009 + 0.00009604) = 0.059569 → [0.05523, 0.17437].
        let (lo, hi) = wilson(10, 100);
        assert!(
            (lo - 0.05523).abs() < 1e-5 && (hi - 0.17437).abs() < 1e-5,
            "{lo} {hi}"
        );
        // 0 of 100: [0, z²/(n + z²)] = [0, 3.8416 / 103.8416 = 0.036995].
        let (lo, hi) = wilson(0, 100);
        assert!(lo == 0.0 && (hi - 0.036995).abs() < 1e-6, "{hi}");
    }

    #[test]
    fn mean_interval_by_hand() {
        // 0, 2, 4: mean 2, s² = (4 + 0 + 4) / 2 = 4, half 1.96 × 2 / √3 = 2.263 → [0 (floored), 4.263].
        let (lo, hi) = mean_interval(&[0.0, 2.0, 4.0]);
        assert_eq!(lo, 0.0);
        assert!((hi - (2.0 + 1.96 * 2.0 / 3f64.sqrt())).abs() < 1e-12);
    }
}
