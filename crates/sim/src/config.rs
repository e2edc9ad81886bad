//! The simulation config (TOML), parsed in two stages: as typed (serde, with the failing key
//! path from `serde_path_to_error`), then validated (ranges, cross references) with errors
//! naming the key.

use serde::{Deserialize, Serialize};

use crate::error::{cfg, SimError};

/// Whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Free-text name shown in summaries and plots.
    #[serde(default)]
    pub name: String,
    /// Master seed; path `i` uses the ChaCha8 stream `i` of this seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of Monte Carlo paths.
    #[serde(default = "default_paths")]
    pub paths: usize,
    /// Steps per path.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Seconds per step.
    #[serde(default = "default_dt")]
    pub dt_seconds: f64,
    /// Price process.
    #[serde(default)]
    pub process: Process,
    /// Assets and their dynamics.
    pub assets: Vec<AssetConfig>,
    /// Correlation matrix between assets (identity when absent).
    #[serde(default)]
    pub correlation: Option<Vec<Vec<f64>>>,
    /// Deterministic moves added on top of the random path (a crash).
    #[serde(default)]
    pub shocks: Vec<Shock>,
    /// Venues and their rules.
    pub venues: Vec<VenueConfig>,
    /// The collateral hub through which some accounts are cross-margined.
    #[serde(default)]
    pub hub: HubConfig,
    /// Oracle failures.
    #[serde(default)]
    pub oracle_failures: Vec<OracleFailure>,
    /// Account population.
    pub population: Population,
    /// Price impact dynamics shared by all venues.
    #[serde(default)]
    pub impact: ImpactDynamics,
    /// Circuit breakers (the summary reports the run with and without them).
    #[serde(default)]
    pub breakers: Vec<Breaker>,
    /// Frontier sweep.
    #[serde(default)]
    pub frontier: Option<FrontierConfig>,
}

fn default_seed() -> u64 {
    1
}
fn default_paths() -> usize {
    1000
}
fn default_steps() -> usize {
    1440
}
fn default_dt() -> f64 {
    60.0
}

/// Price process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Process {
    /// Correlated GBM with Merton jumps and GARCH(1,1) variance.
    #[default]
    Gbm,
    /// IID (or block) bootstrap of historical log returns read from a CSV of prices.
    Bootstrap {
        /// CSV path (relative to the config file): a header row naming the asset columns.
        csv: String,
        /// Block length in rows (1 = iid).
        #[serde(default = "one")]
        block: usize,
    },
}

fn one() -> usize {
    1
}

/// One asset's dynamics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Ticker.
    pub name: String,
    /// Starting price.
    pub price: f64,
    /// Annualised volatility.
    pub vol: f64,
    /// Annualised drift.
    #[serde(default)]
    pub drift: f64,
    /// Jumps per year (Merton).
    #[serde(default)]
    pub jump_intensity: f64,
    /// Mean log jump size.
    #[serde(default)]
    pub jump_mean: f64,
    /// Std of log jump size.
    #[serde(default)]
    pub jump_std: f64,
    /// GARCH(1,1) weight of the last squared shock.
    #[serde(default)]
    pub garch_alpha: f64,
    /// GARCH(1,1) weight of the last variance.
    #[serde(default)]
    pub garch_beta: f64,
    /// Intrastep wicks: mean excursion (log, exponential) of the step's low below and high above
    /// its close; each step draws one of each from the path's seed and liquidations are checked at
    /// the low, the high (in a random order) and the close. 0 (default): closes only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wick: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// A deterministic log move spread over a window: `total_return` = −0.5 halves the price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shock {
    /// Asset name.
    pub asset: String,
    /// First step.
    pub start_step: usize,
    /// Number of steps.
    pub steps: usize,
    /// Simple return over the window.
    pub total_return: f64,
    /// Intrastep wicks during the window (mean, as `assets[].wick`), added to the asset's own.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wick: f64,
}

/// Depth of one venue's book for one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthConfig {
    /// Asset name.
    pub asset: String,
    /// Fractional move when the order notional equals `depth`.
    #[serde(default)]
    pub k: f64,
    /// Impact exponent (0.5 square root, 1 linear).
    #[serde(default)]
    pub alpha: f64,
    /// Notional that moves the price by `k`.
    #[serde(default)]
    pub depth: f64,
    /// A venue's published book from `params/depth.toml` (`binance`, `hyperliquid`, …) for this
    /// asset, instead of `k`, `alpha` and `depth` written here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub book: Option<String>,
}

