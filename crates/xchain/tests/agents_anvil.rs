//! The guardian and relayer agents on real EVM nodes (anvil, automining):
//! - a credit relayed to a spoke and then reorged out within the finality depth is re-sent by the
//!   relayer (whose own nonce the reorg left ahead of the chain: a gap it re-syncs) and accepted
//!   exactly once; a nonce used behind the relayer's back ("nonce too low") is re-synced too;
//! - guardians re-value the account with the unified model over the spoke's final
//!   `PositionReport`s and sign a `WithdrawalPermit` only while collateral − amount covers both the
//!   outstanding credits and that requirement: one unit more is refused, the boundary is signed
//!   and paid on chain.
//!
//! anvil comes from `scripts/deps.sh` (`INTERMARGIN_ANVIL`, `INTERMARGIN_REQUIRE_ANVIL=1`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use alloy_primitives::{keccak256, Address, Bytes, I256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use intermargin_xchain::agents::{
    GuardianAgent, PermitDecision, PermitRequest, Relayed, RelayerAgent,
};
use intermargin_xchain::devnet::{find_anvil, Devnet, DevnetOptions};
use intermargin_xchain::rpc::Rpc;
use intermargin_xchain::txsign::TxSender;
use intermargin_xchain::{Book, RequirementModel, UnifiedSpokeModel};

sol! {
    interface IHub {
        function deposit(address account, address token, uint256 amount);
        function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry) returns (uint64);
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function withdraw(bytes payload, bytes[] signatures, bytes accountSignature);
    }
    interface ISpoke {
        struct Pos { string underlying; int256 size; }
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function setTrader(address trader, bool allowed);
        function draw(address account, uint256 amount);
        function reportPositions(address account, Pos[] positions, int256 realisedPnl);
        function releaseCredit(address account, uint64 creditNonce);
    }
    interface IToken {
        function mint(address to, uint256 amount);
        function approve(address spender, uint256 amount) returns (bool);
    }
}

fn anvil() -> Option<PathBuf> {
    match find_anvil(None) {
        Ok(p) => Some(p),
        Err(e) => {
            assert!(
                std::env::var("INTERMARGIN_REQUIRE_ANVIL").as_deref() != Ok("1"),
                "{e} (run scripts/deps.sh)"
            );
            eprintln!("skipped: {e}");
            None
        }
    }
}

struct Net {
    net: Devnet,
    hub_rpc: Rpc,
    spoke_rpc: Rpc,
    hub: Address,
    token: Address,
    spoke: Address,
    spoke_id: u64,
    user: Address,
    dir: PathBuf,
    guardians: Vec<GuardianAgent>,
}

const FINALITY: u64 = 2;

fn start(tag: &str) -> Option<Net> {
    let anvil = anvil()?;
    let out = std::env::temp_dir().join(format!("intermargin-agents-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let net = Devnet::start(&DevnetOptions {
        chains: 2,
        guardians: 3,
        threshold: 2,
        out: out.clone(),
        anvil,
        first_chain_id: 31_337,
        block_time: None,
    })
    .expect("devnet starts");
    let d = net.deployment.clone();
    let hub_rpc = Rpc::new(&d.chains[0].rpc).unwrap();
    let spoke_rpc = Rpc::new(&d.chains[1].rpc).unwrap();
    let user = hub_rpc.accounts().unwrap()[1];
    let dir = out.join("signatures");
    let guardians = net
        .guardian_keys
        .iter()
        .map(|k| GuardianAgent::new(k.clone(), d.clone(), dir.clone(), FINALITY).unwrap())
        .collect();
    Some(Net {
        hub: d.chains[0].contracts.hub.unwrap(),
        token: d.chains[0].contracts.collateral_token,
        spoke: d.chains[1].contracts.spoke.unwrap(),
        spoke_id: d.chains[1].chain_id,
        net,
        hub_rpc,
        spoke_rpc,
        user,
        dir,
        guardians,
    })
}

