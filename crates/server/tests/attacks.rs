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
