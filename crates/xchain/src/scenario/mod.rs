//! `xchain scenario`: a seeded run of deposits, credits, trades on spokes (draws and position
//! reports), price moves, withdrawals and releases against a running devnet (real EVM nodes), with
//! faults injected on the nodes (reorgs within and beyond the finality depth, a node stopped and
//! restarted from its state), on the relay (delayed, duplicated, reordered deliveries, a forged
//! signature, a replayed credit) and on the guardians (one offline, one key compromised below the
//! threshold). The scenario runs the guardians ([`GuardianAgent`], keys from the devnet's
//! `guardians/` directory) and the relayer itself, because it injects faults into them: run the
//! devnet with `--no-agents`.
//!
//! After every step the invariant is checked from **on-chain state** only (the contracts' views):
//! per account, `collateralOf ≥ totalOutstanding = Σ_spoke outstandingCredit`; per spoke, the
//! credit it may still hand out (`available`) is at most the hub's `outstandingCredit` for that
//! spoke and `usedOf ≤ creditOf.amount`; the hub's token balance covers every account's
//! collateral; after a withdrawal, the collateral left covers the unified requirement of the
//! positions the spokes reported on chain. The off-chain plan ([`plan`]) depends only on the
//! configuration and the seed.

pub mod config;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Address, Bytes, B256, I256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;

pub use config::{Fault, ScenarioConfig};

use crate::agents::{load_key, GuardianAgent, Pending, PermitDecision, PermitRequest};
use crate::devnet::{Deployment, Role, CONTROL_DIR};
use crate::error::XchainError;
use crate::guardian::{GuardianKey, Scheme};
use crate::messages::{domain, MarginCredit, Payload, WithdrawalPermit};
use crate::requirement::{Book, Positions, RequirementModel};
use crate::rpc::{Receipt, Rpc};

sol! {
    interface IScenarioHub {
        function deposit(address account, address token, uint256 amount);
        function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry) returns (uint64);
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function creditNonce(address account, uint256 spokeChainId) returns (uint64);
        function permitNonce(address account) returns (uint64);
        function stateVersion(address account) returns (uint64);
        function withdraw(bytes payload, bytes[] signatures, bytes accountSignature);
        function retireCredit(bytes payload, bytes[] signatures);
    }
    interface IScenarioSpoke {
        struct Pos { string underlying; int256 size; }
        function acceptCredit(bytes payload, bytes[] signatures);
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function available(address account) returns (uint256);
        function usedOf(address account) returns (uint256);
        function lastCreditNonce(address account) returns (uint64);
        function isTrader(address trader) returns (bool);
        function setTrader(address trader, bool allowed);
        function draw(address account, uint256 amount);
        function reportPositions(address account, Pos[] positions, int256 realisedPnl);
        function releaseCredit(address account, uint64 creditNonce);
    }
    interface IScenarioToken {
        function mint(address to, uint256 amount);
        function approve(address spender, uint256 amount) returns (bool);
        function balanceOf(address account) returns (uint256);
    }
}

/// One planned step: a random operation or an injected fault. Amounts are fractions (basis
/// points) resolved against on-chain state when the step runs, so the plan depends only on the
/// configuration and the seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Mint, approve and deposit `amount` base units.
    Deposit {
        /// Account index.
        account: usize,
        /// Base units.
        amount: u64,
    },
    /// Lock a credit of `fraction_bps` of the free collateral for spoke `spoke` (chain index).
    Credit {
        /// Account index.
        account: usize,
        /// Chain index of the spoke.
        spoke: usize,
        /// Basis points of the free collateral.
        fraction_bps: u32,
    },
    /// Trade on a spoke: draw the order's standalone unified requirement, then report positions.
    Trade {
        /// Account index.
        account: usize,
        /// Chain index of the spoke.
        spoke: usize,
        /// Underlying.
        underlying: String,
        /// Basis points of `max_trade_notional`.
        notional_bps: u32,
        /// +1 buy, −1 sell.
        side: i8,
    },
    /// Move a price by `move_ppm` parts per million.
    Price {
        /// Underlying.
        underlying: String,
        /// Relative move, ppm.
        move_ppm: i64,
    },
    /// Ask the guardians for a permit of `fraction_bps` of the free collateral (above 10 000: more
    /// than the invariant allows) and withdraw with it.
    Withdraw {
        /// Account index.
        account: usize,
        /// Basis points of the free collateral.
        fraction_bps: u32,
    },
    /// Release the account's current credit on a spoke.
    Release {
        /// Account index.
        account: usize,
        /// Chain index of the spoke.
        spoke: usize,
    },
    /// An injected fault.
    Fault(Fault),
}

/// The off-chain plan: `steps` random operations drawn from `seed`, each fault after the operation
/// its `at_step` names. `chains` is the deployment's chain count (spokes are indices 1..chains).
pub fn plan(cfg: &ScenarioConfig, seed: u64, chains: usize) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let p = &cfg.scenario;
    let w = &cfg.weights;
    let weights = [w.deposit, w.credit, w.trade, w.price, w.withdraw, w.release];
    let total: u32 = weights.iter().sum();
    let underlyings: Vec<String> = cfg.prices.keys().cloned().collect();
    let spokes = chains.saturating_sub(1).max(1);
    let mut out = Vec::new();
    for step in 0..p.steps {
        let mut x = rng.gen_range(0..total.max(1));
        let mut kind = 0;
        for (i, wi) in weights.iter().enumerate() {
            if x < *wi {
                kind = i;
                break;
            }
            x -= wi;
        }
        let account = rng.gen_range(0..p.accounts);
        let spoke = 1 + rng.gen_range(0..spokes);
        let op = match kind {
            0 => Op::Deposit {
                account,
                amount: (p.initial_deposit / 10).max(1) * rng.gen_range(1..=5),
            },
            1 => Op::Credit {
                account,
                spoke,
                fraction_bps: rng.gen_range(500..=3000),
            },
            2 => Op::Trade {
                account,
                spoke,
                underlying: underlyings[rng.gen_range(0..underlyings.len())].clone(),
                notional_bps: rng.gen_range(500..=10_000),
                side: if rng.gen_bool(0.5) { 1 } else { -1 },
            },
            3 => {
                let m = (p.max_price_move * 1e6) as i64;
                Op::Price {
                    underlying: underlyings[rng.gen_range(0..underlyings.len())].clone(),
                    move_ppm: if m == 0 { 0 } else { rng.gen_range(-m..=m) },
                }
            }
            4 => Op::Withdraw {
                account,
                fraction_bps: rng.gen_range(2000..=13_000),
            },
            _ => Op::Release { account, spoke },
        };
        out.push(op);
        for f in cfg.faults.iter().filter(|f| f.at_step() == step) {
            out.push(Op::Fault(f.clone()));
        }
    }
    out
}

/// Keccak-256 of the plan's JSON: equal plans, equal digests.
pub fn plan_digest(plan: &[Op]) -> String {
    let text = serde_json::to_string(plan).unwrap_or_default();
    format!("{}", keccak256(text.as_bytes()))
}

/// Gas of one operation kind over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GasStat {
    /// Transactions measured.
    pub count: u64,
    /// Mean gas used.
    pub mean: u64,
    /// Largest gas used.
    pub max: u64,
    /// Total gas used.
    pub total: u64,
}

