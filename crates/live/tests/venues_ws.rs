//! Each venue's connector against a local WebSocket server speaking that venue's protocol with
//! the documentation's own messages (crates/venues/tests/data/ws, sources in its SOURCES.md):
//! subscribe, heartbeats, a malformed frame, a disconnect mid-stream (reconnect and
//! resubscribe), a stale spell (alarm, then recovery), and for dYdX a sequence gap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_live::{AlarmKind, LiveBatch, LiveConfig, LiveFeed};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

fn doc(venue: &str) -> Vec<Value> {
    let path = format!(
        "{}/../venues/tests/data/ws/{venue}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The documented price message of `venue` with its mark set to `p` (and dYdX's counter).
fn price_frame(venue: &str, p: f64, seq: u64) -> String {
    let d = doc(venue);
    let mut m = match venue {
        "deribit" => d[3].clone(),
        "binance" => d[0].clone(),
        "okx" => d[1].clone(),
        "bybit" => d[1].clone(),
        "hyperliquid" => d[2].clone(),
        "dydx" => d[2].clone(),
        _ => unreachable!(),
    };
    let s = Value::String(p.to_string());
    match venue {
        "deribit" => m["params"]["data"]["mark_price"] = p.into(),
        "binance" => m["data"]["p"] = s,
        "okx" => m["data"][0]["markPx"] = s,
        "bybit" => m["data"]["markPrice"] = s,
        "hyperliquid" => m["data"]["ctx"]["markPx"] = s,
        "dydx" => {
            m["contents"]["oraclePrices"]["BTC-USD"]["oraclePrice"] = s;
            m["message_id"] = seq.into();
        }
        _ => unreachable!(),
    }
    m.to_string()
}

fn mark_key(venue: &str) -> &'static str {
    match venue {
        "deribit" => "mark:deribit:BTC-PERPETUAL",
        "binance" => "mark:binance:BTCUSDT",
        "okx" => "mark:okx:BTC-USDT-SWAP",
        "bybit" => "mark:bybit:BTCUSDT",
        "hyperliquid" => "mark:hyperliquid:ETH",
        "dydx" => "mark:dydx:BTC-USD",
        _ => unreachable!(),
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn log(l: &Log, s: String) {
    l.lock().unwrap().push(s);
}

async fn next_text(ws: &mut WebSocketStream<TcpStream>) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(Message::Pong(_)))) => return Some("<pong>".into()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

async fn send(ws: &mut WebSocketStream<TcpStream>, s: String) {
    let _ = ws.send(Message::text(s)).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
}

/// One connection of the mock venue; `n` counts connections from 1.
async fn script(
    venue: &'static str,
    n: usize,
    mut ws: WebSocketStream<TcpStream>,
    path: String,
    l: Log,
) {
    let d = doc(venue);
    let mut seq = 0u64;
    if venue == "dydx" {
        send(&mut ws, d[0].to_string()).await; // connected, message_id 0
    }
    let subs = match venue {
        "deribit" | "hyperliquid" => 2,
        "binance" => 0,
        _ => 1,
    };
    for _ in 0..subs {
        let Some(m) = next_text(&mut ws).await else {
            return;
        };
        log(&l, format!("{n} sub {m}"));
    }
    if venue == "binance" {
        log(&l, format!("{n} sub {path}"));
    }
    match venue {
        "deribit" => {
            send(&mut ws, d[0].to_string()).await;
            send(&mut ws, d[1].to_string()).await;
        }
        "okx" | "bybit" | "hyperliquid" => send(&mut ws, d[0].to_string()).await,
        "dydx" => {
            seq = 1;
            // subscribed, message_id 1: a fresh snapshot carries the market's current price.
            let mut snap = d[1].clone();
            let now = [99.0, 102.5, 104.5][(n - 1).min(2)];
            snap["contents"]["markets"]["BTC-USD"]["oraclePrice"] = Value::String(format!("{now}"));
            send(&mut ws, snap.to_string()).await;
        }
        _ => {}
    }
    let price = |p: f64, seq: &mut u64| {
        *seq += 1;
        price_frame(venue, p, *seq)
    };
    match n {
        1 => {
            let f = price(100.0, &mut seq);
            send(&mut ws, f).await;
            send(&mut ws, "{garbage".into()).await;
            let f = price(101.0, &mut seq);
            send(&mut ws, f).await;
            // Heartbeats, each as the venue documents them.
            let ok = match venue {
                "deribit" => {
                    send(&mut ws, d[5].to_string()).await; // test_request
                    next_text(&mut ws)
                        .await
                        .is_some_and(|m| m.contains("public/test"))
                }
                "okx" => {
                    let got = next_text(&mut ws).await;
                    send(&mut ws, "pong".into()).await;
                    got.as_deref() == Some("ping")
                }
                "bybit" => {
                    let got = next_text(&mut ws).await;
                    send(&mut ws, d[3].to_string()).await;
                    got.is_some_and(|m| m.contains("\"ping\""))
                }
                "hyperliquid" => {
                    let got = next_text(&mut ws).await;
                    send(&mut ws, d[3].to_string()).await;
                    got.is_some_and(|m| m.contains("\"ping\""))
                }
                // The server pings with a control frame; the client must pong.
                _ => {
                    let _ = ws.send(Message::Ping(b"hb".to_vec().into())).await;
                    next_text(&mut ws).await.as_deref() == Some("<pong>")
                }
            };
            log(&l, format!("{n} heartbeat {ok}"));
            let f = price(102.0, &mut seq);
            send(&mut ws, f).await;
            // Disconnect mid-stream: drop the socket without a close frame.
            drop(ws);
        }
        2 => {
            let f = price(103.0, &mut seq);
            send(&mut ws, f).await;
            // Silent beyond the staleness limit (0.3 s), the connection still open.
            tokio::time::sleep(Duration::from_millis(900)).await;
            let f = price(104.0, &mut seq);
            send(&mut ws, f).await;
            if venue == "dydx" {
                // Skip five message numbers: the client must notice and start over.
                seq += 5;
                let f = price(999.0, &mut seq);
                send(&mut ws, f).await;
            }
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        _ => {
            let f = price(105.0, &mut seq);
            send(&mut ws, f).await;
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
    }
}

async fn mock(venue: &'static str, l: Log) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            n += 1;
            let path = Arc::new(Mutex::new(String::new()));
            let p2 = path.clone();
            #[allow(clippy::result_large_err)] // the callback type is tungstenite's
            let cb = move |req: &Request, resp: Response| {
                *p2.lock().unwrap() = req.uri().to_string();
                Ok(resp)
            };
            let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                continue;
            };
            let path = path.lock().unwrap().clone();
            tokio::spawn(script(venue, n, ws, path, l.clone()));
        }
    });
    port
}

