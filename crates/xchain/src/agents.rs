//! Off-chain agents over JSON-RPC: a **guardian** that watches the hub's `CreditLocked` and the
//! spokes' `CreditReleased` events once they are `finality` blocks deep, re-checks the hub's
//! invariant on chain (collateral ≥ every outstanding credit, the locked credit still outstanding),
//! and signs the matching `MarginCredit` (spoke domain) or `CreditRelease` (hub domain); and a
//! **relayer** that submits an attestation once `threshold` guardians signed it, retries on failure,
//! treats a `Replay` revert as already delivered, watches each delivery until it is `finality`
//! blocks deep on the canonical chain (a delivery reorged out is sent again), and signs its own
//! transactions ([`crate::txsign`]), re-syncing its nonce on nonce errors and gaps.
//!
//! Guardians and the relayer are separate processes sharing only a signatures directory: one
//! sub-directory per attestation holding `payload.json` and one `<guardian address>.sig` per signer,
//! and `relayed.json` once delivered. A guardian that declines a credit writes
//! `<guardian address>.refused` with its reason instead (read by `serve --xchain`).
//!
//! A guardian re-values each account with the margin crate's **unified model**
//! ([`UnifiedSpokeModel`], the spokes as credit venues) over the positions of the latest final
//! `PositionReport` of every spoke, at the prices it is given. It signs a credit only while the
//! collateral covers both every outstanding credit and that requirement, and a
//! [`WithdrawalPermit`] only while the collateral left after the withdrawal still covers them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::devnet::{Deployment, Role};
use crate::error::XchainError;
use crate::guardian::{GuardianKey, Scheme};
use crate::messages::{domain, CreditRelease, MarginCredit, Payload, WithdrawalPermit};
use crate::requirement::{Book, Positions, RequirementModel};
use crate::rpc::Rpc;
use crate::txsign::TxSender;
use crate::unified::UnifiedSpokeModel;

sol! {
    interface IHubViews {
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function retireCredit(bytes payload, bytes[] signatures);
        function stateVersion(address account) returns (uint64);
        function permitNonce(address account) returns (uint64);
    }
    interface ISpokeRelay {
        function acceptCredit(bytes payload, bytes[] signatures);
    }
}

/// `CreditLocked(address,uint256,uint64,uint256,uint64,uint64)` topic.
pub fn credit_locked_topic() -> B256 {
    keccak256("CreditLocked(address,uint256,uint64,uint256,uint64,uint64)")
}

/// `CreditReleased(address,uint256,uint64,uint256,uint64,uint64)` topic.
pub fn credit_released_topic() -> B256 {
    keccak256("CreditReleased(address,uint256,uint64,uint256,uint64,uint64)")
}

/// `PositionReport(address,uint256,uint64,uint64,uint64,(string,int256)[],int256,uint64,uint256,bool)` topic.
pub fn position_report_topic() -> B256 {
    keccak256(
        "PositionReport(address,uint256,uint64,uint64,uint64,(string,int256)[],int256,uint64,uint256,bool)",
    )
}

/// The non-indexed fields of a spoke's `PositionReport` event.
type ReportData = (
    U256,
    u64,
    u64,
    u64,
    Vec<(String, alloy_primitives::I256)>,
    alloy_primitives::I256,
    u64,
    U256,
    bool,
);

/// Positions of a `PositionReport` event's data; None when it does not decode or a size exceeds i128.
pub fn decode_report_positions(data: &[u8]) -> Option<(u64, Positions)> {
    let r = <ReportData>::abi_decode_params(data).ok()?;
    let mut out = Positions::new();
    for (u, size) in r.4 {
        let v = i128::try_from(size).ok()?;
        *out.entry(u).or_insert(0) += v;
    }
    Some((r.3, out))
}

/// What an account asks the guardians to sign for a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitRequest {
    /// The account whose collateral is withdrawn.
    pub account: Address,
    /// Who receives it.
    pub recipient: Address,
    /// Base units of the collateral token.
    pub amount: U256,
    /// Permit expiry, UTC milliseconds.
    pub expiry: u64,
}

/// A guardian's answer to a [`PermitRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermitDecision {
    /// Signed: the permit (nonce and state version read from the hub) and the signature.
    Signed(WithdrawalPermit, Bytes),
    /// Refused, with the reason (the invariant would not hold after the withdrawal).
    Refused(String),
}

