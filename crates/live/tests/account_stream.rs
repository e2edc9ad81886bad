//! The Binance USDⓈ-M account stream against a local venue: a REST server (listen keys, the
//! documented `GET /fapi/v3/account`, `/fapi/v3/positionRisk`, `/fapi/v1/leverageBracket`
//! examples from crates/venues/tests/data/binance) and a WebSocket server at `/ws/<listenKey>`
//! pushing the documented user-data events (crates/venues/tests/data/ws/binance-user.jsonl).
//! Scripted connections: (1) the documented ACCOUNT_UPDATE, a malformed frame, the documented
//! ORDER_TRADE_UPDATE, then `listenKeyExpired` → a new key (POST) and a connection with it;
//! (2) a streamed position the venue's REST state does not confirm, then a disconnect
//! mid-stream → reconnect, where reconciliation finds the disagreement, says so, and adopts
//! REST; (3) the order cancelled. Keep-alives (PUT) run meanwhile.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_live::account::{AccountStream, BinanceAccountSource};
use intermargin_live::ws::Backoff;
use intermargin_model::Venue;
use intermargin_venues::fetch::{Credentials, FetchConfig, Fetcher};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{
    http_server, jsonl, venue_data as data, ws_server as ws_server_of, HttpRequest, WsConn,
};

fn events() -> Vec<String> {
    jsonl("ws/binance-user.jsonl")
}

/// The venue's side: its REST state and what each client did.
#[derive(Default)]
struct Mock {
    /// Listen key POST answers (the current key).
    key: String,
    keys_issued: Vec<String>,
    posts: usize,
    puts: usize,
    gets: Vec<String>,
    api_keys_seen: Vec<String>,
    /// REST answers.
    account: Value,
    position_risk: Value,
    /// WebSocket paths connected to, in order.
    ws_paths: Vec<String>,
}

type V = Arc<Mutex<Mock>>;

async fn rest_server(v: V) -> u16 {
    http_server(move |r: &HttpRequest| {
        let mut g = v.lock().unwrap();
        if let Some(k) = r.header("x-mbx-apikey") {
            g.api_keys_seen.push(k.to_string());
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/fapi/v1/listenKey") => {
                g.posts += 1;
                let k = g.key.clone();
                g.keys_issued.push(k.clone());
                json!({"listenKey": k}).to_string()
            }
            ("PUT", "/fapi/v1/listenKey") => {
                g.puts += 1;
                json!({"listenKey": g.key}).to_string()
            }
            ("GET", p) => {
                assert!(r.target.contains("signature="), "unsigned {}", r.target);
                g.gets.push(p.to_string());
                match p {
                    "/fapi/v3/account" => g.account.to_string(),
                    "/fapi/v3/positionRisk" => g.position_risk.to_string(),
                    "/fapi/v1/leverageBracket" => data("binance/fapi_v1_leverageBracket.json"),
                    _ => "{}".to_string(),
                }
            }
            _ => "{}".to_string(),
        }
    })
    .await
}

/// The REST state after the documented ACCOUNT_UPDATE (the venue's books move with it): the
/// documented account example with USDT's wallet at 94.91018561 and BNB added, the documented
/// positionRisk example (ADAUSDT 30) plus the two positions the event opened.
fn rest_after_event(v: &mut Mock) {
    let acc = &mut v.account;
    for a in acc["assets"].as_array_mut().unwrap() {
        if a["asset"] == "USDT" {
            a["walletBalance"] = json!("94.91018561");
        }
    }
    acc["assets"]
        .as_array_mut()
        .unwrap()
        .push(json!({"asset": "BNB", "walletBalance": "0.02575839"}));
    let pr = v.position_risk.as_array_mut().unwrap();
    pr.push(
        json!({"symbol": "BTCUSDT", "positionSide": "LONG", "positionAmt": "0.010",
        "entryPrice": "11445.71", "marginType": "isolated", "isolatedWallet": "1.201871"}),
    );
    pr.push(
        json!({"symbol": "ETHUSDT", "positionSide": "SHORT", "positionAmt": "-0.010",
        "entryPrice": "375.74", "marginType": "cross", "isolatedWallet": "0"}),
    );
}

