//! The service's side of on-chain credits (`serve --xchain`), over JSON-RPC and blocking: each
//! ledger account acts on chain through its own key, derived from the service's secret
//! (`keccak256("intermargin/xchain/account" ‖ secret ‖ account id)`), whose gas the service's key
//! tops up. A credit is locked on the hub by that account (`lockCredit`, which checks on chain
//! that the collateral covers every outstanding credit); the guardian processes see the lock
//! once it is final, re-value the account with the unified model and sign the `MarginCredit`
//! (or write a refusal) in the shared signatures directory; the relayer submits `acceptCredit`
//! on the spoke. A credit is released with `releaseCredit` on the spoke, which the guardians
//! attest back to the hub (`retireCredit`). This module reads what happened from the chains'
//! views and logs; it never signs an attestation itself.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use serde::Serialize;
use serde_json::json;

use crate::devnet::{ChainDeployment, Deployment, Role};
use crate::error::XchainError;
use crate::rpc::Rpc;
use crate::scenario::classify;
use crate::txsign::TxSender;

sol! {
    interface IHubClient {
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function creditNonce(address account, uint256 spokeChainId) returns (uint64);
        function retiredUpTo(address account, uint256 spokeChainId) returns (uint64);
        function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry) returns (uint64);
    }
    interface ISpokeClient {
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function releaseCredit(address account, uint64 creditNonce);
        function available(address account) returns (uint256);
    }
    interface IErc20Meta {
        function symbol() returns (string);
        function decimals() returns (uint8);
    }
}

/// Gas (wei) the service keeps on an account's address on each chain it acts on: topped up to
/// [`GAS_TOP_UP_WEI`] when below this.
pub const GAS_FLOOR_WEI: u128 = 10_000_000_000_000_000;
/// Balance an account's address is topped up to.
pub const GAS_TOP_UP_WEI: u128 = 50_000_000_000_000_000;

/// One chain's head as the service last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// EVM chain id.
    pub chain_id: u64,
    /// `hub` or `spoke`.
    pub role: Role,
    /// Latest block number (None when the node did not answer).
    pub latest_block: Option<u64>,
    /// The newest block at the finality depth.
    pub final_block: Option<u64>,
    /// Its hash.
    pub final_hash: Option<B256>,
    /// The node's error, when it did not answer.
    pub error: Option<String>,
}

/// An account's state at the hub.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HubAccount {
    /// `collateralOf(account, collateral token)`.
    pub collateral: U256,
    /// `totalOutstanding(account)`.
    pub total_outstanding: U256,
    /// `outstandingCredit(account, spoke)` per spoke chain id.
    pub outstanding: BTreeMap<u64, U256>,
    /// `creditNonce(account, spoke)`: last credit locked.
    pub credit_nonce: BTreeMap<u64, u64>,
    /// `retiredUpTo(account, spoke)`: credits retired up to this nonce.
    pub retired_up_to: BTreeMap<u64, u64>,
}

/// An account's current credit line on a spoke: `creditOf(account)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SpokeLine {
    /// Amount, base units of the collateral token.
    pub amount: U256,
    /// Expiry, UTC ms.
    pub expiry: u64,
    /// Credit nonce.
    pub nonce: u64,
}

/// How a lock request ended on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// Locked: the credit's nonce, the transaction and its block on the hub.
    Locked {
        /// Credit nonce (the hub's `creditNonce` after the lock).
        nonce: u64,
        /// Transaction hash.
        tx_hash: B256,
        /// Block number.
        block: u64,
    },
    /// The hub refused it: the contract error's name (`invariant`, `rate_limited`, `paused` …)
    /// and the node's message.
    Refused {
        /// Classified reason.
        reason: String,
        /// The node's error text.
        detail: String,
    },
}

/// Where the spoke's acceptance of a credit stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// No `CreditAccepted` for this nonce on the canonical chain.
    NotYet,
    /// Accepted in `block` by `tx_hash`, not yet `finality` deep.
    Pending {
        /// Transaction.
        tx_hash: B256,
        /// Block.
        block: u64,
    },
    /// Accepted and at least `finality` blocks deep.
    Final {
        /// Transaction.
        tx_hash: B256,
        /// Block.
        block: u64,
    },
}

