//! Durability: `kill -9` the server while it is acknowledging writes, restart it, and check that
//! every acknowledged write is there, nothing else is, and a retried in-flight write applies once.

use std::time::Duration;

use serde_json::{json, Value};

mod common;

const KEY: &str = "im_crash0000000001_00112233445566778899aabbccddeeff0011223344556677";

/// One request with the admin key.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    idem: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    common::http(addr, KEY, method, path, idem, body)
}

#[test]
fn kill_dash_nine_loses_no_acknowledged_write_and_invents_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::start(dir.path(), None, KEY, &[]);
    let addr = server.addr.clone();
    let (s, _) = http(
        &addr,
        "POST",
        "/api/v1/accounts",
        Some("create"),
        Some(&json!({"id": "crash"})),
    )
    .unwrap();
    assert_eq!(s, 201);

    // A writer acknowledges deposits of 1, 2, 3 … base units until the server dies under it.
    let writer_addr = addr.clone();
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut in_flight = None;
        for i in 1..=100_000u64 {
            let body = json!({"location": "deribit", "asset": "USDC", "amount": i.to_string()});
            match http(
                &writer_addr,
                "POST",
                "/api/v1/accounts/crash/deposits",
                Some(&format!("dep-{i}")),
                Some(&body),
            ) {
                Ok((200, _)) => acked.push(i),
                Ok((status, v)) => panic!("deposit {i}: unexpected {status} {v}"),
                Err(_) => {
                    in_flight = Some(i);
                    break;
                }
            }
        }
        (acked, in_flight)
    });
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL: no shutdown hook, no flush.
    server.kill();
    let (acked, in_flight) = writer.join().unwrap();
    assert!(
        acked.len() > 5,
        "the writer should have been acknowledged a few times first"
    );

    let mut server = common::start(dir.path(), None, KEY, &[]);
    let addr = server.addr.clone();
    let (s, v) = http(
        &addr,
        "GET",
        "/api/v1/accounts/crash/events?limit=1000",
        None,
        None,
    )
    .unwrap();
    assert_eq!(s, 200);
    let mut stored: Vec<u64> = Vec::new();
    let mut after = 0i64;
    let mut page = v;
    loop {
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            break;
        }
        for e in &events {
            after = e["seq"].as_i64().unwrap();
            if e["kind"] == "deposit" {
                stored.push(e["payload"]["amount"].as_str().unwrap().parse().unwrap());
            }
        }
        let (_, next) = http(
            &addr,
            "GET",
            &format!("/api/v1/accounts/crash/events?limit=1000&after={after}"),
            None,
            None,
        )
        .unwrap();
        page = next;
    }
    // Every acknowledged write survived, in order.
    assert_eq!(
        &stored[..acked.len()],
        &acked[..],
        "acknowledged deposits must all be stored"
    );
    // Nothing else: at most the one in flight at the kill, which may or may not have committed.
    let extra = &stored[acked.len()..];
    assert!(
        extra.is_empty() || (extra.len() == 1 && Some(extra[0]) == in_flight),
        "unexpected extra writes {extra:?}"
    );
    // The balance projection equals the sum of the stored events (the server also checks this at start).
    let (_, acc) = http(&addr, "GET", "/api/v1/accounts/crash", None, None).unwrap();
    let balance: u64 = acc["collateral"][0]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(balance, stored.iter().sum::<u64>());
    // Retrying the in-flight request with its idempotency key applies it exactly once.
    if let Some(i) = in_flight {
        let body = json!({"location": "deribit", "asset": "USDC", "amount": i.to_string()});
        for _ in 0..2 {
            let (s, _) = http(
                &addr,
                "POST",
                "/api/v1/accounts/crash/deposits",
                Some(&format!("dep-{i}")),
                Some(&body),
            )
            .unwrap();
            assert_eq!(s, 200);
        }
        let (_, acc) = http(&addr, "GET", "/api/v1/accounts/crash", None, None).unwrap();
        let after_retry: u64 = acc["collateral"][0]["amount"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let expected = stored.iter().sum::<u64>() + if extra.is_empty() { i } else { 0 };
        assert_eq!(after_retry, expected);
    }
    let (_, acc) = http(&addr, "GET", "/api/v1/accounts/crash", None, None).unwrap();
    let before: u64 = acc["collateral"][0]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // That restart verified the whole log and recorded a checkpoint. More acknowledged writes,
    // a second kill -9, and the next restart verifies from the checkpoint and what follows it.
    for i in 0..20u64 {
        let body = json!({"location": "deribit", "asset": "USDC", "amount": "7"});
        let (s, _) = http(
            &addr,
            "POST",
            "/api/v1/accounts/crash/deposits",
            Some(&format!("after-{i}")),
            Some(&body),
        )
        .unwrap();
        assert_eq!(s, 200);
    }
    server.kill();
    let mut server = common::start(dir.path(), None, KEY, &[]);
    let (_, acc) = http(&server.addr, "GET", "/api/v1/accounts/crash", None, None).unwrap();
    assert_eq!(acc["collateral"][0]["amount"], (before + 140).to_string());
    server.kill();

    // The balance projection tampered with after the checkpoint: the service refuses to start,
    // though it no longer replays the whole log.
    let db = format!("sqlite://{}", dir.path().join("intermargin.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let checkpoints: i64 = rt.block_on(async {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db).await.unwrap();
        sqlx::query("UPDATE balances SET amount = $1 WHERE account_id = 'crash'")
            .bind((before + 141).to_string())
            .execute(&pool)
            .await
            .unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM checkpoints")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        pool.close().await;
        n
    });
    assert!(
        checkpoints >= 2,
        "one checkpoint per restart that saw new events"
    );
    let out = common::command(dir.path(), None, KEY, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checkpoint"), "{err}");
}

#[test]
fn demo_copies_past_the_limit_are_refused_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::command(dir.path(), None, KEY, &["--demo-copies", "1000001"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--demo-copies") && err.contains("1000000"),
        "{err}"
    );
}
