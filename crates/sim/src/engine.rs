//! The cascade and contagion engine: one path, step by step.
//!
//! Each step: prices move → every pool is checked against maintenance at its venue's oracle
//! price → liquidations are sized (Drift's closed form, capped by the venue's close fraction)
//! and sent to the venue's book as one batch → the batch moves the shared asset price by the
//! book's impact (`k·(Q/depth)^α`) on every venue that lists the asset → further liquidations,
//! up to `impact.max_rounds` rounds per step. Accumulated impact decays by `resilience` per step.
//! A throttle breaker caps each book's liquidated notional per step (not per round: a budget
//! renewed every round would let the next round of the same step take what it refused).
//!
//! Speed: a pool's liquidation price is known in closed form, so pools are kept in lists sorted
//! by it (per venue, asset and side) and each step only compares the current price with the head
//! of each list. Unified pools are listed by the common price and checked one by one only while
//! an oracle failure makes venue prices diverge. Pools partially liquidated are re-checked
//! directly each step.

use intermargin_liquidation::venue_style::binance;
use intermargin_liquidation::{settle_bad_debt, ImpactParams, WaterfallStep};
use intermargin_model::Amount;
use serde::{Deserialize, Serialize};

use crate::config::{Action, Config, OracleMode, Trigger};
use crate::paths::{PathModel, PathState};
use crate::population::{Leg, Pool, PopulationBook, Rates};
use crate::venue_rules::{venue_step, RuleParams, RuleStep, VenueRule};

#[derive(Debug, Clone, Copy)]
struct Impact {
    k: f64,
    alpha: f64,
    depth: f64,
}

impl Impact {
    fn mv(&self, notional: f64) -> f64 {
        if notional <= 0.0 || self.k == 0.0 {
            0.0
        } else {
            (self.k * (notional / self.depth).powf(self.alpha)).min(0.99)
        }
    }
}

/// A sorted list of liquidation thresholds.
#[derive(Debug, Clone, Default)]
struct List {
    /// (threshold, pool index), sorted so the next to trigger comes first.
    entries: Vec<(f64, u32)>,
    /// Trigger when price ≤ threshold (`true`) or ≥ threshold (`false`).
    down: bool,
    /// Venue (silo lists) or `usize::MAX` (unified lists, common price).
    venue: usize,
    asset: usize,
}

/// Everything shared by all paths of one run.
#[derive(Clone)]
pub struct Engine {
    n_assets: usize,
    n_venues: usize,
    rates: Rates,
    pools: Vec<Pool>,
    lists: Vec<List>,
    unified: Vec<u32>,
    impact: Vec<Impact>,
    fee: Vec<f64>,
    insurance_share: Vec<f64>,
    close_fraction: Vec<f64>,
    fund0: Vec<Amount>,
    oracle: Vec<(usize, usize, usize, usize, OracleMode, f64)>,
    breakers: Vec<crate::config::Breaker>,
    /// Per venue: auto-deleverages instead of socialising.
    adl: Vec<bool>,
    /// Per venue: the venue's own liquidation rule, when it has one (siloed pools only).
    rules: Vec<Option<VenueRule>>,
    /// The rules' parameters (`None` when no venue has a rule).
    rule_params: Option<RuleParams>,
    /// Per venue: the part of its fund its rule may not spend (Hyperliquid: the liquidator vault
    /// triggers auto-deleveraging rather than lose more than `liquidator_max_loss_fraction` of its
    /// starting capital); 0 elsewhere.
    fund_floor: Vec<f64>,
    /// Per book (venue × asset): the pools with a leg there, ascending (the ADL candidates).
    by_book: Vec<Vec<u32>>,
    /// Per venue: notional at the start of legs hedged by an opposite leg on another venue.
    hedged: Vec<f64>,
    /// Accounts with more than one pool (a siloed hedged account has one per leg): their pools.
    account_pools: std::collections::HashMap<usize, Vec<u32>>,
    steps: usize,
    resilience: f64,
    moves_path: bool,
    max_rounds: usize,
    buffer: f64,
    model: PathModel,
}

/// One path's results. Index `n_venues` in per-venue vectors is the hub.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PathResult {
    /// Bad debt per venue (+ hub), quote currency.
    pub bad_debt: Vec<f64>,
    /// Bad debt beyond the insurance fund (socialised / deleveraged), per venue (+ hub).
    pub uncovered: Vec<f64>,
    /// Liquidated notional per venue.
    pub liquidated: Vec<f64>,
    /// Liquidated notional in rounds ≥ 2 of a step (caused by other liquidations' impact).
    pub cascade_liquidated: f64,
    /// Lowest insurance fund as a fraction of its start, per venue (+ hub); 1 when unused.
    pub fund_low: Vec<f64>,
    /// Number of venues with at least one liquidation.
    pub venues_hit: usize,
    /// Breaker trips.
    pub breaker_trips: usize,
    /// Lowest common price reached, relative to the start, per asset.
    pub min_price: Vec<f64>,
    /// Step of the first bad debt (`None`: no bad debt on this path).
    #[serde(default)]
    pub first_bad_debt_step: Option<usize>,
    /// Σ liquidated notional × step: over `total_liquidated()`, the notional-weighted mean step.
    #[serde(default)]
    pub liquidation_step_weight: f64,
    /// Steps each breaker was active (in config order).
    #[serde(default)]
    pub breaker_active_steps: Vec<usize>,
    /// Steps in which liquidations were halted.
    #[serde(default)]
    pub halted_steps: usize,
    /// Liquidated notional of long legs (forced sells), all venues; the rest closed shorts.
    #[serde(default)]
    pub liquidated_long: f64,
    /// Notional auto-deleveraged per venue (profitable positions closed at a bankruptcy price).
    #[serde(default)]
    pub adl: Vec<f64>,
    /// Auto-deleveraged notional per account (account, notional), in event order.
    #[serde(default)]
    pub adl_accounts: Vec<(usize, f64)>,
    /// Hedged notional left unhedged because its winning leg was auto-deleveraged (broken hedges).
    #[serde(default)]
    pub broken_hedge_notional: f64,
    /// Loss caused by broken hedges: the adverse move of the exposure left unhedged, from the
    /// deleveraging to the end of the path (gains are not netted against it).
    #[serde(default)]
    pub broken_hedge_loss: f64,
    /// Per venue: hedged notional left unhedged because a winning leg there was deleveraged.
    #[serde(default)]
    pub broken_hedge_notional_by_venue: Vec<f64>,
    /// Per venue: the loss those broken hedges caused.
    #[serde(default)]
    pub broken_hedge_loss_by_venue: Vec<f64>,
    /// Per account whose hedge broke: (account, venue deleveraged, notional left unhedged, loss).
    #[serde(default)]
    pub broken_hedge_accounts: Vec<(usize, usize, f64, f64)>,
    /// Insurance fund (vault, treasury) at the end of the path, per venue (+ hub).
    #[serde(default)]
    pub fund_end: Vec<f64>,
}

