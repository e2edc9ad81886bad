//! Shared builders for the proofs tests.
#![allow(dead_code)]

use intermargin_proofs::zk::rule::{MarginRule, PrivateBook, PrivatePosition, RULE_VERSION};

/// A 2-instrument, 2-scenario rule whose slacks are computed by hand in the tests.
///
/// losses (scale 0): BTC-PERP loses 10 per lot in `down`, gains 5 in `up`;
/// ETH-PERP loses 4 in `down`, 20 in `up`. Threshold 10.
pub fn tiny_rule() -> MarginRule {
    MarginRule {
        version: RULE_VERSION,
        description: "hand-checked 2x2".into(),
        collateral_asset: "USDC".into(),
        quantity_decimals: 0,
        loss_scale: 0,
        quantity_bits: 16,
        collateral_bits: 32,
        threshold: 10,
        instruments: vec!["x:BTC-PERP".into(), "x:ETH-PERP".into()],
        scenarios: vec!["down".into(), "up".into()],
        losses: vec![vec![10, -5], vec![4, 20]],
    }
}

pub fn book(positions: &[(&str, i128)], collateral: u128, salt: &str) -> PrivateBook {
    PrivateBook {
        collateral,
        salt: salt.into(),
        positions: positions
            .iter()
            .map(|(i, q)| PrivatePosition {
                instrument: (*i).into(),
                quantity: *q,
            })
            .collect(),
    }
}

/// A synthetic n×m rule: a linear book of futures under price moves of ±1%..±32%,
/// loss per lot = beta_i · move_s · 1e6 (scale 6), where beta alternates sign.
pub fn grid_rule(n: usize, m: usize) -> MarginRule {
    let instruments: Vec<String> = (0..n).map(|i| format!("x:F{i:02}")).collect();
    let scenarios: Vec<String> = (0..m).map(|s| format!("s{s:02}")).collect();
    let losses = (0..n)
        .map(|i| {
            let beta = 100 + 7 * i as i64;
            (0..m)
                .map(|s| {
                    let mv = (s as i64 / 2 + 1) * if s % 2 == 0 { 1 } else { -1 };
                    -beta * mv * 10_000 // loss per lot in base units × 10^6
                })
                .collect()
        })
        .collect();
    MarginRule {
        version: RULE_VERSION,
        description: "synthetic grid".into(),
        collateral_asset: "USDC".into(),
        quantity_decimals: 0,
        loss_scale: 6,
        quantity_bits: 48,
        collateral_bits: 96,
        threshold: 0,
        instruments,
        scenarios,
        losses,
    }
}
