//! Bad input gets a typed error and changes no state; the hub's bound behaves as documented.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use intermargin_xchain::hub::attest;
use intermargin_xchain::spoke::SpokeState;
use intermargin_xchain::{
    Endpoint, Envelope, GuardianKey, GuardianSet, Hub, HubParams, MarginCredit, NetDeltaModel,
    Payload, Scheme, Spoke, XchainError, ROUNDING_GUARD,
};

const ACCOUNT: Address = Address::repeat_byte(0x11);
const HUB: Endpoint = Endpoint {
    chain_id: 1,
    contract: Address::repeat_byte(0xa1),
};
const A: Endpoint = Endpoint {
    chain_id: 10,
    contract: Address::repeat_byte(0xb1),
};
const B: Endpoint = Endpoint {
    chain_id: 42161,
    contract: Address::repeat_byte(0xb2),
};

fn model() -> NetDeltaModel {
    NetDeltaModel {
        maintenance_rate: 0.05,
        gross_rate: 0.005,
        size_decimals: 8,
        collateral_decimals: 6,
    }
}

fn keys() -> Vec<GuardianKey> {
    (0..3)
        .map(|i| GuardianKey::from_label(&format!("test-guardian-{i}")))
        .collect()
}

fn prices() -> BTreeMap<String, f64> {
    BTreeMap::from([("BTC".to_string(), 50_000.0)])
}

fn setup(
    collateral: u128,
    haircut_bps: u32,
) -> (
    Hub<NetDeltaModel>,
    Spoke<NetDeltaModel>,
    Spoke<NetDeltaModel>,
) {
    let k = keys();
    let set = GuardianSet::from_keys(&k, 2, Scheme::Ecdsa).unwrap();
    let params = HubParams {
        hub: HUB,
        account: ACCOUNT,
        haircut_bps,
        credit_ttl_ms: 10_000,
        rate_capacity: 1_000_000_000,
        rate_window_ms: 60_000,
        stress_prices: prices(),
        spokes: vec![A, B],
        ignore_outstanding_credits: false,
    };
    let hub = Hub::new(params, model(), k[..2].to_vec(), set.clone(), collateral).unwrap();
    let sa = Spoke::new(A, ACCOUNT, set.clone(), model(), prices(), 8, 6);
    let sb = Spoke::new(B, ACCOUNT, set, model(), prices(), 8, 6);
    (hub, sa, sb)
}

fn credit(nonce: u64, amount: u128, expiry: u64) -> Payload {
    Payload::MarginCredit(MarginCredit {
        account: ACCOUNT,
        spokeChainId: U256::from(A.chain_id),
        amount: U256::from(amount),
        nonce,
        expiry,
        hubStateVersion: 1,
    })
}

fn signed(payload: Payload, signers: &[GuardianKey]) -> Envelope {
    attest(signers, Scheme::Ecdsa, A, payload).unwrap()
}

fn assert_unchanged(s: &Spoke<NetDeltaModel>, before: &SpokeState) {
    assert_eq!(&s.state, before, "state changed on a rejected message");
}

