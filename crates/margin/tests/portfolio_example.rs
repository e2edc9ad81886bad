//! The shipped worked example (examples/hedged-book): a BTC book hedged across Deribit, Binance, OKX and
//! Aave. The figures are restated in README.md; this test checks how they fit together.

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams, VenueKind};
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
fn hedged_book_unified_requirement_against_the_honest_siloed_baseline() {
    let snap = snapshot();
    let acc = &snap.portfolio.accounts[0];
    let own = venue_margins(acc, &snap.portfolio.assets, &snap.market).unwrap();
    let r = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(acc, &snap.portfolio.assets, &snap.market)
        .unwrap();
    println!(
        "siloed {:.2} unified IM {:.2} MM {:.2} pooled {:.2} floors {:.2} saving {:.2} split {:?} horizon {} first {:?}",
        r.siloed_total,
        r.initial_margin,
        r.maintenance_margin,
        r.pooled_requirement,
        r.local_minimum_total,
        r.saving,
        r.saving_split,
        r.horizon_s,
        r.liquidates_first
    );
    println!("worst: {}", r.explain.worst_scenario);
    for c in &r.explain.components {
        println!("  {:<24} {:>12.2}", c.name, c.value);
    }
    for f in &r.explain.factors {
        println!("  {:<24} {:>12.2}  {}", f.factor, f.loss, f.scenario);
    }
    for v in &r.venues {
        println!(
            "  {:<8} {:?} own IM {:>10.2} own MM {:>10.2} floor {:>10.2} stress {:>10.2} siloed {:>10.2} attributed {:>10.2} held {:>10.2} liq {:?} {:?}",
            v.venue.as_str(), v.kind, v.own_initial_margin, v.siloed_maintenance_margin, v.local_minimum,
            v.stress, v.siloed_initial_margin, v.attributed, v.held, v.liquidation_underlying, v.liquidation_move
        );
    }
    assert!(r.initial_margin > 0.0);
    assert!((r.saving - (r.siloed_total - r.initial_margin)).abs() < 1e-6);
    let split = r.saving_split.pooled_buffer + r.saving_split.credit_netting;
    assert!((split - r.saving).abs() < 1e-6 * r.siloed_total);
    // Every venue of the book appears, segregated; where something can be liquidated (Binance and OKX
    // shorts) the floor is at least the venue's own MM.
    for v in ["deribit", "binance", "okx", "aave"] {
        let row = r.venues.iter().find(|x| x.venue.as_str() == v).unwrap();
        assert_eq!(row.kind, VenueKind::Segregated);
    }
    for v in ["binance", "okx"] {
        let row = r.venues.iter().find(|x| x.venue.as_str() == v).unwrap();
        assert_eq!(row.kind, VenueKind::Segregated);
        let mm: f64 = own
            .iter()
            .filter(|x| x.venue == row.venue)
            .map(|x| x.in_quote.as_ref().unwrap().maintenance_margin)
            .sum();
        assert!(row.local_minimum >= mm, "{v}: {} < {mm}", row.local_minimum);
    }
    // Aave holds a deposit and no debt, Deribit long calls only: neither can liquidate anything, so
    // neither requires anything siloed nor holds a floor (their legs still enter the pool).
    for v in ["aave", "deribit"] {
        let row = r.venues.iter().find(|x| x.venue.as_str() == v).unwrap();
        assert_eq!(row.siloed_initial_margin, 0.0, "{v}");
        assert_eq!(row.local_minimum, 0.0, "{v}");
        assert_eq!(row.siloed_maintenance_margin, 0.0, "{v}");
    }
    assert!(r.liquidates_first.is_some());
}
