//! Small allocations whose optimum is derived by hand in each test's comment.
//!
//! Unless said otherwise: one asset, USDC (6 decimals, price 1 USD, no haircut), so a
//! location's haircut value is its balance in USDC. The allocator pads each requirement
//! by 1e-6 (relative) plus 2·(routes touching it)+2 base units against rounding, so a
//! hand-computed amount is met "from above" within that padding; the tests allow for it
//! and say so.

use intermargin_allocate::{
    allocate, AllocateError, AssetSpec, HaircutOverride, Holding, Options, Problem, Requirement,
    Route,
};
use intermargin_model::Amount;

const USDC: i128 = 1_000_000;

fn usdc() -> AssetSpec {
    AssetSpec {
        symbol: "USDC".into(),
        decimals: 6,
        price: 1.0,
        haircut: 0.0,
    }
}

fn hold(location: &str, asset: &str, amount: i128) -> Holding {
    Holding {
        location: location.into(),
        asset: asset.into(),
        amount: Amount(amount),
    }
}

fn req(location: &str, requirement: f64) -> Requirement {
    Requirement {
        location: Some(location.into()),
        requirement,
    }
}

fn route(from: &str, to: &str, asset: &str) -> Route {
    Route {
        from: from.into(),
        to: to.into(),
        asset: asset.into(),
        fee_fixed: Amount(0),
        fee_bps: 0.0,
        latency_s: Some(0),
        min_amount: Amount(0),
        max_amount: None,
        daily_limit: None,
        used_today: Amount(0),
    }
}

fn problem(holdings: Vec<Holding>, requirements: Vec<Requirement>, routes: Vec<Route>) -> Problem {
    Problem {
        assets: vec![usdc()],
        holdings,
        haircut_overrides: vec![],
        requirements,
        routes,
        options: Options::default(),
    }
}

fn target(a: &intermargin_allocate::Allocation, location: &str, asset: &str) -> i128 {
    a.targets
        .iter()
        .find(|t| t.location == location && t.asset == asset)
        .map_or(0, |t| t.target.0)
}

fn shortfall(a: &intermargin_allocate::Allocation, location: &str) -> f64 {
    a.shortfall
        .iter()
        .find(|s| s.location == location)
        .map_or(0.0, |s| s.amount)
}

#[test]
fn proportional_fee_equalises_the_two_ratios() {
    // A holds 1000, needs 300 (ratio 3.33); B holds 200, needs 600 (ratio 0.33).
    // Sending f from A to B at 10 bp leaves A = 1000 - f and gives B = 200 + 0.999 f.
    // The worst ratio is largest when both are equal:
    //   (1000 - f) / 300 = (200 + 0.999 f) / 600  =>  2000 - 2f = 200 + 0.999 f
    //   =>  f = 1800 / 2.999 = 600.200067 USDC,  t = (1000 - f) / 300 = 1.332666.
    // At that t both constraints bind, so stage 2 has no freedom: f is unique.
    // Padding shifts f by far less than 0.002 USDC.
    let p = problem(
        vec![
            hold("a", "USDC", 1000 * USDC),
            hold("b", "USDC", 200 * USDC),
        ],
        vec![req("a", 300.0), req("b", 600.0)],
        vec![
            Route {
                fee_bps: 10.0,
                ..route("a", "b", "USDC")
            },
            Route {
                fee_bps: 10.0,
                ..route("b", "a", "USDC")
            },
        ],
    );
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers.len(), 1, "{:?}", a.transfers);
    let t = &a.transfers[0];
    assert_eq!((t.from.as_str(), t.to.as_str()), ("a", "b"));
    assert!((t.amount.0 - 600_200_067).abs() <= 2_000, "{}", t.amount);
    // fee = ceil(amount * 10 / 10000)
    assert_eq!(t.fee.0, (t.amount.0 * 10 + 9_999) / 10_000);
    assert_eq!(t.received.0, t.amount.0 - t.fee.0);
    assert_eq!(target(&a, "a", "USDC"), 1000 * USDC - t.amount.0);
    assert_eq!(target(&a, "b", "USDC"), 200 * USDC + t.received.0);
    let w = a.worst_ratio.unwrap();
    assert!((w - 1.332_666).abs() < 1e-5, "{w}");
    assert!(a.shortfall.is_empty());
}

