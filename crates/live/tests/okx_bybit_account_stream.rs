//! The OKX and Bybit account streams against local venues: REST servers answering the
//! documented REST examples (crates/venues/tests/data/okx, bybit) and checking each request's
//! signature, and WebSocket servers speaking each venue's private protocol with the documented
//! messages (crates/venues/tests/data/ws/okx-private.jsonl, bybit-private.jsonl). Signatures are
//! checked with the HMAC-SHA256 written in tests/support (not the crates the client signs with).
//!
//! Scripted connections, per venue: (1) the login / auth is refused → backoff and a new
//! connection; (2) login accepted, the subscription checked, the documented pushes move
//! balances, positions and orders, a malformed frame is skipped, pings are answered, then the
//! connection drops without a close frame; (3) a pushed position the venue's REST state does not
//! confirm, then another drop; (4) reconciliation has found the disagreement, named it and
//! adopted REST; a pushed fill removes the resting order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_live::account::{AccountStream, AccountStreamStatus};
use intermargin_live::bybit_account::BybitAccountSource;
use intermargin_live::okx_account::OkxAccountSource;
use intermargin_live::ws::Backoff;
use intermargin_model::{Snapshot, Venue};
use intermargin_venues::fetch::{Credentials, FetchConfig, Fetcher};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{
    base64, hex, hmac_sha256, http_server, jsonl, venue_data as data, ws_server, HttpRequest,
    WsConn,
};

const KEY: &str = "test-api-key";
const SECRET: &str = "test-secret";
const PASSPHRASE: &str = "test-passphrase";

/// The venue's side: its REST state and what each client did.
#[derive(Default)]
struct Mock {
    /// REST answers (whole payloads).
    positions: Value,
    balance: Value,
    /// Bybit: inverse position list.
    inverse: Value,
    rest_paths: Vec<String>,
    /// REST requests whose signature did not verify.
    bad_rest_signatures: Vec<String>,
    /// WebSocket: logins whose signature verified / did not.
    good_logins: usize,
    bad_logins: Vec<String>,
    subscriptions: Vec<Value>,
    pings: usize,
    connections: usize,
}

type V = Arc<Mutex<Mock>>;

fn fetcher(venue: Venue, port: u16, extra: Option<&str>) -> Fetcher {
    let mut cfg = FetchConfig::for_venue(venue);
    cfg.base_url = format!("http://127.0.0.1:{port}");
    cfg.max_retries = 1;
    cfg.backoff = Duration::from_millis(20);
    Fetcher::new(venue, cfg, creds(extra)).unwrap()
}

fn creds(extra: Option<&str>) -> Credentials {
    Credentials {
        key: KEY.into(),
        secret: SECRET.into(),
        extra: extra.map(str::to_string),
    }
}