impl Net {
    fn tx(&self, rpc: &Rpc, from: Address, to: Address, data: Vec<u8>) {
        let r = rpc.send(from, Some(to), &data).unwrap();
        assert!(r.success, "transaction to {to} reverted");
    }

    fn deposit_and_lock(&self, deposit: u64, credit: u64) -> u64 {
        let (user, hub, token) = (self.user, self.hub, self.token);
        let amount = U256::from(deposit);
        self.tx(
            &self.hub_rpc,
            user,
            token,
            IToken::mintCall { to: user, amount }.abi_encode(),
        );
        self.tx(
            &self.hub_rpc,
            user,
            token,
            IToken::approveCall {
                spender: hub,
                amount,
            }
            .abi_encode(),
        );
        self.tx(
            &self.hub_rpc,
            user,
            hub,
            IHub::depositCall {
                account: user,
                token,
                amount,
            }
            .abi_encode(),
        );
        self.lock(credit)
    }

    fn lock(&self, credit: u64) -> u64 {
        let expiry = (self.hub_rpc.latest_timestamp().unwrap() + 3_600) * 1_000;
        self.tx(
            &self.hub_rpc,
            self.user,
            self.hub,
            IHub::lockCreditCall {
                spokeChainId: U256::from(self.spoke_id),
                amount: U256::from(credit),
                expiry,
            }
            .abi_encode(),
        );
        expiry
    }

    /// Buries everything `FINALITY` deep and lets every guardian sign.
    fn guardians_sign(&mut self) {
        self.hub_rpc.mine(FINALITY).unwrap();
        self.spoke_rpc.mine(FINALITY).unwrap();
        for g in &mut self.guardians {
            g.step().unwrap();
        }
    }

    fn credit_of(&self) -> (U256, u64, u64) {
        let out = self
            .spoke_rpc
            .eth_call(
                self.spoke,
                &ISpoke::creditOfCall { account: self.user }.abi_encode(),
            )
            .unwrap();
        <(U256, u64, u64)>::abi_decode_params(&out).unwrap()
    }

    fn word(&self, rpc: &Rpc, to: Address, data: Vec<u8>) -> U256 {
        U256::from_be_slice(&rpc.eth_call(to, &data).unwrap()[..32])
    }

    fn collateral(&self) -> U256 {
        self.word(
            &self.hub_rpc,
            self.hub,
            IHub::collateralOfCall {
                account: self.user,
                token: self.token,
            }
            .abi_encode(),
        )
    }

    fn outstanding(&self) -> U256 {
        self.word(
            &self.hub_rpc,
            self.hub,
            IHub::outstandingCreditCall {
                account: self.user,
                spokeChainId: U256::from(self.spoke_id),
            }
            .abi_encode(),
        )
    }

    /// `CreditAccepted` events of the user on the spoke (the canonical chain's).
    fn accepted_events(&self) -> usize {
        let topic = keccak256("CreditAccepted(address,uint64,uint256,uint64,uint64)");
        let v = self
            .spoke_rpc
            .call(
                "eth_getLogs",
                serde_json::json!([{"address": self.spoke, "topics": [topic, self.user.into_word()], "fromBlock": "0x0", "toBlock": "latest"}]),
            )
            .unwrap();
        v.as_array().unwrap().len()
    }
}