/// The service's client of a deployment.
pub struct XchainClient {
    /// The deployment (`deployment.json`).
    pub deployment: Deployment,
    service: [u8; 32],
    /// Blocks a transaction must be buried under before the service counts it.
    pub finality: u64,
    signatures: Option<PathBuf>,
    /// The collateral token's symbol (`symbol()`).
    pub symbol: String,
    /// The collateral token's decimals (`decimals()`).
    pub decimals: u32,
    gas_lock: Mutex<()>,
}

fn word(out: &[u8], what: &str) -> Result<U256, XchainError> {
    if out.len() < 32 {
        return Err(XchainError::Devnet(format!("{what}: short return")));
    }
    Ok(U256::from_be_slice(&out[..32]))
}

fn small(v: U256, what: &str) -> Result<u64, XchainError> {
    u64::try_from(v).map_err(|_| XchainError::Overflow(what.into()))
}

impl XchainClient {
    /// A client of `deployment` acting with the service's `secret`; reads the collateral token's
    /// symbol and decimals from the hub chain. `signatures` is the guardians' shared directory
    /// (for their refusals), when it is on this machine.
    pub fn connect(
        deployment: Deployment,
        secret: [u8; 32],
        finality: u64,
        signatures: Option<PathBuf>,
    ) -> Result<XchainClient, XchainError> {
        TxSender::new(&secret)?;
        let hub = deployment.hub().clone();
        let rpc = Rpc::new(&hub.rpc)?;
        let token = hub.contracts.collateral_token;
        let out = rpc.eth_call(token, &IErc20Meta::symbolCall {}.abi_encode())?;
        let symbol = String::abi_decode(&out)
            .map_err(|e| XchainError::malformed("collateral_token.symbol()", e.to_string()))?;
        let out = rpc.eth_call(token, &IErc20Meta::decimalsCall {}.abi_encode())?;
        let decimals = small(word(&out, "decimals()")?, "decimals()")? as u32;
        if decimals > 36 {
            return Err(XchainError::malformed(
                "collateral_token.decimals()",
                format!("{decimals} decimals"),
            ));
        }
        Ok(XchainClient {
            deployment,
            service: secret,
            finality,
            signatures,
            symbol,
            decimals,
            gas_lock: Mutex::new(()),
        })
    }

    /// The service's own address (it pays the accounts' gas).
    pub fn service_address(&self) -> Address {
        TxSender::new(&self.service)
            .map(|s| s.address())
            .unwrap_or_default()
    }

    fn account_secret(&self, account: &str) -> [u8; 32] {
        let mut pre = b"intermargin/xchain/account".to_vec();
        pre.extend_from_slice(&self.service);
        pre.extend_from_slice(account.as_bytes());
        keccak256(&pre).0
    }

    fn account_sender(&self, account: &str) -> Result<TxSender, XchainError> {
        TxSender::new(&self.account_secret(account))
    }

    /// The on-chain address of ledger account `account`.
    pub fn address_of(&self, account: &str) -> Result<Address, XchainError> {
        Ok(self.account_sender(account)?.address())
    }

    /// The chain `chain_id` of the deployment.
    pub fn chain(&self, chain_id: u64) -> Option<&ChainDeployment> {
        self.deployment
            .chains
            .iter()
            .find(|c| c.chain_id == chain_id)
    }

    /// The spoke chains' ids.
    pub fn spoke_ids(&self) -> Vec<u64> {
        self.deployment
            .chains
            .iter()
            .filter(|c| c.role == Role::Spoke)
            .map(|c| c.chain_id)
            .collect()
    }

    fn hub_parts(&self) -> Result<(Rpc, Address, Address, u64), XchainError> {
        let hub = self.deployment.hub();
        let addr = hub
            .contracts
            .hub
            .ok_or_else(|| XchainError::config("chains.hub", "no hub contract"))?;
        Ok((
            Rpc::new(&hub.rpc)?,
            addr,
            hub.contracts.collateral_token,
            hub.chain_id,
        ))
    }

