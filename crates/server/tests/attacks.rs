//! Issue 16's attacks on the service, each written as the request an attacker (or a careless
//! operator) sends and the refusal expected; on SQLite and, when `INTERMARGIN_TEST_POSTGRES` is
//! set, PostgreSQL.

use axum::http::StatusCode;
use intermargin_server::{app, prepare};
use serde_json::{json, Value};

mod common;
use common::{backends, tempdir};

const ADMIN: &str = "im_adm1n0000016_0123456789abcdef0123456789abcdef0123456789abcdef";
const CRASH: &str = include_str!("../../../examples/stress/crash.toml");

struct Harness {
    router: axum::Router,
    cfg: intermargin_server::Config,
    _dir: tempdir::Dir,
}

async fn harness(tag: &str, database: Option<String>) -> Harness {
    let dir = tempdir::Dir::new(tag);
    let cfg = common::config(&dir.0, database, ADMIN);
    let (st, _) = prepare(&cfg).await.unwrap();
    Harness {
        router: app(st),
        cfg,
        _dir: dir,
    }
}

impl Harness {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        common::call_once(&self.router, method, uri, key, body).await
    }

    async fn key(&self, scope: &str) -> String {
        let (s, v) = self
            .call("POST", "/api/v1/keys", ADMIN, Some(json!({"scope": scope})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["key"].as_str().unwrap().to_string()
    }

    async fn account(&self, id: &str) -> String {
        let (s, v) = self
            .call("POST", "/api/v1/accounts", ADMIN, Some(json!({"id": id})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        self.key(id).await
    }

    async fn ledger_holds(&self) -> Value {
        let (s, v) = self.call("GET", "/api/v1/ledger", ADMIN, None).await;
        assert_eq!(s, StatusCode::OK, "the ledger invariant must hold: {v}");
        v
    }
}

fn system(ledger: &Value, name: &str, asset: &str) -> i128 {
    ledger["system"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == name && r["asset"] == asset)
        .map(|r| r["amount"].as_str().unwrap().parse::<i128>().unwrap())
        .sum()
}

#[tokio::test]
async fn an_account_key_cannot_mint_collateral_or_declare_facts_about_itself() {
    for (name, db) in backends("mint").await {
        let h = harness("mint", db).await;
        let mallory = h.account("mallory").await;
        let operator = h.key("operator").await;
        let auditor = h.key("read-only").await;
        // The attack: the account deposits 10^38 base units to itself with its own key.
        let mint = json!({"location": "binance", "asset": "USDT", "amount": "99999999999999999999999999999999999999"});
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/mallory/deposits",
                &mallory,
                Some(mint.clone()),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{name}: {v}"
        );
        // Nor can it pledge credit, declare positions or import venue payloads about itself.
        for (uri, body) in [
            (
                "/api/v1/accounts/mallory/credits",
                json!({"venue": "deribit", "asset": "BTC", "amount": "1"}),
            ),
            (
                "/api/v1/accounts/mallory/positions",
                json!({"venue": "binance", "positions": []}),
            ),
            (
                "/api/v1/accounts/mallory/import",
                json!({"venue": "binance", "payloads": [[]]}),
            ),
            ("/api/v1/accounts/mallory/liquidations", json!({})),
        ] {
            let (s, v) = h.call("POST", uri, &mallory, Some(body)).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{name} {uri}: {v}");
        }
        // Even the operator cannot record an amount whose value would overflow a margin figure.
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/mallory/deposits",
                &operator,
                Some(mint),
            )
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("body.amount")),
            "{name}: {v}"
        );
        // A real deposit by the operator; the account then requests a withdrawal of part of it.
        let dep = json!({"location": "binance", "asset": "USDT", "amount": "5000000"});
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/mallory/deposits",
                &operator,
                Some(dep),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        let wd = json!({"location": "binance", "asset": "USDT", "amount": "1000000"});
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/mallory/withdrawals",
                &mallory,
                Some(wd.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        // A read-only key reads every account and changes none.
        let (s, _) = h
            .call("GET", "/api/v1/accounts/mallory", &auditor, None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/accounts/mallory/withdrawals",
                &auditor,
                Some(wd),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/simulations",
                &auditor,
                Some(json!({"preset": "calm", "paths": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, book) = h.call("GET", "/api/v1/accounts/mallory", ADMIN, None).await;
        assert_eq!(book["collateral"][0]["amount"], "4000000", "{name}");
        // An import is stored as the venue's report, relayed by the operator's key.
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/mallory/import",
                &operator,
                Some(json!({"venue": "binance", "payloads": [[]]})),
            )
            .await;
        if s == StatusCode::OK {
            assert_eq!(v["kind"], "venue_report", "{v}");
            assert_eq!(v["payload"]["source"], "venue_report", "{v}");
            assert_eq!(v["payload"]["reported_by"], "binance", "{v}");
        } else {
            assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        }
        // Account ids cannot take a role's name.
        let (s, _) = h
            .call(
                "POST",
                "/api/v1/accounts",
                ADMIN,
                Some(json!({"id": "operator"})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        h.ledger_holds().await;
    }
}

#[tokio::test]
async fn simulation_sizes_that_would_exhaust_memory_are_refused_naming_the_key() {
    let h = harness("simsize", None).await;
    let key = h.account("sim").await;
    let cases = [
        (
            "accounts = 1000",
            "accounts = 1000000000",
            "body.config.population.accounts",
        ),
        ("steps = 1440", "steps = 2000000000", "body.config.steps"),
        // Within the hard limits, beyond what one request to the service may start.
        (
            "accounts = 1000",
            "accounts = 5000000",
            "body.config.population.accounts",
        ),
        // 20 000 paths × 2 × (20 000 steps × 2 assets × 3 venues + 1000 accounts) ≈ 4.8e9 work units.
        ("paths = 2000", "paths = 20000", "body.config.paths"),
    ];
    for (from, to, field) in cases {
        let mut config = CRASH.replacen(from, to, 1);
        if to == "paths = 20000" {
            config = config.replacen("steps = 1440", "steps = 20000", 1);
        }
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/simulations",
                &key,
                Some(json!({"config": config})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{to}: {v}"
        );
    }
    let (s, _) = h.call("GET", "/health", ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
}

/// A binance BTCUSDT perp of the demo book, `size` contracts bought at `entry`.
async fn binance_perp(h: &Harness, size: f64, entry: f64) -> Value {
    let (_, book) = h.call("GET", "/api/v1/accounts/hedged", ADMIN, None).await;
    let mut perp = book["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["instrument"]["venue"] == "binance")
        .unwrap()
        .clone();
    perp["size"] = json!(size);
    perp["entry_price"] = json!(entry);
    perp
}

#[tokio::test]
async fn twenty_concurrent_liquidations_apply_once_and_book_the_loss() {
    for (name, db) in backends("liq").await {
        let h = harness("liq", db).await;
        let operator = h.key("operator").await;
        let key = h.account("broke").await;
        // 10 BTC bought at 100 000 while the mark is far lower, against 10 000 USDT: bankrupt.
        let perp = binance_perp(&h, 10.0, 100_000.0).await;
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/broke/positions",
                &operator,
                Some(json!({"venue": "binance", "positions": [perp]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let usdt = 10_000_000_000i128; // 10 000 USDT at 6 decimals
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/broke/deposits",
                &operator,
                Some(json!({"location": "binance", "asset": "USDT", "amount": usdt.to_string()})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, market) = h.call("GET", "/api/v1/market", ADMIN, None).await;
        let mark = market["mark_prices"]["binance:BTCUSDT"].as_f64().unwrap();
        let usdt_px = market["fx"]["USDT"].as_f64().unwrap();
        // /margin, /liquidation and the plan agree on the state.
        let (_, margin) = h
            .call("GET", "/api/v1/accounts/broke/margin", &key, None)
            .await;
        let (_, plan) = h
            .call("GET", "/api/v1/accounts/broke/liquidation/plan", &key, None)
            .await;
        let (_, liq) = h
            .call("GET", "/api/v1/accounts/broke/liquidation", &key, None)
            .await;
        assert_eq!(margin["state"], "bankrupt", "{margin}");
        assert_eq!(plan["state"], margin["state"], "{plan}");
        assert_eq!(liq["state"], margin["state"]);
        // The attack: twenty executions at once, each with its own idempotency key.
        let mut tasks = Vec::new();
        for i in 0..20 {
            let router = h.router.clone();
            let op = operator.clone();
            tasks.push(tokio::spawn(async move {
                common::call(
                    &router,
                    "POST",
                    "/api/v1/accounts/broke/liquidations",
                    Some(&op),
                    Some(&format!("liq-{i}")),
                    None,
                )
                .await
            }));
        }
        let mut applied = Vec::new();
        for t in tasks {
            let (s, v) = t.await.unwrap();
            match s {
                StatusCode::OK => applied.push(v),
                StatusCode::CONFLICT => assert_eq!(v["error"]["field"], "state", "{v}"),
                other => panic!("{name}: unexpected {other}: {v}"),
            }
        }
        assert_eq!(applied.len(), 1, "{name}: exactly one execution applies");
        let ev = &applied[0];
        let (_, events) = h
            .call("GET", "/api/v1/accounts/broke/events", ADMIN, None)
            .await;
        let n = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "liquidation")
            .count();
        assert_eq!(n, 1, "{name}");
        // The whole position was closed, never more.
        let legs = ev["payload"]["plan"]["plan"].as_array().unwrap();
        let closed: f64 = legs.iter().map(|l| l["reduce"].as_f64().unwrap()).sum();
        assert!((closed - 10.0).abs() < 1e-9, "{ev}");
        let (_, book) = h.call("GET", "/api/v1/accounts/broke", &key, None).await;
        assert_eq!(book["positions"], json!([]), "{book}");
        // Hand calculation of the booking, in USDT base units (fx of USDT from the market):
        // closing 10 BTC bought at 100 000 at the mark realises 10 × (mark − 100 000); the
        // account owes that loss, the penalty and the impact cost; it had 10 000 USDT to pay.
        let units = |usd: f64| (usd / usdt_px * 1e6).round() as i128;
        let realised = 10.0 * (mark - 100_000.0);
        let fee: f64 = legs.iter().map(|l| l["fee"].as_f64().unwrap()).sum();
        let to_insurance: f64 = legs
            .iter()
            .map(|l| l["fee_to_insurance"].as_f64().unwrap())
            .sum();
        let impact: f64 = legs
            .iter()
            .map(|l| l["impact_cost"].as_f64().unwrap())
            .sum();
        let owed = units(fee + impact) - units(realised);
        let bad_debt = owed - usdt;
        assert!(bad_debt > 0, "the account could not pay: {ev}");
        let ledger = h.ledger_holds().await;
        assert!(
            (system(&ledger, "bad_debt", "USDT") + bad_debt).abs() <= 3,
            "{name}: {ledger} vs {bad_debt}"
        );
        assert!(
            (system(&ledger, "insurance_fund", "USDT") - units(to_insurance)).abs() <= 1,
            "{ledger}"
        );
        // Its collateral is gone, not kept: the loss is booked, the account is no longer bankrupt
        // with phantom equity.
        assert!(
            book["collateral"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["amount"] == "0"),
            "{book}"
        );
        let (_, margin) = h
            .call("GET", "/api/v1/accounts/broke/margin", &key, None)
            .await;
        assert!(margin["equity"].as_f64().unwrap().abs() < 1e-6, "{margin}");
        // A restart re-checks projections and the invariant over the whole log.
        prepare(&h.cfg)
            .await
            .expect("restart verifies the ledger invariant");
    }
}

#[tokio::test]
async fn a_plan_made_on_an_older_version_is_refused() {
    let h = harness("stale", None).await;
    let operator = h.key("operator").await;
    h.account("late").await;
    let perp = binance_perp(&h, 10.0, 100_000.0).await;
    h.call(
        "POST",
        "/api/v1/accounts/late/positions",
        &operator,
        Some(json!({"venue": "binance", "positions": [perp]})),
    )
    .await;
    let dep = json!({"location": "binance", "asset": "USDT", "amount": "1000000"});
    h.call(
        "POST",
        "/api/v1/accounts/late/deposits",
        &operator,
        Some(dep.clone()),
    )
    .await;
    let (_, plan) = h
        .call(
            "GET",
            "/api/v1/accounts/late/liquidation/plan",
            &operator,
            None,
        )
        .await;
    let version = plan["version"].as_i64().unwrap();
    // The account changes after the plan was reviewed.
    h.call(
        "POST",
        "/api/v1/accounts/late/deposits",
        &operator,
        Some(dep),
    )
    .await;
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/late/liquidations",
            &operator,
            Some(json!({"version": version})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("body.version")),
        "{v}"
    );
    let (_, plan) = h
        .call(
            "GET",
            "/api/v1/accounts/late/liquidation/plan",
            &operator,
            None,
        )
        .await;
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/late/liquidations",
            &operator,
            Some(json!({"version": plan["version"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the current version executes: {v}");
    h.ledger_holds().await;
}

#[tokio::test]
async fn revoked_keys_answer_401_and_rotation_replaces_keys_including_the_admins() {
    let h = harness("revoke", None).await;
    let alice = h.account("alice").await;
    let alice_id = alice.split('_').nth(1).unwrap().to_string();
    let (s, _) = h.call("GET", "/api/v1/accounts/alice", &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    // Another account's key may not revoke alice's.
    let bob = h.account("bob").await;
    let (s, _) = h
        .call("DELETE", &format!("/api/v1/keys/{alice_id}"), &bob, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call("DELETE", &format!("/api/v1/keys/{alice_id}"), ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for uri in [
        "/api/v1/accounts/alice",
        "/api/v1/accounts",
        "/api/v1/market",
        "/plots/index.json",
    ] {
        let (s, _) = h.call("GET", uri, &alice, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
    }
    // Bob rotates his own key: the new one works, the old one is refused.
    let bob_id = bob.split('_').nth(1).unwrap().to_string();
    let (s, v) = h
        .call("POST", &format!("/api/v1/keys/{bob_id}/rotate"), &bob, None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let bob2 = v["key"].as_str().unwrap().to_string();
    assert_eq!(v["scope"], "bob");
    assert_eq!(
        h.call("GET", "/api/v1/accounts/bob", &bob2, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        h.call("GET", "/api/v1/accounts/bob", &bob, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The last admin key cannot be revoked, only rotated.
    let admin_id = ADMIN.split('_').nth(1).unwrap();
    let (s, _) = h
        .call("DELETE", &format!("/api/v1/keys/{admin_id}"), ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = h
        .call(
            "POST",
            &format!("/api/v1/keys/{admin_id}/rotate"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let admin2 = v["key"].as_str().unwrap().to_string();
    assert_eq!(
        h.call("GET", "/api/v1/keys", &admin2, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        h.call("GET", "/api/v1/keys", ADMIN, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, keys) = h.call("GET", "/api/v1/keys", &admin2, None).await;
    let text = keys.to_string();
    assert!(
        !text.contains("hmac") && !text.contains("argon2"),
        "no hash is ever served: {text}"
    );
}

#[tokio::test]
async fn a_changed_or_weak_admin_key_is_refused_at_start_not_ignored() {
    let dir = tempdir::Dir::new("adminkey");
    let cfg = common::config(&dir.0, None, ADMIN);
    prepare(&cfg).await.unwrap();
    // Same key id, other secret: the variable changed on an existing ledger.
    let changed = format!("{}ffff", &ADMIN[..ADMIN.len() - 4]);
    let err = prepare(&common::config(&dir.0, None, &changed))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("INTERMARGIN_ADMIN_KEY"), "{err}");
    // Weak keys are refused outright.
    for weak in [
        "im_a_b",
        "im_admin_00000000000000000000000000000000",
        "admin",
    ] {
        let err = prepare(&common::config(&dir.0, None, weak))
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("INTERMARGIN_ADMIN_KEY"),
            "{weak}: {err}"
        );
    }
    // A new key id is added as an admin key; the first stays valid until revoked.
    let second = "im_adm1n0000099_00112233445566778899aabbccddeeff0011223344556677";
    let (st, _) = prepare(&common::config(&dir.0, None, second))
        .await
        .unwrap();
    let router = app(st);
    for k in [ADMIN, second] {
        let (s, _) = common::call(&router, "GET", "/api/v1/keys", Some(k), None, None).await;
        assert_eq!(s, StatusCode::OK, "{k}");
    }
}

#[tokio::test]
async fn small_holes_are_closed() {
    let h = harness("small", None).await;
    let key = h.account("sam").await;
    let operator = h.key("operator").await;
    // Plots need a key.
    let (s, v) = common::call(&h.router, "GET", "/plots/index.json", None, None, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, v) = h.call("GET", "/plots/index.json", &key, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!([]));
    // 413 and a bad query string answer in the JSON error format.
    let big = "x".repeat(intermargin_server::MAX_BODY_BYTES + 10);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/sam/withdrawals",
            &key,
            Some(json!({"location": big})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
        "{v}"
    );
    let (s, v) = h
        .call("GET", "/api/v1/accounts/sam/events?limit=abc", &key, None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{v}"
    );
    // Position size 1e308 and leverage 1e9 are refused naming the field.
    let mut perp = binance_perp(&h, 1e308, 60_000.0).await;
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/sam/positions",
            &operator,
            Some(json!({"venue": "binance", "positions": [perp.clone()]})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.positions[0].size")),
        "{v}"
    );
    perp["size"] = json!(1.0);
    perp["leverage"] = json!(1e9);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/sam/positions",
            &operator,
            Some(json!({"venue": "binance", "positions": [perp]})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.positions[0].leverage")),
        "{v}"
    );
    // The same JSON with other whitespace and key order is the same request, not a 409.
    let a = r#"{"location":"binance","asset":"USDT","amount":"7"}"#;
    let b = "{ \"amount\" : \"7\",\n  \"asset\": \"USDT\", \"location\": \"binance\" }";
    let mut answers = Vec::new();
    for text in [a, b] {
        let resp = send_raw(
            &h.router,
            "/api/v1/accounts/sam/deposits",
            &operator,
            "same",
            text,
        )
        .await;
        answers.push(resp);
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    assert_eq!(
        answers[1].0,
        StatusCode::OK,
        "whitespace does not make another request: {:?}",
        answers[1]
    );
    assert_eq!(answers[0].1, answers[1].1);
    // A fee equal to the amount delivers nothing and is refused.
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/sam/transfers",
            &key,
            Some(
                json!({"from": "binance", "to": "okx", "asset": "USDT", "amount": "7", "fee": "7"}),
            ),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.fee")),
        "{v}"
    );
}

#[tokio::test]
async fn an_uncomputable_margin_is_an_error_status_and_hub_collateral_allocates() {
    let h = harness("figures", None).await;
    let operator = h.key("operator").await;
    let key = h.account("lev").await;
    // A binance position without the leverage binance needs for its initial margin.
    let mut perp = binance_perp(&h, 1.0, 60_000.0).await;
    perp.as_object_mut().unwrap().remove("leverage");
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/lev/positions",
            &operator,
            Some(json!({"venue": "binance", "positions": [perp]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call("GET", "/api/v1/accounts/lev/margin", &key, None)
        .await;
    if s != StatusCode::OK {
        assert!(s.is_client_error(), "{s}");
        assert!(v["error"]["message"].is_string(), "{v}");
    } else {
        assert!(
            v.get("error").is_none(),
            "never 200 with an error body: {v}"
        );
    }
    // An account holding hub collateral gets an allocation plan (was 422 on unified_location).
    let hubby = h.account("hubby").await;
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/hubby/deposits",
            &operator,
            Some(json!({"location": "hub", "asset": "USDC", "amount": "50000000000"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call("GET", "/api/v1/accounts/hubby/allocation", &hubby, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// Sends a body exactly as given (for whitespace variants) and returns status and JSON.
async fn send_raw(
    router: &axum::Router,
    uri: &str,
    key: &str,
    idem: &str,
    body: &str,
) -> (StatusCode, Value) {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("idempotency-key", idem)
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let s = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The service on a real socket with short limits: 500 ms for headers, 1 s per request.
async fn short_timeouts(tag: &str) -> (std::net::SocketAddr, tempdir::Dir) {
    let dir = tempdir::Dir::new(tag);
    let cfg = common::config(&dir.0, None, ADMIN);
    let (st, _) = prepare(&cfg).await.unwrap();
    let limits = intermargin_server::Timeouts {
        header_read: std::time::Duration::from_millis(500),
        request: std::time::Duration::from_secs(1),
    };
    let router = intermargin_server::app_with(st, limits.request);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(intermargin_server::serve_connections(
        listener, router, limits,
    ));
    (addr, dir)
}

/// Reads until the server closes the connection (or `limit` passes): what it sent and when it
/// closed (`None` if it was still open at `limit`).
async fn until_closed(
    s: &mut tokio::net::TcpStream,
    start: std::time::Instant,
    limit: std::time::Duration,
) -> (String, Option<std::time::Duration>) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = match limit.checked_sub(start.elapsed()) {
            Some(l) => l,
            None => return (String::from_utf8_lossy(&got).into(), None),
        };
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(start.elapsed()))
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_are_cut_off_and_normal_requests_are_not() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _dir) = short_timeouts("slow").await;
    let cut = Duration::from_millis(500);
    // Past the limit by at most this much (timer granularity, a loaded CI machine).
    let slack = Duration::from_millis(1500);

    // An idle connection that never sends a byte is closed after the header limit.
    let t = Instant::now();
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (_, closed) = until_closed(&mut idle, t, Duration::from_secs(5)).await;
    let closed = closed.expect("an idle connection must be closed");
    assert!(closed >= cut && closed < cut + slack, "{closed:?}");

    // Slowloris: a header line every 100 ms, never finishing, is cut at the header limit
    // although bytes keep coming.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut closed = None;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow
            .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = Some(t.elapsed());
            break;
        }
        let mut probe = [0u8; 256];
        // Any answer (EOF, a reset, or an error status before closing) means the server gave up.
        if tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe))
            .await
            .is_ok()
        {
            closed = Some(t.elapsed());
            break;
        }
    }
    let closed = closed.expect("a client trickling headers for 5 s must be cut off");
    assert!(closed >= cut && closed < cut + slack, "{closed:?}");

    // A kept-alive connection left idle after a request is closed too.
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let t = Instant::now();
    let (_, closed) = until_closed(&mut kept, t, Duration::from_secs(5)).await;
    let closed = closed.expect("an idle kept-alive connection must be closed");
    assert!(closed < cut + slack, "{closed:?}");

    // A body that stalls half-way gets 408 in the JSON error format after the request limit.
    let mut stall = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    stall
        .write_all(
            format!(
                "POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nIdempotency-Key: stall\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut stall, t, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    let took = closed.unwrap_or_else(|| t.elapsed());
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(1) + slack,
        "{took:?}"
    );

    // Normal traffic is unaffected: requests on a kept-alive connection 300 ms apart (inside the
    // header limit) are all answered, and fresh connections are too.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..4 {
        conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = conn.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for _ in 0..10 {
        let (s, _) = http_get(addr, "/health").await;
        assert_eq!(s, 200);
    }
    // A WebSocket outlives the header limit once upgraded: still open 1.2 s later.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    use futures::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({ "auth": ADMIN }).to_string().into(),
    ))
    .await
    .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("ready"), "{first}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ws.send(tokio_tungstenite::tungstenite::Message::Ping(
        b"still there".to_vec().into(),
    ))
    .await
    .expect("the socket is still open past the header limit");
    let pong = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(p))) => return Some(p),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    assert_eq!(pong.as_deref(), Some(&b"still there"[..]));
}

/// One GET on its own connection: (status, JSON body).
async fn http_get(addr: std::net::SocketAddr, uri: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let status = raw.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// How an account key's request on another account's resource must be refused.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Guard {
    /// 404, word for word the answer for a resource that does not exist (no existence oracle).
    Hidden,
    /// 403: the route is for admins (or operators) and no account key may use it.
    Forbidden,
    /// The route names no account: any non-5xx answer, about the caller's own data only.
    Global,
}

#[tokio::test]
async fn every_documented_route_refuses_another_accounts_key() {
    let h = harness("probe", None).await;
    let alice = h.account("alice").await;
    let bob = h.account("bob").await;
    let operator = h.key("operator").await;
    let bob_key_id = bob.split('_').nth(1).unwrap().to_string();
    // Bob's data: a deposit of a recognisable amount, a finished simulation job and its plots.
    let secret_amount = "987654321";
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/bob/deposits",
            &operator,
            Some(json!({"location": "deribit", "asset": "USDC", "amount": secret_amount})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/simulations",
            &bob,
            Some(json!({"preset": "calm", "kind": "simulate", "paths": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let bob_job = v["id"].as_str().unwrap().to_string();
    let job_uri = format!("/api/v1/simulations/{bob_job}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let bob_plot = loop {
        let (_, v) = h.call("GET", &job_uri, &bob, None).await;
        if v["status"] == "done" {
            let (_, names) = h.call("GET", "/plots/index.json", &bob, None).await;
            break names[0]
                .as_str()
                .expect("bob's job wrote a plot")
                .to_string();
        }
        assert!(v["status"] != "failed", "{v}");
        assert!(
            std::time::Instant::now() < deadline,
            "bob's job did not finish: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(bob_plot.starts_with(&bob_job), "{bob_plot}");
    let bob_events = h
        .call("GET", "/api/v1/accounts/bob/events", ADMIN, None)
        .await
        .1;

    // One probe per documented (method, path): Bob's resource, the body an attacker would send,
    // and the refusal. A route added to the OpenAPI document without a row here fails below.
    let dep = json!({"location": "deribit", "asset": "USDC", "amount": "1"});
    let probes: Vec<(&str, &str, Option<Value>, Guard)> = vec![
        ("get", "/health", None, Guard::Global),
        ("get", "/api/v1/accounts", None, Guard::Global),
        (
            "post",
            "/api/v1/accounts",
            Some(json!({"id": "bob2"})),
            Guard::Forbidden,
        ),
        ("get", "/api/v1/keys", None, Guard::Forbidden),
        (
            "post",
            "/api/v1/keys",
            Some(json!({"scope": "bob"})),
            Guard::Forbidden,
        ),
        ("delete", "/api/v1/keys/{key_id}", None, Guard::Hidden),
        ("post", "/api/v1/keys/{key_id}/rotate", None, Guard::Hidden),
        ("get", "/api/v1/ledger", None, Guard::Forbidden),
        (
            "post",
            "/api/v1/assets",
            Some(json!({"symbol": "BOB", "decimals": 6})),
            Guard::Forbidden,
        ),
        ("get", "/api/v1/market", None, Guard::Global),
        ("get", "/api/v1/accounts/{id}", None, Guard::Hidden),
        ("get", "/api/v1/accounts/{id}/events", None, Guard::Hidden),
        (
            "post",
            "/api/v1/accounts/{id}/deposits",
            Some(dep.clone()),
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/withdrawals",
            Some(dep.clone()),
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/transfers",
            Some(json!({"from": "deribit", "to": "okx", "asset": "USDC", "amount": "1"})),
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/positions",
            Some(json!({"venue": "binance", "positions": []})),
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/import",
            Some(json!({"venue": "binance", "payloads": [[]]})),
            Guard::Hidden,
        ),
        ("get", "/api/v1/accounts/{id}/margin", None, Guard::Hidden),
        ("get", "/api/v1/accounts/{id}/history", None, Guard::Hidden),
        (
            "get",
            "/api/v1/accounts/{id}/reconcile",
            None,
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/whatif",
            Some(json!({"trades": [{"venue": "binance", "instrument": "BTCUSDT", "size": 0.1}]})),
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/credits",
            Some(json!({"venue": "deribit", "asset": "USDC", "amount": "1"})),
            Guard::Hidden,
        ),
        ("get", "/api/v1/accounts/{id}/credits", None, Guard::Hidden),
        (
            "get",
            "/api/v1/accounts/{id}/liquidation",
            None,
            Guard::Hidden,
        ),
        (
            "get",
            "/api/v1/accounts/{id}/allocation",
            None,
            Guard::Hidden,
        ),
        (
            "get",
            "/api/v1/accounts/{id}/liquidation/plan",
            None,
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/accounts/{id}/liquidations",
            Some(json!({})),
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/simulations",
            Some(json!({"preset": "nope"})),
            Guard::Global,
        ),
        ("get", "/api/v1/simulations/{job}", None, Guard::Hidden),
        (
            "post",
            "/api/v1/accounts/{id}/proofs",
            Some(json!({})),
            Guard::Hidden,
        ),
        (
            "get",
            "/api/v1/accounts/{id}/proofs/{job}",
            None,
            Guard::Hidden,
        ),
        (
            "post",
            "/api/v1/proofs/verify",
            Some(json!({})),
            Guard::Global,
        ),
        (
            "post",
            "/api/v1/solvency/verify",
            Some(json!({})),
            Guard::Global,
        ),
        // Account keys see only their own account's cross-chain lines (404 without --xchain).
        ("get", "/api/v1/xchain", None, Guard::Global),
        // Not in the OpenAPI document (files, not API): the plots.
        ("get", "/plots/{name}", None, Guard::Hidden),
        ("get", "/plots/index.json", None, Guard::Global),
    ];
    let (_, doc) = h.call("GET", "/openapi.json", ADMIN, None).await;
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert!(documented.len() >= 30, "{documented:?}");
    for (m, p) in &documented {
        assert!(
            probes.iter().any(|(pm, pp, _, _)| pm == m && pp == p),
            "{} {p} has no cross-account probe: add one to this table",
            m.to_uppercase()
        );
    }
    // Bob's resources, and ones that exist for nobody (the answer must be the same).
    let fill = |template: &str, bob_side: bool| {
        let (acct, key, job, plot) = if bob_side {
            (
                "bob",
                bob_key_id.as_str(),
                bob_job.as_str(),
                bob_plot.clone(),
            )
        } else {
            (
                "nobody",
                "nokey0000000000",
                "0123456789abcdef",
                bob_plot.replace(&bob_job, "0123456789abcdef"),
            )
        };
        template
            .replace("{id}", acct)
            .replace("{key_id}", key)
            .replace("{job}", job)
            .replace("{name}", &plot)
    };
    let leaks = [secret_amount, &bob_key_id, &bob_job];
    for (m, template, body, guard) in &probes {
        let method = m.to_uppercase();
        let uri = fill(template, true);
        let (s, v) = h.call(&method, &uri, &alice, body.clone()).await;
        let text = v.to_string();
        for secret in leaks {
            // The request itself names the key or job id; the answer may echo only that.
            if !uri.contains(secret) {
                assert!(
                    !text.contains(secret),
                    "{method} {uri} leaks {secret}: {text}"
                );
            }
        }
        match guard {
            Guard::Hidden => {
                assert_eq!(
                    (s, v["error"]["code"].as_str()),
                    (StatusCode::NOT_FOUND, Some("not_found")),
                    "{method} {uri}: {v}"
                );
                let none = fill(template, false);
                let (s2, v2) = h.call(&method, &none, &alice, body.clone()).await;
                let same = |v: &Value, from: &str, to: &str| {
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .replace(from, to)
                };
                assert_eq!(s2, s, "{method} {none} vs {uri}");
                assert_eq!(
                    same(&v, "bob", "nobody")
                        .replace(&bob_key_id, "nokey0000000000")
                        .replace(&bob_job, "0123456789abcdef"),
                    same(&v2, "", ""),
                    "{method}: bob's resource and a missing one must answer alike"
                );
            }
            Guard::Forbidden => assert_eq!(
                (s, v["error"]["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{method} {uri}: {v}"
            ),
            Guard::Global => {
                assert!(!s.is_server_error(), "{method} {uri}: {s} {v}");
                assert!(
                    !text.contains("\"bob\""),
                    "{method} {uri} names bob: {text}"
                );
            }
        }
    }
    // The positive control: the same reads with Bob's own key succeed, so the 404s above are
    // isolation, not missing data.
    for uri in [
        "/api/v1/accounts/bob".to_string(),
        job_uri.clone(),
        format!("/plots/{bob_plot}"),
    ] {
        let (s, _) = h.call("GET", &uri, &bob, None).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
    }
    // And nothing of Bob's changed.
    let after = h
        .call("GET", "/api/v1/accounts/bob/events", ADMIN, None)
        .await
        .1;
    assert_eq!(after, bob_events);
    let (s, _) = h.call("GET", "/api/v1/accounts/bob", &bob, None).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "bob's key was neither revoked nor rotated"
    );
}

#[tokio::test]
async fn whatif_is_read_only_isolated_per_account_and_bounded() {
    let h = harness("whatif", None).await;
    let sam = h.account("sam").await;
    let readonly = h.key("read-only").await;
    let hedge = json!({"trades": [
        {"venue": "okx", "instrument": "BTC-USD-SWAP", "size": 2000},
        {"venue": "binance", "instrument": "BTCUSDT", "size": -3.2, "price": 62900}
    ]});
    // Another account's key sees the same answer as for a missing account.
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/hedged/whatif",
            &sam,
            Some(hedge.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // No key: 401.
    let (s, _) = common::call(
        &h.router,
        "POST",
        "/api/v1/accounts/hedged/whatif",
        None,
        None,
        Some(hedge.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A read-only key may ask (it computes, it writes nothing), without an Idempotency-Key.
    let (_, events_before) = h
        .call("GET", "/api/v1/accounts/hedged/events", ADMIN, None)
        .await;
    let (_, book_before) = h.call("GET", "/api/v1/accounts/hedged", ADMIN, None).await;
    let (s, v) = common::call(
        &h.router,
        "POST",
        "/api/v1/accounts/hedged/whatif",
        Some(&readonly),
        None,
        Some(hedge.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for k in ["venues", "unified", "liquidates_first"] {
        assert!(!v[k].is_null(), "{k} missing: {v}");
    }
    let okx = v["venues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["venue"] == "okx")
        .unwrap();
    for side in ["before", "after"] {
        for f in [
            "initial_margin",
            "maintenance_margin",
            "available",
            "liquidation_move",
        ] {
            assert!(okx[side].get(f).is_some(), "{side}.{f} missing: {okx}");
        }
        for f in ["initial_margin", "maintenance_margin", "saving"] {
            assert!(v["unified"][side][f].is_number(), "unified.{side}.{f}: {v}");
        }
    }
    assert_eq!(okx["refused"], json!(false));
    assert!(okx["reason"].is_null());
    // Nothing was written: the same events and the same book.
    let (_, events_after) = h
        .call("GET", "/api/v1/accounts/hedged/events", ADMIN, None)
        .await;
    let (_, book_after) = h.call("GET", "/api/v1/accounts/hedged", ADMIN, None).await;
    assert_eq!(events_before, events_after);
    assert_eq!(book_before, book_after);
    // Bounded: 65 trades are refused before any margin is computed.
    let many: Vec<Value> = (0..65)
        .map(|_| json!({"venue": "binance", "instrument": "BTCUSDT", "size": 1}))
        .collect();
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/hedged/whatif",
            ADMIN,
            Some(json!({"trades": many})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.trades")),
        "{v}"
    );
    // Each bad part is named.
    for (trade, field) in [
        (
            json!({"venue": "kraken", "instrument": "BTCUSDT", "size": 1}),
            "body.trades[0].venue",
        ),
        (
            json!({"venue": "binance", "instrument": "NOPE", "size": 1}),
            "body.trades[0].instrument",
        ),
        (
            json!({"venue": "binance", "instrument": "BTCUSDT", "size": 0}),
            "body.trades[0].size",
        ),
        (
            json!({"venue": "binance", "instrument": "BTCUSDT", "size": 1, "price": -1}),
            "body.trades[0].price",
        ),
        (
            json!({"venue": "binance", "instrument": "BTCUSDT", "size": "1"}),
            "body.trades[0].size",
        ),
        (
            json!({"venue": "binance", "instrument": "BTCUSDT", "size": 1, "leverage": 100}),
            "body.trades[0]",
        ),
    ] {
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/accounts/hedged/whatif",
                ADMIN,
                Some(json!({"trades": [trade]})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let got = v["error"]["field"].as_str().unwrap_or_default();
        assert!(got.starts_with(field), "{field}: {v}");
    }
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/hedged/whatif",
            ADMIN,
            Some(json!({"trades": []})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.trades")),
        "{v}"
    );
}
