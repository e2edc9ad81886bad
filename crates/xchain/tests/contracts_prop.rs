//! Random operation sequences on the deployed MarginHub and MarginSpoke (revm): deposits, credit
//! locks, acceptances (with valid, sub-quorum or replayed signatures), draws, withdrawals of any
//! size signed by the guardians (so only the contract stands between a bad permit and the pool),
//! releases with their retirement at the hub, and time passing. After every step the invariant is
//! read back from **on-chain state** and compared with a plain model written here:
//! - hub: `collateralOf(a) ≥ Σ outstandingCredit(a, ·)`, and the token balance of the hub equals
//!   the sum of every account's collateral;
//! - spoke: what an account can still draw never exceeds the credit the hub still holds for it;
//! - every call succeeds exactly when the model says it should.

mod evm;

use alloy_primitives::{Address, U256};
use evm::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        who: usize,
        amount: u64,
    },
    Lock {
        who: usize,
        amount: u64,
    },
    Accept {
        who: usize,
        signers: usize,
        replay: bool,
    },
    Draw {
        who: usize,
        amount: u64,
    },
    Withdraw {
        who: usize,
        amount: u64,
    },
    /// Withdraw exactly the free collateral plus `delta` (−1, 0 or +1): the boundary.
    WithdrawFree {
        who: usize,
        delta: i64,
    },
    Release {
        who: usize,
    },
    Advance {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 1..2_000u64).prop_map(|(who, amount)| Op::Deposit { who, amount }),
        (0..2usize, 1..1_500u64).prop_map(|(who, amount)| Op::Lock { who, amount }),
        (0..2usize, 1..4usize, any::<bool>()).prop_map(|(who, signers, replay)| Op::Accept {
            who,
            signers,
            replay
        }),
        (0..2usize, 1..800u64).prop_map(|(who, amount)| Op::Draw { who, amount }),
        (0..2usize, 1..2_500u64).prop_map(|(who, amount)| Op::Withdraw { who, amount }),
        (0..2usize, -1..=1i64).prop_map(|(who, delta)| Op::WithdrawFree { who, delta }),
        (0..2usize).prop_map(|who| Op::Release { who }),
        (1..2_000u64).prop_map(|secs| Op::Advance { secs }),
    ]
}

/// The model of one account, kept by the test from the rules stated in the contracts' docs.
#[derive(Debug, Clone, Default)]
struct Acct {
    collateral: u128,
    /// Locked credits at the hub by nonce: (amount, expiry ms, retired).
    locked: Vec<(u128, u64, bool)>,
    /// Nonce of the last credit accepted or released on the spoke.
    spoke_last: u64,
    /// Current spoke line: (nonce, amount, used, expiry ms, void).
    line: Option<(u64, u128, u128, u64, bool)>,
    permit_nonce: u64,
}

