//! `/ws` over a real socket: a key sees margin updates of its own account only (an admin sees
//! all), and a socket whose first message is not a valid key is told why and closed.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_server::{app, prepare};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

mod common;

const ADMIN: &str = "im_adm1n0000003_0123456789abcdef0123456789abcdef0123456789abcdef";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: std::net::SocketAddr, key: &str) -> (Socket, Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws.send(Message::Text(json!({ "auth": key }).to_string().into()))
        .await
        .unwrap();
    let first = next_json(&mut ws)
        .await
        .expect("an answer to the auth message");
    (ws, first)
}

async fn next_json(ws: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Accounts named in the margin messages received until `until` appears (or 10 s pass).
async fn accounts_seen(ws: &mut Socket, until: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let Some(m) = next_json(ws).await else { break };
        if m["type"] == "margin" {
            let a = m["account"].as_str().unwrap().to_string();
            let done = a == until;
            seen.push(a);
            if done {
                break;
            }
        }
    }
    seen
}

#[tokio::test]
async fn each_key_streams_only_the_accounts_it_may_see() {
    let dir = common::tempdir::Dir::new("ws");
    let (st, _) = prepare(&common::config(&dir.0, None, ADMIN)).await.unwrap();
    let router = app(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut keys = Vec::new();
    for id in ["alice", "bob"] {
        let (s, _) = post(addr, "/api/v1/accounts", ADMIN, json!({"id": id})).await;
        assert_eq!(s, 201);
        let (s, v) = post(addr, "/api/v1/keys", ADMIN, json!({"scope": id})).await;
        assert_eq!(s, 201);
        keys.push(v["key"].as_str().unwrap().to_string());
    }
    let (mut alice, hello) = open(addr, &keys[0]).await;
    assert_eq!(
        hello,
        json!({"type": "ready", "scope": "alice", "role": "account"})
    );
    let (mut admin, hello) = open(addr, ADMIN).await;
    assert_eq!(hello["scope"], "admin");

    // A deposit re-margins that account and publishes its report. Bob's first, then Alice's:
    // by the time Alice's arrives on her socket, Bob's would have arrived before it.
    let dep = json!({"location": "binance", "asset": "USDT", "amount": "1000000"});
    let (s, _) = post(addr, "/api/v1/accounts/bob/deposits", ADMIN, dep.clone()).await;
    assert_eq!(s, 200);
    let (s, _) = post(addr, "/api/v1/accounts/alice/deposits", ADMIN, dep).await;
    assert_eq!(s, 200);
    let seen = accounts_seen(&mut alice, "alice").await;
    assert!(seen.contains(&"alice".to_string()), "{seen:?}");
    assert!(seen.iter().all(|a| a == "alice"), "alice saw {seen:?}");
    let seen = accounts_seen(&mut admin, "alice").await;
    assert!(
        seen.contains(&"bob".to_string()),
        "admin sees every account: {seen:?}"
    );

    // A bad key is refused with a reason, and nothing follows.
    let (mut bad, first) = open(addr, "im_nope_nope").await;
    assert_eq!(first["type"], "error", "{first}");
    assert!(next_json(&mut bad).await.is_none());
}

/// One POST over the socket the service listens on; returns (status, JSON body).
async fn post(addr: std::net::SocketAddr, uri: &str, key: &str, body: Value) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let idem = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let text = body.to_string();
    let req = format!(
        "POST {uri} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: ws-{idem}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
