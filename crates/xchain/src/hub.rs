//! The hub: holds the account's collateral, learns spoke books from position reports, and
//! issues credits and withdrawal permits only while the invariant holds.
//!
//! ## The bound the hub keeps
//! For each spoke the hub keeps the last report `R_i` (a *final* block, so reorgs cannot
//! change it) and every credit it issued that the report does not prove dead. A spoke charges
//! each order's standalone requirement (+[`ROUNDING_GUARD`]) to its one active credit, only
//! before the credit's expiry, and a newer credit supersedes older ones. So the requirement of
//! everything spoke `i` holds or may still do is at most `R(∪ R_i) + Σ_i b_i`, with
//!
//! * credit `k = n_r` (the report's active credit): `c_k − used_r` unless void or expired at the report's block time;
//! * credits `k > n_r`: `c_k` (or the used amount of a release) unless expired at the report's block time,
//!   in which case the spoke can never accept them;
//! * credits `k < n_r`: 0 (superseded before the report).
//!
//! This counts every outstanding unexpired credit at full value until a report proves
//! otherwise, i.e. it values each spoke on the stalest state it could hold. Credits and
//! withdrawals are refused unless `haircut(collateral) ≥ bound` afterwards.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};

use crate::error::XchainError;
use crate::guardian::{sign_all, GuardianKey, GuardianSet, Scheme};
use crate::messages::{
    u256_to_u128, u256_to_u64, Envelope, MarginCredit, Payload, PositionReport, WithdrawalPermit,
};
use crate::ratelimit::TokenBucket;
use crate::requirement::{Book, Positions, RequirementModel};

/// A spoke's verifying contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Chain id.
    pub chain_id: u64,
    /// Verifying contract.
    pub contract: Address,
}

/// Static hub parameters.
#[derive(Debug, Clone)]
pub struct HubParams {
    /// The hub's own verifying contract.
    pub hub: Endpoint,
    /// The account whose collateral the hub holds.
    pub account: Address,
    /// Haircut on collateral in basis points (collateral counts for `1 − haircut`).
    pub haircut_bps: u32,
    /// Lifetime of a credit (ms).
    pub credit_ttl_ms: u64,
    /// Token-bucket capacity per spoke (base units per window).
    pub rate_capacity: u128,
    /// Token-bucket window (ms).
    pub rate_window_ms: u64,
    /// Stress prices every requirement is valued at (highest price any spoke may see).
    pub stress_prices: BTreeMap<String, f64>,
    /// Spokes.
    pub spokes: Vec<Endpoint>,
    /// Testing only: ignore outstanding credits in the bound (an unsafe hub, to show the checker fails).
    pub ignore_outstanding_credits: bool,
}

/// What the hub last learned from a spoke's final block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    /// Block height of the report.
    pub height: u64,
    /// Block time (ms).
    pub time_ms: u64,
    /// Positions at that block.
    pub positions: Positions,
    /// Highest credit nonce the spoke had accepted.
    pub credit_nonce: u64,
    /// Amount charged to that credit.
    pub credit_used: u128,
    /// Whether that credit had been voided.
    pub credit_void: bool,
}

/// A credit the hub issued and still counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredit {
    /// Amount (base units).
    pub amount: u128,
    /// Expiry (ms).
    pub expiry_ms: u64,
    /// Used amount from a release, if the spoke released it.
    pub released_used: Option<u128>,
}

/// The hub's ledger of one spoke.
#[derive(Debug, Clone)]
pub struct SpokeLedger {
    /// The spoke's endpoint.
    pub endpoint: Endpoint,
    /// Last accepted report.
    pub report: Option<ReportView>,
    /// Nonce of the last accepted report.
    pub report_nonce: u64,
    /// Nonce of the last accepted release.
    pub release_nonce: u64,
    /// Credits still counted, by nonce.
    pub credits: BTreeMap<u64, IssuedCredit>,
    /// Last credit nonce issued.
    pub credit_nonce: u64,
    /// Paused by a breaker.
    pub paused: bool,
    /// Rate limiter.
    pub bucket: TokenBucket,
    /// Realised P&L last reported (base units).
    pub realised_pnl: i128,
}

