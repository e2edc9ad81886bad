//! The Deribit account stream against a local venue: a REST server (`public/auth`, the
//! documented `private/get_positions` and `private/get_account_summaries` examples from
//! crates/venues/tests/data/deribit) and a JSON-RPC WebSocket server answering `public/auth`
//! (both grants), `public/set_heartbeat`, `private/subscribe` and `public/test`, pushing the
//! documented notifications (crates/venues/tests/data/ws/deribit-user.jsonl).
//! Scripted connections: (1) a `test_request`, the documented `user.portfolio.btc`, a
//! malformed frame, the documented `user.changes` (BTC-PERPETUAL 185160 USD long @ 15000),
//! then, once the client has refreshed its token with the `refresh_token` grant, a drop without
//! a close frame; (2) re-authentication, then a position the venue's REST state does not
//! confirm and another drop; (3) re-authentication, where reconciliation has found the
//! disagreement, named it and adopted REST.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_live::account::AccountStream;
use intermargin_live::deribit_account::DeribitAccountSource;
use intermargin_live::ws::Backoff;
use intermargin_model::{Snapshot, Venue};
use intermargin_venues::fetch::{Credentials, FetchConfig, Fetcher};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{
    http_server, jsonl, venue_data as data, ws_server as ws_server_of, HttpRequest, WsConn,
};

fn events() -> Vec<String> {
    jsonl("ws/deribit-user.jsonl")
}

/// The venue's side: its REST state and what each client did.
#[derive(Default)]
struct Mock {
    /// REST answers (whole JSON-RPC answers).
    positions: Value,
    summaries: Value,
    rest_paths: Vec<String>,
    bearer_seen: Vec<String>,
    /// WebSocket: (grant_type, client_id or refresh token) per public/auth, in order.
    ws_auths: Vec<(String, String)>,
    secrets_seen: Vec<String>,
    heartbeat_intervals: Vec<u64>,
    subscriptions: Vec<Vec<String>>,
    tests_answered: usize,
    connections: usize,
}

type V = Arc<Mutex<Mock>>;

