//! End-to-end behaviour of the canonical format: JSON round trip, schema, and each validation error.

use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, ModelError, OptionKind,
    Portfolio, Position, Settlement, SizeUnit, Snapshot, Venue, FORMAT_VERSION,
};

const NOW: i64 = 1_735_000_000_000; // 2024-12-24
const DAY: i64 = 86_400_000;

fn btc_option(strike: f64, expiry_ms: i64) -> Instrument {
    Instrument {
        venue: Venue::Deribit,
        symbol: "BTC-27DEC24-100000-C".into(),
        kind: InstrumentKind::Option {
            expiry_ms,
            strike,
            option_kind: OptionKind::Call,
        },
        underlying: "BTC".into(),
        quote: "USD".into(),
        settle: "BTC".into(),
        settlement: Settlement::Inverse,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

fn perp() -> Instrument {
    Instrument {
        venue: Venue::Binance,
        symbol: "BTCUSDT".into(),
        kind: InstrumentKind::Perpetual,
        underlying: "BTC".into(),
        quote: "USDT".into(),
        settle: "USDT".into(),
        settlement: Settlement::Linear,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

fn sample() -> Snapshot {
    let mut acc = Account::new("alice");
    acc.positions
        .push(Position::new(btc_option(100_000.0, NOW + 3 * DAY), 2.5));
    acc.positions.push(Position::new(perp(), -1.2));
    acc.collateral.push(Collateral {
        venue: Venue::Deribit,
        asset: "BTC".into(),
        amount: Amount(150_000_000),
        sub_account: None,
        chain_id: None,
    });
    let portfolio = Portfolio {
        assets: vec![Asset::new("BTC", 8), Asset::new("USDT", 6)],
        accounts: vec![acc],
    };
    let mut market = Market::new(NOW, "USD");
    market.index_prices.insert("deribit:BTC".into(), 97_000.0);
    market
        .mark_prices
        .insert("binance:BTCUSDT".into(), 97_050.5);
    market.fx.insert("BTC".into(), 97_000.0);
    Snapshot::new(portfolio, market)
}

fn err_of(s: &Snapshot) -> ModelError {
    s.validate().expect_err("snapshot should be rejected")
}

#[test]
fn snapshot_round_trips_through_json_unchanged() {
    let s = sample();
    s.validate().unwrap();
    let text = serde_json::to_string(&s).unwrap();
    let back = Snapshot::from_json(&text).unwrap();
    assert_eq!(back, s);
    // The format carries its version and amounts travel as strings.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], FORMAT_VERSION);
    assert_eq!(
        v["portfolio"]["accounts"][0]["collateral"][0]["amount"],
        "150000000"
    );
    assert_eq!(
        v["portfolio"]["accounts"][0]["positions"][0]["instrument"]["type"],
        "option"
    );
}

#[test]
fn schema_describes_the_versioned_snapshot() {
    let schema: serde_json::Value =
        serde_json::from_str(&intermargin_model::schema_json()).unwrap();
    assert_eq!(schema["title"], "Snapshot");
    assert!(schema["properties"]["version"].is_object());
    assert!(schema["definitions"]["Instrument"].is_object());
    assert_eq!(schema["definitions"]["Amount"]["type"], "string");
}

#[test]
fn negative_strike_names_the_strike_field() {
    let mut s = sample();
    s.portfolio.accounts[0].positions[0].instrument = btc_option(-5.0, NOW + DAY);
    let e = err_of(&s);
    assert!(matches!(e, ModelError::NotPositive { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "portfolio.accounts[0].positions[0].instrument.strike: must be > 0, got -5"
    );
}

#[test]
fn option_expired_relative_to_the_snapshot_is_rejected() {
    let mut s = sample();
    s.portfolio.accounts[0].positions[0].instrument = btc_option(100_000.0, NOW - DAY);
    let e = err_of(&s);
    assert!(matches!(e, ModelError::Expired { .. }), "{e}");
    assert!(e
        .to_string()
        .starts_with("portfolio.accounts[0].positions[0].instrument.expiry_ms:"));
}

#[test]
fn unknown_collateral_asset_is_rejected() {
    let mut s = sample();
    s.portfolio.accounts[0].collateral[0].asset = "DOGE".into();
    let e = err_of(&s);
    assert_eq!(
        e,
        ModelError::UnknownAsset {
            field: "portfolio.accounts[0].collateral[0].asset".into(),
            asset: "DOGE".into()
        }
    );
}

#[test]
fn nan_and_infinite_numbers_are_rejected_with_their_path() {
    let mut s = sample();
    s.portfolio.accounts[0].positions[1].size = f64::NAN;
    assert!(err_of(&s)
        .to_string()
        .starts_with("portfolio.accounts[0].positions[1].size: must be a finite number"));
    let mut s = sample();
    s.market
        .mark_prices
        .insert("binance:BTCUSDT".into(), f64::INFINITY);
    assert!(err_of(&s)
        .to_string()
        .starts_with("market.mark_prices[\"binance:BTCUSDT\"]"));
}

#[test]
fn zero_size_position_is_rejected() {
    let mut s = sample();
    s.portfolio.accounts[0].positions[1].size = 0.0;
    assert_eq!(
        err_of(&s),
        ModelError::ZeroSize {
            field: "portfolio.accounts[0].positions[1].size".into()
        }
    );
}

#[test]
fn inverse_instrument_must_settle_in_its_underlying() {
    let mut s = sample();
    s.portfolio.accounts[0].positions[0].instrument.settle = "USDC".into();
    assert!(err_of(&s)
        .to_string()
        .contains("instrument.settle: an inverse instrument settles in its underlying"));
}

#[test]
fn unsupported_version_and_malformed_json_are_errors() {
    let mut s = sample();
    s.version = 99;
    assert_eq!(
        err_of(&s),
        ModelError::Version {
            found: 99,
            supported: 1
        }
    );
    let e = Snapshot::from_json("{\"portfolio\": {}, \"market\": {\"timestamp_ms\": \"x\"}}")
        .unwrap_err();
    assert!(
        e.to_string().contains("timestamp_ms") || e.to_string().contains("invalid type"),
        "{e}"
    );
}

#[test]
fn merging_conflicting_market_data_names_the_key() {
    let mut a = sample();
    let mut b = sample();
    b.portfolio.accounts[0].id = "bob".into();
    b.market.mark_prices.insert("binance:BTCUSDT".into(), 1.0);
    let e = a.merge(&b).unwrap_err();
    assert_eq!(e.to_string(), "market.mark_prices[\"binance:BTCUSDT\"]: conflicting values for the same key in two snapshots");
    // Same data merges cleanly and accounts accumulate.
    let mut c = sample();
    c.portfolio.accounts[0].id = "carol".into();
    let mut a = sample();
    a.merge(&c).unwrap();
    assert_eq!(a.portfolio.accounts.len(), 2);
}

#[test]
fn quote_denominated_contracts_convert_to_base_quantity() {
    // Deribit BTC future: 10 USD per contract; 5,000 contracts at 100,000 = 0.5 BTC.
    let mut ins = perp();
    ins.size_unit = SizeUnit::Quote;
    ins.contract_size = 10.0;
    assert!((ins.base_quantity(5_000.0, 100_000.0) - 0.5).abs() < 1e-12);
}
