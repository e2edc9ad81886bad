//! `venue_margins` over a whole book: the bundled demo snapshot, every number worked by hand.
mod venue_support;

use intermargin_margin::{model_for, venue_margins};
use intermargin_model::{Snapshot, Venue};
use venue_support::close;

fn demo() -> Snapshot {
    Snapshot::from_json(include_str!("data/demo_snapshot.json")).unwrap()
}

/// Deribit (BTC pool): long 10 calls K 100,000 mark 0.0301; short 5 puts K 80,000 mark 0.019;
/// index 90,000. Put: OTM = 10,000, OTM/U = 0.1111 → max(0.15 − 0.1111, 0.1) = 0.1, + 0.019 =
/// 0.119; MM = max(0.075, 0.075 × 0.019) + 0.019 = 0.094 → IM 5 × 0.119 = 0.595, MM 0.47 BTC.
/// Equity = 2.5 + 10 × 0.0301 − 5 × 0.019 = 2.706 BTC (× 90,000 = 243,540 USD).
/// Binance (USDT pool): short 4 BTCUSDT, mark 90,040 → notional 360,160 in the 250k–1M bracket
/// (1 %, cum 1,300): MM = 3,601.6 − 1,300 = 2,301.6; IM = 360,160 / 10 = 36,016;
/// P&L = −4 × (90,040 − 91,000) = 3,840 → equity 63,840 USDT (× 1.0004 = 63,865.536 USD).
/// LP (cross, one-way short): (60,000 + 1,300 + 4 × 91,000) / (4 × 1 % + 4) = 425,300 / 4.04
/// = 105,272.28 (notional there 421,089: same bracket).
/// Aave (USD pool): 100,000 USDC at 0.9999 = 99,990; LTV 75 %, LT 78 % → IM 24,997.5,
/// MM 21,997.8, equity 99,990.
#[test]
fn demo_book_margins_by_hand() {
    let s = demo();
    let acc = &s.portfolio.accounts[0];
    let out = venue_margins(acc, &s.portfolio.assets, &s.market).unwrap();
    let venues: Vec<Venue> = out.iter().map(|v| v.venue).collect();
    assert_eq!(venues, vec![Venue::Deribit, Venue::Binance, Venue::Aave]);

    let d = &out[0];
    assert_eq!(d.settlement, "BTC");
    close(d.initial_margin, 0.595, 1e-12, "deribit IM");
    close(d.maintenance_margin, 0.47, 1e-12, "deribit MM");
    close(d.equity, 2.706, 1e-12, "deribit equity");
    close(
        d.in_quote.as_ref().unwrap().equity,
        243_540.0,
        1e-6,
        "deribit equity USD",
    );
    close(d.margin_ratio, 0.47 / 2.706, 1e-12, "deribit ratio");

    let b = &out[1];
    assert_eq!(b.settlement, "USDT");
    close(b.maintenance_margin, 2_301.6, 1e-6, "binance MM");
    close(b.initial_margin, 36_016.0, 1e-6, "binance IM");
    close(b.equity, 63_840.0, 1e-6, "binance equity");
    close(
        b.in_quote.as_ref().unwrap().equity,
        63_865.536,
        1e-6,
        "binance equity USD",
    );
    let lp = b.positions[0].liquidation_price.unwrap();
    assert_eq!((lp * 100.0).round() / 100.0, 105_272.28);

    let a = &out[2];
    assert_eq!(a.settlement, "USD");
    close(a.equity, 99_990.0, 1e-6, "aave equity");
    close(a.initial_margin, 24_997.5, 1e-6, "aave IM");
    close(a.maintenance_margin, 21_997.8, 1e-6, "aave MM");
}

#[test]
fn every_pool_has_initial_at_least_maintenance() {
    let s = demo();
    for v in venue_margins(&s.portfolio.accounts[0], &s.portfolio.assets, &s.market).unwrap() {
        assert!(v.initial_margin >= v.maintenance_margin, "{v:?}");
        for p in &v.positions {
            assert!(p.initial_margin >= p.maintenance_margin, "{p:?}");
        }
    }
}

#[test]
fn every_standard_venue_has_a_model_and_cme_does_not() {
    for v in [
        Venue::Deribit,
        Venue::Binance,
        Venue::Okx,
        Venue::Bybit,
        Venue::Dydx,
        Venue::Hyperliquid,
        Venue::Aave,
    ] {
        assert_eq!(model_for(v).unwrap().venue(), v);
    }
    assert!(model_for(Venue::Cme).is_err());
}

#[test]
fn an_undeclared_asset_is_an_error_naming_the_collateral() {
    let mut s = demo();
    s.portfolio.assets.retain(|a| a.symbol != "USDT");
    let e = venue_margins(&s.portfolio.accounts[0], &s.portfolio.assets, &s.market)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("collateral[1].asset") && e.contains("USDT"),
        "{e}"
    );
}
