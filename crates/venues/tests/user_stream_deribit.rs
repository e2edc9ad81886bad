//! Deribit's documented private notifications (tests/data/ws/deribit-user.jsonl, pages in
//! tests/data/ws/SOURCES.md) read by `user_stream::parse_deribit_user`, checked field by field
//! against the pages, then through the Deribit REST adapter into the canonical account on top
//! of the documented REST payloads; malformed messages are errors naming the JSON path, and no
//! prefix of a documented message panics.

use intermargin_model::Venue;
use intermargin_venues::user_stream::{
    deribit_order_id, deribit_order_open, deribit_tokens, parse_deribit_user, DeribitUserMessage,
};
use intermargin_venues::{import, ImportOptions, Payload};
use serde_json::{json, Value};

fn lines() -> Vec<String> {
    let path = format!(
        "{}/tests/data/ws/deribit-user.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn rest(file: &str) -> Value {
    let p = format!("{}/tests/data/deribit/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[test]
fn documented_notifications_read_as_the_pages_say() {
    let l = lines();
    assert_eq!(l.len(), 3);
    let DeribitUserMessage::Portfolio { currency, summary } = parse_deribit_user(&l[0]).unwrap()
    else {
        panic!("not a portfolio notification")
    };
    assert_eq!(currency, "BTC");
    // The row keeps the page's field names (those of private/get_account_summary).
    assert_eq!(summary["balance"], json!(0.23399957));
    assert_eq!(summary["equity"], json!(0.2340038));
    assert_eq!(summary["initial_margin"], json!(0.00012542));
    assert_eq!(summary["maintenance_margin"], json!(0.00009141));

    let DeribitUserMessage::Changes { positions, orders } = parse_deribit_user(&l[1]).unwrap()
    else {
        panic!("not a changes notification")
    };
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0]["instrument_name"], "BTC-PERPETUAL");
    assert_eq!(positions[0]["size"], json!(185160));
    assert_eq!(positions[0]["direction"], "buy");
    assert_eq!(positions[0]["average_price"], json!(15000));
    assert_eq!(orders.len(), 1);
    assert_eq!(deribit_order_id(&orders[0]).as_deref(), Some("3398016"));
    // A filled market order is no open order.
    assert!(!deribit_order_open(&orders[0]));

    assert_eq!(
        parse_deribit_user(&l[2]).unwrap(),
        DeribitUserMessage::TestRequest
    );
    assert_eq!(
        parse_deribit_user(
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}"#
        )
        .unwrap(),
        DeribitUserMessage::Heartbeat
    );
    assert_eq!(
        parse_deribit_user(r#"{"jsonrpc":"2.0","id":3,"result":["user.portfolio.btc"]}"#).unwrap(),
        DeribitUserMessage::Response {
            id: Some(3),
            result: json!(["user.portfolio.btc"])
        }
    );
    // public/auth's result fields (docs.deribit.com public-auth): the values here are ours.
    let t = deribit_tokens(&json!({"access_token": "a", "refresh_token": "r",
        "expires_in": 900, "scope": "session:x", "token_type": "bearer"}))
    .unwrap();
    assert_eq!(
        (
            t.access_token.as_str(),
            t.refresh_token.as_str(),
            t.expires_in
        ),
        ("a", "r", 900)
    );
    assert!(
        !format!("{t:?}").contains("\"a\""),
        "tokens are not printed"
    );
    assert_eq!(
        deribit_tokens(&json!({"access_token": "a", "refresh_token": "r"}))
            .unwrap_err()
            .path,
        "result.expires_in"
    );
}

#[test]
fn notifications_move_the_account_through_the_rest_adapter() {
    let l = lines();
    let DeribitUserMessage::Portfolio { summary, .. } = parse_deribit_user(&l[0]).unwrap() else {
        panic!()
    };
    let DeribitUserMessage::Changes { positions, .. } = parse_deribit_user(&l[1]).unwrap() else {
        panic!()
    };
    // The REST base: the documented get_positions (BTC-PERPETUAL 50 USD long @ 7440.18) and
    // get_account_summaries (BTC balance 302.60065765, equity 302.61869214).
    let base_pos = rest("private_get_positions.json");
    let base_sum = rest("private_get_account_summaries.json");
    let opts = ImportOptions {
        account: "acct".into(),
    };
    let before = import(
        Venue::Deribit,
        &[
            Payload::named("/api/v2/private/get_positions", base_pos.to_string()),
            Payload::named(
                "/api/v2/private/get_account_summaries",
                base_sum.to_string(),
            ),
        ],
        &opts,
    )
    .unwrap();
    // The streamed rows replace the rows of the same currency / instrument.
    let mut sums = base_sum["result"]["summaries"].as_array().unwrap().clone();
    for s in sums.iter_mut() {
        if s["currency"] == "BTC" {
            *s = summary.clone();
        }
    }
    let after = import(
        Venue::Deribit,
        &[
            Payload::named(
                "/api/v2/private/get_positions",
                json!({"result": positions}).to_string(),
            ),
            Payload::named(
                "/api/v2/private/get_account_summaries",
                json!({"result": {"summaries": sums}}).to_string(),
            ),
        ],
        &opts,
    )
    .unwrap();
    let pos = |s: &intermargin_model::Snapshot| {
        let p = &s.portfolio.accounts[0].positions[0];
        (p.instrument.id(), p.size, p.entry_price)
    };
    // Inverse perpetual: size in USD / 10 USD per contract. 50 / 10 = 5; 185160 / 10 = 18516.
    assert_eq!(
        pos(&before),
        ("deribit:BTC-PERPETUAL".to_string(), 5.0, Some(7440.18))
    );
    assert_eq!(
        pos(&after),
        ("deribit:BTC-PERPETUAL".to_string(), 18516.0, Some(15000.0))
    );
    // Equity as Deribit reports it: 302.61869214 → 0.2340038 BTC.
    let equity = |s: &intermargin_model::Snapshot| {
        s.portfolio.accounts[0]
            .reported
            .iter()
            .find(|r| r.field == "equity" && r.currency.as_deref() == Some("BTC"))
            .map(|r| r.value)
    };
    assert_eq!(equity(&before), Some(302.61869214));
    assert_eq!(equity(&after), Some(0.2340038));
    // Balance in BTC base units (the adapters' asset table), the documented decimal cut at
    // `decimals` fractional digits.
    let v = serde_json::to_value(&after).unwrap();
    let dec = v["portfolio"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["symbol"] == "BTC")
        .unwrap()["decimals"]
        .as_u64()
        .unwrap() as usize;
    let (int, frac) = "0.23399957".split_once('.').unwrap();
    let frac = format!("{frac:0<width$}", width = dec);
    let want = format!("{int}{}", &frac[..dec])
        .trim_start_matches('0')
        .to_string();
    let c = after.portfolio.accounts[0]
        .collateral
        .iter()
        .find(|c| c.asset == "BTC")
        .unwrap();
    assert_eq!(serde_json::to_value(c.amount).unwrap(), json!(want));
}

#[test]
fn malformed_messages_name_the_path_and_nothing_panics() {
    let e = parse_deribit_user("{").unwrap_err();
    assert_eq!(e.path, "$");
    let e =
        parse_deribit_user(r#"{"jsonrpc":"2.0","method":"subscription","params":{}}"#).unwrap_err();
    assert_eq!(e.path, "params.channel");
    let e = parse_deribit_user(
        r#"{"method":"subscription","params":{"channel":"user.portfolio.btc","data":{"currency":"BTC","balance":"1"}}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "params.data.balance");
    let e = parse_deribit_user(
        r#"{"method":"subscription","params":{"channel":"user.changes.any.btc.raw","data":{"positions":[{"instrument_name":"BTC-PERPETUAL"}]}}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "params.data.positions[0].size");
    let e = parse_deribit_user(
        r#"{"method":"subscription","params":{"channel":"user.changes.any.btc.raw","data":{"orders":[{"order_state":"open"}]}}}"#,
    )
    .unwrap_err();
    assert_eq!(e.path, "params.data.orders[0].order_id");
    assert_eq!(
        parse_deribit_user(
            r#"{"method":"subscription","params":{"channel":"user.trades.any.btc.raw","data":[]}}"#
        )
        .unwrap(),
        DeribitUserMessage::Ignored("user.trades.any.btc.raw".into())
    );
    assert!(matches!(
        parse_deribit_user(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":13004,"message":"invalid_credentials"}}"#
        )
        .unwrap(),
        DeribitUserMessage::Error { id: Some(1), .. }
    ));
    for l in lines() {
        for n in 0..l.len() {
            if l.is_char_boundary(n) {
                let _ = parse_deribit_user(&l[..n]);
            }
        }
    }
}
