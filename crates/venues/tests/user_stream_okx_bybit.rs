//! OKX's and Bybit's documented private WebSocket messages (tests/data/ws/okx-private.jsonl,
//! bybit-private.jsonl; pages in tests/data/ws/SOURCES.md) read by
//! `user_stream::parse_okx_user` / `parse_bybit_user`, checked field by field against the pages,
//! then through each venue's REST adapter (`okx_payloads` / `bybit_payloads`) into the canonical
//! account; malformed messages are errors naming the JSON path, and no prefix of a documented
//! message panics.

use intermargin_model::Venue;
use intermargin_venues::user_stream::{
    bybit_order_open, bybit_payloads, bybit_position_key, okx_order_open, okx_payloads,
    okx_position_key, parse_bybit_user, parse_okx_user, BybitUserMessage, OkxPush, OkxUserMessage,
};
use intermargin_venues::{import, ImportOptions};
use serde_json::{json, Value};

fn lines(file: &str) -> Vec<String> {
    let path = format!("{}/tests/data/ws/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn opts() -> ImportOptions {
    ImportOptions {
        account: "acct".into(),
    }
}

#[test]
fn okx_documented_messages_read_as_the_pages_say() {
    let l = lines("okx-private.jsonl");
    assert_eq!(l.len(), 7);
    assert_eq!(parse_okx_user(&l[0]).unwrap(), OkxUserMessage::Login);
    assert_eq!(
        parse_okx_user(&l[1]).unwrap(),
        OkxUserMessage::Error {
            code: "60009".into(),
            msg: "Login failed.".into()
        }
    );
    assert_eq!(
        parse_okx_user(&l[2]).unwrap(),
        OkxUserMessage::Subscribed("positions".into())
    );
    // Account channel: one USDT detail, cashBal 4750.426970691436 (the page's example).
    let OkxUserMessage::Account { push, details } = parse_okx_user(&l[3]).unwrap() else {
        panic!("not an account push")
    };
    assert_eq!(
        push,
        OkxPush::Snapshot {
            cur_page: 1,
            last_page: true
        }
    );
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["ccy"], "USDT");
    assert_eq!(details[0]["cashBal"], "4750.426970691436");
    // Positions channel (instType ANY): ETH-USD-210430 and ETH-USD-SWAP, each 1 long isolated
    // at avgPx 2566.31, lever 10.
    let OkxUserMessage::Positions { push, rows } = parse_okx_user(&l[4]).unwrap() else {
        panic!("not a positions push")
    };
    assert!(matches!(
        push,
        OkxPush::Snapshot {
            last_page: true,
            ..
        }
    ));
    let keys: Vec<String> = rows.iter().map(okx_position_key).collect();
    assert_eq!(
        keys,
        ["ETH-USD-210430/long/isolated", "ETH-USD-SWAP/long/isolated"]
    );
    // Orders channel: one filled SPOT sell (no longer live).
    let OkxUserMessage::Orders { rows: orders } = parse_okx_user(&l[5]).unwrap() else {
        panic!("not an orders push")
    };
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["ordId"], "452197707845865472");
    assert!(!okx_order_open(&orders[0]));
    assert_eq!(parse_okx_user(&l[6]).unwrap(), OkxUserMessage::Pong);

    // Through the OKX REST adapter.
    let snap = import(
        Venue::Okx,
        &okx_payloads(rows.iter(), details.iter(), orders.iter()),
        &opts(),
    )
    .unwrap();
    let acc = &snap.portfolio.accounts[0];
    type Row = (String, f64, Option<f64>, Option<f64>, bool);
    let mut pos: Vec<Row> = acc
        .positions
        .iter()
        .map(|p| {
            (
                p.instrument.id(),
                p.size,
                p.entry_price,
                p.leverage,
                p.isolated,
            )
        })
        .collect();
    pos.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(pos.len(), 2, "{pos:?}");
    for (id, size, entry, lever, iso) in &pos {
        assert!(id.contains("ETH-USD"), "{id}");
        assert_eq!(*size, 1.0, "{id}: pos \"1\"");
        assert_eq!(*entry, Some(2566.31));
        assert_eq!(*lever, Some(10.0));
        assert!(*iso);
    }
    assert!(acc.orders.is_empty(), "a filled order does not rest");
    let usdt = acc.collateral.iter().find(|c| c.asset == "USDT").unwrap();
    let dec = snap
        .portfolio
        .assets
        .iter()
        .find(|a| a.symbol == "USDT")
        .unwrap()
        .decimals as usize;
    // 4750.426970691436 cut to USDT's decimals, in base units.
    let (int, frac) = "4750.426970691436".split_once('.').unwrap();
    let want = format!("{int}{}", &format!("{frac:0<width$}", width = dec)[..dec]);
    assert_eq!(serde_json::to_value(usdt.amount).unwrap(), json!(want));

    // A live order (the documented one, not yet filled) rests: 0.001 BTC-USDT sell at 31527.1.
    let mut live = orders[0].clone();
    live["state"] = json!("live");
    live["accFillSz"] = json!("0");
    assert!(okx_order_open(&live));
    let snap = import(Venue::Okx, &okx_payloads([], [], [&live]), &opts()).unwrap();
    let o = &snap.portfolio.accounts[0].orders[0];
    assert_eq!(
        (o.size, o.remaining, o.price),
        (0.001, 0.001, Some(31527.1))
    );
}