#[test]
fn a_credit_reorged_out_within_finality_is_resent_and_accepted_once() {
    let Some(mut n) = start("reorg") else { return };
    let d = n.net.deployment.clone();
    let expiry = n.deposit_and_lock(1_000, 600);
    n.guardians_sign();
    let mut relayer = RelayerAgent::new(d, n.dir.clone())
        .with_key(n.net.relayer_key)
        .unwrap()
        .with_finality(FINALITY);
    let me = relayer.address().unwrap();
    let first = match relayer.step().unwrap().as_slice() {
        [Relayed::Delivered { tx_hash, .. }] => *tx_hash,
        other => panic!("expected one delivery, got {other:?}"),
    };
    assert_eq!(n.credit_of(), (U256::from(600), expiry, 1));
    assert_eq!(n.spoke_rpc.nonce(me, "latest").unwrap(), 1);
    // Not final yet (one block on top of it): a reorg of depth 2 <= finality drops it.
    n.spoke_rpc.mine(1).unwrap();
    assert!(relayer.step().unwrap().is_empty(), "not final yet");
    n.spoke_rpc.reorg(2, &[]).unwrap();
    assert!(n.spoke_rpc.try_receipt(first).unwrap().is_none());
    assert_eq!(n.credit_of().2, 0, "the acceptance was reorged out");
    assert_eq!(
        n.spoke_rpc.nonce(me, "latest").unwrap(),
        0,
        "so was the relayer's nonce"
    );
    // The relayer notices (receipt gone), re-syncs its nonce (gap) and sends again.
    let resyncs = relayer.nonce_resyncs();
    match relayer.step().unwrap().as_slice() {
        [Relayed::Resubmitted { dropped, .. }] => assert_eq!(*dropped, first),
        other => panic!("expected a re-submission, got {other:?}"),
    }
    assert!(
        relayer.nonce_resyncs() > resyncs,
        "the nonce gap was re-synced"
    );
    assert_eq!(n.credit_of(), (U256::from(600), expiry, 1));
    assert_eq!(n.spoke_rpc.nonce(me, "latest").unwrap(), 1);
    n.spoke_rpc.mine(FINALITY).unwrap();
    let second = match relayer.step().unwrap().as_slice() {
        [Relayed::Final { tx_hash, .. }] => *tx_hash,
        other => panic!("expected finality, got {other:?}"),
    };
    assert_ne!(second, first);
    assert!(relayer.step().unwrap().is_empty());
    assert_eq!(
        n.accepted_events(),
        1,
        "accepted exactly once on the canonical chain"
    );

    // "nonce too low": the relayer's key used behind its back; the next delivery re-syncs.
    let expiry2 = n.lock(100);
    n.guardians_sign();
    let mut other = TxSender::new(&n.net.relayer_key).unwrap();
    let spoke_id = n.spoke_id;
    let r = other.send(&n.spoke_rpc, spoke_id, me, &[]).unwrap();
    assert!(r.success);
    let resyncs = relayer.nonce_resyncs();
    match relayer.step().unwrap().as_slice() {
        [Relayed::Delivered { .. }] => {}
        other => panic!("expected a delivery, got {other:?}"),
    }
    assert!(
        relayer.nonce_resyncs() > resyncs,
        "nonce too low was re-synced"
    );
    assert_eq!(n.credit_of(), (U256::from(100), expiry2, 2));
    assert_eq!(n.accepted_events(), 2);
    // A hand-set gap ahead of the chain (as a dropped transaction leaves) is re-synced as well.
    relayer.sender_mut(spoke_id).unwrap().set_nonce(50);
    let expiry3 = n.lock(50);
    n.guardians_sign();
    n.spoke_rpc.mine(FINALITY).unwrap();
    let out = relayer.step().unwrap();
    assert!(
        out.iter().any(|r| matches!(r, Relayed::Delivered { .. })),
        "{out:?}"
    );
    assert_eq!(n.credit_of(), (U256::from(50), expiry3, 3));
}