/// A venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Name (`dydx`, `hyperliquid`, …).
    pub name: String,
    /// Initial margin fraction.
    pub im_rate: f64,
    /// Maintenance margin fraction.
    pub mm_rate: f64,
    /// Penalty as a fraction of closed notional.
    #[serde(default)]
    pub liquidation_fee: f64,
    /// Fraction of the penalty to the insurance fund.
    #[serde(default = "one_f")]
    pub insurance_share: f64,
    /// Insurance fund at the start, quote currency.
    #[serde(default)]
    pub insurance_fund: f64,
    /// Largest fraction of a position closed per liquidation.
    #[serde(default = "one_f")]
    pub max_close_fraction: f64,
    /// Book depth per asset.
    pub depth: Vec<DepthConfig>,
    /// The unified model's venue whose parameters (kind, buffer, basis, funding, depth) apply to
    /// this venue's legs of unified accounts; defaults to `name`.
    #[serde(default)]
    pub model_venue: Option<String>,
    /// When the insurance fund cannot cover a bankrupt position, the venue auto-deleverages:
    /// profitable opposite positions, ranked by P&L ratio × leverage, are closed at the bankrupt
    /// position's bankruptcy price (Binance, Bybit, OKX, Hyperliquid, dYdX's deleveraging)
    /// instead of the loss being socialised.
    #[serde(default)]
    pub auto_deleverage: bool,
    /// The venue's own liquidation procedure for its siloed pools (`deribit`, `binance`,
    /// `hyperliquid`, `dydx`, `aave`; see [`crate::venue_rules`]): sizing, fees, fund and
    /// auto-deleveraging then come from the rule and `intermargin-liquidation`'s
    /// `params/venues.toml`, not from `liquidation_fee` / `max_close_fraction` here. Unified pools
    /// at the hub keep the engine's closed form.
    #[serde(default)]
    pub rule: Option<crate::venue_rules::VenueRule>,
}

fn one_f() -> f64 {
    1.0
}

/// The hub: unified accounts are margined by the margin crate's unified model
/// (`crates/margin/params/unified.toml`, one source of the formula).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Hub insurance fund, quote currency.
    #[serde(default)]
    pub insurance_fund: f64,
    /// Close-out horizon of the unified model, seconds (default: the model's own, transfer + close-out).
    #[serde(default)]
    pub horizon_s: Option<f64>,
}

/// What a failing oracle reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OracleMode {
    /// Price frozen at the value when the failure started.
    Stale,
    /// Price off by `offset` (−0.3 = 30% low).
    Offset,
}

/// An oracle failure on one venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleFailure {
    /// Venue name.
    pub venue: String,
    /// Asset name.
    pub asset: String,
    /// First step.
    pub start_step: usize,
    /// Number of steps.
    pub steps: usize,
    /// Stale or offset.
    pub mode: OracleMode,
    /// Fractional offset for `offset` mode.
    #[serde(default)]
    pub offset: f64,
}

/// The account population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// Number of accounts.
    pub accounts: usize,
    /// Median notional per account, quote currency (log-normal).
    pub notional_median: f64,
    /// Log-normal sigma of notional.
    #[serde(default = "half")]
    pub notional_sigma: f64,
    /// Fraction of single-venue accounts that are long.
    #[serde(default = "half")]
    pub long_fraction: f64,
    /// Fraction of accounts that are cross-margined through the hub (a leg on two venues).
    #[serde(default)]
    pub hub_fraction: f64,
    /// Hedge ratio of a hub account's second leg (1 = fully hedged basis trade).
    #[serde(default = "one_f")]
    pub hub_hedge_ratio: f64,
    /// Mean excess collateral over the initial requirement, as a fraction of it (exponential).
    #[serde(default = "half")]
    pub mean_cushion: f64,
    /// Multiplier on every initial requirement (the frontier's knob).
    #[serde(default = "one_f")]
    pub im_multiplier: f64,
    /// How hub accounts are margined.
    #[serde(default)]
    pub margining: Margining,
}

fn half() -> f64 {
    0.5
}

/// Siloed (each venue alone) or unified (one pool at the hub).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Margining {
    /// Each leg margined and liquidated by its own venue with its own collateral.
    #[default]
    Siloed,
    /// Margined by the unified model: each venue's own floor kept, the pooled stress at the hub.
    Unified,
}

