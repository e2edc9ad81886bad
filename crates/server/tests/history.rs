//! Margin history (`GET /api/v1/accounts/{id}/history`) on SQLite and, when
//! `INTERMARGIN_TEST_POSTGRES` names a server, PostgreSQL: every margin update becomes a point
//! (the tests keep every update), the points are the margin report's own figures, they survive a
//! restart, the bound drops the oldest, and the route is guarded like every account route.

use axum::http::StatusCode;
use intermargin_server::history::HistoryPoint;
use intermargin_server::ledger::Ledger;
use intermargin_server::{app, prepare};
use serde_json::{json, Value};

mod common;

use common::{backends, tempdir};

const ADMIN: &str = "im_adm1n0000018_0123456789abcdef0123456789abcdef0123456789abcdef";

async fn call(
    r: &axum::Router,
    m: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    match key {
        Some(k) => common::call_once(r, m, uri, k, body).await,
        None => common::call(r, m, uri, None, None, body).await,
    }
}

#[tokio::test]
async fn each_margin_update_is_a_point_with_the_reports_figures_and_survives_a_restart() {
    for (backend, db) in backends("history").await {
        let dir = tempdir::Dir::new(&format!("history-{backend}"));
        let cfg = common::config(&dir.0, db, ADMIN);
        let (st, _) = prepare(&cfg).await.unwrap();
        let r = app(st);
        // Three deposits: three more margin updates of the demo book, each a point.
        for amount in ["1000000000", "2000000000", "3000000000"] {
            let (s, v) = call(
                &r,
                "POST",
                "/api/v1/accounts/hedged/deposits",
                Some(ADMIN),
                Some(json!({"location": "binance", "asset": "USDT", "amount": amount})),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{backend}: {v}");
        }
        let (s, h) = call(
            &r,
            "GET",
            "/api/v1/accounts/hedged/history",
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{backend}: {h}");
        let points = h["points"].as_array().unwrap();
        // The start's margin run, then one per deposit.
        assert_eq!(points.len(), 4, "{backend}: {h}");
        assert_eq!(h["truncated"], false);
        assert_eq!(h["quote"], "USD");
        let times: Vec<i64> = points.iter().map(|p| p["t_ms"].as_i64().unwrap()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "oldest first: {times:?}"
        );
        // Each deposit of n USDT raised equity by n × the USDT rate (1 in the demo market, the
        // same rate the report uses).
        let eq: Vec<f64> = points
            .iter()
            .map(|p| p["equity"].as_f64().unwrap())
            .collect();
        for (i, usdt) in [1_000.0, 2_000.0, 3_000.0].iter().enumerate() {
            let step = eq[i + 1] - eq[i];
            assert!(
                (step - usdt).abs() < 1e-6 * usdt,
                "{backend}: step {i} {step} vs {usdt}"
            );
        }
        // The newest point is the current report, figure for figure.
        let (_, m) = call(
            &r,
            "GET",
            "/api/v1/accounts/hedged/margin",
            Some(ADMIN),
            None,
        )
        .await;
        let last = points.last().unwrap();
        for (field, want) in [
            ("equity", &m["equity"]),
            ("siloed_total", &m["siloed_total"]),
            ("initial_margin", &m["unified"]["initial_margin"]),
            ("maintenance_margin", &m["unified"]["maintenance_margin"]),
            ("saving", &m["saving"]),
            ("state", &m["state"]),
            ("market_ms", &m["timestamp_ms"]),
        ] {
            assert_eq!(&last[field], want, "{backend}: {field}");
        }
        let saving =
            last["siloed_total"].as_f64().unwrap() - last["initial_margin"].as_f64().unwrap();
        assert!((last["saving"].as_f64().unwrap() - saving).abs() < 1e-6 * saving.abs().max(1.0));
        // The newest `limit`, and a range.
        let (_, one) = call(
            &r,
            "GET",
            "/api/v1/accounts/hedged/history?limit=1",
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(one["points"].as_array().unwrap().len(), 1);
        assert_eq!(one["points"][0], *last);
        assert_eq!(one["truncated"], true);
        let uri = format!(
            "/api/v1/accounts/hedged/history?from={}&to={}",
            times[1], times[2]
        );
        let (_, mid) = call(&r, "GET", &uri, Some(ADMIN), None).await;
        let got: Vec<i64> = mid["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["t_ms"].as_i64().unwrap())
            .collect();
        let want: Vec<i64> = times
            .iter()
            .copied()
            .filter(|t| *t >= times[1] && *t <= times[2])
            .collect();
        assert_eq!(got, want, "{backend}");
        // A restart reads the same points from the ledger (plus the new start's run).
        drop(r);
        let (st, _) = prepare(&cfg).await.unwrap();
        let r = app(st);
        let (_, again) = call(
            &r,
            "GET",
            "/api/v1/accounts/hedged/history",
            Some(ADMIN),
            None,
        )
        .await;
        let again = again["points"].as_array().unwrap();
        assert_eq!(again.len(), 5, "{backend}");
        assert_eq!(&again[..4], points.as_slice(), "{backend}");
    }
}

#[tokio::test]
async fn the_history_route_hides_other_accounts_and_names_bad_parameters() {
    let dir = tempdir::Dir::new("history-guard");
    let cfg = common::config(&dir.0, None, ADMIN);
    let (st, _) = prepare(&cfg).await.unwrap();
    let r = app(st);
    for id in ["alice", "bob"] {
        let (s, v) = call(
            &r,
            "POST",
            "/api/v1/accounts",
            Some(ADMIN),
            Some(json!({"id": id})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (_, k) = call(
        &r,
        "POST",
        "/api/v1/keys",
        Some(ADMIN),
        Some(json!({"scope": "alice"})),
    )
    .await;
    let alice = k["key"].as_str().unwrap().to_string();
    // Alice's key on Bob's history answers exactly as on an account that does not exist.
    let (s, bob) = call(
        &r,
        "GET",
        "/api/v1/accounts/bob/history",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (s, bob["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{bob}"
    );
    let (s2, nobody) = call(
        &r,
        "GET",
        "/api/v1/accounts/nobody/history",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(s2, StatusCode::NOT_FOUND);
    assert_eq!(
        bob["error"]["message"]
            .as_str()
            .unwrap()
            .replace("bob", "nobody"),
        nobody["error"]["message"].as_str().unwrap()
    );
    // Bad parameters on Bob's history are not an oracle either: the 404 comes first.
    let (s, _) = call(
        &r,
        "GET",
        "/api/v1/accounts/bob/history?limit=0",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // No key.
    let (s, v) = call(&r, "GET", "/api/v1/accounts/alice/history", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    // Her own history: an empty account has no margin to record yet, or its points.
    let (s, v) = call(
        &r,
        "GET",
        "/api/v1/accounts/alice/history",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["points"].is_array());
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("limit=ten", "limit"),
        ("from=-5", "from"),
        ("from=yesterday", "from"),
        ("to=1e3", "to"),
        ("from=2000&to=1000", "from"),
    ] {
        let uri = format!("/api/v1/accounts/alice/history?{query}");
        let (s, v) = call(&r, "GET", &uri, Some(&alice), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["error"]["field"], field, "{query}: {v}");
    }
}

fn point(t_ms: i64) -> HistoryPoint {
    HistoryPoint {
        t_ms,
        market_ms: t_ms + 7,
        equity: 1_000.0 + t_ms as f64,
        siloed_total: 500.0,
        initial_margin: 200.0,
        maintenance_margin: 100.0,
        saving: 300.0,
        state: "healthy".into(),
    }
}

#[tokio::test]
async fn the_ledger_keeps_the_newest_points_of_each_account() {
    for (backend, db) in backends("historykeep").await {
        let dir = tempdir::Dir::new(&format!("history-keep-{backend}"));
        let url =
            db.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.0.join("h.db").display()));
        let ledger = Ledger::open(&url).await.unwrap();
        let a: Vec<(String, HistoryPoint)> =
            (1..=10).map(|t| ("a".to_string(), point(t))).collect();
        ledger.record_history(&a[..6], 4).await.unwrap();
        ledger.record_history(&a[6..], 4).await.unwrap();
        ledger
            .record_history(&[("b".to_string(), point(3))], 4)
            .await
            .unwrap();
        let kept = ledger.history("a", 0, i64::MAX, 100).await.unwrap();
        assert_eq!(kept, (7..=10).map(point).collect::<Vec<_>>(), "{backend}");
        assert_eq!(
            ledger.history("b", 0, i64::MAX, 100).await.unwrap(),
            vec![point(3)]
        );
        // A point at a stored time replaces it.
        let mut newer = point(10);
        newer.equity = -1.0;
        newer.state = "bankrupt".into();
        ledger
            .record_history(&[("a".to_string(), newer.clone())], 4)
            .await
            .unwrap();
        assert_eq!(ledger.history("a", 10, 10, 5).await.unwrap(), vec![newer]);
        // The newest `limit` of a range, oldest first.
        assert_eq!(
            ledger.history("a", 7, 9, 2).await.unwrap(),
            vec![point(8), point(9)]
        );
    }
}