/// An attestation waiting for signatures, as written to `payload.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Chain the attestation is delivered to.
    pub chain_id: u64,
    /// Contract it is delivered to (its EIP-712 verifying contract).
    pub contract: Address,
    /// The attestation.
    pub payload: Payload,
}

/// Reads a guardian key file (`0x` + 64 hex digits, as `xchain devnet` writes them).
pub fn load_key(path: &Path) -> Result<GuardianKey, XchainError> {
    GuardianKey::from_bytes(&load_secret(path)?)
}

/// Reads a 32-byte secret key file (`0x` + 64 hex digits); errors name the file.
pub fn load_secret(path: &Path) -> Result<[u8; 32], XchainError> {
    let field = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|e| XchainError::config(&field, e.to_string()))?;
    let raw = alloy_primitives::hex::decode(text.trim())
        .map_err(|e| XchainError::config(&field, format!("not hex: {e}")))?;
    raw.try_into()
        .map_err(|_| XchainError::config(&field, "expected 32 bytes"))
}

fn io(what: &str, e: std::io::Error) -> XchainError {
    XchainError::Devnet(format!("{what}: {e}"))
}

fn quantity(v: &serde_json::Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

/// One log: (topics, data).
type Log = (Vec<B256>, Vec<u8>);

/// Logs of `address` with first topic `topic` in `[from, to]`: (topics, data).
fn logs(
    rpc: &Rpc,
    address: Address,
    topic: B256,
    from: u64,
    to: u64,
) -> Result<Vec<Log>, XchainError> {
    let v = rpc.call(
        "eth_getLogs",
        json!([{"address": address, "topics": [topic], "fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}")}]),
    )?;
    let arr = v.as_array().cloned().unwrap_or_default();
    Ok(arr
        .iter()
        .filter_map(|l| {
            let topics: Vec<B256> = serde_json::from_value(l.get("topics")?.clone()).ok()?;
            let data = alloy_primitives::hex::decode(l.get("data")?.as_str()?).ok()?;
            Some((topics, data))
        })
        .collect())
}

fn block_number(rpc: &Rpc) -> Result<u64, XchainError> {
    let v = rpc.call("eth_blockNumber", json!([]))?;
    quantity(&v).ok_or_else(|| XchainError::Devnet(format!("eth_blockNumber: not a quantity: {v}")))
}

fn word(rpc: &Rpc, to: Address, data: &[u8]) -> Result<U256, XchainError> {
    let out = rpc.eth_call(to, data)?;
    if out.len() < 32 {
        return Err(XchainError::Devnet(format!(
            "eth_call to {to}: short return"
        )));
    }
    Ok(U256::from_be_slice(&out[..32]))
}

/// One guardian: its key, the deployment, the shared signatures directory and a cursor per chain.
pub struct GuardianAgent {
    key: GuardianKey,
    deployment: Deployment,
    dir: PathBuf,
    finality: u64,
    next_block: BTreeMap<u64, u64>,
    model: UnifiedSpokeModel,
    prices: BTreeMap<String, f64>,
    /// Latest final report per (account, spoke chain): (report nonce, positions).
    reports: BTreeMap<(Address, u64), (u64, Positions)>,
    /// Hashes of the last final blocks seen per chain (block number → hash).
    final_hashes: BTreeMap<u64, BTreeMap<u64, B256>>,
    /// Raised when a block this guardian had seen final changed (a reorg deeper than the
    /// finality depth): it signs nothing while the alarm stands.
    alarm: Option<String>,
}

/// Final block hashes a guardian keeps per chain to detect a reorg deeper than its finality.
pub const TRACKED_FINAL_BLOCKS: usize = 4;

impl GuardianAgent {
    /// A guardian signing with `key`; it must be one of the deployment's guardians.
    pub fn new(
        key: GuardianKey,
        deployment: Deployment,
        dir: PathBuf,
        finality: u64,
    ) -> Result<GuardianAgent, XchainError> {
        if !deployment.guardians.contains(&key.address()) {
            return Err(XchainError::config(
                "key",
                format!("{} is not a guardian of this deployment", key.address()),
            ));
        }
        fs::create_dir_all(&dir).map_err(|e| io("signatures directory", e))?;
        // An alarm raised before a restart still stands until its file is removed.
        let alarm = fs::read_to_string(dir.join(format!("alarm-{}.txt", key.address())))
            .ok()
            .map(|t| t.trim().to_string());
        Ok(GuardianAgent {
            key,
            deployment,
            dir,
            finality,
            next_block: BTreeMap::new(),
            model: UnifiedSpokeModel::standard(6, 6),
            prices: BTreeMap::new(),
            reports: BTreeMap::new(),
            final_hashes: BTreeMap::new(),
            alarm,
        })
    }

