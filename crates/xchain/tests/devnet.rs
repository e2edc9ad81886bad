//! The devnet on real EVM nodes (anvil): three chains, three guardians, threshold two. Checks
//! deployment.json, then drives a credit end to end over JSON-RPC — deposit and lock on the hub,
//! guardians sign the credit, the spoke accepts it, `creditOf` shows it — and that a forged
//! (sub-quorum) credit and a replay are refused by the nodes, and that every node stops with the
//! devnet.
//!
//! anvil comes from npm (`@foundry-rs/anvil`, installed by `scripts/deps.sh`, which exports
//! `INTERMARGIN_ANVIL` and `INTERMARGIN_REQUIRE_ANVIL=1`); without it locally the test says so and stops.

use std::path::PathBuf;

use alloy_primitives::{keccak256, Address, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use intermargin_xchain::devnet::{find_anvil, Deployment, Devnet, DevnetOptions, Role};
use intermargin_xchain::guardian::GuardianKey;
use intermargin_xchain::rpc::Rpc;
use intermargin_xchain::{domain, MarginCredit, Payload, Scheme, XchainError};

sol! {
    interface IHub {
        function deposit(address account, address token, uint256 amount);
        function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry) returns (uint64);
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function stateVersion(address account) returns (uint64);
    }
    interface ISpoke {
        function acceptCredit(bytes payload, bytes[] signatures);
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
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

/// Whether `eth_call` of `data` fails with the custom error `sig` (its selector in the node's error).
fn reverts_with(rpc: &Rpc, from: Address, to: Address, data: &[u8], sig: &str) -> bool {
    let sel = alloy_primitives::hex::encode(&keccak256(sig)[..4]);
    let call = serde_json::json!([{"from": from, "to": to, "data": format!("0x{}", alloy_primitives::hex::encode(data))}, "latest"]);
    match rpc.call("eth_call", call) {
        Err(XchainError::Rpc { reason, .. }) => reason.contains(&sel),
        other => panic!("expected a revert with {sig}, got {other:?}"),
    }
}

fn word(rpc: &Rpc, to: Address, data: Vec<u8>) -> U256 {
    U256::from_be_slice(&rpc.eth_call(to, &data).unwrap()[..32])
}

#[test]
fn devnet_deploys_three_chains_and_a_credit_crosses_with_a_quorum_only() {
    let Some(anvil) = anvil() else { return };
    let out = std::env::temp_dir().join(format!("intermargin-devnet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let opts = DevnetOptions {
        chains: 3,
        guardians: 3,
        threshold: 2,
        out: out.clone(),
        anvil,
        first_chain_id: 31_337,
        block_time: None,
    };
    let mut net = Devnet::start(&opts).expect("devnet starts");

    // deployment.json as the issue specifies it.
    let d = Deployment::load(&out.join("deployment.json")).unwrap();
    assert_eq!(d, net.deployment);
    assert_eq!(d.chains.len(), 3);
    assert_eq!(d.chains[0].role, Role::Hub);
    assert!(d.chains[1..].iter().all(|c| c.role == Role::Spoke));
    assert_eq!(d.guardians.len(), 3);
    assert_eq!(d.threshold, 2);
    for name in ["MarginHub", "MarginSpoke", "TestToken", "SmartAccount"] {
        assert!(
            d.abi_dir.join(format!("{name}.abi.json")).is_file(),
            "{name} ABI"
        );
    }
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("deployment.json")).unwrap())
            .unwrap();
    assert!(raw["chains"][0]["contracts"]["hub"].is_string());
    assert!(raw["chains"][1]["contracts"]["spoke"].is_string());
    assert!(raw["chains"][2]["contracts"]["collateral_token"].is_string());
    // Guardian keys on disk match the addresses.
    for (i, g) in d.guardians.iter().enumerate() {
        let text =
            std::fs::read_to_string(out.join(format!("guardians/guardian-{i}.key"))).unwrap();
        let secret: [u8; 32] = alloy_primitives::hex::decode(text.trim())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(GuardianKey::from_bytes(&secret).unwrap().address(), *g);
    }

    // A credit from the hub to spoke chain 31338.
    let hub_c = d.hub().clone();
    let spoke_c = d.chains[1].clone();
    let (hub_rpc, spoke_rpc) = (
        Rpc::new(&hub_c.rpc).unwrap(),
        Rpc::new(&spoke_c.rpc).unwrap(),
    );
    let (hub, token) = (
        hub_c.contracts.hub.unwrap(),
        hub_c.contracts.collateral_token,
    );
    let spoke = spoke_c.contracts.spoke.unwrap();
    let user = hub_rpc.accounts().unwrap()[1];
    let send = |rpc: &Rpc, to: Address, data: Vec<u8>| rpc.send(user, Some(to), &data);
    assert!(
        send(
            &hub_rpc,
            token,
            IToken::mintCall {
                to: user,
                amount: U256::from(1_000_000)
            }
            .abi_encode()
        )
        .unwrap()
        .success
    );
    assert!(
        send(
            &hub_rpc,
            token,
            IToken::approveCall {
                spender: hub,
                amount: U256::MAX
            }
            .abi_encode()
        )
        .unwrap()
        .success
    );
    let dep = send(
        &hub_rpc,
        hub,
        IHub::depositCall {
            account: user,
            token,
            amount: U256::from(1_000_000),
        }
        .abi_encode(),
    )
    .unwrap();
    assert!(dep.success);
    assert_eq!(
        word(
            &hub_rpc,
            hub,
            IHub::collateralOfCall {
                account: user,
                token
            }
            .abi_encode()
        ),
        U256::from(1_000_000)
    );
    // Expiry one hour after the hub's latest block time.
    let now = hub_rpc.latest_timestamp().unwrap();
    let expiry = (now + 3_600) * 1_000;
    let lock = send(
        &hub_rpc,
        hub,
        IHub::lockCreditCall {
            spokeChainId: U256::from(spoke_c.chain_id),
            amount: U256::from(400_000),
            expiry,
        }
        .abi_encode(),
    )
    .unwrap();
    assert!(lock.success);
    let topic = keccak256("CreditLocked(address,uint256,uint64,uint256,uint64,uint64)");
    let (_, data) = lock
        .logs
        .iter()
        .find(|(t, _)| t.first() == Some(&topic))
        .expect("CreditLocked")
        .clone();
    let (nonce, amount, exp, version) = <(u64, U256, u64, u64)>::abi_decode_params(&data).unwrap();
    assert_eq!((nonce, amount, exp), (1, U256::from(400_000), expiry));
    assert_eq!(
        word(
            &hub_rpc,
            hub,
            IHub::outstandingCreditCall {
                account: user,
                spokeChainId: U256::from(spoke_c.chain_id)
            }
            .abi_encode()
        ),
        U256::from(400_000)
    );
    let credit = MarginCredit {
        account: user,
        spokeChainId: U256::from(spoke_c.chain_id),
        amount,
        nonce,
        expiry: exp,
        hubStateVersion: version,
    };
    let digest =
        Payload::MarginCredit(credit.clone()).signing_hash(&domain(spoke_c.chain_id, spoke));
    let sig = |i: usize| net.guardian_keys[i].sign(Scheme::Ecdsa, &digest).unwrap();
    let accept = |sigs| {
        ISpoke::acceptCreditCall {
            payload: credit.abi_encode().into(),
            signatures: sigs,
        }
        .abi_encode()
    };
    let relayer = spoke_rpc.accounts().unwrap()[2];

    // Forged: one guardian only. Mined as a reverted transaction; the node's eth_call names the error.
    let forged = accept(vec![sig(0)]);
    let r = spoke_rpc.send(relayer, Some(spoke), &forged).unwrap();
    assert!(!r.success, "a sub-quorum credit must revert");
    assert!(reverts_with(
        &spoke_rpc,
        relayer,
        spoke,
        &forged,
        "BelowThreshold(uint256,uint256)"
    ));
    // Quorum: accepted, and creditOf shows it.
    let ok = spoke_rpc
        .send(relayer, Some(spoke), &accept(vec![sig(2), sig(0)]))
        .unwrap();
    assert!(ok.success);
    eprintln!("acceptCredit on anvil: {} gas", ok.gas_used);
    let out_words = spoke_rpc
        .eth_call(spoke, &ISpoke::creditOfCall { account: user }.abi_encode())
        .unwrap();
    let (a, x, n) = <(U256, u64, u64)>::abi_decode_params(&out_words).unwrap();
    assert_eq!((a, x, n), (U256::from(400_000), expiry, 1));
    // Replay with other signers: reverted.
    let replayed = accept(vec![sig(0), sig(1)]);
    assert!(
        !spoke_rpc
            .send(relayer, Some(spoke), &replayed)
            .unwrap()
            .success
    );
    assert!(reverts_with(
        &spoke_rpc,
        relayer,
        spoke,
        &replayed,
        "Replay(uint64,uint64)"
    ));

    // Stopping the devnet stops its nodes.
    net.stop();
    assert!(hub_rpc.chain_id().is_err());
    assert!(spoke_rpc.chain_id().is_err());
    let _ = std::fs::remove_dir_all(&out);
}
