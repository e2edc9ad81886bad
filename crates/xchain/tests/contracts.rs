//! MarginHub, MarginSpoke, TestToken and SmartAccount (contracts/, committed artifacts in
//! contracts/build) on revm: every acceptance and refusal path, with signatures made by the
//! crate's guardian keys over the crate's EIP-712 digests, so the Rust hashing and the contracts'
//! hashing are checked against each other. Gas per operation is printed (`--nocapture`) and
//! recorded in crates/xchain/BENCH.md.

mod evm;

use std::path::PathBuf;
use std::process::Command;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{SolCall, SolStruct, SolValue};
use evm::*;
use intermargin_xchain::guardian::GuardianKey;
use intermargin_xchain::{domain, MarginCredit, Scheme, WithdrawalPermit};

/// secp256k1 group order n (SEC 2, section 2.4.1).
const SECP256K1_N: U256 = U256::from_be_slice(&[
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

fn user() -> Address {
    Address::repeat_byte(0x01)
}

/// A funded user with a 700 credit locked at the hub (collateral 1,000).
fn world_with_credit() -> (World, MarginCredit) {
    let mut w = World::new();
    w.fund(user(), 1_000).ok();
    let (out, credit) = w.lock(user(), 700, 3_600);
    out.ok();
    (w, credit)
}

#[test]
fn contract_type_hashes_and_domains_equal_the_rust_eip712_types() {
    let mut w = World::new();
    let c = MarginCredit {
        account: user(),
        spokeChainId: U256::from(1),
        amount: U256::from(1),
        nonce: 1,
        expiry: 1,
        hubStateVersion: 1,
    };
    let p = WithdrawalPermit {
        account: user(),
        recipient: user(),
        amount: U256::from(1),
        nonce: 1,
        expiry: 1,
        hubStateVersion: 1,
    };
    let r = intermargin_xchain::CreditRelease {
        account: user(),
        spokeChainId: U256::from(1),
        creditNonce: 1,
        used: U256::ZERO,
        blockHeight: 1,
        nonce: 1,
    };
    let (hub, spoke) = (w.hub, w.spoke);
    assert_eq!(
        B256::from(
            w.spoke_chain
                .word(spoke, evm::ISpoke::MARGIN_CREDIT_TYPEHASHCall {})
        ),
        c.eip712_type_hash()
    );
    assert_eq!(
        B256::from(
            w.hub_chain
                .word(hub, evm::IHub::WITHDRAWAL_PERMIT_TYPEHASHCall {})
        ),
        p.eip712_type_hash()
    );
    assert_eq!(
        B256::from(
            w.hub_chain
                .word(hub, evm::IHub::CREDIT_RELEASE_TYPEHASHCall {})
        ),
        r.eip712_type_hash()
    );
    // The type strings themselves, as written in EIP-712 encodeType form.
    assert_eq!(
        c.eip712_type_hash(),
        keccak256("MarginCredit(address account,uint256 spokeChainId,uint256 amount,uint64 nonce,uint64 expiry,uint64 hubStateVersion)")
    );
    assert_eq!(
        B256::from(
            w.spoke_chain
                .word(spoke, evm::ISpoke::domainSeparatorCall {})
        ),
        domain(SPOKE_CHAIN, spoke).separator()
    );
    assert_eq!(
        B256::from(w.hub_chain.word(hub, evm::IHub::domainSeparatorCall {})),
        domain(HUB_CHAIN, hub).separator()
    );
}

#[test]
fn valid_credit_is_accepted_once_and_replays_revert() {
    let (mut w, credit) = world_with_credit();
    assert_eq!(w.outstanding(user()), U256::from(700));
    let out = w.accept_signed(&credit, &[0, 2]);
    out.ok();
    assert_eq!(w.credit_of(user()), (U256::from(700), credit.expiry, 1));
    // Same payload, same signatures: refused as a replay.
    assert!(w
        .accept_signed(&credit, &[0, 2])
        .reverted_with("Replay(uint64,uint64)"));
    // Other signers on the same credit: still a replay.
    assert!(w
        .accept_signed(&credit, &[1, 2])
        .reverted_with("Replay(uint64,uint64)"));
    // A lower nonce after a higher one: replay too.
    let (_, c2) = w.lock(user(), 100, 3_600);
    w.accept_signed(&c2, &[0, 1]).ok();
    assert!(w
        .accept_signed(&credit, &[0, 1])
        .reverted_with("Replay(uint64,uint64)"));
    assert_eq!(w.credit_of(user()), (U256::from(100), c2.expiry, 2));
}

#[test]
fn wrong_chain_and_wrong_verifying_contract_revert() {
    let (mut w, credit) = world_with_credit();
    // Payload names another spoke chain (signed for that chain's domain): WrongChain.
    let mut other = credit.clone();
    other.spokeChainId = U256::from(SPOKE_CHAIN + 1);
    let d = MarginCredit::eip712_signing_hash(&other, &domain(SPOKE_CHAIN + 1, w.spoke));
    let sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    assert!(w.accept(&other, sigs).reverted_with("WrongChain(uint256)"));
    // Right payload, signatures for another chain id's domain: they recover to non-guardians.
    let d = MarginCredit::eip712_signing_hash(&credit, &domain(SPOKE_CHAIN + 1, w.spoke));
    let sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    assert!(w
        .accept(&credit, sigs)
        .reverted_with("NotGuardian(uint256,address)"));
    // Signatures for another verifying contract (the hub's address) on the right chain.
    let d = MarginCredit::eip712_signing_hash(&credit, &domain(SPOKE_CHAIN, w.hub));
    let sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    assert!(w
        .accept(&credit, sigs)
        .reverted_with("NotGuardian(uint256,address)"));
    // Nothing was accepted.
    assert_eq!(w.credit_of(user()), (U256::ZERO, 0, 0));
}

#[test]
fn expired_credit_reverts() {
    let (mut w, credit) = world_with_credit();
    w.spoke_chain.advance(3_600);
    // expiry == now (ms) is already expired.
    assert_eq!(credit.expiry, w.spoke_chain.time * 1000);
    assert!(w
        .accept_signed(&credit, &[0, 1])
        .reverted_with("Expired(uint64,uint256)"));
}

#[test]
fn below_threshold_duplicate_signer_and_non_guardian_revert() {
    let (mut w, credit) = world_with_credit();
    assert!(w
        .accept_signed(&credit, &[1])
        .reverted_with("BelowThreshold(uint256,uint256)"));
    assert!(w
        .accept_signed(&credit, &[])
        .reverted_with("BelowThreshold(uint256,uint256)"));
    assert!(w
        .accept_signed(&credit, &[1, 1])
        .reverted_with("DuplicateSigner(uint256,address)"));
    let stranger = GuardianKey::from_label("not a guardian");
    let d = w.credit_digest(&credit);
    let sigs = sign(&[&w.keys[0], &stranger], &d);
    assert!(w
        .accept(&credit, sigs)
        .reverted_with("NotGuardian(uint256,address)"));
    // A compromised guardian plus a forged second signature (random bytes) is refused.
    let mut sigs = sign(&[&w.keys[0]], &d);
    sigs.push(Bytes::from(vec![0x42; 65]));
    assert!(!w.accept(&credit, sigs).is_ok());
    // Wrong length.
    let mut sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    sigs[1] = Bytes::from(sigs[1][..64].to_vec());
    assert!(!w.accept(&credit, sigs).is_ok());
    // Still acceptable with a proper quorum.
    w.accept_signed(&credit, &[2, 0]).ok();
}

#[test]
fn malleable_high_s_signature_reverts() {
    let (mut w, credit) = world_with_credit();
    let d = w.credit_digest(&credit);
    let mut sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    // (r, n − s, v ⊕ 1) recovers the same signer under ecrecover: the malleable twin.
    let s = U256::from_be_slice(&sigs[1][32..64]);
    let mut twin = sigs[1].to_vec();
    twin[32..64].copy_from_slice(&(SECP256K1_N - s).to_be_bytes::<32>());
    twin[64] = if twin[64] == 27 { 28 } else { 27 };
    sigs[1] = Bytes::from(twin);
    assert!(w.accept(&credit, sigs).reverted_with("HighS(uint256)"));
}

#[test]
fn eip1271_contract_guardian_signs_through_its_owner() {
    // A guardian set whose second member is a smart account owned by key `owner`.
    let keys = guardian_keys();
    let owner = GuardianKey::from_label("smart guardian owner");
    let mut chain = Chain::new(SPOKE_CHAIN);
    let (sa, _) = chain.deploy(admin(), ACCOUNT_BIN, (owner.address(),).abi_encode_params());
    let gs = vec![keys[0].address(), sa, keys[2].address()];
    let (spoke, _) = chain.deploy(
        admin(),
        SPOKE_BIN,
        (U256::from(HUB_CHAIN), gs, U256::from(2), admin()).abi_encode_params(),
    );
    let credit = MarginCredit {
        account: user(),
        spokeChainId: U256::from(SPOKE_CHAIN),
        amount: U256::from(5),
        nonce: 1,
        expiry: chain.expiry_in(60),
        hubStateVersion: 1,
    };
    let d = credit.eip712_signing_hash(&domain(SPOKE_CHAIN, spoke));
    let send = |chain: &mut Chain, sigs: Vec<Bytes>| {
        chain.send(
            relayer(),
            spoke,
            ISpoke::acceptCreditCall {
                payload: credit.abi_encode().into(),
                signatures: sigs,
            },
        )
    };
    let with_contract = |signer: &GuardianKey| {
        let mut s = sa.to_vec();
        s.extend_from_slice(&signer.sign(Scheme::Ecdsa, &d).unwrap());
        Bytes::from(s)
    };
    // Signed by the wrong key on the contract's behalf: refused.
    let sigs = vec![
        keys[0].sign(Scheme::Ecdsa, &d).unwrap(),
        with_contract(&keys[1]),
    ];
    assert!(send(&mut chain, sigs).reverted_with("BadSignature(uint256)"));
    // An EOA guardian cannot pose as the contract guardian through EIP-1271.
    let mut s = keys[2].address().to_vec();
    s.extend_from_slice(&keys[2].sign(Scheme::Ecdsa, &d).unwrap());
    let sigs = vec![keys[0].sign(Scheme::Ecdsa, &d).unwrap(), Bytes::from(s)];
    assert!(send(&mut chain, sigs).reverted_with("BadSignature(uint256)"));
    // The owner's signature through the account: accepted.
    let sigs = vec![
        keys[0].sign(Scheme::Ecdsa, &d).unwrap(),
        with_contract(&owner),
    ];
    let out = send(&mut chain, sigs);
    out.ok();
    eprintln!(
        "gas acceptCredit (1 ECDSA + 1 EIP-1271 guardian): {}",
        out.gas()
    );
}

#[test]
fn smart_account_deposits_locks_and_withdraws_by_eip1271_signature() {
    let mut w = World::new();
    let owner = GuardianKey::from_label("account owner");
    let (sa, _) = w
        .hub_chain
        .deploy(admin(), ACCOUNT_BIN, (owner.address(),).abi_encode_params());
    // Fund the account's owner key and deposit for the smart account.
    let (hub, token) = (w.hub, w.token);
    w.hub_chain
        .send(
            owner.address(),
            token,
            IToken::mintCall {
                to: owner.address(),
                amount: U256::from(500),
            },
        )
        .ok();
    w.hub_chain
        .send(
            owner.address(),
            token,
            IToken::approveCall {
                spender: hub,
                amount: U256::MAX,
            },
        )
        .ok();
    w.hub_chain
        .send(
            owner.address(),
            hub,
            IHub::depositCall {
                account: sa,
                token,
                amount: U256::from(500),
            },
        )
        .ok();
    assert_eq!(w.collateral(sa), U256::from(500));
    // The account locks a credit through execute (msg.sender is the account).
    let lock = IHub::lockCreditCall {
        spokeChainId: U256::from(SPOKE_CHAIN),
        amount: U256::from(200),
        expiry: w.hub_chain.expiry_in(3_600),
    };
    w.hub_chain
        .send(
            owner.address(),
            sa,
            IAccount::executeCall {
                target: hub,
                value: U256::ZERO,
                data: lock.abi_encode().into(),
            },
        )
        .ok();
    assert_eq!(w.outstanding(sa), U256::from(200));
    // A stranger cannot drive the account.
    assert!(w
        .hub_chain
        .send(
            relayer(),
            sa,
            IAccount::executeCall {
                target: hub,
                value: U256::ZERO,
                data: lock.abi_encode().into()
            }
        )
        .reverted_with("NotOwner()"));
    // Withdrawal relayed by a third party: the account's EIP-1271 signature authorises it.
    let p = w.permit(sa, owner.address(), 300, 1);
    let d = w.permit_digest(&p);
    let stranger = GuardianKey::from_label("someone else");
    let bad = stranger.sign(Scheme::Ecdsa, &d).unwrap();
    assert!(w
        .withdraw(relayer(), &p, bad)
        .reverted_with("BadAccountSignature()"));
    assert!(w
        .withdraw(relayer(), &p, Bytes::new())
        .reverted_with("BadAccountSignature()"));
    let good = owner.sign(Scheme::Ecdsa, &d).unwrap();
    let out = w.withdraw(relayer(), &p, good.clone());
    out.ok();
    eprintln!(
        "gas withdraw (2 guardians + EIP-1271 account): {}",
        out.gas()
    );
    assert_eq!(w.collateral(sa), U256::from(200));
    let bal = w.hub_chain.word(
        token,
        IToken::balanceOfCall {
            who: owner.address(),
        },
    );
    assert_eq!(bal, U256::from(300));
    // The same permit again: replay.
    assert!(w
        .withdraw(relayer(), &p, good)
        .reverted_with("Replay(uint64,uint64)"));
}

#[test]
fn eoa_account_signature_authorises_a_relayed_withdrawal() {
    let mut w = World::new();
    let key = GuardianKey::from_label("eoa account");
    let acct = key.address();
    w.fund(acct, 100).ok();
    let p = w.permit(acct, acct, 40, 7);
    let d = w.permit_digest(&p);
    let other = GuardianKey::from_label("eoa other");
    assert!(w
        .withdraw(relayer(), &p, other.sign(Scheme::Ecdsa, &d).unwrap())
        .reverted_with("BadAccountSignature()"));
    w.withdraw(relayer(), &p, key.sign(Scheme::Ecdsa, &d).unwrap())
        .ok();
    assert_eq!(w.collateral(acct), U256::from(60));
}

#[test]
fn withdrawals_that_would_break_the_invariant_revert() {
    let (mut w, _credit) = world_with_credit();
    // collateral 1,000, outstanding credit 700: at most 300 may leave.
    let p = w.permit(user(), user(), 301, 1);
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("InvariantViolation(uint256,uint256)"));
    let p = w.permit(user(), user(), 1_001, 1);
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("InvariantViolation(uint256,uint256)"));
    // A permit signed against an older state version is stale once a credit was locked.
    let stale = w.permit(user(), user(), 100, 1);
    w.lock(user(), 50, 3_600).0.ok();
    assert!(w
        .withdraw(user(), &stale, Bytes::new())
        .reverted_with("StaleState(uint64,uint64)"));
    // Within the bound: paid; then the bound is exact (250 left above 750 outstanding... none).
    let p = w.permit(user(), user(), 250, 2);
    let out = w.withdraw(user(), &p, Bytes::new());
    out.ok();
    eprintln!(
        "gas withdraw (2 guardians, caller is the account): {}",
        out.gas()
    );
    assert_eq!(w.collateral(user()), U256::from(750));
    let p = w.permit(user(), user(), 1, 3);
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("InvariantViolation(uint256,uint256)"));
    // A credit the collateral cannot cover cannot be locked either.
    assert!(w
        .lock(user(), 1, 3_600)
        .0
        .reverted_with("InvariantViolation(uint256,uint256)"));
    // Expired permit.
    let mut p = w.permit(user(), user(), 1, 4);
    p.expiry = w.hub_chain.time * 1000;
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("Expired(uint64,uint256)"));
    // After the spoke releases and the guardians attest it, the collateral is free.
    let (rel, ret) = w.release_and_retire(user(), 2);
    rel.ok();
    ret.ok();
    assert_eq!(w.outstanding(user()), U256::ZERO);
    let p = w.permit(user(), user(), 750, 5);
    w.withdraw(user(), &p, Bytes::new()).ok();
    assert_eq!(w.collateral(user()), U256::ZERO);
}