    /// Checks every chain's tracked final blocks against the canonical chains without signing
    /// anything (then tracks the current final blocks); returns the alarm if one stands.
    pub fn check_alarm(&mut self) -> Result<Option<String>, XchainError> {
        if self.alarm.is_none() {
            for chain in self.deployment.chains.clone() {
                let rpc = Rpc::new(&chain.rpc)?;
                let latest = block_number(&rpc)?;
                let Some(safe) = latest.checked_sub(self.finality) else {
                    continue;
                };
                self.check_finality(chain.chain_id, &rpc, safe)?;
                if self.alarm.is_some() {
                    break;
                }
            }
        }
        Ok(self.alarm.clone())
    }

    /// The deep-reorg alarm, if raised: which final block of which chain changed.
    pub fn alarm(&self) -> Option<&str> {
        self.alarm.as_deref()
    }

    /// Clears the alarm (an operator has looked at the reorg) and forgets the tracked hashes;
    /// removes `alarm-<guardian>.txt` from the signatures directory.
    pub fn clear_alarm(&mut self) {
        self.alarm = None;
        self.final_hashes.clear();
        let _ = fs::remove_file(self.alarm_path());
    }

    fn alarm_path(&self) -> PathBuf {
        self.dir.join(format!("alarm-{}.txt", self.key.address()))
    }

    /// Compares the tracked final blocks of `chain_id` with the canonical chain, then tracks
    /// `safe`: a changed hash raises the alarm (written to `alarm-<guardian>.txt`).
    fn check_finality(&mut self, chain_id: u64, rpc: &Rpc, safe: u64) -> Result<(), XchainError> {
        let tracked = self.final_hashes.entry(chain_id).or_default().clone();
        for (n, h) in &tracked {
            let now = rpc.block_hash(*n)?;
            if now != Some(*h) {
                let msg = format!(
                    "deep reorg on chain {chain_id}: final block {n} was {h}, now {}",
                    now.map_or_else(|| "missing".to_string(), |x| x.to_string())
                );
                write_atomic(&self.alarm_path(), &format!("{msg}\n"))?;
                self.alarm = Some(msg);
                return Ok(());
            }
        }
        if let Some(h) = rpc.block_hash(safe)? {
            let t = self.final_hashes.entry(chain_id).or_default();
            t.insert(safe, h);
            while t.len() > TRACKED_FINAL_BLOCKS {
                t.pop_first();
            }
        }
        Ok(())
    }

    /// This guardian's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Replaces the unified model's parameters (sizes' and collateral's decimals, position cap).
    pub fn set_model(&mut self, model: UnifiedSpokeModel) -> Result<(), XchainError> {
        model.validate()?;
        self.model = model;
        Ok(())
    }

    /// The prices (quote per whole underlying) the requirement is valued at.
    pub fn set_prices(&mut self, prices: BTreeMap<String, f64>) {
        self.prices = prices;
    }

    /// Starts scanning at each chain's next block: events already on chain are history.
    pub fn skip_history(&mut self) -> Result<(), XchainError> {
        for c in &self.deployment.chains {
            let n = Rpc::new(&c.rpc)?.block_number()?;
            self.next_block.insert(c.chain_id, n + 1);
        }
        Ok(())
    }

    /// The account's book: the positions of its latest final report on every spoke.
    pub fn book_of(&self, account: Address) -> Book {
        self.reports
            .iter()
            .filter(|((a, _), _)| *a == account)
            .map(|((_, chain), (_, p))| (*chain, p.clone()))
            .collect()
    }

    /// The unified requirement of the account's book at the current prices (base units).
    pub fn requirement_of(&self, account: Address) -> Result<u128, XchainError> {
        let book = self.book_of(account);
        if book.values().all(|p| p.values().all(|s| *s == 0)) {
            return Ok(0);
        }
        self.model.requirement(&book, &self.prices)
    }

