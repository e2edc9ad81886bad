//! Open orders: each venue's documented open-orders response example imports into the canonical
//! `orders` list with the documented figures (sources in `tests/data/SOURCES.md`).

use std::path::Path;

use intermargin_model::{InstrumentKind, OrderType, PositionSide, Side, Snapshot, Venue};
use intermargin_venues::{import, ImportOptions, Payload, VenueError};

fn imp(venue: Venue, files: &[(&str, String)]) -> Result<Snapshot, VenueError> {
    let ps: Vec<Payload> = files
        .iter()
        .map(|(n, t)| Payload::named(*n, t.clone()))
        .collect();
    import(venue, &ps, &ImportOptions::default())
}

fn file(rel: &str) -> (&str, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    (rel, std::fs::read_to_string(p).unwrap())
}

#[test]
fn binance_open_orders_example_is_a_trailing_stop_that_reserves_nothing() {
    let s = imp(Venue::Binance, &[file("binance/fapi_v1_openOrders.json")]).unwrap();
    let o = &s.portfolio.accounts[0].orders;
    assert_eq!(o.len(), 1);
    let o = &o[0];
    assert_eq!(o.instrument.id(), "binance:BTCUSDT");
    assert_eq!(o.side, Side::Buy);
    assert_eq!(o.order_type, OrderType::TrailingStop);
    assert_eq!((o.size, o.remaining), (0.40, 0.40));
    assert_eq!(o.price, None, "price \"0\" means none");
    assert_eq!(o.trigger_price, Some(9300.0));
    assert_eq!(o.position_side, Some(PositionSide::Short));
    assert_eq!(o.id.as_deref(), Some("1917641"));
    assert!(!o.reduce_only && !o.reserves_margin());
    assert_eq!(s.market.timestamp_ms, 1_579_276_756_075);
}

#[test]
fn deribit_open_order_example_is_a_limit_buy_of_ten_puts() {
    let s = imp(
        Venue::Deribit,
        &[file("deribit/private_get_open_orders_by_currency.json")],
    )
    .unwrap();
    let acc = &s.portfolio.accounts[0];
    // An order row carries instrument_name, direction and average_price like a position row: it
    // must not be read as one.
    assert!(acc.positions.is_empty());
    let o = &acc.orders[0];
    assert_eq!(o.instrument.id(), "deribit:BTC-15FEB19-3250-P");
    assert!(matches!(o.instrument.kind, InstrumentKind::Option { strike, .. } if strike == 3250.0));
    assert_eq!(o.side, Side::Buy);
    assert_eq!(o.order_type, OrderType::Limit);
    assert_eq!(o.price, Some(0.0028));
    assert_eq!((o.size, o.remaining), (10.0, 10.0));
    assert_eq!(o.id.as_deref(), Some("146062"));
    assert!(o.reserves_margin());
}

#[test]
fn deribit_inverse_future_orders_become_contracts_and_fills_are_subtracted() {
    // The documented row shape for a perpetual: amount and filled_amount in USD (10 USD
    // contracts), a market order's price is the string "market_price".
    let text = r#"{"jsonrpc":"2.0","id":1,"result":[
      {"order_id":"1","order_state":"open","instrument_name":"BTC-PERPETUAL","direction":"sell",
       "order_type":"limit","price":50000.0,"amount":1000,"filled_amount":300,"reduce_only":true,
       "average_price":50000.0,"last_update_timestamp":1700000000000},
      {"order_id":"2","order_state":"filled","instrument_name":"BTC-PERPETUAL","direction":"buy",
       "order_type":"market","price":"market_price","amount":10,"filled_amount":10,
       "average_price":50000.0,"last_update_timestamp":1700000000000}]}"#;
    let s = imp(Venue::Deribit, &[("orders.json", text.to_string())]).unwrap();
    let o = &s.portfolio.accounts[0].orders;
    assert_eq!(o.len(), 1, "the filled row is not open");
    // 1,000 USD / 10 = 100 contracts, 300 USD filled → 70 left.
    assert_eq!((o[0].size, o[0].remaining), (100.0, 70.0));
    assert!(o[0].reduce_only && !o[0].reserves_margin());
}

