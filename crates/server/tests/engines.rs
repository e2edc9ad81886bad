//! The engine routes end to end through the router: allocation and liquidation plans on the
//! demo book, simulation and proof jobs with their progress, isolation of jobs between keys,
//! and proof verification (valid, tampered, unknown rule).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use intermargin_server::{app, prepare};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;

const ADMIN: &str = "im_adm1n0000002_0123456789abcdef0123456789abcdef0123456789abcdef";

struct Harness {
    router: axum::Router,
    state: intermargin_server::state::Shared,
    _dir: common::tempdir::Dir,
}

async fn harness(tag: &str) -> Harness {
    harness_on(tag, None).await
}

async fn harness_on(tag: &str, database: Option<String>) -> Harness {
    let dir = common::tempdir::Dir::new(&format!("engines-{tag}"));
    let cfg = common::config(&dir.0, database, ADMIN);
    let (st, _) = prepare(&cfg).await.unwrap();
    Harness {
        router: app(st.clone()),
        state: st,
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

    async fn raw_get(&self, uri: &str, key: Option<&str>) -> (StatusCode, Option<String>, usize) {
        let mut req = Request::builder().uri(uri);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let n = resp.into_body().collect().await.unwrap().to_bytes().len();
        (status, ctype, n)
    }

    async fn account_key(&self, id: &str) -> String {
        let (s, _) = self
            .call("POST", "/api/v1/accounts", ADMIN, Some(json!({"id": id})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = self
            .call("POST", "/api/v1/keys", ADMIN, Some(json!({"scope": id})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        v["key"].as_str().unwrap().to_string()
    }

    /// Polls a job until it finishes, checking that progress never goes backwards.
    async fn wait(&self, uri: &str, key: &str) -> Value {
        let mut last = 0u64;
        for _ in 0..3000 {
            let (s, v) = self.call("GET", uri, key, None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let done = v["done"].as_u64().unwrap();
            assert!(done >= last, "progress went backwards: {last} → {done}");
            assert!(done <= v["total"].as_u64().unwrap());
            last = done;
            match v["status"].as_str().unwrap() {
                "done" | "failed" => return v,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("job {uri} did not finish in 300 s");
    }
}

/// Replays `feed` (JSON lines of ticks) into the harness's live monitor with the shipped breakers.
fn start_feed(h: &Harness, feed: &str, speed: f64) {
    use intermargin_server::monitor::{run, BreakerFile, LiveBreakers, ReplayFeed};
    let breakers = BreakerFile::from_toml(intermargin_server::DEMO_BREAKERS).unwrap();
    tokio::spawn(run(
        h.state.clone(),
        Box::new(ReplayFeed::parse(feed, speed).unwrap()),
        LiveBreakers::new(breakers),
    ));
}

fn amount(v: &Value) -> i128 {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn allocation_plan_covers_the_margin_report_and_conserves_every_asset() {
    let h = harness("alloc").await;
    let (s, margin) = h
        .call("GET", "/api/v1/accounts/hedged/margin", ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, plan) = h
        .call("GET", "/api/v1/accounts/hedged/allocation", ADMIN, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    // The bundled routes name the hub, so it must hold the pooled requirement (unified initial margin
    // less the local floors) and each venue the local floor the margin report lists for it.
    let heads = plan["headroom"].as_array().unwrap();
    let req_at = |loc: &str| {
        heads
            .iter()
            .find(|h| h["location"] == loc)
            .map(|h| h["requirement"].as_f64().unwrap())
    };
    let floors: f64 = margin["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["local_minimum"].as_f64().unwrap())
        .sum();
    let unified = margin["unified"]["initial_margin"].as_f64().unwrap() - floors;
    let hub = req_at("hub").expect("hub requirement");
    assert!(
        (hub - unified).abs() <= 1e-6 * unified,
        "hub {hub} vs unified {unified}"
    );
    for c in margin["constraints"].as_array().unwrap() {
        let v = c["venue"].as_str().unwrap();
        let local = c["local_minimum"].as_f64().unwrap();
        if local > 0.0 {
            let r = req_at(v).unwrap_or_else(|| panic!("no requirement for {v}: {plan}"));
            assert!(
                (r - local).abs() <= 1e-6 * local.max(1.0),
                "{v}: {r} vs {local}"
            );
        }
    }
    // Conservation in base units: per asset, holdings before = after + fees (from the ledger's book).
    let (_, book) = h.call("GET", "/api/v1/accounts/hedged", ADMIN, None).await;
    let mut before = std::collections::BTreeMap::<String, i128>::new();
    for c in book["collateral"].as_array().unwrap() {
        *before
            .entry(c["asset"].as_str().unwrap().into())
            .or_default() += amount(&c["amount"]);
    }
    let mut after = std::collections::BTreeMap::<String, i128>::new();
    for t in plan["targets"].as_array().unwrap() {
        *after
            .entry(t["asset"].as_str().unwrap().into())
            .or_default() += amount(&t["target"]);
    }
    for t in plan["transfers"].as_array().unwrap() {
        *after
            .entry(t["asset"].as_str().unwrap().into())
            .or_default() += amount(&t["fee"]);
        assert_eq!(
            amount(&t["amount"]) - amount(&t["fee"]),
            amount(&t["received"]),
            "{t}"
        );
    }
    assert_eq!(before, after, "{plan}");
    // Options are checked and named.
    let (s, v) = h
        .call(
            "GET",
            "/api/v1/accounts/hedged/allocation?requirement=peak",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("requirement"))
    );
    let (s, siloed) = h
        .call(
            "GET",
            "/api/v1/accounts/hedged/allocation?venue_basis=siloed&requirement=maintenance",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{siloed}");
    let deribit = margin["venues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["venue"] == "deribit")
        .unwrap()["in_quote"]["maintenance_margin"]
        .as_f64()
        .unwrap();
    let r = siloed["headroom"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["location"] == "deribit")
        .unwrap()["requirement"]
        .as_f64()
        .unwrap();
    assert!(
        (r - deribit).abs() <= 1e-6 * deribit,
        "deribit siloed maintenance {r} vs {deribit}"
    );
}

#[tokio::test]
async fn liquidation_plan_of_a_healthy_and_an_underwater_account() {
    for (name, db) in common::backends("liq").await {
        eprintln!("backend {name}");
        liquidation_on(harness_on("liq", db).await).await;
    }
}

async fn liquidation_on(h: Harness) {
    let (s, plan) = h
        .call(
            "GET",
            "/api/v1/accounts/hedged/liquidation/plan",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["state"], "healthy", "{plan}");
    assert_eq!(
        plan["plan"].as_array().unwrap().len(),
        0,
        "a healthy account closes nothing"
    );
    let (s, v) = h
        .call(
            "GET",
            "/api/v1/accounts/hedged/liquidation/plan?buffer=-1",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("buffer"))
    );

    // The demo's 16 Deribit calls sold instead of bought, against 3 BTC on Deribit: Deribit's
    // short-option maintenance (≈ 216k USD here) far exceeds the ≈ 48k USD equity, yet the
    // account is not bankrupt, so the planner buys back part of the calls.
    let key = h.account_key("thin").await;
    let (_, book) = h.call("GET", "/api/v1/accounts/hedged", ADMIN, None).await;
    let mut perp = book["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["instrument"]["venue"] == "deribit")
        .unwrap()
        .clone();
    let bought = perp["size"].as_f64().unwrap();
    perp["size"] = json!(-bought);
    let instrument = format!("deribit:{}", perp["instrument"]["symbol"].as_str().unwrap());
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/thin/positions",
            ADMIN,
            Some(json!({"venue": "deribit", "positions": [perp]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/thin/deposits",
            ADMIN,
            Some(json!({"location": "deribit", "asset": "BTC", "amount": "300000000"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, plan) = h
        .call("GET", "/api/v1/accounts/thin/liquidation/plan", &key, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["state"], "liquidation", "{plan}");
    // Whatever it closes, the plan never reduces a leg beyond its size nor leaves health lower.
    let size = perp["size"].as_f64().unwrap().abs();
    for leg in plan["plan"].as_array().unwrap() {
        assert!(
            leg["reduce"].as_f64().unwrap().abs() <= size * (1.0 + 1e-12),
            "{leg}"
        );
    }
    let ratio =
        |f: &Value| f["equity"].as_f64().unwrap() / f["maintenance"].as_f64().unwrap().max(1e-9);
    if plan["margin_after"]["maintenance"].as_f64().unwrap() > 0.0 {
        assert!(
            ratio(&plan["margin_after"]) >= ratio(&plan["margin_before"]) - 1e-9,
            "{plan}"
        );
    }

    // Executing it is the operator's act: an account key may not.
    let (s, _) = h
        .call("POST", "/api/v1/accounts/thin/liquidations", &key, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // While a circuit breaker halts liquidations, execution is refused and nothing is written.
    let halt = &h.state.monitor.halt_until_ms;
    halt.store(i64::MAX, std::sync::atomic::Ordering::Relaxed);
    let (s, v) = h
        .call("POST", "/api/v1/accounts/thin/liquidations", ADMIN, None)
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("circuit_breaker")),
        "{v}"
    );
    halt.store(i64::MIN, std::sync::atomic::Ordering::Relaxed);
    // The admin executes it once; a retry with the same key returns the same stored event.
    let exec = |idem: &'static str| {
        common::call(
            &h.router,
            "POST",
            "/api/v1/accounts/thin/liquidations",
            Some(ADMIN),
            Some(idem),
            Some(json!({"buffer": 0.05})),
        )
    };
    let (s, ev) = exec("liq-1").await;
    assert_eq!(s, StatusCode::OK, "{ev}");
    assert_eq!(ev["kind"], "liquidation");
    let (s, again) = exec("liq-1").await;
    assert_eq!(
        (s, &again),
        (StatusCode::OK, &ev),
        "a retry applies nothing new"
    );
    // The binance position shrank by exactly the executed leg (|size| − reduce, same sign).
    let legs = ev["payload"]["plan"]["plan"].as_array().unwrap();
    let reduce: f64 = legs
        .iter()
        .filter(|l| l["instrument"] == instrument.as_str())
        .map(|l| l["reduce"].as_f64().unwrap())
        .sum();
    assert!(reduce > 0.0 && reduce < bought, "a partial buy-back: {ev}");
    let old = perp["size"].as_f64().unwrap();
    let want = old.signum() * (old.abs() - reduce);
    let (_, book) = h.call("GET", "/api/v1/accounts/thin", &key, None).await;
    let now: f64 = book["positions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["instrument"]["venue"] == "deribit")
        .map(|p| p["size"].as_f64().unwrap())
        .sum();
    assert!((now - want).abs() < 1e-9, "size {now}, expected {want}");
    let (_, events) = h
        .call("GET", "/api/v1/accounts/thin/events", &key, None)
        .await;
    let liquidations = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "liquidation")
        .count();
    assert_eq!(liquidations, 1);
    // A healthy account has nothing to close.
    let (s, v) = h
        .call("POST", "/api/v1/accounts/hedged/liquidations", ADMIN, None)
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("state")),
        "{v}"
    );
}

/// The rule for streamed venues: a liquidation that would close positions on a venue whose
/// account stream files the account's positions and balances is not booked (409
/// `streamed_venue`, naming the venue and its stream), and nothing is written — so no booking
/// can be replaced silently by the stream's next report. The same account without the stream's
/// statement is liquidated as before (engines' `liquidation_on`).
#[tokio::test]
async fn liquidation_is_not_booked_on_a_streamed_venue() {
    use intermargin_model::{Amount, Collateral, Venue};
    let h = harness("streamed-liq").await;
    // The underwater book of `liquidation_on`: the demo's Deribit calls sold instead of bought.
    let (_, book) = h.call("GET", "/api/v1/accounts/hedged", ADMIN, None).await;
    let mut perp = book["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["instrument"]["venue"] == "deribit")
        .unwrap()
        .clone();
    perp["size"] = json!(-perp["size"].as_f64().unwrap());
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts",
            ADMIN,
            Some(json!({"id": "streamed"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/streamed/positions",
            ADMIN,
            Some(json!({"venue": "deribit", "positions": [perp.clone()]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Deribit's stream states 3 BTC for the account (what `serve --live` files for a streamed
    // Deribit account: a statement, not a deposit).
    let m = intermargin_server::live::balances_mutation(
        "streamed",
        Venue::Deribit,
        &[Collateral {
            venue: Venue::Deribit,
            asset: "BTC".into(),
            amount: Amount(300_000_000),
            sub_account: None,
            chain_id: None,
        }],
        1_796_000_000_000,
    )
    .unwrap();
    h.state
        .ledger
        .apply("system", "stream-statement-1", "stream-statement-1", m)
        .await
        .unwrap();
    let (s, plan) = h
        .call(
            "GET",
            "/api/v1/accounts/streamed/liquidation/plan",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["state"], "liquidation", "{plan}");
    assert!(!plan["plan"].as_array().unwrap().is_empty(), "{plan}");
    let (_, before) = h
        .call("GET", "/api/v1/accounts/streamed", ADMIN, None)
        .await;
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/streamed/liquidations",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("streamed_venue")),
        "{v}"
    );
    let why = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("deribit (streamed from deribit at 2026-11-30T")
            && why.contains("no liquidation is booked here"),
        "{why}"
    );
    // Nothing written: no liquidation event, the same positions and balances.
    let (_, after) = h
        .call("GET", "/api/v1/accounts/streamed", ADMIN, None)
        .await;
    assert_eq!(before, after);
    let (_, events) = h
        .call("GET", "/api/v1/accounts/streamed/events", ADMIN, None)
        .await;
    assert!(
        !events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "liquidation"),
        "{events}"
    );
}

#[tokio::test]
async fn simulation_job_reports_progress_writes_plots_and_stays_with_its_owner() {
    let h = harness("sim").await;
    let alice = h.account_key("alice").await;
    let bob = h.account_key("bob").await;
    let (s, job) = h
        .call(
            "POST",
            "/api/v1/simulations",
            &alice,
            Some(json!({"preset": "calm", "paths": 40, "seed": 7})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "queued");
    // calm.toml has two circuit breakers, so 40 paths run four times: without breakers, with both,
    // and with each alone (the decomposition of each breaker's effect): 40 × 4.
    assert_eq!(job["total"], 160);
    let uri = format!("/api/v1/simulations/{}", job["id"].as_str().unwrap());
    let (s, _) = h.call("GET", &uri, &bob, None).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another account's job is invisible"
    );
    let done = h.wait(&uri, &alice).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["done"], 160, "every run of every path is counted");
    assert_eq!(done["result"]["summary"]["paths"], 40);
    let p = done["result"]["summary"]["without_breakers"]["prob_bad_debt"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&p));
    let plots = done["result"]["plots"].as_array().unwrap();
    assert!(
        plots
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("loss_distribution.svg")),
        "{plots:?}"
    );
    for p in plots {
        let (s, ctype, n) = h.raw_get(p.as_str().unwrap(), Some(&alice)).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(ctype.unwrap().starts_with("image/"));
        assert!(n > 500, "{p} is {n} bytes");
        // Another account's key, or none, does not get the plot of alice's job.
        let (s, _, _) = h.raw_get(p.as_str().unwrap(), Some(&bob)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
        let (s, _, _) = h.raw_get(p.as_str().unwrap(), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
    }
    let (_, listed) = h.call("GET", "/plots/index.json", &bob, None).await;
    assert_eq!(listed, json!([]), "bob lists none of alice's plots");
    let (s, _) = h.call("GET", &uri, ADMIN, None).await;
    assert_eq!(s, StatusCode::OK, "admins see every job");

    for (body, field) in [
        (json!({"preset": "meteor"}), "body.preset"),
        (json!({"preset": "calm", "paths": 0}), "body.paths"),
        (json!({"preset": "calm", "paths": 10_000_000}), "body.paths"),
        (json!({"preset": "calm", "config": "paths = 1"}), "body"),
        (json!({"config": "paths = \"many\""}), "body.config.paths"),
        (json!({"preset": "calm", "kind": "forecast"}), "body.kind"),
    ] {
        let (s, v) = h
            .call("POST", "/api/v1/simulations", &alice, Some(body.clone()))
            .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {v}"
        );
    }
}

#[tokio::test]
async fn margin_proof_of_the_demo_account_verifies_and_tampering_fails() {
    let h = harness("zk").await;
    let (s, job) = h
        .call(
            "POST",
            "/api/v1/accounts/hedged/proofs",
            ADMIN,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let uri = format!(
        "/api/v1/accounts/hedged/proofs/{}",
        job["id"].as_str().unwrap()
    );
    let done = h.wait(&uri, ADMIN).await;
    assert_eq!(done["status"], "done", "{done}");
    let rule = done["result"]["rule"].clone();
    let proof = done["result"]["proof"].clone();
    // The rule covers the account's three instruments and no position or collateral is disclosed.
    assert_eq!(rule["instruments"].as_array().unwrap().len(), 3);
    let text = done["result"].to_string();
    for private in ["\"salt\"", "\"quantity\"", "\"collateral\""] {
        assert!(!text.contains(private), "{private} leaked: {text}");
    }
    let hex = proof["proof"].as_str().unwrap().trim_start_matches("0x");
    assert_eq!(hex.len(), 256, "128-byte Groth16 proof in hex");

    let (s, v) = h
        .call(
            "POST",
            "/api/v1/proofs/verify",
            ADMIN,
            Some(json!({"rule": rule, "proof": proof})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["valid"], true, "{v}");

    // A different public commitment must not verify.
    let mut forged = proof.clone();
    let c = forged["commitment"].as_str().unwrap().to_string();
    let last = c.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &c[..c.len() - 1],
        if last == '1' { '2' } else { '1' }
    );
    forged["commitment"] = json!(flipped);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/proofs/verify",
            ADMIN,
            Some(json!({"rule": rule, "proof": forged})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["valid"], false, "{v}");

    // A verifier demanding a higher threshold than was proved rejects the proof.
    let mut stricter = rule.clone();
    stricter["threshold"] = json!(1);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/proofs/verify",
            ADMIN,
            Some(json!({"rule": stricter, "proof": proof})),
        )
        .await;
    assert_eq!(
        (s, v["valid"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{v}"
    );

    // A rule with a different loss matrix is another circuit: this service has no key for it.
    let mut other = rule.clone();
    let l = other["losses"][0][0].as_i64().unwrap();
    other["losses"][0][0] = json!(l + 1);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/proofs/verify",
            ADMIN,
            Some(json!({"rule": other, "proof": proof})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // Another account's key sees neither the job nor can start one on this account.
    let mallory = h.account_key("mallory").await;
    let (s, _) = h.call("GET", &uri, &mallory, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/mallory/proofs",
            &mallory,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("account.positions"))
    );
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/accounts/hedged/proofs",
            ADMIN,
            Some(json!({"model": "black-scholes"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.model"))
    );
}

#[tokio::test]
async fn unified_margin_proof_of_the_demo_account_verifies_and_tampering_fails() {
    let h = harness("zk-unified").await;
    let (s, job) = h
        .call(
            "POST",
            "/api/v1/accounts/hedged/proofs",
            ADMIN,
            Some(json!({"model": "unified"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let uri = format!(
        "/api/v1/accounts/hedged/proofs/{}",
        job["id"].as_str().unwrap()
    );
    let done = h.wait(&uri, ADMIN).await;
    assert_eq!(done["status"], "done", "{done}");
    let rule = done["result"]["rule"].clone();
    let proof = done["result"]["proof"].clone();
    assert_eq!(rule["kind"], "unified", "{rule}");
    // Every segregated venue of the book carries its floor in the public rule; the private book
    // (lots, salt) never leaves the service.
    assert!(!rule["venues"].as_array().unwrap().is_empty());
    let text = done["result"].to_string();
    assert!(!text.contains("\"salt\""), "salt leaked: {text}");
    let verify = |rule: Value, proof: Value| {
        let h = &h;
        async move {
            h.call(
                "POST",
                "/api/v1/proofs/verify",
                ADMIN,
                Some(json!({"rule": rule, "proof": proof})),
            )
            .await
        }
    };
    let (s, v) = verify(rule.clone(), proof.clone()).await;
    assert_eq!(
        (s, v["valid"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    // A stricter threshold than was proved is rejected.
    let mut stricter = rule.clone();
    stricter["threshold"] = json!(1_000_000_000_000i64);
    let (s, v) = verify(stricter, proof.clone()).await;
    assert_eq!(
        (s, v["valid"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{v}"
    );
    // Another commitment is rejected.
    let mut forged = proof.clone();
    let c = forged["commitment"].as_str().unwrap().to_string();
    let last = c.chars().last().unwrap();
    forged["commitment"] = json!(format!(
        "{}{}",
        &c[..c.len() - 1],
        if last == '1' { '2' } else { '1' }
    ));
    let (s, v) = verify(rule.clone(), forged).await;
    assert_eq!(
        (s, v["valid"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{v}"
    );
    // A unified rule with an unknown field is refused naming body.rule.
    let mut odd = rule.clone();
    odd["extra"] = json!(1);
    let (s, v) = verify(odd, proof).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body.rule")),
        "{v}"
    );
}

#[tokio::test]
async fn solvency_inclusion_proofs_verify_and_a_changed_balance_fails() {
    use intermargin_proofs::{Ledger, SumTree};
    let h = harness("solv").await;
    let ledger =
        Ledger::from_csv("user,BTC,USDT\nalice,5,100\nbob,7,0\ncarol,0,2500\n".as_bytes()).unwrap();
    let tree = SumTree::build(ledger, [9u8; 32]).unwrap();
    let root = serde_json::to_value(tree.root()).unwrap();
    // Liabilities are the column sums of the CSV above.
    assert_eq!(root["liabilities"], json!([12, 2600]));
    for u in 0..tree.len() {
        let proof = serde_json::to_value(tree.proof(u)).unwrap();
        let (s, v) = h
            .call(
                "POST",
                "/api/v1/solvency/verify",
                ADMIN,
                Some(json!({"root": root, "proof": proof})),
            )
            .await;
        assert_eq!(
            (s, v["valid"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{v}"
        );
    }
    let mut proof = serde_json::to_value(tree.proof(0)).unwrap();
    let b = proof["balances"][0].as_u64().unwrap();
    proof["balances"][0] = json!(b + 1);
    let (s, v) = h
        .call(
            "POST",
            "/api/v1/solvency/verify",
            ADMIN,
            Some(json!({"root": root, "proof": proof})),
        )
        .await;
    assert_eq!(
        (s, v["valid"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{v}"
    );
}

#[tokio::test]
async fn a_price_jump_in_the_live_feed_halts_liquidation_execution() {
    let h = harness("halt").await;
    // BTC +10 % within 2 s of market time: more than the shipped breaker's 5 % in 60 s.
    let feed = "{\"t_ms\": 0, \"key\": \"fx:BTC\", \"price\": 60000}\n\
                {\"t_ms\": 1000, \"key\": \"fx:BTC\", \"price\": 60000}\n\
                {\"t_ms\": 2000, \"key\": \"fx:BTC\", \"price\": 66000}\n";
    start_feed(&h, feed, 1000.0);
    let mut halted = false;
    for _ in 0..200 {
        let (_, health) = h.call("GET", "/health", ADMIN, None).await;
        let m = &health["monitor"];
        let until = m["liquidations_halted_until_ms"].as_i64().unwrap();
        let now = m["market_time_ms"].as_i64().unwrap();
        if until > now {
            // Halted for the breaker's cool-down, 300 one-second steps from the trip.
            assert!(until - now <= 300_000, "{health}");
            halted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(halted, "the +10 % jump did not trip the breaker");
    let (s, v) = h
        .call("POST", "/api/v1/accounts/hedged/liquidations", ADMIN, None)
        .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("circuit_breaker")),
        "{v}"
    );
}

#[tokio::test]
async fn a_tick_re_margins_only_the_accounts_exposed_to_it() {
    let h = harness("incremental").await;
    // "cash" holds only USDT; the demo account "hedged" holds BTC options, perps and collateral.
    let _key = h.account_key("cash").await;
    let (s, _) = h
        .call(
            "POST",
            "/api/v1/accounts/cash/deposits",
            ADMIN,
            Some(json!({"location": "binance", "asset": "USDT", "amount": "5000000000"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let feed = "{\"t_ms\": 0, \"key\": \"fx:BTC\", \"price\": 60000}\n\
                {\"t_ms\": 1000, \"key\": \"fx:BTC\", \"price\": 60100}\n";
    start_feed(&h, feed, 100.0);
    for _ in 0..200 {
        let (_, health) = h.call("GET", "/health", ADMIN, None).await;
        if health["monitor"]["batches"].as_u64().unwrap() >= 1 {
            assert_eq!(
                health["monitor"]["last_accounts"], 1,
                "only the BTC holder is re-margined on a BTC tick: {health}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no batch was applied");
}