    /// The hub's view of `account` that the invariant is judged on: the smaller collateral and the
    /// larger outstanding credit of the latest and the final block (a deposit not yet final
    /// counts for nothing; a credit locked in a block not yet final already counts).
    fn hub_view(&self, account: Address) -> Result<(U256, U256), XchainError> {
        let hub = self.deployment.hub();
        let rpc = Rpc::new(&hub.rpc)?;
        let addr = hub
            .contracts
            .hub
            .ok_or_else(|| XchainError::config("chains.hub", "no hub contract"))?;
        let latest = rpc.block_number()?;
        let final_block = latest.saturating_sub(self.finality);
        let read = |data: Vec<u8>, at: Option<u64>| -> Result<U256, XchainError> {
            let out = rpc.eth_call_at(None, addr, &data, at)?;
            if out.len() < 32 {
                return Err(XchainError::Devnet(format!(
                    "eth_call to {addr}: short return"
                )));
            }
            Ok(U256::from_be_slice(&out[..32]))
        };
        let coll_call = IHubViews::collateralOfCall {
            account,
            token: hub.contracts.collateral_token,
        }
        .abi_encode();
        let total_call = IHubViews::totalOutstandingCall { account }.abi_encode();
        let coll = read(coll_call.clone(), None)?.min(read(coll_call, Some(final_block))?);
        let total = read(total_call.clone(), None)?.max(read(total_call, Some(final_block))?);
        Ok((coll, total))
    }

    /// Decides a withdrawal: signs the `WithdrawalPermit` (hub domain, the hub's next permit nonce
    /// and current state version) only if the collateral left covers every outstanding credit and
    /// the account's unified requirement; otherwise says why not.
    pub fn decide_permit(&self, req: &PermitRequest) -> Result<PermitDecision, XchainError> {
        if let Some(a) = &self.alarm {
            return Ok(PermitDecision::Refused(format!("alarm: {a}")));
        }
        let hub = self.deployment.hub();
        let rpc = Rpc::new(&hub.rpc)?;
        let addr = hub
            .contracts
            .hub
            .ok_or_else(|| XchainError::config("chains.hub", "no hub contract"))?;
        let (coll, total) = self.hub_view(req.account)?;
        let requirement = match self.requirement_of(req.account) {
            Ok(r) => U256::from(r),
            Err(e) => return Ok(PermitDecision::Refused(format!("requirement: {e}"))),
        };
        let floor = total.max(requirement);
        if req.amount > coll || coll - req.amount < floor {
            let binding = if total >= requirement {
                "outstanding credit"
            } else {
                "unified requirement"
            };
            return Ok(PermitDecision::Refused(format!(
                "{binding} not covered: collateral {coll} − {} < {floor} (outstanding credit {total}, unified requirement {requirement})",
                req.amount
            )));
        }
        let version = word(
            &rpc,
            addr,
            &IHubViews::stateVersionCall {
                account: req.account,
            }
            .abi_encode(),
        )?;
        let nonce = word(
            &rpc,
            addr,
            &IHubViews::permitNonceCall {
                account: req.account,
            }
            .abi_encode(),
        )?;
        let permit = WithdrawalPermit {
            account: req.account,
            recipient: req.recipient,
            amount: req.amount,
            nonce: u64::try_from(nonce + U256::from(1))
                .map_err(|_| XchainError::Overflow("permit nonce".into()))?,
            expiry: req.expiry,
            hubStateVersion: u64::try_from(version)
                .map_err(|_| XchainError::Overflow("state version".into()))?,
        };
        let payload = Payload::WithdrawalPermit(permit.clone());
        let sig = self.key.sign(
            Scheme::Ecdsa,
            &payload.signing_hash(&domain(hub.chain_id, addr)),
        )?;
        Ok(PermitDecision::Signed(permit, sig))
    }