#[test]
fn withdrawal_needs_a_guardian_quorum_in_the_hub_domain() {
    let mut w = World::new();
    w.fund(user(), 100).ok();
    let p = w.permit(user(), user(), 10, 1);
    let d = w.permit_digest(&p);
    let hub = w.hub;
    let send = |w: &mut World, sigs: Vec<Bytes>| {
        w.hub_chain.send(
            user(),
            hub,
            IHub::withdrawCall {
                payload: p.abi_encode().into(),
                signatures: sigs,
                accountSignature: Bytes::new(),
            },
        )
    };
    let one = sign(&[&w.keys[2]], &d);
    assert!(send(&mut w, one).reverted_with("BelowThreshold(uint256,uint256)"));
    // Signed for the spoke's domain instead of the hub's.
    let d_spoke = WithdrawalPermit::eip712_signing_hash(&p, &domain(SPOKE_CHAIN, w.spoke));
    let sigs = sign(&[&w.keys[0], &w.keys[1]], &d_spoke);
    assert!(send(&mut w, sigs).reverted_with("NotGuardian(uint256,address)"));
    // A different recipient than signed.
    let mut p2 = p.clone();
    p2.recipient = relayer();
    let sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    let out = w.hub_chain.send(
        user(),
        hub,
        IHub::withdrawCall {
            payload: p2.abi_encode().into(),
            signatures: sigs,
            accountSignature: Bytes::new(),
        },
    );
    assert!(out.reverted_with("NotGuardian(uint256,address)"));
}