    fn spoke_parts(&self, chain_id: u64) -> Result<(Rpc, Address), XchainError> {
        let c = self
            .chain(chain_id)
            .filter(|c| c.role == Role::Spoke)
            .ok_or_else(|| {
                XchainError::config(
                    "chain_id",
                    format!("{chain_id} is not a spoke chain of the deployment"),
                )
            })?;
        let addr = c
            .contracts
            .spoke
            .ok_or_else(|| XchainError::config("contracts.spoke", "missing"))?;
        Ok((Rpc::new(&c.rpc)?, addr))
    }

    /// Every chain's head: latest block, final block and its hash (an unreachable node is
    /// reported, not an error).
    pub fn heads(&self) -> Vec<Head> {
        self.deployment
            .chains
            .iter()
            .map(|c| {
                let read = || -> Result<(u64, u64, Option<B256>), XchainError> {
                    let rpc = Rpc::new(&c.rpc)?;
                    let latest = rpc.block_number()?;
                    let fin = latest.saturating_sub(self.finality);
                    Ok((latest, fin, rpc.block_hash(fin)?))
                };
                match read() {
                    Ok((l, f, h)) => Head {
                        chain_id: c.chain_id,
                        role: c.role,
                        latest_block: Some(l),
                        final_block: Some(f),
                        final_hash: h,
                        error: None,
                    },
                    Err(e) => Head {
                        chain_id: c.chain_id,
                        role: c.role,
                        latest_block: None,
                        final_block: None,
                        final_hash: None,
                        error: Some(e.to_string()),
                    },
                }
            })
            .collect()
    }

    /// The account's state at the hub at block `at` (None: latest).
    pub fn hub_account(
        &self,
        account: Address,
        at: Option<u64>,
    ) -> Result<HubAccount, XchainError> {
        let (rpc, hub, token, _) = self.hub_parts()?;
        let read = |data: Vec<u8>, what: &str| -> Result<U256, XchainError> {
            word(&rpc.eth_call_at(None, hub, &data, at)?, what)
        };
        let mut out = HubAccount {
            collateral: read(
                IHubClient::collateralOfCall { account, token }.abi_encode(),
                "collateralOf",
            )?,
            total_outstanding: read(
                IHubClient::totalOutstandingCall { account }.abi_encode(),
                "totalOutstanding",
            )?,
            ..HubAccount::default()
        };
        for id in self.spoke_ids() {
            let spoke = U256::from(id);
            out.outstanding.insert(
                id,
                read(
                    IHubClient::outstandingCreditCall {
                        account,
                        spokeChainId: spoke,
                    }
                    .abi_encode(),
                    "outstandingCredit",
                )?,
            );
            let n = read(
                IHubClient::creditNonceCall {
                    account,
                    spokeChainId: spoke,
                }
                .abi_encode(),
                "creditNonce",
            )?;
            out.credit_nonce.insert(id, small(n, "creditNonce")?);
            let r = read(
                IHubClient::retiredUpToCall {
                    account,
                    spokeChainId: spoke,
                }
                .abi_encode(),
                "retiredUpTo",
            )?;
            out.retired_up_to.insert(id, small(r, "retiredUpTo")?);
        }
        Ok(out)
    }

    /// The hub's final block (latest − finality).
    pub fn hub_final_block(&self) -> Result<u64, XchainError> {
        let (rpc, ..) = self.hub_parts()?;
        Ok(rpc.block_number()?.saturating_sub(self.finality))
    }

    /// The account's credit line on spoke `chain_id` at block `at` (None: latest).
    pub fn spoke_line(
        &self,
        chain_id: u64,
        account: Address,
        at: Option<u64>,
    ) -> Result<SpokeLine, XchainError> {
        let (rpc, spoke) = self.spoke_parts(chain_id)?;
        let out = rpc.eth_call_at(
            None,
            spoke,
            &ISpokeClient::creditOfCall { account }.abi_encode(),
            at,
        )?;
        let (amount, expiry, nonce) = <(U256, u64, u64)>::abi_decode_params(&out)
            .map_err(|e| XchainError::malformed("creditOf", e.to_string()))?;
        Ok(SpokeLine {
            amount,
            expiry,
            nonce,
        })
    }