async fn rest_server(v: V) -> u16 {
    http_server(move |r: &HttpRequest| {
        let mut g = v.lock().unwrap();
        g.rest_paths.push(r.path.clone());
        if let Some(h) = r.header("authorization") {
            g.bearer_seen.push(h.to_string());
        }
        match r.path.as_str() {
            "/api/v2/public/auth" => {
                assert_eq!(r.query("grant_type"), Some("client_credentials"));
                assert_eq!(r.query("client_id"), Some("test-client"));
                json!({"jsonrpc":"2.0","id":1,"result":{"access_token":"rest-token",
                    "refresh_token":"rest-refresh","expires_in":900,
                    "scope":"connection","token_type":"bearer"}})
                .to_string()
            }
            "/api/v2/private/get_positions" => g.positions.to_string(),
            "/api/v2/private/get_account_summaries" => g.summaries.to_string(),
            _ => json!({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"}})
                .to_string(),
        }
    })
    .await
}

/// The REST state after connection 1's notifications (the venue's books move with them): the
/// BTC summary is the documented portfolio notification's, the position the documented
/// changes notification's.
fn rest_after_events(g: &mut Mock, ev: &[String]) {
    let port: Value = serde_json::from_str(&ev[0]).unwrap();
    let changes: Value = serde_json::from_str(&ev[1]).unwrap();
    for s in g.summaries["result"]["summaries"].as_array_mut().unwrap() {
        if s["currency"] == "BTC" {
            *s = port["params"]["data"].clone();
        }
    }
    g.positions["result"] = changes["params"]["data"]["positions"].clone();
}

async fn ws_server(v: V) -> u16 {
    ws_server_of(move |c: WsConn| {
        let v = v.clone();
        async move {
                let WsConn { mut ws, .. } = c;
                let n = {
                    let mut g = v.lock().unwrap();
                    g.connections += 1;
                    g.connections
                };
                let ev = events();
                let mut tokens = 0usize;
                let pause = || tokio::time::sleep(Duration::from_millis(150));
                while let Some(Ok(m)) = ws.next().await {
                    let Message::Text(t) = m else { continue };
                    let req: Value = serde_json::from_str(&t).unwrap();
                    let id = req["id"].clone();
                    let method = req["method"].as_str().unwrap_or_default().to_string();
                    let p = &req["params"];
                    let reply = |result: Value| {
                        Message::text(json!({"jsonrpc":"2.0","id":id,"result":result}).to_string())
                    };
                    match method.as_str() {
                        "public/auth" => {
                            let grant = p["grant_type"].as_str().unwrap().to_string();
                            let who = match grant.as_str() {
                                "client_credentials" => {
                                    v.lock()
                                        .unwrap()
                                        .secrets_seen
                                        .push(p["client_secret"].as_str().unwrap().into());
                                    p["client_id"].as_str().unwrap().to_string()
                                }
                                _ => p["refresh_token"].as_str().unwrap().to_string(),
                            };
                            v.lock().unwrap().ws_auths.push((grant.clone(), who));
                            tokens += 1;
                            // Tokens valid 1 s: the client refreshes after 0.8 s.
                            ws.send(reply(
                                json!({"access_token": format!("access-{n}-{tokens}"),
                                "refresh_token": format!("refresh-{n}-{tokens}"),
                                "expires_in": 1, "scope": "connection", "token_type": "bearer"}),
                            ))
                            .await
                            .unwrap();
                            if grant == "refresh_token" && n == 1 {
                                // Connection 1 drops once the token was refreshed.
                                pause().await;
                                return;
                            }
                        }
                        "public/set_heartbeat" => {
                            v.lock()
                                .unwrap()
                                .heartbeat_intervals
                                .push(p["interval"].as_u64().unwrap());
                            ws.send(reply(json!("ok"))).await.unwrap();
                        }
                        "public/test" => {
                            v.lock().unwrap().tests_answered += 1;
                            ws.send(reply(json!({"version": "1.2.26"}))).await.unwrap();
                        }
                        "private/subscribe" => {
                            let ch: Vec<String> = p["channels"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|c| c.as_str().unwrap().to_string())
                                .collect();
                            v.lock().unwrap().subscriptions.push(ch.clone());
                            ws.send(reply(json!(ch))).await.unwrap();
                            match n {
                                1 => {
                                    ws.send(Message::text(ev[2].clone())).await.unwrap();
                                    ws.send(Message::text(ev[0].clone())).await.unwrap();
                                    ws.send(Message::text(
                                        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.portfolio.btc","data":{"currency":"BTC","balance":"#,
                                    ))
                                    .await
                                    .unwrap();
                                    ws.send(Message::text(ev[1].clone())).await.unwrap();
                                    rest_after_events(&mut v.lock().unwrap(), &ev);
                                }
                                2 => {
                                    // 200000 USD where the venue's books say 185160.
                                    let mut wrong: Value = serde_json::from_str(&ev[1]).unwrap();
                                    wrong["params"]["data"]["positions"][0]["size"] = json!(200000);
                                    wrong["params"]["data"]["orders"] = json!([]);
                                    ws.send(Message::text(wrong.to_string())).await.unwrap();
                                    pause().await;
                                    return;
                                }
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
        }
    })
    .await
}

fn position(s: &Snapshot) -> Option<(String, f64, Option<f64>)> {
    s.portfolio.accounts.first().and_then(|a| {
        a.positions
            .first()
            .map(|p| (p.instrument.id(), p.size, p.entry_price))
    })
}

fn btc_equity(s: &Snapshot) -> Option<f64> {
    s.portfolio.accounts.first().and_then(|a| {
        a.reported
            .iter()
            .find(|r| r.field == "equity" && r.currency.as_deref() == Some("BTC"))
            .map(|r| r.value)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_refresh_heartbeat_reconnect_bad_frame_and_reconciliation() {
    let v: V = Arc::new(Mutex::new(Mock {
        positions: serde_json::from_str(&data("deribit/private_get_positions.json")).unwrap(),
        summaries: serde_json::from_str(&data("deribit/private_get_account_summaries.json"))
            .unwrap(),
        ..Default::default()
    }));
    let rest_port = rest_server(v.clone()).await;
    let ws_port = ws_server(v.clone()).await;
    let mut cfg = FetchConfig::for_venue(Venue::Deribit);
    cfg.base_url = format!("http://127.0.0.1:{rest_port}");
    cfg.max_retries = 1;
    cfg.backoff = Duration::from_millis(20);
    let creds = Credentials {
        key: "test-client".into(),
        secret: "test-secret".into(),
        extra: None,
    };
    let rest = Fetcher::new(Venue::Deribit, cfg, creds.clone()).unwrap();
    let stream = AccountStream::start(DeribitAccountSource {
        account: "acct".into(),
        creds,
        rest,
        ws_url: format!("ws://127.0.0.1:{ws_port}/ws/api/v2"),
        currencies: vec!["BTC".into()],
        heartbeat_secs: 10,
        reconcile_every: Duration::from_secs(3600),
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
    });

    // During connection 1: the documented notifications move the account. Before them, the
    // REST base: BTC-PERPETUAL 50 USD = 5 contracts of 10 USD @ 7440.18, BTC equity 302.61869214.
    let mut seen_base = false;
    let mut seen_streamed = false;
    for _ in 0..400 {
        if let Ok(s) = stream.snapshot() {
            let p = position(&s);
            let conns = v.lock().unwrap().connections;
            if p == Some(("deribit:BTC-PERPETUAL".into(), 5.0, Some(7440.18)))
                && btc_equity(&s) == Some(302.61869214)
            {
                seen_base = true;
            }
            // 185160 USD / 10 USD = 18516 contracts @ 15000; equity 0.2340038 BTC as the
            // portfolio notification says, while still on connection 1.
            if conns == 1
                && p == Some(("deribit:BTC-PERPETUAL".into(), 18516.0, Some(15000.0)))
                && btc_equity(&s) == Some(0.2340038)
            {
                seen_streamed = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_base, "{:?}", stream.status());
    assert!(seen_streamed, "{:?}", stream.status());

    // Wait for connection 3 and the disagreement found at its reconciliation.
    let mut st = stream.status();
    for _ in 0..300 {
        st = stream.status();
        if v.lock().unwrap().connections >= 3 && st.disagreements >= 1 && st.auths >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let g = v.lock().unwrap();
    // Each connection authenticated with the client credentials (re-auth after each drop),
    // and connection 1 renewed its token with the refresh token it was given.
    let cc: Vec<&(String, String)> = g
        .ws_auths
        .iter()
        .filter(|a| a.0 == "client_credentials")
        .collect();
    assert_eq!(cc.len(), 3, "{:?}", g.ws_auths);
    assert!(cc.iter().all(|a| a.1 == "test-client"));
    assert!(g.secrets_seen.iter().all(|s| s == "test-secret"));
    assert!(
        g.ws_auths
            .contains(&("refresh_token".to_string(), "refresh-1-1".to_string())),
        "{:?}",
        g.ws_auths
    );
    assert_eq!(g.heartbeat_intervals, [10, 10, 10]);
    for s in &g.subscriptions {
        assert_eq!(s, &["user.portfolio.btc", "user.changes.any.btc.raw"]);
    }
    assert_eq!(g.subscriptions.len(), 3);
    assert!(g.tests_answered >= 1);
    // REST: auth then the two private calls with the bearer token, at each connection.
    assert_eq!(
        g.rest_paths
            .iter()
            .filter(|p| *p == "/api/v2/private/get_positions")
            .count(),
        3,
        "{:?}",
        g.rest_paths
    );
    assert!(g.bearer_seen.iter().all(|b| b == "Bearer rest-token"));
    drop(g);
    assert_eq!(st.auths, 3, "{st:?}");
    assert!(st.token_refreshes >= 1, "{st:?}");
    assert!(st.heartbeats >= 1, "{st:?}");
    assert_eq!(st.bad_frames, 1, "{st:?}");
    assert!(st.disconnects >= 2, "{st:?}");
    assert_eq!(st.reconciliations, 3, "{st:?}");
    // Connection 1's notifications agreed with REST at connection 2; connection 2's
    // position did not: one disagreement, named, REST adopted.
    assert_eq!(st.disagreements, 1, "{st:?}");
    assert_eq!(
        st.last_disagreement.as_deref(),
        Some("BTC-PERPETUAL: streamed 200000 @ 15000, REST 185160 @ 15000")
    );
    let s = stream.snapshot().unwrap();
    assert_eq!(
        position(&s),
        Some(("deribit:BTC-PERPETUAL".into(), 18516.0, Some(15000.0)))
    );
    assert_eq!(btc_equity(&s), Some(0.2340038));
    assert!(s.portfolio.accounts[0].orders.is_empty());
    stream.stop();
}