    /// Scans every chain up to its final block and signs what is new; returns how many it signed.
    /// Nothing is signed while the deep-reorg alarm stands ([`GuardianAgent::alarm`]).
    pub fn step(&mut self) -> Result<usize, XchainError> {
        let mut signed = 0;
        if self.alarm.is_some() {
            return Ok(0);
        }
        let hub = self.deployment.hub().clone();
        let hub_rpc = Rpc::new(&hub.rpc)?;
        let hub_addr = hub
            .contracts
            .hub
            .ok_or_else(|| XchainError::config("chains.hub", "no hub contract"))?;
        for chain in self.deployment.chains.clone() {
            let rpc = Rpc::new(&chain.rpc)?;
            let latest = block_number(&rpc)?;
            let Some(safe) = latest.checked_sub(self.finality) else {
                continue;
            };
            let from = *self.next_block.get(&chain.chain_id).unwrap_or(&0);
            self.check_finality(chain.chain_id, &rpc, safe)?;
            if self.alarm.is_some() {
                return Ok(signed);
            }
            if from > safe {
                continue;
            }
            match chain.role {
                Role::Hub => {
                    for (topics, data) in logs(&rpc, hub_addr, credit_locked_topic(), from, safe)? {
                        if topics.len() < 3 {
                            continue;
                        }
                        let account = Address::from_word(topics[1]);
                        let spoke_chain = U256::from_be_bytes(topics[2].0);
                        let Ok((nonce, amount, expiry, version)) =
                            <(u64, U256, u64, u64)>::abi_decode_params(&data)
                        else {
                            continue;
                        };
                        // The invariant must still hold on chain before a credit is signed.
                        let outstanding = word(
                            &hub_rpc,
                            hub_addr,
                            &IHubViews::outstandingCreditCall {
                                account,
                                spokeChainId: spoke_chain,
                            }
                            .abi_encode(),
                        )?;
                        let total = word(
                            &hub_rpc,
                            hub_addr,
                            &IHubViews::totalOutstandingCall { account }.abi_encode(),
                        )?;
                        let coll = word(
                            &hub_rpc,
                            hub_addr,
                            &IHubViews::collateralOfCall {
                                account,
                                token: hub.contracts.collateral_token,
                            }
                            .abi_encode(),
                        )?;
                        let name = format!("credit-{spoke_chain}-{account}-{nonce}");
                        if outstanding < amount {
                            self.refuse(&name, "credit no longer outstanding at the hub")?;
                            continue;
                        }
                        if coll < total {
                            self.refuse(
                                &name,
                                &format!(
                                    "invariant: collateral {coll} < outstanding credit {total}"
                                ),
                            )?;
                            continue;
                        }
                        // And the account's unified requirement at current prices.
                        match self.requirement_of(account) {
                            Ok(r) if coll >= U256::from(r) => {}
                            Ok(r) => {
                                self.refuse(
                                    &name,
                                    &format!(
                                        "unified requirement {r} not covered by collateral {coll}"
                                    ),
                                )?;
                                continue;
                            }
                            Err(e) => {
                                self.refuse(&name, &format!("unified requirement: {e}"))?;
                                continue;
                            }
                        }
                        let Some(spoke) = self.deployment.chains.iter().find(|c| {
                            U256::from(c.chain_id) == spoke_chain && c.role == Role::Spoke
                        }) else {
                            self.refuse(&name, "not a spoke chain of the deployment")?;
                            continue;
                        };
                        let credit = MarginCredit {
                            account,
                            spokeChainId: spoke_chain,
                            amount,
                            nonce,
                            expiry,
                            hubStateVersion: version,
                        };
                        let pending = Pending {
                            chain_id: spoke.chain_id,
                            contract: spoke.contracts.spoke.unwrap_or_default(),
                            payload: Payload::MarginCredit(credit),
                        };
                        signed += self.sign(&name, &pending)?;
                    }
                }
                Role::Spoke => {
                    let spoke_addr = chain.contracts.spoke.unwrap_or_default();
                    for (topics, data) in
                        logs(&rpc, spoke_addr, position_report_topic(), from, safe)?
                    {
                        let (Some(t), Some((nonce, positions))) =
                            (topics.get(1), decode_report_positions(&data))
                        else {
                            continue;
                        };
                        let key = (Address::from_word(*t), chain.chain_id);
                        if self.reports.get(&key).is_none_or(|(n, _)| *n < nonce) {
                            self.reports.insert(key, (nonce, positions));
                        }
                    }
                    for (topics, data) in
                        logs(&rpc, spoke_addr, credit_released_topic(), from, safe)?
                    {
                        if topics.len() < 2 {
                            continue;
                        }
                        let account = Address::from_word(topics[1]);
                        let Ok((spoke_chain, credit_nonce, used, height, nonce)) =
                            <(U256, u64, U256, u64, u64)>::abi_decode_params(&data)
                        else {
                            continue;
                        };
                        let release = CreditRelease {
                            account,
                            spokeChainId: spoke_chain,
                            creditNonce: credit_nonce,
                            used,
                            blockHeight: height,
                            nonce,
                        };
                        let pending = Pending {
                            chain_id: hub.chain_id,
                            contract: hub_addr,
                            payload: Payload::CreditRelease(release),
                        };
                        signed += self.sign(
                            &format!("release-{}-{account}-{nonce}", chain.chain_id),
                            &pending,
                        )?;
                    }
                }
            }
            self.next_block.insert(chain.chain_id, safe + 1);
        }
        Ok(signed)
    }

