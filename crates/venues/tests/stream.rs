//! The venues' documented WebSocket messages (tests/data/ws, sources in its SOURCES.md) read
//! by `stream::parse_frame`: the prices are checked against the numbers printed on each page.

use intermargin_venues::stream::{
    parse_frame, subscribe_frames, StreamFrame, StreamPrice, StreamSubscription, StreamVenue,
};
use serde_json::Value;

fn lines(venue: &str) -> Vec<String> {
    let path = format!("{}/tests/data/ws/{venue}.jsonl", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn prices(f: &StreamFrame) -> Vec<(String, f64)> {
    match f {
        StreamFrame::Prices { prices, .. } => prices
            .iter()
            .map(|p: &StreamPrice| (p.key.clone(), p.value))
            .collect(),
        other => panic!("expected prices, got {other:?}"),
    }
}

#[test]
fn deribit_documented_messages() {
    let l = lines("deribit");
    let v = StreamVenue::Deribit;
    assert_eq!(
        parse_frame(v, &l[0]).unwrap(),
        StreamFrame::Ack { seq: None }
    );
    assert_eq!(
        parse_frame(v, &l[1]).unwrap(),
        StreamFrame::Ack { seq: None }
    );
    assert_eq!(
        prices(&parse_frame(v, &l[2]).unwrap()),
        vec![("index:deribit:BTC".into(), 6521.17)]
    );
    assert_eq!(
        prices(&parse_frame(v, &l[3]).unwrap()),
        vec![
            ("mark:deribit:BTC-PERPETUAL".into(), 36446.51),
            ("index:deribit:BTC".into(), 36441.64)
        ]
    );
    assert_eq!(parse_frame(v, &l[4]).unwrap(), StreamFrame::Heartbeat);
    // test_request must be answered with public/test (the server closes the socket otherwise).
    let StreamFrame::Reply(r) = parse_frame(v, &l[5]).unwrap() else {
        panic!("test_request needs a reply")
    };
    let r: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["method"], "public/test");
}

#[test]
fn deribit_subscribes_to_the_documented_channels() {
    let sub = StreamSubscription {
        instruments: vec!["BTC-PERPETUAL".into()],
        indices: vec!["btc_usd".into()],
        heartbeat_secs: 5,
        ..Default::default()
    };
    let f = subscribe_frames(StreamVenue::Deribit, &sub);
    let hb: Value = serde_json::from_str(&f[0]).unwrap();
    assert_eq!(hb["method"], "public/set_heartbeat");
    assert_eq!(
        hb["params"]["interval"], 10,
        "Deribit's minimum interval is 10 s"
    );
    let s: Value = serde_json::from_str(&f[1]).unwrap();
    assert_eq!(s["method"], "public/subscribe");
    assert_eq!(
        s["params"]["channels"],
        serde_json::json!(["ticker.BTC-PERPETUAL.100ms", "deribit_price_index.btc_usd"])
    );
}

#[test]
fn binance_documented_mark_price_event_raw_and_combined() {
    for line in lines("binance") {
        assert_eq!(
            prices(&parse_frame(StreamVenue::Binance, &line).unwrap()),
            vec![
                ("mark:binance:BTCUSDT".into(), 11794.15),
                ("index:binance:BTC".into(), 11784.62659091)
            ]
        );
    }
    let url = StreamVenue::Binance.default_url(&StreamSubscription {
        instruments: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        ..Default::default()
    });
    assert_eq!(
        url,
        "wss://fstream.binance.com/stream?streams=btcusdt@markPrice@1s/ethusdt@markPrice@1s"
    );
}

#[test]
fn okx_documented_messages() {
    let l = lines("okx");
    let v = StreamVenue::Okx;
    assert_eq!(
        parse_frame(v, &l[0]).unwrap(),
        StreamFrame::Ack { seq: None }
    );
    assert_eq!(
        prices(&parse_frame(v, &l[1]).unwrap()),
        vec![("mark:okx:BTC-USDT-SWAP".into(), 42310.6)]
    );
    assert_eq!(
        prices(&parse_frame(v, &l[2]).unwrap()),
        vec![("index:okx:BTC".into(), 0.1)]
    );
    assert_eq!(
        prices(&parse_frame(v, &l[3]).unwrap()),
        vec![("iv:okx:BTC-USD-241013-70000-P".into(), 0.35)]
    );
    assert!(
        matches!(parse_frame(v, &l[4]).unwrap(), StreamFrame::VenueError(e) if e.starts_with("60012"))
    );
    assert_eq!(parse_frame(v, &l[5]).unwrap(), StreamFrame::Heartbeat);
}

#[test]
fn bybit_documented_snapshot_then_delta() {
    let l = lines("bybit");
    let v = StreamVenue::Bybit;
    assert_eq!(
        parse_frame(v, &l[0]).unwrap(),
        StreamFrame::Ack { seq: None }
    );
    assert_eq!(
        prices(&parse_frame(v, &l[1]).unwrap()),
        vec![
            ("mark:bybit:BTCUSDT".into(), 17217.33),
            ("index:bybit:BTC".into(), 17227.36)
        ]
    );
    // A delta carries only what changed: no index here.
    assert_eq!(
        prices(&parse_frame(v, &l[2]).unwrap()),
        vec![("mark:bybit:BTCUSDT".into(), 17218.10)]
    );
    assert_eq!(parse_frame(v, &l[3]).unwrap(), StreamFrame::Heartbeat);
    assert!(matches!(
        parse_frame(v, &l[4]).unwrap(),
        StreamFrame::VenueError(_)
    ));
}

#[test]
fn hyperliquid_documented_messages() {
    let l = lines("hyperliquid");
    let v = StreamVenue::Hyperliquid;
    assert_eq!(
        parse_frame(v, &l[0]).unwrap(),
        StreamFrame::Ack { seq: None }
    );
    // Spot pairs (`@107`) are not margined.
    assert_eq!(
        prices(&parse_frame(v, &l[1]).unwrap()),
        vec![
            ("mid:hyperliquid:BTC".into(), 67213.5),
            ("mid:hyperliquid:ETH".into(), 3461.05)
        ]
    );
    assert_eq!(
        prices(&parse_frame(v, &l[2]).unwrap()),
        vec![
            ("mark:hyperliquid:ETH".into(), 3227.4),
            ("index:hyperliquid:ETH".into(), 3230.1)
        ]
    );
    assert_eq!(parse_frame(v, &l[3]).unwrap(), StreamFrame::Heartbeat);
}

#[test]
fn dydx_documented_messages_carry_their_sequence() {
    let l = lines("dydx");
    let v = StreamVenue::Dydx;
    assert_eq!(
        parse_frame(v, &l[0]).unwrap(),
        StreamFrame::Ack { seq: Some(0) }
    );
    let f = parse_frame(v, &l[1]).unwrap();
    assert_eq!(
        prices(&f),
        vec![
            ("mark:dydx:BTC-USD".into(), 28223.69),
            ("index:dydx:BTC".into(), 28223.69)
        ]
    );
    assert!(matches!(f, StreamFrame::Prices { seq: Some(1), .. }));
    let f = parse_frame(v, &l[2]).unwrap();
    assert_eq!(prices(&f)[0], ("mark:dydx:BTC-USD".into(), 28230.1));
    assert!(matches!(f, StreamFrame::Prices { seq: Some(2), .. }));
    // A trading-parameter update has no price but still counts in the sequence.
    assert!(
        matches!(parse_frame(v, &l[3]).unwrap(), StreamFrame::Prices { seq: Some(3), ref prices } if prices.is_empty())
    );
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let bad = [
        "",
        "null",
        "{",
        "[]",
        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_price_index.btc_usd","data":{"price":"x"}}}"#,
        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_price_index.btc_usd","data":{"price":0}}}"#,
        r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","s":"BTCUSDT","p":"NaN"}}"#,
        r#"{"topic":"tickers.BTCUSDT","data":{"markPrice":[1]}}"#,
        r#"{"channel":"activeAssetCtx","data":{"coin":"ETH"}}"#,
        r#"{"type":"channel_data","message_id":4,"channel":"v4_markets","contents":{"oraclePrices":{"BTC-USD":{"oraclePrice":"-3"}}}}"#,
    ];
    for venue in [
        StreamVenue::Deribit,
        StreamVenue::Binance,
        StreamVenue::Okx,
        StreamVenue::Bybit,
        StreamVenue::Hyperliquid,
        StreamVenue::Dydx,
    ] {
        for b in bad {
            // Either an error naming the path or a harmless Ignored, never a panic or a price.
            match parse_frame(venue, b) {
                Ok(StreamFrame::Prices { prices, .. }) => {
                    assert!(
                        prices.iter().all(|p| p.value > 0.0 && p.value.is_finite()),
                        "{venue:?} {b}"
                    )
                }
                Ok(_) => {}
                Err(e) => assert!(!e.path.is_empty(), "{e}"),
            }
        }
    }
}