/// An order of one round: the pool (shared index or per-path copy) and what closes it.
#[derive(Debug, Clone)]
struct Order {
    idx: u32,
    extra: bool,
    /// Fraction the generic close takes.
    frac: f64,
    /// The venue's own rule's step, for pools at a venue with a rule.
    rule: Option<RuleStep>,
}

/// What queueing a pool gave.
enum Queued {
    /// Close it: generic fraction, or the venue's rule step.
    Order(f64, Option<RuleStep>),
    /// The throttle has nothing left on one of its books this step.
    Blocked,
    /// Its venue does not liquidate it now (re-checked next step).
    Idle,
}

/// A bankrupt position the insurance fund could not cover at an auto-deleveraging venue.
#[derive(Debug, Clone, Copy)]
struct AdlRequest {
    venue: usize,
    asset: usize,
    /// Sign of the bankrupt leg (+1 long, −1 short).
    side: f64,
    /// Base quantity closed.
    qty: f64,
    /// Its bankruptcy price: where closing it leaves exactly zero, given the uncovered deficit.
    bankruptcy: f64,
}

impl PathResult {
    /// Total bad debt.
    pub fn total_bad_debt(&self) -> f64 {
        self.bad_debt.iter().sum()
    }
    /// Total liquidated notional.
    pub fn total_liquidated(&self) -> f64 {
        self.liquidated.iter().sum()
    }
}

/// One step of a recorded path (the cascade timeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Step index.
    pub step: usize,
    /// Common price per asset (with impact).
    pub prices: Vec<f64>,
    /// Liquidated notional this step.
    pub liquidated: f64,
    /// Cumulative bad debt.
    pub bad_debt: f64,
    /// Whether any breaker was active.
    pub breaker_active: bool,
}

/// The list a pool belongs to and its liquidation price there (closed form), if it has one.
///
/// Silo pool (one leg): `C + q(P − p0) = m|q|P` ⇒ `P* = (q·p0 − C) / (q − m|q|)`; a long is hit
/// when P ≤ P*, a short when P ≥ P*. Unified pool (legs on one asset, one common price):
/// `health(P) = C − Σq·p0 + P·(Q − K)`, `K = Σ mm_l·|q_l| + s·|Q|` (the unified model's per-leg
/// maintenance coefficients and the asset's pooled stress, see [`crate::population`]), so a root in
/// P with the slope's sign saying whether a fall or a rise hits it.
fn locate(p: &Pool, rates: &Rates, na: usize, nv: usize) -> Option<(usize, f64)> {
    if p.legs.is_empty() {
        return None;
    }
    if p.unified {
        let a = p.legs[0].asset;
        let c0 = p.collateral - p.legs.iter().map(|l| l.q * l.p0).sum::<f64>();
        let qn: f64 = p.legs.iter().map(|l| l.q).sum();
        let k_legs: f64 = p
            .legs
            .iter()
            .zip(&p.charge.leg)
            .map(|(l, c)| c.1 * l.q.abs())
            .sum();
        let k_net: f64 = p.charge.net.iter().map(|n| n.2).sum::<f64>() * qn.abs();
        let slope = qn - k_legs - k_net;
        let base = nv * na * 2 + a * 2;
        if slope > 0.0 {
            Some((base, -c0 / slope))
        } else if slope < 0.0 {
            Some((base + 1, c0 / -slope))
        } else {
            None
        }
    } else {
        let l = p.legs[0];
        let m = rates.mm[l.venue];
        let thr = (l.q * l.p0 - p.collateral) / (l.q - m * l.q.abs());
        let base = (l.venue * na + l.asset) * 2;
        if l.q > 0.0 {
            (thr > 0.0).then_some((base, thr))
        } else {
            Some((base + 1, thr))
        }
    }
}

/// Inserts into a per-path list kept so that the next pool to trigger is last.
fn insert_x(list: &mut Vec<(f64, u32, u32)>, down: bool, e: (f64, u32, u32)) {
    // down lists trigger on the highest threshold first → ascending; up lists descending.
    let pos = if down {
        list.partition_point(|x| x.0 < e.0)
    } else {
        list.partition_point(|x| x.0 > e.0)
    };
    list.insert(pos, e);
}

/// A path's mutable book state that auto-deleveraging changes.
struct Book<'a> {
    done: &'a mut Vec<bool>,
    extra: &'a mut Vec<Pool>,
    xgen: &'a mut Vec<u32>,
    xlists: &'a mut Vec<Vec<(f64, u32, u32)>>,
    /// Per book (venue × asset): per-path copies with a leg there, ascending.
    xby_book: &'a mut Vec<Vec<u32>>,
}

/// Smallest fraction of a pool one liquidation closes.
const MIN_FRACTION: f64 = 1e-6;

fn cents(x: f64) -> Amount {
    Amount((x.max(0.0) * 100.0).round() as i128)
}