#[test]
fn guardians_sign_a_permit_only_while_the_unified_invariant_holds() {
    let Some(mut n) = start("permit") else { return };
    let d = n.net.deployment.clone();
    let unit = 1_000_000u64; // TUSD has 6 decimals
    n.deposit_and_lock(10_000 * unit, 4_000 * unit);
    n.guardians_sign();
    let mut relayer = RelayerAgent::new(d, n.dir.clone())
        .with_key(n.net.relayer_key)
        .unwrap()
        .with_finality(FINALITY);
    relayer.step().unwrap();
    assert_eq!(n.credit_of().2, 1);
    let expiry = (n.hub_rpc.latest_timestamp().unwrap() + 600) * 1_000;
    let user = n.user;
    let req = |amount: U256| PermitRequest {
        account: user,
        recipient: user,
        amount,
        expiry,
    };
    // Outstanding credit 4,000 of collateral 10,000: at most 6,000 may leave.
    let coll = n.collateral();
    assert_eq!(coll, U256::from(10_000 * unit));
    assert_eq!(n.outstanding(), U256::from(4_000 * unit));
    for g in &n.guardians {
        match g.decide_permit(&req(U256::from(6_000 * unit + 1))).unwrap() {
            PermitDecision::Refused(why) => {
                assert!(why.starts_with("outstanding credit"), "{why}")
            }
            other => panic!("must refuse: {other:?}"),
        }
    }

    // A position on the spoke: 0.05 BTC drawn against the credit and reported.
    let prices: BTreeMap<String, f64> = [("BTC".to_string(), 60_000.0)].into_iter().collect();
    let model = UnifiedSpokeModel::standard(6, 6);
    let size: i128 = 50_000; // 0.05 BTC in 1e-6 units
    let book: Book = [(
        n.spoke_id,
        [("BTC".to_string(), size)].into_iter().collect(),
    )]
    .into_iter()
    .collect();
    let r = model.requirement(&book, &prices).unwrap();
    // The unified requirement of 3,000 notional: positive and below the notional (so within
    // the 4,000 credit).
    assert!(r > 0 && r < 3_000 * u128::from(unit), "{r}");
    let trader = n.spoke_rpc.accounts().unwrap()[0];
    n.tx(
        &n.spoke_rpc,
        trader,
        n.spoke,
        ISpoke::setTraderCall {
            trader,
            allowed: true,
        }
        .abi_encode(),
    );
    n.tx(
        &n.spoke_rpc,
        trader,
        n.spoke,
        ISpoke::drawCall {
            account: n.user,
            amount: U256::from(r),
        }
        .abi_encode(),
    );
    n.tx(
        &n.spoke_rpc,
        trader,
        n.spoke,
        ISpoke::reportPositionsCall {
            account: n.user,
            positions: vec![ISpoke::Pos {
                underlying: "BTC".into(),
                size: I256::try_from(size).unwrap(),
            }],
            realisedPnl: I256::ZERO,
        }
        .abi_encode(),
    );
    // The account releases its credit on the spoke; the release is attested and retired.
    n.tx(
        &n.spoke_rpc,
        n.user,
        n.spoke,
        ISpoke::releaseCreditCall {
            account: n.user,
            creditNonce: 1,
        }
        .abi_encode(),
    );
    for g in &mut n.guardians {
        g.set_prices(prices.clone());
    }
    n.guardians_sign();
    relayer.step().unwrap();
    assert_eq!(
        n.outstanding(),
        U256::ZERO,
        "the credit was retired at the hub"
    );
    // Guardians judge on the final block too: the retirement counts once it is final.
    let max = coll - U256::from(r);
    match n.guardians[0].decide_permit(&req(max)).unwrap() {
        PermitDecision::Refused(why) => assert!(why.starts_with("outstanding credit"), "{why}"),
        other => panic!("the retirement is not final yet: {other:?}"),
    }
    n.hub_rpc.mine(FINALITY).unwrap();
    for g in &n.guardians {
        assert_eq!(
            g.requirement_of(n.user).unwrap(),
            r,
            "guardian read the final report"
        );
    }
    // No credit left, but the position's unified requirement stays: collateral − r may leave.
    for g in &n.guardians {
        match g.decide_permit(&req(max + U256::from(1))).unwrap() {
            PermitDecision::Refused(why) => {
                assert!(why.starts_with("unified requirement"), "{why}")
            }
            other => panic!("must refuse one unit above the requirement: {other:?}"),
        }
    }
    let mut sigs = Vec::new();
    let mut permit = None;
    for g in &n.guardians[..2] {
        match g.decide_permit(&req(max)).unwrap() {
            PermitDecision::Signed(p, s) => {
                sigs.push(s);
                permit = Some(p);
            }
            other => panic!("the boundary must be signed: {other:?}"),
        }
    }
    let permit = permit.unwrap();
    n.tx(
        &n.hub_rpc,
        n.user,
        n.hub,
        IHub::withdrawCall {
            payload: permit.abi_encode().into(),
            signatures: sigs,
            accountSignature: Bytes::new(),
        }
        .abi_encode(),
    );
    assert_eq!(
        n.collateral(),
        U256::from(r),
        "exactly the requirement is left"
    );
    // A price rise raises the requirement above what is left: nothing more may leave.
    let up: BTreeMap<String, f64> = [("BTC".to_string(), 66_000.0)].into_iter().collect();
    for g in &mut n.guardians {
        g.set_prices(up.clone());
        assert!(matches!(
            g.decide_permit(&req(U256::from(1))).unwrap(),
            PermitDecision::Refused(_)
        ));
    }
}