#[test]
fn target_ratio_one_with_a_fixed_fee_sends_the_least_that_covers_b() {
    // A 1000 (needs 300), B 590 (needs 600); route A->B costs a fixed 20 USDC.
    // With the ratio capped at 1, stage 1 reaches t = 1 and stage 2 sends the least that
    // covers B: f - 20 >= 10  =>  f = 30 USDC (plus B's padding 600e-6 + 4e-6 USDC),
    // i.e. 30_000_604 base units; A keeps 970 (ratio 3.23).
    let mut p = problem(
        vec![
            hold("a", "USDC", 1000 * USDC),
            hold("b", "USDC", 590 * USDC),
        ],
        vec![req("a", 300.0), req("b", 600.0)],
        vec![Route {
            fee_fixed: Amount(20 * USDC),
            ..route("a", "b", "USDC")
        }],
    );
    p.options.target_ratio = Some(1.0);
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers.len(), 1);
    let t = &a.transfers[0];
    assert!(
        (30 * USDC + 600..=30 * USDC + 620).contains(&t.amount.0),
        "{}",
        t.amount
    );
    assert_eq!(t.fee.0, 20 * USDC);
    assert!(target(&a, "b", "USDC") >= 600 * USDC);
    assert_eq!(target(&a, "a", "USDC"), 1000 * USDC - t.amount.0);
    assert!(a.shortfall.is_empty());
}

#[test]
fn a_fixed_fee_eats_most_of_a_small_source_and_the_shortfall_is_reported() {
    // A wallet with no requirement holds 25; B holds 590 and needs 600. Route fee 20 fixed.
    // Sending f <= 25 gives B 590 + f - 20: best is f = 25, B = 595, still 5 short.
    let p = problem(
        vec![
            hold("wallet", "USDC", 25 * USDC),
            hold("b", "USDC", 590 * USDC),
        ],
        vec![req("b", 600.0)],
        vec![Route {
            fee_fixed: Amount(20 * USDC),
            ..route("wallet", "b", "USDC")
        }],
    );
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers.len(), 1);
    assert_eq!(a.transfers[0].amount.0, 25 * USDC);
    assert_eq!(a.transfers[0].fee.0, 20 * USDC);
    assert_eq!(target(&a, "b", "USDC"), 595 * USDC);
    assert_eq!(target(&a, "wallet", "USDC"), 0);
    assert_eq!(shortfall(&a, "b"), 5.0);
}

#[test]
fn not_enough_anywhere_splits_the_shortfall_in_proportion() {
    // A 100 (needs 300), B 100 (needs 100), free routes both ways. Total 200 < 400 needed.
    // Max-min: t = 200 / 400 = 0.5, A = 150, B = 50: B sends 50 to A.
    // Shortfalls: A 300 - 150 = 150, B 100 - 50 = 50. Padding moves this by < 10 base units.
    let p = problem(
        vec![hold("a", "USDC", 100 * USDC), hold("b", "USDC", 100 * USDC)],
        vec![req("a", 300.0), req("b", 100.0)],
        vec![route("a", "b", "USDC"), route("b", "a", "USDC")],
    );
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers.len(), 1, "{:?}", a.transfers);
    let t = &a.transfers[0];
    assert_eq!((t.from.as_str(), t.to.as_str()), ("b", "a"));
    assert!((t.amount.0 - 50 * USDC).abs() <= 10, "{}", t.amount);
    assert_eq!(t.fee.0, 0);
    assert!((shortfall(&a, "a") - 150.0).abs() < 1e-4);
    assert!((shortfall(&a, "b") - 50.0).abs() < 1e-4);
    assert!((a.worst_ratio.unwrap() - 0.5).abs() < 1e-6);
}