    /// Writes this guardian's refusal of attestation `name`, with its reason, to
    /// `<name>/<guardian>.refused` (the service reads it to answer a credit request at once).
    fn refuse(&self, name: &str, reason: &str) -> Result<(), XchainError> {
        let sub = self.dir.join(name);
        fs::create_dir_all(&sub).map_err(|e| io("attestation directory", e))?;
        write_atomic(
            &sub.join(format!("{}.refused", self.key.address())),
            &format!("{reason}\n"),
        )
    }

    /// Writes `payload.json` (if absent) and this guardian's signature; 1 if newly signed.
    fn sign(&self, name: &str, p: &Pending) -> Result<usize, XchainError> {
        let sub = self.dir.join(name);
        fs::create_dir_all(&sub).map_err(|e| io("attestation directory", e))?;
        let sig_path = sub.join(format!("{}.sig", self.key.address()));
        if sig_path.exists() {
            return Ok(0);
        }
        let payload_path = sub.join("payload.json");
        if !payload_path.exists() {
            let text =
                serde_json::to_string_pretty(p).map_err(|e| XchainError::Devnet(e.to_string()))?;
            write_atomic(&payload_path, &text)?;
        }
        let digest = p.payload.signing_hash(&domain(p.chain_id, p.contract));
        let sig = self.key.sign(Scheme::Ecdsa, &digest)?;
        write_atomic(
            &sig_path,
            &format!("0x{}\n", alloy_primitives::hex::encode(&sig)),
        )?;
        Ok(1)
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<(), XchainError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text).map_err(|e| io("write", e))?;
    fs::rename(&tmp, path).map_err(|e| io("rename", e))
}

/// What the relayer did with one attestation in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    /// Submitted and mined successfully; watched until it is `finality` blocks deep.
    Delivered {
        /// Attestation directory name.
        name: String,
        /// Transaction.
        tx_hash: B256,
    },
    /// The delivery is `finality` deep on the canonical chain: `relayed.json` written.
    Final {
        /// Attestation directory name.
        name: String,
        /// Transaction.
        tx_hash: B256,
    },
    /// The delivered transaction was reorged out before finality and is sent again.
    Resubmitted {
        /// Attestation directory name.
        name: String,
        /// The transaction that vanished.
        dropped: B256,
    },
    /// The contract already had it (a `Replay` revert): nothing more to do.
    AlreadyDelivered(String),
    /// Submission failed; retried next step.
    Failed {
        /// Attestation directory name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// A delivery waiting for finality, as written to `submitted.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// Chain it was sent to.
    pub chain_id: u64,
    /// Transaction.
    pub tx_hash: B256,
    /// Block it was mined in.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: B256,
}

/// The relayer: submits attestations with a quorum, watches each delivery until it is `finality`
/// blocks deep on the canonical chain (a delivery reorged out is re-sent, or recognised as
/// included again when the contract answers `Replay`), and signs its own transactions with its key
/// (nonce kept per chain, re-synced on nonce errors and gaps) or, without a key, sends from the
/// node's last unlocked account.
pub struct RelayerAgent {
    deployment: Deployment,
    dir: PathBuf,
    finality: u64,
    senders: BTreeMap<u64, TxSender>,
    key: Option<[u8; 32]>,
}

fn replay_selector() -> String {
    alloy_primitives::hex::encode(&keccak256("Replay(uint64,uint64)")[..4])
}

impl RelayerAgent {
    /// A relayer over the shared signatures directory, sending from unlocked accounts, counting a
    /// delivery final at once (`finality` 0); see [`RelayerAgent::with_key`] and
    /// [`RelayerAgent::with_finality`].
    pub fn new(deployment: Deployment, dir: PathBuf) -> RelayerAgent {
        RelayerAgent {
            deployment,
            dir,
            finality: 0,
            senders: BTreeMap::new(),
            key: None,
        }
    }

    /// Signs its transactions with `secret` (its address must hold gas on every chain).
    pub fn with_key(mut self, secret: [u8; 32]) -> Result<RelayerAgent, XchainError> {
        TxSender::new(&secret)?;
        self.key = Some(secret);
        Ok(self)
    }

    /// Watches each delivery until it is `finality` blocks deep.
    pub fn with_finality(mut self, finality: u64) -> RelayerAgent {
        self.finality = finality;
        self
    }

    /// The relayer's address (with a key).
    pub fn address(&self) -> Option<Address> {
        self.key
            .and_then(|k| TxSender::new(&k).ok())
            .map(|s| s.address())
    }