#[test]
fn valid_credit_is_accepted_once() {
    let (mut hub, mut a, _) = setup(1_000_000_000, 0);
    let env = hub.issue_credit(A.chain_id, 100_000_000, 0).unwrap();
    assert_eq!(a.accept_credit(&env, 1).unwrap(), 1);
    let before = a.state.clone();
    let e = a.accept_credit(&env, 2).unwrap_err();
    assert!(
        matches!(
            e,
            XchainError::Replay {
                nonce: 1,
                last: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_unchanged(&a, &before);
}

#[test]
fn malformed_envelope_is_a_typed_error() {
    let e = Envelope::from_json(r#"{"chain_id": "ten"}"#).unwrap_err();
    assert!(
        matches!(e, XchainError::Malformed { ref field, .. } if field == "envelope"),
        "{e}"
    );
    // A round trip of a real envelope parses back to itself.
    let env = signed(credit(1, 5, 100), &keys()[..2]);
    assert_eq!(Envelope::from_json(&env.to_json()).unwrap(), env);
}

#[test]
fn credit_for_another_chain_is_wrong_domain_and_changes_nothing() {
    let (mut hub, _, mut b) = setup(1_000_000_000, 0);
    let env = hub.issue_credit(A.chain_id, 100_000_000, 0).unwrap();
    let before = b.state.clone();
    let e = b.accept_credit(&env, 1).unwrap_err();
    assert!(matches!(e, XchainError::WrongDomain { .. }), "{e}");
    assert_unchanged(&b, &before);
    // Re-labelling the envelope for chain B changes the EIP-712 digest, so the guardians'
    // signatures recover to strangers.
    let mut relabelled = env.clone();
    relabelled.chain_id = B.chain_id;
    relabelled.verifying_contract = B.contract;
    if let Payload::MarginCredit(c) = &mut relabelled.payload {
        c.spokeChainId = U256::from(B.chain_id);
    }
    let e = b.accept_credit(&relabelled, 1).unwrap_err();
    assert!(matches!(e, XchainError::UnknownSigner { .. }), "{e}");
    assert_unchanged(&b, &before);
}

#[test]
fn unknown_signer_is_refused() {
    let (_, mut a, _) = setup(1, 0);
    let stranger = GuardianKey::from_label("stranger");
    let env = signed(credit(1, 5, 100), &[keys()[0].clone(), stranger.clone()]);
    let before = a.state.clone();
    let e = a.accept_credit(&env, 1).unwrap_err();
    assert!(
        matches!(e, XchainError::UnknownSigner { index: 1, signer } if signer == stranger.address()),
        "{e}"
    );
    assert_unchanged(&a, &before);
}

#[test]
fn bad_signature_bytes_are_refused() {
    let (_, mut a, _) = setup(1, 0);
    let env = signed(credit(1, 5, 100), &keys()[..2]);
    let before = a.state.clone();
    let mut short = env.clone();
    short.signatures[0] = Bytes::from(env.signatures[0][..64].to_vec());
    let mut bad_v = env.clone();
    let mut b = env.signatures[1].to_vec();
    b[64] = 5;
    bad_v.signatures[1] = Bytes::from(b);
    // High-s twin (s' = n − s, v flipped) recovers the same key but is malleable.
    let mut high_s = env.clone();
    let sig = &env.signatures[0];
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = U256::from_be_slice(&sig[32..64]);
    let mut twin = sig[..32].to_vec();
    twin.extend_from_slice(&(n - s).to_be_bytes::<32>());
    twin.push(if sig[64] == 27 { 28 } else { 27 });
    high_s.signatures[0] = Bytes::from(twin);
    for (env, index) in [(short, 0), (bad_v, 1), (high_s, 0)] {
        let e = a.accept_credit(&env, 1).unwrap_err();
        assert!(
            matches!(e, XchainError::BadSignature { index: i, .. } if i == index),
            "{e}"
        );
        assert_unchanged(&a, &before);
    }
}

#[test]
fn one_guardian_signing_twice_is_no_quorum() {
    let (_, mut a, _) = setup(1, 0);
    let k = keys();
    let mut env = signed(credit(1, 5, 100), &k[..1]);
    env.signatures.push(env.signatures[0].clone());
    let before = a.state.clone();
    let e = a.accept_credit(&env, 1).unwrap_err();
    assert_eq!(
        e,
        XchainError::NoQuorum {
            distinct: 1,
            threshold: 2
        }
    );
    assert_unchanged(&a, &before);
}

#[test]
fn expired_and_stale_credits_are_refused() {
    let (_, mut a, _) = setup(1, 0);
    let k = &keys()[..2];
    let before = a.state.clone();
    let e = a
        .accept_credit(&signed(credit(1, 5, 100), k), 100)
        .unwrap_err();
    assert_eq!(
        e,
        XchainError::Expired {
            expiry_ms: 100,
            now_ms: 100
        }
    );
    assert_unchanged(&a, &before);
    a.accept_credit(&signed(credit(5, 5, 1_000), k), 100)
        .unwrap();
    let before = a.state.clone();
    let e = a
        .accept_credit(&signed(credit(4, 5, 1_000), k), 100)
        .unwrap_err();
    assert!(
        matches!(
            e,
            XchainError::Replay {
                nonce: 4,
                last: 5,
                ..
            }
        ),
        "{e}"
    );
    assert_unchanged(&a, &before);
}

#[test]
fn credit_for_another_account_is_refused() {
    let (_, mut a, _) = setup(1, 0);
    let mut p = credit(1, 5, 100);
    if let Payload::MarginCredit(c) = &mut p {
        c.account = Address::repeat_byte(0x22);
    }
    let before = a.state.clone();
    let e = a.accept_credit(&signed(p, &keys()[..2]), 1).unwrap_err();
    assert!(matches!(e, XchainError::WrongAccount { .. }), "{e}");
    assert_unchanged(&a, &before);
}

#[test]
fn hub_refuses_bad_reports_without_changing_version() {
    let (mut hub, a, _) = setup(1_000_000_000, 0);
    let k = keys();
    let report = Payload::PositionReport(a.report_of(&a.state, 4, 4_000));
    let good = attest(&k[..2], Scheme::Ecdsa, HUB, report.clone()).unwrap();
    hub.on_report(&good).unwrap();
    let v = hub.version();
    // Replay, wrong domain, unknown signer, no quorum.
    assert!(matches!(
        hub.on_report(&good),
        Err(XchainError::Replay { .. })
    ));
    let wrong = attest(&k[..2], Scheme::Ecdsa, A, report.clone()).unwrap();
    assert!(matches!(
        hub.on_report(&wrong),
        Err(XchainError::WrongDomain { .. })
    ));
    let mut forged = attest(&k[..1], Scheme::Ecdsa, HUB, report).unwrap();
    assert!(matches!(
        hub.on_report(&forged),
        Err(XchainError::NoQuorum { .. })
    ));
    forged.signatures.push(
        GuardianKey::from_label("x")
            .sign(Scheme::Ecdsa, &forged.digest())
            .unwrap(),
    );
    assert!(matches!(
        hub.on_report(&forged),
        Err(XchainError::UnknownSigner { .. })
    ));
    assert_eq!(hub.version(), v);
}

#[test]
fn outstanding_credits_reduce_what_can_be_withdrawn_until_a_report_retires_them() {
    // Collateral 1,000 USDC, no haircut: a 300 USDC credit leaves 700 USDC withdrawable.
    let (mut hub, mut a, _) = setup(1_000_000_000, 0);
    let env = hub.issue_credit(A.chain_id, 300_000_000, 0).unwrap();
    assert_eq!(hub.max_withdrawable().unwrap(), 700_000_000);
    a.accept_credit(&env, 10).unwrap();
    // 0.01 BTC at stress 50,000: (0.01×0.05 + 0.01×0.005) × 50,000 = 27.5 USDC, + guard.
    let r = a.submit_order("BTC", 1_000_000, 50_000.0, 20).unwrap();
    assert_eq!(r.charge, 27_500_000 + ROUNDING_GUARD);
    // A report at a block after the credit's expiry retires it: only the book's 27.5 USDC stays.
    let k = keys();
    let rep = attest(
        &k[..2],
        Scheme::Ecdsa,
        HUB,
        Payload::PositionReport(a.report_of(&a.state, 9, 10_001)),
    )
    .unwrap();
    hub.on_report(&rep).unwrap();
    assert_eq!(hub.requirement_bound().unwrap(), 27_500_000);
    assert_eq!(hub.max_withdrawable().unwrap(), 1_000_000_000 - 27_500_000);
}

#[test]
fn a_report_before_expiry_keeps_the_unused_credit_counted() {
    let (mut hub, mut a, _) = setup(1_000_000_000, 0);
    let env = hub.issue_credit(A.chain_id, 300_000_000, 0).unwrap();
    a.accept_credit(&env, 10).unwrap();
    a.submit_order("BTC", 1_000_000, 50_000.0, 20).unwrap();
    let k = keys();
    let rep = attest(
        &k[..2],
        Scheme::Ecdsa,
        HUB,
        Payload::PositionReport(a.report_of(&a.state, 3, 30)),
    )
    .unwrap();
    hub.on_report(&rep).unwrap();
    // The credit is still live at the report's block time, so its unused part stays counted:
    // R(book) + (c − used) = 27,500,000 + (300,000,000 − 27,500,002) = 299,999,998.
    assert_eq!(hub.requirement_bound().unwrap(), 299_999_998);
}

#[test]
fn haircut_and_free_collateral_gate_credits_and_withdrawals() {
    // 1,000 USDC at a 10% haircut counts 900 USDC.
    let (mut hub, _, _) = setup(1_000_000_000, 1_000);
    assert_eq!(hub.effective_collateral(), 900_000_000);
    let v = hub.version();
    let e = hub.issue_credit(A.chain_id, 900_000_001, 0).unwrap_err();
    assert!(
        matches!(
            e,
            XchainError::InsufficientFree {
                free: 900_000_000,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(hub.version(), v);
    hub.issue_credit(A.chain_id, 450_000_000, 0).unwrap();
    // Keep ceil(450/0.9) = 500 USDC: 500 USDC withdrawable.
    assert_eq!(hub.max_withdrawable().unwrap(), 500_000_000);
    assert!(hub.withdraw(500_000_001, ACCOUNT, 0).is_err());
    hub.withdraw(500_000_000, ACCOUNT, 0).unwrap();
    assert_eq!(hub.collateral(), 500_000_000);
}

#[test]
fn rate_limit_and_pause_refuse_credits_without_state_change() {
    let (mut hub, _, _) = setup(100_000_000_000, 0);
    hub.issue_credit(A.chain_id, 1_000_000_000, 0).unwrap();
    let nonce = hub.ledger(A.chain_id).unwrap().credit_nonce;
    let e = hub.issue_credit(A.chain_id, 1, 0).unwrap_err();
    assert!(
        matches!(
            e,
            XchainError::RateLimited {
                spoke: 10,
                available: 0,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(hub.ledger(A.chain_id).unwrap().credit_nonce, nonce);
    // Other spokes have their own bucket; a paused spoke gets nothing.
    hub.set_paused(B.chain_id, true).unwrap();
    assert!(matches!(
        hub.issue_credit(B.chain_id, 1, 0),
        Err(XchainError::Paused { spoke: 42161 })
    ));
    hub.set_paused(B.chain_id, false).unwrap();
    hub.issue_credit(B.chain_id, 1, 0).unwrap();
}

#[test]
fn paused_spoke_accepts_only_risk_reducing_orders_and_charges_them() {
    let (mut hub, mut a, _) = setup(1_000_000_000, 0);
    let env = hub.issue_credit(A.chain_id, 300_000_000, 0).unwrap();
    a.accept_credit(&env, 1).unwrap();
    a.submit_order("BTC", 2_000_000, 50_000.0, 2).unwrap();
    a.state.paused = true;
    let before = a.state.clone();
    assert!(matches!(
        a.submit_order("BTC", 1, 50_000.0, 3),
        Err(XchainError::Paused { .. })
    ));
    assert!(matches!(
        a.submit_order("BTC", -3_000_000, 50_000.0, 3),
        Err(XchainError::Paused { .. })
    ));
    assert_unchanged(&a, &before);
    let r = a.submit_order("BTC", -1_000_000, 50_000.0, 3).unwrap();
    assert!(r.reducing && r.charge > 0);
}

#[test]
fn expired_credit_is_void() {
    let (mut hub, mut a, _) = setup(1_000_000_000, 0);
    let env = hub.issue_credit(A.chain_id, 300_000_000, 0).unwrap();
    a.accept_credit(&env, 1).unwrap();
    let e = a.submit_order("BTC", 1_000, 50_000.0, 10_000).unwrap_err();
    assert!(
        matches!(e, XchainError::InsufficientCredit { available: 0, .. }),
        "{e}"
    );
}
