//! `xchain scenario` configuration (TOML): the operation mix, amounts, prices, the guardians'
//! finality depth and the faults. serde names a missing, unknown or mistyped key by its path;
//! [`ScenarioConfig::validate`] checks ranges and cross references, naming the key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::XchainError;
use crate::unified::UnifiedSpokeModel;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Operation counts, amounts and finality.
    pub scenario: Params,
    /// Relative weights of the random operations.
    #[serde(default)]
    pub weights: Weights,
    /// Starting prices (quote per whole underlying) of the traded underlyings.
    pub prices: BTreeMap<String, f64>,
    /// The unified model the guardians re-value accounts with.
    #[serde(default = "default_model")]
    pub model: UnifiedSpokeModel,
    /// Faults injected on the nodes, the relay and the guardians.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn default_model() -> UnifiedSpokeModel {
    UnifiedSpokeModel::standard(6, 6)
}

/// Sizes of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Random operations (faults come on top, each after the operation its `at_step` names).
    pub steps: usize,
    /// Trading accounts (the hub node's unlocked accounts 1..=accounts).
    pub accounts: usize,
    /// Blocks an event must be buried under before the guardians sign it, and a relayed
    /// transaction before the relayer counts it delivered.
    pub finality: u64,
    /// Collateral each account deposits at the start (base units of the collateral token).
    pub initial_deposit: u64,
    /// Largest relative price move of one price step (e.g. 0.05).
    pub max_price_move: f64,
    /// Largest notional (quote) of one trade.
    pub max_trade_notional: f64,
    /// Credit lifetime in seconds.
    #[serde(default = "default_credit_ttl")]
    pub credit_ttl_s: u64,
}

fn default_credit_ttl() -> u64 {
    3600
}

/// Relative weights of the random operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Top-up deposits.
    pub deposit: u32,
    /// Credit locks for a spoke.
    pub credit: u32,
    /// Trades on a spoke (draws against the credit, then a position report).
    pub trade: u32,
    /// Price moves.
    pub price: u32,
    /// Withdrawal requests.
    pub withdraw: u32,
    /// Credit releases on a spoke (attested back to the hub, which retires the credit).
    pub release: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            deposit: 1,
            credit: 3,
            trade: 3,
            price: 2,
            withdraw: 2,
            release: 1,
        }
    }
}

/// One injected fault. `chain` is an index into deployment.json's `chains` (0 is the hub).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// `anvil_reorg` of the last `depth` blocks of `chain`: within the finality depth
    /// (`depth <= finality`) the dropped transactions are lost (a lock the guardians never saw, a
    /// relayed credit the relayer must re-submit); deeper, they are included again in the new
    /// blocks, as transactions of a reorged-out block return to the mempool.
    Reorg {
        /// After which operation.
        at_step: usize,
        /// Chain index.
        chain: usize,
        /// Blocks replaced.
        depth: u64,
    },
    /// The node of `chain` is stopped (its state written) and restarted from that state; a relay
    /// to it while down fails and is retried.
    NodeRestart {
        /// After which operation.
        at_step: usize,
        /// Chain index.
        chain: usize,
    },
    /// Attestations of this step are held back for `steps` operations.
    DelayRelay {
        /// After which operation.
        at_step: usize,
        /// Operations to wait.
        steps: usize,
    },
    /// An attestation is submitted twice.
    DuplicateRelay {
        /// After which operation.
        at_step: usize,
    },
    /// Two credits for one account and spoke are delivered newest first.
    ReorderRelays {
        /// After which operation.
        at_step: usize,
    },
    /// A credit with a raised amount under the guardians' signatures of the original.
    ForgedSignature {
        /// After which operation.
        at_step: usize,
    },
    /// The last accepted credit submitted again (same spoke, and to another spoke).
    ReplayCredit {
        /// After which operation.
        at_step: usize,
    },
    /// Guardian `guardian` signs nothing during operations `from_step..to_step`.
    GuardianOffline {
        /// Guardian index.
        guardian: usize,
        /// First operation offline.
        from_step: usize,
        /// First operation back online.
        to_step: usize,
    },
    /// An attacker holding guardian `guardian`'s key signs a credit and a permit for itself.
    CompromisedGuardian {
        /// After which operation.
        at_step: usize,
        /// Guardian index.
        guardian: usize,
    },
}

impl Fault {
    /// The fault's `kind` as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Reorg { .. } => "reorg",
            Fault::NodeRestart { .. } => "node_restart",
            Fault::DelayRelay { .. } => "delay_relay",
            Fault::DuplicateRelay { .. } => "duplicate_relay",
            Fault::ReorderRelays { .. } => "reorder_relays",
            Fault::ForgedSignature { .. } => "forged_signature",
            Fault::ReplayCredit { .. } => "replay_credit",
            Fault::GuardianOffline { .. } => "guardian_offline",
            Fault::CompromisedGuardian { .. } => "compromised_guardian",
        }
    }

    /// The operation after which it fires (a guardian outage: its first operation).
    pub fn at_step(&self) -> usize {
        match self {
            Fault::Reorg { at_step, .. }
            | Fault::NodeRestart { at_step, .. }
            | Fault::DelayRelay { at_step, .. }
            | Fault::DuplicateRelay { at_step }
            | Fault::ReorderRelays { at_step }
            | Fault::ForgedSignature { at_step }
            | Fault::ReplayCredit { at_step }
            | Fault::CompromisedGuardian { at_step, .. } => *at_step,
            Fault::GuardianOffline { from_step, .. } => *from_step,
        }
    }
}