#[test]
fn retire_needs_a_quorum_and_a_fresh_release_nonce() {
    let (mut w, credit) = world_with_credit();
    w.accept_signed(&credit, &[0, 1]).ok();
    let (rel, ret) = w.release_and_retire(user(), 1);
    rel.ok();
    ret.ok();
    assert_eq!(w.outstanding(user()), U256::ZERO);
    // The spoke voided the credit: nothing left to draw, and it can never be accepted again.
    assert_eq!(
        w.spoke_chain
            .word(w.spoke, ISpoke::availableCall { account: user() }),
        U256::ZERO
    );
    assert!(w
        .accept_signed(&credit, &[0, 1])
        .reverted_with("Replay(uint64,uint64)"));
    // A release by a stranger is refused.
    let spoke = w.spoke;
    assert!(w
        .spoke_chain
        .send(
            relayer(),
            spoke,
            ISpoke::releaseCreditCall {
                account: user(),
                creditNonce: 1
            }
        )
        .reverted_with("NotAuthorised()"));
    // Releasing beyond the last locked nonce voids future nonces on the spoke too, so the hub
    // retires everything locked so far, and a credit locked later can never be accepted.
    let (_, c2) = w.lock(user(), 100, 3_600);
    let (rel, ret) = w.release_and_retire(user(), 9);
    rel.ok();
    ret.ok();
    assert_eq!(w.outstanding(user()), U256::ZERO);
    let (_, c3) = w.lock(user(), 100, 3_600);
    assert_eq!(c3.nonce, 3);
    assert!(w
        .accept_signed(&c2, &[0, 1])
        .reverted_with("Replay(uint64,uint64)"));
    assert!(w
        .accept_signed(&c3, &[0, 1])
        .reverted_with("Replay(uint64,uint64)"));
    // A second release is a fresh attestation (release nonce 2) and retires the later credit.
    let (_, ret) = w.release_and_retire(user(), 9);
    ret.ok();
    assert_eq!(w.outstanding(user()), U256::ZERO);
    // A release attestation whose nonce was already used is a replay at the hub.
    let old = intermargin_xchain::CreditRelease {
        account: user(),
        spokeChainId: U256::from(SPOKE_CHAIN),
        creditNonce: 9,
        used: U256::ZERO,
        blockHeight: 1,
        nonce: 1,
    };
    let d = intermargin_xchain::Payload::CreditRelease(old.clone())
        .signing_hash(&domain(HUB_CHAIN, w.hub));
    let sigs = sign(&[&w.keys[0], &w.keys[1]], &d);
    let hub = w.hub;
    let out = w.hub_chain.send(
        relayer(),
        hub,
        IHub::retireCreditCall {
            payload: old.abi_encode().into(),
            signatures: sigs,
        },
    );
    assert!(out.reverted_with("Replay(uint64,uint64)"));
}