#[test]
fn okx_orders_pending_example_is_a_live_post_only_spot_buy() {
    let s = imp(Venue::Okx, &[file("okx/trade_orders_pending.json")]).unwrap();
    let o = &s.portfolio.accounts[0].orders[0];
    assert_eq!(o.instrument.id(), "okx:BTC-USDT");
    assert_eq!(o.instrument.kind, InstrumentKind::Spot);
    assert_eq!(o.side, Side::Buy);
    assert_eq!(
        o.order_type,
        OrderType::Limit,
        "post_only rests at its price"
    );
    assert_eq!(o.price, Some(13013.5));
    assert_eq!((o.size, o.remaining), (0.001, 0.001));
    assert_eq!(o.position_side, None, "posSide net");
    assert_eq!(o.id.as_deref(), Some("1752588852617379840"));
}

#[test]
fn bybit_order_realtime_example_is_a_new_limit_buy_on_the_long_leg() {
    let s = imp(Venue::Bybit, &[file("bybit/v5_order_realtime.json")]).unwrap();
    let o = &s.portfolio.accounts[0].orders[0];
    assert_eq!(o.instrument.id(), "bybit:ETHUSDT");
    assert_eq!(o.side, Side::Buy);
    assert_eq!(o.order_type, OrderType::Limit);
    assert_eq!(o.price, Some(1600.0));
    assert_eq!((o.size, o.remaining), (0.10, 0.10));
    assert_eq!(o.position_side, Some(PositionSide::Long), "positionIdx 1");
    assert_eq!(
        o.id.as_deref(),
        Some("fd4300ae-7847-404e-b947-b46980a4d140")
    );
}

#[test]
fn orders_round_trip_through_the_canonical_json_and_old_snapshots_load() {
    let s = imp(Venue::Bybit, &[file("bybit/v5_order_realtime.json")]).unwrap();
    let back = Snapshot::from_json(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(
        back.portfolio.accounts[0].orders,
        s.portfolio.accounts[0].orders
    );
    // A snapshot written before orders existed has no `orders` key and reads as none.
    let mut v = serde_json::to_value(&s).unwrap();
    v["portfolio"]["accounts"][0]
        .as_object_mut()
        .unwrap()
        .remove("orders");
    let old = Snapshot::from_json(&v.to_string()).unwrap();
    assert!(old.portfolio.accounts[0].orders.is_empty());
}

#[test]
fn bad_order_rows_name_the_field() {
    let bad = r#"[{"orderId":1,"origQty":"1","symbol":"BTCUSDT","status":"NEW","side":"HOLD",
        "type":"LIMIT","price":"100"}]"#;
    let e = imp(Venue::Binance, &[("bad.json", bad.to_string())]).unwrap_err();
    assert!(e.to_string().contains("side"), "{e}");
    let bad = r#"{"retCode":0,"result":{"category":"linear","list":[{"orderId":"x",
        "orderStatus":"New","symbol":"ETHUSDT","side":"Buy","orderType":"Limit","price":"1",
        "qty":"abc"}]}}"#;
    let e = imp(Venue::Bybit, &[("bad.json", bad.to_string())]).unwrap_err();
    assert!(e.to_string().contains("qty"), "{e}");
    // More filled than ordered is refused by the model with the order's path.
    let bad = r#"{"code":"0","data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","ordId":"9",
        "ordType":"limit","state":"live","side":"sell","sz":"1","accFillSz":"2","px":"1"}]}"#;
    let e = imp(Venue::Okx, &[("bad.json", bad.to_string())]).unwrap_err();
    assert!(e.to_string().contains("orders[0].remaining"), "{e}");
}