#[test]
fn per_transfer_maximum_and_daily_room_cap_the_move() {
    // A 1000 (needs 100), B 0 (needs 600). B's ratio f/600 is the worst for any f <= 900,
    // so the optimum sends as much as the route allows.
    // (1) max_amount 250  => f = 250, shortfall 350.
    // (2) daily_limit 300 with 100 used today => room 200, f = 200, shortfall 400.
    let base = || {
        problem(
            vec![hold("a", "USDC", 1000 * USDC)],
            vec![req("a", 100.0), req("b", 600.0)],
            vec![],
        )
    };
    let mut p = base();
    p.routes = vec![Route {
        max_amount: Some(Amount(250 * USDC)),
        ..route("a", "b", "USDC")
    }];
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers[0].amount.0, 250 * USDC);
    assert_eq!(shortfall(&a, "b"), 350.0);

    let mut p = base();
    p.routes = vec![Route {
        daily_limit: Some(Amount(300 * USDC)),
        used_today: Amount(100 * USDC),
        ..route("a", "b", "USDC")
    }];
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers[0].amount.0, 200 * USDC);
    assert_eq!(shortfall(&a, "b"), 400.0);
}

#[test]
fn a_withdrawal_minimum_forces_a_larger_transfer() {
    // A 1000, B 595 needing 600, target ratio 1: B needs ~5 more, but the route's minimum
    // is 50, and the cheapest feasible plan is exactly the minimum (no fees, so the
    // tie-break cost prefers the smallest amount).
    let mut p = problem(
        vec![
            hold("a", "USDC", 1000 * USDC),
            hold("b", "USDC", 595 * USDC),
        ],
        vec![req("a", 300.0), req("b", 600.0)],
        vec![Route {
            min_amount: Amount(50 * USDC),
            ..route("a", "b", "USDC")
        }],
    );
    p.options.target_ratio = Some(1.0);
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers.len(), 1);
    assert_eq!(a.transfers[0].amount.0, 50 * USDC);
    assert_eq!(target(&a, "b", "USDC"), 645 * USDC);
}

#[test]
fn a_hop_through_the_hub_is_ordered_source_first() {
    // A 1000 (needs 100) reaches B (needs 300, holds 0) only through the hub, target ratio 1.
    // B needs 300 (+ padding): A -> hub first, then hub -> B, each ~300 USDC; the hub
    // never goes negative, and B's funds arrive after both latencies (60 s + 600 s).
    let mut p = problem(
        vec![hold("a", "USDC", 1000 * USDC)],
        vec![req("a", 100.0), req("b", 300.0)],
        vec![
            Route {
                latency_s: Some(600),
                ..route("hub", "b", "USDC")
            },
            Route {
                latency_s: Some(60),
                ..route("a", "hub", "USDC")
            },
        ],
    );
    p.options.target_ratio = Some(1.0);
    let a = allocate(&p).unwrap();
    assert_eq!(a.transfers.len(), 2, "{:?}", a.transfers);
    assert_eq!(
        (a.transfers[0].from.as_str(), a.transfers[0].to.as_str()),
        ("a", "hub")
    );
    assert_eq!(
        (a.transfers[1].from.as_str(), a.transfers[1].to.as_str()),
        ("hub", "b")
    );
    assert!(a.transfers[1].amount.0 <= a.transfers[0].received.0);
    assert!((a.transfers[1].amount.0 - 300 * USDC).abs() <= 1_000);
    assert_eq!(a.transfers[1].arrives_after_ms, 660_000);
    // Each transfer carries its route's latency; B is short until the second one lands at 60 + 600 s.
    assert_eq!(
        (a.transfers[0].latency_s, a.transfers[1].latency_s),
        (60, 600)
    );
    let b = a.headroom.iter().find(|h| h.location == "b").unwrap();
    assert_eq!(b.time_to_cure_s, Some(660));
    let hub_a = a.headroom.iter().find(|h| h.location == "a").unwrap();
    assert_eq!(hub_a.time_to_cure_s, Some(0), "a was covered all along");
    assert_eq!(a.time_to_cure_s, Some(660));
    assert!(target(&a, "b", "USDC") >= 300 * USDC);
    assert!(target(&a, "hub", "USDC") >= 0);
}

