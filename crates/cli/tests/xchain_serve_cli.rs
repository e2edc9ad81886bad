//! `intermargin serve --xchain DIR/deployment.json` against a real devnet (`xchain devnet`: three
//! anvil nodes, three guardian processes with threshold 2, a relayer process):
//! - collateral deposited on the hub chain shows in `GET /api/v1/xchain`;
//! - a credit line on venue `chain:<spoke>` is issued on chain through the guardians: the API
//!   answers once the spoke's acceptance is final, and the spoke's `creditOf` and the hub's
//!   `outstandingCredit` equal the ledger's line; the panel's numbers equal the on-chain views;
//! - attacks are refused with the right status and message: a read-only key, another account's
//!   key, a credit above the headroom, a chain that is not a spoke of the deployment, the hub
//!   chain, a wrong asset, a replayed request (same key: the stored answer, no second credit;
//!   a new key: 409), and guardians that refuse (an account with positions they cannot value):
//!   the credit is voided on chain and the ledger's lines are unchanged;
//! - a restart (SIGKILL) reconciles the ledger with the chains; the release retires the credit
//!   at the hub and removes the line.
//!
//! anvil comes from `scripts/deps.sh` (`INTERMARGIN_ANVIL`, `INTERMARGIN_REQUIRE_ANVIL=1`);
//! without it locally the test says so and stops.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, I256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use intermargin_xchain::rpc::Rpc;
use serde_json::{json, Value};

use common::http;

sol! {
    struct Position { string underlying; int256 size; }
    interface IHub {
        function deposit(address account, address token, uint256 amount);
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function creditNonce(address account, uint256 spokeChainId) returns (uint64);
    }
    interface ISpoke {
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function available(address account) returns (uint256);
        function setTrader(address trader, bool allowed);
        function reportPositions(address account, Position[] positions, int256 realisedPnl);
    }
    interface IToken {
        function mint(address to, uint256 amount);
        function approve(address spender, uint256 amount) returns (bool);
    }
}

const ADMIN: &str = "im_xchainserve00016_00112233445566778899aabbccddeeff00112233445566";
/// 10,000 TUSD (6 decimals).
const DEPOSIT: u128 = 10_000_000_000;
/// 4,000 TUSD.
const CREDIT: u128 = 4_000_000_000;

fn anvil() -> Option<PathBuf> {
    let p = std::env::var_os("INTERMARGIN_ANVIL").map(PathBuf::from);
    let found = p.filter(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("anvil"))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("INTERMARGIN_REQUIRE_ANVIL").as_deref() != Ok("1"),
            "anvil not found (run scripts/deps.sh)"
        );
        eprintln!("skipped: anvil not installed (scripts/deps.sh installs @foundry-rs/anvil)");
    }
    found
}

/// The devnet process; SIGTERM and wait on drop (it stops its nodes and agents).
struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn word(rpc: &Rpc, to: Address, data: Vec<u8>) -> U256 {
    let out = rpc.eth_call(to, &data).unwrap();
    U256::from_be_slice(&out[..32])
}

fn send(rpc: &Rpc, from: Address, to: Address, data: Vec<u8>) {
    let r = rpc.send(from, Some(to), &data).unwrap();
    assert!(r.success, "transaction {} reverted", r.tx_hash);
}

fn base(v: &Value) -> u128 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a base-unit string: {v}"))
        .parse()
        .unwrap()
}

fn credit_body(venue: &str, asset: &str, amount: &str) -> Value {
    json!({"venue": venue, "asset": asset, "amount": amount})
}

