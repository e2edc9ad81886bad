//! Simulation configuration (TOML or JSON), validated in two stages: serde reports missing or
//! unknown keys by name; [`SimConfig::validate`] checks ranges and names the offending key.

use std::collections::BTreeMap;

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::error::XchainError;
use crate::guardian::Scheme;
use crate::unified::SpokeModel;

/// A whole simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// The account (EOA or smart account) whose margin is simulated.
    pub account: Address,
    /// Time at which faults, trading and credit issuance stop (ms).
    pub faults_end_ms: u64,
    /// Hub parameters.
    pub hub: HubConfig,
    /// Guardian set.
    pub guardians: GuardianConfig,
    /// Requirement model.
    pub model: SpokeModel,
    /// Per-underlying prices.
    pub prices: BTreeMap<String, PriceConfig>,
    /// Spoke chains.
    pub spokes: Vec<SpokeConfig>,
    /// Fault model.
    #[serde(default)]
    pub faults: FaultConfig,
    /// Testing knobs.
    #[serde(default)]
    pub testing: TestingConfig,
}

/// Hub chain and pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Hub chain id.
    pub chain_id: u64,
    /// Hub verifying contract.
    pub contract: Address,
    /// Initial collateral (base units).
    pub collateral: u64,
    /// Haircut (basis points).
    pub haircut_bps: u32,
    /// Target size of one credit (base units).
    pub credit_size: u64,
    /// Credit lifetime (ms).
    pub credit_ttl_ms: u64,
    /// Rate-limit capacity per spoke per window (base units).
    pub rate_capacity: u64,
    /// Rate-limit window (ms).
    pub rate_window_ms: u64,
    /// Mean time between user withdrawal requests during the fault phase (ms, 0 = none).
    #[serde(default)]
    pub withdrawal_every_ms: u64,
}

/// Guardians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianConfig {
    /// Number of guardians.
    pub n: usize,
    /// Quorum.
    pub threshold: usize,
    /// Signature scheme (`ecdsa` by default).
    #[serde(default = "default_scheme")]
    pub scheme: Scheme,
}

fn default_scheme() -> Scheme {
    Scheme::Ecdsa
}

/// One underlying's price process: a bounded random walk with shocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Start price.
    pub start: f64,
    /// Relative band: prices stay in `[start·(1−band), start·(1+band)]`.
    pub band: f64,
    /// Stress price requirements are valued at; must be at least `start·(1+band)`.
    pub stress: f64,
}

/// One spoke chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpokeConfig {
    /// Chain id.
    pub chain_id: u64,
    /// Verifying contract.
    pub contract: Address,
    /// Block time (ms).
    pub block_time_ms: u64,
    /// Blocks until final.
    pub finality_blocks: u64,
    /// Guardians attest a report every this many final blocks.
    pub report_every_blocks: u64,
    /// Minimum one-way message latency (ms).
    pub latency_min_ms: u64,
    /// Mean extra latency (exponential, ms).
    pub latency_mean_ms: u64,
    /// Mean time between orders (ms).
    pub order_every_ms: u64,
    /// Largest order (size units).
    pub max_order: i64,
    /// Directional bias per underlying in `[-1, 1]` (hedged books put opposite signs on different spokes).
    pub bias: BTreeMap<String, f64>,
}

/// Fault probabilities and magnitudes (all zero = honest network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Probability a message is dropped.
    pub drop: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Probability the relayer later replays a delivered message.
    pub replay: f64,
    /// Probability the relayer withholds a message for `withhold_ms`.
    pub withhold: f64,
    /// Extra delay of a withheld message (ms).
    pub withhold_ms: u64,
    /// Probability a credit is delivered to the wrong spoke.
    pub misroute: f64,
    /// Probability a signature's bytes are corrupted in transit.
    pub corrupt: f64,
    /// Probability a block triggers a reorg.
    pub reorg: f64,
    /// Deepest reorg (blocks); must be below every spoke's finality.
    pub reorg_max_depth: u64,
    /// Guardians whose keys the attacker holds (must be below the threshold).
    pub compromised_guardians: usize,
    /// Mean time between forgery attempts (ms, 0 = none).
    pub forge_every_ms: u64,
    /// Mean time between price shocks (ms, 0 = none).
    pub shock_every_ms: u64,
    /// Largest relative price shock.
    pub shock_max: f64,
    /// Shocks at least this large trip the breaker on spokes trading the underlying.
    pub breaker_threshold: f64,
    /// Breaker pause length (ms).
    pub breaker_ms: u64,
    /// Mean time between user credit releases (ms, 0 = none).
    pub release_every_ms: u64,
}

/// Testing knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// An unsafe hub that ignores outstanding credits (to show the invariant checker catches it).
    pub ignore_outstanding_credits: bool,
}

fn prob(key: &str, v: f64) -> Result<(), XchainError> {
    if !v.is_finite() || !(0.0..=1.0).contains(&v) {
        return Err(XchainError::config(
            key,
            format!("must be a probability in [0, 1], got {v}"),
        ));
    }
    Ok(())
}