impl SpokeLedger {
    /// What this spoke may still add on top of its last report (the `b_i` of the module docs).
    pub fn outstanding(&self) -> u128 {
        let (nr, ur, void, t) = match &self.report {
            Some(r) => (r.credit_nonce, r.credit_used, r.credit_void, r.time_ms),
            None => (0, 0, false, 0),
        };
        let mut sum: u128 = 0;
        for (&k, c) in &self.credits {
            if k < nr || c.expiry_ms <= t {
                continue;
            }
            let cap = c.released_used.map_or(c.amount, |u| u.min(c.amount));
            if k == nr {
                if !void {
                    sum = sum.saturating_add(cap.saturating_sub(ur));
                }
            } else {
                sum = sum.saturating_add(cap);
            }
        }
        sum
    }

    /// Whether a credit newer than the report is still live at hub time `now_ms`.
    pub fn has_pending_credit(&self, now_ms: u64) -> bool {
        let nr = self.report.as_ref().map_or(0, |r| r.credit_nonce);
        self.credits
            .iter()
            .any(|(&k, c)| k > nr && c.expiry_ms > now_ms && c.released_used.is_none())
    }

    fn prune(&mut self) {
        if let Some(r) = &self.report {
            let (nr, void, t) = (r.credit_nonce, r.credit_void, r.time_ms);
            self.credits
                .retain(|&k, c| !(k < nr || c.expiry_ms <= t || (k == nr && void)));
        }
    }
}

/// The hub of one account.
#[derive(Debug, Clone)]
pub struct Hub<M> {
    params: HubParams,
    model: M,
    signers: Vec<GuardianKey>,
    guardians: GuardianSet,
    collateral: u128,
    version: u64,
    withdrawal_nonce: u64,
    spokes: BTreeMap<u64, SpokeLedger>,
}

impl<M: RequirementModel> Hub<M> {
    /// A hub with `collateral` base units; `signers` are the guardian keys that attest its messages.
    pub fn new(
        params: HubParams,
        model: M,
        signers: Vec<GuardianKey>,
        guardians: GuardianSet,
        collateral: u128,
    ) -> Result<Hub<M>, XchainError> {
        if params.haircut_bps >= 10_000 {
            return Err(XchainError::config(
                "hub.haircut_bps",
                "must be below 10000",
            ));
        }
        if signers.len() < guardians.threshold() {
            return Err(XchainError::config(
                "guardians",
                "fewer signing guardians than the threshold",
            ));
        }
        let mut spokes = BTreeMap::new();
        for e in &params.spokes {
            if e.chain_id == params.hub.chain_id || spokes.contains_key(&e.chain_id) {
                return Err(XchainError::config(
                    "spokes.chain_id",
                    format!("duplicate chain id {}", e.chain_id),
                ));
            }
            spokes.insert(
                e.chain_id,
                SpokeLedger {
                    endpoint: *e,
                    report: None,
                    report_nonce: 0,
                    release_nonce: 0,
                    credits: BTreeMap::new(),
                    credit_nonce: 0,
                    paused: false,
                    bucket: TokenBucket::new(params.rate_capacity, params.rate_window_ms)?,
                    realised_pnl: 0,
                },
            );
        }
        Ok(Hub {
            params,
            model,
            signers,
            guardians,
            collateral,
            version: 0,
            withdrawal_nonce: 0,
            spokes,
        })
    }

    /// Collateral held (base units, before haircut).
    pub fn collateral(&self) -> u128 {
        self.collateral
    }

    /// Hub state version (bumped on every change).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Parameters.
    pub fn params(&self) -> &HubParams {
        &self.params
    }

    /// The ledger of one spoke.
    pub fn ledger(&self, spoke: u64) -> Option<&SpokeLedger> {
        self.spokes.get(&spoke)
    }

    /// Collateral after haircut, rounded down (against the account).
    pub fn effective_collateral(&self) -> u128 {
        effective(self.collateral, self.params.haircut_bps)
    }

    /// Adds collateral.
    pub fn deposit(&mut self, amount: u128) -> Result<(), XchainError> {
        self.collateral = self
            .collateral
            .checked_add(amount)
            .ok_or_else(|| XchainError::Overflow("collateral".into()))?;
        self.version += 1;
        Ok(())
    }

    /// The reported book (last report of every spoke).
    pub fn reported_book(&self) -> Book {
        self.spokes
            .iter()
            .filter_map(|(&id, l)| l.report.as_ref().map(|r| (id, r.positions.clone())))
            .collect()
    }

    /// Upper bound on the unified requirement of everything any spoke holds or may still do.
    pub fn requirement_bound(&self) -> Result<u128, XchainError> {
        let mut bound = self
            .model
            .requirement(&self.reported_book(), &self.params.stress_prices)?;
        if !self.params.ignore_outstanding_credits {
            for l in self.spokes.values() {
                bound = bound
                    .checked_add(l.outstanding())
                    .ok_or_else(|| XchainError::Overflow("requirement bound".into()))?;
            }
        }
        Ok(bound)
    }

