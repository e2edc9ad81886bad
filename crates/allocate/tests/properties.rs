//! Invariants of every plan, on random books: exact conservation less fees, limits kept,
//! no location overdrawn mid-plan, requirements met whenever a feasible plan exists.

use intermargin_allocate::{
    allocate, Allocation, AssetSpec, Holding, Options, Problem, Requirement, Route,
};
use intermargin_model::Amount;
use proptest::prelude::*;

const LOCATIONS: [&str; 4] = ["deribit", "binance", "okx", "hub"];

fn assets(btc_price: f64, haircuts: (f64, f64)) -> Vec<AssetSpec> {
    vec![
        AssetSpec {
            symbol: "USDC".into(),
            decimals: 6,
            price: 1.0,
            haircut: haircuts.0,
        },
        AssetSpec {
            symbol: "BTC".into(),
            decimals: 8,
            price: btc_price,
            haircut: haircuts.1,
        },
    ]
}

#[derive(Debug, Clone)]
struct RouteGen {
    from: usize,
    to: usize,
    asset: usize,
    fee_fixed_frac: u32,
    fee_bps: u32,
    min_frac: u32,
    max_frac: Option<u32>,
    daily: Option<(u32, u32)>,
    latency_s: u64,
}

fn route_gen(nl: usize) -> impl Strategy<Value = RouteGen> {
    (
        0..nl,
        1..nl,
        0..2usize,
        0u32..100,
        0u32..60,
        0u32..50,
        proptest::option::of(1u32..1000),
        proptest::option::of((1u32..1000, 0u32..1000)),
        0u64..3_600,
    )
        .prop_map(
            move |(
                from,
                shift,
                asset,
                fee_fixed_frac,
                fee_bps,
                min_frac,
                max_frac,
                daily,
                latency_s,
            )| RouteGen {
                from,
                to: (from + shift) % nl,
                asset,
                fee_fixed_frac,
                fee_bps,
                min_frac,
                max_frac,
                daily,
                latency_s,
            },
        )
}

/// One whole "unit of size" per asset for generated fees and limits: 1000 USDC, 0.01 BTC.
fn unit(asset: usize) -> i128 {
    if asset == 0 {
        1_000_000_000
    } else {
        1_000_000
    }
}

fn build_route(g: &RouteGen) -> Route {
    let u = unit(g.asset);
    Route {
        from: LOCATIONS[g.from].into(),
        to: LOCATIONS[g.to].into(),
        asset: ["USDC", "BTC"][g.asset].into(),
        // fixed fee up to 1/100 of a unit, minimum up to 1/10 of a unit, max up to 100 units
        fee_fixed: Amount(u * g.fee_fixed_frac as i128 / 10_000),
        fee_bps: g.fee_bps as f64,
        latency_s: Some(g.latency_s),
        min_amount: Amount(u * g.min_frac as i128 / 500),
        max_amount: g
            .max_frac
            .map(|m| Amount((u * m as i128 / 10).max(u * g.min_frac as i128 / 500))),
        daily_limit: g.daily.map(|(d, _)| Amount(u * d as i128 / 10)),
        used_today: Amount(
            g.daily
                .map_or(0, |(d, used)| u * (d.min(used)) as i128 / 10),
        ),
    }
}

fn problem_strategy() -> impl Strategy<Value = Problem> {
    (2usize..=4).prop_flat_map(|nl| {
        (
            50_000.0f64..100_000.0,
            (0.0f64..0.2, 0.0f64..0.3),
            proptest::collection::vec((0i128..2_000_000_000_000, 0i128..2_000_000_000), nl),
            proptest::collection::vec(proptest::option::of(0.0f64..3_000_000.0), nl),
            proptest::collection::vec(route_gen(nl), 0..10),
            proptest::option::of(0.5f64..2.0),
        )
            .prop_map(move |(btc, haircuts, holds, reqs, routes, target)| {
                let mut holdings = Vec::new();
                for (l, (u, b)) in holds.iter().enumerate() {
                    holdings.push(Holding {
                        location: LOCATIONS[l].into(),
                        asset: "USDC".into(),
                        amount: Amount(*u),
                    });
                    holdings.push(Holding {
                        location: LOCATIONS[l].into(),
                        asset: "BTC".into(),
                        amount: Amount(*b),
                    });
                }
                let requirements = reqs
                    .iter()
                    .enumerate()
                    .filter_map(|(l, r)| {
                        r.map(|r| Requirement {
                            location: Some(LOCATIONS[l].into()),
                            requirement: r,
                        })
                    })
                    .collect();
                Problem {
                    assets: assets(btc, haircuts),
                    holdings,
                    haircut_overrides: vec![],
                    requirements,
                    routes: routes.iter().map(build_route).collect(),
                    options: Options {
                        target_ratio: target,
                        max_latency_s: None,
                    },
                }
            })
    })
}

