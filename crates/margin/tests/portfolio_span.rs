//! CME SPAN: the 16-scenario risk arrays of McMillan's S&P 500 example reproduced.
//!
//! Source: L. McMillan, *Options as a Strategic Investment*, ch. 34 "Futures and Futures Options", pp. 669–670
//! (excerpt at https://git.rushg.me/rushabh/ollama-model-training-5060ti/raw/branch/main/training_data/curated/text/eaa2ffd92bca331eae3e917a1d6ee9157620637a44ce4ac68af080caef9591b0.txt):
//! price scan range 10,000 USD per S&P future; risk array of one long future: 0, 0, ±3,330, ±6,670, ±10,000,
//! extreme ±7,000; risk array of a long Dec 410 call; the covered write's array and its requirement.
//! Scenario table (moves in thirds, extreme 2× range at 35%): NSE/LPU table 12.1,
//! http://eslm.lpude.in/commerce/mcom/term_4/DCOM510_FINANCIAL_DERIVATIVES/files/basic-html/page193.html

use intermargin_margin::portfolio::scan::{scan, ScanBuffers};
use intermargin_margin::portfolio::scenario::{risk_matrix, RiskMatrix};
use intermargin_margin::portfolio::{scenarios, GridParams};
use intermargin_model::{Instrument, InstrumentKind, Market, Settlement, SizeUnit, Venue};

/// Long one S&P future / long one Dec 410 call, as printed (profit positive), scenarios 1–16.
const FUTURE_PNL: [f64; 16] = [
    0.0, 0.0, 3330.0, 3330.0, -3330.0, -3330.0, 6670.0, 6670.0, -6670.0, -6670.0, 10000.0, 10000.0,
    -10000.0, -10000.0, 7000.0, -7000.0,
];
const CALL_PNL: [f64; 16] = [
    460.0, -610.0, 2640.0, 1730.0, -1270.0, -2340.0, 5210.0, 4540.0, -2540.0, -3430.0, 8060.0,
    7640.0, -3380.0, -3990.0, 3130.0, -1500.0,
];

fn sp_future(contract_size: f64) -> Instrument {
    Instrument {
        venue: Venue::Cme,
        symbol: "SPZ".into(),
        kind: InstrumentKind::Future {
            expiry_ms: 1_000_000_000_000,
        },
        underlying: "SPX".into(),
        quote: "USD".into(),
        settle: "USD".into(),
        settlement: Settlement::Linear,
        contract_size,
        size_unit: SizeUnit::Base,
    }
}

#[test]
fn sixteen_scenarios_in_cme_order() {
    let s = scenarios(&GridParams::span().unwrap());
    assert_eq!(s.len(), 16);
    let expected_price = [
        0.0,
        0.0,
        1.0 / 3.0,
        1.0 / 3.0,
        -1.0 / 3.0,
        -1.0 / 3.0,
        2.0 / 3.0,
        2.0 / 3.0,
    ];
    for (i, e) in expected_price.iter().enumerate() {
        assert!((s[i].price - e).abs() < 1e-12, "scenario {}", i + 1);
    }
    assert_eq!((s[14].price, s[15].price), (2.0, -2.0));
    assert!(s[14].extended && s[15].extended);
}

#[test]
fn future_risk_array_matches_the_published_array() {
    // 500 USD per index point at 410: a 10,000 USD scan range is 10,000 / 205,000 of the price.
    let mut p = GridParams::span().unwrap();
    let range = 10_000.0 / (500.0 * 410.0);
    for u in p.underlyings.values_mut() {
        u.price_range = range;
    }
    let mut market = Market::new(900_000_000_000, "USD");
    market.mark_prices.insert("cme:SPZ".into(), 410.0);
    let m = risk_matrix(&market, &[sp_future(500.0)], &p, "USD").unwrap();
    for (s, pnl) in FUTURE_PNL.iter().enumerate() {
        // The book prints thirds rounded to tens (3,330; 6,670); the extreme row is exact (35% of 20,000).
        let tol = if s >= 14 { 1e-6 } else { 5.0 };
        assert!(
            (m.row(0)[s] + pnl).abs() <= tol,
            "scenario {}: {} vs {}",
            s + 1,
            m.row(0)[s],
            -pnl
        );
    }
}

fn published() -> RiskMatrix {
    let names: Vec<String> = (1..=16).map(|i| format!("scenario {i}")).collect();
    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let loss = |a: &[f64; 16]| a.iter().map(|v| -v).collect::<Vec<f64>>();
    RiskMatrix::from_arrays(
        &names,
        &[("future", loss(&FUTURE_PNL)), ("call", loss(&CALL_PNL))],
    )
    .unwrap()
}

fn plain_params() -> GridParams {
    let mut p = GridParams::span().unwrap();
    p.initial_multiplier = 1.0;
    p.maintenance_fraction = 1.0;
    p
}

#[test]
fn long_call_requirement_is_3990_futures_down_three_thirds_vol_down() {
    let m = published();
    let f = scan(
        &m,
        &[(1, 1.0)],
        &plain_params(),
        0.0,
        &mut ScanBuffers::for_matrix(&m),
    );
    assert_eq!(f.scenario_loss, 3990.0);
    assert_eq!(f.worst, 13, "scenario 14");
}

#[test]
fn covered_write_requirement_is_6620_futures_down_three_thirds_vol_up() {
    // Long 1 future, short 1 call: the book's covered-write column, worst −6,620 in scenario 13.
    let m = published();
    let f = scan(
        &m,
        &[(0, 1.0), (1, -1.0)],
        &plain_params(),
        0.0,
        &mut ScanBuffers::for_matrix(&m),
    );
    assert_eq!(f.scenario_loss, 6620.0);
    assert_eq!(f.worst, 12, "scenario 13");
}

#[test]
fn initial_margin_is_110_percent_of_the_scan_for_a_speculator() {
    let m = published();
    let p = GridParams::span().unwrap();
    let f = scan(&m, &[(1, 1.0)], &p, 0.0, &mut ScanBuffers::for_matrix(&m));
    assert!((f.initial_margin - 3990.0 * 1.1).abs() < 1e-9);
    assert!((f.maintenance_margin - 3990.0).abs() < 1e-9);
}
