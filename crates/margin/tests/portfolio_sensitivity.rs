//! Sensitivity (SIMM-form) model against hand calculations written out below.

use intermargin_margin::portfolio::simm::k_within;
use intermargin_margin::portfolio::{SensitivityModel, SimmParams};
use intermargin_model::{
    Instrument, InstrumentKind, Market, OptionKind, Position, Settlement, SizeUnit, Venue,
};

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn linear(symbol: &str, underlying: &str, kind: InstrumentKind) -> Instrument {
    Instrument {
        venue: Venue::Binance,
        symbol: symbol.into(),
        kind,
        underlying: underlying.into(),
        quote: "USD".into(),
        settle: "USD".into(),
        settlement: Settlement::Linear,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

fn market() -> Market {
    let mut m = Market::new(NOW, "USD");
    m.mark_prices.insert("binance:BTCPERP".into(), 50_000.0);
    m.mark_prices.insert("binance:BTC30".into(), 50_000.0);
    m.mark_prices.insert("binance:ETHPERP".into(), 3_000.0);
    m.index_prices.insert("binance:XYZ".into(), 100.0);
    m.mark_ivs.insert("binance:XYZ-C".into(), 0.2);
    m
}

#[test]
fn k_within_is_the_simm_bucket_formula() {
    // sqrt(3² + 4² + 2·0.5·3·4) = sqrt(9 + 16 + 12) = sqrt(37)
    assert!((k_within(&[3.0, 4.0], 0.5) - 37f64.sqrt()).abs() < 1e-12);
}

#[test]
fn calendar_hedge_and_a_second_underlying_by_hand() {
    // BTC: long 1 perp (14-day vertex), short 1 future expiring in 30 days, both at 50,000:
    //   WS = ±0.16·50,000 = ±8,000; K_BTC = 8,000·sqrt(1 + 1 − 2·0.95) = 8,000·sqrt(0.1) = 2,529.822
    //   S_BTC = clamp(0, ±K) = 0.
    // ETH: long 10 perp at 3,000: WS = 0.18·30,000 = 5,400 = K_ETH = S_ETH.
    // Delta margin = sqrt(2,529.822² + 5,400² + 2·0.85·0·5,400) = sqrt(6,400,000 + 29,160,000) = 5,963.22.
    let positions = vec![
        Position::new(linear("BTCPERP", "BTC", InstrumentKind::Perpetual), 1.0),
        Position::new(
            linear(
                "BTC30",
                "BTC",
                InstrumentKind::Future {
                    expiry_ms: NOW + 30 * DAY,
                },
            ),
            -1.0,
        ),
        Position::new(linear("ETHPERP", "ETH", InstrumentKind::Perpetual), 10.0),
    ];
    let r = SensitivityModel::new(SimmParams::bundled().unwrap())
        .margin_positions(&positions, &market())
        .unwrap();
    let expected = (6_400_000f64 + 29_160_000.0).sqrt();
    assert!(
        (r.delta_margin - expected).abs() < 1e-6,
        "{} vs {expected}",
        r.delta_margin
    );
    assert_eq!(r.vega_margin, 0.0);
    assert!(
        r.curvature_margin.abs() < 1e-9,
        "delta-one positions have no curvature"
    );
    assert!((r.initial_margin - expected).abs() < 1e-6);
    assert!((r.maintenance_margin - 0.8 * expected).abs() < 1e-6);
}

#[test]
fn vega_of_an_at_the_money_option_by_hand() {
    // F = K = 100, σ = 0.2, T = 365 days = 1 year (a vertex), r = 0: d1 = σ√T/2 = 0.1,
    // vega = F·φ(0.1)·√T = 100·0.396952547 = 39.6952547; VR = vega·σ = 7.93905094;
    // WS = vega_rw("*") 0.6 · VR = 4.76343056 = vega margin (one bucket, one vertex).
    let opt = linear(
        "XYZ-C",
        "XYZ",
        InstrumentKind::Option {
            expiry_ms: NOW + 365 * DAY,
            strike: 100.0,
            option_kind: OptionKind::Call,
        },
    );
    let r = SensitivityModel::new(SimmParams::bundled().unwrap())
        .margin_positions(&[Position::new(opt, 1.0)], &market())
        .unwrap();
    assert!(
        (r.vega_margin - 4.763_430_56).abs() < 1e-6,
        "{}",
        r.vega_margin
    );
    // Long call: convex, so curvature risk of a long position is a gain (CVR < 0) and the margin floors at 0 under the root.
    assert!(r.buckets[0].cvr[4] < 0.0);
}

#[test]
fn bad_correlation_is_rejected_naming_the_field() {
    let text = SimmParams::bundled().unwrap();
    let _ = text;
    let bad = intermargin_margin::portfolio::params::SIMM_TOML
        .replace("tenor_correlation = 0.95", "tenor_correlation = 1.5");
    let e = SimmParams::from_toml(&bad, "simm.toml").unwrap_err();
    assert!(e.to_string().contains("tenor_correlation"), "{e}");
}