fn positive(key: &str, v: u64) -> Result<(), XchainError> {
    if v == 0 {
        return Err(XchainError::config(key, "must be positive"));
    }
    Ok(())
}

impl SimConfig {
    /// Parses TOML or JSON (chosen by `format`: "toml" or "json") and validates.
    pub fn parse(text: &str, format: &str) -> Result<SimConfig, XchainError> {
        let cfg: SimConfig = match format {
            "toml" => toml::from_str(text).map_err(|e| {
                XchainError::config(
                    "config",
                    e.to_string().lines().collect::<Vec<_>>().join(" "),
                )
            })?,
            "json" => serde_json::from_str(text)
                .map_err(|e| XchainError::config("config", e.to_string()))?,
            other => {
                return Err(XchainError::config(
                    "format",
                    format!("expected toml or json, got {other}"),
                ))
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Range checks; errors name the key.
    pub fn validate(&self) -> Result<(), XchainError> {
        let h = &self.hub;
        if h.credit_size == 0 {
            return Err(XchainError::config("hub.credit_size", "must be positive"));
        }
        positive("hub.credit_ttl_ms", h.credit_ttl_ms)?;
        positive("hub.rate_window_ms", h.rate_window_ms)?;
        if h.haircut_bps >= 10_000 {
            return Err(XchainError::config(
                "hub.haircut_bps",
                "must be below 10000",
            ));
        }
        if h.collateral as u128 > crate::requirement::MAX_REQUIREMENT {
            return Err(XchainError::config(
                "hub.collateral",
                "at most 2^50 base units",
            ));
        }
        let g = &self.guardians;
        if g.n == 0 || g.threshold == 0 || g.threshold > g.n {
            return Err(XchainError::config(
                "guardians.threshold",
                format!("must be between 1 and n = {}", g.n),
            ));
        }
        self.model.validate()?;
        if self.prices.is_empty() {
            return Err(XchainError::config("prices", "at least one underlying"));
        }
        for (u, p) in &self.prices {
            let ok = p.start.is_finite()
                && p.start > 0.0
                && p.band.is_finite()
                && (0.0..1.0).contains(&p.band);
            if !ok {
                return Err(XchainError::config(
                    format!("prices.{u}"),
                    "start must be positive and band in [0, 1)",
                ));
            }
            if p.stress.is_nan() || p.stress < p.start * (1.0 + p.band) {
                return Err(XchainError::config(
                    format!("prices.{u}.stress"),
                    format!(
                        "must be at least start·(1+band) = {}",
                        p.start * (1.0 + p.band)
                    ),
                ));
            }
        }
        if self.spokes.is_empty() {
            return Err(XchainError::config("spokes", "at least one spoke"));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.spokes.iter().enumerate() {
            let k = |f: &str| format!("spokes[{i}].{f}");
            if s.chain_id == h.chain_id || !ids.insert(s.chain_id) {
                return Err(XchainError::config(k("chain_id"), "duplicate chain id"));
            }
            positive(&k("block_time_ms"), s.block_time_ms)?;
            positive(&k("finality_blocks"), s.finality_blocks)?;
            positive(&k("report_every_blocks"), s.report_every_blocks)?;
            positive(&k("order_every_ms"), s.order_every_ms)?;
            if s.max_order <= 0 {
                return Err(XchainError::config(k("max_order"), "must be positive"));
            }
            if self.faults.reorg > 0.0 && self.faults.reorg_max_depth >= s.finality_blocks {
                return Err(XchainError::config(
                    "faults.reorg_max_depth",
                    format!(
                        "must be below spokes[{i}].finality_blocks = {}",
                        s.finality_blocks
                    ),
                ));
            }
            for (u, b) in &s.bias {
                if !self.prices.contains_key(u) {
                    return Err(XchainError::config(
                        k(&format!("bias.{u}")),
                        "no such underlying in prices",
                    ));
                }
                if !b.is_finite() || !(-1.0..=1.0).contains(b) {
                    return Err(XchainError::config(
                        k(&format!("bias.{u}")),
                        "must be in [-1, 1]",
                    ));
                }
            }
            if s.bias.is_empty() {
                return Err(XchainError::config(k("bias"), "at least one underlying"));
            }
        }
        let f = &self.faults;
        for (key, v) in [
            ("faults.drop", f.drop),
            ("faults.duplicate", f.duplicate),
            ("faults.replay", f.replay),
            ("faults.withhold", f.withhold),
            ("faults.misroute", f.misroute),
            ("faults.corrupt", f.corrupt),
            ("faults.reorg", f.reorg),
            ("faults.shock_max", f.shock_max),
            ("faults.breaker_threshold", f.breaker_threshold),
        ] {
            prob(key, v)?;
        }
        if f.compromised_guardians >= g.threshold || f.compromised_guardians > g.n {
            return Err(XchainError::config(
                "faults.compromised_guardians",
                format!("must be below guardians.threshold = {}", g.threshold),
            ));
        }
        Ok(())
    }
}
