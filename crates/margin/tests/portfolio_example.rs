//! The shipped worked example (examples/hedged-book): a BTC book hedged across Deribit, Binance, OKX and
//! Aave needs several times less margin unified than siloed.

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_margin::venue_margins;
use intermargin_model::Snapshot;

fn snapshot() -> Snapshot {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hedged-book/snapshot.json"
    ))
    .unwrap();
    Snapshot::from_json(&text).unwrap()
}

#[test]
fn hedged_book_unified_requirement_is_several_times_below_the_siloed_total() {
    let snap = snapshot();
    let acc = &snap.portfolio.accounts[0];
    let siloed = venue_margins(acc, &snap.portfolio.assets, &snap.market).unwrap();
    let r = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(acc, &snap.portfolio.assets, &snap.market, &siloed)
        .unwrap();
    println!(
        "siloed {:.2} unified IM {:.2} MM {:.2} saving {:.2}",
        r.siloed_total, r.initial_margin, r.maintenance_margin, r.saving
    );
    println!("worst: {}", r.explain.worst_scenario);
    for c in &r.explain.components {
        println!("  {:<24} {:>12.2}", c.name, c.value);
    }
    for c in &r.explain.contributions {
        println!("  {:<40} {:>10} {:>12.2}", c.instrument, c.size, c.loss);
    }
    for v in &r.venues {
        println!("  {:?}", v);
    }
    assert!(r.initial_margin > 0.0);
    assert!(
        r.siloed_total >= 3.0 * r.initial_margin,
        "siloed {} vs unified {}",
        r.siloed_total,
        r.initial_margin
    );
    assert!((r.saving - (r.siloed_total - r.initial_margin)).abs() < 1e-6);
    // Every venue holding positions appears with its own requirement.
    for v in ["deribit", "binance", "okx", "aave"] {
        assert!(r.venues.iter().any(|x| x.venue.as_str() == v), "{v}");
    }
}