/// A credit the spoke accepted, once its transaction is final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptedCredit {
    /// Spoke chain id.
    pub chain_id: u64,
    /// Account.
    pub account: Address,
    /// Credit nonce.
    pub nonce: u64,
    /// Base units.
    pub amount: U256,
    /// The transaction that carries it on the final chain.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: u64,
}

/// What one injected fault did.
#[derive(Debug, Clone, Serialize)]
pub struct FaultOutcome {
    /// Position in the plan.
    pub step: usize,
    /// The fault's kind.
    pub kind: String,
    /// The fault as configured.
    pub fault: Fault,
    /// Rejections counted while it ran, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Recoveries counted while it ran (and in the steps that settled it), by kind.
    pub recovered: BTreeMap<String, u64>,
    /// Alarms raised while it ran.
    pub alarms: BTreeMap<String, u64>,
}

/// The result of a scenario (`--json` prints it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Steps executed (operations and faults).
    pub steps: usize,
    /// Invariant violations found on chain (must be 0).
    pub violations: usize,
    /// What each violation was.
    pub violation_details: Vec<String>,
    /// Refusals, by reason: contract errors (`bad_signature`, `nonce_used`, `below_threshold`,
    /// `duplicate_signer`, `wrong_chain`, `invariant`, `stale_state`, `insufficient_credit`, …) and
    /// off-chain ones (`permit_refused`, `node_unreachable`, `reorged_before_finality`).
    pub rejected: BTreeMap<String, u64>,
    /// Recoveries by kind (`reorged_out_resubmitted`, `reincluded_after_reorg`, `retried_after_restart`, `delayed_delivered`).
    pub recovered: BTreeMap<String, u64>,
    /// Alarms by kind (`deep_reorg_detected`).
    pub alarms: BTreeMap<String, u64>,
    /// Gas per operation kind.
    pub gas: BTreeMap<String, GasStat>,
    /// Credits accepted by spokes, final.
    pub accepted_credits: Vec<AcceptedCredit>,
    /// Outcome of each injected fault.
    pub faults: Vec<FaultOutcome>,
    /// Keccak-256 of the plan's JSON.
    pub plan_digest: String,
    /// Operations skipped because there was nothing to do (no free collateral, no credit).
    pub skipped: u64,
}

/// An attestation on its way to its chain.
#[derive(Debug, Clone)]
struct Delivery {
    chain: usize,
    contract: Address,
    data: Vec<u8>,
    kind: &'static str,
    credit: Option<MarginCredit>,
    payload: Vec<u8>,
    sigs: Vec<Bytes>,
    not_before: usize,
}

/// A delivered attestation the relayer watches until (and beyond) finality.
#[derive(Debug, Clone)]
struct Tracked {
    delivery: Delivery,
    tx_hash: B256,
    block_number: u64,
    block_hash: B256,
    final_: bool,
}

/// Maps a node's error text to a rejection reason (the contracts' custom errors by selector).
pub fn classify(reason: &str) -> String {
    let r = reason.to_ascii_lowercase();
    if r.contains("connection refused") || r.contains("os error 111") || r.contains("reset by peer")
    {
        return "node_unreachable".into();
    }
    const ERRORS: [(&str, &str); 17] = [
        ("BadSignature(uint256)", "bad_signature"),
        ("HighS(uint256)", "bad_signature"),
        ("NotGuardian(uint256,address)", "bad_signature"),
        ("DuplicateSigner(uint256,address)", "duplicate_signer"),
        ("BelowThreshold(uint256,uint256)", "below_threshold"),
        ("Replay(uint64,uint64)", "nonce_used"),
        ("Expired(uint64,uint256)", "expired"),
        ("WrongChain(uint256)", "wrong_chain"),
        ("InvariantViolation(uint256,uint256)", "invariant"),
        ("StaleState(uint64,uint64)", "stale_state"),
        ("RateLimited(uint256,uint256)", "rate_limited"),
        ("InsufficientCredit(uint256,uint256)", "insufficient_credit"),
        ("Paused()", "paused"),
        ("NotTrader()", "not_trader"),
        ("UnknownSpoke(uint256)", "unknown_spoke"),
        ("ZeroAmount()", "zero_amount"),
        ("NotAuthorised()", "not_authorised"),
    ];
    for (sig, name) in ERRORS {
        let sel = alloy_primitives::hex::encode(&keccak256(sig)[..4]);
        if r.contains(&sel) {
            return name.into();
        }
    }
    "reverted".into()
}

/// Runs a scenario against the deployment at `deployment_path`.
pub fn run_scenario(
    deployment_path: &Path,
    cfg: &ScenarioConfig,
    seed: u64,
) -> Result<Report, XchainError> {
    let d = Deployment::load(deployment_path)?;
    cfg.validate(d.chains.len(), d.guardians.len(), d.threshold)?;
    let dir = deployment_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut r = Runner::new(d, dir, cfg.clone(), seed)?;
    let steps = plan(cfg, seed, r.d.chains.len());
    r.report.plan_digest = plan_digest(&steps);
    r.setup()?;
    r.check("setup")?;
    for (i, op) in steps.iter().enumerate() {
        r.op_index = steps[..i]
            .iter()
            .filter(|o| !matches!(o, Op::Fault(_)))
            .count();
        match op {
            Op::Fault(f) => r.fault(i, f)?,
            other => {
                r.op(other)?;
                r.settle()?;
            }
        }
        r.report.steps += 1;
        r.check(&format!("step {i}"))?;
    }
    // Deliver what is still held back and let everything become final.
    r.op_index = usize::MAX;
    r.settle()?;
    r.settle()?;
    r.check("end")?;
    r.report.violations = r.report.violation_details.len();
    Ok(r.report)
}

struct Runner {
    d: Deployment,
    dir: PathBuf,
    cfg: ScenarioConfig,
    rpcs: Vec<Rpc>,
    hub: Address,
    token: Address,
    guardians: Vec<GuardianAgent>,
    keys: Vec<GuardianKey>,
    sig_dir: PathBuf,
    users: Vec<Address>,
    traders: Vec<Address>,
    relayers: Vec<Address>,
    attacker: Address,
    prices: BTreeMap<String, f64>,
    positions: BTreeMap<(usize, usize), Positions>,
    queue: Vec<Delivery>,
    tracked: Vec<Tracked>,
    seen: BTreeSet<String>,
    hold_until: Option<usize>,
    op_index: usize,
    report: Report,
    offline: Vec<(usize, usize, usize)>,
    accepted: BTreeSet<(u64, Address, u64)>,
}

fn expect_word(out: &[u8], what: &str) -> Result<U256, XchainError> {
    if out.len() < 32 {
        return Err(XchainError::Devnet(format!("{what}: short return")));
    }
    Ok(U256::from_be_slice(&out[..32]))
}

