//! A spoke: verifies the hub's credits (domain, quorum, nonce, expiry), charges every order's
//! standalone requirement to the active credit, and, while paused, accepts only orders that
//! reduce the spoke's own exposure *and* are still paid from the credit.
//!
//! Why reduce-only orders are charged too: closing one leg of a cross-spoke hedge lowers this
//! spoke's requirement but raises the unified one. Only the charge keeps the hub's bound
//! `R(reported) + Σ credits` valid; the charge of a reducing order is small when the leg is small.

use std::collections::BTreeMap;

use alloy_primitives::{Address, I256, U256};

use crate::error::XchainError;
use crate::guardian::GuardianSet;
use crate::hub::Endpoint;
use crate::messages::{u256_to_u128, CreditRelease, Envelope, Payload, Position, PositionReport};
use crate::requirement::{Book, Positions, RequirementModel, ROUNDING_GUARD};

/// The credit a spoke currently draws on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCredit {
    /// Credit nonce.
    pub nonce: u64,
    /// Amount (base units).
    pub amount: u128,
    /// Expiry (ms).
    pub expiry_ms: u64,
    /// Charged so far (base units).
    pub used: u128,
    /// Voided by a release.
    pub void: bool,
}

impl ActiveCredit {
    /// What can still be charged at `now_ms`.
    pub fn remaining(&self, now_ms: u64) -> u128 {
        if self.void || now_ms >= self.expiry_ms {
            0
        } else {
            self.amount.saturating_sub(self.used)
        }
    }
}

/// A release recorded on chain, waiting for guardians to attest it once final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// Release nonce (1, 2, …).
    pub nonce: u64,
    /// Released credit.
    pub credit_nonce: u64,
    /// Charged amount at release.
    pub used: u128,
}

/// The on-chain state of a spoke for one account (cloned per block, so reorgs can restore it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpokeState {
    /// Positions.
    pub positions: Positions,
    /// Average entry price per underlying.
    pub entry: BTreeMap<String, f64>,
    /// Highest credit nonce accepted.
    pub last_credit_nonce: u64,
    /// Credit being drawn on.
    pub active: Option<ActiveCredit>,
    /// Realised P&L (collateral base units).
    pub realised_pnl: i128,
    /// Breaker flag.
    pub paused: bool,
    /// Releases so far.
    pub releases: Vec<ReleaseRecord>,
}

/// Receipt of an accepted order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderReceipt {
    /// Charge against the credit (base units).
    pub charge: u128,
    /// Whether the order reduced the spoke's exposure.
    pub reducing: bool,
}

/// A spoke contract for one account.
#[derive(Debug, Clone)]
pub struct Spoke<M> {
    endpoint: Endpoint,
    account: Address,
    guardians: GuardianSet,
    model: M,
    stress_prices: BTreeMap<String, f64>,
    collateral_decimals: u32,
    size_decimals: u32,
    /// Current state (including not-yet-final blocks).
    pub state: SpokeState,
}

impl<M: RequirementModel> Spoke<M> {
    /// A spoke with empty state.
    pub fn new(
        endpoint: Endpoint,
        account: Address,
        guardians: GuardianSet,
        model: M,
        stress_prices: BTreeMap<String, f64>,
        size_decimals: u32,
        collateral_decimals: u32,
    ) -> Spoke<M> {
        Spoke {
            endpoint,
            account,
            guardians,
            model,
            stress_prices,
            collateral_decimals,
            size_decimals,
            state: SpokeState::default(),
        }
    }

    /// The spoke's endpoint.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// Verifies and applies a hub credit at block time `now_ms`; returns its nonce.
    /// On any error the state is unchanged.
    pub fn accept_credit(&mut self, env: &Envelope, now_ms: u64) -> Result<u64, XchainError> {
        let me = self.endpoint;
        let expected = format!("chain {} contract {}", me.chain_id, me.contract);
        if env.chain_id != me.chain_id || env.verifying_contract != me.contract {
            return Err(XchainError::WrongDomain {
                field: "envelope".into(),
                got: format!("chain {} contract {}", env.chain_id, env.verifying_contract),
                expected,
            });
        }
        let Payload::MarginCredit(c) = &env.payload else {
            return Err(XchainError::malformed(
                "payload.type",
                format!("expected MarginCredit, got {}", env.payload.kind()),
            ));
        };
        if c.spokeChainId != U256::from(me.chain_id) {
            return Err(XchainError::WrongDomain {
                field: "MarginCredit.spokeChainId".into(),
                got: format!("chain {}", c.spokeChainId),
                expected,
            });
        }
        if c.account != self.account {
            return Err(XchainError::WrongAccount {
                got: c.account,
                expected: self.account,
            });
        }
        self.guardians.verify(&env.digest(), &env.signatures)?;
        if c.nonce <= self.state.last_credit_nonce {
            return Err(XchainError::Replay {
                field: "MarginCredit.nonce".into(),
                nonce: c.nonce,
                last: self.state.last_credit_nonce,
            });
        }
        if c.expiry <= now_ms {
            return Err(XchainError::Expired {
                expiry_ms: c.expiry,
                now_ms,
            });
        }
        let amount = u256_to_u128(c.amount, "MarginCredit.amount")?;
        self.state.last_credit_nonce = c.nonce;
        self.state.active = Some(ActiveCredit {
            nonce: c.nonce,
            amount,
            expiry_ms: c.expiry,
            used: 0,
            void: false,
        });
        Ok(c.nonce)
    }

