//! The shipped `examples/routes/*.json` files parse, and combine with a snapshot's account
//! into a problem whose optimum is derived by hand.

use intermargin_allocate::{allocate, RoutesFile};
use intermargin_model::{Account, Amount, Asset, Collateral, Market, Portfolio, Venue};

fn example(name: &str) -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/routes/");
    std::fs::read_to_string(format!("{p}{name}")).unwrap()
}

fn coll(venue: Venue, asset: &str, amount: i128) -> Collateral {
    Collateral {
        venue,
        asset: asset.into(),
        amount: Amount(amount),
        sub_account: None,
        chain_id: None,
    }
}

/// The hedged book's balances (examples/hedged-book): Deribit 3 BTC, Binance 100 000 USDT,
/// OKX 2 BTC, Aave 200 000 USDC; BTC at 62 890.55.
fn hedged_book() -> (Portfolio, Market) {
    let mut portfolio = Portfolio {
        assets: vec![
            Asset::new("BTC", 8),
            Asset::new("USDT", 6),
            Asset::new("USDC", 6),
        ],
        accounts: vec![],
    };
    let acc = portfolio.account_mut("default");
    acc.collateral = vec![
        coll(Venue::Deribit, "BTC", 300_000_000),
        coll(Venue::Binance, "USDT", 100_000_000_000),
        coll(Venue::Okx, "BTC", 200_000_000),
        coll(Venue::Aave, "USDC", 200_000_000_000),
    ];
    let mut market = Market::new(1_724_742_000_000, "USD");
    market.fx.insert("BTC".into(), 62_890.55);
    market.fx.insert("USDT".into(), 1.0);
    market.fx.insert("USDC".into(), 1.0);
    (portfolio, market)
}

#[test]
fn hedged_book_routes_fund_the_hub_by_the_cheapest_route() {
    // Hub holds the unified requirement 75 900 (target ratio 1.5 => 113 850 of value);
    // Binance and OKX keep local minimums of ~1 000 each (ratios ~98 and ~119 already).
    // Ways to bring 113 850 to the hub, by fee:
    //   Binance USDT: fee 1 USDT, but Binance can spare at most ~97 480 of value: not enough
    //     alone, and any combination with it costs more than 2;
    //   Aave USDC: fee 2 USDC, 200 000 available, no haircut at the hub: enough alone;
    //   Deribit BTC: fee 0.0001 BTC = 6.29; OKX BTC: 0.0002 BTC = 12.58.
    // So one transfer, Aave -> hub, of 113 850 + 2 = 113 852 USDC (plus the 1e-6 padding,
    // ~0.11 USDC).
    let routes = RoutesFile::from_json(&example("hedged-book.json")).unwrap();
    let (portfolio, market) = hedged_book();
    let account: &Account = &portfolio.accounts[0];
    let venues = vec![
        ("binance".to_string(), 1_000.0),
        ("okx".to_string(), 1_000.0),
    ];
    let problem = routes
        .problem(&portfolio, account, &market, &venues, Some(75_900.0))
        .unwrap();
    let a = allocate(&problem).unwrap();
    assert_eq!(a.transfers.len(), 1, "{:?}", a.transfers);
    let t = &a.transfers[0];
    assert_eq!(
        (t.from.as_str(), t.to.as_str(), t.asset.as_str()),
        ("aave", "hub", "USDC")
    );
    assert_eq!(t.fee.0, 2_000_000);
    let low = 113_852_000_000;
    assert!((low..low + 200_000).contains(&t.amount.0), "{}", t.amount);
    assert!(a.shortfall.is_empty());
    let hub = a.headroom.iter().find(|h| h.location == "hub").unwrap();
    assert!(hub.ratio_after.unwrap() >= 1.5);
}

#[test]
fn demo_routes_parse_and_name_every_snapshot_asset() {
    let routes = RoutesFile::from_json(&example("demo.json")).unwrap();
    for sym in ["BTC", "USDT", "USDC"] {
        assert!(routes.haircuts.contains_key(sym), "{sym}");
    }
    assert!(routes.unified_location.is_none());
}

#[test]
fn routes_file_errors_name_the_field() {
    let e = RoutesFile::from_json(r#"{"haircuts": {"BTC": 1.5}, "routes": []}"#).unwrap_err();
    assert_eq!(e.to_string(), "haircuts[\"BTC\"]: must be <= 1, got 1.5");

    let e = RoutesFile::from_json(
        r#"{"haircuts": {}, "routes": [{"from": "a", "to": "b", "asset": "BTC", "fee": 1}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `fee`"), "{e}");

    // An asset held without a haircut is refused, naming the missing key.
    let routes = RoutesFile::from_json(r#"{"haircuts": {"BTC": 0.05}, "routes": []}"#).unwrap();
    let (portfolio, market) = hedged_book();
    let e = routes
        .problem(&portfolio, &portfolio.accounts[0], &market, &[], None)
        .unwrap_err();
    assert!(
        e.to_string().starts_with("haircuts[\"USDC\"]: missing"),
        "{e}"
    );
}

#[test]
fn a_route_without_latency_is_refused_naming_the_field() {
    let text = example("hedged-book.json");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut v = v;
    v["routes"][2].as_object_mut().unwrap().remove("latency_s");
    let e = RoutesFile::from_json(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("routes[2].latency_s"), "{e}");
    // The old millisecond key is not silently accepted.
    v["routes"][2]["latency_ms"] = serde_json::json!(600_000);
    let e = RoutesFile::from_json(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("latency_ms"), "{e}");
}

#[test]
fn the_cure_horizon_is_the_slowest_venues_fastest_inbound_route() {
    // Hub → deribit 1800 s, → binance 900 s, → okx 1800 s, → aave 900 s (examples/routes/hedged-book.json).
    let r = RoutesFile::from_json(&example("hedged-book.json")).unwrap();
    assert_eq!(r.cure_horizon_s(), Some(1800.0));
}