fn initial(p: &Problem, loc: &str, asset: &str) -> i128 {
    p.holdings
        .iter()
        .filter(|h| h.location == loc && h.asset == asset)
        .map(|h| h.amount.0)
        .sum()
}

fn target(a: &Allocation, loc: &str, asset: &str) -> i128 {
    a.targets
        .iter()
        .find(|t| t.location == loc && t.asset == asset)
        .map_or(0, |t| t.target.0)
}

/// Haircut value at `loc` recomputed from the targets and the problem's prices.
fn value_after(p: &Problem, a: &Allocation, loc: &str) -> f64 {
    p.assets
        .iter()
        .map(|s| {
            let units = target(a, loc, &s.symbol) as f64 / 10f64.powi(s.decimals as i32);
            units * s.price * (1.0 - s.haircut)
        })
        .sum()
}

fn check_plan(p: &Problem, a: &Allocation) -> Result<(), TestCaseError> {
    // Replay in order: the source always holds what it sends; fees are exact.
    let mut bal = std::collections::BTreeMap::new();
    for h in &p.holdings {
        *bal.entry((h.location.clone(), h.asset.clone()))
            .or_insert(0i128) += h.amount.0;
    }
    let mut per_route = vec![0usize; p.routes.len()];
    let mut fees = std::collections::BTreeMap::new();
    for (i, t) in a.transfers.iter().enumerate() {
        prop_assert_eq!(t.step, i);
        let r = &p.routes[t.route];
        prop_assert_eq!((&t.from, &t.to, &t.asset), (&r.from, &r.to, &r.asset));
        per_route[t.route] += 1;
        // fee = fixed + ceil(amount * bps / 10000), bps are integers here
        let bps = r.fee_bps as i128;
        let expected_fee = r.fee_fixed.0 + (t.amount.0 * bps + 9_999) / 10_000;
        prop_assert_eq!(t.fee.0, expected_fee);
        prop_assert_eq!(t.received.0, t.amount.0 - t.fee.0);
        prop_assert!(t.received.0 > 0);
        prop_assert!(t.amount.0 >= r.min_amount.0);
        if let Some(m) = r.max_amount {
            prop_assert!(t.amount.0 <= m.0);
        }
        if let Some(d) = r.daily_limit {
            prop_assert!(t.amount.0 <= d.0 - r.used_today.0);
        }
        let src = bal.entry((t.from.clone(), t.asset.clone())).or_insert(0);
        prop_assert!(*src >= t.amount.0, "{} overdrawn at step {}", t.from, i);
        *src -= t.amount.0;
        *bal.entry((t.to.clone(), t.asset.clone())).or_insert(0) += t.received.0;
        *fees.entry(t.asset.clone()).or_insert(0i128) += t.fee.0;
    }
    prop_assert!(per_route.iter().all(|&n| n <= 1));
    // Targets are the replayed balances, and collateral is conserved less fees, exactly.
    for s in &p.assets {
        let mut before = 0i128;
        let mut after = 0i128;
        for l in LOCATIONS {
            let replayed = bal
                .get(&(l.to_string(), s.symbol.clone()))
                .copied()
                .unwrap_or(0);
            prop_assert_eq!(target(a, l, &s.symbol), replayed);
            before += initial(p, l, &s.symbol);
            after += target(a, l, &s.symbol);
        }
        prop_assert_eq!(after, before - fees.get(&s.symbol).copied().unwrap_or(0));
    }
    // Reported shortfall is what the targets leave uncovered; without one, all are met.
    for r in &p.requirements {
        let loc = r.location.as_deref().unwrap_or("total");
        let v = value_after(p, a, loc);
        let reported = a
            .shortfall
            .iter()
            .find(|s| s.location == loc)
            .map_or(0.0, |s| s.amount);
        if reported == 0.0 {
            prop_assert!(v >= r.requirement, "{loc}: {v} < {}", r.requirement);
        } else {
            prop_assert!((reported - (r.requirement - v)).abs() <= 1e-6 * r.requirement.max(1.0));
        }
    }
    Ok(())
}