impl ScenarioConfig {
    /// Parses TOML; errors name the key path.
    pub fn parse_toml(text: &str) -> Result<ScenarioConfig, XchainError> {
        let de = toml::Deserializer::new(text);
        let cfg: ScenarioConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.inner().message().to_string();
            XchainError::config(if path == "." { "config".into() } else { path }, msg)
        })?;
        cfg.model.validate()?;
        Ok(cfg)
    }

    /// Range checks against a deployment of `chains` chains and `guardians` guardians with
    /// quorum `threshold`; errors name the key.
    pub fn validate(
        &self,
        chains: usize,
        guardians: usize,
        threshold: usize,
    ) -> Result<(), XchainError> {
        let p = &self.scenario;
        if p.steps == 0 {
            return Err(XchainError::config("scenario.steps", "must be positive"));
        }
        if p.accounts == 0 || p.accounts > 6 {
            return Err(XchainError::config(
                "scenario.accounts",
                "must be between 1 and 6 (the node's unlocked accounts 1..=6 trade; 7-9 are the trader, attacker and relayer)",
            ));
        }
        if p.finality == 0 || p.finality > 64 {
            return Err(XchainError::config(
                "scenario.finality",
                "must be between 1 and 64 blocks",
            ));
        }
        if p.initial_deposit == 0 {
            return Err(XchainError::config(
                "scenario.initial_deposit",
                "must be positive",
            ));
        }
        if !(p.max_price_move.is_finite() && (0.0..0.5).contains(&p.max_price_move)) {
            return Err(XchainError::config(
                "scenario.max_price_move",
                format!("must be in [0, 0.5), got {}", p.max_price_move),
            ));
        }
        if !(p.max_trade_notional.is_finite() && p.max_trade_notional > 0.0) {
            return Err(XchainError::config(
                "scenario.max_trade_notional",
                "must be a positive number",
            ));
        }
        if p.credit_ttl_s == 0 {
            return Err(XchainError::config(
                "scenario.credit_ttl_s",
                "must be positive",
            ));
        }
        let w = &self.weights;
        if w.deposit + w.credit + w.trade + w.price + w.withdraw + w.release == 0 {
            return Err(XchainError::config(
                "weights",
                "at least one must be positive",
            ));
        }
        if self.prices.is_empty() {
            return Err(XchainError::config(
                "prices",
                "name at least one underlying",
            ));
        }
        for (u, v) in &self.prices {
            if !(v.is_finite() && *v > 0.0) {
                return Err(XchainError::config(
                    format!("prices.{u}"),
                    format!("must be a positive number, got {v}"),
                ));
            }
        }
        if chains < 2 {
            return Err(XchainError::config(
                "deployment.chains",
                "a scenario needs a hub and at least one spoke",
            ));
        }
        for (i, f) in self.faults.iter().enumerate() {
            let key = |k: &str| format!("faults[{i}].{k}");
            if f.at_step() >= p.steps {
                let k = if matches!(f, Fault::GuardianOffline { .. }) {
                    "from_step"
                } else {
                    "at_step"
                };
                return Err(XchainError::config(
                    key(k),
                    format!("must be below scenario.steps = {}", p.steps),
                ));
            }
            match f {
                Fault::Reorg { chain, depth, .. } => {
                    if *chain >= chains {
                        return Err(XchainError::config(
                            key("chain"),
                            format!("the deployment has chains 0..{}", chains - 1),
                        ));
                    }
                    if *depth == 0 || *depth > 64 {
                        return Err(XchainError::config(key("depth"), "must be 1..=64"));
                    }
                }
                Fault::NodeRestart { chain, .. } if *chain >= chains => {
                    return Err(XchainError::config(
                        key("chain"),
                        format!("the deployment has chains 0..{}", chains - 1),
                    ));
                }
                Fault::DelayRelay { steps: 0, .. } => {
                    return Err(XchainError::config(key("steps"), "must be positive"));
                }
                Fault::GuardianOffline {
                    guardian,
                    from_step,
                    to_step,
                } => {
                    if *guardian >= guardians {
                        return Err(XchainError::config(
                            key("guardian"),
                            format!("the deployment has guardians 0..{}", guardians - 1),
                        ));
                    }
                    if to_step <= from_step {
                        return Err(XchainError::config(
                            key("to_step"),
                            "must be after from_step",
                        ));
                    }
                }
                Fault::CompromisedGuardian { guardian, .. } => {
                    if *guardian >= guardians {
                        return Err(XchainError::config(
                            key("guardian"),
                            format!("the deployment has guardians 0..{}", guardians - 1),
                        ));
                    }
                    if threshold < 2 {
                        return Err(XchainError::config(
                            key("kind"),
                            "a compromised guardian below the threshold needs threshold >= 2",
                        ));
                    }
                }
                _ => {}
            }
        }
        // At least `threshold` guardians online at every step.
        for s in 0..p.steps {
            let offline = self
                .faults
                .iter()
                .filter_map(|f| match f {
                    Fault::GuardianOffline {
                        guardian,
                        from_step,
                        to_step,
                    } if (*from_step..*to_step).contains(&s) => Some(*guardian),
                    _ => None,
                })
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            if guardians - offline.min(guardians) < threshold {
                return Err(XchainError::config(
                    "faults",
                    format!(
                        "at operation {s} fewer than threshold {threshold} guardians are online"
                    ),
                ));
            }
        }
        Ok(())
    }
}
