//! Exhaustive model check (stateright) of the hub–guardian–spoke protocol that `contracts/`
//! enforces, for bounded configurations.
//!
//! The model restates, rule for rule, what the contracts check (`MarginHub.lockCredit`,
//! `retireCredit`, `withdraw`; `MarginSpoke.acceptCredit`, `releaseCredit`; the k-of-n quorum of
//! `GuardianQuorum`) and what an honest guardian signs (`agents.rs`: a `MarginCredit` only for a
//! hub `CreditLocked` event at least `finality` blocks deep, a `CreditRelease` only for a spoke
//! `CreditReleased` event as deep, a `WithdrawalPermit` only while collateral minus the amount
//! still covers every outstanding credit). Every chain is a list of transactions with a finalised
//! prefix; a transaction that would revert is never included; the head state is the replay of the
//! list.
//!
//! Explored exhaustively (breadth-first, every interleaving):
//! - one account, a hub and **2 spokes**, **3 guardians with threshold 2**;
//! - user operations (deposits of 1 or 2 units, credit locks of 1 or 2 units on either spoke,
//!   releases on either spoke up to nonce 2, withdrawal requests of 1 or 2 units) up to
//!   `OPS` in total;
//! - guardians signing in any order or never (a guardian offline), the relayer (or an attacker)
//!   submitting any message holding a quorum at any time, any number of times: **delay,
//!   duplication and reordering** of every relay;
//! - **one compromised guardian** that signs anything the attacker asks (below the threshold);
//! - blocks finalising at any moment, and up to `REORGS` **reorgs within the finality depth**
//!   (any suffix of unfinalised transactions dropped; the relayer may resubmit afterwards).
//!
//! Proved in that space: the hub's on-chain invariant (collateral ≥ Σ outstanding credits), the
//! cross-chain invariant (every live credit line on a spoke is backed by the same, unretired credit
//! on the hub, so Σ live lines ≤ collateral) and no double acceptance (no credit nonce accepted
//! twice on a spoke's canonical chain). Two control runs show the checker is not vacuous: with
//! **two** compromised guardians (the threshold reached) and with a **reorg beyond the finality
//! depth**, it finds a violation. The second is the protocol's stated trust assumption: a reorg
//! deeper than the finality depth the guardians wait for can drop a `CreditLocked` they already
//! attested, and nothing on the spoke can tell.
//!
//! Not covered here: credit and permit expiries (a line is treated as never expiring, the worst
//! case for the invariant), rate limits and pause (they only refuse), draws and the requirement of
//! open positions (the guardians' unified model, tested in `unified.rs`), several accounts (the
//! contracts keep no state shared between accounts beyond the rate-limit buckets), signature
//! encoding (tested on the deployed bytecode in `contracts.rs`).

use std::collections::{BTreeMap, BTreeSet};

use stateright::{Checker, Model, Property};

const SPOKES: usize = 2;
const GUARDIANS: u8 = 3;
const THRESHOLD: usize = 2;
/// Amounts a user deposits, locks or asks to withdraw (in units of the collateral).
const AMOUNTS: [u8; 2] = [1, 2];
/// Credit nonces a user may release up to.
const RELEASE_UP_TO: [u8; 2] = [1, 2];