    /// Effective collateral minus the bound, floored at zero.
    pub fn free(&self) -> Result<u128, XchainError> {
        Ok(self
            .effective_collateral()
            .saturating_sub(self.requirement_bound()?))
    }

    /// Largest withdrawal that keeps `haircut(collateral − w) ≥ bound`.
    pub fn max_withdrawable(&self) -> Result<u128, XchainError> {
        let bound = self.requirement_bound()?;
        let keep = 10_000u128 - self.params.haircut_bps as u128;
        let need = bound
            .checked_mul(10_000)
            .ok_or_else(|| XchainError::Overflow("bound".into()))?
            .div_ceil(keep);
        Ok(self.collateral.saturating_sub(need))
    }

    /// Pauses or resumes credits to a spoke (breaker).
    pub fn set_paused(&mut self, spoke: u64, paused: bool) -> Result<(), XchainError> {
        let l = self
            .spokes
            .get_mut(&spoke)
            .ok_or(XchainError::UnknownSpoke(spoke))?;
        l.paused = paused;
        self.version += 1;
        Ok(())
    }

    fn verify(&self, env: &Envelope) -> Result<(), XchainError> {
        let hub = self.params.hub;
        if env.chain_id != hub.chain_id || env.verifying_contract != hub.contract {
            return Err(XchainError::WrongDomain {
                field: "envelope".into(),
                got: format!("chain {} contract {}", env.chain_id, env.verifying_contract),
                expected: format!("chain {} contract {}", hub.chain_id, hub.contract),
            });
        }
        self.guardians.verify(&env.digest(), &env.signatures)?;
        Ok(())
    }

    fn spoke_of(&self, chain: U256, account: Address) -> Result<u64, XchainError> {
        if account != self.params.account {
            return Err(XchainError::WrongAccount {
                got: account,
                expected: self.params.account,
            });
        }
        let id = u256_to_u64(chain, "spokeChainId")?;
        if !self.spokes.contains_key(&id) {
            return Err(XchainError::UnknownSpoke(id));
        }
        Ok(id)
    }

    /// Accepts a guardian-attested position report; returns the spoke's chain id.
    pub fn on_report(&mut self, env: &Envelope) -> Result<u64, XchainError> {
        self.verify(env)?;
        let Payload::PositionReport(r) = &env.payload else {
            return Err(XchainError::malformed(
                "payload.type",
                format!("expected PositionReport, got {}", env.payload.kind()),
            ));
        };
        let id = self.spoke_of(r.spokeChainId, r.account)?;
        let last = self.spokes[&id].report_nonce;
        if r.nonce <= last {
            return Err(XchainError::Replay {
                field: "PositionReport.nonce".into(),
                nonce: r.nonce,
                last,
            });
        }
        let view = report_view(r)?;
        let pnl = i128::try_from(r.realisedPnl)
            .map_err(|_| XchainError::malformed("realisedPnl", "exceeds i128"))?;
        let l = self
            .spokes
            .get_mut(&id)
            .ok_or(XchainError::UnknownSpoke(id))?;
        l.report_nonce = r.nonce;
        l.report = Some(view);
        l.realised_pnl = pnl;
        l.prune();
        self.version += 1;
        Ok(id)
    }

    /// Accepts a guardian-attested credit release; returns the spoke's chain id.
    pub fn on_release(&mut self, env: &Envelope) -> Result<u64, XchainError> {
        self.verify(env)?;
        let Payload::CreditRelease(r) = &env.payload else {
            return Err(XchainError::malformed(
                "payload.type",
                format!("expected CreditRelease, got {}", env.payload.kind()),
            ));
        };
        let id = self.spoke_of(r.spokeChainId, r.account)?;
        let last = self.spokes[&id].release_nonce;
        if r.nonce <= last {
            return Err(XchainError::Replay {
                field: "CreditRelease.nonce".into(),
                nonce: r.nonce,
                last,
            });
        }
        let used = u256_to_u128(r.used, "CreditRelease.used")?;
        let l = self
            .spokes
            .get_mut(&id)
            .ok_or(XchainError::UnknownSpoke(id))?;
        l.release_nonce = r.nonce;
        if let Some(c) = l.credits.get_mut(&r.creditNonce) {
            c.released_used = Some(used.min(c.amount));
        }
        self.version += 1;
        Ok(id)
    }