    /// Nonce re-syncs so far over every chain.
    pub fn nonce_resyncs(&self) -> u64 {
        self.senders.values().map(|s| s.resyncs).sum()
    }

    /// The sender of `chain_id` (tests use it to inject a nonce gap).
    pub fn sender_mut(&mut self, chain_id: u64) -> Option<&mut TxSender> {
        let key = self.key?;
        if let std::collections::btree_map::Entry::Vacant(e) = self.senders.entry(chain_id) {
            e.insert(TxSender::new(&key).ok()?);
        }
        self.senders.get_mut(&chain_id)
    }

    fn send(
        &mut self,
        rpc: &Rpc,
        chain_id: u64,
        to: Address,
        data: &[u8],
    ) -> Result<crate::rpc::Receipt, XchainError> {
        if self.key.is_some() {
            let s = self
                .sender_mut(chain_id)
                .ok_or_else(|| XchainError::Devnet("relayer key".into()))?;
            return s.send(rpc, chain_id, to, data);
        }
        let from = *rpc
            .accounts()?
            .last()
            .ok_or_else(|| XchainError::Devnet("no unlocked account".into()))?;
        rpc.send(from, Some(to), data)
    }

    fn sender_address(&self, rpc: &Rpc) -> Result<Address, XchainError> {
        match self.address() {
            Some(a) => Ok(a),
            None => rpc
                .accounts()?
                .last()
                .copied()
                .ok_or_else(|| XchainError::Devnet("no unlocked account".into())),
        }
    }

    /// Dry-runs and sends one delivery; writes `submitted.json` (or `relayed.json` on `Replay`).
    fn deliver(
        &mut self,
        name: &str,
        sub: &Path,
        chain_id: u64,
        contract: Address,
        data: &[u8],
    ) -> Result<Relayed, XchainError> {
        let Some(chain) = self
            .deployment
            .chains
            .iter()
            .find(|c| c.chain_id == chain_id)
        else {
            return Ok(Relayed::Failed {
                name: name.into(),
                reason: format!("chain {chain_id} is not in the deployment"),
            });
        };
        let rpc = Rpc::new(&chain.rpc)?;
        let from = self.sender_address(&rpc)?;
        // A dry run first: a revert is classified without spending a transaction.
        if let Err(XchainError::Rpc { reason, .. }) =
            rpc.eth_call_at(Some(from), contract, data, None)
        {
            if reason.contains(&replay_selector()) {
                write_atomic(
                    &sub.join("relayed.json"),
                    &json!({"tx_hash": null, "chain_id": chain_id}).to_string(),
                )?;
                return Ok(Relayed::AlreadyDelivered(name.into()));
            }
            return Ok(Relayed::Failed {
                name: name.into(),
                reason,
            });
        }
        let r = self.send(&rpc, chain_id, contract, data)?;
        if !r.success {
            return Ok(Relayed::Failed {
                name: name.into(),
                reason: format!("reverted in {}", r.tx_hash),
            });
        }
        let s = Submitted {
            chain_id,
            tx_hash: r.tx_hash,
            block_number: r.block_number,
            block_hash: r.block_hash,
        };
        write_atomic(
            &sub.join("submitted.json"),
            &serde_json::to_string(&s).map_err(|e| XchainError::Devnet(e.to_string()))?,
        )?;
        if self.finality == 0 {
            write_atomic(
                &sub.join("relayed.json"),
                &json!({"tx_hash": r.tx_hash, "chain_id": chain_id}).to_string(),
            )?;
        }
        Ok(Relayed::Delivered {
            name: name.into(),
            tx_hash: r.tx_hash,
        })
    }

