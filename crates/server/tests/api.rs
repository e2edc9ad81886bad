//! The API end to end through the router, on SQLite and (when `INTERMARGIN_TEST_POSTGRES` names a
//! server URL) on PostgreSQL: isolation on every route, idempotency, atomic failures, field errors.

use axum::http::StatusCode;
use intermargin_server::{app, prepare};
use serde_json::{json, Value};

mod common;

const ADMIN: &str = "im_adm1n0000001_0123456789abcdef0123456789abcdef0123456789abcdef";

struct Harness {
    router: axum::Router,
    cfg: intermargin_server::Config,
    _dir: tempdir::Dir,
}

use common::{backends, tempdir};

async fn harness(tag: &str, database: Option<String>) -> Harness {
    let dir = tempdir::Dir::new(tag);
    let cfg = common::config(&dir.0, database, ADMIN);
    let (st, printed) = prepare(&cfg).await.unwrap();
    let kept = cfg.clone();
    assert!(
        printed.is_none(),
        "a key given by the environment is never printed"
    );
    Harness {
        router: app(st),
        cfg: kept,
        _dir: dir,
    }
}

impl Harness {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        idem: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        common::call(&self.router, method, uri, key, idem, body).await
    }

    async fn new_account_with_key(&self, id: &str) -> String {
        let (s, _) = self
            .call(
                "POST",
                "/api/v1/accounts",
                Some(ADMIN),
                Some(&format!("mk-{id}")),
                Some(json!({"id": id})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/keys",
                Some(ADMIN),
                None,
                Some(json!({"scope": id})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        v["key"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn one_account_can_never_read_or_change_another() {
    for (name, db) in backends("iso").await {
        let h = harness("iso", db).await;
        let alice = h.new_account_with_key("alice").await;
        let _bob = h.new_account_with_key("bob").await;
        let dep = json!({"location": "deribit", "asset": "BTC", "amount": "100000000"});
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/accounts/bob/deposits",
                Some(ADMIN),
                Some("seed-bob"),
                Some(dep.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        // Every per-account route, read and write, refuses alice's key on bob's account.
        let positions = json!({"venue": "binance", "positions": []});
        let transfer = json!({"from": "deribit", "to": "binance", "asset": "BTC", "amount": "1"});
        let import = json!({"venue": "binance", "payloads": [[]]});
        let routes: Vec<(&str, &str, Option<Value>)> = vec![
            ("GET", "/api/v1/accounts/bob", None),
            ("GET", "/api/v1/accounts/bob/events", None),
            ("GET", "/api/v1/accounts/bob/margin", None),
            ("GET", "/api/v1/accounts/bob/liquidation", None),
            ("GET", "/api/v1/accounts/bob/reconcile", None),
            ("POST", "/api/v1/accounts/bob/deposits", Some(dep.clone())),
            (
                "POST",
                "/api/v1/accounts/bob/withdrawals",
                Some(dep.clone()),
            ),
            ("POST", "/api/v1/accounts/bob/transfers", Some(transfer)),
            ("POST", "/api/v1/accounts/bob/positions", Some(positions)),
            ("POST", "/api/v1/accounts/bob/import", Some(import)),
            ("GET", "/api/v1/accounts/bob/credits", None),
            (
                "POST",
                "/api/v1/accounts/bob/credits",
                Some(json!({"venue": "deribit", "asset": "BTC", "amount": "1"})),
            ),
            ("GET", "/api/v1/accounts/bob/allocation", None),
            ("GET", "/api/v1/accounts/bob/liquidation/plan", None),
            ("POST", "/api/v1/accounts/bob/proofs", Some(json!({}))),
            ("GET", "/api/v1/accounts/bob/proofs/0123456789abcdef", None),
        ];
        for (m, uri, body) in routes {
            let (s, v) = h.call(m, uri, Some(&alice), Some("k1"), body).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{name} {m} {uri}: {v}");
            assert_eq!(v["error"]["code"], "not_found");
        }
        // Admin-only routes refuse an account key.
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/accounts",
                Some(&alice),
                Some("k2"),
                Some(json!({"id": "mallory"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/accounts/alice/liquidations",
                Some(&alice),
                Some("k3"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "liquidating is an admin act");
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/keys",
                Some(&alice),
                None,
                Some(json!({"scope": "bob"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Listing shows only alice's own account; bob's balance is untouched.
        let (_, v) = h
            .call("GET", "/api/v1/accounts", Some(&alice), None, None)
            .await;
        assert_eq!(v["accounts"], json!([{"id": "alice", "name": "alice"}]));
        let (_, v) = h
            .call("GET", "/api/v1/accounts/bob", Some(ADMIN), None, None)
            .await;
        assert_eq!(v["collateral"][0]["amount"], "100000000", "{name}");
        // No key at all.
        let (s, v) = h
            .call("GET", "/api/v1/accounts/alice", None, None, None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let (s, _) = h
            .call(
                "GET",
                "/api/v1/accounts/alice",
                Some("im_nope_nope"),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_retried_request_applies_once_and_a_reused_key_is_refused() {
    for (name, db) in backends("idem").await {
        let h = harness("idem", db).await;
        let _carol = h.new_account_with_key("carol").await;
        // Deposits are an operator's record of money seen arriving; the admin may make them too.
        let key = ADMIN.to_string();
        let dep = json!({"location": "binance", "asset": "USDT", "amount": "2500000"});
        let (s1, v1) = h
            .call(
                "POST",
                "/api/v1/accounts/carol/deposits",
                Some(&key),
                Some("dep-1"),
                Some(dep.clone()),
            )
            .await;
        let (s2, v2) = h
            .call(
                "POST",
                "/api/v1/accounts/carol/deposits",
                Some(&key),
                Some("dep-1"),
                Some(dep.clone()),
            )
            .await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{name}");
        assert_eq!(v1, v2, "the retry returns the stored response");
        let (_, ev) = h
            .call(
                "GET",
                "/api/v1/accounts/carol/events",
                Some(&key),
                None,
                None,
            )
            .await;
        let deposits = ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "deposit")
            .count();
        assert_eq!(deposits, 1, "{name}");
        let other = json!({"location": "binance", "asset": "USDT", "amount": "9"});
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/carol/deposits",
                Some(&key),
                Some("dep-1"),
                Some(other),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(v["error"]["field"], "Idempotency-Key");
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/carol/deposits",
                Some(&key),
                None,
                Some(dep),
            )
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Idempotency-Key"))
        );
    }
}

#[tokio::test]
async fn failed_writes_change_nothing_and_errors_name_the_field() {
    for (name, db) in backends("atomic").await {
        let h = harness("atomic", db).await;
        let key = h.new_account_with_key("dave").await;
        let dep = json!({"location": "okx", "asset": "USDT", "amount": "1000"});
        h.call(
            "POST",
            "/api/v1/accounts/dave/deposits",
            Some(ADMIN),
            Some("d1"),
            Some(dep),
        )
        .await;
        // Transfer more than the balance: refused, both sides unchanged.
        let t =
            json!({"from": "okx", "to": "bybit", "asset": "USDT", "amount": "1001", "fee": "1"});
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/dave/transfers",
                Some(&key),
                Some("t1"),
                Some(t),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}: {v}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("insufficient USDT at okx"));
        let (_, acc) = h
            .call("GET", "/api/v1/accounts/dave", Some(&key), None, None)
            .await;
        assert_eq!(
            acc["collateral"],
            json!([{"venue": "okx", "asset": "USDT", "amount": "1000"}])
        );
        // A valid transfer moves amount − fee.
        let t = json!({"from": "okx", "to": "bybit", "asset": "USDT", "amount": "600", "fee": "2"});
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/accounts/dave/transfers",
                Some(&key),
                Some("t2"),
                Some(t),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (_, acc) = h
            .call("GET", "/api/v1/accounts/dave", Some(&key), None, None)
            .await;
        assert_eq!(
            acc["collateral"],
            json!([
                {"venue": "bybit", "asset": "USDT", "amount": "598"},
                {"venue": "okx", "asset": "USDT", "amount": "400"}
            ])
        );
        // Field-naming errors.
        let cases = [
            (
                json!({"location": "nowhere", "asset": "USDT", "amount": "1"}),
                "body.location",
            ),
            (
                json!({"location": "okx", "asset": "USDT", "amount": "-5"}),
                "body.amount",
            ),
            (
                json!({"location": "okx", "asset": "USDT", "amount": "1.5"}),
                "body.amount",
            ),
            (
                json!({"location": "okx", "asset": "DOGE", "amount": "1"}),
                "asset",
            ),
            (json!({"location": "okx", "asset": "USDT"}), "body"),
        ];
        for (i, (body, field)) in cases.into_iter().enumerate() {
            let (s, v) = h
                .call(
                    "POST",
                    "/api/v1/accounts/dave/deposits",
                    Some(ADMIN),
                    Some(&format!("bad{i}")),
                    Some(body),
                )
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{name} case {i}: {v}");
            assert_eq!(v["error"]["field"], field, "{name} case {i}: {v}");
            assert_eq!(v["error"]["code"], "bad_request");
        }
        let (_, ev) = h
            .call(
                "GET",
                "/api/v1/accounts/dave/events",
                Some(&key),
                None,
                None,
            )
            .await;
        assert_eq!(
            ev["events"].as_array().unwrap().len(),
            3,
            "{name}: create, deposit, transfer only"
        );
    }
}

#[tokio::test]
async fn demo_book_is_margined_with_siloed_and_unified_figures() {
    let h = harness("demo", None).await;
    let (s, v) = h
        .call("GET", "/api/v1/accounts", Some(ADMIN), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let id = v["accounts"][0]["id"].as_str().unwrap().to_string();
    let (s, r) = h
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/margin"),
            Some(ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["error"].is_null(), "{r}");
    let siloed = r["siloed_total"].as_f64().unwrap();
    let unified = r["unified"]["initial_margin"].as_f64().unwrap();
    // saving is defined as siloed − unified initial margin.
    assert!((r["saving"].as_f64().unwrap() - (siloed - unified)).abs() < 1e-6);
    // The siloed total is the sum of each venue's honest siloed baseline (the unified model's
    // constraints: each venue alone, same scenarios, no transfers).
    let venue_sum: f64 = r["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["siloed_initial_margin"].as_f64().unwrap())
        .sum();
    assert!(
        (venue_sum - siloed).abs() < 1e-6 * siloed.max(1.0),
        "siloed total is the sum of the venues' siloed baselines"
    );
    let split = r["saving_split"]["pooled_buffer"].as_f64().unwrap()
        + r["saving_split"]["credit_netting"].as_f64().unwrap();
    assert!((split - r["saving"].as_f64().unwrap()).abs() < 1e-6 * siloed.max(1.0));
    assert!(r["horizon_s"].as_f64().unwrap() > 0.0);
    assert!(["healthy", "margin_call", "liquidation", "bankrupt"]
        .contains(&r["state"].as_str().unwrap()));
}

#[tokio::test]
async fn openapi_documents_every_api_route() {
    let h = harness("openapi", None).await;
    let (s, doc) = h.call("GET", "/openapi.json", None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/accounts",
        "/api/v1/accounts/{id}",
        "/api/v1/accounts/{id}/events",
        "/api/v1/accounts/{id}/deposits",
        "/api/v1/accounts/{id}/withdrawals",
        "/api/v1/accounts/{id}/transfers",
        "/api/v1/accounts/{id}/positions",
        "/api/v1/accounts/{id}/import",
        "/api/v1/accounts/{id}/margin",
        "/api/v1/accounts/{id}/liquidation",
        "/api/v1/accounts/{id}/liquidation/plan",
        "/api/v1/accounts/{id}/liquidations",
        "/api/v1/accounts/{id}/credits",
        "/api/v1/accounts/{id}/allocation",
        "/api/v1/accounts/{id}/proofs",
        "/api/v1/accounts/{id}/proofs/{job}",
        "/api/v1/simulations",
        "/api/v1/simulations/{job}",
        "/api/v1/proofs/verify",
        "/api/v1/solvency/verify",
        "/api/v1/keys",
        "/api/v1/assets",
        "/api/v1/market",
        "/api/v1/xchain",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
}

#[tokio::test]
async fn chain_credits_without_xchain_are_refused_naming_the_flag() {
    let h = harness("noxchain", None).await;
    let (s, _) = h
        .call(
            "POST",
            "/api/v1/accounts",
            Some(ADMIN),
            Some("nx0"),
            Some(json!({"id": "nx"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/nx/credits",
            Some(ADMIN),
            Some("nx1"),
            Some(json!({"venue": "chain:31338", "asset": "TUSD", "amount": "5"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["field"], "body.venue");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--xchain"),
        "{v}"
    );
    let (s, v) = h
        .call("GET", "/api/v1/xchain", Some(ADMIN), None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--xchain"),
        "{v}"
    );
    let (s, _) = h.call("GET", "/api/v1/xchain", None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let h = harness("size", None).await;
    let big = "x".repeat(intermargin_server::MAX_BODY_BYTES + 10);
    let (s, _) = h
        .call(
            "POST",
            "/api/v1/accounts",
            Some(ADMIN),
            Some("big"),
            Some(json!({"id": big})),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn credit_lines_never_exceed_the_hub_balance_and_pledged_collateral_stays() {
    for (name, db) in backends("credit").await {
        let h = harness("credit", db).await;
        let key = h.new_account_with_key("erin").await;
        let mut n = 0;
        let mut post = |uri: &'static str, body: Value| {
            n += 1;
            let idem = format!("c{n}");
            let h = &h;
            // Deposits and credit lines are facts an operator records; the account requests the rest.
            let key = if uri == DEP || uri == CR {
                ADMIN.to_string()
            } else {
                key.clone()
            };
            async move {
                h.call("POST", uri, Some(&key), Some(&idem), Some(body))
                    .await
            }
        };
        const DEP: &str = "/api/v1/accounts/erin/deposits";
        const WD: &str = "/api/v1/accounts/erin/withdrawals";
        const TR: &str = "/api/v1/accounts/erin/transfers";
        const CR: &str = "/api/v1/accounts/erin/credits";
        let btc = |n: u64| (n * 100_000_000).to_string();
        let (s, v) = post(
            DEP,
            json!({"location": "hub", "asset": "BTC", "amount": btc(10)}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        // 6 BTC pledged to Deribit fits in the 10 at the hub; 5 more to OKX would make 11.
        let (s, v) = post(
            CR,
            json!({"venue": "deribit", "asset": "BTC", "amount": btc(6)}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        assert_eq!(v["kind"], "credit");
        let (s, v) = post(
            CR,
            json!({"venue": "okx", "asset": "BTC", "amount": btc(5)}),
        )
        .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::CONFLICT, Some("amount")),
            "{name}: {v}"
        );
        // Pledged collateral cannot leave the hub: 10 − 5 = 5 < 6 is refused, 10 − 4 = 6 is not.
        let (s, _) = post(
            WD,
            json!({"location": "hub", "asset": "BTC", "amount": btc(5)}),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}");
        let (s, _) = post(
            TR,
            json!({"from": "hub", "to": "deribit", "asset": "BTC", "amount": btc(5)}),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}");
        let (s, v) = post(
            WD,
            json!({"location": "hub", "asset": "BTC", "amount": btc(4)}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        // Releasing 2 frees 2; releasing more than is outstanding (4) is refused.
        let (s, _) = post(
            CR,
            json!({"venue": "deribit", "asset": "BTC", "amount": format!("-{}", btc(2))}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, _) = post(
            WD,
            json!({"location": "hub", "asset": "BTC", "amount": btc(2)}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, v) = post(
            CR,
            json!({"venue": "deribit", "asset": "BTC", "amount": format!("-{}", btc(10))}),
        )
        .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::CONFLICT, Some("amount")),
            "{name}: {v}"
        );
        for (body, field) in [
            (
                json!({"venue": "hub", "asset": "BTC", "amount": "1"}),
                "body.venue",
            ),
            (
                json!({"venue": "okx", "asset": "BTC", "amount": "0"}),
                "body.amount",
            ),
            (
                json!({"venue": "okx", "asset": "BTC", "amount": "1.5"}),
                "body.amount",
            ),
        ] {
            let (s, v) = post(CR, body).await;
            assert_eq!(
                (s, v["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{name}: {v}"
            );
        }
        // Hub 10 − 4 − 2 = 4 BTC, Deribit credit 6 − 2 = 4 BTC; a restart re-verifies both projections.
        let (_, lines) = h.call("GET", CR, Some(&key), None, None).await;
        assert_eq!(
            lines["credits"],
            json!([{"venue": "deribit", "asset": "BTC", "amount": btc(4)}]),
            "{name}"
        );
        let (_, book) = h
            .call("GET", "/api/v1/accounts/erin", Some(&key), None, None)
            .await;
        assert_eq!(
            book["collateral"],
            json!([{"venue": "hub", "asset": "BTC", "amount": btc(4)}]),
            "{name}"
        );
        let (st, _) = prepare(&h.cfg)
            .await
            .expect("restart verifies the projections");
        let again = app(st);
        let (_, lines) = common::call(&again, "GET", CR, Some(&key), None, None).await;
        assert_eq!(lines["credits"][0]["amount"], btc(4), "{name}");
    }
}

/// The hedged book's Binance payloads, as the venue returned them.
fn binance_payloads() -> Value {
    let read = |f: &str| -> Value {
        let path = format!(
            "{}/../../examples/hedged-book/binance/{f}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    json!([
        read("fapi_v2_positionRisk.json"),
        read("fapi_v3_balance.json"),
        read("fapi_v1_leverageBracket.json"),
    ])
}

#[tokio::test]
async fn reconcile_sets_the_venues_own_figures_beside_intermargins_for_the_account_only() {
    for (name, db) in backends("recon").await {
        let h = harness("recon", db).await;
        let alice = h.new_account_with_key("alice").await;
        let bob = h.new_account_with_key("bob").await;
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/alice/import",
                Some(ADMIN),
                Some("recon-import"),
                Some(json!({"venue": "binance", "payloads": binance_payloads()})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        let (s, v) = h
            .call(
                "GET",
                "/api/v1/accounts/alice/reconcile",
                Some(&alice),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        let rows = v["rows"].as_array().unwrap();
        // fapi/v2/positionRisk reports BTCUSDT's "liquidationPrice": "71802.2" (the payload file).
        let liq = rows
            .iter()
            .find(|r| r["field"] == "liquidation_price")
            .unwrap_or_else(|| panic!("{name}: no liquidation price row in {v}"));
        assert_eq!(liq["venue"], "binance", "{name}: {liq}");
        assert_eq!(liq["reported"], 71802.2, "{name}: {liq}");
        assert_eq!(liq["source"], "liquidationPrice", "{name}: {liq}");
        assert!(
            liq["instrument"].as_str().unwrap().contains("BTCUSDT"),
            "{liq}"
        );
        for r in rows {
            assert_eq!(r["account"], "alice", "{name}: {r}");
            // Where both figures exist, the difference is theirs; a disagreement says why.
            if let (Some(c), Some(rep)) = (r["computed"].as_f64(), r["reported"].as_f64()) {
                let d = r["difference"].as_f64().unwrap();
                assert!((d - (c - rep)).abs() <= 1e-9 * rep.abs().max(1.0), "{r}");
            }
            if r["agrees"] == false {
                assert!(r["explained_by"].is_string(), "{name}: {r}");
            }
        }
        let agree = rows.iter().filter(|r| r["agrees"] == true).count();
        assert_eq!(v["agree"], agree, "{v}");
        assert_eq!(v["disagree"], rows.len() - agree, "{v}");
        // The attack: bob's key asks for alice's figures, and learns not even that she exists.
        let (s, v) = h
            .call(
                "GET",
                "/api/v1/accounts/alice/reconcile",
                Some(&bob),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{name}: {v}");
        assert_eq!(v["error"]["code"], "not_found", "{v}");
        // Bob has imported nothing: nothing to reconcile.
        let (s, v) = h
            .call(
                "GET",
                "/api/v1/accounts/bob/reconcile",
                Some(&bob),
                None,
                None,
            )
            .await;
        assert_eq!(
            (s, v["rows"].clone()),
            (StatusCode::OK, json!([])),
            "{name}: {v}"
        );
        // Positions written by hand replace the venue's report: its figures no longer apply.
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/alice/positions",
                Some(ADMIN),
                Some("recon-hand"),
                Some(json!({"venue": "binance", "positions": []})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        let (_, v) = h
            .call(
                "GET",
                "/api/v1/accounts/alice/reconcile",
                Some(&alice),
                None,
                None,
            )
            .await;
        assert_eq!(v["rows"], json!([]), "{name}: {v}");
    }
}
