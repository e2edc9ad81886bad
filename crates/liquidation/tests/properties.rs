//! Invariants: a liquidation never lowers health, never closes more than needed plus the
//! buffer, and bad debt is conserved exactly.
mod common;

use common::*;
use intermargin_liquidation::*;
use intermargin_model::{Amount, Venue};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_liquidation_never_lowers_equity_over_maintenance(
        size in 1.0f64..50.0,
        short in any::<bool>(),
        hedge in 0.0f64..0.9,
        collateral in 100.0f64..5_000.0,
        mark in 1_500.0f64..2_500.0,
        fee in 0.0f64..0.01,
        k in 0.0f64..0.05,
        alpha in 0.5f64..1.0,
        netting in any::<bool>(),
    ) {
        let s = if short { -size } else { size };
        let a = account(collateral, &[
            (perp(Venue::Dydx, "ETH-USD", "ETH"), s, 2_000.0),
            (perp(Venue::Hyperliquid, "ETH", "ETH"), -s * hedge, 2_000.0),
        ]);
        let m = market(&[("dydx:ETH-USD", mark), ("hyperliquid:ETH", mark)]);
        let mut d = no_impact();
        d.default = ImpactParams { k, alpha, depth: 500_000.0 };
        let gross = rates(0.1, 0.05);
        let net = NetDelta { inner: rates(0.1, 0.05) };
        let req: &dyn RequirementFn = if netting { &net } else { &gross };
        let p = plan_liquidation(&a, &m, req, &d, &flat_rules(fee), PlannerOptions::default()).unwrap();
        if p.state == AccountState::Liquidation {
            prop_assert!(p.margin_after.equity >= 0.0);
            let before = p.margin_before.health_ratio();
            let after = p.margin_after.health_ratio();
            prop_assert!(after >= before - 1e-9, "{before} -> {after}: {:?}", p);
        }
    }

    #[test]
    fn a_single_leg_plan_closes_no_more_than_needed_for_the_buffer(
        size in 1.0f64..50.0,
        short in any::<bool>(),
        collateral in 100.0f64..5_000.0,
        mark in 1_800.0f64..2_200.0,
        fee in 0.0f64..0.01,
        buffer in 0.0f64..0.2,
    ) {
        let s = if short { -size } else { size };
        let a = account(collateral, &[(perp(Venue::Dydx, "ETH-USD", "ETH"), s, 2_000.0)]);
        let m = market(&[("dydx:ETH-USD", mark)]);
        let opts = PlannerOptions { buffer, tolerance: 1e-12 };
        let p = plan_liquidation(&a, &m, &rates(0.1, 0.05), &no_impact(), &flat_rules(fee), opts).unwrap();
        if p.state == AccountState::Liquidation && p.state_after != AccountState::Liquidation {
            // Independent closed form: equity − fee·P·x ≥ 0.05·P·(|s| − x)·(1+b).
            let e = p.margin_before.equity;
            let x_star = (0.05 * mark * size * (1.0 + buffer) - e) / (mark * (0.05 * (1.0 + buffer) - fee));
            prop_assert!(p.plan.len() == 1);
            prop_assert!(p.plan[0].reduce <= x_star * (1.0 + 1e-6) + 1e-9, "{} > {x_star}", p.plan[0].reduce);
            prop_assert!(p.margin_after.equity >= p.margin_after.maintenance * (1.0 + buffer) - 1e-6);
        }
    }

    #[test]
    fn bad_debt_is_conserved_exactly(
        debt in 0i64..10_000_000_000,
        fund in 0i64..5_000_000_000,
        profits in proptest::collection::vec((0i64..3_000_000_000, 1.0f64..20.0), 0..8),
        weights in proptest::collection::vec(0i64..1_000_000, 0..8),
        order in 0usize..3,
    ) {
        use WaterfallStep::*;
        let steps = [vec![InsuranceFund, Adl, Socialised], vec![InsuranceFund, Socialised], vec![Adl, InsuranceFund]][order].clone();
        let cands: Vec<AdlCandidate> = profits.iter().enumerate().map(|(i, (p, l))| AdlCandidate {
            account: format!("c{i}"), profit: Amount(*p as i128), leverage: *l }).collect();
        let holders: Vec<(String, Amount)> = weights.iter().enumerate().map(|(i, w)| (format!("h{i}"), Amount(*w as i128))).collect();
        let s = settle_bad_debt(Amount(debt as i128), Amount(fund as i128), &steps, &cands, &holders).unwrap();
        prop_assert_eq!(s.from_fund.0 + s.adl_total().0 + s.socialised.0, debt as i128);
        prop_assert_eq!(s.fund_after.0, fund as i128 - s.from_fund.0);
        prop_assert!(s.fund_after.0 >= 0);
        for (id, took) in &s.adl {
            let c = cands.iter().find(|c| &c.account == id).unwrap();
            prop_assert!(took.0 > 0 && took.0 <= c.profit.0);
        }
        if !s.socialised_shares.is_empty() {
            prop_assert_eq!(s.socialised_shares.iter().map(|x| x.1 .0).sum::<i128>(), s.socialised.0);
        }
    }

    #[test]
    fn states_worsen_monotonically_as_equity_falls(e1 in -1e4f64..1e4, e2 in -1e4f64..1e4, mm in 1.0f64..1e3) {
        let (lo, hi) = if e1 < e2 { (e1, e2) } else { (e2, e1) };
        let f = |e| Figures { equity: e, initial: 2.0 * mm, maintenance: mm };
        prop_assert!(classify(&f(lo)) >= classify(&f(hi)));
    }
}