#[test]
fn draw_is_limited_to_the_credit_by_registered_traders() {
    let (mut w, credit) = world_with_credit();
    let spoke = w.spoke;
    // No credit yet.
    assert!(w
        .spoke_chain
        .send(
            trader(),
            spoke,
            ISpoke::drawCall {
                account: user(),
                amount: U256::from(1)
            }
        )
        .reverted_with("InsufficientCredit(uint256,uint256)"));
    w.accept_signed(&credit, &[0, 1]).ok();
    let out = w.spoke_chain.send(
        trader(),
        spoke,
        ISpoke::drawCall {
            account: user(),
            amount: U256::from(600),
        },
    );
    out.ok();
    eprintln!("gas draw: {}", out.gas());
    assert!(w
        .spoke_chain
        .send(
            trader(),
            spoke,
            ISpoke::drawCall {
                account: user(),
                amount: U256::from(101)
            }
        )
        .reverted_with("InsufficientCredit(uint256,uint256)"));
    assert!(w
        .spoke_chain
        .send(
            relayer(),
            spoke,
            ISpoke::drawCall {
                account: user(),
                amount: U256::from(1)
            }
        )
        .reverted_with("NotTrader()"));
    w.spoke_chain
        .send(
            trader(),
            spoke,
            ISpoke::drawCall {
                account: user(),
                amount: U256::from(100),
            },
        )
        .ok();
    // A position report carries the credit usage.
    let out = w.spoke_chain.send(
        trader(),
        spoke,
        ISpokeReports::reportPositionsCall {
            account: user(),
            positions: vec![ReportedPosition {
                underlying: "BTC".into(),
                size: alloy_primitives::I256::try_from(-3).unwrap(),
            }],
            realisedPnl: alloy_primitives::I256::ZERO,
        },
    );
    let Outcome::Ok(_, gas, logs) = &out else {
        panic!("report reverted")
    };
    eprintln!("gas reportPositions (1 position): {gas}");
    let topic = keccak256(
        "PositionReport(address,uint256,uint64,uint64,uint64,(string,int256)[],int256,uint64,uint256,bool)",
    );
    assert!(logs.iter().any(|(t, _)| t[0] == topic));
    // After expiry nothing can be drawn.
    w.spoke_chain.advance(3_600);
    assert_eq!(
        w.spoke_chain
            .word(spoke, ISpoke::availableCall { account: user() }),
        U256::ZERO
    );
}

