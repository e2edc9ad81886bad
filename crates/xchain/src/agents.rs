//! Off-chain agents over JSON-RPC: a **guardian** that watches the hub's `CreditLocked` and the
//! spokes' `CreditReleased` events once they are `finality` blocks deep, re-checks the hub's
//! invariant on chain (collateral ≥ every outstanding credit, the locked credit still outstanding),
//! and signs the matching `MarginCredit` (spoke domain) or `CreditRelease` (hub domain); and a
//! **relayer** that submits an attestation once `threshold` guardians signed it, retries on failure
//! and treats a `Replay` revert as already delivered.
//!
//! Guardians and the relayer are separate processes sharing only a signatures directory: one
//! sub-directory per attestation holding `payload.json` and one `<guardian address>.sig` per signer,
//! and `relayed.json` once delivered. The requirement of open positions (the unified model over
//! `PositionReport`s) is not re-valued here: a guardian signs a credit only when the hub's on-chain
//! check still holds.

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
use crate::messages::{domain, CreditRelease, MarginCredit, Payload};
use crate::rpc::Rpc;

sol! {
    interface IHubViews {
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function retireCredit(bytes payload, bytes[] signatures);
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
    let field = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|e| XchainError::config(&field, e.to_string()))?;
    let raw = alloy_primitives::hex::decode(text.trim())
        .map_err(|e| XchainError::config(&field, format!("not hex: {e}")))?;
    let secret: [u8; 32] = raw
        .try_into()
        .map_err(|_| XchainError::config(&field, "expected 32 bytes"))?;
    GuardianKey::from_bytes(&secret)
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
}

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
        Ok(GuardianAgent {
            key,
            deployment,
            dir,
            finality,
            next_block: BTreeMap::new(),
        })
    }

    /// Scans every chain up to its final block and signs what is new; returns how many it signed.
    pub fn step(&mut self) -> Result<usize, XchainError> {
        let mut signed = 0;
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
                        if outstanding < amount || coll < total {
                            continue;
                        }
                        let Some(spoke) = self.deployment.chains.iter().find(|c| {
                            U256::from(c.chain_id) == spoke_chain && c.role == Role::Spoke
                        }) else {
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
                        signed += self.sign(
                            &format!("credit-{}-{account}-{nonce}", spoke.chain_id),
                            &pending,
                        )?;
                    }
                }
                Role::Spoke => {
                    let spoke_addr = chain.contracts.spoke.unwrap_or_default();
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
    /// Submitted and mined successfully.
    Delivered {
        /// Attestation directory name.
        name: String,
        /// Transaction.
        tx_hash: B256,
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

/// The relayer: submits attestations with a quorum from an unlocked account on each chain.
pub struct RelayerAgent {
    deployment: Deployment,
    dir: PathBuf,
}

impl RelayerAgent {
    /// A relayer over the shared signatures directory.
    pub fn new(deployment: Deployment, dir: PathBuf) -> RelayerAgent {
        RelayerAgent { deployment, dir }
    }

    /// Submits every attestation that has a quorum and is not yet delivered.
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
            let Some(chain) = self
                .deployment
                .chains
                .iter()
                .find(|c| c.chain_id == p.chain_id)
            else {
                continue;
            };
            let rpc = Rpc::new(&chain.rpc)?;
            let result = (|| {
                let from = *rpc
                    .accounts()?
                    .last()
                    .ok_or_else(|| XchainError::Devnet("no unlocked account".into()))?;
                // A dry run first: a revert is classified without spending a transaction.
                let call = json!([{"from": from, "to": p.contract, "data": format!("0x{}", alloy_primitives::hex::encode(&data))}, "latest"]);
                if let Err(XchainError::Rpc { reason, .. }) = rpc.call("eth_call", call) {
                    let replay =
                        alloy_primitives::hex::encode(&keccak256("Replay(uint64,uint64)")[..4]);
                    return Ok(if reason.contains(&replay) {
                        Relayed::AlreadyDelivered(name.clone())
                    } else {
                        Relayed::Failed {
                            name: name.clone(),
                            reason,
                        }
                    });
                }
                let r = rpc.send(from, Some(p.contract), &data)?;
                Ok::<Relayed, XchainError>(if r.success {
                    Relayed::Delivered {
                        name: name.clone(),
                        tx_hash: r.tx_hash,
                    }
                } else {
                    Relayed::Failed {
                        name: name.clone(),
                        reason: format!("reverted in {}", r.tx_hash),
                    }
                })
            })();
            let r = result.unwrap_or_else(|e| Relayed::Failed {
                name: name.clone(),
                reason: e.to_string(),
            });
            match &r {
                Relayed::Delivered { tx_hash, .. } => {
                    write_atomic(
                        &sub.join("relayed.json"),
                        &json!({"tx_hash": tx_hash, "chain_id": p.chain_id}).to_string(),
                    )?;
                }
                Relayed::AlreadyDelivered(_) => {
                    write_atomic(
                        &sub.join("relayed.json"),
                        &json!({"tx_hash": null, "chain_id": p.chain_id}).to_string(),
                    )?;
                }
                Relayed::Failed { .. } => {}
            }
            out.push(r);
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