    /// Checks a submitted delivery: final, still pending, or reorged out (then re-sent, or
    /// recognised as included again).
    fn watch(
        &mut self,
        name: &str,
        sub: &Path,
        s: &Submitted,
        contract: Address,
        data: &[u8],
    ) -> Result<Option<Relayed>, XchainError> {
        let Some(chain) = self
            .deployment
            .chains
            .iter()
            .find(|c| c.chain_id == s.chain_id)
        else {
            return Ok(None);
        };
        let rpc = Rpc::new(&chain.rpc)?;
        match rpc.try_receipt(s.tx_hash)? {
            Some(r) => {
                let latest = rpc.block_number()?;
                let canonical = rpc.block_hash(r.block_number)?;
                if latest.saturating_sub(r.block_number) >= self.finality
                    && canonical == Some(r.block_hash)
                {
                    write_atomic(
                        &sub.join("relayed.json"),
                        &json!({"tx_hash": s.tx_hash, "chain_id": s.chain_id, "block_number": r.block_number, "block_hash": r.block_hash}).to_string(),
                    )?;
                    return Ok(Some(Relayed::Final {
                        name: name.into(),
                        tx_hash: s.tx_hash,
                    }));
                }
                Ok(None)
            }
            None => {
                // Reorged out. Included again (the contract says Replay)? Otherwise send again.
                let _ = fs::remove_file(sub.join("submitted.json"));
                let from = self.sender_address(&rpc)?;
                if let Err(XchainError::Rpc { reason, .. }) =
                    rpc.eth_call_at(Some(from), contract, data, None)
                {
                    if reason.contains(&replay_selector()) {
                        write_atomic(
                            &sub.join("relayed.json"),
                            &json!({"tx_hash": null, "chain_id": s.chain_id}).to_string(),
                        )?;
                        return Ok(Some(Relayed::AlreadyDelivered(name.into())));
                    }
                }
                match self.deliver(name, sub, s.chain_id, contract, data)? {
                    Relayed::Delivered { .. } => Ok(Some(Relayed::Resubmitted {
                        name: name.into(),
                        dropped: s.tx_hash,
                    })),
                    other => Ok(Some(other)),
                }
            }
        }
    }

    /// Submits every attestation that has a quorum and is not yet delivered, and watches every
    /// delivery until it is final.
    pub fn step(&mut self) -> Result<Vec<Relayed>, XchainError> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let sub = self.dir.join(&name);
            if sub.join("relayed.json").exists() {
                continue;
            }
            let Ok(text) = fs::read_to_string(sub.join("payload.json")) else {
                continue;
            };
            let Ok(p) = serde_json::from_str::<Pending>(&text) else {
                continue;
            };
            let mut sigs: Vec<(String, Bytes)> = Vec::new();
            if let Ok(files) = fs::read_dir(&sub) {
                for f in files.filter_map(|e| e.ok()) {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    let Some(signer) = fname.strip_suffix(".sig") else {
                        continue;
                    };
                    let Ok(s) = fs::read_to_string(f.path()) else {
                        continue;
                    };
                    if let Ok(b) = alloy_primitives::hex::decode(s.trim()) {
                        sigs.push((signer.to_string(), Bytes::from(b)));
                    }
                }
            }
            if sigs.len() < self.deployment.threshold {
                continue;
            }
            sigs.sort();
            let sigs: Vec<Bytes> = sigs
                .into_iter()
                .take(self.deployment.threshold)
                .map(|(_, b)| b)
                .collect();
            let data = match &p.payload {
                Payload::MarginCredit(c) => ISpokeRelay::acceptCreditCall {
                    payload: c.abi_encode().into(),
                    signatures: sigs,
                }
                .abi_encode(),
                Payload::CreditRelease(r) => IHubViews::retireCreditCall {
                    payload: r.abi_encode().into(),
                    signatures: sigs,
                }
                .abi_encode(),
                _ => continue,
            };
            let submitted = fs::read_to_string(sub.join("submitted.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Submitted>(&t).ok());
            let r = match submitted {
                Some(s) => self.watch(&name, &sub, &s, p.contract, &data),
                None => self
                    .deliver(&name, &sub, p.chain_id, p.contract, &data)
                    .map(Some),
            };
            match r {
                Ok(Some(x)) => out.push(x),
                Ok(None) => {}
                Err(e) => out.push(Relayed::Failed {
                    name: name.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_or_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("im-agents-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let good = dir.join("g.key");
        let k = GuardianKey::from_label("agent key test");
        let secret = keccak256("agent key test");
        assert_eq!(
            GuardianKey::from_bytes(&secret.0).unwrap().address(),
            k.address()
        );
        fs::write(
            &good,
            format!("0x{}\n", alloy_primitives::hex::encode(secret)),
        )
        .unwrap();
        assert_eq!(load_key(&good).unwrap().address(), k.address());
        let bad = dir.join("b.key");
        fs::write(&bad, "0x1234").unwrap();
        let e = load_key(&bad).unwrap_err().to_string();
        assert!(e.contains("b.key") && e.contains("32 bytes"), "{e}");
        assert!(load_key(&dir.join("missing.key")).is_err());
        let _ = fs::remove_dir_all(dir);
    }
}