#[test]
fn pause_stops_credits_draws_and_withdrawals_only_for_the_admin() {
    let (mut w, credit) = world_with_credit();
    let (hub, spoke) = (w.hub, w.spoke);
    assert!(w
        .spoke_chain
        .send(relayer(), spoke, ISpoke::setPausedCall { p: true })
        .reverted_with("NotAdmin()"));
    w.spoke_chain
        .send(admin(), spoke, ISpoke::setPausedCall { p: true })
        .ok();
    assert!(w.accept_signed(&credit, &[0, 1]).reverted_with("Paused()"));
    w.spoke_chain
        .send(admin(), spoke, ISpoke::setPausedCall { p: false })
        .ok();
    w.accept_signed(&credit, &[0, 1]).ok();
    w.spoke_chain
        .send(admin(), spoke, ISpoke::setPausedCall { p: true })
        .ok();
    assert!(w
        .spoke_chain
        .send(
            trader(),
            spoke,
            ISpoke::drawCall {
                account: user(),
                amount: U256::from(1)
            }
        )
        .reverted_with("Paused()"));

    w.hub_chain
        .send(admin(), hub, IHub::setPausedCall { p: true })
        .ok();
    assert!(w.lock(user(), 1, 60).0.reverted_with("Paused()"));
    let p = w.permit(user(), user(), 10, 1);
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("Paused()"));
    // Deposits still work while paused (they only add collateral).
    w.fund(user(), 5).ok();
    w.hub_chain
        .send(admin(), hub, IHub::setPausedCall { p: false })
        .ok();
    w.withdraw(user(), &p, Bytes::new()).ok();
}