/// Shared impact dynamics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactDynamics {
    /// Fraction of the accumulated impact that decays each step (book resilience).
    pub resilience: f64,
    /// Liquidation rounds per step (liquidations → impact → liquidations).
    pub max_rounds: usize,
    /// Liquidation target buffer over maintenance.
    pub buffer: f64,
    /// Whether liquidations' impact moves the shared price (default). `false`: it only prices
    /// their execution — a replay of a published path that already contains the cascade's impact.
    #[serde(default = "yes")]
    pub moves_path: bool,
}

fn yes() -> bool {
    true
}

impl Default for ImpactDynamics {
    fn default() -> Self {
        ImpactDynamics {
            resilience: 0.05,
            max_rounds: 20,
            buffer: 0.05,
            moves_path: true,
        }
    }
}

/// A circuit breaker: a trigger, an action and a cool-down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    /// What trips it.
    pub trigger: Trigger,
    /// What it does while active.
    pub action: Action,
    /// Steps it stays active after tripping.
    pub cooldown_steps: usize,
}

/// Breaker triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Any asset moved more than `pct` within `window_steps`.
    PriceMove {
        /// Fractional move.
        pct: f64,
        /// Window in steps.
        window_steps: usize,
    },
    /// Venues' oracle prices for one asset differ by more than `pct`.
    OracleDivergence {
        /// Fractional divergence (max/min − 1).
        pct: f64,
    },
    /// A venue's cumulative bad debt exceeds its initial insurance fund.
    BadDebtExceedsFund,
    /// Liquidated notional in one step exceeds `notional`.
    LiquidationSpike {
        /// Quote currency.
        notional: f64,
    },
}

impl Trigger {
    /// For a `price_move` trigger: whether a price going from `then` to `now` moved by more than
    /// its `pct` (either way). The risk lab's engine and the live monitor both ask this.
    pub fn price_moved(&self, then: f64, now: f64) -> bool {
        match self {
            Trigger::PriceMove { pct, .. } => (now / then - 1.0).abs() > *pct,
            _ => false,
        }
    }
}

/// Breaker actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// No liquidations while active (a trading halt for liquidators).
    HaltLiquidations,
    /// Liquidated notional per book (venue and asset) and STEP, over all of the step's rounds,
    /// capped at `max_depth_fraction` × depth; an order beyond what is left is cut to it and the
    /// rest waits for the next step.
    ThrottleLiquidations {
        /// Fraction of the book's depth.
        max_depth_fraction: f64,
    },
    /// Venues whose oracle diverges use the cross-venue median instead.
    OracleFallback,
}

/// Frontier sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontierConfig {
    /// IM multipliers to sweep.
    pub im_multipliers: Vec<f64>,
    /// Paths per point (defaults to `paths`).
    #[serde(default)]
    pub paths: Option<usize>,
    /// Largest acceptable probability of bad debt on a path: the frontier reports (and the plot
    /// marks) the smallest multiplier that keeps its upper 95 % bound under it.
    #[serde(default)]
    pub target_prob_bad_debt: Option<f64>,
}

/// Hard limits every config must respect, in the CLI as in the service: past them a run
/// cannot fit in a machine's memory, whatever budget the caller allows.
pub const MAX_ACCOUNTS: usize = 10_000_000;
/// Hard limit on steps per path.
pub const MAX_STEPS: usize = 1_000_000;
/// Hard limit on Monte Carlo paths (and paths per frontier point).
pub const MAX_PATHS: usize = 10_000_000;
/// Hard limit on frontier points (`frontier.im_multipliers`).
pub const MAX_FRONTIER_POINTS: usize = 64;
/// Hard limit on each list of events (shocks, oracle failures, breakers).
pub const MAX_EVENTS: usize = 1_024;

/// Bytes one account costs a run: its pools (two at most, 48 bytes each plus their legs), its
/// entries in the per-venue liquidation lists and the per-path cursors (measured order of
/// magnitude, rounded up).
const BYTES_PER_ACCOUNT: u128 = 512;
/// Bytes per (step, asset, venue) cell: shock table, oracle prices and the worst-path timeline.
const BYTES_PER_STEP_CELL: u128 = 64;