#[test]
fn serve_xchain_issues_and_releases_credits_on_chain_through_the_guardians() {
    let Some(anvil) = anvil() else { return };
    let out = std::env::temp_dir().join(format!("intermargin-xchain-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let child = Command::new(env!("CARGO_BIN_EXE_intermargin"))
        .args([
            "xchain",
            "devnet",
            "--chains",
            "3",
            "--guardians",
            "3",
            "--threshold",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--anvil")
        .arg(&anvil)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _devnet = Devnet(child);
    let path = out.join("deployment.json");
    wait_for(120, "deployment.json", || path.exists().then_some(()));
    std::thread::sleep(Duration::from_millis(500));
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let hub_rpc = Rpc::new(d["chains"][0]["rpc"].as_str().unwrap()).unwrap();
    let hub: Address = d["chains"][0]["contracts"]["hub"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let token: Address = d["chains"][0]["contracts"]["collateral_token"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let spoke_id = d["chains"][1]["chain_id"].as_u64().unwrap();
    let spoke_rpc = Rpc::new(d["chains"][1]["rpc"].as_str().unwrap()).unwrap();
    let spoke: Address = d["chains"][1]["contracts"]["spoke"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let spoke2_id = d["chains"][2]["chain_id"].as_u64().unwrap();
    let spoke2_rpc = Rpc::new(d["chains"][2]["rpc"].as_str().unwrap()).unwrap();
    let spoke2: Address = d["chains"][2]["contracts"]["spoke"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hub_id = d["chains"][0]["chain_id"].as_u64().unwrap();

    let data = tempfile::tempdir().unwrap();
    let deployment = path.display().to_string();
    let extra = [
        "--no-demo-plots",
        "--xchain",
        &deployment,
        "--xchain-timeout",
        "60",
    ];
    let mut server = common::start(data.path(), None, ADMIN, &extra);
    let addr = server.addr.clone();
    let call = |key: &str, m: &str, p: &str, idem: Option<&str>, b: Option<&Value>| {
        http(&addr, key, m, p, idem, b).unwrap()
    };
    for id in ["alice", "bob"] {
        let (s, _) = call(
            ADMIN,
            "POST",
            "/api/v1/accounts",
            Some(id),
            Some(&json!({"id": id})),
        );
        assert_eq!(s, 201);
    }
    let key = |scope: &str| -> String {
        let (s, v) = call(
            ADMIN,
            "POST",
            "/api/v1/keys",
            None,
            Some(&json!({"scope": scope})),
        );
        assert_eq!(s, 201, "{v}");
        v["key"].as_str().unwrap().to_string()
    };
    let viewer = key("read-only");
    let bob_key = key("bob");
    let operator = key("operator");

    // The accounts' on-chain addresses, from the panel.
    let (s, panel) = call(ADMIN, "GET", "/api/v1/xchain", None, None);
    assert_eq!(s, 200, "{panel}");
    assert_eq!(panel["symbol"], "TUSD");
    let address_of = |panel: &Value, id: &str| -> Address {
        panel["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == id)
            .unwrap()["address"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let alice = address_of(&panel, "alice");
    let bob = address_of(&panel, "bob");
    assert_ne!(alice, bob);

    // Deposit on the hub chain: the devnet's admin mints, approves and deposits for alice and bob.
    let minter = hub_rpc.accounts().unwrap()[0];
    send(
        &hub_rpc,
        minter,
        token,
        IToken::mintCall {
            to: minter,
            amount: U256::from(2 * DEPOSIT),
        }
        .abi_encode(),
    );
    send(
        &hub_rpc,
        minter,
        token,
        IToken::approveCall {
            spender: hub,
            amount: U256::from(2 * DEPOSIT),
        }
        .abi_encode(),
    );
    for who in [alice, bob] {
        send(
            &hub_rpc,
            minter,
            hub,
            IHub::depositCall {
                account: who,
                token,
                amount: U256::from(DEPOSIT),
            }
            .abi_encode(),
        );
    }
    let coll = |who: Address| {
        word(
            &hub_rpc,
            hub,
            IHub::collateralOfCall {
                account: who,
                token,
            }
            .abi_encode(),
        )
    };
    assert_eq!(coll(alice), U256::from(DEPOSIT));
    // Deposits are counted once final (2 blocks at 1 s).
    std::thread::sleep(Duration::from_secs(3));

    let credits = "/api/v1/accounts/alice/credits".to_string();
    let venue = format!("chain:{spoke_id}");
    let amount = CREDIT.to_string();
    let body = credit_body(&venue, "TUSD", &amount);
    let nonce_at_hub = |who: Address, chain: u64| {
        word(
            &hub_rpc,
            hub,
            IHub::creditNonceCall {
                account: who,
                spokeChainId: U256::from(chain),
            }
            .abi_encode(),
        )
    };

    // --- attacks, before any credit ---
    let (s, v) = call(&viewer, "POST", &credits, Some("v1"), Some(&body));
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("operator or admin"),
        "{v}"
    );
    // Another account's key cannot see alice at all (same answer as a missing account) …
    let (s, v) = call(&bob_key, "POST", &credits, Some("b1"), Some(&body));
    assert_eq!(s, 404, "{v}");
    // … nor issue a credit to itself: an account cannot pledge its own collateral.
    let (s, v) = call(
        &bob_key,
        "POST",
        "/api/v1/accounts/bob/credits",
        Some("b2"),
        Some(&body),
    );
    assert_eq!(s, 403, "{v}");
    // Above the headroom (collateral 10,000 TUSD, nothing outstanding).
    let over = credit_body(&venue, "TUSD", &(DEPOSIT + 1).to_string());
    let (s, v) = call(ADMIN, "POST", &credits, Some("o1"), Some(&over));
    assert_eq!(s, 409, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("headroom") && m.contains("10000.000000 TUSD"),
        "{m}"
    );
    assert_eq!(v["error"]["field"], "body.amount");
    // A chain that is not a spoke of the deployment, and the hub chain.
    let (s, v) = call(
        ADMIN,
        "POST",
        &credits,
        Some("x1"),
        Some(&credit_body("chain:99999", "TUSD", &amount)),
    );
    assert_eq!(s, 400, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("99999 is not a spoke chain") && m.contains(&venue),
        "{m}"
    );
    let (s, v) = call(
        ADMIN,
        "POST",
        &credits,
        Some("x2"),
        Some(&credit_body(&format!("chain:{hub_id}"), "TUSD", &amount)),
    );
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("hub chain"),
        "{v}"
    );
    let (s, v) = call(
        ADMIN,
        "POST",
        &credits,
        Some("x3"),
        Some(&credit_body(&venue, "BTC", &amount)),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["field"], "body.asset");
    // None of them locked anything at the hub.
    assert_eq!(nonce_at_hub(alice, spoke_id), U256::ZERO);

    // --- issue 4,000 TUSD on the first spoke (an operator key) ---
    let started = Instant::now();
    let (s, issued) = call(&operator, "POST", &credits, Some("c1"), Some(&body));
    assert_eq!(s, 200, "{issued}");
    eprintln!(
        "credit accepted at finality in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(issued["kind"], "xchain_credit");
    let p = &issued["payload"];
    assert_eq!(p["state"], "accepted");
    assert_eq!(p["venue"], venue.as_str());
    assert_eq!(base(&p["amount_base"]), CREDIT);
    assert_eq!(p["amount_human"], "4000.000000 TUSD");
    assert_eq!(p["nonce"], 1);
    // The spoke's view equals the ledger's line, and the acceptance is final.
    let (amt, _expiry, nonce) = <(U256, u64, u64)>::abi_decode_params(
        &spoke_rpc
            .eth_call(spoke, &ISpoke::creditOfCall { account: alice }.abi_encode())
            .unwrap(),
    )
    .unwrap();
    assert_eq!((amt, nonce), (U256::from(CREDIT), 1));
    let accept_tx = p["accept_tx"].as_str().unwrap().parse().unwrap();
    let receipt = spoke_rpc
        .try_receipt(accept_tx)
        .unwrap()
        .expect("accept tx mined");
    assert!(receipt.success);
    assert!(spoke_rpc.block_number().unwrap() >= receipt.block_number + 2);
    assert_eq!(
        word(
            &hub_rpc,
            hub,
            IHub::outstandingCreditCall {
                account: alice,
                spokeChainId: U256::from(spoke_id)
            }
            .abi_encode()
        ),
        U256::from(CREDIT)
    );
    // Two guardian processes signed it (no test code signs anything).
    let sig_dir = out
        .join("signatures")
        .join(format!("credit-{spoke_id}-{alice}-1"));
    let sigs = std::fs::read_dir(&sig_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sig")
        })
        .count();
    assert!(sigs >= 2, "{sigs} signatures in {}", sig_dir.display());
    let (s, v) = call(ADMIN, "GET", &credits, None, None);
    assert_eq!(s, 200);
    let line = v["credits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["venue"] == venue.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (line["state"].clone(), base(&line["amount"])),
        (json!("accepted"), CREDIT)
    );

    // --- replays ---
    let (s, again) = call(&operator, "POST", &credits, Some("c1"), Some(&body));
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        again["seq"], issued["seq"],
        "the stored answer, not a new credit"
    );
    let (s, v) = call(&operator, "POST", &credits, Some("c2"), Some(&body));
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already has a credit"),
        "{v}"
    );
    let (s, v) = call(
        &operator,
        "POST",
        &credits,
        Some("c1"),
        Some(&credit_body(&venue, "TUSD", "5")),
    );
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["field"], "Idempotency-Key");
    assert_eq!(
        nonce_at_hub(alice, spoke_id),
        U256::from(1),
        "no second lock at the hub"
    );

    // Above what is left (6,000 TUSD) on the other spoke.
    let over = credit_body(
        &format!("chain:{spoke2_id}"),
        "TUSD",
        &(DEPOSIT - CREDIT + 1).to_string(),
    );
    let (s, v) = call(ADMIN, "POST", &credits, Some("o2"), Some(&over));
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("6000.000000 TUSD"),
        "{v}"
    );

    // --- the panel equals the on-chain views ---
    let check_panel = |expect_out: u128| {
        let (s, panel) = call(ADMIN, "GET", "/api/v1/xchain", None, None);
        assert_eq!(s, 200, "{panel}");
        assert_eq!(panel["reconciled"], true);
        assert_eq!(panel["issues"], json!([]), "{panel}");
        let chains = panel["chains"].as_array().unwrap();
        let total_coll = coll(alice) + coll(bob);
        let total_out = word(
            &hub_rpc,
            hub,
            IHub::totalOutstandingCall { account: alice }.abi_encode(),
        ) + word(
            &hub_rpc,
            hub,
            IHub::totalOutstandingCall { account: bob }.abi_encode(),
        );
        assert_eq!(U256::from(expect_out), total_out);
        let h = &chains[0];
        assert_eq!(h["role"], "hub");
        assert_eq!(U256::from(base(&h["collateral_base"])), total_coll);
        assert_eq!(U256::from(base(&h["outstanding_base"])), total_out);
        assert_eq!(
            U256::from(base(&h["headroom_base"])),
            total_coll - total_out
        );
        assert!(h["latest_block"].as_u64().unwrap() >= h["final_block"].as_u64().unwrap() + 2);
        assert_eq!(h["status"], "ok");
        for (c, rpc, addr) in [
            (&chains[1], &spoke_rpc, spoke),
            (&chains[2], &spoke2_rpc, spoke2),
        ] {
            let id = c["chain_id"].as_u64().unwrap();
            let out: U256 = [alice, bob]
                .iter()
                .map(|a| {
                    word(
                        &hub_rpc,
                        hub,
                        IHub::outstandingCreditCall {
                            account: *a,
                            spokeChainId: U256::from(id),
                        }
                        .abi_encode(),
                    )
                })
                .fold(U256::ZERO, |a, b| a + b);
            let avail: U256 = [alice, bob]
                .iter()
                .map(|a| {
                    word(
                        rpc,
                        addr,
                        ISpoke::availableCall { account: *a }.abi_encode(),
                    )
                })
                .fold(U256::ZERO, |a, b| a + b);
            assert_eq!(U256::from(base(&c["outstanding_base"])), out, "{c}");
            assert_eq!(U256::from(base(&c["available_base"])), avail, "{c}");
        }
        let a = panel["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == "alice")
            .cloned()
            .unwrap();
        assert_eq!(U256::from(base(&a["collateral_base"])), coll(alice));
        assert_eq!(a["collateral"], "10000.000000 TUSD");
        panel
    };
    let panel = check_panel(CREDIT);
    assert_eq!(base(&panel["chains"][1]["outstanding_base"]), CREDIT);
    assert_eq!(panel["chains"][1]["outstanding"], "4000.000000 TUSD");
    assert_eq!(
        base(&panel["chains"][0]["headroom_base"]),
        2 * DEPOSIT - CREDIT
    );

    // --- guardians refuse: bob's positions on the second spoke cannot be valued (the guardian
    // processes have no prices), so they refuse to sign; the credit is voided on chain and the
    // ledger's lines stay unchanged ---
    let trader = spoke2_rpc.accounts().unwrap()[0];
    send(
        &spoke2_rpc,
        trader,
        spoke2,
        ISpoke::setTraderCall {
            trader,
            allowed: true,
        }
        .abi_encode(),
    );
    send(
        &spoke2_rpc,
        trader,
        spoke2,
        ISpoke::reportPositionsCall {
            account: bob,
            positions: vec![Position {
                underlying: "BTC".into(),
                size: I256::try_from(1_000_000i64).unwrap(),
            }],
            realisedPnl: I256::ZERO,
        }
        .abi_encode(),
    );
    std::thread::sleep(Duration::from_secs(4)); // the report becomes final for the guardians
    let bob_venue = format!("chain:{spoke2_id}");
    let (s, v) = call(
        ADMIN,
        "POST",
        "/api/v1/accounts/bob/credits",
        Some("g1"),
        Some(&credit_body(&bob_venue, "TUSD", "1000000000")),
    );
    assert_eq!(s, 409, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("guardians refused") && m.contains("unified requirement"),
        "{m}"
    );
    assert!(m.contains("voided") && m.contains("unchanged"), "{m}");
    // The ledger never holds it; the hub retires the voided lock once the release is attested.
    wait_for(60, "the voided credit retired at the hub", || {
        let o = word(
            &hub_rpc,
            hub,
            IHub::outstandingCreditCall {
                account: bob,
                spokeChainId: U256::from(spoke2_id),
            }
            .abi_encode(),
        );
        o.is_zero().then_some(())
    });
    assert_eq!(nonce_at_hub(bob, spoke2_id), U256::from(1));
    let bob_credit = word(
        &spoke2_rpc,
        spoke2,
        ISpoke::availableCall { account: bob }.abi_encode(),
    );
    assert!(bob_credit.is_zero(), "never accepted on the spoke");
    wait_for(30, "the voiding row gone", || {
        let (_, v) = call(ADMIN, "GET", "/api/v1/accounts/bob/credits", None, None);
        v["credits"].as_array().unwrap().is_empty().then_some(())
    });

    // --- restart: the ledger and the chains reconcile ---
    server.kill();
    let mut server = common::start(data.path(), None, ADMIN, &extra);
    let addr2 = server.addr.clone();
    let call = |key: &str, m: &str, p: &str, idem: Option<&str>, b: Option<&Value>| {
        http(&addr2, key, m, p, idem, b).unwrap()
    };
    wait_for(30, "the first reconciliation", || {
        let (_, v) = call(ADMIN, "GET", "/api/v1/xchain", None, None);
        (v["reconciled"] == true).then_some(())
    });
    let (_, v) = call(ADMIN, "GET", &credits, None, None);
    let line = v["credits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["venue"] == venue.as_str())
        .cloned()
        .unwrap();
    assert_eq!(line["state"], "accepted");
    let (_, v) = call(ADMIN, "GET", "/api/v1/xchain", None, None);
    assert_eq!(v["issues"], json!([]), "{v}");

    // --- release: retired at the hub, the line removed ---
    let minus = format!("-{CREDIT}");
    let (s, v) = call(
        &operator,
        "POST",
        &credits,
        Some("r0"),
        Some(&credit_body(&venue, "TUSD", "-1")),
    );
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("released whole"),
        "{v}"
    );
    let (s, v) = call(
        &viewer,
        "POST",
        &credits,
        Some("r1"),
        Some(&credit_body(&venue, "TUSD", &minus)),
    );
    assert_eq!(s, 403, "{v}");
    let (s, released) = call(
        &operator,
        "POST",
        &credits,
        Some("r1"),
        Some(&credit_body(&venue, "TUSD", &minus)),
    );
    assert_eq!(s, 200, "{released}");
    assert_eq!(released["kind"], "xchain_credit_released");
    assert_eq!(
        word(
            &hub_rpc,
            hub,
            IHub::outstandingCreditCall {
                account: alice,
                spokeChainId: U256::from(spoke_id)
            }
            .abi_encode()
        ),
        U256::ZERO
    );
    assert!(word(
        &spoke_rpc,
        spoke,
        ISpoke::availableCall { account: alice }.abi_encode()
    )
    .is_zero());
    let (_, v) = call(ADMIN, "GET", &credits, None, None);
    assert!(
        v["credits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["venue"] != venue.as_str()),
        "{v}"
    );
    let (s, v) = call(
        &operator,
        "POST",
        &credits,
        Some("r2"),
        Some(&credit_body(&venue, "TUSD", &minus)),
    );
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no credit"),
        "{v}"
    );
    // Every event of alice is in the log.
    let (_, ev) = call(ADMIN, "GET", "/api/v1/accounts/alice/events", None, None);
    let kinds: Vec<String> = ev["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        kinds.contains(&"xchain_credit".to_string())
            && kinds.contains(&"xchain_credit_released".to_string()),
        "{ev}"
    );
    // The panel after the release.
    {
        let (s, panel) = call(ADMIN, "GET", "/api/v1/xchain", None, None);
        assert_eq!(s, 200);
        assert_eq!(base(&panel["chains"][0]["outstanding_base"]), 0);
        assert_eq!(base(&panel["chains"][0]["headroom_base"]), 2 * DEPOSIT);
    }
    server.kill();
    let _ = std::fs::remove_dir_all(&out);
}