#[test]
fn rate_limits_cap_credits_per_chain_per_spoke_and_withdrawals_per_asset() {
    let mut w = World::new();
    let (hub, spoke, token) = (w.hub, w.spoke, w.token);
    w.fund(user(), 10_000).ok();
    // Hub: 1,000 per spoke chain, refilling 10 per second.
    w.hub_chain
        .send(
            admin(),
            hub,
            IHub::setSpokeCall {
                spokeChainId: U256::from(SPOKE_CHAIN),
                spoke,
                capacity: 1_000,
                ratePerSecond: 10,
            },
        )
        .ok();
    let (a, c1) = w.lock(user(), 600, 3_600);
    a.ok();
    assert!(w
        .lock(user(), 401, 3_600)
        .0
        .reverted_with("RateLimited(uint256,uint256)"));
    w.hub_chain.advance(10); // +100
    let (b, c2) = w.lock(user(), 500, 3_600);
    b.ok();
    assert!(w
        .lock(user(), 1, 3_600)
        .0
        .reverted_with("RateLimited(uint256,uint256)"));
    // Spoke: 800 of credit per window, refilling 1 per second.
    w.spoke_chain
        .send(
            admin(),
            spoke,
            ISpoke::setCreditLimitCall {
                capacity: 800,
                ratePerSecond: 1,
            },
        )
        .ok();
    w.accept_signed(&c1, &[0, 1]).ok();
    assert!(w
        .accept_signed(&c2, &[0, 1])
        .reverted_with("RateLimited(uint256,uint256)"));
    w.spoke_chain.advance(300); // 200 + 300 = 500 available
    w.accept_signed(&c2, &[0, 1]).ok();
    // Hub asset limit on withdrawals: 1,000 capacity, no refill.
    w.hub_chain
        .send(
            admin(),
            hub,
            IHub::setAssetLimitCall {
                token,
                capacity: 1_000,
                ratePerSecond: 0,
            },
        )
        .ok();
    let p = w.permit(user(), user(), 1_001, 1);
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("RateLimited(uint256,uint256)"));
    let p = w.permit(user(), user(), 1_000, 1);
    w.withdraw(user(), &p, Bytes::new()).ok();
    let p = w.permit(user(), user(), 1, 2);
    assert!(w
        .withdraw(user(), &p, Bytes::new())
        .reverted_with("RateLimited(uint256,uint256)"));
    // Only the admin sets limits.
    assert!(w
        .hub_chain
        .send(
            relayer(),
            hub,
            IHub::setAssetLimitCall {
                token,
                capacity: 1,
                ratePerSecond: 1
            }
        )
        .reverted_with("NotAdmin()"));
}