fn config(venue: &str, port: u16) -> LiveConfig {
    let instruments = match venue {
        "deribit" => {
            r#"instruments = ["BTC-PERPETUAL"]
indices = ["btc_usd"]"#
        }
        "binance" | "bybit" => r#"instruments = ["BTCUSDT"]"#,
        "okx" => r#"instruments = ["BTC-USDT-SWAP"]"#,
        "hyperliquid" => r#"instruments = ["ETH"]"#,
        "dydx" => r#"instruments = ["BTC-USD"]"#,
        _ => unreachable!(),
    };
    LiveConfig::from_toml(&format!(
        r#"stale_after_secs = 0.3
batch_ms = 10
reconnect_base_ms = 20
reconnect_cap_ms = 200
[[sources]]
venue = "{venue}"
url = "ws://127.0.0.1:{port}"
keepalive_secs = 0.1
{instruments}
"#
    ))
    .unwrap()
}

async fn run_venue(venue: &'static str) {
    let l: Log = Arc::default();
    let port = mock(venue, l.clone()).await;
    let mut feed = LiveFeed::start(&config(venue, port)).unwrap();
    let key = mark_key(venue);
    let mut marks: Vec<f64> = Vec::new();
    let mut alarms: Vec<(AlarmKind, String)> = Vec::new();
    let want_last = if venue == "dydx" { 105.0 } else { 104.0 };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let b: LiveBatch = feed.next_batch().await;
        for t in &b.ticks {
            if t.key == key {
                marks.push(t.price);
            }
        }
        alarms.extend(b.alarms.iter().map(|a| (a.kind, a.detail.clone())));
        if marks.last() == Some(&want_last) {
            break;
        }
    }
    let log = l.lock().unwrap().clone();
    let ctx = format!("{venue}: marks {marks:?}\nalarms {alarms:?}\nlog {log:?}");
    // Prices in order, the one after the malformed frame included, the gap's price never.
    for p in [101.0, 102.0, 103.0, 104.0] {
        assert!(marks.contains(&p), "{p} missing — {ctx}");
    }
    assert!(
        !marks.contains(&999.0),
        "a price after a sequence gap was applied — {ctx}"
    );
    let mut sorted = marks.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, marks, "prices applied out of order — {ctx}");
    // Subscribed on the first connection and again after the reconnect.
    assert!(log.iter().any(|m| m.starts_with("1 sub")), "{ctx}");
    assert!(
        log.iter().any(|m| m.starts_with("2 sub")),
        "no resubscribe — {ctx}"
    );
    assert!(
        log.iter().any(|m| m == "1 heartbeat true"),
        "heartbeat not answered — {ctx}"
    );
    let has = |k: AlarmKind| alarms.iter().any(|a| a.0 == k);
    assert!(has(AlarmKind::BadFrame), "{ctx}");
    assert!(has(AlarmKind::Disconnected), "{ctx}");
    assert!(has(AlarmKind::StaleFeed), "{ctx}");
    assert!(has(AlarmKind::Recovered), "{ctx}");
    if venue == "dydx" {
        assert!(has(AlarmKind::SequenceGap), "{ctx}");
        assert!(
            log.iter().any(|m| m.starts_with("3 sub")),
            "no reconnect after the gap — {ctx}"
        );
    }
    // The subscribe frames are the venue's documented ones.
    let first: Vec<&String> = log.iter().filter(|m| m.starts_with("1 sub")).collect();
    let expect = match venue {
        "deribit" => "ticker.BTC-PERPETUAL.100ms",
        "binance" => "/stream?streams=btcusdt@markPrice@1s",
        "okx" => r#""channel":"mark-price""#,
        "bybit" => "tickers.BTCUSDT",
        "hyperliquid" => r#""type":"activeAssetCtx""#,
        "dydx" => "v4_markets",
        _ => unreachable!(),
    };
    assert!(
        first.iter().any(|m| m.contains(expect)),
        "{expect} not subscribed — {ctx}"
    );
    feed.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deribit_connector() {
    run_venue("deribit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_connector() {
    run_venue("binance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_connector() {
    run_venue("okx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_connector() {
    run_venue("bybit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyperliquid_connector() {
    run_venue("hyperliquid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dydx_connector() {
    run_venue("dydx").await;
}

/// Aave's oracle over JSON-RPC: a local HTTP endpoint answering `eth_call` with ABI-encoded
/// prices; the feed reads WETH in USD from the 1e8 base unit, and an RPC error is an alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aave_oracle_polling() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let c2 = calls.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut n = 0u32;
        while let Ok((mut tcp, _)) = listener.accept().await {
            n += 1;
            let mut buf = vec![0u8; 8192];
            let k = tcp.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..k]).to_string();
            c2.lock().unwrap().push(req);
            // USDC 0.99990000 USD and WETH 3,000.12345678 USD (8 decimals, in the order asked); the
            // 3rd answer fails.
            let body = if n == 3 {
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"execution reverted"}}"#
                    .to_string()
            } else {
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"result":"0x{:064x}{:064x}{:064x}{:064x}"}}"#,
                    32, 2, 99_990_000u128, 300_012_345_678u128
                )
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(resp.as_bytes()).await;
        }
    });
    let cfg = LiveConfig::from_toml(&format!(
        r#"batch_ms = 10
[[sources]]
venue = "aave"
url = "http://127.0.0.1:{port}"
oracle = "0x54586bE62E3c3580375aE3723C145253060Ca0C2"
poll_secs = 0.1
assets = {{ USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2" }}
"#
    ))
    .unwrap();
    let mut feed = LiveFeed::start(&cfg).unwrap();
    let mut weth = None;
    let mut usdc = None;
    let mut rpc_alarm = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline && !(weth.is_some() && usdc.is_some() && rpc_alarm)
    {
        let b = feed.next_batch().await;
        for t in &b.ticks {
            match t.key.as_str() {
                "index:aave:WETH" => weth = Some(t.price),
                "index:aave:USDC" => usdc = Some(t.price),
                _ => {}
            }
        }
        rpc_alarm |= b
            .alarms
            .iter()
            .any(|a| a.detail.contains("execution reverted"));
    }
    assert_eq!(weth, Some(3000.12345678));
    assert_eq!(usdc, Some(0.9999));
    assert!(rpc_alarm, "an RPC error must be reported");
    let req = calls.lock().unwrap()[0].clone();
    assert!(req.contains("\"eth_call\""), "{req}");
    // Assets in the config's (sorted) order: USDC then WETH, after selector, offset, length.
    assert!(req.contains("0x9d23d9f2"), "{req}");
    let usdc_at = req
        .find("a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
        .unwrap();
    let weth_at = req
        .find("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
        .unwrap();
    assert!(usdc_at < weth_at);
    feed.stop();
}