impl Runner {
    fn new(
        d: Deployment,
        dir: PathBuf,
        cfg: ScenarioConfig,
        seed: u64,
    ) -> Result<Runner, XchainError> {
        let rpcs = d
            .chains
            .iter()
            .map(|c| Rpc::new(&c.rpc))
            .collect::<Result<Vec<_>, _>>()?;
        let hub_chain = d.hub().clone();
        if d.chains[0].role != Role::Hub {
            return Err(XchainError::config(
                "deployment.chains[0]",
                "the scenario expects the hub first (as xchain devnet writes it)",
            ));
        }
        let hub = hub_chain
            .contracts
            .hub
            .ok_or_else(|| XchainError::config("chains.hub", "no hub contract"))?;
        let sig_dir = dir.join(format!("scenario-{seed}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&sig_dir);
        let mut keys = Vec::new();
        let mut guardians = Vec::new();
        for (i, addr) in d.guardians.iter().enumerate() {
            let path = dir.join(format!("guardians/guardian-{i}.key"));
            let key = load_key(&path)?;
            if key.address() != *addr {
                return Err(XchainError::config(
                    path.display().to_string(),
                    format!("key of {} is not guardian {i} ({addr})", key.address()),
                ));
            }
            let mut g = GuardianAgent::new(
                key.clone(),
                d.clone(),
                sig_dir.join("signatures"),
                cfg.scenario.finality,
            )?;
            g.set_model(cfg.model)?;
            g.set_prices(cfg.prices.clone());
            guardians.push(g);
            keys.push(key);
        }
        let offline = cfg
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::GuardianOffline {
                    guardian,
                    from_step,
                    to_step,
                } => Some((*guardian, *from_step, *to_step)),
                _ => None,
            })
            .collect();
        Ok(Runner {
            token: hub_chain.contracts.collateral_token,
            prices: cfg.prices.clone(),
            d,
            sig_dir: sig_dir.join("signatures"),
            dir,
            cfg,
            rpcs,
            hub,
            guardians,
            keys,
            users: Vec::new(),
            traders: Vec::new(),
            relayers: Vec::new(),
            attacker: Address::ZERO,
            positions: BTreeMap::new(),
            queue: Vec::new(),
            tracked: Vec::new(),
            seen: BTreeSet::new(),
            hold_until: None,
            op_index: 0,
            report: Report {
                seed,
                ..Report::default()
            },
            offline,
            accepted: BTreeSet::new(),
        })
    }

    fn spoke_addr(&self, chain: usize) -> Address {
        self.d.chains[chain].contracts.spoke.unwrap_or_default()
    }

    fn chain_id(&self, chain: usize) -> u64 {
        self.d.chains[chain].chain_id
    }

    fn count(map: &mut BTreeMap<String, u64>, key: &str) {
        *map.entry(key.to_string()).or_insert(0) += 1;
    }

    fn gas(&mut self, op: &str, used: u64) {
        let g = self.report.gas.entry(op.to_string()).or_default();
        g.count += 1;
        g.total += used;
        g.max = g.max.max(used);
        g.mean = g.total / g.count;
    }

    fn view(&self, chain: usize, to: Address, data: Vec<u8>) -> Result<U256, XchainError> {
        expect_word(&self.rpcs[chain].eth_call(to, &data)?, "view")
    }