    /// Issues a credit of `amount` to `spoke` at hub time `now_ms`, if paused, rate and invariant allow.
    pub fn issue_credit(
        &mut self,
        spoke: u64,
        amount: u128,
        now_ms: u64,
    ) -> Result<Envelope, XchainError> {
        if amount == 0 {
            return Err(XchainError::malformed("amount", "must be positive"));
        }
        let free = self.free()?;
        let scheme = self.guardians.scheme();
        let account = self.params.account;
        let ttl = self.params.credit_ttl_ms;
        let version = self.version + 1;
        let l = self
            .spokes
            .get_mut(&spoke)
            .ok_or(XchainError::UnknownSpoke(spoke))?;
        if l.paused {
            return Err(XchainError::Paused { spoke });
        }
        if amount > free {
            return Err(XchainError::InsufficientFree {
                requested: amount,
                free,
            });
        }
        let mut bucket = l.bucket.clone();
        bucket.try_take(spoke, now_ms, amount)?;
        let nonce = l.credit_nonce + 1;
        let expiry = now_ms
            .checked_add(ttl)
            .ok_or_else(|| XchainError::Overflow("expiry".into()))?;
        let payload = Payload::MarginCredit(MarginCredit {
            account,
            spokeChainId: U256::from(spoke),
            amount: U256::from(amount),
            nonce,
            expiry,
            hubStateVersion: version,
        });
        let env = attest(&self.signers, scheme, l.endpoint, payload)?;
        l.bucket = bucket;
        l.credit_nonce = nonce;
        l.credits.insert(
            nonce,
            IssuedCredit {
                amount,
                expiry_ms: expiry,
                released_used: None,
            },
        );
        self.version = version;
        Ok(env)
    }

    /// Pays out `amount` (a signed permit) if the invariant still holds afterwards.
    pub fn withdraw(
        &mut self,
        amount: u128,
        recipient: Address,
        now_ms: u64,
    ) -> Result<Envelope, XchainError> {
        if amount == 0 {
            return Err(XchainError::malformed("amount", "must be positive"));
        }
        let max = self.max_withdrawable()?;
        if amount > max {
            return Err(XchainError::InsufficientFree {
                requested: amount,
                free: max,
            });
        }
        let version = self.version + 1;
        let payload = Payload::WithdrawalPermit(WithdrawalPermit {
            account: self.params.account,
            recipient,
            amount: U256::from(amount),
            nonce: self.withdrawal_nonce + 1,
            expiry: now_ms.saturating_add(self.params.credit_ttl_ms),
            hubStateVersion: version,
        });
        let env = attest(
            &self.signers,
            self.guardians.scheme(),
            self.params.hub,
            payload,
        )?;
        self.collateral -= amount;
        self.withdrawal_nonce += 1;
        self.version = version;
        Ok(env)
    }
}

/// Collateral after a haircut in basis points, rounded down.
pub fn effective(collateral: u128, haircut_bps: u32) -> u128 {
    collateral / 10_000 * (10_000 - haircut_bps as u128)
        + collateral % 10_000 * (10_000 - haircut_bps as u128) / 10_000
}

/// Wraps a payload for `endpoint`'s domain with every signer's signature.
pub fn attest(
    signers: &[GuardianKey],
    scheme: Scheme,
    endpoint: Endpoint,
    payload: Payload,
) -> Result<Envelope, XchainError> {
    let mut env = Envelope {
        chain_id: endpoint.chain_id,
        verifying_contract: endpoint.contract,
        payload,
        signatures: Vec::new(),
    };
    env.signatures = sign_all(signers, scheme, &env.digest())?;
    Ok(env)
}

/// Converts a report's Solidity fields into the hub's view, naming any bad field.
pub fn report_view(r: &PositionReport) -> Result<ReportView, XchainError> {
    let mut positions = Positions::new();
    for (i, p) in r.positions.iter().enumerate() {
        let size = i128::try_from(p.size)
            .map_err(|_| XchainError::malformed(format!("positions[{i}].size"), "exceeds i128"))?;
        if p.underlying.is_empty() {
            return Err(XchainError::malformed(
                format!("positions[{i}].underlying"),
                "empty",
            ));
        }
        if positions.insert(p.underlying.clone(), size).is_some() {
            return Err(XchainError::malformed(
                format!("positions[{i}].underlying"),
                format!("duplicate {}", p.underlying),
            ));
        }
    }
    Ok(ReportView {
        height: r.blockHeight,
        time_ms: r.blockTime,
        positions,
        credit_nonce: r.creditNonce,
        credit_used: u256_to_u128(r.creditUsed, "creditUsed")?,
        credit_void: r.creditVoid,
    })
}