/// What a run of a config will cost, estimated from the config alone before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// Paths run in all (both breaker settings; every frontier point, siloed and unified).
    pub paths: u128,
    /// Work units: paths × (steps × assets × venues + accounts).
    pub work: u128,
    /// Peak memory, bytes.
    pub memory_bytes: u128,
}

/// The largest run a caller accepts; [`Config::check_budget`] refuses configs beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most accounts.
    pub max_accounts: usize,
    /// Most steps per path.
    pub max_steps: usize,
    /// Most paths per run (per frontier point for a frontier).
    pub max_paths: usize,
    /// Most work units ([`Estimate::work`]).
    pub max_work: u128,
    /// Most memory, bytes ([`Estimate::memory_bytes`]).
    pub max_memory_bytes: u128,
}

impl Budget {
    /// The hard limits alone (the CLI: the operator runs on their own machine).
    pub const fn unlimited() -> Budget {
        Budget {
            max_accounts: MAX_ACCOUNTS,
            max_steps: MAX_STEPS,
            max_paths: MAX_PATHS,
            max_work: u128::MAX,
            max_memory_bytes: 64 << 30,
        }
    }

    /// What one request to a shared service may start: about 50× the bundled presets' work and
    /// at most 1 GiB, so one caller cannot take the machine.
    pub const fn service() -> Budget {
        Budget {
            max_accounts: 100_000,
            max_steps: 20_000,
            max_paths: 100_000,
            max_work: 2_000_000_000,
            max_memory_bytes: 1 << 30,
        }
    }
}

impl Config {
    /// Runs of all paths `simulate` makes: without breakers, with all of them, and each alone when
    /// there are several (the summary's `breakers_explained`).
    pub fn simulate_runs(&self) -> usize {
        match self.breakers.len() {
            0 => 1,
            1 => 2,
            n => 2 + n,
        }
    }

    /// The cost of running this config (as `simulate`, or as `frontier` when `frontier`).
    pub fn estimate(&self, frontier: bool) -> Estimate {
        let (a, v, s) = (
            self.assets.len() as u128,
            self.venues.len() as u128,
            self.steps as u128,
        );
        let accounts = self.population.accounts as u128;
        let paths = match (&self.frontier, frontier) {
            (Some(f), true) => {
                f.paths.unwrap_or(self.paths) as u128 * f.im_multipliers.len() as u128 * 2
            }
            _ => self.paths as u128 * self.simulate_runs() as u128,
        };
        let per_path = s.saturating_mul(a * v).saturating_add(accounts);
        let threads = std::thread::available_parallelism()
            .map(|n| n.get() as u128)
            .unwrap_or(1);
        Estimate {
            paths,
            work: paths.saturating_mul(per_path),
            memory_bytes: accounts
                .saturating_mul(BYTES_PER_ACCOUNT)
                .saturating_mul(1 + threads)
                .saturating_add(s.saturating_mul(a * v).saturating_mul(BYTES_PER_STEP_CELL)),
        }
    }

    /// Refuses a config whose size or estimated cost exceeds `budget`, naming the key to lower;
    /// call it before running anything (nothing is allocated by the check).
    pub fn check_budget(&self, budget: &Budget, frontier: bool) -> Result<Estimate, SimError> {
        let over = |key: &str, got: usize, max: usize| {
            if got > max {
                Err(cfg(key, format!("{got} exceeds the limit of {max}")))
            } else {
                Ok(())
            }
        };
        over(
            "population.accounts",
            self.population.accounts,
            budget.max_accounts,
        )?;
        over("steps", self.steps, budget.max_steps)?;
        over("paths", self.paths, budget.max_paths)?;
        if let Some(n) = self.frontier.as_ref().and_then(|f| f.paths) {
            over("frontier.paths", n, budget.max_paths)?;
        }
        let e = self.estimate(frontier);
        if e.work > budget.max_work {
            return Err(cfg(
                "paths",
                format!(
                    "the run would cost {} work units (paths × (steps × assets × venues + accounts)), \
                     over the budget of {}; lower paths, steps or population.accounts",
                    e.work, budget.max_work
                ),
            ));
        }
        if e.memory_bytes > budget.max_memory_bytes {
            return Err(cfg(
                "population.accounts",
                format!(
                    "the run would need about {} MiB, over the budget of {} MiB; lower population.accounts or steps",
                    e.memory_bytes >> 20,
                    budget.max_memory_bytes >> 20
                ),
            ));
        }
        Ok(e)
    }

