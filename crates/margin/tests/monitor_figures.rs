//! The live monitor's per-account figures ([`UnifiedModel::account_figures`], issue 20) against
//! the full two-evaluation computation they replace: each venue's rules on the book as held
//! ([`venue_margins`]) and again on the netted book at the most favourable leverage inside
//! [`UnifiedModel::margin_figures`]. On seeded random books over 7 venues and the hub the two are
//! equal exactly (the same arithmetic, not a second formula), and the single-evaluation rule
//! ([`unchanged_by_netting`]) is checked venue by venue against the second evaluation.

mod support;

use intermargin_margin::portfolio::{
    net_account, unchanged_by_netting, venue_margins_most_favourable_at, UnifiedModel,
    UnifiedParams,
};
use intermargin_margin::venue_margins;
use intermargin_margin::venues::venue_margins_at;
use intermargin_model::{Account, Venue};
use support::books::{random_books, universe};

/// Random books as the monitor's equivalence test draws them, and the same books with the
/// leverage settings dropped outside Bybit (venues whose payloads carry none), so that the
/// single evaluation applies to many venues and is skipped for many others.
fn books() -> Vec<Account> {
    let (_, market, instruments, demo) = universe();
    let mut out = random_books(20_2026, 300, &market, &instruments);
    let mut plain = random_books(7, 300, &market, &instruments);
    for b in &mut plain {
        for p in &mut b.positions {
            if p.instrument.venue != Venue::Bybit {
                p.leverage = None;
            }
        }
    }
    out.extend(plain);
    out.push(demo);
    out
}

#[test]
fn account_figures_equal_the_two_evaluations_on_random_books() {
    let model = UnifiedModel::new(UnifiedParams::bundled().unwrap());
    let (assets, market, _, _) = universe();
    let books = books();
    let shared = model
        .shared_rows(
            &market,
            books
                .iter()
                .flat_map(|b| model.scan_instruments(b, &market.quote)),
        )
        .unwrap();
    let mut ok = 0;
    for b in &books {
        let held = venue_margins(b, &assets, &market);
        for rows in [Some(&shared), None] {
            let fast = model.account_figures(b, &assets, &market, rows);
            let full = held.as_ref().ok().and_then(|h| {
                model
                    .margin_figures(b, &assets, &market, rows)
                    .ok()
                    .map(|u| (h.clone(), u))
            });
            match (&fast, full) {
                (Ok(f), Some((venues, unified))) => {
                    assert_eq!(f.venues, venues, "{}: venue pools as held", b.id);
                    assert_eq!(f.unified, unified, "{}: unified figures", b.id);
                    ok += 1;
                }
                (Err(_), None) => {}
                (fast, full) => panic!(
                    "{}: the paths disagree on whether the book can be margined: one pass {:?}, two {:?}",
                    b.id,
                    fast.as_ref().map(|f| f.unified),
                    full.map(|x| x.1)
                ),
            }
        }
    }
    assert!(ok >= 2 * 450, "only {ok} of {} margined", 2 * books.len());
}

#[test]
fn one_evaluation_equals_the_second_where_netting_changes_nothing() {
    let (assets, market, _, _) = universe();
    let (mut reused, mut evaluated_again) = (0, 0);
    let mut venues_reused = std::collections::BTreeSet::new();
    for b in &books() {
        let netted = net_account(b).unwrap();
        for v in b.venues() {
            if !unchanged_by_netting(v, b) {
                evaluated_again += 1;
                continue;
            }
            let held = venue_margins_at(v, b, &assets, &market);
            let second = venue_margins_most_favourable_at(v, &netted, &assets, &market);
            match (held, second) {
                (Ok(h), Ok(s)) => assert_eq!(h, s, "{} at {v}", b.id),
                (Err(h), Err(s)) => assert_eq!(h.to_string(), s.to_string(), "{} at {v}", b.id),
                (h, s) => panic!("{} at {v}: held {h:?}, second {s:?}", b.id),
            }
            reused += 1;
            venues_reused.insert(v);
        }
    }
    assert!(
        reused >= 300 && evaluated_again >= 300,
        "{reused} / {evaluated_again}"
    );
    assert!(venues_reused.len() >= 6, "venues: {venues_reused:?}");
}

/// What makes a venue's part of the book change under netting: each case alone turns the rule
/// off, and a book without any of them keeps it on.
#[test]
fn the_rule_sees_each_change_netting_makes() {
    let (_, _, _, demo) = universe();
    let mut plain = demo.clone();
    for p in &mut plain.positions {
        p.leverage = None;
    }
    for v in plain.venues() {
        assert!(unchanged_by_netting(v, &plain), "{v}");
    }
    // A leverage setting (cleared for the most favourable leverage).
    let mut a = plain.clone();
    a.positions[2].leverage = Some(5.0);
    let v2 = a.positions[2].instrument.venue;
    assert!(!unchanged_by_netting(v2, &a));
    // A repeated contract (netted into one).
    let mut a = plain.clone();
    a.positions.push(a.positions[0].clone());
    assert!(!unchanged_by_netting(a.positions[0].instrument.venue, &a));
    // The same contract isolated is another position: nothing nets.
    let mut a = plain.clone();
    let mut iso = a.positions[2].clone();
    iso.isolated = true;
    a.positions.push(iso);
    assert!(unchanged_by_netting(v2, &a));
    // A zero size (dropped).
    let mut a = plain.clone();
    a.positions[0].size = 0.0;
    assert!(!unchanged_by_netting(a.positions[0].instrument.venue, &a));
    // A repeated balance (added up) and a zero balance (dropped).
    let mut a = plain.clone();
    a.collateral.push(a.collateral[0].clone());
    assert!(!unchanged_by_netting(a.collateral[0].venue, &a));
    let mut a = plain.clone();
    a.collateral[0].amount.0 = 0;
    assert!(!unchanged_by_netting(a.collateral[0].venue, &a));
    // Another venue's changes do not matter.
    let mut a = plain.clone();
    a.positions[0].leverage = Some(3.0);
    let other = a.positions[0].instrument.venue;
    for v in a.venues().into_iter().filter(|v| *v != other) {
        assert!(unchanged_by_netting(v, &a), "{v}");
    }
}