#[test]
fn bybit_documented_messages_read_as_the_pages_say() {
    let l = lines("bybit-private.jsonl");
    assert_eq!(l.len(), 6);
    assert_eq!(
        parse_bybit_user(&l[0]).unwrap(),
        BybitUserMessage::Auth {
            success: true,
            msg: String::new()
        }
    );
    assert_eq!(
        parse_bybit_user(&l[1]).unwrap(),
        BybitUserMessage::Subscribed {
            success: true,
            msg: String::new()
        }
    );
    assert_eq!(parse_bybit_user(&l[2]).unwrap(), BybitUserMessage::Pong);
    // Position: BTCUSDT linear, positionIdx 2, size 0 (closed), mark 28184.5.
    let BybitUserMessage::Positions(pos) = parse_bybit_user(&l[3]).unwrap() else {
        panic!("not a position push")
    };
    assert_eq!(bybit_position_key(&pos[0]), "linear/BTCUSDT/2");
    assert_eq!(pos[0]["size"], "0");
    assert_eq!(
        pos[0]["avgPrice"], "0",
        "entryPrice read as REST's avgPrice"
    );
    // Wallet: UNIFIED, six coins; USDT wallet 11728.54414904, BTC 0.06488393.
    let BybitUserMessage::Wallet(w) = parse_bybit_user(&l[4]).unwrap() else {
        panic!("not a wallet push")
    };
    assert_eq!(w[0]["accountType"], "UNIFIED");
    assert_eq!(w[0]["coin"].as_array().unwrap().len(), 6);
    // Order: a filled option market sell (closed).
    let BybitUserMessage::Orders(o) = parse_bybit_user(&l[5]).unwrap() else {
        panic!("not an order push")
    };
    assert_eq!(o[0]["symbol"], "ETH-30DEC22-1400-C");
    assert!(!bybit_order_open(&o[0]));

    let snap = import(
        Venue::Bybit,
        &bybit_payloads(pos.iter(), w.iter(), o.iter()),
        &opts(),
    )
    .unwrap();
    let acc = &snap.portfolio.accounts[0];
    assert!(acc.positions.is_empty(), "size 0 is no position");
    assert!(acc.orders.is_empty());
    let units = |asset: &str, text: &str| {
        let dec = snap
            .portfolio
            .assets
            .iter()
            .find(|a| a.symbol == asset)
            .unwrap()
            .decimals as usize;
        let (int, frac) = text.split_once('.').unwrap();
        let s = format!("{int}{}", &format!("{frac:0<width$}", width = dec)[..dec]);
        json!(s.trim_start_matches('0'))
    };
    for (coin, wb) in [("USDT", "11728.54414904"), ("BTC", "0.06488393")] {
        let c = acc.collateral.iter().find(|c| c.asset == coin).unwrap();
        assert_eq!(
            serde_json::to_value(c.amount).unwrap(),
            units(coin, wb),
            "{coin}"
        );
    }

    // An open linear position from the documented row: 0.5 short BTCUSDT at entry 28000.
    let mut open = pos[0].clone();
    open["side"] = json!("Sell");
    open["size"] = json!("0.5");
    open["entryPrice"] = json!("28000");
    open.as_object_mut().unwrap().remove("avgPrice");
    let frame = json!({"topic": "position", "creationTime": 1, "data": [open]}).to_string();
    let BybitUserMessage::Positions(p2) = parse_bybit_user(&frame).unwrap() else {
        panic!()
    };
    let snap = import(Venue::Bybit, &bybit_payloads(p2.iter(), [], []), &opts()).unwrap();
    let p = &snap.portfolio.accounts[0].positions[0];
    assert_eq!((p.size, p.entry_price), (-0.5, Some(28000.0)));
}