async fn ws_server(v: V) -> u16 {
    ws_server_of(move |c: WsConn| {
        let v = v.clone();
        async move {
            let WsConn { n, uri, mut ws } = c;
            v.lock().unwrap().ws_paths.push(uri);
            let ev = events();
            let pause = || tokio::time::sleep(Duration::from_millis(150));
            match n {
                1 => {
                    ws.send(Message::text(ev[0].clone())).await.unwrap();
                    rest_after_event(&mut v.lock().unwrap());
                    pause().await;
                    ws.send(Message::text("{\"e\":\"ACCOUNT_UPDATE\","))
                        .await
                        .unwrap();
                    ws.send(Message::text(ev[1].clone())).await.unwrap();
                    pause().await;
                    // The key expires: the venue issues a new one on the next POST.
                    v.lock().unwrap().key = "key-2".into();
                    ws.send(Message::text(ev[2].clone())).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                2 => {
                    // A position the venue's REST state does not confirm (0.020 against
                    // 0.010), then the connection drops without a close frame.
                    let mut wrong: Value = serde_json::from_str(&ev[0]).unwrap();
                    wrong["a"]["B"] = json!([]);
                    wrong["a"]["P"] = json!([{"s":"BTCUSDT","pa":"0.020","ep":"11445.71000",
                        "cr":"0","up":"0","mt":"isolated","iw":"1.20187100","ps":"LONG"}]);
                    ws.send(Message::text(wrong.to_string())).await.unwrap();
                    pause().await;
                    drop(ws);
                }
                _ => {
                    // The trailing stop is cancelled.
                    let mut cancel: Value = serde_json::from_str(&ev[1]).unwrap();
                    cancel["o"]["x"] = json!("CANCELED");
                    cancel["o"]["X"] = json!("CANCELED");
                    ws.send(Message::text(cancel.to_string())).await.unwrap();
                    while let Some(Ok(_)) = ws.next().await {}
                }
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_key_expiry_disconnect_bad_frame_and_reconciliation() {
    let v: V = Arc::new(Mutex::new(Mock {
        key: "XaEAKTsQSRLZAGH9tuIu37plSRsdjmlAVBoNYPUITlTAko1WI22PgmBMpI1rS8Yh".into(),
        account: serde_json::from_str(&data("binance/fapi_v3_account.json")).unwrap(),
        position_risk: serde_json::from_str(&data("binance/fapi_v3_positionRisk.json")).unwrap(),
        ..Default::default()
    }));
    let rest_port = rest_server(v.clone()).await;
    let ws_port = ws_server(v.clone()).await;
    let mut cfg = FetchConfig::for_venue(Venue::Binance);
    cfg.base_url = format!("http://127.0.0.1:{rest_port}");
    cfg.max_retries = 1;
    cfg.backoff = Duration::from_millis(20);
    let rest = Fetcher::new(
        Venue::Binance,
        cfg,
        Credentials {
            key: "test-api-key".into(),
            secret: "test-secret".into(),
            extra: None,
        },
    )
    .unwrap();
    let stream = AccountStream::start(BinanceAccountSource {
        account: "acct".into(),
        rest,
        ws_base: format!("ws://127.0.0.1:{ws_port}"),
        keepalive: Duration::from_millis(200),
        reconcile_every: Duration::from_secs(3600),
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
    });

    // Wait for the third connection and the cancellation it carries.
    let mut st = stream.status();
    for _ in 0..200 {
        st = stream.status();
        let snap = stream.snapshot().unwrap();
        let (conns, puts) = {
            let g = v.lock().unwrap();
            (g.ws_paths.len(), g.puts)
        };
        let cancelled = snap
            .portfolio
            .accounts
            .first()
            .is_some_and(|a| a.orders.is_empty());
        if conns >= 3 && puts >= 1 && cancelled && st.events >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let g = v.lock().unwrap();
    // Connections: the documented key, then the key issued after the expiry (twice: after the
    // disconnect the POST answers the still-active key).
    assert_eq!(
        g.ws_paths,
        [
            "/ws/XaEAKTsQSRLZAGH9tuIu37plSRsdjmlAVBoNYPUITlTAko1WI22PgmBMpI1rS8Yh",
            "/ws/key-2",
            "/ws/key-2"
        ],
        "{st:?}"
    );
    assert_eq!(g.posts, 3, "one POST per connection");
    assert!(g.puts >= 1, "no keep-alive PUT in {st:?}");
    assert!(g.api_keys_seen.iter().all(|k| k == "test-api-key"));
    // REST read at each of the three connections (account, positionRisk, brackets).
    assert_eq!(
        g.gets
            .iter()
            .filter(|p| *p == "/fapi/v3/positionRisk")
            .count(),
        3
    );
    drop(g);
    assert_eq!(st.expiries, 1, "{st:?}");
    assert_eq!(st.bad_frames, 1, "{st:?}");
    assert!(st.disconnects >= 1, "{st:?}");
    assert_eq!(st.listen_keys, 3, "{st:?}");
    assert_eq!(st.reconciliations, 3, "{st:?}");
    // Connection 1's events agreed with REST at the second connection; connection 2's
    // position did not: one disagreement, named, and REST adopted.
    assert_eq!(st.disagreements, 1, "{st:?}");
    let d = st.last_disagreement.clone().unwrap();
    assert!(
        d.contains("BTCUSDT/LONG: streamed 0.02 @ 11445.71, REST 0.01 @ 11445.71"),
        "{d}"
    );
    // The account now: REST's (the documented ADAUSDT 30 and the two positions the event
    // opened), balances as the event set them, the order cancelled.
    let snap = stream.snapshot().unwrap();
    let acc = &snap.portfolio.accounts[0];
    let mut pos: Vec<(String, f64)> = acc
        .positions
        .iter()
        .map(|p| (p.instrument.id(), p.size))
        .collect();
    pos.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        pos,
        [
            ("binance:ADAUSDT".to_string(), 30.0),
            ("binance:BTCUSDT".to_string(), 0.01),
            ("binance:ETHUSDT".to_string(), -0.01)
        ]
    );
    assert!(acc.orders.is_empty());
    // USDT wallet 94.91018561 in base units of USDT's decimals (the adapters' asset table),
    // whole units kept: the decimal string cut at `decimals` fractional digits.
    let usdt = acc.collateral.iter().find(|c| c.asset == "USDT").unwrap();
    let dec = snap
        .portfolio
        .assets
        .iter()
        .find(|a| a.symbol == "USDT")
        .unwrap()
        .decimals as usize;
    let (int, frac) = "94.91018561".split_once('.').unwrap();
    let frac = format!("{frac:0<width$}", width = dec);
    let want = format!("{int}{}", &frac[..dec])
        .trim_start_matches('0')
        .to_string();
    assert_eq!(serde_json::to_value(usdt.amount).unwrap(), json!(want));
    stream.stop();
}
