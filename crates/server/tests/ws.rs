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

/// `{"subscribe":"<id>"}` makes the monitor serialise every re-margin of that account for the
/// socket (the dashboard follows the account it shows); a key cannot follow an account it may not
/// see, and a new subscription replaces the old one.
#[tokio::test]
async fn a_socket_follows_only_an_account_its_key_may_see() {
    let dir = common::tempdir::Dir::new("ws-follow");
    let (st, _) = prepare(&common::config(&dir.0, None, ADMIN)).await.unwrap();
    let listeners = st.listeners.clone();
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
    let followed = |want: &[&str]| {
        let mut got: Vec<String> = listeners.accounts().into_iter().collect();
        got.sort();
        got == want.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let wait_for = |want: &'static [&'static str]| async move {
        for _ in 0..100 {
            if followed(want) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    };
    // Alice's key asks to follow Bob: only her own account is registered (by her key's scope).
    let (mut alice, _) = open(addr, &keys[0]).await;
    alice
        .send(Message::Text(
            json!({"subscribe": "bob"}).to_string().into(),
        ))
        .await
        .unwrap();
    assert!(wait_for(&["alice"]).await, "{:?}", listeners.accounts());
    // The admin follows Bob, then Alice instead.
    let (mut admin, _) = open(addr, ADMIN).await;
    admin
        .send(Message::Text(
            json!({"subscribe": "bob"}).to_string().into(),
        ))
        .await
        .unwrap();
    assert!(
        wait_for(&["alice", "bob"]).await,
        "{:?}",
        listeners.accounts()
    );
    admin
        .send(Message::Text(
            json!({"subscribe": "alice"}).to_string().into(),
        ))
        .await
        .unwrap();
    assert!(wait_for(&["alice"]).await, "{:?}", listeners.accounts());
    drop(alice);
    drop(admin);
    assert!(wait_for(&[]).await, "{:?}", listeners.accounts());
}

/// The first close frame on `ws` within `within`, skipping other messages: (code, reason).
async fn close_frame(ws: &mut Socket, within: Duration) -> Option<(u16, String)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return Some((f.code.into(), f.reason.to_string()))
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn a_socket_is_closed_with_a_reason_when_its_key_is_revoked_or_rotated() {
    let dir = common::tempdir::Dir::new("ws-revoke");
    let (st, _) = prepare(&common::config(&dir.0, None, ADMIN)).await.unwrap();
    let router = app(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (s, _) = post(addr, "/api/v1/accounts", ADMIN, json!({"id": "carol"})).await;
    assert_eq!(s, 201);
    let mut keys = Vec::new();
    for _ in 0..3 {
        let (s, v) = post(addr, "/api/v1/keys", ADMIN, json!({"scope": "carol"})).await;
        assert_eq!(s, 201);
        keys.push(v["key"].as_str().unwrap().to_string());
    }
    let id = |k: &str| k.split('_').nth(1).unwrap().to_string();
    let mut revoked = open(addr, &keys[0]).await.0;
    let mut rotated = open(addr, &keys[1]).await.0;
    let mut bystander = open(addr, &keys[2]).await.0;

    // Revocation (DELETE /api/v1/keys/{id}): the socket gets a close frame, policy violation
    // (RFC 6455 §7.4.1: 1008) with the reason, promptly.
    let t = std::time::Instant::now();
    let (s, _) = delete(addr, &format!("/api/v1/keys/{}", id(&keys[0])), ADMIN).await;
    assert_eq!(s, 200);
    assert_eq!(
        close_frame(&mut revoked, Duration::from_secs(2)).await,
        Some((1008, "API key revoked".to_string()))
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Rotation by the key itself: the old key's socket closes the same way.
    let (s, v) = post(
        addr,
        &format!("/api/v1/keys/{}/rotate", id(&keys[1])),
        &keys[1],
        json!({}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        close_frame(&mut rotated, Duration::from_secs(2)).await,
        Some((1008, "API key revoked".to_string()))
    );
    // Another key of the same account stays open (a deposit still reaches it), and the
    // replacement key opens a socket.
    let dep = json!({"location": "binance", "asset": "USDT", "amount": "1000000"});
    let (s, _) = post(addr, "/api/v1/accounts/carol/deposits", ADMIN, dep).await;
    assert_eq!(s, 200);
    assert!(accounts_seen(&mut bystander, "carol")
        .await
        .contains(&"carol".to_string()));
    let (_, hello) = open(addr, v["key"].as_str().unwrap()).await;
    assert_eq!(hello["type"], "ready");
    // The revoked key cannot open a new socket.
    let (_, first) = open(addr, &keys[0]).await;
    assert_eq!(first["type"], "error", "{first}");
}

async fn delete(addr: std::net::SocketAddr, uri: &str, key: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!(
        "DELETE {uri} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: ws-del\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
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