/// Waits (up to 20 s) until `done` holds for the stream's status and snapshot.
async fn wait_for(
    stream: &AccountStream,
    done: impl Fn(&AccountStreamStatus, &Snapshot) -> bool,
) -> (AccountStreamStatus, Snapshot) {
    for _ in 0..400 {
        let st = stream.status();
        match stream.snapshot() {
            Ok(s) if done(&st, &s) => return (st, s),
            Ok(_) => {}
            Err(e) => eprintln!("snapshot: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snap = stream.snapshot().map(|s| (positions(&s), orders(&s)));
    panic!("timed out: {:?}; account {snap:?}", stream.status());
}

fn positions(s: &Snapshot) -> Vec<(String, f64)> {
    let mut p: Vec<(String, f64)> = s
        .portfolio
        .accounts
        .first()
        .map(|a| {
            a.positions
                .iter()
                .map(|p| (p.instrument.id(), p.size))
                .collect()
        })
        .unwrap_or_default();
    p.sort_by(|a, b| a.0.cmp(&b.0));
    p
}

fn orders(s: &Snapshot) -> usize {
    s.portfolio.accounts.first().map_or(0, |a| a.orders.len())
}

// ----------------------------------------------------------------------------------------------
// OKX
// ----------------------------------------------------------------------------------------------

async fn okx_rest(v: V) -> u16 {
    http_server(move |r: &HttpRequest| {
        let mut g = v.lock().unwrap();
        g.rest_paths.push(r.path.clone());
        // OK-ACCESS-SIGN = Base64(HMAC-SHA256(secret, timestamp + "GET" + path?query)).
        let ts = r.header("ok-access-timestamp").unwrap_or_default();
        let want = base64(&hmac_sha256(
            SECRET.as_bytes(),
            format!("{ts}GET{}", r.target).as_bytes(),
        ));
        if r.header("ok-access-sign") != Some(want.as_str())
            || r.header("ok-access-key") != Some(KEY)
            || r.header("ok-access-passphrase") != Some(PASSPHRASE)
        {
            g.bad_rest_signatures.push(r.target.clone());
        }
        match r.path.as_str() {
            "/api/v5/account/positions" => g.positions.to_string(),
            "/api/v5/account/balance" => g.balance.to_string(),
            _ => json!({"code": "50000", "msg": "unknown path", "data": []}).to_string(),
        }
    })
    .await
}

/// Reads the client's frames until `want` says one is what it waits for; answers `ping`s with
/// the documented `pong` meanwhile. None when the client went away.
async fn okx_read(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    v: &V,
    pong: &str,
) -> Option<Value> {
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        if t.as_str() == "ping" {
            v.lock().unwrap().pings += 1;
            ws.send(Message::text(pong.to_string())).await.ok()?;
            continue;
        }
        return serde_json::from_str(&t).ok();
    }
    None
}

/// Checks a login frame's signature: Base64(HMAC-SHA256(secret, timestamp + "GET" +
/// "/users/self/verify")), the timestamp Unix seconds within 30 s of now.
fn okx_login_ok(login: &Value) -> Result<(), String> {
    if login["op"] != "login" {
        return Err(format!("not a login: {login}"));
    }
    let a = &login["args"][0];
    let ts = a["timestamp"].as_str().ok_or("no timestamp")?;
    let secs: i64 = ts.parse().map_err(|_| format!("timestamp {ts:?}"))?;
    if (support::now_ms() / 1000 - secs).abs() > 30 {
        return Err(format!("timestamp {ts} is not now"));
    }
    let want = base64(&hmac_sha256(
        SECRET.as_bytes(),
        format!("{ts}GET/users/self/verify").as_bytes(),
    ));
    if a["sign"] != json!(want) || a["apiKey"] != KEY || a["passphrase"] != PASSPHRASE {
        return Err(format!("bad login {login}"));
    }
    Ok(())
}

async fn okx_ws(v: V) -> u16 {
    ws_server(move |c: WsConn| {
        let v = v.clone();
        async move {
            let WsConn { n, mut ws, .. } = c;
            v.lock().unwrap().connections = n;
            let l = jsonl("ws/okx-private.jsonl");
            let pong = l[6].clone();
            let Some(login) = okx_read(&mut ws, &v, &pong).await else {
                return;
            };
            match okx_login_ok(&login) {
                Ok(()) => v.lock().unwrap().good_logins += 1,
                Err(e) => v.lock().unwrap().bad_logins.push(e),
            }
            if n == 1 {
                // The documented refusal (60009 "Login failed.").
                ws.send(Message::text(l[1].clone())).await.unwrap();
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
            ws.send(Message::text(l[0].clone())).await.unwrap();
            let Some(sub) = okx_read(&mut ws, &v, &pong).await else {
                return;
            };
            v.lock().unwrap().subscriptions.push(sub);
            ws.send(Message::text(l[2].clone())).await.unwrap();
            let pause = || tokio::time::sleep(Duration::from_millis(150));
            match n {
                2 => {
                    // The documented account, positions and orders pushes, the order still
                    // resting (state live, nothing filled), and a malformed frame between.
                    ws.send(Message::text(l[3].clone())).await.unwrap();
                    ws.send(Message::text(l[4].clone())).await.unwrap();
                    ws.send(Message::text(
                        r#"{"arg":{"channel":"positions"},"data":[{"instId":"#,
                    ))
                    .await
                    .unwrap();
                    // The documented order is from 2022, the documented positions from 2021
                    // (ETH-USD-210430 expired by then): the resting order is dated with the
                    // positions push, so the account's time does not pass the future's expiry.
                    let mut live: Value = serde_json::from_str(&l[5]).unwrap();
                    live["data"][0]["state"] = json!("live");
                    live["data"][0]["accFillSz"] = json!("0");
                    live["data"][0]["cTime"] = json!("1619507761462");
                    live["data"][0]["uTime"] = json!("1619507761462");
                    ws.send(Message::text(live.to_string())).await.unwrap();
                    {
                        // The venue's books move with the pushes.
                        let acc: Value = serde_json::from_str(&l[3]).unwrap();
                        let pos: Value = serde_json::from_str(&l[4]).unwrap();
                        let mut g = v.lock().unwrap();
                        g.positions = json!({"code": "0", "msg": "", "data": pos["data"]});
                        g.balance = json!({"code": "0", "msg": "", "data": acc["data"]});
                    }
                    // Answer pings for a while, then drop without a close frame.
                    let until = tokio::time::Instant::now() + Duration::from_millis(900);
                    while tokio::time::Instant::now() < until {
                        tokio::select! {
                            f = okx_read(&mut ws, &v, &pong) => if f.is_none() { return },
                            _ = tokio::time::sleep_until(until) => {}
                        }
                    }
                }
                3 => {
                    // ETH-USD-SWAP 3 contracts where the venue's books say 1.
                    let mut wrong: Value = serde_json::from_str(&l[4]).unwrap();
                    let mut row = wrong["data"][1].clone();
                    row["pos"] = json!("3");
                    wrong["data"] = json!([row]);
                    wrong["eventType"] = json!("event_update");
                    ws.send(Message::text(wrong.to_string())).await.unwrap();
                    pause().await;
                }
                _ => {
                    // The order fills (the documented push as printed: state filled).
                    ws.send(Message::text(l[5].clone())).await.unwrap();
                    while okx_read(&mut ws, &v, &pong).await.is_some() {}
                }
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_login_refusal_pushes_ping_disconnect_bad_frame_and_reconciliation() {
    support::self_check();
    let v: V = Arc::new(Mutex::new(Mock {
        positions: serde_json::from_str(&data("okx/account_positions.json")).unwrap(),
        balance: serde_json::from_str(&data("okx/account_balance.json")).unwrap(),
        ..Default::default()
    }));
    let rest_port = okx_rest(v.clone()).await;
    let ws_port = okx_ws(v.clone()).await;
    let stream = AccountStream::start(OkxAccountSource {
        account: "acct".into(),
        creds: creds(Some(PASSPHRASE)),
        rest: fetcher(Venue::Okx, rest_port, Some(PASSPHRASE)),
        ws_url: format!("ws://127.0.0.1:{ws_port}/ws/v5/private"),
        ping_every: Duration::from_millis(250),
        reconcile_every: Duration::from_secs(3600),
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
    });
    assert_eq!(stream.venue(), Venue::Okx);

    // The REST base first: the documented BTC-USDT isolated margin position.
    let (_, s) = wait_for(&stream, |st, _| st.reconciliations >= 1).await;
    assert_eq!(positions(&s).len(), 1, "{:?}", positions(&s));
    assert!(
        positions(&s)[0].0.contains("BTC-USDT"),
        "{:?}",
        positions(&s)
    );

    // Connection 2's pushes: the documented snapshot replaces the positions with ETH-USD-210430
    // and ETH-USD-SWAP (1 contract each), the order rests.
    let eth = |s: &Snapshot| {
        positions(s)
            .iter()
            .filter(|(id, size)| id.contains("ETH-USD") && *size == 1.0)
            .count()
            == 2
    };
    let (st, s) = wait_for(&stream, |st, s| st.auths >= 1 && eth(s) && orders(s) == 1).await;
    assert_eq!(positions(&s).len(), 2, "{:?}", positions(&s));
    assert_eq!(st.auth_failures, 1, "{st:?}");
    let o = &s.portfolio.accounts[0].orders[0];
    assert_eq!((o.remaining, o.price), (0.001, Some(31527.1)));
    let usdt = s.portfolio.accounts[0]
        .collateral
        .iter()
        .find(|c| c.asset == "USDT")
        .unwrap();
    let dec = s
        .portfolio
        .assets
        .iter()
        .find(|a| a.symbol == "USDT")
        .unwrap()
        .decimals as usize;
    // The documented account push: cashBal 4750.426970691436 (REST said 4850.435693622894).
    let (int, frac) = "4750.426970691436".split_once('.').unwrap();
    assert_eq!(
        serde_json::to_value(usdt.amount).unwrap(),
        json!(format!("{int}{}", &frac[..dec]))
    );

    // Connection 4: the disagreement of connection 3 named and REST adopted; the order filled.
    let (st, s) = wait_for(&stream, |st, s| {
        st.auths >= 3 && st.disagreements >= 1 && eth(s) && orders(s) == 0
    })
    .await;
    assert_eq!(
        positions(&s),
        [
            ("okx:ETH-USD-210430".to_string(), 1.0),
            ("okx:ETH-USD-SWAP".to_string(), 1.0)
        ]
    );
    assert_eq!(st.disagreements, 1, "{st:?}");
    assert_eq!(
        st.last_disagreement.as_deref(),
        Some("ETH-USD-SWAP/long/isolated: streamed 3 @ 2566.31, REST 1 @ 2566.31")
    );
    assert_eq!(st.bad_frames, 1, "{st:?}");
    assert_eq!(st.auth_failures, 1, "{st:?}");
    assert!(st.disconnects >= 2, "{st:?}");
    assert!(st.pings >= 1 && st.pongs >= 1, "{st:?}");
    assert!(st.reconciliations >= 4, "{st:?}");
    assert!(st.connected, "{st:?}");
    let g = v.lock().unwrap();
    assert!(g.bad_logins.is_empty(), "{:?}", g.bad_logins);
    assert!(g.good_logins >= 4);
    assert!(
        g.bad_rest_signatures.is_empty(),
        "{:?}",
        g.bad_rest_signatures
    );
    assert!(g.pings >= 1);
    // Each accepted login subscribed exactly the three channels.
    assert!(g.subscriptions.len() >= 3);
    for sub in &g.subscriptions {
        assert_eq!(
            *sub,
            json!({"op": "subscribe", "args": [
                {"channel": "positions", "instType": "ANY"},
                {"channel": "account"},
                {"channel": "orders", "instType": "ANY"}]})
        );
    }
    assert!(g
        .rest_paths
        .contains(&"/api/v5/account/positions".to_string()));
    drop(g);
    stream.stop();
}

// ----------------------------------------------------------------------------------------------
// Bybit
// ----------------------------------------------------------------------------------------------

async fn bybit_rest(v: V) -> u16 {
    http_server(move |r: &HttpRequest| {
        let mut g = v.lock().unwrap();
        g.rest_paths.push(r.target.clone());
        // X-BAPI-SIGN = hex HMAC-SHA256(secret, timestamp + key + recv_window + query).
        let ts = r.header("x-bapi-timestamp").unwrap_or_default();
        let rw = r.header("x-bapi-recv-window").unwrap_or_default();
        let q = r.target.split_once('?').map(|x| x.1).unwrap_or_default();
        let want = hex(&hmac_sha256(
            SECRET.as_bytes(),
            format!("{ts}{KEY}{rw}{q}").as_bytes(),
        ));
        if r.header("x-bapi-sign") != Some(want.as_str()) || r.header("x-bapi-api-key") != Some(KEY)
        {
            g.bad_rest_signatures.push(r.target.clone());
        }
        match (r.path.as_str(), r.query("category")) {
            ("/v5/position/list", Some("linear")) => g.positions.to_string(),
            ("/v5/position/list", Some("inverse")) => g.inverse.to_string(),
            ("/v5/account/wallet-balance", _) => g.balance.to_string(),
            _ => json!({"retCode": 10001, "retMsg": "unknown path"}).to_string(),
        }
    })
    .await
}

/// Reads the client's frames until one that is not a ping; answers pings with the documented
/// private pong (its `req_id` echoed). None when the client went away.
async fn bybit_read(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    v: &V,
    pong: &str,
) -> Option<Value> {
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        let f: Value = serde_json::from_str(&t).ok()?;
        if f["op"] == "ping" {
            v.lock().unwrap().pings += 1;
            let mut p: Value = serde_json::from_str(pong).unwrap();
            p["req_id"] = f["req_id"].clone();
            ws.send(Message::text(p.to_string())).await.ok()?;
            continue;
        }
        return Some(f);
    }
    None
}

/// Checks an auth frame: [key, expires (ms, in the future), hex HMAC-SHA256(secret,
/// "GET/realtime" + expires)].
fn bybit_auth_ok(auth: &Value) -> Result<(), String> {
    if auth["op"] != "auth" {
        return Err(format!("not an auth: {auth}"));
    }
    let a = &auth["args"];
    let expires = a[1].as_i64().ok_or("expires is not an integer")?;
    if expires <= support::now_ms() || expires > support::now_ms() + 60_000 {
        return Err(format!("expires {expires} is not just ahead of now"));
    }
    let want = hex(&hmac_sha256(
        SECRET.as_bytes(),
        format!("GET/realtime{expires}").as_bytes(),
    ));
    if a[0] != KEY || a[2] != json!(want) {
        return Err(format!("bad auth {auth}"));
    }
    Ok(())
}

/// The documented position row opened: `size` short BTCUSDT (positionIdx 2 as documented) at
/// 28000.
fn bybit_short(doc_position_push: &str, size: &str) -> Value {
    let mut p: Value = serde_json::from_str(doc_position_push).unwrap();
    let row = &mut p["data"][0];
    row["side"] = json!("Sell");
    row["size"] = json!(size);
    row["entryPrice"] = json!("28000");
    p
}

async fn bybit_ws(v: V) -> u16 {
    ws_server(move |c: WsConn| {
        let v = v.clone();
        async move {
            let WsConn { n, mut ws, .. } = c;
            v.lock().unwrap().connections = n;
            let l = jsonl("ws/bybit-private.jsonl");
            let pong = l[2].clone();
            let Some(auth) = bybit_read(&mut ws, &v, &pong).await else {
                return;
            };
            match bybit_auth_ok(&auth) {
                Ok(()) => v.lock().unwrap().good_logins += 1,
                Err(e) => v.lock().unwrap().bad_logins.push(e),
            }
            if n == 1 {
                // The documented answer's shape, refused.
                let mut no: Value = serde_json::from_str(&l[0]).unwrap();
                no["success"] = json!(false);
                no["ret_msg"] = json!("error:expired");
                ws.send(Message::text(no.to_string())).await.unwrap();
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
            ws.send(Message::text(l[0].clone())).await.unwrap();
            let Some(sub) = bybit_read(&mut ws, &v, &pong).await else {
                return;
            };
            v.lock().unwrap().subscriptions.push(sub);
            ws.send(Message::text(l[1].clone())).await.unwrap();
            let pause = || tokio::time::sleep(Duration::from_millis(150));
            match n {
                2 => {
                    let short = bybit_short(&l[3], "0.5");
                    ws.send(Message::text(l[4].clone())).await.unwrap();
                    ws.send(Message::text(short.to_string())).await.unwrap();
                    ws.send(Message::text(
                        r#"{"topic":"wallet","data":[{"accountType":"#,
                    ))
                    .await
                    .unwrap();
                    // The documented order resting, on BTCUSDT (its option expired in 2022,
                    // before the documented REST state's time): a limit buy of 1 at 27000.
                    let mut live: Value = serde_json::from_str(&l[5]).unwrap();
                    let o = &mut live["data"][0];
                    o["orderStatus"] = json!("New");
                    o["orderType"] = json!("Limit");
                    o["side"] = json!("Buy");
                    o["symbol"] = json!("BTCUSDT");
                    o["category"] = json!("linear");
                    o["price"] = json!("27000");
                    o["leavesQty"] = json!("1");
                    o["cumExecQty"] = json!("0");
                    ws.send(Message::text(live.to_string())).await.unwrap();
                    {
                        // The venue's books move with the pushes: the linear position as its
                        // REST row (no category, avgPrice), the wallet's coins as pushed.
                        let wallet: Value = serde_json::from_str(&l[4]).unwrap();
                        let mut g = v.lock().unwrap();
                        let mut row = short["data"][0].clone();
                        row.as_object_mut().unwrap().remove("category");
                        row["avgPrice"] = row["entryPrice"].clone();
                        g.positions = json!({"retCode": 0, "retMsg": "OK",
                            "result": {"category": "linear", "list": [row]}});
                        let mut coins: Vec<Value> = g.balance["result"]["list"][0]["coin"]
                            .as_array()
                            .unwrap()
                            .clone();
                        let pushed = wallet["data"][0]["coin"].as_array().unwrap();
                        coins.retain(|c| !pushed.iter().any(|p| p["coin"] == c["coin"]));
                        coins.extend(pushed.iter().cloned());
                        let mut w = wallet["data"][0].clone();
                        w["coin"] = json!(coins);
                        g.balance = json!({"retCode": 0, "retMsg": "OK", "result": {"list": [w]}});
                    }
                    let until = tokio::time::Instant::now() + Duration::from_millis(900);
                    while tokio::time::Instant::now() < until {
                        tokio::select! {
                            f = bybit_read(&mut ws, &v, &pong) => if f.is_none() { return },
                            _ = tokio::time::sleep_until(until) => {}
                        }
                    }
                }
                3 => {
                    // 0.8 short where the venue's books say 0.5.
                    ws.send(Message::text(bybit_short(&l[3], "0.8").to_string()))
                        .await
                        .unwrap();
                    pause().await;
                }
                _ => {
                    // The order fills (the documented push as printed).
                    ws.send(Message::text(l[5].clone())).await.unwrap();
                    while bybit_read(&mut ws, &v, &pong).await.is_some() {}
                }
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_auth_refusal_pushes_ping_disconnect_bad_frame_and_reconciliation() {
    support::self_check();
    let v: V = Arc::new(Mutex::new(Mock {
        positions: json!({"retCode": 0, "retMsg": "OK",
            "result": {"category": "linear", "list": []}}),
        inverse: serde_json::from_str(&data("bybit/v5_position_list_inverse.json")).unwrap(),
        balance: serde_json::from_str(&data("bybit/v5_account_wallet_balance.json")).unwrap(),
        ..Default::default()
    }));
    let rest_port = bybit_rest(v.clone()).await;
    let ws_port = bybit_ws(v.clone()).await;
    let stream = AccountStream::start(BybitAccountSource {
        account: "acct".into(),
        creds: creds(None),
        rest: fetcher(Venue::Bybit, rest_port, None),
        ws_url: format!("ws://127.0.0.1:{ws_port}/v5/private"),
        ping_every: Duration::from_millis(250),
        reconcile_every: Duration::from_secs(3600),
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
    });
    assert_eq!(stream.venue(), Venue::Bybit);

    // The REST base: the documented inverse BTCUSD Sell 300.
    let (_, s) = wait_for(&stream, |st, _| st.reconciliations >= 1).await;
    assert_eq!(positions(&s), [("bybit:BTCUSD".to_string(), -300.0)]);

    // Connection 2: the short BTCUSDT 0.5 joins; the option order rests; the wallet moves to
    // the documented push (USDT 11728.54414904).
    let (st, s) = wait_for(&stream, |st, s| {
        st.auths >= 1 && positions(s).len() == 2 && orders(s) == 1
    })
    .await;
    let o = &s.portfolio.accounts[0].orders[0];
    assert_eq!((o.remaining, o.price), (1.0, Some(27000.0)));
    assert_eq!(
        positions(&s),
        [
            ("bybit:BTCUSD".to_string(), -300.0),
            ("bybit:BTCUSDT".to_string(), -0.5)
        ]
    );
    assert_eq!(st.auth_failures, 1, "{st:?}");
    let usdt = s.portfolio.accounts[0]
        .collateral
        .iter()
        .find(|c| c.asset == "USDT")
        .unwrap();
    let dec = s
        .portfolio
        .assets
        .iter()
        .find(|a| a.symbol == "USDT")
        .unwrap()
        .decimals as usize;
    let (int, frac) = "11728.54414904".split_once('.').unwrap();
    assert_eq!(
        serde_json::to_value(usdt.amount).unwrap(),
        json!(format!(
            "{int}{}",
            &format!("{frac:0<width$}", width = dec)[..dec]
        ))
    );

    // Connection 4: connection 3's 0.8 named and REST's 0.5 adopted; the order filled.
    let (st, s) = wait_for(&stream, |st, s| {
        st.auths >= 3 && st.disagreements >= 1 && orders(s) == 0
    })
    .await;
    assert_eq!(
        positions(&s),
        [
            ("bybit:BTCUSD".to_string(), -300.0),
            ("bybit:BTCUSDT".to_string(), -0.5)
        ]
    );
    assert_eq!(st.disagreements, 1, "{st:?}");
    assert_eq!(
        st.last_disagreement.as_deref(),
        Some("linear/BTCUSDT/2: streamed -0.8 @ 28000, REST -0.5 @ 28000")
    );
    assert_eq!(st.bad_frames, 1, "{st:?}");
    assert_eq!(st.auth_failures, 1, "{st:?}");
    assert!(st.disconnects >= 2, "{st:?}");
    assert!(st.pings >= 1 && st.pongs >= 1, "{st:?}");
    assert!(st.reconciliations >= 4, "{st:?}");
    let g = v.lock().unwrap();
    assert!(g.bad_logins.is_empty(), "{:?}", g.bad_logins);
    assert!(g.good_logins >= 4);
    assert!(
        g.bad_rest_signatures.is_empty(),
        "{:?}",
        g.bad_rest_signatures
    );
    assert!(g.pings >= 1);
    assert!(g.subscriptions.len() >= 3);
    for sub in &g.subscriptions {
        assert_eq!(sub["op"], "subscribe");
        assert_eq!(sub["args"], json!(["position", "wallet", "order"]));
    }
    drop(g);
    stream.stop();
}
