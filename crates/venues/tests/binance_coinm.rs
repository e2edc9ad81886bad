//! Binance COIN-M payloads (docs' examples in tests/data/binance, see SOURCES.md) import as
//! inverse contracts of 100 USD (BTC), with the venue's own figures kept for reconcile, and bad
//! rows are refused with the JSON path.

use std::path::Path;

use intermargin_model::{Settlement, SizeUnit, Snapshot, Venue};
use intermargin_venues::{import, ImportOptions, Payload};

fn payload(rel: &str) -> Payload {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    Payload::named(rel, std::fs::read_to_string(p).unwrap())
}

fn ok(files: &[&str]) -> Snapshot {
    let ps: Vec<Payload> = files.iter().map(|f| payload(f)).collect();
    import(Venue::Binance, &ps, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    import(
        Venue::Binance,
        &[Payload::named("p.json", text)],
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn papi_cm_position_risk_is_an_inverse_100_usd_contract() {
    let s = ok(&["binance/papi_v1_cm_positionRisk.json"]);
    let p = &s.portfolio.accounts[0].positions[0];
    let ins = &p.instrument;
    assert_eq!(ins.symbol, "BTCUSD_PERP");
    assert_eq!(ins.settlement, Settlement::Inverse);
    assert_eq!(ins.size_unit, SizeUnit::Quote);
    assert_eq!(ins.contract_size, 100.0);
    assert_eq!(
        (ins.settle.as_str(), ins.underlying.as_str()),
        ("BTC", "BTC")
    );
    assert_eq!(p.size, 1.0);
    assert_eq!(p.leverage, Some(125.0));
    assert_eq!(
        s.market.mark_prices["binance:BTCUSD_PERP"],
        11_788.666_266_67
    );
    // The payload's unRealizedProfit 0.00005866 is 100 USD × (1/11,707.70000003 − 1/11,788.66626667)
    // = 0.0000586623…: the contract is 100 USD, to 1e-8 BTC.
    let upnl = ins.pnl(p.size, p.entry_price.unwrap(), 11_788.666_266_67);
    assert!((upnl - 0.000_058_66).abs() < 1e-8, "{upnl}");
    assert!((upnl - p.unrealized_pnl.unwrap()).abs() < 1e-8);
    let r = &s.portfolio.accounts[0].reported;
    let lp = r.iter().find(|r| r.field == "liquidation_price").unwrap();
    assert_eq!(lp.value, 6_170.205_090_59);
    assert_eq!(lp.pool.as_deref(), Some("cross"));
}

#[test]
fn dapi_position_risk_skips_zero_rows_and_brackets_are_in_the_coin() {
    let s = ok(&[
        "binance/dapi_v1_positionRisk.json",
        "binance/dapi_v1_leverageBracket.json",
    ]);
    let acc = &s.portfolio.accounts[0];
    assert_eq!(acc.positions.len(), 1);
    assert!(!acc.positions[0].isolated);
    let t = &s.market.venue_params["binance:BTCUSD"];
    assert_eq!(t["source"], "GET /dapi/v1/leverageBracket");
    assert_eq!(t["unit"], "coin");
    let b = &t["brackets"][0];
    assert_eq!(b["qty_floor"], 0.0);
    assert_eq!(b["qty_cap"], 50.0);
    assert_eq!(b["maint_margin_ratio"], 0.004);
    assert_eq!(b["initial_leverage"], 125.0);
}

#[test]
fn an_ethusd_contract_is_10_usd() {
    let text = r#"[{"symbol": "ETHUSD_PERP", "positionAmt": "-30", "entryPrice": "2000",
        "markPrice": "2100", "leverage": "10", "marginType": "isolated",
        "isolatedWallet": "0.05", "positionSide": "BOTH", "updateTime": 1}]"#;
    let s = import(
        Venue::Binance,
        &[Payload::named("eth.json", text)],
        &ImportOptions::default(),
    )
    .unwrap();
    let p = &s.portfolio.accounts[0].positions[0];
    assert_eq!(p.instrument.contract_size, 10.0);
    assert!(p.isolated);
    assert_eq!(p.isolated_margin, Some(0.05));
}

#[test]
fn bad_coinm_rows_name_the_json_path() {
    let row = |extra: &str| {
        format!(
            r#"[{{"symbol": "BTCUSD_PERP", "positionAmt": "1", "entryPrice": "50000", "markPrice": "50000"{extra}}}]"#
        )
    };
    let e = err(&row(r#", "positionSide": "SIDEWAYS""#));
    assert!(
        e.contains("[0].positionSide") && e.contains("SIDEWAYS"),
        "{e}"
    );
    let e = err(&row(r#", "leverage": "0""#));
    assert!(
        e.contains("[0].leverage") && e.contains("must be > 0"),
        "{e}"
    );
    let e = err(&row(r#", "marginType": "crossed""#));
    assert!(e.contains("[0].marginType"), "{e}");
    let e = err(
        r#"[{"pair": "BTCUSD", "brackets": [{"bracket": 1, "qtyCap": 50, "qtylFloor": 0, "maintMarginRatio": 1.5}]}]"#,
    );
    assert!(
        e.contains("[0].brackets[0].maintMarginRatio") && e.contains("[0, 1]"),
        "{e}"
    );
    let e = err(
        r#"[{"pair": "BTCUSD", "brackets": [{"bracket": 1, "qtyCap": 5, "qtylFloor": 10, "maintMarginRatio": 0.01}]}]"#,
    );
    assert!(e.contains("[0].brackets[0].qtyCap"), "{e}");
    let e = err(r#"[{"symbol": "BTCUSD_XYZ", "positionAmt": "1"}]"#);
    assert!(e.contains("[0].symbol"), "{e}");
}
