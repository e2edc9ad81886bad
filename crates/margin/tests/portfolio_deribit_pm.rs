//! Deribit Portfolio Margin: the captured `private/pme/simulate` response (ETH, 2026-02-15) reproduced.
//!
//! Source: /work/shared/reference/venue-margin-rules.md §2.3 — a live `private/pme/simulate` response for a
//! simulated ETH-PERPETUAL short (reported position −0.999487053 ETH-equivalent, index 1949.34, mark 1949.49),
//! parameters as in §2.2 (eth_usd: price_range 0.18, 4 buckets per side, 3 vol scenarios; eth currency:
//! min_annualised_move 0.005, pnl_offset 0.6; mm_factor 0.8). Expected figures are the response's own fields.

use intermargin_margin::portfolio::{GridModel, GridParams};
use intermargin_model::{
    Instrument, InstrumentKind, Market, Position, Settlement, SizeUnit, Venue,
};

fn eth_perpetual() -> Instrument {
    Instrument {
        venue: Venue::Deribit,
        symbol: "ETH-PERPETUAL".into(),
        kind: InstrumentKind::Perpetual,
        underlying: "ETH".into(),
        quote: "USD".into(),
        settle: "ETH".into(),
        settlement: Settlement::Inverse,
        contract_size: 1.0,
        size_unit: SizeUnit::Quote,
    }
}

fn market() -> Market {
    let mut m = Market::new(1_771_113_600_000, "USD");
    m.index_prices.insert("deribit:ETH".into(), 1949.34);
    m.mark_prices
        .insert("deribit:ETH-PERPETUAL".into(), 1949.49);
    m.fx.insert("ETH".into(), 1949.34);
    m
}

/// Short of 0.999487053 ETH-equivalent at the mark: the USD face value is that times the mark.
fn position() -> Position {
    Position::new(eth_perpetual(), -0.999487053 * 1949.49)
}

#[test]
fn captured_eth_perpetual_short_reproduces_worst_case_roll_shock_and_margins() {
    let model = GridModel::new(GridParams::deribit_pm().unwrap());
    let r = model.margin_positions(&[position()], &market()).unwrap();
    assert_eq!(r.pools.len(), 1);
    let pool = &r.pools[0];
    assert_eq!(pool.currency, "ETH");
    let f = pool.figures;
    // Response fields: worst_case, roll_shock, delta_shock, risk_matrix_margin (IM), maintenance_margin.
    assert!(
        (f.scenario_loss - 0.15246412672881357).abs() < 1e-9,
        "worst_case {}",
        f.scenario_loss
    );
    assert!(
        (f.roll - 0.004997435265).abs() < 1e-9,
        "roll_shock {}",
        f.roll
    );
    assert_eq!(f.delta_shock, 0.0);
    assert!(
        (f.initial_margin - 0.157461562265).abs() < 1e-9,
        "IM {}",
        f.initial_margin
    );
    assert!(
        (f.maintenance_margin - 0.125969249812).abs() < 1e-9,
        "MM {}",
        f.maintenance_margin
    );
    // Worst scenario: +18% (index 24..26 of the price-major standard vector, "right" side).
    assert!(
        pool.explain.worst_scenario.starts_with("price +4/4"),
        "{}",
        pool.explain.worst_scenario
    );
}

#[test]
fn captured_standard_vector_matches_each_price_point_and_gains_scale_by_pnl_offset() {
    // Standard vector (P&L in ETH) at −18 … +18 %, each price point repeated for 3 vol scenarios.
    let standard = [
        0.219399597,
        0.155989309,
        0.098850368,
        0.047096249,
        0.0,
        -0.043040112,
        -0.082526454,
        -0.118881720,
        -0.152464127,
    ];
    let model = GridModel::new(GridParams::deribit_pm().unwrap());
    let r = model.margin_positions(&[position()], &market()).unwrap();
    let sc = &r.pools[0].explain.scenarios;
    assert_eq!(sc.len(), 27 + 8, "27 standard + 8 extended scenarios");
    for (k, pnl) in standard.iter().enumerate() {
        // Aggregated vector of the response: gains × pnl_offset (0.6), losses unscaled.
        let aggregated = if *pnl > 0.0 { pnl * 0.6 } else { *pnl };
        for v in 0..3 {
            let loss = sc[3 * k + v].loss;
            assert!(
                (loss + aggregated).abs() < 1e-8,
                "point {k} vol {v}: {loss} vs {aggregated}"
            );
        }
    }
    // Captured aggregated value for −18 %: 0.131639758.
    assert!((sc[0].loss + 0.131639758).abs() < 1e-8);
}

#[test]
fn extended_table_caps_delta_one_moves_at_the_standard_range() {
    // Captured extended vector: [0.2194, 0.2194, −0.15246 × 6] before its fraction: the perpetual moves at most ±18%.
    let p = GridParams::deribit_pm().unwrap();
    let m = intermargin_margin::portfolio::scenario::risk_matrix(
        &market(),
        &[eth_perpetual()],
        &p,
        "ETH",
    )
    .unwrap();
    let row = m.row(0);
    let per_unit_down = (1.0 / 0.82 - 1.0) / 1949.49; // short P&L at −18% per USD of face: 1/(1−0.18) − 1
    let per_unit_up = (1.0 / 1.18 - 1.0) / 1949.49;
    // Fractions 0.18/0.66 and 0.18/0.33 for the two down moves; 0.18/0.5, 0.18/1, … for the up moves.
    let fr: [f64; 8] = [
        0.18 / 0.66,
        0.18 / 0.33,
        0.18 / 0.5,
        0.18,
        0.09,
        0.06,
        0.045,
        0.036,
    ];
    for (j, f) in fr.iter().enumerate() {
        let pnl_short_unit = if j < 2 { per_unit_down } else { per_unit_up };
        // Loss per long unit = P&L of a short unit.
        let expected = f.min(1.0) * pnl_short_unit;
        assert!(
            (row[27 + j] - expected).abs() < 1e-12,
            "extended {j}: {} vs {expected}",
            row[27 + j]
        );
    }
}

#[test]
fn missing_mark_for_an_option_names_the_market_field() {
    let mut opt = eth_perpetual();
    opt.symbol = "ETH-27MAR26-2000-C".into();
    opt.kind = InstrumentKind::Option {
        expiry_ms: 1_774_598_400_000,
        strike: 2000.0,
        option_kind: intermargin_model::OptionKind::Call,
    };
    opt.size_unit = SizeUnit::Base;
    let model = GridModel::new(GridParams::deribit_pm().unwrap());
    let e = model
        .margin_positions(&[Position::new(opt, -1.0)], &market())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("mark_ivs[\"deribit:ETH-27MAR26-2000-C\"]"),
        "{e}"
    );
}