/// A guardian-signed message (the three EIP-712 payloads, reduced to the fields the contracts read).
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
enum Msg {
    /// `MarginCredit` for `spoke`.
    Credit { spoke: u8, nonce: u8, amount: u8 },
    /// `CreditRelease` for the hub.
    Release {
        spoke: u8,
        credit_nonce: u8,
        release_nonce: u8,
    },
    /// `WithdrawalPermit` for the hub.
    Permit { amount: u8, nonce: u8, version: u8 },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum HubTx {
    Deposit(u8),
    Lock { spoke: u8, amount: u8 },
    Retire(Msg),
    Withdraw(Msg),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum SpokeTx {
    Accept(Msg),
    Release { credit_nonce: u8 },
}

/// A chain: its canonical transactions and how many of them are final.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Chain<T> {
    txs: Vec<T>,
    finalized: usize,
}

impl<T> Chain<T> {
    fn new() -> Self {
        Chain {
            txs: Vec::new(),
            finalized: 0,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct State {
    hub: Chain<HubTx>,
    spokes: [Chain<SpokeTx>; SPOKES],
    /// How many honest guardians signed each message so far (guardians are interchangeable for
    /// the quorum, so counting them instead of naming them loses no behaviour).
    signed: BTreeMap<Msg, u8>,
    ops: u8,
    reorgs: u8,
}

/// The hub contract's storage after replaying a list of transactions.
#[derive(Clone, Debug, Default)]
struct Hub {
    collateral: u32,
    /// Per spoke, credits by nonce − 1: (amount, retired).
    credits: [Vec<(u8, bool)>; SPOKES],
    retired_up_to: [u8; SPOKES],
    release_nonce: [u8; SPOKES],
    permit_nonce: u8,
    state_version: u8,
}

impl Hub {
    fn outstanding(&self, spoke: usize) -> u32 {
        self.credits[spoke]
            .iter()
            .filter(|(_, retired)| !retired)
            .map(|(a, _)| u32::from(*a))
            .sum()
    }

    fn total_outstanding(&self) -> u32 {
        (0..SPOKES).map(|s| self.outstanding(s)).sum()
    }

    /// `MarginHub`'s rules: `None` where the contract reverts.
    fn apply(&self, tx: &HubTx) -> Option<Hub> {
        let mut h = self.clone();
        match tx {
            HubTx::Deposit(a) => h.collateral += u32::from(*a),
            HubTx::Lock { spoke, amount } => {
                let after = h.total_outstanding() + u32::from(*amount);
                if h.collateral < after {
                    return None; // InvariantViolation
                }
                h.credits[*spoke as usize].push((*amount, false));
                h.state_version += 1;
            }
            HubTx::Retire(Msg::Release {
                spoke,
                credit_nonce,
                release_nonce,
            }) => {
                let s = *spoke as usize;
                if *release_nonce <= h.release_nonce[s] {
                    return None; // Replay
                }
                let locked = h.credits[s].len() as u8;
                let up_to = (*credit_nonce).min(locked);
                h.release_nonce[s] = *release_nonce;
                for n in h.retired_up_to[s] + 1..=up_to {
                    h.credits[s][n as usize - 1].1 = true;
                }
                h.retired_up_to[s] = h.retired_up_to[s].max(up_to);
            }
            HubTx::Withdraw(Msg::Permit {
                amount,
                nonce,
                version,
            }) => {
                if *nonce <= h.permit_nonce {
                    return None; // Replay
                }
                if *version != h.state_version {
                    return None; // StaleState
                }
                let a = u32::from(*amount);
                if a > h.collateral || h.collateral - a < h.total_outstanding() {
                    return None; // InvariantViolation
                }
                h.permit_nonce = *nonce;
                h.collateral -= a;
                h.state_version = version + 1;
            }
            HubTx::Retire(_) | HubTx::Withdraw(_) => return None, // wrong payload type
        }
        Some(h)
    }

    fn replay(txs: &[HubTx]) -> Hub {
        txs.iter().fold(Hub::default(), |h, tx| {
            // Only transactions that succeeded are ever included; replaying them cannot revert
            // unless a reorg dropped what they relied on, and then the model never includes them.
            h.apply(tx).unwrap_or(h)
        })
    }
}

/// The spoke contract's storage after replaying its transactions.
#[derive(Clone, Debug, Default)]
struct Spoke {
    /// The credit line: (nonce, amount, void).
    line: Option<(u8, u8, bool)>,
    last_credit_nonce: u8,
    release_nonce: u8,
    /// Every `CreditAccepted` nonce on the canonical chain (ghost state for "no double acceptance").
    accepted: Vec<u8>,
    /// Every `CreditReleased` event: (credit nonce, release nonce).
    released: Vec<(u8, u8)>,
}

impl Spoke {
    /// `MarginSpoke`'s rules: `None` where the contract reverts.
    fn apply(&self, tx: &SpokeTx, spoke: u8) -> Option<Spoke> {
        let mut s = self.clone();
        match tx {
            SpokeTx::Accept(Msg::Credit {
                spoke: target,
                nonce,
                amount,
            }) => {
                if *target != spoke {
                    return None; // WrongChain
                }
                if *nonce <= s.last_credit_nonce {
                    return None; // Replay
                }
                s.last_credit_nonce = *nonce;
                s.line = Some((*nonce, *amount, false));
                s.accepted.push(*nonce);
            }
            SpokeTx::Accept(_) => return None,
            SpokeTx::Release { credit_nonce } => {
                if let Some((n, _, void)) = s.line.as_mut() {
                    if *n <= *credit_nonce {
                        *void = true;
                    }
                }
                s.last_credit_nonce = s.last_credit_nonce.max(*credit_nonce);
                s.release_nonce += 1;
                s.released.push((*credit_nonce, s.release_nonce));
            }
        }
        Some(s)
    }

    fn replay(txs: &[SpokeTx], spoke: u8) -> Spoke {
        txs.iter()
            .fold(Spoke::default(), |s, tx| s.apply(tx, spoke).unwrap_or(s))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Action {
    Deposit(u8),
    Lock { spoke: u8, amount: u8 },
    UserRelease { spoke: u8, credit_nonce: u8 },
    Sign(Msg),
    Submit(Msg),
    FinalizeHub,
    FinalizeSpoke(u8),
    ReorgHub(usize),
    ReorgSpoke(u8, usize),
}

/// The protocol with its bounds and the attacker's powers.
#[derive(Clone)]
struct Protocol {
    ops: u8,
    reorgs: u8,
    /// Guardians with index ≥ `GUARDIANS − compromised` sign whatever the attacker asks.
    compromised: u8,
    /// Whether a reorg may drop finalised transactions (beyond the finality depth).
    deep_reorgs: bool,
}

impl Protocol {
    fn honest(&self) -> u8 {
        GUARDIANS - self.compromised
    }

    /// What an honest guardian signs now: attestations of final events, and permits that keep
    /// the invariant on the final state it has seen.
    fn attestable(&self, s: &State) -> Vec<Msg> {
        let mut out = Vec::new();
        let final_hub = &s.hub.txs[..s.hub.finalized];
        let mut h = Hub::default();
        for tx in final_hub {
            let Some(next) = h.apply(tx) else { continue };
            if let HubTx::Lock { spoke, amount } = tx {
                out.push(Msg::Credit {
                    spoke: *spoke,
                    nonce: next.credits[*spoke as usize].len() as u8,
                    amount: *amount,
                });
            }
            h = next;
        }
        for (i, chain) in s.spokes.iter().enumerate() {
            let sp = Spoke::replay(&chain.txs[..chain.finalized], i as u8);
            for (credit_nonce, release_nonce) in sp.released {
                out.push(Msg::Release {
                    spoke: i as u8,
                    credit_nonce,
                    release_nonce,
                });
            }
        }
        // Permits: sized on the final hub state (the guardians' requirement engine would add the
        // open positions' requirement; zero here, the most permissive case).
        for amount in AMOUNTS {
            if u32::from(amount) <= h.collateral
                && h.collateral - u32::from(amount) >= h.total_outstanding()
            {
                out.push(Msg::Permit {
                    amount,
                    nonce: h.permit_nonce + 1,
                    version: h.state_version,
                });
            }
        }
        out
    }

    /// Messages holding a quorum (honest signatures plus the compromised guardians').
    fn submittable(&self, s: &State) -> Vec<Msg> {
        let compromised = usize::from(self.compromised);
        let mut candidates: BTreeSet<Msg> = s.signed.keys().cloned().collect();
        if compromised >= THRESHOLD {
            // The attacker alone holds a quorum: any message in the bounded domain.
            for spoke in 0..SPOKES as u8 {
                for nonce in 1..=2 {
                    for amount in AMOUNTS {
                        candidates.insert(Msg::Credit {
                            spoke,
                            nonce,
                            amount,
                        });
                    }
                }
            }
        }
        candidates
            .into_iter()
            .filter(|m| {
                let honest = usize::from(s.signed.get(m).copied().unwrap_or(0));
                honest + compromised >= THRESHOLD
            })
            .collect()
    }
}

impl Model for Protocol {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            hub: Chain::new(),
            spokes: [Chain::new(), Chain::new()],
            signed: BTreeMap::new(),
            ops: 0,
            reorgs: 0,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        if s.ops < self.ops {
            for a in AMOUNTS {
                actions.push(Action::Deposit(a));
                for spoke in 0..SPOKES as u8 {
                    actions.push(Action::Lock { spoke, amount: a });
                }
            }
            for spoke in 0..SPOKES as u8 {
                for credit_nonce in RELEASE_UP_TO {
                    actions.push(Action::UserRelease {
                        spoke,
                        credit_nonce,
                    });
                }
            }
        }
        for msg in self.attestable(s) {
            if s.signed.get(&msg).copied().unwrap_or(0) < self.honest() {
                actions.push(Action::Sign(msg));
            }
        }
        for msg in self.submittable(s) {
            actions.push(Action::Submit(msg));
        }
        if s.hub.finalized < s.hub.txs.len() {
            actions.push(Action::FinalizeHub);
        }
        for (i, c) in s.spokes.iter().enumerate() {
            if c.finalized < c.txs.len() {
                actions.push(Action::FinalizeSpoke(i as u8));
            }
        }
        if s.reorgs < self.reorgs {
            let floor = |c_final: usize| if self.deep_reorgs { 0 } else { c_final };
            for keep in floor(s.hub.finalized)..s.hub.txs.len() {
                actions.push(Action::ReorgHub(keep));
            }
            for (i, c) in s.spokes.iter().enumerate() {
                for keep in floor(c.finalized)..c.txs.len() {
                    actions.push(Action::ReorgSpoke(i as u8, keep));
                }
            }
        }
    }

    fn next_state(&self, s: &State, action: Action) -> Option<State> {
        let mut n = s.clone();
        let hub = Hub::replay(&s.hub.txs);
        let push_hub = |n: &mut State, tx: HubTx| -> Option<()> {
            hub.apply(&tx)?;
            n.hub.txs.push(tx);
            Some(())
        };
        match action {
            Action::Deposit(a) => {
                push_hub(&mut n, HubTx::Deposit(a))?;
                n.ops += 1;
            }
            Action::Lock { spoke, amount } => {
                push_hub(&mut n, HubTx::Lock { spoke, amount })?;
                n.ops += 1;
            }
            Action::UserRelease {
                spoke,
                credit_nonce,
            } => {
                let c = &mut n.spokes[spoke as usize];
                c.txs.push(SpokeTx::Release { credit_nonce });
                n.ops += 1;
            }
            Action::Sign(msg) => *n.signed.entry(msg).or_insert(0) += 1,
            Action::Submit(msg) => match &msg {
                Msg::Credit { spoke, .. } => {
                    let i = *spoke as usize;
                    let sp = Spoke::replay(&s.spokes[i].txs, *spoke);
                    let tx = SpokeTx::Accept(msg.clone());
                    sp.apply(&tx, *spoke)?;
                    n.spokes[i].txs.push(tx);
                }
                Msg::Release { .. } => push_hub(&mut n, HubTx::Retire(msg))?,
                Msg::Permit { .. } => push_hub(&mut n, HubTx::Withdraw(msg))?,
            },
            Action::FinalizeHub => n.hub.finalized += 1,
            Action::FinalizeSpoke(i) => n.spokes[i as usize].finalized += 1,
            Action::ReorgHub(keep) => {
                n.hub.txs.truncate(keep);
                n.hub.finalized = n.hub.finalized.min(keep);
                n.reorgs += 1;
            }
            Action::ReorgSpoke(i, keep) => {
                let c = &mut n.spokes[i as usize];
                c.txs.truncate(keep);
                c.finalized = c.finalized.min(keep);
                n.reorgs += 1;
            }
        }
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("hub invariant", |_, s: &State| {
                let h = Hub::replay(&s.hub.txs);
                h.collateral >= h.total_outstanding()
            }),
            Property::always("every live line backed on the hub", |_, s: &State| {
                backed(s)
            }),
            Property::always("no double acceptance", |_, s: &State| {
                s.spokes.iter().enumerate().all(|(i, c)| {
                    let sp = Spoke::replay(&c.txs, i as u8);
                    let set: BTreeSet<u8> = sp.accepted.iter().copied().collect();
                    set.len() == sp.accepted.len()
                })
            }),
            Property::sometimes("credits live on both spokes", |_, s: &State| {
                (0..SPOKES).all(|i| live_line(s, i).is_some())
            }),
            Property::sometimes("a release retires a credit at the hub", |_, s: &State| {
                let h = Hub::replay(&s.hub.txs);
                h.retired_up_to.iter().any(|&r| r > 0)
            }),
            Property::sometimes(
                "a withdrawal leaves a credit outstanding",
                |_, s: &State| {
                    let h = Hub::replay(&s.hub.txs);
                    h.permit_nonce > 0 && h.total_outstanding() > 0
                },
            ),
        ]
    }

    fn within_boundary(&self, _s: &State) -> bool {
        true
    }
}

/// The spoke's live credit line (nonce, amount), if any.
fn live_line(s: &State, i: usize) -> Option<(u8, u8)> {
    match Spoke::replay(&s.spokes[i].txs, i as u8).line {
        Some((n, a, false)) => Some((n, a)),
        _ => None,
    }
}

/// Every live line equals an unretired hub credit of the same spoke and nonce, and Σ live lines
/// ≤ collateral.
fn backed(s: &State) -> bool {
    let h = Hub::replay(&s.hub.txs);
    let mut live_total = 0u32;
    for i in 0..SPOKES {
        if let Some((nonce, amount)) = live_line(s, i) {
            live_total += u32::from(amount);
            match h.credits[i].get(usize::from(nonce) - 1) {
                Some((a, false)) if *a == amount => {}
                _ => return false,
            }
        }
    }
    live_total <= h.collateral
}

fn ops_bound() -> u8 {
    std::env::var("INTERMARGIN_MC_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[test]
fn protocol_invariants_hold_in_every_interleaving() {
    let model = Protocol {
        ops: ops_bound(),
        reorgs: 1,
        compromised: 1,
        deep_reorgs: false,
    };
    let checker = model.checker().threads(2).spawn_bfs().join();
    checker.assert_properties();
    eprintln!(
        "model check: {} states ({} unique), depth {}",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth()
    );
    assert!(checker.unique_state_count() > 10_000);
}

#[test]
fn two_compromised_guardians_reach_the_threshold_and_break_the_invariant() {
    let model = Protocol {
        ops: 2,
        reorgs: 0,
        compromised: 2,
        deep_reorgs: false,
    };
    let checker = model.checker().threads(2).spawn_bfs().join();
    let path = checker.assert_any_discovery("every live line backed on the hub");
    // The counterexample accepts a credit the hub never locked.
    let last = path.last_state();
    let h = Hub::replay(&last.hub.txs);
    assert!((0..SPOKES).any(|i| live_line(last, i).is_some() && h.credits[i].is_empty()));
}

#[test]
fn a_reorg_beyond_the_finality_depth_breaks_the_invariant() {
    let model = Protocol {
        ops: 2,
        reorgs: 1,
        compromised: 0,
        deep_reorgs: true,
    };
    let checker = model.checker().threads(2).spawn_bfs().join();
    checker.assert_any_discovery("every live line backed on the hub");
    checker.assert_no_discovery("no double acceptance");
}