    /// Sends a transaction; a refusal by the node is counted by reason and returns None.
    fn tx(
        &mut self,
        chain: usize,
        from: Address,
        to: Address,
        data: &[u8],
        op: &str,
    ) -> Result<Option<Receipt>, XchainError> {
        match self.rpcs[chain].send(from, Some(to), data) {
            Ok(r) if r.success => {
                self.gas(op, r.gas_used);
                Ok(Some(r))
            }
            Ok(r) => {
                let why = self.revert_reason(chain, from, to, data, &r);
                Self::count(&mut self.report.rejected, &why);
                Ok(None)
            }
            Err(XchainError::Rpc { reason, .. }) => {
                let why = classify(&reason);
                Self::count(&mut self.report.rejected, &why);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Why a mined transaction reverted: the node replays it as a call on its parent block (one
    /// transaction per block on an automining devnet) and returns the contract's error.
    fn revert_reason(
        &self,
        chain: usize,
        from: Address,
        to: Address,
        data: &[u8],
        r: &Receipt,
    ) -> String {
        let at = Some(r.block_number.saturating_sub(1));
        match self.rpcs[chain].eth_call_at(Some(from), to, data, at) {
            Err(XchainError::Rpc { reason, .. }) => classify(&reason),
            other => {
                let tx = self.rpcs[chain].call("eth_getTransactionByHash", json!([r.tx_hash]));
                eprintln!(
                    "scenario: {} reverted on chain {} (gas used {}, tx {:?}); replay: {other:?}",
                    r.tx_hash,
                    self.chain_id(chain),
                    r.gas_used,
                    tx.map(|t| t["gas"].clone())
                );
                "reverted".into()
            }
        }
    }

    fn setup(&mut self) -> Result<(), XchainError> {
        // The scenario decides when blocks are mined (finality, reorg depths): every node must
        // automine (`xchain devnet --block-time 0`) and offer anvil's development methods.
        for (i, rpc) in self.rpcs.iter().enumerate() {
            let id = self.d.chains[i].chain_id;
            match rpc.call("anvil_getAutomine", json!([])) {
                Ok(serde_json::Value::Bool(true)) => {}
                Ok(_) => {
                    return Err(XchainError::config(
                        format!("deployment.chains[{i}]"),
                        format!("chain {id} mines on an interval; start the devnet with --block-time 0 --no-agents"),
                    ))
                }
                Err(e) => {
                    return Err(XchainError::config(
                        format!("deployment.chains[{i}]"),
                        format!("chain {id} is not an anvil node with development methods: {e}"),
                    ))
                }
            }
        }
        let accounts = self.rpcs[0].accounts()?;
        if accounts.len() < 10 {
            return Err(XchainError::Devnet(
                "the hub node needs 10 unlocked accounts (anvil's default)".into(),
            ));
        }
        // Accounts 1..=n trade; account 7 is the faults' own account (credits that the faults
        // reorg, delay, duplicate, reorder, forge and replay), so that trading never starves them.
        self.users = accounts[1..=self.cfg.scenario.accounts].to_vec();
        self.users.push(accounts[7]);
        self.attacker = accounts[8];
        for chain in 0..self.d.chains.len() {
            let acc = self.rpcs[chain].accounts()?;
            let first = *acc.first().ok_or_else(|| {
                XchainError::Devnet(format!(
                    "chain {} has no unlocked account",
                    self.chain_id(chain)
                ))
            })?;
            self.traders.push(first);
            self.relayers.push(*acc.last().unwrap_or(&first));
            if chain > 0 {
                let spoke = self.spoke_addr(chain);
                let is = self.view(
                    chain,
                    spoke,
                    IScenarioSpoke::isTraderCall { trader: first }.abi_encode(),
                )?;
                if is.is_zero() {
                    let call = IScenarioSpoke::setTraderCall {
                        trader: first,
                        allowed: true,
                    };
                    if self
                        .tx(chain, first, spoke, &call.abi_encode(), "set_trader")?
                        .is_none()
                    {
                        return Err(XchainError::Devnet(format!(
                            "setTrader refused on chain {} (is {first} the spoke's admin?)",
                            self.chain_id(chain)
                        )));
                    }
                }
            }
        }
        for g in &mut self.guardians {
            g.skip_history()?;
        }
        for a in 0..self.users.len() {
            self.deposit(a, self.cfg.scenario.initial_deposit)?;
        }
        self.settle()
    }

    fn deposit(&mut self, account: usize, amount: u64) -> Result<(), XchainError> {
        let user = self.users[account];
        let amount = U256::from(amount);
        let (token, hub) = (self.token, self.hub);
        let mint = IScenarioToken::mintCall { to: user, amount }.abi_encode();
        if self.tx(0, user, token, &mint, "mint")?.is_none() {
            return Ok(());
        }
        let approve = IScenarioToken::approveCall {
            spender: hub,
            amount,
        }
        .abi_encode();
        self.tx(0, user, token, &approve, "approve")?;
        let dep = IScenarioHub::depositCall {
            account: user,
            token,
            amount,
        }
        .abi_encode();
        self.tx(0, user, hub, &dep, "deposit")?;
        Ok(())
    }

    /// The unified requirement of the positions the spokes reported for `account` (the scenario
    /// reports every trade, so its own record equals the reported book).
    fn requirement(&self, account: usize) -> Result<u128, XchainError> {
        let book: Book = self
            .positions
            .iter()
            .filter(|((a, _), p)| *a == account && p.values().any(|s| *s != 0))
            .map(|((_, c), p)| (self.chain_id(*c), p.clone()))
            .collect();
        if book.is_empty() {
            return Ok(0);
        }
        self.cfg.model.requirement(&book, &self.prices)
    }

    /// (collateral, total outstanding) of an account, read from the hub.
    fn hub_state(&self, account: usize) -> Result<(U256, U256), XchainError> {
        let user = self.users[account];
        let coll = self.view(
            0,
            self.hub,
            IScenarioHub::collateralOfCall {
                account: user,
                token: self.token,
            }
            .abi_encode(),
        )?;
        let total = self.view(
            0,
            self.hub,
            IScenarioHub::totalOutstandingCall { account: user }.abi_encode(),
        )?;
        Ok((coll, total))
    }

    fn free(&self, account: usize) -> Result<U256, XchainError> {
        let (coll, total) = self.hub_state(account)?;
        let floor = total.max(U256::from(self.requirement(account)?));
        Ok(coll.saturating_sub(floor))
    }

    fn expiry(&self) -> Result<u64, XchainError> {
        Ok((self.rpcs[0].latest_timestamp()? + self.cfg.scenario.credit_ttl_s) * 1000)
    }

    /// Locks a credit; returns its nonce and the lock's receipt, or None if refused or nothing free.
    fn lock(
        &mut self,
        account: usize,
        spoke: usize,
        amount: U256,
    ) -> Result<Option<(u64, Receipt)>, XchainError> {
        if amount.is_zero() {
            self.report.skipped += 1;
            return Ok(None);
        }
        let user = self.users[account];
        let call = IScenarioHub::lockCreditCall {
            spokeChainId: U256::from(self.chain_id(spoke)),
            amount,
            expiry: self.expiry()?,
        };
        let hub = self.hub;
        let Some(r) = self.tx(0, user, hub, &call.abi_encode(), "lock_credit")? else {
            return Ok(None);
        };
        let nonce = self.view(
            0,
            hub,
            IScenarioHub::creditNonceCall {
                account: user,
                spokeChainId: U256::from(self.chain_id(spoke)),
            }
            .abi_encode(),
        )?;
        Ok(Some((nonce.to::<u64>(), r)))
    }

    fn op(&mut self, op: &Op) -> Result<(), XchainError> {
        match op {
            Op::Deposit { account, amount } => self.deposit(*account, *amount)?,
            Op::Credit {
                account,
                spoke,
                fraction_bps,
            } => {
                let amount = self.free(*account)? * U256::from(*fraction_bps) / U256::from(10_000);
                self.lock(*account, *spoke, amount)?;
            }
            Op::Trade {
                account,
                spoke,
                underlying,
                notional_bps,
                side,
            } => {
                let price = self.prices.get(underlying).copied().unwrap_or(1.0);
                let notional =
                    self.cfg.scenario.max_trade_notional * f64::from(*notional_bps) / 1e4;
                let scale = 10f64.powi(self.cfg.model.size_decimals as i32);
                let size = (notional / price * scale).round() as i128 * i128::from(*side);
                if size == 0 {
                    self.report.skipped += 1;
                    return Ok(());
                }
                let order: Book = [(
                    self.chain_id(*spoke),
                    [(underlying.clone(), size)].into_iter().collect(),
                )]
                .into_iter()
                .collect();
                let charge = self.cfg.model.requirement(&order, &self.prices)?;
                let user = self.users[*account];
                let (trader, addr) = (self.traders[*spoke], self.spoke_addr(*spoke));
                let draw = IScenarioSpoke::drawCall {
                    account: user,
                    amount: U256::from(charge),
                };
                if self
                    .tx(*spoke, trader, addr, &draw.abi_encode(), "draw")?
                    .is_none()
                {
                    return Ok(());
                }
                let p = self.positions.entry((*account, *spoke)).or_default();
                *p.entry(underlying.clone()).or_insert(0) += size;
                let positions = p
                    .iter()
                    .map(|(u, s)| IScenarioSpoke::Pos {
                        underlying: u.clone(),
                        size: I256::try_from(*s).unwrap_or_default(),
                    })
                    .collect();
                let report = IScenarioSpoke::reportPositionsCall {
                    account: user,
                    positions,
                    realisedPnl: I256::ZERO,
                };
                self.tx(
                    *spoke,
                    trader,
                    addr,
                    &report.abi_encode(),
                    "report_positions",
                )?;
            }
            Op::Price {
                underlying,
                move_ppm,
            } => {
                if let Some(p) = self.prices.get_mut(underlying) {
                    *p *= 1.0 + *move_ppm as f64 / 1e6;
                }
                let prices = self.prices.clone();
                for g in &mut self.guardians {
                    g.set_prices(prices.clone());
                }
            }
            Op::Withdraw {
                account,
                fraction_bps,
            } => self.withdraw(*account, *fraction_bps)?,
            Op::Release { account, spoke } => {
                let user = self.users[*account];
                let addr = self.spoke_addr(*spoke);
                let out = self.rpcs[*spoke].eth_call(
                    addr,
                    &IScenarioSpoke::creditOfCall { account: user }.abi_encode(),
                )?;
                let nonce = <(U256, u64, u64)>::abi_decode_params(&out)
                    .map(|t| t.2)
                    .unwrap_or(0);
                if nonce == 0 {
                    self.report.skipped += 1;
                    return Ok(());
                }
                let call = IScenarioSpoke::releaseCreditCall {
                    account: user,
                    creditNonce: nonce,
                };
                self.tx(*spoke, user, addr, &call.abi_encode(), "release_credit")?;
            }
            Op::Fault(_) => {}
        }
        Ok(())
    }

    fn withdraw(&mut self, account: usize, fraction_bps: u32) -> Result<(), XchainError> {
        let user = self.users[account];
        let free = self.free(account)?;
        let mut amount = free * U256::from(fraction_bps) / U256::from(10_000);
        if amount.is_zero() {
            amount = U256::from(1);
        }
        let req = PermitRequest {
            account: user,
            recipient: user,
            amount,
            expiry: self.expiry()?,
        };
        let mut sigs: Vec<(Address, Bytes)> = Vec::new();
        let mut permit: Option<WithdrawalPermit> = None;
        for i in 0..self.guardians.len() {
            if !self.online(i) {
                continue;
            }
            if let PermitDecision::Signed(p, s) = self.guardians[i].decide_permit(&req)? {
                sigs.push((self.guardians[i].address(), s));
                permit = Some(p);
            }
        }
        let (Some(permit), true) = (permit, sigs.len() >= self.d.threshold) else {
            Self::count(&mut self.report.rejected, "permit_refused");
            return Ok(());
        };
        let call = IScenarioHub::withdrawCall {
            payload: permit.abi_encode().into(),
            signatures: sigs
                .into_iter()
                .take(self.d.threshold)
                .map(|(_, s)| s)
                .collect(),
            accountSignature: Bytes::new(),
        };
        let hub = self.hub;
        if self
            .tx(0, user, hub, &call.abi_encode(), "withdraw")?
            .is_some()
        {
            // The collateral left must cover the unified requirement of the reported book.
            let (coll, total) = self.hub_state(account)?;
            let req = U256::from(self.requirement(account)?);
            if coll < req.max(total) {
                self.report.violation_details.push(format!(
                    "withdrawal of {amount} left account {user} with collateral {coll} < max(outstanding {total}, unified requirement {req})"
                ));
            }
        }
        Ok(())
    }

    fn online(&self, guardian: usize) -> bool {
        !self
            .offline
            .iter()
            .any(|(g, from, to)| *g == guardian && (*from..*to).contains(&self.op_index))
    }

    /// Mines `finality` blocks on every chain, lets the online guardians sign what is final and
    /// queues every attestation that reached the quorum.
    fn sign_and_queue(&mut self) -> Result<(), XchainError> {
        let f = self.cfg.scenario.finality;
        for rpc in &self.rpcs {
            rpc.mine(f)?;
        }
        for i in 0..self.guardians.len() {
            if self.online(i) {
                self.guardians[i].step()?;
            }
        }
        let Ok(entries) = fs::read_dir(&self.sig_dir) else {
            return Ok(());
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !self.seen.contains(n))
            .collect();
        names.sort_by_key(|n| {
            // Credits in nonce order (a name ends with the nonce).
            let nonce: u64 = n
                .rsplit('-')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            (
                n.rsplit_once('-')
                    .map(|x| x.0.to_string())
                    .unwrap_or_default(),
                nonce,
            )
        });
        for name in names {
            let sub = self.sig_dir.join(&name);
            let Ok(text) = fs::read_to_string(sub.join("payload.json")) else {
                continue;
            };
            let Ok(p) = serde_json::from_str::<Pending>(&text) else {
                continue;
            };
            let mut sigs: Vec<(String, Bytes)> = Vec::new();
            for f in fs::read_dir(&sub)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
            {
                let fname = f.file_name().to_string_lossy().into_owned();
                if let (Some(signer), Ok(s)) =
                    (fname.strip_suffix(".sig"), fs::read_to_string(f.path()))
                {
                    if let Ok(b) = alloy_primitives::hex::decode(s.trim()) {
                        sigs.push((signer.to_string(), Bytes::from(b)));
                    }
                }
            }
            if sigs.len() < self.d.threshold {
                continue;
            }
            sigs.sort();
            let sigs: Vec<Bytes> = sigs
                .into_iter()
                .take(self.d.threshold)
                .map(|(_, b)| b)
                .collect();
            let Some(chain) = self.d.chains.iter().position(|c| c.chain_id == p.chain_id) else {
                continue;
            };
            let (kind, payload, credit, data) = match &p.payload {
                Payload::MarginCredit(c) => {
                    let payload = c.abi_encode();
                    let data = IScenarioSpoke::acceptCreditCall {
                        payload: payload.clone().into(),
                        signatures: sigs.clone(),
                    }
                    .abi_encode();
                    ("accept_credit", payload, Some(c.clone()), data)
                }
                Payload::CreditRelease(r) => {
                    let payload = r.abi_encode();
                    let data = IScenarioHub::retireCreditCall {
                        payload: payload.clone().into(),
                        signatures: sigs.clone(),
                    }
                    .abi_encode();
                    ("retire_credit", payload, None, data)
                }
                _ => continue,
            };
            self.seen.insert(name);
            self.queue.push(Delivery {
                chain,
                contract: p.contract,
                data,
                kind,
                credit,
                payload,
                sigs,
                not_before: self.hold_until.unwrap_or(0),
            });
        }
        Ok(())
    }

    /// Submits one delivery; Ok(true) when it left the queue (delivered or refused for good).
    fn submit(&mut self, d: &Delivery) -> Result<bool, XchainError> {
        let from = self.relayers[d.chain];
        match self.rpcs[d.chain].send(from, Some(d.contract), &d.data) {
            Ok(r) if r.success => {
                self.gas(d.kind, r.gas_used);
                self.tracked.push(Tracked {
                    delivery: d.clone(),
                    tx_hash: r.tx_hash,
                    block_number: r.block_number,
                    block_hash: r.block_hash,
                    final_: false,
                });
                Ok(true)
            }
            Ok(r) => {
                let why = self.revert_reason(d.chain, from, d.contract, &d.data, &r);
                Self::count(&mut self.report.rejected, &why);
                Ok(true)
            }
            Err(XchainError::Rpc { reason, .. }) => {
                let why = classify(&reason);
                Self::count(&mut self.report.rejected, &why);
                Ok(why != "node_unreachable")
            }
            Err(e) => Err(e),
        }
    }

    /// Relays every queued delivery whose hold has passed, in queue order.
    fn relay_ready(&mut self) -> Result<(), XchainError> {
        let queue = std::mem::take(&mut self.queue);
        let mut keep = Vec::new();
        for d in queue {
            if d.not_before > self.op_index {
                keep.push(d);
                continue;
            }
            if d.not_before > 0 {
                Self::count(&mut self.report.recovered, "delayed_delivered");
            }
            if !self.submit(&d)? {
                keep.push(d);
            }
        }
        keep.extend(std::mem::take(&mut self.queue));
        self.queue = keep;
        Ok(())
    }

    /// Watches every delivered attestation: a receipt gone (reorged out) is re-submitted, or
    /// recognised as included again (the contract says `Replay`); one buried `finality` deep is
    /// final (credits join `accepted_credits`); a final one that disappears raises
    /// `deep_reorg_detected`.
    fn confirm(&mut self) -> Result<(), XchainError> {
        let f = self.cfg.scenario.finality;
        let mut tracked = std::mem::take(&mut self.tracked);
        let mut resubmit = Vec::new();
        for t in &mut tracked {
            let rpc = &self.rpcs[t.delivery.chain];
            let Ok(latest) = rpc.block_number() else {
                continue;
            };
            match rpc.try_receipt(t.tx_hash)? {
                Some(r) => {
                    if t.final_ && r.block_hash != t.block_hash {
                        Self::count(&mut self.report.alarms, "deep_reorg_detected");
                    }
                    t.block_number = r.block_number;
                    t.block_hash = r.block_hash;
                    if latest.saturating_sub(r.block_number) >= f && !t.final_ {
                        t.final_ = true;
                        if let Some(c) = &t.delivery.credit {
                            let key =
                                (self.d.chains[t.delivery.chain].chain_id, c.account, c.nonce);
                            if self.accepted.insert(key) {
                                self.report.accepted_credits.push(AcceptedCredit {
                                    chain_id: key.0,
                                    account: c.account,
                                    nonce: c.nonce,
                                    amount: c.amount,
                                    tx_hash: t.tx_hash,
                                    block_number: r.block_number,
                                });
                            }
                        }
                    }
                }
                None => {
                    if t.final_ {
                        Self::count(&mut self.report.alarms, "deep_reorg_detected");
                    }
                    // Reorged out: is it included again (a replay now), or must it be re-sent?
                    let from = self.relayers[t.delivery.chain];
                    match rpc.eth_call_at(Some(from), t.delivery.contract, &t.delivery.data, None) {
                        Ok(_) => {
                            Self::count(&mut self.report.recovered, "reorged_out_resubmitted");
                            resubmit.push(t.delivery.clone());
                        }
                        Err(XchainError::Rpc { reason, .. })
                            if classify(&reason) == "nonce_used" =>
                        {
                            Self::count(&mut self.report.recovered, "reincluded_after_reorg");
                            if let Some(new) = self.find_reincluded(t)? {
                                t.tx_hash = new.0;
                                t.block_number = new.1;
                                t.block_hash = new.2;
                                if let Some(c) = &t.delivery.credit {
                                    let chain_id = self.d.chains[t.delivery.chain].chain_id;
                                    for a in &mut self.report.accepted_credits {
                                        if (a.chain_id, a.account, a.nonce)
                                            == (chain_id, c.account, c.nonce)
                                        {
                                            a.tx_hash = new.0;
                                            a.block_number = new.1;
                                        }
                                    }
                                }
                                continue;
                            }
                        }
                        Err(XchainError::Rpc { reason, .. }) => {
                            Self::count(&mut self.report.rejected, &classify(&reason));
                        }
                        Err(e) => return Err(e),
                    }
                    t.tx_hash = B256::ZERO;
                }
            }
        }
        tracked.retain(|t| t.tx_hash != B256::ZERO);
        self.tracked = tracked;
        for d in resubmit {
            if !self.submit(&d)? {
                self.queue.push(d);
            }
        }
        Ok(())
    }

    /// The transaction that carries a re-included credit: its `CreditAccepted` log.
    fn find_reincluded(&self, t: &Tracked) -> Result<Option<(B256, u64, B256)>, XchainError> {
        let Some(c) = &t.delivery.credit else {
            return Ok(None);
        };
        let rpc = &self.rpcs[t.delivery.chain];
        let topic = keccak256("CreditAccepted(address,uint64,uint256,uint64,uint64)");
        let v = rpc.call(
            "eth_getLogs",
            json!([{"address": t.delivery.contract, "topics": [topic, c.account.into_word()], "fromBlock": "0x0", "toBlock": "latest"}]),
        )?;
        for l in v.as_array().into_iter().flatten() {
            let data = l["data"]
                .as_str()
                .and_then(|s| alloy_primitives::hex::decode(s).ok());
            let Some(Ok((nonce, _, _, _))) =
                data.map(|d| <(u64, U256, u64, u64)>::abi_decode_params(&d))
            else {
                continue;
            };
            if nonce == c.nonce {
                let h: Option<B256> = serde_json::from_value(l["transactionHash"].clone()).ok();
                let bh: Option<B256> = serde_json::from_value(l["blockHash"].clone()).ok();
                let bn = l["blockNumber"]
                    .as_str()
                    .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
                if let (Some(h), Some(bh), Some(bn)) = (h, bh, bn) {
                    return Ok(Some((h, bn, bh)));
                }
            }
        }
        Ok(None)
    }

    /// One settlement round: sign and queue what is final, relay, bury, confirm.
    fn settle(&mut self) -> Result<(), XchainError> {
        self.sign_and_queue()?;
        self.relay_ready()?;
        let f = self.cfg.scenario.finality;
        for rpc in &self.rpcs {
            rpc.mine(f)?;
        }
        self.confirm()
    }

    /// The on-chain invariant for every account.
    fn check(&mut self, at: &str) -> Result<(), XchainError> {
        let mut sum_coll = U256::ZERO;
        for a in 0..self.users.len() {
            let user = self.users[a];
            let (coll, total) = self.hub_state(a)?;
            sum_coll += coll;
            if coll < total {
                self.report.violation_details.push(format!(
                    "{at}: {user} collateral {coll} < outstanding credit {total}"
                ));
            }
            let mut sum = U256::ZERO;
            for s in 1..self.d.chains.len() {
                let out = self.view(
                    0,
                    self.hub,
                    IScenarioHub::outstandingCreditCall {
                        account: user,
                        spokeChainId: U256::from(self.chain_id(s)),
                    }
                    .abi_encode(),
                )?;
                sum += out;
                let addr = self.spoke_addr(s);
                let avail = self.view(
                    s,
                    addr,
                    IScenarioSpoke::availableCall { account: user }.abi_encode(),
                )?;
                let used = self.view(
                    s,
                    addr,
                    IScenarioSpoke::usedOfCall { account: user }.abi_encode(),
                )?;
                let line = self.rpcs[s].eth_call(
                    addr,
                    &IScenarioSpoke::creditOfCall { account: user }.abi_encode(),
                )?;
                let amount = <(U256, u64, u64)>::abi_decode_params(&line)
                    .map(|t| t.0)
                    .unwrap_or_default();
                if avail > out {
                    self.report.violation_details.push(format!(
                        "{at}: spoke {} lets {user} draw {avail} > hub outstanding credit {out}",
                        self.chain_id(s)
                    ));
                }
                if used > amount {
                    self.report.violation_details.push(format!(
                        "{at}: spoke {} {user} used {used} > credit {amount}",
                        self.chain_id(s)
                    ));
                }
            }
            if sum != total {
                self.report.violation_details.push(format!(
                    "{at}: {user} Σ outstandingCredit {sum} != totalOutstanding {total}"
                ));
            }
        }
        let bal = self.view(
            0,
            self.token,
            IScenarioToken::balanceOfCall { account: self.hub }.abi_encode(),
        )?;
        if bal < sum_coll {
            self.report.violation_details.push(format!(
                "{at}: hub token balance {bal} < Σ collateral {sum_coll}"
            ));
        }
        Ok(())
    }

    fn snapshot(&self) -> [BTreeMap<String, u64>; 3] {
        [
            self.report.rejected.clone(),
            self.report.recovered.clone(),
            self.report.alarms.clone(),
        ]
    }

    fn delta(
        before: &BTreeMap<String, u64>,
        after: &BTreeMap<String, u64>,
    ) -> BTreeMap<String, u64> {
        after
            .iter()
            .filter_map(|(k, v)| {
                let d = v - before.get(k).copied().unwrap_or(0);
                (d > 0).then(|| (k.clone(), d))
            })
            .collect()
    }

    /// The spoke a fault targets when its `chain` is the hub: the first spoke.
    fn a_spoke(&self, chain: usize) -> usize {
        if chain == 0 {
            1
        } else {
            chain
        }
    }

    /// The faults' own account (the last of `users`).
    fn fault_account(&self) -> usize {
        self.users.len() - 1
    }

    /// A small credit for the faults' account (a fiftieth of its free collateral, at least 1 unit).
    fn small_credit(&mut self, spoke: usize) -> Result<Option<(u64, Receipt)>, XchainError> {
        let a = self.fault_account();
        let amount = (self.free(a)? / U256::from(50)).max(U256::from(1));
        self.lock(a, spoke, amount)
    }

    fn fault(&mut self, step: usize, f: &Fault) -> Result<(), XchainError> {
        let before = self.snapshot();
        let fin = self.cfg.scenario.finality;
        match f {
            Fault::Reorg { chain, depth, .. } => {
                let (chain, depth) = (*chain, *depth);
                let spoke = self.a_spoke(chain);
                let within = depth <= fin;
                let lock = self.small_credit(spoke)?;
                if chain == 0 && within {
                    // The lock is dropped before the guardians may sign it.
                    self.rpcs[0].mine(depth - 1)?;
                    self.rpcs[0].reorg(depth, &[])?;
                    self.settle()?;
                    if let Some((nonce, r)) = lock {
                        let gone = self.rpcs[0].try_receipt(r.tx_hash)?.is_none();
                        let signed = self
                            .sig_dir
                            .join(format!(
                                "credit-{}-{}-{nonce}",
                                self.chain_id(spoke),
                                self.users[self.fault_account()]
                            ))
                            .exists();
                        if gone && !signed {
                            Self::count(&mut self.report.rejected, "reorged_before_finality");
                        }
                    }
                } else {
                    self.sign_and_queue()?;
                    self.relay_ready()?;
                    let target = self.rpcs[chain].clone();
                    if within {
                        target.mine(depth - 1)?;
                        target.reorg(depth, &[])?;
                    } else {
                        // A spoke: bury the relayed credit until it is final, then reorg past it.
                        // The hub: the lock is already `finality` deep (the guardians signed it)
                        // and `depth > finality` reaches it.
                        if chain > 0 {
                            target.mine(depth - 1)?;
                        }
                        self.confirm()?;
                        let latest = target.block_number()?;
                        let first = latest + 1 - depth.min(latest);
                        // The dropped transactions return in the last new block: same transactions,
                        // other blocks (what a competing fork that picks them up late looks like).
                        let mut txs = Vec::new();
                        for n in first..=latest {
                            for t in target.block_transactions(n)? {
                                txs.push((t, depth - 1));
                            }
                        }
                        target.reorg(depth, &txs)?;
                        // The guardians' own alarm (a block they had seen final changed): the
                        // scenario counts it and, as their operator, clears it so they sign again.
                        for g in &mut self.guardians {
                            if g.check_alarm()?.is_some() {
                                Self::count(&mut self.report.alarms, "guardian_alarm");
                                g.clear_alarm();
                            }
                        }
                        if chain == 0 {
                            // The guardians signed the lock at finality; its block is gone.
                            if let Some((_, r)) = &lock {
                                let now = target.try_receipt(r.tx_hash)?;
                                if now.is_none_or(|n| n.block_hash != r.block_hash) {
                                    Self::count(&mut self.report.alarms, "deep_reorg_detected");
                                }
                            }
                        }
                    }
                    self.settle()?;
                }
            }
            Fault::NodeRestart { chain, .. } => self.restart(*chain)?,
            Fault::DelayRelay { steps, .. } => {
                let spoke = 1 + step % (self.d.chains.len() - 1);
                self.hold_until = Some(self.op_index + steps);
                self.small_credit(spoke)?;
                self.sign_and_queue()?;
                self.hold_until = None;
                self.relay_ready()?;
            }
            Fault::DuplicateRelay { .. } => {
                self.small_credit(1)?;
                self.sign_and_queue()?;
                let dups: Vec<Delivery> = self
                    .queue
                    .iter()
                    .filter(|d| d.not_before <= self.op_index)
                    .cloned()
                    .collect();
                self.relay_ready()?;
                for d in dups {
                    self.submit(&d)?;
                }
                self.settle()?;
            }
            Fault::ReorderRelays { .. } => {
                self.small_credit(1)?;
                self.small_credit(1)?;
                self.sign_and_queue()?;
                self.queue.reverse();
                self.relay_ready()?;
                self.settle()?;
            }
            Fault::ForgedSignature { .. } => {
                self.small_credit(1)?;
                self.sign_and_queue()?;
                let forged: Vec<Delivery> = self
                    .queue
                    .iter()
                    .filter_map(|d| {
                        let mut c = d.credit.clone()?;
                        c.amount *= U256::from(10);
                        let mut f = d.clone();
                        f.payload = c.abi_encode();
                        f.data = IScenarioSpoke::acceptCreditCall {
                            payload: f.payload.clone().into(),
                            signatures: d.sigs.clone(),
                        }
                        .abi_encode();
                        f.credit = Some(c);
                        Some(f)
                    })
                    .collect();
                for d in forged {
                    self.submit(&d)?;
                }
                self.relay_ready()?;
                self.settle()?;
            }
            Fault::ReplayCredit { .. } => {
                let last = self
                    .tracked
                    .iter()
                    .rev()
                    .find(|t| t.delivery.credit.is_some())
                    .map(|t| t.delivery.clone());
                let last = match last {
                    Some(d) => d,
                    None => {
                        self.small_credit(1)?;
                        self.settle()?;
                        self.tracked
                            .iter()
                            .rev()
                            .find(|t| t.delivery.credit.is_some())
                            .map(|t| t.delivery.clone())
                            .ok_or_else(|| {
                                XchainError::Devnet(
                                    "replay_credit: no credit was accepted to replay".into(),
                                )
                            })?
                    }
                };
                self.submit(&last)?;
                if self.d.chains.len() > 2 {
                    let mut other = last.clone();
                    other.chain = if last.chain == 1 { 2 } else { 1 };
                    other.contract = self.spoke_addr(other.chain);
                    self.submit(&other)?;
                }
                self.settle()?;
            }
            Fault::GuardianOffline { .. } => {}
            Fault::CompromisedGuardian { guardian, .. } => self.compromised(*guardian)?,
        }
        let after = self.snapshot();
        self.report.faults.push(FaultOutcome {
            step,
            kind: f.kind().into(),
            fault: f.clone(),
            rejected: Self::delta(&before[0], &after[0]),
            recovered: Self::delta(&before[1], &after[1]),
            alarms: Self::delta(&before[2], &after[2]),
        });
        Ok(())
    }

    fn compromised(&mut self, guardian: usize) -> Result<(), XchainError> {
        let key = self.keys[guardian].clone();
        let attacker = self.attacker;
        let spoke = 1;
        let addr = self.spoke_addr(spoke);
        let last = self
            .view(
                spoke,
                addr,
                IScenarioSpoke::lastCreditNonceCall { account: attacker }.abi_encode(),
            )?
            .to::<u64>();
        let credit = MarginCredit {
            account: attacker,
            spokeChainId: U256::from(self.chain_id(spoke)),
            amount: U256::from(self.cfg.scenario.initial_deposit) * U256::from(100),
            nonce: last + 1,
            expiry: self.expiry()?,
            hubStateVersion: 0,
        };
        let payload = Payload::MarginCredit(credit.clone());
        let sig = key.sign(
            Scheme::Ecdsa,
            &payload.signing_hash(&domain(self.chain_id(spoke), addr)),
        )?;
        for sigs in [vec![sig.clone()], vec![sig.clone(), sig]] {
            let data = IScenarioSpoke::acceptCreditCall {
                payload: credit.abi_encode().into(),
                signatures: sigs,
            }
            .abi_encode();
            self.tx(spoke, attacker, addr, &data, "accept_credit")?;
        }
        // A permit paying a victim's collateral to the attacker.
        let victim = self.users[0];
        let (coll, _) = self.hub_state(0)?;
        let hub = self.hub;
        let version = self.view(
            0,
            hub,
            IScenarioHub::stateVersionCall { account: victim }.abi_encode(),
        )?;
        let nonce = self.view(
            0,
            hub,
            IScenarioHub::permitNonceCall { account: victim }.abi_encode(),
        )?;
        let permit = WithdrawalPermit {
            account: victim,
            recipient: attacker,
            amount: coll,
            nonce: nonce.to::<u64>() + 1,
            expiry: self.expiry()?,
            hubStateVersion: version.to::<u64>(),
        };
        let p = Payload::WithdrawalPermit(permit.clone());
        let sig = key.sign(
            Scheme::Ecdsa,
            &p.signing_hash(&domain(self.chain_id(0), hub)),
        )?;
        let data = IScenarioHub::withdrawCall {
            payload: permit.abi_encode().into(),
            signatures: vec![sig],
            accountSignature: Bytes::new(),
        }
        .abi_encode();
        self.tx(0, attacker, hub, &data, "withdraw")?;
        self.settle()
    }

    /// Stops the node of `chain` through the devnet's control directory, relays (and fails)
    /// while it is down, restarts it and checks it resumed the same chain.
    fn restart(&mut self, chain: usize) -> Result<(), XchainError> {
        let id = self.chain_id(chain);
        let rpc = self.rpcs[chain].clone();
        if chain > 0 {
            self.small_credit(chain)?;
            self.sign_and_queue()?;
        }
        let head = rpc.block_number()?;
        let head_hash = rpc.block_hash(head)?;
        let ctl = self.dir.join(CONTROL_DIR);
        request(&ctl, id, "stop", "stopped")?;
        // While it is down: a relay to it (spoke) or a deposit on it (hub) fails and is kept.
        if chain > 0 {
            let pending = self.queue.iter().filter(|d| d.chain == chain).count();
            self.relay_ready()?;
            if pending == 0 {
                // Nothing to relay: probe the node the way the relayer would.
                if rpc.block_number().is_err() {
                    Self::count(&mut self.report.rejected, "node_unreachable");
                }
            }
        } else {
            let user = self.users[self.fault_account()];
            let mint = IScenarioToken::mintCall {
                to: user,
                amount: U256::from(1),
            }
            .abi_encode();
            let token = self.token;
            self.tx(0, user, token, &mint, "mint")?;
        }
        request(&ctl, id, "start", "started")?;
        match rpc.block_hash(head)? {
            h if h == head_hash && h.is_some() => {}
            other => self.report.violation_details.push(format!(
                "chain {id} restarted without its state: block {head} was {head_hash:?}, now {other:?}"
            )),
        }
        let waiting = self.queue.iter().filter(|d| d.chain == chain).count();
        self.relay_ready()?;
        let left = self.queue.iter().filter(|d| d.chain == chain).count();
        for _ in left..waiting {
            Self::count(&mut self.report.recovered, "retried_after_restart");
        }
        self.settle()
    }
}

/// Writes `DIR/control/<chain id>.<verb>` and waits (60 s at most) for the devnet's `<answer>`.
fn request(ctl: &Path, chain_id: u64, verb: &str, answer: &str) -> Result<(), XchainError> {
    let io = |e: std::io::Error| {
        XchainError::Devnet(format!("control directory {}: {e}", ctl.display()))
    };
    fs::create_dir_all(ctl).map_err(io)?;
    let done = ctl.join(format!("{chain_id}.{answer}"));
    let _ = fs::remove_file(&done);
    fs::write(ctl.join(format!("{chain_id}.{verb}")), "").map_err(io)?;
    let start = Instant::now();
    while !done.exists() {
        if let Ok(why) = fs::read_to_string(ctl.join(format!("{chain_id}.failed"))) {
            return Err(XchainError::Devnet(format!("node {chain_id}: {why}")));
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(XchainError::Devnet(format!(
                "node_restart: no answer `{answer}` from the devnet for chain {chain_id} within 60 s (is `xchain devnet` running for this deployment?)"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = fs::remove_file(&done);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[scenario]
steps = 12
accounts = 2
finality = 2
initial_deposit = 1000000000
max_price_move = 0.05
max_trade_notional = 20000.0

[prices]
BTC = 60000.0
ETH = 3000.0

[[faults]]
kind = "reorg"
at_step = 1
chain = 1
depth = 1

[[faults]]
kind = "guardian_offline"
guardian = 2
from_step = 3
to_step = 5
"#;

    #[test]
    fn plan_is_a_function_of_config_and_seed() {
        let cfg = ScenarioConfig::parse_toml(SMALL).unwrap();
        cfg.validate(3, 3, 2).unwrap();
        let a = plan(&cfg, 7, 3);
        assert_eq!(a, plan(&cfg, 7, 3));
        assert_eq!(plan_digest(&a), plan_digest(&plan(&cfg, 7, 3)));
        assert_ne!(plan_digest(&a), plan_digest(&plan(&cfg, 8, 3)));
        // 12 operations plus the two faults, each after the operation it names.
        assert_eq!(a.len(), 14);
        assert!(matches!(a[2], Op::Fault(Fault::Reorg { .. })));
        assert!(matches!(a[5], Op::Fault(Fault::GuardianOffline { .. })));
        for op in &a {
            match op {
                Op::Credit { spoke, .. } | Op::Trade { spoke, .. } | Op::Release { spoke, .. } => {
                    assert!((1..3).contains(spoke))
                }
                _ => {}
            }
        }
    }

    #[test]
    fn bad_configs_name_the_field() {
        let e = ScenarioConfig::parse_toml(&SMALL.replace("steps = 12", "steps = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("scenario.steps"), "{e}");
        let e = ScenarioConfig::parse_toml(&SMALL.replace("accounts = 2", "acounts = 2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("acounts"), "{e}");
        let e = ScenarioConfig::parse_toml(&SMALL.replace("depth = 1", "depth = 1\nheight = 2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("faults") && e.contains("height"), "{e}");
        let cfg = ScenarioConfig::parse_toml(&SMALL.replace("chain = 1", "chain = 5")).unwrap();
        let e = cfg.validate(3, 3, 2).unwrap_err().to_string();
        assert!(e.contains("faults[0].chain"), "{e}");
        let cfg =
            ScenarioConfig::parse_toml(&SMALL.replace("at_step = 1", "at_step = 40")).unwrap();
        let e = cfg.validate(3, 3, 2).unwrap_err().to_string();
        assert!(e.contains("faults[0].at_step"), "{e}");
        let cfg = ScenarioConfig::parse_toml(&SMALL.replace("ETH = 3000.0", "ETH = -1.0")).unwrap();
        let e = cfg.validate(3, 3, 2).unwrap_err().to_string();
        assert!(e.contains("prices.ETH"), "{e}");
        let cfg =
            ScenarioConfig::parse_toml(&SMALL.replace("guardian = 2", "guardian = 3")).unwrap();
        let e = cfg.validate(3, 3, 2).unwrap_err().to_string();
        assert!(e.contains("faults[1].guardian"), "{e}");
    }

    #[test]
    fn node_errors_map_to_reasons() {
        let sel = |s: &str| alloy_primitives::hex::encode(&keccak256(s)[..4]);
        assert_eq!(
            classify(&format!(
                "execution reverted, data: \"0x{}00\"",
                sel("Replay(uint64,uint64)")
            )),
            "nonce_used"
        );
        assert_eq!(
            classify(&format!("0x{}", sel("NotGuardian(uint256,address)"))),
            "bad_signature"
        );
        assert_eq!(
            classify("Connection refused (os error 111)"),
            "node_unreachable"
        );
        assert_eq!(classify("something else"), "reverted");
    }
}
