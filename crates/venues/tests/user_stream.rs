//! The Binance USDⓈ-M user-data stream's documented events (tests/data/ws/binance-user.jsonl,
//! pages in tests/data/ws/SOURCES.md) read by `user_stream`, checked field by field against the
//! pages, then through the REST adapter into the canonical account; malformed events are errors
//! naming the JSON path, and no prefix of a documented event panics.

use intermargin_model::{OrderType, Side, Venue};
use intermargin_venues::user_stream::{
    binance_order_open, binance_position_key, parse_binance_user, BinanceUserEvent,
};
use intermargin_venues::{import, ImportOptions, Payload};
use serde_json::{json, Value};

fn lines() -> Vec<String> {
    let path = format!(
        "{}/tests/data/ws/binance-user.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn documented_events_read_as_the_pages_say() {
    let l = lines();
    assert_eq!(l.len(), 3);
    let BinanceUserEvent::Account {
        event_ms,
        reason,
        assets,
        positions,
    } = parse_binance_user(&l[0]).unwrap()
    else {
        panic!("not an account update")
    };
    assert_eq!(event_ms, Some(1603093193284));
    assert_eq!(reason, "DEPOSIT");
    assert_eq!(
        assets,
        vec![
            json!({"asset": "USDT", "walletBalance": "94.91018561"}),
            json!({"asset": "BNB", "walletBalance": "0.02575839"}),
        ]
    );
    assert_eq!(positions.len(), 6);
    let long = &positions[1];
    assert_eq!(binance_position_key(long), "BTCUSDT/LONG");
    assert_eq!(long["positionAmt"], "0.010");
    assert_eq!(long["entryPrice"], "11445.71000");
    assert_eq!(long["marginType"], "isolated");
    assert_eq!(long["isolatedWallet"], "1.20187100");
    assert_eq!(long["unRealizedProfit"], "0.17770");
    assert_eq!(binance_position_key(&positions[5]), "ETHUSDT/SHORT");
    assert_eq!(positions[5]["positionAmt"], "-0.010");

    let BinanceUserEvent::Order {
        event_ms,
        order_id,
        row,
    } = parse_binance_user(&l[1]).unwrap()
    else {
        panic!("not an order update")
    };
    assert_eq!((event_ms, order_id), (Some(1568879465651), 8886774));
    assert_eq!(row["type"], "TRAILING_STOP_MARKET");
    assert_eq!(row["side"], "SELL");
    assert_eq!(row["origQty"], "0.001");
    assert!(binance_order_open(&row));

    // `E` is a string on this page: still an expiry.
    assert_eq!(
        parse_binance_user(&l[2]).unwrap(),
        BinanceUserEvent::ListenKeyExpired
    );
    // The same events in a combined-stream wrapper.
    let wrapped = json!({"stream": "k", "data": serde_json::from_str::<Value>(&l[2]).unwrap()});
    assert_eq!(
        parse_binance_user(&wrapped.to_string()).unwrap(),
        BinanceUserEvent::ListenKeyExpired
    );
}

#[test]
fn streamed_rows_make_the_canonical_account_through_the_rest_adapter() {
    let l = lines();
    let BinanceUserEvent::Account {
        assets, positions, ..
    } = parse_binance_user(&l[0]).unwrap()
    else {
        panic!()
    };
    let BinanceUserEvent::Order { row, .. } = parse_binance_user(&l[1]).unwrap() else {
        panic!()
    };
    let payloads = vec![
        Payload::named(
            "/fapi/v3/account",
            json!({"assets": assets, "positions": []}).to_string(),
        ),
        Payload::named("/fapi/v3/positionRisk", json!(positions).to_string()),
        Payload::named("/fapi/v1/openOrders", json!([row]).to_string()),
    ];
    let snap = import(
        Venue::Binance,
        &payloads,
        &ImportOptions {
            account: "acct".into(),
        },
    )
    .unwrap();
    let acc = &snap.portfolio.accounts[0];
    // The four rows of amount 0 are no positions.
    let mut pos: Vec<(String, f64, Option<f64>, bool)> = acc
        .positions
        .iter()
        .map(|p| (p.instrument.id(), p.size, p.entry_price, p.isolated))
        .collect();
    pos.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        pos,
        vec![
            ("binance:BTCUSDT".to_string(), 0.01, Some(11445.71), true),
            ("binance:ETHUSDT".to_string(), -0.01, Some(375.74), false),
        ]
    );
    let btc = acc
        .positions
        .iter()
        .find(|p| p.size > 0.0)
        .unwrap()
        .isolated_margin;
    assert_eq!(btc, Some(1.201871));
    // Balances in base units of each asset's decimals (the adapters' asset table), whole units
    // kept: the documented decimal string cut at `decimals` fractional digits.
    let v = serde_json::to_value(&snap).unwrap();
    for (asset, doc) in [("USDT", "94.91018561"), ("BNB", "0.02575839")] {
        let dec = v["portfolio"]["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["symbol"] == asset)
            .unwrap()["decimals"]
            .as_u64()
            .unwrap() as usize;
        let (int, frac) = doc.split_once('.').unwrap();
        let frac = format!("{frac:0<width$}", width = dec);
        let want = format!("{int}{}", &frac[..dec])
            .trim_start_matches('0')
            .to_string();
        let c = acc.collateral.iter().find(|c| c.asset == asset).unwrap();
        assert_eq!(
            serde_json::to_value(c.amount).unwrap(),
            json!(want),
            "{asset}"
        );
    }
    // The trailing stop: a conditional sell of 0.001 that reserves nothing until triggered.
    assert_eq!(acc.orders.len(), 1);
    let o = &acc.orders[0];
    assert_eq!(
        (o.side, o.order_type, o.size, o.remaining),
        (Side::Sell, OrderType::TrailingStop, 0.001, 0.001)
    );
}

#[test]
fn malformed_events_name_the_path_and_nothing_panics() {
    let e = parse_binance_user("{").unwrap_err();
    assert_eq!(e.path, "$");
    let e = parse_binance_user(r#"{"e":"ACCOUNT_UPDATE","E":1}"#).unwrap_err();
    assert_eq!(e.path, "$.a");
    let e = parse_binance_user(
        r#"{"e":"ACCOUNT_UPDATE","a":{"B":[],"P":[{"s":"BTCUSDT","pa":"x","ep":"1"}]}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "$.a.P[0].pa");
    let e = parse_binance_user(r#"{"e":"ORDER_TRADE_UPDATE","o":{"s":"BTCUSDT"}}"#).unwrap_err();
    assert_eq!(e.path, "$.o.i");
    let e = parse_binance_user(r#"{"data":{"e":"ACCOUNT_UPDATE","a":{"B":{}}}}"#).unwrap_err();
    assert_eq!(e.path, "data.a.B");
    assert_eq!(
        parse_binance_user(r#"{"e":"MARGIN_CALL","E":1}"#).unwrap(),
        BinanceUserEvent::Ignored("MARGIN_CALL".into())
    );
    // Every prefix of every documented event: an answer or an error, never a panic.
    for l in lines() {
        for n in 0..l.len() {
            if l.is_char_boundary(n) {
                let _ = parse_binance_user(&l[..n]);
            }
        }
    }
}