    /// Credit `account` can still draw on spoke `chain_id` now (`available`: zero once the line
    /// is released or expired).
    pub fn spoke_available(&self, chain_id: u64, account: Address) -> Result<U256, XchainError> {
        let (rpc, spoke) = self.spoke_parts(chain_id)?;
        let out = rpc.eth_call(spoke, &ISpokeClient::availableCall { account }.abi_encode())?;
        word(&out, "available")
    }

    /// The latest block of chain `chain_id`.
    pub fn block_number(&self, chain_id: u64) -> Result<u64, XchainError> {
        let c = self
            .chain(chain_id)
            .ok_or_else(|| XchainError::config("chain_id", format!("{chain_id} unknown")))?;
        Rpc::new(&c.rpc)?.block_number()
    }

    /// Tops up the gas of `account`'s address on `chain_id` from the service's key.
    pub fn ensure_gas(&self, chain_id: u64, account: &str) -> Result<(), XchainError> {
        let _g = self.gas_lock.lock().unwrap_or_else(|p| p.into_inner());
        let c = self
            .chain(chain_id)
            .ok_or_else(|| XchainError::config("chain_id", format!("{chain_id} unknown")))?;
        let rpc = Rpc::new(&c.rpc)?;
        let who = self.address_of(account)?;
        let bal = rpc.call("eth_getBalance", json!([who, "latest"]))?;
        let bal = bal
            .as_str()
            .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| XchainError::Devnet(format!("eth_getBalance: {bal}")))?;
        if bal >= U256::from(GAS_FLOOR_WEI) {
            return Ok(());
        }
        let mut s = TxSender::new(&self.service)?;
        let r = s.send_value(&rpc, chain_id, who, U256::from(GAS_TOP_UP_WEI) - bal, &[])?;
        if !r.success {
            return Err(XchainError::Devnet(format!(
                "gas top-up of {who} on chain {chain_id} failed ({})",
                r.tx_hash
            )));
        }
        Ok(())
    }

    /// Sends `data` to `to` on `chain_id` as `account`, after a dry run that classifies a revert
    /// without spending a transaction. Err(reason, detail) when refused.
    fn act(
        &self,
        chain_id: u64,
        account: &str,
        to: Address,
        data: &[u8],
    ) -> Result<Result<crate::rpc::Receipt, (String, String)>, XchainError> {
        let c = self
            .chain(chain_id)
            .ok_or_else(|| XchainError::config("chain_id", format!("{chain_id} unknown")))?;
        let rpc = Rpc::new(&c.rpc)?;
        let mut sender = self.account_sender(account)?;
        if let Err(XchainError::Rpc { reason, .. }) =
            rpc.eth_call_at(Some(sender.address()), to, data, None)
        {
            let class = classify(&reason);
            if class == "node_unreachable" {
                return Err(XchainError::Rpc {
                    url: c.rpc.clone(),
                    method: "eth_call".into(),
                    reason,
                });
            }
            return Ok(Err((class, reason)));
        }
        self.ensure_gas(chain_id, account)?;
        let r = sender.send(&rpc, chain_id, to, data)?;
        if !r.success {
            // Mined but reverted (the state moved between the dry run and the block): replay it
            // as a call on its parent block to name the reason.
            let reason = match rpc.eth_call_at(
                Some(sender.address()),
                to,
                data,
                r.block_number.checked_sub(1),
            ) {
                Err(XchainError::Rpc { reason, .. }) => reason,
                _ => format!("reverted in {}", r.tx_hash),
            };
            return Ok(Err((classify(&reason), reason)));
        }
        Ok(Ok(r))
    }

    /// Locks a credit of `amount` for `account` on spoke `chain_id`, valid until `expiry` (ms).
    pub fn lock(
        &self,
        account: &str,
        chain_id: u64,
        amount: U256,
        expiry: u64,
    ) -> Result<LockOutcome, XchainError> {
        self.spoke_parts(chain_id)?;
        let (_, hub, _, hub_id) = self.hub_parts()?;
        let data = IHubClient::lockCreditCall {
            spokeChainId: U256::from(chain_id),
            amount,
            expiry,
        }
        .abi_encode();
        match self.act(hub_id, account, hub, &data)? {
            Err((reason, detail)) => Ok(LockOutcome::Refused { reason, detail }),
            Ok(r) => {
                let topic = crate::agents::credit_locked_topic();
                let nonce = r
                    .logs
                    .iter()
                    .find(|(t, _)| t.first() == Some(&topic))
                    .and_then(|(_, d)| <(u64, U256, u64, u64)>::abi_decode_params(d).ok())
                    .map(|x| x.0)
                    .ok_or_else(|| {
                        XchainError::Devnet(format!("{}: no CreditLocked log", r.tx_hash))
                    })?;
                Ok(LockOutcome::Locked {
                    nonce,
                    tx_hash: r.tx_hash,
                    block: r.block_number,
                })
            }
        }
    }

    /// The hub's `CreditLocked` of (account, spoke, nonce) on the canonical chain from block
    /// `from`: its transaction and block (a restart finds a lock it sent but did not record).
    pub fn find_lock(
        &self,
        account: Address,
        chain_id: u64,
        nonce: u64,
        from: u64,
    ) -> Result<Option<(B256, u64)>, XchainError> {
        let (rpc, hub, ..) = self.hub_parts()?;
        let topics = json!([
            crate::agents::credit_locked_topic(),
            account.into_word(),
            B256::from(U256::from(chain_id))
        ]);
        for l in logs(&rpc, hub, topics, from)? {
            if let Ok((n, ..)) = <(u64, U256, u64, u64)>::abi_decode_params(&l.data) {
                if n == nonce {
                    return Ok(Some((l.tx_hash, l.block)));
                }
            }
        }
        Ok(None)
    }

    /// Where the spoke's acceptance of credit `nonce` of `account` stands (logs from `from`).
    pub fn acceptance(
        &self,
        chain_id: u64,
        account: Address,
        nonce: u64,
        from: u64,
    ) -> Result<Acceptance, XchainError> {
        let (rpc, spoke) = self.spoke_parts(chain_id)?;
        let topic = keccak256("CreditAccepted(address,uint64,uint256,uint64,uint64)");
        let latest = rpc.block_number()?;
        for l in logs(&rpc, spoke, json!([topic, account.into_word()]), from)? {
            let Ok((n, ..)) = <(u64, U256, u64, u64)>::abi_decode_params(&l.data) else {
                continue;
            };
            if n != nonce {
                continue;
            }
            // Only a log of the canonical chain counts.
            if rpc.block_hash(l.block)? != Some(l.block_hash) {
                continue;
            }
            return Ok(if latest.saturating_sub(l.block) >= self.finality {
                Acceptance::Final {
                    tx_hash: l.tx_hash,
                    block: l.block,
                }
            } else {
                Acceptance::Pending {
                    tx_hash: l.tx_hash,
                    block: l.block,
                }
            });
        }
        Ok(Acceptance::NotYet)
    }

    /// The guardians' refusals of credit `nonce` of `account` on `chain_id`:
    /// (guardian, reason), read from the signatures directory.
    pub fn refusals(&self, chain_id: u64, account: Address, nonce: u64) -> Vec<(String, String)> {
        let Some(dir) = &self.signatures else {
            return Vec::new();
        };
        read_refusals(&dir.join(format!("credit-{chain_id}-{account}-{nonce}")))
    }

    /// Guardian signatures written for credit `nonce` of `account` on `chain_id`.
    pub fn signature_count(&self, chain_id: u64, account: Address, nonce: u64) -> usize {
        let Some(dir) = &self.signatures else {
            return 0;
        };
        fs::read_dir(dir.join(format!("credit-{chain_id}-{account}-{nonce}")))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".sig"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Voids `account`'s credits on spoke `chain_id` up to `nonce` (`releaseCredit`, sent by the
    /// account); the guardians attest it and the relayer retires them at the hub.
    pub fn release(
        &self,
        account: &str,
        chain_id: u64,
        nonce: u64,
    ) -> Result<Result<B256, (String, String)>, XchainError> {
        let (_, spoke) = self.spoke_parts(chain_id)?;
        let who = self.address_of(account)?;
        let data = ISpokeClient::releaseCreditCall {
            account: who,
            creditNonce: nonce,
        }
        .abi_encode();
        Ok(self
            .act(chain_id, account, spoke, &data)?
            .map(|r| r.tx_hash))
    }

    /// Whether credit `nonce` of `account` on `chain_id` is retired at the hub at its final block.
    pub fn retired(
        &self,
        account: Address,
        chain_id: u64,
        nonce: u64,
    ) -> Result<bool, XchainError> {
        let (rpc, hub, ..) = self.hub_parts()?;
        let fin = rpc.block_number()?.saturating_sub(self.finality);
        let out = rpc.eth_call_at(
            None,
            hub,
            &IHubClient::retiredUpToCall {
                account,
                spokeChainId: U256::from(chain_id),
            }
            .abi_encode(),
            Some(fin),
        )?;
        Ok(small(word(&out, "retiredUpTo")?, "retiredUpTo")? >= nonce)
    }
}