fn btc() -> AssetSpec {
    AssetSpec {
        symbol: "BTC".into(),
        decimals: 8,
        price: 90_000.0,
        haircut: 0.1,
    }
}

#[test]
fn haircuts_weigh_collateral_and_a_refused_asset_is_not_sent() {
    // One BTC at A (price 90 000, haircut 10 % => 81 000 of collateral value per BTC).
    // A needs 10 000, B needs 50 000. Equal ratios: (1 - f)/10 000 = f/50 000
    //   => f = 5/6 BTC = 83 333 333.3 sat, t = 81 000 (1/6) / 10 000 = 1.35.
    let mut p = Problem {
        assets: vec![btc()],
        holdings: vec![hold("a", "BTC", 100_000_000)],
        haircut_overrides: vec![],
        requirements: vec![req("a", 10_000.0), req("b", 50_000.0)],
        routes: vec![route("a", "b", "BTC")],
        options: Options::default(),
    };
    let a = allocate(&p).unwrap();
    assert!((a.transfers[0].amount.0 - 83_333_334).abs() <= 100);
    assert!((a.worst_ratio.unwrap() - 1.35).abs() < 1e-5);

    // B refuses BTC as collateral (haircut 1): moving it would only lower A's ratio.
    p.haircut_overrides = vec![HaircutOverride {
        location: "b".into(),
        asset: "BTC".into(),
        haircut: 1.0,
    }];
    let a = allocate(&p).unwrap();
    assert!(a.transfers.is_empty(), "{:?}", a.transfers);
    assert_eq!(shortfall(&a, "b"), 50_000.0);
}

#[test]
fn bad_input_names_the_field() {
    let mut p = problem(
        vec![hold("a", "USDC", 1)],
        vec![req("a", 1.0)],
        vec![route("a", "b", "USDC"), route("b", "a", "USDC")],
    );
    p.routes[1].fee_bps = -1.0;
    let e = allocate(&p).unwrap_err();
    assert_eq!(e.to_string(), "routes[1].fee_bps: must be >= 0, got -1");

    p.routes[1].fee_bps = 0.0;
    p.routes[0].to = "a".into();
    assert_eq!(
        allocate(&p).unwrap_err().to_string(),
        "routes[0].to: same location as from (\"a\")"
    );

    p.routes[0].to = "b".into();
    p.routes[0].asset = "DOGE".into();
    assert!(matches!(
        allocate(&p).unwrap_err(),
        AllocateError::UnknownAsset { field, .. } if field == "routes[0].asset"
    ));

    p.routes[0].asset = "USDC".into();
    p.requirements[0].requirement = f64::NAN;
    assert_eq!(
        allocate(&p).unwrap_err().to_string(),
        "requirements[0].requirement: must be a finite number, got NaN"
    );

    p.requirements[0].requirement = 1.0;
    p.assets[0].haircut = 1.5;
    assert_eq!(
        allocate(&p).unwrap_err().to_string(),
        "assets[0].haircut: must be <= 1, got 1.5"
    );

    p.assets[0].haircut = 0.0;
    p.routes[0].max_amount = Some(Amount(5));
    p.routes[0].min_amount = Amount(10);
    assert_eq!(
        allocate(&p).unwrap_err().to_string(),
        "routes[0].max_amount: 5 is below min_amount 10"
    );
}

#[test]
fn a_book_already_covered_at_the_target_moves_nothing() {
    // Both ratios are above the target of 1.2 already: no fee is worth paying.
    let mut p = problem(
        vec![hold("a", "USDC", 500 * USDC), hold("b", "USDC", 900 * USDC)],
        vec![req("a", 300.0), req("b", 600.0)],
        vec![route("a", "b", "USDC"), route("b", "a", "USDC")],
    );
    p.options.target_ratio = Some(1.2);
    let a = allocate(&p).unwrap();
    assert!(a.transfers.is_empty());
    assert!(a.shortfall.is_empty());
    assert_eq!(a.headroom[0].ratio_after, Some(500.0 / 300.0));
}