/// A guardian raises its own alarm when a block it had seen final changes (a reorg deeper than
/// its finality depth), signs nothing and refuses permits while it stands (also after a restart,
/// from its alarm file), and signs again once cleared; a reorg within the finality depth raises
/// nothing.
#[test]
fn guardians_raise_their_own_alarm_on_a_reorg_past_finality() {
    let Some(mut n) = start("alarm") else { return };
    n.spoke_rpc.mine(6).unwrap();
    n.hub_rpc.mine(6).unwrap();
    for g in &mut n.guardians {
        g.step().unwrap();
        assert!(g.alarm().is_none());
    }
    // Within the finality depth (2 ≤ 2): the final blocks stand.
    n.spoke_rpc.reorg(FINALITY, &[]).unwrap();
    assert_eq!(n.guardians[0].check_alarm().unwrap(), None);
    // Past it: the block at latest − finality (tracked as final) is replaced.
    n.spoke_rpc.reorg(FINALITY + 2, &[]).unwrap();
    let a = n.guardians[0]
        .step()
        .map(|_| n.guardians[0].alarm().map(str::to_string))
        .unwrap();
    let a = a.expect("alarm raised");
    assert!(
        a.contains("deep reorg") && a.contains(&n.spoke_id.to_string()),
        "{a}"
    );
    let me = n.guardians[0].address();
    assert!(n.dir.join(format!("alarm-{me}.txt")).exists());
    // While it stands: a credit lock is not signed, a permit is refused.
    let expiry = n.deposit_and_lock(10_000, 4_000);
    let _ = expiry;
    n.hub_rpc.mine(FINALITY).unwrap();
    assert_eq!(n.guardians[0].step().unwrap(), 0);
    let sig = n
        .dir
        .join(format!("credit-{}-{}-1", n.spoke_id, n.user))
        .join(format!("{me}.sig"));
    assert!(!sig.exists());
    let d = n.guardians[0]
        .decide_permit(&PermitRequest {
            account: n.user,
            recipient: n.user,
            amount: U256::from(1),
            expiry: u64::MAX / 2,
        })
        .unwrap();
    assert!(
        matches!(&d, PermitDecision::Refused(r) if r.contains("alarm")),
        "{d:?}"
    );
    // A restarted guardian process keeps the alarm (its file).
    let restarted = GuardianAgent::new(
        n.net.guardian_keys[0].clone(),
        n.net.deployment.clone(),
        n.dir.clone(),
        FINALITY,
    )
    .unwrap();
    assert_eq!(restarted.alarm(), Some(a.as_str()));
    // Cleared: it signs the lock.
    n.guardians[0].clear_alarm();
    assert!(!n.dir.join(format!("alarm-{me}.txt")).exists());
    assert!(n.guardians[0].step().unwrap() >= 1);
    assert!(sig.exists());
}