fn worst(p: &Problem, a: Option<&Allocation>) -> Option<f64> {
    p.requirements
        .iter()
        .filter(|r| r.requirement > 0.0)
        .map(|r| {
            let loc = r.location.as_deref().unwrap_or("total");
            let v = match a {
                Some(a) => value_after(p, a, loc),
                None => p
                    .assets
                    .iter()
                    .map(|s| {
                        initial(p, loc, &s.symbol) as f64 / 10f64.powi(s.decimals as i32)
                            * s.price
                            * (1.0 - s.haircut)
                    })
                    .sum(),
            };
            v / r.requirement
        })
        .reduce(f64::min)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_plan_conserves_collateral_keeps_limits_and_never_overdraws(p in problem_strategy()) {
        let a = allocate(&p).unwrap();
        check_plan(&p, &a)?;
        // The plan never leaves the worst ratio (capped at the target) below doing nothing.
        if let (Some(before), Some(after)) = (worst(&p, None), worst(&p, Some(&a))) {
            let cap = p.options.target_ratio.unwrap_or(f64::INFINITY);
            prop_assert!(after.min(cap) >= before.min(cap) * (1.0 - 1e-5) - 1e-9,
                "worst ratio fell from {before} to {after}");
        }
    }

    #[test]
    fn when_a_feasible_plan_exists_no_venue_ends_below_its_requirement(
        nl in 2usize..=4,
        btc in 50_000.0f64..100_000.0,
        now in proptest::collection::vec((1_000i128..1_000_000, 0i128..2_000), 4),
        witness in proptest::collection::vec((1u32..100, 1u32..100), 4),
        bps in 0u32..30,
    ) {
        // A witness allocation: the same totals split by random weights. Each location's
        // requirement is 95 % of the witness's haircut value there. Sending every surplus
        // directly to the deficits (full mesh, <= 0.3 % fee, no fixed fee or limits) delivers
        // >= 99.7 % of the witness, so a feasible plan exists.
        let assets = assets(btc, (0.0, 0.1));
        let total: Vec<i128> = (0..2)
            .map(|a| now[..nl].iter().map(|(u, b)| if a == 0 { *u * 1_000_000 } else { *b * 100_000 }).sum())
            .collect();
        let wsum: Vec<u32> = (0..2)
            .map(|a| witness[..nl].iter().map(|(x, y)| if a == 0 { *x } else { *y }).sum())
            .collect();
        let mut holdings = Vec::new();
        let mut requirements = Vec::new();
        let mut routes = Vec::new();
        for l in 0..nl {
            let mut wvalue = 0.0;
            for (a, s) in assets.iter().enumerate() {
                let amount = if a == 0 { now[l].0 * 1_000_000 } else { now[l].1 * 100_000 };
                holdings.push(Holding { location: LOCATIONS[l].into(), asset: s.symbol.clone(), amount: Amount(amount) });
                let w = if a == 0 { witness[l].0 } else { witness[l].1 };
                let share = total[a] as f64 * w as f64 / wsum[a] as f64;
                wvalue += share / 10f64.powi(s.decimals as i32) * s.price * (1.0 - s.haircut);
                for (m, to) in LOCATIONS[..nl].iter().enumerate() {
                    if m != l {
                        routes.push(Route {
                            from: LOCATIONS[l].into(), to: to.to_string(), asset: s.symbol.clone(),
                            fee_fixed: Amount(0), fee_bps: bps as f64, latency_s: Some(0),
                            min_amount: Amount(0), max_amount: None, daily_limit: None, used_today: Amount(0),
                        });
                    }
                }
            }
            requirements.push(Requirement { location: Some(LOCATIONS[l].into()), requirement: 0.95 * wvalue });
        }
        let p = Problem { assets, holdings, haircut_overrides: vec![], requirements, routes, options: Options::default() };
        let a = allocate(&p).unwrap();
        check_plan(&p, &a)?;
        prop_assert!(a.shortfall.is_empty(), "{:?}", a.shortfall);
        for r in &p.requirements {
            let loc = r.location.as_deref().unwrap_or("total");
            prop_assert!(value_after(&p, &a, loc) >= r.requirement);
        }
    }
}