/// Reads `<guardian>.refused` files of one attestation directory.
pub fn read_refusals(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let g = name.strip_suffix(".refused")?.to_string();
                    let reason = fs::read_to_string(e.path()).ok()?;
                    Some((g, reason.trim().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

struct LogEntry {
    data: Vec<u8>,
    tx_hash: B256,
    block: u64,
    block_hash: B256,
}

fn logs(
    rpc: &Rpc,
    address: Address,
    topics: serde_json::Value,
    from: u64,
) -> Result<Vec<LogEntry>, XchainError> {
    let v = rpc.call(
        "eth_getLogs",
        json!([{"address": address, "topics": topics, "fromBlock": format!("{from:#x}"), "toBlock": "latest"}]),
    )?;
    Ok(v.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let q = |k: &str| {
                l.get(k)?
                    .as_str()
                    .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            };
            Some(LogEntry {
                data: alloy_primitives::hex::decode(l.get("data")?.as_str()?).ok()?,
                tx_hash: serde_json::from_value(l.get("transactionHash")?.clone()).ok()?,
                block: q("blockNumber")?,
                block_hash: serde_json::from_value(l.get("blockHash")?.clone()).ok()?,
            })
        })
        .collect())
}

/// Formats `base` units of a token with `decimals` as a decimal string (exact).
pub fn human(base: U256, decimals: u32) -> String {
    let s = base.to_string();
    if decimals == 0 {
        return s;
    }
    let d = decimals as usize;
    let padded = if s.len() <= d {
        format!("{}{s}", "0".repeat(d + 1 - s.len()))
    } else {
        s
    };
    let (i, f) = padded.split_at(padded.len() - d);
    format!("{i}.{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_amounts_are_exact() {
        assert_eq!(human(U256::from(1_500_000u64), 6), "1.500000");
        assert_eq!(human(U256::from(7u64), 6), "0.000007");
        assert_eq!(human(U256::ZERO, 6), "0.000000");
        assert_eq!(human(U256::from(123u64), 0), "123");
        let big = U256::from(10u64).pow(U256::from(30u64));
        assert_eq!(human(big, 18), "1000000000000.000000000000000000");
    }

    #[test]
    fn refusal_files_are_read_with_their_guardian() {
        let dir = std::env::temp_dir().join(format!("im-refusals-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("0xB.refused"),
            "unified requirement 5 not covered\n",
        )
        .unwrap();
        fs::write(dir.join("0xA.refused"), "invariant: collateral 1 < 2\n").unwrap();
        fs::write(dir.join("0xC.sig"), "0x00").unwrap();
        let r = read_refusals(&dir);
        assert_eq!(
            r,
            vec![
                ("0xA".to_string(), "invariant: collateral 1 < 2".to_string()),
                (
                    "0xB".to_string(),
                    "unified requirement 5 not covered".to_string()
                ),
            ]
        );
        assert!(read_refusals(&dir.join("missing")).is_empty());
        let _ = fs::remove_dir_all(dir);
    }
}