    /// The requirement charged for an order of `delta` on `underlying` (standalone + guard).
    pub fn charge(&self, underlying: &str, delta: i128) -> Result<u128, XchainError> {
        let book = Book::from([(
            self.endpoint.chain_id,
            Positions::from([(underlying.to_string(), delta)]),
        )]);
        Ok(self.model.requirement(&book, &self.stress_prices)? + ROUNDING_GUARD)
    }

    /// Executes an order of `delta` at `price` at time `now_ms`, if the credit and the breaker allow.
    pub fn submit_order(
        &mut self,
        underlying: &str,
        delta: i128,
        price: f64,
        now_ms: u64,
    ) -> Result<OrderReceipt, XchainError> {
        if delta == 0 {
            return Err(XchainError::malformed("order.size", "must be non-zero"));
        }
        if !price.is_finite() || price <= 0.0 {
            return Err(XchainError::malformed("order.price", "must be positive"));
        }
        let charge = self.charge(underlying, delta)?;
        let cur = self.state.positions.get(underlying).copied().unwrap_or(0);
        let new = cur
            .checked_add(delta)
            .ok_or_else(|| XchainError::Overflow("position size".into()))?;
        let reducing =
            new.unsigned_abs() < cur.unsigned_abs() && (new == 0 || (new > 0) == (cur > 0));
        if self.state.paused && !reducing {
            return Err(XchainError::Paused {
                spoke: self.endpoint.chain_id,
            });
        }
        let available = self
            .state
            .active
            .as_ref()
            .map_or(0, |a| a.remaining(now_ms));
        if charge > available {
            return Err(XchainError::InsufficientCredit {
                spoke: self.endpoint.chain_id,
                needed: charge,
                available,
            });
        }
        // Realised P&L on the closed part, average-cost, rounded down (against the account).
        let entry = self.state.entry.get(underlying).copied().unwrap_or(price);
        let closed = if (cur > 0) != (delta > 0) && cur != 0 {
            delta.unsigned_abs().min(cur.unsigned_abs()) as f64
        } else {
            0.0
        };
        let sign = if cur > 0 { 1.0 } else { -1.0 };
        let pnl = closed * (price - entry) * sign / 10f64.powi(self.size_decimals as i32)
            * 10f64.powi(self.collateral_decimals as i32);
        let new_entry = if new == 0 {
            None
        } else if (new > 0) != (cur > 0) || cur == 0 {
            Some(price)
        } else if new.unsigned_abs() > cur.unsigned_abs() {
            let (a, b) = (cur.unsigned_abs() as f64, delta.unsigned_abs() as f64);
            Some((entry * a + price * b) / (a + b))
        } else {
            Some(entry)
        };
        // All checks passed: mutate.
        if let Some(a) = self.state.active.as_mut() {
            a.used += charge;
        }
        self.state.realised_pnl = self.state.realised_pnl.saturating_add(pnl.floor() as i128);
        if new == 0 {
            self.state.positions.remove(underlying);
            self.state.entry.remove(underlying);
        } else {
            self.state.positions.insert(underlying.to_string(), new);
            if let Some(e) = new_entry {
                self.state.entry.insert(underlying.to_string(), e);
            }
        }
        Ok(OrderReceipt { charge, reducing })
    }

    /// Voids the active credit so the hub can stop counting its unused part; records a release.
    pub fn release_active(&mut self) -> Option<ReleaseRecord> {
        let a = self.state.active.as_mut()?;
        if a.void {
            return None;
        }
        a.void = true;
        let rec = ReleaseRecord {
            nonce: self.state.releases.len() as u64 + 1,
            credit_nonce: a.nonce,
            used: a.used,
        };
        self.state.releases.push(rec.clone());
        Some(rec)
    }

    /// The report of `state` (a final block's state) at `height`/`time_ms`.
    pub fn report_of(&self, state: &SpokeState, height: u64, time_ms: u64) -> PositionReport {
        let (used, void) = match &state.active {
            Some(a) if a.nonce == state.last_credit_nonce => (a.used, a.void),
            _ => (0, true),
        };
        PositionReport {
            account: self.account,
            spokeChainId: U256::from(self.endpoint.chain_id),
            blockHeight: height,
            blockTime: time_ms,
            nonce: height,
            positions: state
                .positions
                .iter()
                .map(|(u, &s)| Position {
                    underlying: u.clone(),
                    size: I256::try_from(s).unwrap_or(I256::ZERO),
                })
                .collect(),
            realisedPnl: I256::try_from(state.realised_pnl).unwrap_or(I256::ZERO),
            creditNonce: state.last_credit_nonce,
            creditUsed: U256::from(used),
            creditVoid: void,
        }
    }

    /// The release message for a recorded release at `height`.
    pub fn release_of(&self, rec: &ReleaseRecord, height: u64) -> CreditRelease {
        CreditRelease {
            account: self.account,
            spokeChainId: U256::from(self.endpoint.chain_id),
            creditNonce: rec.credit_nonce,
            used: U256::from(rec.used),
            blockHeight: height,
            nonce: rec.nonce,
        }
    }
}