impl Engine {
    /// Prepares a run: thresholds sorted once, shared by all paths.
    pub fn new(c: &Config, book: &PopulationBook, model: PathModel, with_breakers: bool) -> Engine {
        let n_assets = c.assets.len();
        let n_venues = c.venues.len();
        let rates = Rates::new(c);
        let mut impact = Vec::with_capacity(n_venues * n_assets);
        for v in &c.venues {
            for a in &c.assets {
                let d = v.depth.iter().find(|d| d.asset == a.name);
                impact.push(
                    d.map(|d| Impact {
                        k: d.k,
                        alpha: d.alpha,
                        depth: d.depth,
                    })
                    .unwrap_or(Impact {
                        k: 0.0,
                        alpha: 1.0,
                        depth: 1.0,
                    }),
                );
            }
        }
        let mut lists: Vec<List> = Vec::new();
        for v in 0..n_venues {
            for a in 0..n_assets {
                for down in [true, false] {
                    lists.push(List {
                        entries: Vec::new(),
                        down,
                        venue: v,
                        asset: a,
                    });
                }
            }
        }
        for a in 0..n_assets {
            for down in [true, false] {
                lists.push(List {
                    entries: Vec::new(),
                    down,
                    venue: usize::MAX,
                    asset: a,
                });
            }
        }
        let mut unified = Vec::new();
        for (i, p) in book.pools.iter().enumerate() {
            if p.unified {
                unified.push(i as u32);
            }
            if let Some((slot, thr)) = locate(p, &rates, n_assets, n_venues) {
                lists[slot].entries.push((thr, i as u32));
            }
        }
        for l in &mut lists {
            if l.down {
                l.entries.sort_by(|a, b| b.0.total_cmp(&a.0));
            } else {
                l.entries.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
        let mut account_pools: std::collections::HashMap<usize, Vec<u32>> =
            std::collections::HashMap::new();
        for (i, p) in book.pools.iter().enumerate() {
            account_pools.entry(p.account).or_default().push(i as u32);
        }
        account_pools.retain(|_, v| v.len() > 1);
        let mut by_book: Vec<Vec<u32>> = vec![Vec::new(); n_venues * n_assets];
        for (i, p) in book.pools.iter().enumerate() {
            for l in &p.legs {
                let b = &mut by_book[l.venue * n_assets + l.asset];
                if b.last() != Some(&(i as u32)) {
                    b.push(i as u32);
                }
            }
        }
        let mut legs_of: std::collections::BTreeMap<usize, Vec<Leg>> = Default::default();
        for p in &book.pools {
            legs_of
                .entry(p.account)
                .or_default()
                .extend(p.legs.iter().copied());
        }
        let mut hedged = vec![0.0; n_venues];
        for legs in legs_of.values().filter(|l| l.len() > 1) {
            for l in legs {
                let opposite: f64 = legs
                    .iter()
                    .filter(|o| o.venue != l.venue && o.asset == l.asset && o.q * l.q < 0.0)
                    .map(|o| o.q.abs())
                    .sum();
                hedged[l.venue] += l.q.abs().min(opposite) * l.p0;
            }
        }
        let rules: Vec<Option<VenueRule>> = c.venues.iter().map(|v| v.rule).collect();
        // Config validation checks the bundled rules parse whenever a venue names one.
        let rule_params = if rules.iter().any(|r| r.is_some()) {
            RuleParams::bundled(c.dt_seconds).ok()
        } else {
            None
        };
        let fund_floor = c
            .venues
            .iter()
            .map(|v| match (v.rule, rule_params.as_ref()) {
                (Some(VenueRule::Hyperliquid), Some(p)) => p
                    .liquidator_max_loss_fraction()
                    .map(|f| (1.0 - f) * v.insurance_fund)
                    .unwrap_or(0.0),
                _ => 0.0,
            })
            .collect();
        let mut fund0: Vec<Amount> = c.venues.iter().map(|v| cents(v.insurance_fund)).collect();
        fund0.push(cents(c.hub.insurance_fund));
        Engine {
            n_assets,
            n_venues,
            rates,
            pools: book.pools.clone(),
            lists,
            unified,
            impact,
            fee: c.venues.iter().map(|v| v.liquidation_fee).collect(),
            insurance_share: c.venues.iter().map(|v| v.insurance_share).collect(),
            close_fraction: c.venues.iter().map(|v| v.max_close_fraction).collect(),
            fund0,
            oracle: c
                .oracle_failures
                .iter()
                .map(|o| {
                    (
                        c.venue_index(&o.venue).unwrap_or(0),
                        c.asset_index(&o.asset).unwrap_or(0),
                        o.start_step,
                        o.start_step + o.steps,
                        o.mode,
                        o.offset,
                    )
                })
                .collect(),
            adl: c.venues.iter().map(|v| v.auto_deleverage).collect(),
            rules,
            rule_params,
            fund_floor,
            by_book,
            hedged,
            account_pools,
            breakers: if with_breakers {
                c.breakers.clone()
            } else {
                Vec::new()
            },
            steps: c.steps,
            resilience: c.impact.resilience,
            moves_path: c.impact.moves_path,
            max_rounds: c.impact.max_rounds,
            buffer: c.impact.buffer,
            model,
        }
    }

    /// The same engine with only the breakers at `keep` (indices into the config's list).
    pub fn only_breakers(mut self, keep: &[usize]) -> Engine {
        self.breakers = self
            .breakers
            .iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, b)| b.clone())
            .collect();
        self
    }

    /// Number of venues.
    pub fn venues(&self) -> usize {
        self.n_venues
    }

    /// Per venue: notional at the start of legs hedged by an opposite leg on another venue.
    pub fn hedged_notional(&self) -> &[f64] {
        &self.hedged
    }