impl Acct {
    fn outstanding(&self) -> u128 {
        self.locked.iter().filter(|c| !c.2).map(|c| c.0).sum()
    }
    fn available(&self, now_ms: u64) -> u128 {
        match self.line {
            Some((_, amount, used, expiry, void)) if !void && expiry > now_ms => amount - used,
            _ => 0,
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::new();
    let accounts = [Address::repeat_byte(0x01), Address::repeat_byte(0x02)];
    let mut model = [Acct::default(), Acct::default()];
    let (hub, token) = (w.hub, w.token);
    for (step, op) in ops.into_iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Deposit { who, amount } => {
                w.fund(accounts[who], amount as u128).ok();
                model[who].collateral += amount as u128;
            }
            Op::Lock { who, amount } => {
                let m = &mut model[who];
                let expect = m.collateral >= m.outstanding() + amount as u128;
                let (out, credit) = w.lock(accounts[who], amount as u128, 1_800);
                prop_assert_eq!(out.is_ok(), expect, "{}", ctx);
                if expect {
                    m.locked.push((amount as u128, credit.expiry, false));
                    prop_assert_eq!(credit.nonce as usize, m.locked.len(), "{}", ctx);
                } else {
                    prop_assert!(
                        out.reverted_with("InvariantViolation(uint256,uint256)"),
                        "{}",
                        ctx
                    );
                }
            }
            Op::Accept {
                who,
                signers,
                replay,
            } => {
                // The latest locked credit (or, for `replay`, the first one) as the hub recorded it.
                let m = &mut model[who];
                if m.locked.is_empty() {
                    continue;
                }
                let nonce = if replay { 1 } else { m.locked.len() as u64 };
                let (amount, expiry, _) = m.locked[nonce as usize - 1];
                let version = w.hub_chain.word(
                    hub,
                    evm::IHub::stateVersionCall {
                        account: accounts[who],
                    },
                );
                // The hub state version at lock time is not needed by the spoke; any value signed is checked as signed.
                let credit = intermargin_xchain::MarginCredit {
                    account: accounts[who],
                    spokeChainId: U256::from(SPOKE_CHAIN),
                    amount: U256::from(amount),
                    nonce,
                    expiry,
                    hubStateVersion: version.to::<u64>(),
                };
                let idx: Vec<usize> = (0..signers).collect();
                let out = w.accept_signed(&credit, &idx);
                let now = w.spoke_chain.time * 1000;
                let expect = signers >= 2 && nonce > m.spoke_last && expiry > now;
                prop_assert_eq!(out.is_ok(), expect, "{} {:?}", ctx, out);
                if expect {
                    m.spoke_last = nonce;
                    m.line = Some((nonce, amount, 0, expiry, false));
                }
            }
            Op::Draw { who, amount } => {
                let m = &mut model[who];
                let now = w.spoke_chain.time * 1000;
                let expect = (amount as u128) <= m.available(now);
                let spoke = w.spoke;
                let out = w.spoke_chain.send(
                    trader(),
                    spoke,
                    evm::ISpoke::drawCall {
                        account: accounts[who],
                        amount: U256::from(amount),
                    },
                );
                prop_assert_eq!(out.is_ok(), expect, "{}", ctx);
                if expect {
                    if let Some(l) = m.line.as_mut() {
                        l.2 += amount as u128;
                    }
                }
            }
            Op::Withdraw { .. } | Op::WithdrawFree { .. } => {
                // The guardians sign whatever is asked: the contract alone must hold the line.
                let (who, amount) = match op {
                    Op::Withdraw { who, amount } => (who, amount),
                    Op::WithdrawFree { who, delta } => {
                        let free = model[who].collateral - model[who].outstanding();
                        let a = free as i64 + delta;
                        if a <= 0 {
                            continue;
                        }
                        (who, a as u64)
                    }
                    _ => unreachable!(),
                };
                let m = &mut model[who];
                let nonce = m.permit_nonce + 1;
                let p = w.permit(accounts[who], accounts[who], amount as u128, nonce);
                let out = w.withdraw(accounts[who], &p, Default::default());
                let amount = amount as u128;
                let expect = amount <= m.collateral && m.collateral - amount >= m.outstanding();
                prop_assert_eq!(out.is_ok(), expect, "{}", ctx);
                if expect {
                    m.collateral -= amount;
                    m.permit_nonce = nonce;
                } else {
                    prop_assert!(
                        out.reverted_with("InvariantViolation(uint256,uint256)"),
                        "{}",
                        ctx
                    );
                }
            }
            Op::Release { who } => {
                let m = &mut model[who];
                if m.locked.is_empty() {
                    continue;
                }
                let up_to = m.locked.len() as u64;
                let (rel, ret) = w.release_and_retire(accounts[who], up_to);
                prop_assert!(rel.is_ok() && ret.is_ok(), "{} {:?} {:?}", ctx, rel, ret);
                for c in m.locked.iter_mut() {
                    c.2 = true;
                }
                m.spoke_last = m.spoke_last.max(up_to);
                if let Some(l) = m.line.as_mut() {
                    if l.0 <= up_to {
                        l.4 = true;
                    }
                }
            }
            Op::Advance { secs } => {
                w.hub_chain.advance(secs);
                w.spoke_chain.advance(secs);
            }
        }
        // The invariant, read from the chains.
        let mut sum = U256::ZERO;
        for (i, &a) in accounts.iter().enumerate() {
            let coll = w.collateral(a);
            let outstanding = w.outstanding(a);
            let total = w
                .hub_chain
                .word(hub, evm::IHub::totalOutstandingCall { account: a });
            prop_assert!(
                coll >= outstanding,
                "{}: collateral {} < outstanding {}",
                ctx,
                coll,
                outstanding
            );
            prop_assert_eq!(total, outstanding, "{}", ctx);
            prop_assert_eq!(coll, U256::from(model[i].collateral), "{}", ctx);
            prop_assert_eq!(outstanding, U256::from(model[i].outstanding()), "{}", ctx);
            let spoke = w.spoke;
            let avail = w
                .spoke_chain
                .word(spoke, evm::ISpoke::availableCall { account: a });
            let now = w.spoke_chain.time * 1000;
            prop_assert_eq!(avail, U256::from(model[i].available(now)), "{}", ctx);
            prop_assert!(
                avail <= outstanding,
                "{}: spoke can draw {} > hub backs {}",
                ctx,
                avail,
                outstanding
            );
            sum += coll;
        }
        let bal = w
            .hub_chain
            .word(token, evm::IToken::balanceOfCall { who: hub });
        prop_assert_eq!(bal, sum, "{}: hub balance != Σ collateral", ctx);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_the_invariant_on_chain(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