#[test]
fn malformed_messages_name_the_json_path() {
    let cases_okx = [
        ("{", "$"),
        ("[1]", "$"),
        (r#"{"data":[]}"#, "arg.channel"),
        (r#"{"arg":{"channel":"positions"}}"#, "data"),
        (r#"{"arg":{"channel":"positions"},"data":{}}"#, "data"),
        (
            r#"{"arg":{"channel":"positions"},"data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","pos":"x"}]}"#,
            "data[0].pos",
        ),
        (
            r#"{"arg":{"channel":"positions"},"data":[{"instType":"SWAP","pos":"1"}]}"#,
            "data[0].instId",
        ),
        (
            r#"{"arg":{"channel":"account"},"data":[{"details":[{"ccy":"BTC","cashBal":7}]}]}"#,
            "data[0].details[0].cashBal",
        ),
        (
            r#"{"arg":{"channel":"account"},"data":[{}]}"#,
            "data[0].details",
        ),
        (
            r#"{"arg":{"channel":"orders"},"data":[{"instId":"BTC-USDT","state":"live"}]}"#,
            "data[0].ordId",
        ),
        (r#"{"event":7}"#, "event"),
    ];
    for (frame, path) in cases_okx {
        let e = parse_okx_user(frame).unwrap_err();
        assert_eq!(e.path, path, "{frame}: {e}");
        assert_eq!(e.venue, "okx");
    }
    let cases_bybit = [
        ("nope", "$"),
        ("7", "$"),
        (r#"{"data":[]}"#, "topic"),
        (r#"{"topic":"position"}"#, "data"),
        (
            r#"{"topic":"position","data":[{"symbol":"BTCUSDT","size":"1"}]}"#,
            "data[0].category",
        ),
        (
            r#"{"topic":"position","data":[{"category":"linear","symbol":"BTCUSDT","size":1}]}"#,
            "data[0].size",
        ),
        (
            r#"{"topic":"wallet","data":[{"accountType":"UNIFIED","coin":[{"coin":"USDT"}]}]}"#,
            "data[0].coin[0].walletBalance",
        ),
        (
            r#"{"topic":"wallet","data":[{"accountType":"UNIFIED"}]}"#,
            "data[0].coin",
        ),
        (
            r#"{"topic":"order","data":[{"category":"linear","symbol":"BTCUSDT","orderStatus":"New"}]}"#,
            "data[0].orderId",
        ),
        (r#"{"op":1}"#, "op"),
    ];
    for (frame, path) in cases_bybit {
        let e = parse_bybit_user(frame).unwrap_err();
        assert_eq!(e.path, path, "{frame}: {e}");
        assert_eq!(e.venue, "bybit");
    }
    // Unknown but well-formed messages are skipped, not errors.
    assert!(matches!(
        parse_okx_user(r#"{"arg":{"channel":"balance_and_position"},"data":[]}"#).unwrap(),
        OkxUserMessage::Ignored(_)
    ));
    assert!(matches!(
        parse_bybit_user(r#"{"topic":"execution","data":[]}"#).unwrap(),
        BybitUserMessage::Ignored(_)
    ));
    // A refused Bybit auth (the documented shape with success false).
    assert_eq!(
        parse_bybit_user(
            r#"{"success":false,"ret_msg":"error:invalid signature","op":"auth","conn_id":"x"}"#
        )
        .unwrap(),
        BybitUserMessage::Auth {
            success: false,
            msg: "error:invalid signature".into()
        }
    );
}

#[test]
fn no_prefix_of_a_documented_message_panics() {
    for l in lines("okx-private.jsonl") {
        for i in 0..=l.len() {
            if l.is_char_boundary(i) {
                let _ = parse_okx_user(&l[..i]);
            }
        }
    }
    for l in lines("bybit-private.jsonl") {
        for i in 0..=l.len() {
            if l.is_char_boundary(i) {
                let _ = parse_bybit_user(&l[..i]);
            }
        }
    }
    let _: Value = json!(null);
}
