//! `GET /api/v5/public/position-tiers` imports as the published tier table of its family
//! (tests/data/okx/public_position_tiers_swap.json, see tests/data/README.md); bad rows are
//! refused with the JSON path.

use std::path::Path;

use intermargin_model::Venue;
use intermargin_venues::{import, ImportOptions, Payload};

fn run(name: &str, text: &str) -> Result<intermargin_model::Snapshot, String> {
    import(
        Venue::Okx,
        &[Payload::named(name, text)],
        &ImportOptions::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn swap_tiers_become_the_familys_table() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/okx/public_position_tiers_swap.json");
    let s = run("tiers.json", &std::fs::read_to_string(p).unwrap()).unwrap();
    let t = &s.market.venue_params["okx:BTC-USD"];
    assert_eq!(t["source"], "GET /api/v5/public/position-tiers");
    let rows = t["tiers"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[0]["floor"], 0.0);
    assert_eq!(rows[0]["cap"], 999.0);
    assert_eq!(rows[0]["mmr"], 0.005);
    assert_eq!(rows[0]["imr"], 0.01);
    assert_eq!(rows[0]["max_leverage"], 100.0);
    assert_eq!(rows[7]["floor"], 100_000.0);
    assert_eq!(rows[7]["mmr"], 0.04);
    // No account data: an empty book.
    assert!(s.portfolio.accounts[0].positions.is_empty());
}

#[test]
fn bad_tier_rows_name_the_json_path() {
    let row = |f: &str| {
        format!(
            r#"{{"code": "0", "msg": "", "data": [{{"instFamily": "BTC-USD", "instId": "", "uly": "BTC-USD", "tier": "1", {f}}}]}}"#
        )
    };
    let e = run(
        "t.json",
        &row(r#""minSz": "0", "maxSz": "999", "mmr": "1.5", "imr": "2", "maxLever": "100""#),
    )
    .unwrap_err();
    assert!(e.contains("data[0].mmr") && e.contains("[0, 1]"), "{e}");
    let e = run(
        "t.json",
        &row(r#""minSz": "0", "maxSz": "999", "mmr": "0.05", "imr": "0.01", "maxLever": "100""#),
    )
    .unwrap_err();
    assert!(e.contains("data[0].imr"), "{e}");
    let e = run(
        "t.json",
        &row(r#""minSz": "999", "maxSz": "10", "mmr": "0.005", "imr": "0.01", "maxLever": "100""#),
    )
    .unwrap_err();
    assert!(e.contains("data[0].maxSz"), "{e}");
    let e = run(
        "t.json",
        &row(r#""minSz": "0", "maxSz": "999", "mmr": "0.005", "imr": "0.01", "maxLever": "0""#),
    )
    .unwrap_err();
    assert!(
        e.contains("data[0].maxLever") && e.contains("must be > 0"),
        "{e}"
    );
    // Two rows with one floor.
    let dup = r#"{"code": "0", "data": [
        {"instFamily": "BTC-USD", "tier": "1", "minSz": "0", "maxSz": "999", "mmr": "0.005"},
        {"instFamily": "BTC-USD", "tier": "2", "minSz": "0", "maxSz": "9999", "mmr": "0.01"}]}"#;
    let e = run("t.json", dup).unwrap_err();
    assert!(
        e.contains("data[1].minSz") && e.contains("must increase"),
        "{e}"
    );
    // The docs' own example is a spot-margin (borrowing) row, not a position tier.
    let docs = r#"{"code":"0","msg":"","data":[{"baseMaxLoan": "50","imr": "0.1","instId": "BTC-USDT",
        "maxLever": "10","maxSz": "50","minSz": "0","mmr": "0.03","optMgnFactor": "0",
        "quoteMaxLoan": "500000","tier": "1","uly": "","instFamily": ""}]}"#;
    let e = run("t.json", docs).unwrap_err();
    assert!(
        e.contains("data[0].instId") && e.contains("spot-margin"),
        "{e}"
    );
}

/// Option rows (`optMgnFactor` non-zero, the docs' "Option Margin Coefficient (only applicable
/// to options)") become the family's option tiers, apart from its futures tiers: an inverse
/// option family (BTC-USD) shares its name with the swaps'. Rows written in the documented
/// response shape (the docs' example is a spot-margin row with `"optMgnFactor": "0"`).
#[test]
fn option_rows_become_the_familys_option_tiers() {
    let text = r#"{"code": "0", "msg": "", "data": [
        {"instFamily": "BTC-USD", "instId": "", "uly": "BTC-USD", "tier": "1", "minSz": "0",
         "maxSz": "100", "mmr": "", "imr": "", "maxLever": "", "optMgnFactor": "1",
         "baseMaxLoan": "", "quoteMaxLoan": ""},
        {"instFamily": "BTC-USD", "instId": "", "uly": "BTC-USD", "tier": "2", "minSz": "101",
         "maxSz": "1000", "mmr": "", "imr": "", "maxLever": "", "optMgnFactor": "1.02",
         "baseMaxLoan": "", "quoteMaxLoan": ""},
        {"instFamily": "BTC-USD", "instId": "", "uly": "BTC-USD", "tier": "1", "minSz": "0",
         "maxSz": "999", "mmr": "0.005", "imr": "0.01", "maxLever": "100", "optMgnFactor": "0"}
    ]}"#;
    let s = run("tiers.json", text).unwrap();
    let o = &s.market.venue_params["okx:option:BTC-USD"]["tiers"];
    assert_eq!(o.as_array().unwrap().len(), 2);
    assert_eq!(o[1]["floor"], 101.0);
    assert_eq!(o[1]["margin_factor"], 1.02);
    // The swap row stays the family's futures table.
    let f = &s.market.venue_params["okx:BTC-USD"]["tiers"];
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert_eq!(f[0]["mmr"], 0.005);
    // A negative factor is refused with its path.
    let bad = text.replacen(r#""optMgnFactor": "1.02""#, r#""optMgnFactor": "-1.02""#, 1);
    let e = run("tiers.json", &bad).unwrap_err();
    assert!(
        e.contains("data[1].optMgnFactor") && e.contains("positive"),
        "{e}"
    );
}