    /// Parses TOML; an unknown or mistyped key is reported with its path.
    pub fn from_toml(text: &str) -> Result<Config, SimError> {
        let de = toml::Deserializer::new(text);
        let c: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            cfg(
                if path == "." {
                    "(root)".to_string()
                } else {
                    path
                },
                inner.message().to_string(),
            )
        })?;
        let mut c = c;
        c.resolve_books()?;
        c.validate()?;
        Ok(c)
    }

    /// Fills each `venues[].depth[]` entry naming a `book` from the published depth data
    /// (`params/depth.toml`); an entry gives either a book or its own `k`, `alpha` and `depth`.
    pub fn resolve_books(&mut self) -> Result<(), SimError> {
        let mut data: Option<crate::depth::DepthData> = None;
        for (i, v) in self.venues.iter_mut().enumerate() {
            for (j, d) in v.depth.iter_mut().enumerate() {
                let Some(book) = d.book.clone() else {
                    continue;
                };
                let key = format!("venues[{i}].depth[{j}].book");
                if d.k != 0.0 || d.alpha != 0.0 || d.depth != 0.0 {
                    return Err(cfg(
                        key,
                        "give either a published book or k, alpha and depth, not both",
                    ));
                }
                if data.is_none() {
                    data = Some(crate::depth::DepthData::bundled()?);
                }
                let b = data
                    .as_ref()
                    .and_then(|x| x.get(&book, &d.asset))
                    .ok_or_else(|| {
                        cfg(
                            key.clone(),
                            format!(
                                "params/depth.toml has no book for venue {book:?} and asset {:?}",
                                d.asset
                            ),
                        )
                    })?;
                d.k = b.k;
                d.alpha = b.alpha;
                d.depth = b.depth;
            }
        }
        Ok(())
    }

    /// Index of an asset by name.
    pub fn asset_index(&self, name: &str) -> Option<usize> {
        self.assets.iter().position(|a| a.name == name)
    }

    /// Index of a venue by name.
    pub fn venue_index(&self, name: &str) -> Option<usize> {
        self.venues.iter().position(|v| v.name == name)
    }

    /// Range and cross-reference checks, naming the key.
    pub fn validate(&self) -> Result<(), SimError> {
        let pos = |k: String, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(cfg(k, format!("must be > 0, got {v}")))
            }
        };
        let nonneg = |k: String, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(cfg(k, format!("must be >= 0, got {v}")))
            }
        };
        let unit = |k: String, v: f64| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(cfg(k, format!("must be within [0, 1], got {v}")))
            }
        };
        if self.paths == 0 {
            return Err(cfg("paths", "must be >= 1"));
        }
        if self.steps == 0 {
            return Err(cfg("steps", "must be >= 1"));
        }
        self.check_budget(&Budget::unlimited(), self.frontier.is_some())?;
        for (key, n) in [
            ("shocks", self.shocks.len()),
            ("oracle_failures", self.oracle_failures.len()),
            ("breakers", self.breakers.len()),
        ] {
            if n > MAX_EVENTS {
                return Err(cfg(
                    key,
                    format!("{n} entries exceed the limit of {MAX_EVENTS}"),
                ));
            }
        }
        if let Some(f) = &self.frontier {
            if f.im_multipliers.len() > MAX_FRONTIER_POINTS {
                return Err(cfg(
                    "frontier.im_multipliers",
                    format!(
                        "{} points exceed the limit of {MAX_FRONTIER_POINTS}",
                        f.im_multipliers.len()
                    ),
                ));
            }
        }
        pos("dt_seconds".into(), self.dt_seconds)?;
        if self.assets.is_empty() {
            return Err(cfg("assets", "at least one asset is needed"));
        }
        if self.assets.len() > 8 {
            return Err(cfg("assets", "at most 8 assets are supported"));
        }
        for (i, a) in self.assets.iter().enumerate() {
            let k = |f: &str| format!("assets[{i}].{f}");
            if a.name.trim().is_empty() {
                return Err(cfg(k("name"), "must not be empty"));
            }
            if self.assets[..i].iter().any(|b| b.name == a.name) {
                return Err(cfg(k("name"), format!("duplicate asset {:?}", a.name)));
            }
            pos(k("price"), a.price)?;
            nonneg(k("vol"), a.vol)?;
            nonneg(k("jump_intensity"), a.jump_intensity)?;
            nonneg(k("jump_std"), a.jump_std)?;
            nonneg(k("garch_alpha"), a.garch_alpha)?;
            nonneg(k("garch_beta"), a.garch_beta)?;
            if !(a.wick.is_finite() && (0.0..0.5).contains(&a.wick)) {
                return Err(cfg(
                    k("wick"),
                    format!("must be within [0, 0.5), got {}", a.wick),
                ));
            }
            if a.garch_alpha + a.garch_beta >= 1.0 {
                return Err(cfg(
                    k("garch_beta"),
                    "garch_alpha + garch_beta must be < 1 (stationary variance)",
                ));
            }
        }
        if let Some(c) = &self.correlation {
            let n = self.assets.len();
            if c.len() != n || c.iter().any(|r| r.len() != n) {
                return Err(cfg("correlation", format!("must be a {n}×{n} matrix")));
            }
            crate::paths::cholesky(c).map_err(|r| cfg("correlation", r))?;
        }
        for (i, s) in self.shocks.iter().enumerate() {
            if self.asset_index(&s.asset).is_none() {
                return Err(cfg(
                    format!("shocks[{i}].asset"),
                    format!("unknown asset {:?}", s.asset),
                ));
            }
            if s.steps == 0 || s.steps > self.steps {
                return Err(cfg(
                    format!("shocks[{i}].steps"),
                    format!("must be within 1..={} (the path's steps)", self.steps),
                ));
            }
            if s.start_step >= self.steps {
                return Err(cfg(
                    format!("shocks[{i}].start_step"),
                    format!("must be below steps ({})", self.steps),
                ));
            }
            if !(s.total_return > -1.0 && s.total_return.is_finite()) {
                return Err(cfg(format!("shocks[{i}].total_return"), "must be > -1"));
            }
            if !(s.wick.is_finite() && (0.0..0.5).contains(&s.wick)) {
                return Err(cfg(
                    format!("shocks[{i}].wick"),
                    format!("must be within [0, 0.5), got {}", s.wick),
                ));
            }
        }
        if self.venues.is_empty() {
            return Err(cfg("venues", "at least one venue is needed"));
        }
        if self.venues.len() > 16 {
            return Err(cfg("venues", "at most 16 venues are supported"));
        }
        for (i, v) in self.venues.iter().enumerate() {
            let k = |f: &str| format!("venues[{i}].{f}");
            if self.venues[..i].iter().any(|w| w.name == v.name) {
                return Err(cfg(k("name"), format!("duplicate venue {:?}", v.name)));
            }
            unit(k("im_rate"), v.im_rate)?;
            unit(k("mm_rate"), v.mm_rate)?;
            if !(v.mm_rate > 0.0 && v.mm_rate <= v.im_rate) {
                return Err(cfg(k("mm_rate"), "need 0 < mm_rate <= im_rate"));
            }
            unit(k("liquidation_fee"), v.liquidation_fee)?;
            if v.liquidation_fee >= v.mm_rate {
                return Err(cfg(
                    k("liquidation_fee"),
                    "must be below mm_rate, or a liquidation cannot restore margin",
                ));
            }
            unit(k("insurance_share"), v.insurance_share)?;
            nonneg(k("insurance_fund"), v.insurance_fund)?;
            unit(k("max_close_fraction"), v.max_close_fraction)?;
            if v.max_close_fraction == 0.0 {
                return Err(cfg(k("max_close_fraction"), "must be > 0"));
            }
            if v.rule.is_some() {
                crate::venue_rules::RuleParams::bundled(self.dt_seconds)
                    .map_err(|e| cfg(k("rule"), e.to_string()))?;
            }
            for (j, d) in v.depth.iter().enumerate() {
                let kk = |f: &str| format!("venues[{i}].depth[{j}].{f}");
                if self.asset_index(&d.asset).is_none() {
                    return Err(cfg(kk("asset"), format!("unknown asset {:?}", d.asset)));
                }
                nonneg(kk("k"), d.k)?;
                pos(kk("alpha"), d.alpha)?;
                pos(kk("depth"), d.depth)?;
            }
            for a in &self.assets {
                if !v.depth.iter().any(|d| d.asset == a.name) {
                    return Err(cfg(
                        k("depth"),
                        format!("no depth entry for asset {:?}", a.name),
                    ));
                }
            }
        }
        if let Some(h) = self.hub.horizon_s {
            if !(h.is_finite() && (0.0..=30.0 * 86_400.0).contains(&h)) {
                return Err(cfg(
                    "hub.horizon_s",
                    format!("must be in [0, 2592000] seconds, got {h}"),
                ));
            }
        }
        nonneg("hub.insurance_fund".into(), self.hub.insurance_fund)?;
        for (i, o) in self.oracle_failures.iter().enumerate() {
            if self.venue_index(&o.venue).is_none() {
                return Err(cfg(
                    format!("oracle_failures[{i}].venue"),
                    format!("unknown venue {:?}", o.venue),
                ));
            }
            if self.asset_index(&o.asset).is_none() {
                return Err(cfg(
                    format!("oracle_failures[{i}].asset"),
                    format!("unknown asset {:?}", o.asset),
                ));
            }
            if o.steps > self.steps || o.start_step >= self.steps {
                return Err(cfg(
                    format!("oracle_failures[{i}].start_step"),
                    format!("the window must lie within the path's {} steps", self.steps),
                ));
            }
            if o.offset <= -1.0 || !o.offset.is_finite() {
                return Err(cfg(format!("oracle_failures[{i}].offset"), "must be > -1"));
            }
        }
        let p = &self.population;
        if p.accounts == 0 {
            return Err(cfg("population.accounts", "must be >= 1"));
        }
        pos("population.notional_median".into(), p.notional_median)?;
        nonneg("population.notional_sigma".into(), p.notional_sigma)?;
        unit("population.long_fraction".into(), p.long_fraction)?;
        unit("population.hub_fraction".into(), p.hub_fraction)?;
        unit("population.hub_hedge_ratio".into(), p.hub_hedge_ratio)?;
        nonneg("population.mean_cushion".into(), p.mean_cushion)?;
        pos("population.im_multiplier".into(), p.im_multiplier)?;
        if p.hub_fraction > 0.0 && self.venues.len() < 2 {
            return Err(cfg(
                "population.hub_fraction",
                "hub accounts need at least two venues",
            ));
        }
        if p.hub_fraction > 0.0 {
            // Unified accounts (and every frontier, which runs the unified arm) need each venue's
            // parameters in the unified model.
            crate::population::UnifiedRates::new(self)?;
        }
        unit("impact.resilience".into(), self.impact.resilience)?;
        nonneg("impact.buffer".into(), self.impact.buffer)?;
        if self.impact.max_rounds == 0 {
            return Err(cfg("impact.max_rounds", "must be >= 1"));
        }
        for (i, b) in self.breakers.iter().enumerate() {
            match &b.trigger {
                Trigger::PriceMove { pct, window_steps } => {
                    pos(format!("breakers[{i}].trigger.pct"), *pct)?;
                    if *window_steps == 0 || *window_steps > 10_000 {
                        return Err(cfg(
                            format!("breakers[{i}].trigger.window_steps"),
                            "must be within 1..=10000",
                        ));
                    }
                }
                Trigger::OracleDivergence { pct } => {
                    pos(format!("breakers[{i}].trigger.pct"), *pct)?
                }
                Trigger::BadDebtExceedsFund => {}
                Trigger::LiquidationSpike { notional } => {
                    pos(format!("breakers[{i}].trigger.notional"), *notional)?
                }
            }
            if let Action::ThrottleLiquidations { max_depth_fraction } = b.action {
                pos(
                    format!("breakers[{i}].action.max_depth_fraction"),
                    max_depth_fraction,
                )?;
            }
        }
        if let Some(f) = &self.frontier {
            if f.im_multipliers.is_empty() {
                return Err(cfg(
                    "frontier.im_multipliers",
                    "must list at least one multiplier",
                ));
            }
            for (i, m) in f.im_multipliers.iter().enumerate() {
                pos(format!("frontier.im_multipliers[{i}]"), *m)?;
            }
            if f.paths == Some(0) {
                return Err(cfg("frontier.paths", "must be >= 1"));
            }
            if let Some(t) = f.target_prob_bad_debt {
                if !(t.is_finite() && t > 0.0 && t < 1.0) {
                    return Err(cfg(
                        "frontier.target_prob_bad_debt",
                        format!("must be in (0, 1), got {t}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