    /// Runs path `index`; `timeline` records every step when given.
    pub fn run_path(
        &self,
        index: u64,
        mut timeline: Option<&mut Vec<TimelinePoint>>,
    ) -> PathResult {
        let na = self.n_assets;
        let nv = self.n_venues;
        let mut st: PathState = self.model.start_path(index);
        let mut imp = vec![0.0f64; na];
        let mut common = self.model.start.clone();
        let mut prices = vec![0.0; nv * na];
        let mut stale = vec![f64::NAN; self.oracle.len()];
        let mut cursor = vec![0usize; self.lists.len()];
        let mut done = vec![false; self.pools.len()];
        let mut extra: Vec<Pool> = Vec::new();
        // Partially liquidated pools: per-path lists like the shared ones, with a generation
        // stamp so an entry made stale by a later re-sizing is skipped.
        let mut xlists: Vec<Vec<(f64, u32, u32)>> = vec![Vec::new(); self.lists.len()];
        let mut xgen: Vec<u32> = Vec::new();
        let mut fund = self.fund0.clone();
        let mut res = PathResult {
            bad_debt: vec![0.0; nv + 1],
            uncovered: vec![0.0; nv + 1],
            liquidated: vec![0.0; nv],
            fund_low: vec![1.0; nv + 1],
            min_price: vec![1.0; na],
            adl: vec![0.0; nv],
            breaker_active_steps: vec![0; self.breakers.len()],
            ..Default::default()
        };
        let window = self
            .breakers
            .iter()
            .filter_map(|b| match b.trigger {
                Trigger::PriceMove { window_steps, .. } => Some(window_steps),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let mut hist: Vec<Vec<f64>> = vec![common.clone(); window + 1];
        let mut active_until = vec![0usize; self.breakers.len()];
        let mut last_step_liq = 0.0;
        let mut orders: Vec<Order> = Vec::new();
        let mut vol = vec![0.0f64; nv * na];
        let mut adl_requests: Vec<AdlRequest> = Vec::new();
        // Exposure left unhedged by auto-deleveraging: (asset, signed quantity, price then,
        // venue deleveraged, account).
        let mut broken: Vec<(usize, f64, f64, usize, usize)> = Vec::new();
        // Per-path copies by book (venue × asset), ascending: the ADL candidates among them.
        let mut xby_book: Vec<Vec<u32>> = vec![Vec::new(); nv * na];
        // Per-path copies the venue keeps liquidating (or will look at again) next step.
        let mut deferred: Vec<u32> = Vec::new();
        // Throttle budget: liquidated notional per book (venue, asset) this STEP, over all rounds.
        let mut budget = vec![0.0f64; nv * na];
        let wicks = self.model.has_wicks();
        // Per venue: what the orders queued in this round already take from its fund (each order
        // is sized against the fund left by the ones before it, not the round's opening balance).
        let mut committed = vec![0.0f64; nv];
        let mut off = vec![0.0f64; na];
        for t in 0..self.steps {
            self.model.step(&mut st, t);
            for a in 0..na {
                common[a] = (st.log_price[a] + imp[a]).exp();
            }
            // Breakers: triggers on the state so far.
            let mut halt = false;
            let mut fallback = false;
            let mut throttle = f64::INFINITY;
            if !self.breakers.is_empty() {
                let raw = self.venue_prices(&common, t, &mut stale, false, &mut prices);
                let diverge = raw;
                hist[t % (window + 1)] = common.clone();
                for (bi, b) in self.breakers.iter().enumerate() {
                    let tripped = match b.trigger {
                        Trigger::PriceMove { window_steps, .. } => {
                            let old = &hist[(t + window + 1 - window_steps.min(t)) % (window + 1)];
                            (0..na).any(|a| b.trigger.price_moved(old[a], common[a]))
                        }
                        Trigger::OracleDivergence { pct } => diverge > pct,
                        Trigger::BadDebtExceedsFund => {
                            (0..=nv).any(|v| cents(res.bad_debt[v]) > self.fund0[v])
                        }
                        Trigger::LiquidationSpike { notional } => last_step_liq > notional,
                    };
                    if tripped && active_until[bi] <= t {
                        active_until[bi] = t + b.cooldown_steps.max(1);
                        res.breaker_trips += 1;
                    }
                    if active_until[bi] > t {
                        res.breaker_active_steps[bi] += 1;
                        match b.action {
                            Action::HaltLiquidations => halt = true,
                            Action::OracleFallback => fallback = true,
                            Action::ThrottleLiquidations { max_depth_fraction } => {
                                throttle = throttle.min(max_depth_fraction)
                            }
                        }
                    }
                }
            }
            let mut step_liq = 0.0;
            for b in budget.iter_mut() {
                *b = 0.0;
            }
            // Pools the venue is still liquidating (or did not act on) are looked at again.
            for ei in std::mem::take(&mut deferred) {
                let ei = ei as usize;
                if let Some((slot, thr)) = locate(&extra[ei], &self.rates, na, nv) {
                    xgen[ei] += 1;
                    let down = self.lists[slot].down;
                    insert_x(&mut xlists[slot], down, (thr, ei as u32, xgen[ei]));
                }
            }
            // Intrastep wicks: liquidations are checked at the step's low and high (in the order
            // the path drew) before its close; each extreme is the close moved by its wick.
            let phases: &[i8] = if !wicks {
                &[0]
            } else if st.up_first {
                &[1, -1, 0]
            } else {
                &[-1, 1, 0]
            };
            if !halt {
                for &phase in phases {
                    for a in 0..na {
                        off[a] = match phase {
                            -1 => -st.wick_down[a],
                            1 => st.wick_up[a],
                            _ => 0.0,
                        };
                        common[a] = (st.log_price[a] + imp[a] + off[a]).exp();
                    }
                    for round in 0..self.max_rounds {
                        let overlay =
                            self.venue_prices(&common, t, &mut stale, fallback, &mut prices) > 0.0;
                        orders.clear();
                        for x in committed.iter_mut() {
                            *x = 0.0;
                        }
                        // Silo and unified lists.
                        for (li, l) in self.lists.iter().enumerate() {
                            let unified_list = l.venue == usize::MAX;
                            if unified_list && overlay {
                                continue;
                            }
                            let p = if unified_list {
                                common[l.asset]
                            } else {
                                prices[l.venue * na + l.asset]
                            };
                            while cursor[li] < l.entries.len() {
                                let (thr, pi) = l.entries[cursor[li]];
                                let hit = if l.down { p <= thr } else { p >= thr };
                                if !hit {
                                    break;
                                }
                                if !done[pi as usize] {
                                    match self.queue(
                                        &self.pools[pi as usize],
                                        &prices,
                                        throttle,
                                        &mut budget,
                                        (&fund, &mut committed),
                                    ) {
                                        Queued::Order(frac, rule) => orders.push(Order {
                                            idx: pi,
                                            extra: false,
                                            frac,
                                            rule,
                                        }),
                                        Queued::Blocked => break,
                                        Queued::Idle => {
                                            // A copy, looked at again next step.
                                            done[pi as usize] = true;
                                            let p = self.pools[pi as usize].clone();
                                            let ei = extra.len() as u32;
                                            for l in &p.legs {
                                                xby_book[l.venue * na + l.asset].push(ei);
                                            }
                                            extra.push(p);
                                            xgen.push(0);
                                            deferred.push(ei);
                                        }
                                    }
                                }
                                cursor[li] += 1;
                            }
                        }
                        if overlay {
                            for &pi in &self.unified {
                                let p = &self.pools[pi as usize];
                                if !done[pi as usize]
                                    && p.equity(&prices, na)
                                        < p.requirement(&prices, na, &self.rates, false)
                                {
                                    if let Queued::Order(frac, rule) = self.queue(
                                        p,
                                        &prices,
                                        throttle,
                                        &mut budget,
                                        (&fund, &mut committed),
                                    ) {
                                        orders.push(Order {
                                            idx: pi,
                                            extra: false,
                                            frac,
                                            rule,
                                        });
                                    }
                                }
                            }
                        }
                        for (li, xl) in xlists.iter_mut().enumerate() {
                            let l = &self.lists[li];
                            let unified_list = l.venue == usize::MAX;
                            if unified_list && overlay {
                                continue;
                            }
                            let p = if unified_list {
                                common[l.asset]
                            } else {
                                prices[l.venue * na + l.asset]
                            };
                            while let Some(&(thr, ei, g)) = xl.last() {
                                if xgen[ei as usize] != g {
                                    xl.pop();
                                    continue;
                                }
                                let hit = if l.down { p <= thr } else { p >= thr };
                                if !hit {
                                    break;
                                }
                                let q = self.queue(
                                    &extra[ei as usize],
                                    &prices,
                                    throttle,
                                    &mut budget,
                                    (&fund, &mut committed),
                                );
                                if matches!(q, Queued::Blocked) {
                                    break;
                                }
                                xl.pop();
                                xgen[ei as usize] += 1;
                                match q {
                                    Queued::Order(frac, rule) => orders.push(Order {
                                        idx: ei,
                                        extra: true,
                                        frac,
                                        rule,
                                    }),
                                    _ => deferred.push(ei),
                                }
                            }
                        }
                        if overlay {
                            for (ei, p) in extra.iter().enumerate() {
                                if p.unified
                                    && !p.legs.is_empty()
                                    && !orders.iter().any(|o| o.extra && o.idx == ei as u32)
                                    && p.equity(&prices, na)
                                        < p.requirement(&prices, na, &self.rates, false)
                                {
                                    if let Queued::Order(frac, rule) = self.queue(
                                        p,
                                        &prices,
                                        throttle,
                                        &mut budget,
                                        (&fund, &mut committed),
                                    ) {
                                        xgen[ei] += 1;
                                        orders.push(Order {
                                            idx: ei as u32,
                                            extra: true,
                                            frac,
                                            rule,
                                        });
                                    }
                                }
                            }
                        }
                        if orders.is_empty() {
                            break;
                        }
                        // Net the sized orders' volume per book (the orders were sized when queued).
                        for v in vol.iter_mut() {
                            *v = 0.0;
                        }
                        for o in orders.iter() {
                            let p = if o.extra {
                                &extra[o.idx as usize]
                            } else {
                                &self.pools[o.idx as usize]
                            };
                            if let (Some(r), Some(l)) = (&o.rule, p.legs.first()) {
                                vol[l.venue * na + l.asset] -=
                                    r.closed.signum() * r.market_notional;
                                continue;
                            }
                            for l in &p.legs {
                                vol[l.venue * na + l.asset] -=
                                    o.frac * l.q * prices[l.venue * na + l.asset];
                            }
                        }
                        // Execution prices: the batch walks the book from the common (true) price.
                        let mut exec = vec![0.0; nv * na];
                        for v in 0..nv {
                            for a in 0..na {
                                let q = vol[v * na + a];
                                let m = self.impact[v * na + a].mv(q.abs());
                                exec[v * na + a] = common[a] * (1.0 + q.signum() * m);
                                if m > 0.0 && self.moves_path {
                                    imp[a] += (1.0 + q.signum() * m).ln();
                                }
                            }
                        }
                        let mut round_liq = 0.0;
                        adl_requests.clear();
                        for o in &orders {
                            let pool = if o.extra {
                                extra[o.idx as usize].clone()
                            } else {
                                self.pools[o.idx as usize].clone()
                            };
                            let (after, notional, continues) = match &o.rule {
                                Some(r) => {
                                    let (a, n) = self.settle_rule(
                                        pool,
                                        r,
                                        &prices,
                                        &mut fund,
                                        &mut res,
                                        &mut adl_requests,
                                    );
                                    (a, n, r.continues)
                                }
                                None => {
                                    let (a, n) = self.settle(
                                        pool,
                                        o.frac,
                                        &exec,
                                        &mut fund,
                                        &mut res,
                                        &mut adl_requests,
                                    );
                                    (a, n, false)
                                }
                            };
                            round_liq += notional;
                            let ei = if o.extra {
                                extra[o.idx as usize] = after;
                                o.idx as usize
                            } else {
                                done[o.idx as usize] = true;
                                if after.legs.is_empty() {
                                    continue;
                                }
                                for l in &after.legs {
                                    xby_book[l.venue * na + l.asset].push(extra.len() as u32);
                                }
                                extra.push(after);
                                xgen.push(0);
                                extra.len() - 1
                            };
                            if continues {
                                xgen[ei] += 1;
                                deferred.push(ei as u32);
                                continue;
                            }
                            if let Some((slot, thr)) = locate(&extra[ei], &self.rates, na, nv) {
                                xgen[ei] += 1;
                                let down = self.lists[slot].down;
                                insert_x(&mut xlists[slot], down, (thr, ei as u32, xgen[ei]));
                            }
                        }
                        for req in std::mem::take(&mut adl_requests) {
                            self.deleverage(
                                req,
                                &prices,
                                &mut Book {
                                    done: &mut done,
                                    extra: &mut extra,
                                    xgen: &mut xgen,
                                    xlists: &mut xlists,
                                    xby_book: &mut xby_book,
                                },
                                &mut res,
                                &mut broken,
                            );
                        }
                        step_liq += round_liq;
                        if round > 0 {
                            res.cascade_liquidated += round_liq;
                        }
                        for a in 0..na {
                            common[a] = (st.log_price[a] + imp[a] + off[a]).exp();
                        }
                    }
                }
                for a in 0..na {
                    common[a] = (st.log_price[a] + imp[a]).exp();
                }
            }
            if halt {
                res.halted_steps += 1;
            }
            last_step_liq = step_liq;
            res.liquidation_step_weight += step_liq * t as f64;
            if res.first_bad_debt_step.is_none() && res.bad_debt.iter().any(|b| *b > 0.0) {
                res.first_bad_debt_step = Some(t);
            }
            for a in 0..na {
                imp[a] *= 1.0 - self.resilience;
                res.min_price[a] = res.min_price[a].min(common[a] / self.model.start[a]);
            }
            for v in 0..=nv {
                if self.fund0[v].0 > 0 {
                    res.fund_low[v] =
                        res.fund_low[v].min(fund[v].0 as f64 / self.fund0[v].0 as f64);
                }
            }
            if let Some(tl) = timeline.as_deref_mut() {
                tl.push(TimelinePoint {
                    step: t,
                    prices: common.clone(),
                    liquidated: step_liq,
                    bad_debt: res.total_bad_debt(),
                    breaker_active: active_until.iter().any(|u| *u > t),
                });
            }
        }
        res.venues_hit = res.liquidated.iter().filter(|x| **x > 0.0).count();
        res.broken_hedge_notional_by_venue = vec![0.0; nv];
        res.broken_hedge_loss_by_venue = vec![0.0; nv];
        for &(a, q, p, v, account) in &broken {
            let loss = (-q * (common[a] - p)).max(0.0);
            res.broken_hedge_loss += loss;
            res.broken_hedge_notional_by_venue[v] += q.abs() * p;
            res.broken_hedge_loss_by_venue[v] += loss;
            res.broken_hedge_accounts
                .push((account, v, q.abs() * p, loss));
        }
        res.fund_end = fund.iter().map(|f| f.0 as f64 / 100.0).collect();
        res
    }

    /// Auto-deleveraging of one bankrupt position: profitable opposite positions on its venue and
    /// asset, ranked by P&L ratio × leverage (at a venue with the `binance` rule, Binance's own
    /// LeveragePnL, `intermargin_liquidation::venue_style::binance::leverage_pnl`), are closed at
    /// its bankruptcy price until its size is matched. A position whose account holds the opposite
    /// leg elsewhere (a hedge) leaves that leg unhedged. Candidates are the pools with a leg on the
    /// book (indexed by venue and asset), not every pool.
    fn deleverage(
        &self,
        req: AdlRequest,
        prices: &[f64],
        book: &mut Book<'_>,
        res: &mut PathResult,
        broken: &mut Vec<(usize, f64, f64, usize, usize)>,
    ) {
        let na = self.n_assets;
        let i = req.venue * na + req.asset;
        let px = prices[i];
        // (score, is_extra, index)
        let mut cands: Vec<(f64, bool, u32)> = Vec::new();
        let score = |p: &Pool| -> Option<f64> {
            let l = p
                .legs
                .iter()
                .find(|l| l.venue == req.venue && l.asset == req.asset && l.q * req.side < 0.0)?;
            let upnl = l.q * (px - l.p0);
            let equity = p.equity(prices, na);
            if upnl <= 0.0 || equity <= 0.0 {
                return None;
            }
            if !p.unified && self.rules[req.venue] == Some(VenueRule::Binance) {
                let mm = self.rates.mm[req.venue] * l.q.abs() * px;
                return Some(binance::leverage_pnl(upnl, p.collateral, mm));
            }
            let ratio = upnl / p.collateral.max(1e-9);
            Some(ratio * p.notional(prices, na) / equity)
        };
        for &k in &self.by_book[i] {
            if !book.done[k as usize] {
                if let Some(s) = score(&self.pools[k as usize]) {
                    cands.push((s, false, k));
                }
            }
        }
        for &k in &book.xby_book[i] {
            if let Some(s) = score(&book.extra[k as usize]) {
                cands.push((s, true, k));
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut left = req.qty;
        for (_, is_extra, k) in cands {
            if left <= 0.0 {
                break;
            }
            let ei = if is_extra {
                k as usize
            } else {
                book.done[k as usize] = true;
                let p = self.pools[k as usize].clone();
                for l in &p.legs {
                    book.xby_book[l.venue * na + l.asset].push(book.extra.len() as u32);
                }
                book.extra.push(p);
                book.xgen.push(0);
                book.extra.len() - 1
            };
            let p = &mut book.extra[ei];
            let Some(li) = p
                .legs
                .iter()
                .position(|l| l.venue == req.venue && l.asset == req.asset && l.q * req.side < 0.0)
            else {
                continue;
            };
            let take = left.min(p.legs[li].q.abs());
            let dq = p.legs[li].q.signum() * take;
            p.collateral += dq * (req.bankruptcy - p.legs[li].p0);
            p.legs[li].q -= dq;
            left -= take;
            let notional = take * req.bankruptcy;
            res.adl[req.venue] += notional;
            res.adl_accounts.push((p.account, notional));
            // The hedge this leg carried: the opposite leg on the same asset, in this pool
            // (unified) or in the account's other pools on other venues (siloed; their size at
            // the start — a partial liquidation of the hedge since is not tracked here).
            let opposite = |legs: &[Leg]| -> f64 {
                legs.iter()
                    .filter(|l| l.asset == req.asset && l.q * dq < 0.0)
                    .map(|l| l.q)
                    .sum()
            };
            let hedge_q = opposite(&p.legs)
                + self
                    .account_pools
                    .get(&p.account)
                    .map(|ps| {
                        ps.iter()
                            .map(|&j| &self.pools[j as usize])
                            .filter(|o| o.legs.iter().all(|l| l.venue != req.venue))
                            .map(|o| opposite(&o.legs))
                            .sum::<f64>()
                    })
                    .unwrap_or(0.0);
            if hedge_q != 0.0 {
                let unhedged = hedge_q.signum() * take.min(hedge_q.abs());
                res.broken_hedge_notional += unhedged.abs() * px;
                broken.push((req.asset, unhedged, px, req.venue, p.account));
            }
            p.legs.retain(|l| l.q.abs() >= 1e-12);
            book.xgen[ei] += 1;
            if let Some((slot, thr)) = locate(&book.extra[ei], &self.rates, na, self.n_venues) {
                let down = self.lists[slot].down;
                insert_x(
                    &mut book.xlists[slot],
                    down,
                    (thr, ei as u32, book.xgen[ei]),
                );
            }
        }
    }

    /// Fills venue oracle prices; returns the largest divergence between venues (0 = none).
    fn venue_prices(
        &self,
        common: &[f64],
        t: usize,
        stale: &mut [f64],
        fallback: bool,
        prices: &mut [f64],
    ) -> f64 {
        let na = self.n_assets;
        for v in 0..self.n_venues {
            prices[v * na..(v + 1) * na].copy_from_slice(common);
        }
        let mut div = 0.0f64;
        for (i, &(v, a, s, e, mode, off)) in self.oracle.iter().enumerate() {
            if t < s || t >= e {
                stale[i] = f64::NAN;
                continue;
            }
            if stale[i].is_nan() {
                stale[i] = common[a];
            }
            let p = match mode {
                OracleMode::Stale => stale[i],
                OracleMode::Offset => common[a] * (1.0 + off),
            };
            div = div.max((p / common[a] - 1.0).abs());
            if !fallback {
                prices[v * na + a] = p;
            }
        }
        if fallback {
            0.0
        } else {
            div
        }
    }

    /// Sizes a liquidation of `p` (the fraction of the pool to close) within the throttle: while
    /// a throttle is active, each book (venue, asset) liquidates at most `throttle × depth` of
    /// notional per STEP, over all the step's rounds (`used` holds what this step has taken). An
    /// order larger than what is left is cut to it (the rest waits for the next step); `None` when
    /// a book it trades on has nothing left.
    ///
    /// A siloed pool at a venue with its own rule is sized by that rule ([`Engine::rule_step`]);
    /// while a throttle is active such an order waits whole for the next step when the book has
    /// less left than its notional.
    fn queue(
        &self,
        p: &Pool,
        prices: &[f64],
        throttle: f64,
        used: &mut [f64],
        (fund, committed): (&[Amount], &mut [f64]),
    ) -> Queued {
        let na = self.n_assets;
        if let Some(l) = p.legs.first().filter(|_| !p.unified) {
            if self.rules[l.venue].is_some() {
                let i = l.venue * na + l.asset;
                let available =
                    fund[l.venue].0 as f64 / 100.0 - self.fund_floor[l.venue] - committed[l.venue];
                let Some(step) = self.rule_step(p, prices, available) else {
                    return Queued::Idle;
                };
                if throttle.is_finite() {
                    let left = throttle * self.impact[i].depth - used[i];
                    if step.market_notional > left {
                        return Queued::Blocked;
                    }
                    used[i] += step.market_notional;
                }
                if step.fund_delta < 0.0 {
                    committed[l.venue] -= step.fund_delta;
                }
                return Queued::Order(1.0, Some(step));
            }
        }
        let mut f = self.close_fraction_for(p, prices);
        if throttle.is_infinite() {
            return Queued::Order(f, None);
        }
        for l in &p.legs {
            let i = l.venue * na + l.asset;
            let left = throttle * self.impact[i].depth - used[i];
            let n = (l.q * prices[i]).abs();
            if n > 0.0 {
                f = f.min(left / n);
            }
        }
        if f < MIN_FRACTION {
            return Queued::Blocked;
        }
        for l in &p.legs {
            let i = l.venue * na + l.asset;
            used[i] += f * (l.q * prices[i]).abs();
        }
        Queued::Order(f, None)
    }

    /// What the pool's venue does to it now by its own rule (siloed pools at a venue with
    /// `venues[].rule`), at the venue's oracle price with `fund` its fund; `None` when the venue
    /// has no rule or does not liquidate the pool now.
    pub fn rule_step(&self, p: &Pool, prices: &[f64], fund: f64) -> Option<RuleStep> {
        let l = p.legs.first().filter(|_| !p.unified && p.legs.len() == 1)?;
        let rule = self.rules.get(l.venue).copied().flatten()?;
        let params = self.rule_params.as_ref()?;
        let i = l.venue * self.n_assets + l.asset;
        let im = self.impact[i];
        let impact = ImpactParams {
            k: im.k,
            alpha: im.alpha,
            depth: im.depth,
        };
        // A rule that refuses its inputs (a non-finite price) leaves the pool to the next step.
        venue_step(
            rule,
            params,
            p,
            prices[i],
            self.rates.mm[l.venue],
            impact,
            fund,
        )
        .ok()
        .flatten()
    }

    /// Applies a venue rule's step to the pool: its leg reduced, its collateral replaced, the fund
    /// moved, bad debt booked, auto-deleveraging asked.
    fn settle_rule(
        &self,
        mut p: Pool,
        r: &RuleStep,
        prices: &[f64],
        fund: &mut [Amount],
        res: &mut PathResult,
        adl: &mut Vec<AdlRequest>,
    ) -> (Pool, f64) {
        let Some(l) = p.legs.first_mut() else {
            return (p, 0.0);
        };
        let (v, a) = (l.venue, l.asset);
        let notional = (r.closed * prices[v * self.n_assets + a]).abs();
        res.liquidated[v] += notional;
        if r.closed > 0.0 {
            res.liquidated_long += notional;
        }
        let side = l.q.signum();
        l.q -= r.closed;
        if l.q.abs() < 1e-12 || l.q.signum() != side {
            p.legs.clear();
        }
        p.collateral = r.collateral_after;
        fund[v] = Amount((fund[v].0 + (r.fund_delta * 100.0).round() as i128).max(0));
        res.bad_debt[v] += r.bad_debt;
        res.uncovered[v] += r.uncovered;
        if let Some((qty, bankruptcy)) = r.adl {
            adl.push(AdlRequest {
                venue: v,
                asset: a,
                side,
                qty,
                bankruptcy,
            });
        }
        (p, notional)
    }

    /// Fraction of the pool to close: all of it when equity < 0, else Drift's closed form
    /// `shortage / (MM·(1+b) − penalty)` capped by the venue's close fraction.
    fn close_fraction_for(&self, p: &Pool, prices: &[f64]) -> f64 {
        let na = self.n_assets;
        let e = p.equity(prices, na);
        if e <= 0.0 {
            return 1.0;
        }
        let mm = p.requirement(prices, na, &self.rates, false);
        let fees: f64 = p
            .legs
            .iter()
            .map(|l| self.fee[l.venue] * (l.q * prices[l.venue * na + l.asset]).abs())
            .sum();
        let cap = p
            .legs
            .iter()
            .map(|l| self.close_fraction[l.venue])
            .fold(1.0, f64::min);
        let shortage = mm * (1.0 + self.buffer) - e;
        let denom = mm * (1.0 + self.buffer) - fees;
        let f = if denom > 0.0 { shortage / denom } else { 1.0 };
        let f = f.clamp(0.0, 1.0).min(cap);
        // Remnants below 1% of the position are closed with it.
        if f > 0.99 {
            1.0
        } else {
            f.max(MIN_FRACTION)
        }
    }

    /// Closes `frac` of every leg at `exec`, pays penalties, settles bad debt.
    fn settle(
        &self,
        mut p: Pool,
        frac: f64,
        exec: &[f64],
        fund: &mut [Amount],
        res: &mut PathResult,
        adl: &mut Vec<AdlRequest>,
    ) -> (Pool, f64) {
        let na = self.n_assets;
        let home = if p.unified {
            self.n_venues
        } else {
            p.legs.first().map(|l| l.venue).unwrap_or(0)
        };
        let mut notional = 0.0;
        let mut fees = Vec::with_capacity(p.legs.len());
        // The last leg closed (a siloed pool has one): what auto-deleveraging would match.
        let mut closed: Option<(usize, f64, f64)> = None;
        for l in p.legs.iter_mut() {
            let px = exec[l.venue * na + l.asset];
            let dq = l.q * frac;
            closed = Some((l.asset, dq, px));
            p.collateral += dq * (px - l.p0);
            let n = (dq * px).abs();
            notional += n;
            res.liquidated[l.venue] += n;
            if dq > 0.0 {
                res.liquidated_long += n;
            }
            fees.push((l.venue, self.fee[l.venue] * n));
            l.q -= dq;
        }
        for (v, f) in fees {
            let charged = f.min(p.collateral.max(0.0));
            p.collateral -= charged;
            let to_fund = cents(charged * self.insurance_share[v]);
            fund[v] = Amount(fund[v].0 + to_fund.0);
        }
        let all_closed = frac >= 1.0 || p.legs.iter().all(|l| l.q.abs() < 1e-12);
        if all_closed {
            p.legs.clear();
            if p.collateral < 0.0 {
                let who = home;
                let debt = cents(-p.collateral);
                if let Ok(s) = settle_bad_debt(
                    debt,
                    fund[who],
                    &[WaterfallStep::InsuranceFund, WaterfallStep::Socialised],
                    &[],
                    &[],
                ) {
                    fund[who] = s.fund_after;
                    res.bad_debt[who] += debt.0 as f64 / 100.0;
                    let uncovered = s.socialised.0 as f64 / 100.0;
                    res.uncovered[who] += uncovered;
                    if let (false, Some(true), Some((asset, dq, px))) =
                        (p.unified, self.adl.get(who).copied(), closed)
                    {
                        if uncovered > 0.0 && dq != 0.0 {
                            // Closing at px left `uncovered`; at the bankruptcy price it leaves 0.
                            adl.push(AdlRequest {
                                venue: who,
                                asset,
                                side: dq.signum(),
                                qty: dq.abs(),
                                bankruptcy: px + dq.signum() * uncovered / dq.abs(),
                            });
                        }
                    }
                }
                p.collateral = 0.0;
            }
        }
        (p, notional)
    }
}
