//! Inputs that size a proof's work are refused, naming the field, before anything is built.

use intermargin_proofs::solvency::{tree_bytes, MAX_ASSETS};
use intermargin_proofs::zk::rule::{MAX_CELLS, MAX_INSTRUMENTS};
use intermargin_proofs::{Ledger, MarginRule, ProofError};

fn rule(n: usize, m: usize) -> MarginRule {
    MarginRule {
        version: 1,
        description: String::new(),
        collateral_asset: "USDC".into(),
        quantity_decimals: 0,
        loss_scale: 0,
        quantity_bits: 16,
        collateral_bits: 64,
        threshold: 0,
        instruments: (0..n).map(|i| format!("i{i}")).collect(),
        scenarios: (0..m).map(|s| format!("s{s}")).collect(),
        losses: vec![vec![1; m]; n],
    }
}

fn field(e: ProofError) -> String {
    e.to_string()
}

#[test]
fn oversized_rules_are_refused_by_validation() {
    rule(4, 16).validate().unwrap();
    let e = field(rule(MAX_INSTRUMENTS + 1, 1).validate().unwrap_err());
    assert!(e.contains("instruments"), "{e}");
    // 256 instruments × 257 scenarios is one row over the cell limit (65 536 = 256 × 256).
    assert_eq!(MAX_CELLS, 256 * 256);
    let e = field(rule(256, 257).validate().unwrap_err());
    assert!(e.contains("scenarios") && e.contains("65792"), "{e}");
}

#[test]
fn a_solvency_ledger_with_too_many_assets_is_refused_at_the_header() {
    let header: Vec<String> = (0..=MAX_ASSETS).map(|j| format!("A{j}")).collect();
    let csv = format!(
        "user,{}\nu1,{}\n",
        header.join(","),
        vec!["1"; MAX_ASSETS + 1].join(",")
    );
    let e = field(Ledger::from_csv(csv.as_bytes()).unwrap_err());
    assert!(e.contains("header"), "{e}");
    // Hand count for 3 users, 1 asset: padded width 4, nodes of 48 bytes on ~2 × 4 slots,
    // plus 3 rows of (8 + 16 + 8 + 128) bytes.
    assert_eq!(tree_bytes(3, 1), 2 * 4 * 48 + 3 * (8 + 16 + 8 + 128));
}