#[test]
fn misconfigured_guardian_sets_are_refused_at_deployment() {
    let mut chain = Chain::new(1);
    let keys = guardian_keys();
    let a = keys[0].address();
    let (token, _) = chain.deploy(
        admin(),
        TOKEN_BIN,
        ("T".to_string(), "T".to_string(), U256::from(6)).abi_encode_params(),
    );
    for (gs, k, err) in [
        (vec![a, a], 1u64, "DuplicateGuardian(address)"),
        (vec![a], 2, "BadThreshold()"),
        (vec![a], 0, "BadThreshold()"),
    ] {
        let (out, addr) = chain.try_deploy(
            admin(),
            HUB_BIN,
            (token, gs, U256::from(k), admin()).abi_encode_params(),
        );
        assert!(
            out.reverted_with(err) && addr.is_none(),
            "threshold {k}: {out:?}"
        );
    }
    // A collateral token without code is refused.
    let (out, _) = chain.try_deploy(
        admin(),
        HUB_BIN,
        (relayer(), vec![a], U256::from(1), admin()).abi_encode_params(),
    );
    assert!(out.reverted_with("WrongToken()"));
}

/// Prints gas per operation (run with `--nocapture`; the table is in crates/xchain/BENCH.md).
#[test]
fn gas_per_operation() {
    let mut w = World::new();
    let mut rows: Vec<(String, u64)> = w
        .gas_deploy
        .iter()
        .map(|(n, g)| (n.to_string(), *g))
        .collect();
    let out = w.fund(user(), 1_000);
    rows.push(("deposit (first, cold slots)".into(), out.ok_gas()));
    let out = w.fund(user(), 1_000);
    rows.push(("deposit (warm account)".into(), out.ok_gas()));
    let (out, credit) = w.lock(user(), 700, 3_600);
    rows.push(("lockCredit".into(), out.ok_gas()));
    let out = w.accept_signed(&credit, &[0, 1]);
    rows.push((
        "acceptCredit (2 ECDSA guardian signatures, first credit)".into(),
        out.ok_gas(),
    ));
    // Another account, 3 signatures, also a first credit (same storage pattern).
    let other = Address::repeat_byte(0x02);
    w.fund(other, 1_000).ok();
    let (_, c3) = w.lock(other, 700, 3_600);
    let out = w.accept_signed(&c3, &[0, 1, 2]);
    rows.push((
        "acceptCredit (3 ECDSA guardian signatures, first credit)".into(),
        out.ok_gas(),
    ));
    let (_, c4) = w.lock(other, 10, 3_600);
    let out = w.accept_signed(&c4, &[0, 1]);
    rows.push((
        "acceptCredit (2 signatures, replacing a credit)".into(),
        out.ok_gas(),
    ));
    let spoke = w.spoke;
    let out = w.spoke_chain.send(
        trader(),
        spoke,
        ISpoke::drawCall {
            account: user(),
            amount: U256::from(5),
        },
    );
    rows.push(("draw".into(), out.ok_gas()));
    let p = w.permit(user(), user(), 100, 1);
    let out = w.withdraw(user(), &p, Bytes::new());
    rows.push(("withdraw (2 guardian signatures)".into(), out.ok_gas()));
    let (rel, ret) = w.release_and_retire(user(), 1);
    rows.push(("releaseCredit (spoke)".into(), rel.ok_gas()));
    rows.push((
        "retireCredit (2 guardian signatures, 1 credit)".into(),
        ret.ok_gas(),
    ));
    for (name, gas) in &rows {
        eprintln!("| {name} | {gas} |");
        assert!(
            *gas > 21_000,
            "{name}: every transaction pays the 21,000 base"
        );
    }
}

#[test]
fn committed_artifacts_are_what_the_pinned_solc_compiles() {
    let solc = std::env::var_os("INTERMARGIN_SOLC_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/node_modules/solc")
        });
    if !solc.join("package.json").exists() {
        assert!(
            std::env::var("INTERMARGIN_REQUIRE_EVM").as_deref() != Ok("1"),
            "solc-js not found at {} (run scripts/deps.sh)",
            solc.display()
        );
        eprintln!("skipped: solc-js not installed (scripts/deps.sh installs it)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("node")
        .arg(root.join("scripts/build-contracts.cjs"))
        .arg("--check")
        .env("INTERMARGIN_SOLC_JS", &solc)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "recompiling contracts/ differs from contracts/build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
