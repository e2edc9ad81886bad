//! Each venue's own liquidation inside the cascade engine (issue 19 item 1).
//!
//! * On random accounts (seeded), the engine's liquidation step of a pool at a venue with a rule
//!   equals that rule's own result (`intermargin_liquidation::venue_style`) on the same account:
//!   the inputs are built here from the account, the rule is called directly, and the engine's
//!   one-step run must show the same closed notional, fund movement and bad debt.
//! * Aave: the rule's repaid debt and seized collateral equal an independent calculator written
//!   here from aave-v3-core `LiquidationLogic.sol` (`_calculateDebt`: close factor 50 % above HF
//!   0.95, 100 % at or below; `_calculateAvailableCollateralToLiquidate`: bonus and protocol fee,
//!   `PercentageMath` half-up rounding).
//! * Binance: the insurance fund takes a bankrupt position when it may (notional ≤ 100 % of the
//!   fund and the loss payable), else the position is auto-deleveraged at its bankruptcy price
//!   against profitable shorts in the order of LeveragePnL = max(0, uPnL)/max(1, wallet) ×
//!   MM/(wallet + uPnL) (Binance ADL FAQ; formula as quoted on dev.binance.vision), computed
//!   here by hand; a hedged account among them loses its hedge as computed by hand.
use intermargin_liquidation::venue_style::{aave, binance, deribit, dydx, hyperliquid};
use intermargin_liquidation::{ImpactParams, RuleBook};
use intermargin_model::Venue;
use intermargin_sim::config::Config;
use intermargin_sim::engine::Engine;
use intermargin_sim::paths::PathModel;
use intermargin_sim::population::{Leg, Pool, PopulationBook};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MM: f64 = 0.05;
const IMPACT: ImpactParams = ImpactParams {
    k: 0.02,
    alpha: 0.5,
    depth: 1_000_000.0,
};

fn one_venue(rule: &str, price: f64, fund: f64) -> Config {
    Config::from_toml(&format!(
        r#"
name = "rule"
seed = 1
paths = 1
steps = 1
dt_seconds = 60

[[assets]]
name = "ETH"
price = {price}
vol = 0.0

[[venues]]
name = "{rule}"
rule = "{rule}"
im_rate = 0.1
mm_rate = {MM}
insurance_fund = {fund}
depth = [{{ asset = "ETH", k = {k}, alpha = {alpha}, depth = {depth} }}]

[population]
accounts = 1
notional_median = 1.0

[impact]
resilience = 1.0
max_rounds = 1
buffer = 0.0
"#,
        k = IMPACT.k,
        alpha = IMPACT.alpha,
        depth = IMPACT.depth,
    ))
    .expect("config")
}

fn pool(account: usize, venue: usize, q: f64, p0: f64, collateral: f64) -> Pool {
    Pool {
        account,
        legs: vec![Leg {
            venue,
            asset: 0,
            q,
            p0,
        }],
        collateral,
        unified: false,
        charge: Default::default(),
    }
}

fn book(pools: Vec<Pool>) -> PopulationBook {
    PopulationBook {
        accounts: pools.iter().map(|p| p.account + 1).max().unwrap_or(0),
        pools,
        total_collateral: 0.0,
        total_notional: 0.0,
    }
}

/// What the rule says, from the test's own reading of the rule's result.
#[derive(Debug, Default)]
struct Expect {
    /// Base quantity closed (unsigned).
    closed: f64,
    fund_delta: f64,
    bad_debt: f64,
    uncovered: f64,
}

fn close(a: f64, b: f64, what: &str, case: usize) {
    let tol = 1e-6 * a.abs().max(b.abs()).max(1.0) + 0.011; // the fund moves in cents
    assert!(
        (a - b).abs() <= tol,
        "case {case}: {what}: engine {a} vs rule {b}"
    );
}

/// A random account around a mark of 100: long or short, entry ±30 %, collateral 1–30 % of notional.
fn random_account(rng: &mut ChaCha8Rng) -> (f64, f64, f64) {
    let notional: f64 = rng.gen_range(10_000.0..400_000.0);
    let p0: f64 = 100.0 * rng.gen_range(0.7..1.3);
    let side = if rng.gen::<bool>() { 1.0 } else { -1.0 };
    let c = notional * rng.gen_range(0.01..0.3);
    (side * notional / p0, p0, c)
}

fn rule_expectation(rule: &str, q: f64, p0: f64, c: f64, mark: f64, fund: f64) -> Expect {
    let rules = RuleBook::bundled().unwrap();
    let equity = c + q * (mark - p0);
    let mm = MM * q.abs() * mark;
    match rule {
        "deribit" => {
            let params = deribit::DeribitParams::from_rules(rules.get(Venue::Deribit)).unwrap();
            let pos = deribit::DeribitPosition {
                instrument: "x".into(),
                size: q,
                mark,
                mm_base: MM,
                mm_increase: 0.0,
                impact: IMPACT,
            };
            let r = deribit::liquidate_incremental(equity, &pos, &params, 60).unwrap();
            let mut e = Expect {
                closed: (q - r.size_after).abs(),
                fund_delta: r.fees,
                ..Default::default()
            };
            if r.size_after == 0.0 && r.equity_after < 0.0 {
                e.bad_debt = -r.equity_after;
                let paid = e.bad_debt.min(fund + r.fees);
                e.fund_delta -= paid;
                e.uncovered = e.bad_debt - paid;
            }
            e
        }
        "binance" => {
            let params = binance::BinanceParams::from_rules(rules.get(Venue::Binance)).unwrap();
            let pos = binance::BinancePosition {
                instrument: "x".into(),
                size: q,
                mark,
                maintenance: mm,
                impact: IMPACT,
            };
            let r = binance::liquidate_position(equity, &pos, fund, &params).unwrap();
            let closed = (q - r.size_after).abs();
            match r.takeover.as_ref().map(|t| t.by.as_str()) {
                Some("adl") => Expect {
                    closed,
                    fund_delta: 0.0,
                    bad_debt: (-equity).max(0.0),
                    uncovered: (-equity).max(0.0),
                },
                _ => Expect {
                    closed,
                    fund_delta: r.fund_delta,
                    bad_debt: (-r.fund_delta).max(0.0),
                    uncovered: 0.0,
                },
            }
        }
        "hyperliquid" => {
            let pos = hyperliquid::HlPosition {
                instrument: "x".into(),
                size: q,
                mark,
                maintenance: mm,
                impact: IMPACT,
            };
            let r =
                hyperliquid::liquidate_pool(equity, &[pos], rules.get(Venue::Hyperliquid)).unwrap();
            let mut size = q.abs();
            let mut eq = equity;
            for s in &r.steps {
                if s.method == "backstop" {
                    // The vault takes the rest and the margin, and offloads at its order's fill.
                    let fill = IMPACT.expected_price(mark, size * mark, q > 0.0);
                    let vault = eq - size * (mark - fill).abs();
                    // The liquidator vault may lose only `liquidator_max_loss_fraction` of its
                    // starting capital (here the fund at the start of the one-step run); a
                    // takeover that would lose more goes to auto-deleveraging.
                    let may_lose = fund
                        * rules
                            .get(Venue::Hyperliquid)
                            .liquidator_max_loss_fraction
                            .unwrap_or(1.0);
                    if vault < 0.0 && may_lose + vault < 0.0 {
                        return Expect {
                            closed: q.abs(),
                            bad_debt: (-eq).max(0.0),
                            uncovered: (-eq).max(0.0),
                            ..Default::default()
                        };
                    }
                    return Expect {
                        closed: q.abs(),
                        fund_delta: vault,
                        bad_debt: (-vault).max(0.0),
                        uncovered: 0.0,
                    };
                }
                size -= s.orders.iter().map(|o| o.size).sum::<f64>();
                eq = s.equity_after;
            }
            Expect {
                closed: q.abs() - size.max(0.0),
                bad_debt: r.auto_deleveraged,
                uncovered: r.auto_deleveraged,
                ..Default::default()
            }
        }
        "dydx" => {
            let usdc = |x: f64| (x * 1e6).round() as i128;
            let pos = dydx::DydxPosition {
                instrument: "x".into(),
                size: q,
                net_notional: usdc(q * mark),
                maintenance: usdc(mm),
            };
            let r = dydx::liquidate_subaccount(
                &[pos],
                usdc(equity),
                usdc(fund),
                &dydx::DydxConfig::default(),
            )
            .unwrap();
            let Some(c) = r.closes.first() else {
                return Expect::default();
            };
            if c.method == "deleveraging" {
                return Expect {
                    closed: q.abs(),
                    bad_debt: (-equity).max(0.0),
                    uncovered: (-equity).max(0.0),
                    ..Default::default()
                };
            }
            Expect {
                closed: q.abs(),
                fund_delta: c.insurance_fund_delta,
                bad_debt: (-c.insurance_fund_delta).max(0.0),
                uncovered: 0.0,
            }
        }
        _ => unreachable!("test rule"),
    }
}

#[test]
fn each_venue_step_in_the_engine_equals_the_venue_rule_on_random_accounts() {
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    for rule in ["deribit", "binance", "hyperliquid", "dydx"] {
        let mut liquidated = 0;
        for case in 0..150 {
            let (q, p0, c) = random_account(&mut rng);
            let fund = [0.0, 1_000.0, 1_000_000.0][rng.gen_range(0..3)];
            let mark = 100.0;
            let cfg = one_venue(rule, mark, fund);
            let e = Engine::new(
                &cfg,
                &book(vec![pool(0, 0, q, p0, c)]),
                PathModel::new(&cfg, None).unwrap(),
                false,
            );
            let r = e.run_path(0, None);
            let liquidatable = c + q * (mark - p0) < MM * q.abs() * mark;
            if !liquidatable {
                assert_eq!(
                    r.liquidated[0], 0.0,
                    "{rule} case {case}: healthy pool liquidated"
                );
                continue;
            }
            liquidated += 1;
            let want = rule_expectation(rule, q, p0, c, mark, fund);
            close(
                r.liquidated[0],
                want.closed * mark,
                &format!("{rule} liquidated"),
                case,
            );
            close(
                r.fund_end[0] - fund,
                want.fund_delta,
                &format!("{rule} fund"),
                case,
            );
            close(
                r.bad_debt[0],
                want.bad_debt,
                &format!("{rule} bad debt"),
                case,
            );
            close(
                r.uncovered[0],
                want.uncovered,
                &format!("{rule} uncovered"),
                case,
            );
        }
        assert!(
            liquidated > 30,
            "{rule}: only {liquidated} liquidatable draws"
        );
    }
}

/// aave-v3-core `LiquidationLogic`, written out: (debt repaid, collateral to the liquidator,
/// protocol fee), in base units. `percentMul`/`percentDiv` round half up.
/// One reserve of the call: balance, oracle price (8 decimals), unit (10^decimals).
#[derive(Clone, Copy)]
struct Side {
    balance: u128,
    price: u128,
    unit: u128,
}

fn aave_v3_core(hf_wad: u128, d: Side, c: Side, bonus: u128, fee_bps: u128) -> (f64, f64, f64) {
    let (debt_balance, debt_price, debt_unit) = (d.balance, d.price, d.unit);
    let (coll_balance, coll_price, coll_unit) = (c.balance, c.price, c.unit);
    // In f64 of exact integers where they fit, else rounded the contract's way in u128 parts.
    let pm = |x: u128, p: u128| (x * p + 5_000) / 10_000;
    let pd = |x: u128, p: u128| (x * 10_000 + p / 2) / p;
    let close_factor = if hf_wad > 950_000_000_000_000_000 {
        5_000
    } else {
        10_000
    };
    let max_debt = pm(debt_balance, close_factor);
    let mut debt = max_debt; // debtToCover = type(uint256).max
                             // baseCollateral = debtPrice · debt · collUnit / (collPrice · debtUnit), in 256 bits: split
                             // the product so it stays in 128 bits (prices ≤ 1e12, units ≤ 1e18 here).
    let base_coll = |d: u128| -> u128 {
        let num = ruint::aliases::U256::from(debt_price)
            * ruint::aliases::U256::from(d)
            * ruint::aliases::U256::from(coll_unit);
        let den = ruint::aliases::U256::from(coll_price) * ruint::aliases::U256::from(debt_unit);
        u128::try_from(num / den).unwrap()
    };
    let max_coll = pm(base_coll(debt), bonus);
    let coll = if max_coll > coll_balance {
        let num = ruint::aliases::U256::from(coll_price)
            * ruint::aliases::U256::from(coll_balance)
            * ruint::aliases::U256::from(debt_unit);
        let den = ruint::aliases::U256::from(debt_price) * ruint::aliases::U256::from(coll_unit);
        debt = pd(u128::try_from(num / den).unwrap(), bonus);
        coll_balance
    } else {
        max_coll
    };
    let fee = if fee_bps != 0 {
        pm(coll - pd(coll, bonus), fee_bps)
    } else {
        0
    };
    (debt as f64, (coll - fee) as f64, fee as f64)
}

#[test]
fn aave_in_the_engine_is_one_liquidation_call_matching_v3_core_close_factor_and_bonus() {
    let rules = RuleBook::bundled().unwrap();
    let a = rules.get(Venue::Aave);
    let bonus = ((1.0 + a.liquidation_fee) * 10_000.0).round() as u128;
    let fee_bps = (a.insurance_share * 10_000.0).round() as u128;
    let mut rng = ChaCha8Rng::seed_from_u64(1919);
    let (mut calls, mut full, mut half) = (0, 0, 0);
    for case in 0..300 {
        let (q, p0, c) = random_account(&mut rng);
        let mark = 100.0;
        let cfg = one_venue("aave", mark, 0.0);
        // The account as Aave sees it: a long is ETH collateral against a USD debt, a short USD
        // collateral against an ETH debt; LT 1 − mm or 1/(1 + mm).
        let (coll_units, coll_unit, coll_price, debt_units, debt_unit, debt_price, hf) = if q > 0.0
        {
            let debt = q * p0 - c;
            (
                (q * 1e18).round() as u128,
                10u128.pow(18),
                (mark * 1e8).round() as u128,
                (debt * 1e6).round() as u128,
                10u128.pow(6),
                100_000_000u128,
                q * mark * (1.0 - MM) / debt,
            )
        } else {
            let coll = c + q.abs() * p0;
            (
                (coll * 1e6).round() as u128,
                10u128.pow(6),
                100_000_000u128,
                (q.abs() * 1e18).round() as u128,
                10u128.pow(18),
                (mark * 1e8).round() as u128,
                coll / (1.0 + MM) / (q.abs() * mark),
            )
        };
        let e = Engine::new(
            &cfg,
            &book(vec![pool(0, 0, q, p0, c)]),
            PathModel::new(&cfg, None).unwrap(),
            false,
        );
        let r = e.run_path(0, None);
        if hf >= 1.0 {
            assert_eq!(r.liquidated[0], 0.0, "case {case}");
            continue;
        }
        let hf_wad = (hf * 1e18).floor() as u128;
        let (debt_repaid, coll_liq, fee) = aave_v3_core(
            hf_wad,
            Side {
                balance: debt_units,
                price: debt_price,
                unit: debt_unit,
            },
            Side {
                balance: coll_units,
                price: coll_price,
                unit: coll_unit,
            },
            bonus,
            fee_bps,
        );
        // v3.3 (the rule) adds the dust guard: a partial call must leave ≥ 1,000 USD of both.
        let base = |u: f64, unit: u128, price: u128| u / unit as f64 * price as f64 / 1e8;
        let debt_left = base(debt_units as f64 - debt_repaid, debt_unit, debt_price);
        let coll_left = base(coll_units as f64 - coll_liq - fee, coll_unit, coll_price);
        let partial = debt_repaid < debt_units as f64 && coll_liq + fee < coll_units as f64;
        if partial && (debt_left < 1_000.0 || coll_left < 1_000.0) {
            assert_eq!(r.liquidated[0], 0.0, "case {case}: the call reverts (dust)");
            continue;
        }
        calls += 1;
        if hf > 0.95 {
            half += 1;
        } else {
            full += 1;
        }
        // v3.3 burns what debt is left once every unit of collateral is seized (a deficit,
        // socialised): the whole position is then closed and that debt is bad debt.
        let all_seized = coll_liq + fee >= coll_units as f64;
        let burnt = if all_seized {
            debt_units as f64 - debt_repaid
        } else {
            0.0
        };
        let burnt_value = base(burnt, debt_unit, debt_price);
        assert!(
            (r.bad_debt[0] - burnt_value).abs() <= 1e-6 * burnt_value + 0.01,
            "case {case}: bad debt {} vs {burnt_value}",
            r.bad_debt[0]
        );
        // Closed: the seized ETH (long), or the ETH debt repaid and burnt (short).
        let traded_eth = if q > 0.0 {
            (coll_liq + fee) / 1e18
        } else {
            (debt_repaid + burnt) / 1e18
        };
        let tol = 1e-7 * traded_eth * mark + 1e-6;
        assert!(
            (r.liquidated[0] - traded_eth * mark).abs() <= tol,
            "case {case}: engine {} vs v3-core {} (q {q}, p0 {p0}, c {c}, hf {hf}, debt {debt_repaid}, coll {coll_liq}, fee {fee})",
            r.liquidated[0],
            traded_eth * mark
        );
        // The protocol fee, valued at the oracle, is the treasury's (the venue's fund here).
        let fee_value = fee / coll_unit as f64 * coll_price as f64 / 1e8;
        assert!(
            (r.fund_end[0] - fee_value).abs() <= 0.011,
            "case {case}: fee {} vs {fee_value}",
            r.fund_end[0]
        );
        // And the rule itself agrees with the independent calculator.
        let call = aave::liquidation_call(&aave::AaveCallInputs {
            total_collateral_base: (coll_units / coll_unit) * coll_price
                + (coll_units % coll_unit) * coll_price / coll_unit,
            total_debt_base: (debt_units / debt_unit) * debt_price
                + (debt_units % debt_unit) * debt_price / debt_unit,
            health_factor_wad: hf_wad,
            collateral: aave::AaveReserve {
                symbol: "c".into(),
                balance: coll_units,
                price: coll_price,
                decimals: if coll_unit == 10u128.pow(18) { 18 } else { 6 },
            },
            debt: aave::AaveReserve {
                symbol: "d".into(),
                balance: debt_units,
                price: debt_price,
                decimals: if debt_unit == 10u128.pow(18) { 18 } else { 6 },
            },
            liquidation_bonus_bps: bonus as u32,
            protocol_fee_bps: fee_bps as u32,
            debt_to_cover: u128::MAX,
        })
        .expect("not a dust case");
        let rel = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 2.0;
        // v3.3 converts the 50 % through the base currency: a few base units of difference.
        let d_unit_err = debt_unit as f64 / debt_price as f64 * 1e8;
        assert!(
            (call.debt_repaid as f64 - debt_repaid).abs() <= 2.0 * d_unit_err + 2.0,
            "case {case}: debt {} vs {debt_repaid}",
            call.debt_repaid
        );
        assert!(
            rel(call.protocol_fee as f64, fee)
                || (call.protocol_fee as f64 - fee).abs() <= 4.0 * d_unit_err * 1.1,
            "case {case}"
        );
    }
    assert!(
        calls > 50 && full > 5 && half > 5,
        "{calls} calls, {full} full, {half} half"
    );
}

const TWO_VENUES: &str = r#"
name = "binance-adl"
seed = 1
paths = 1
steps = 3
dt_seconds = 60

[[assets]]
name = "ETH"
price = 100.0
vol = 0.0

[[shocks]]
asset = "ETH"
start_step = 1
steps = 1
total_return = -0.3

[[shocks]]
asset = "ETH"
start_step = 2
steps = 1
total_return = -0.1

[[venues]]
name = "binance"
rule = "binance"
im_rate = 0.1
mm_rate = 0.05
insurance_fund = FUND
depth = [{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }]

[[venues]]
name = "b"
im_rate = 0.1
mm_rate = 0.05
insurance_fund = 1000.0
depth = [{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }]

[population]
accounts = 4
notional_median = 1.0

[impact]
resilience = 1.0
max_rounds = 2
buffer = 0.0
"#;

/// ETH 100 → 70 at step 1 → 63 at step 2. Account 0: long 10 at 100 with 100 on Binance:
/// at 70 its balance is 100 − 300 = −200, no partial close can help, its bankruptcy price is
/// 70 + 200/10 = 90. Shorts on Binance: account 1 (4 at 100, wallet 100; its hedge is a long of
/// 4 on venue b with 200), account 2 (20 with 2,000), account 3 (3 with 50).
fn binance_book() -> PopulationBook {
    book(vec![
        pool(0, 0, 10.0, 100.0, 100.0),
        pool(1, 0, -4.0, 100.0, 100.0),
        pool(1, 1, 4.0, 100.0, 200.0),
        pool(2, 0, -20.0, 100.0, 2_000.0),
        pool(3, 0, -3.0, 100.0, 50.0),
    ])
}

#[test]
fn binance_fund_takes_the_bankrupt_position_when_it_may_else_adl_in_leverage_pnl_order() {
    let p1 = 70.0;
    let bp = 70.0 + 200.0 / 10.0;
    // A fund of 10,000 may hold 700 of notional and pay 10 × (70 − 90) = −200: it takes it.
    let cfg = Config::from_toml(&TWO_VENUES.replace("FUND", "10000.0")).unwrap();
    let e = Engine::new(
        &cfg,
        &binance_book(),
        PathModel::new(&cfg, None).unwrap(),
        false,
    );
    let r = e.run_path(0, None);
    assert!(
        (r.fund_end[0] - (10_000.0 - 200.0)).abs() < 0.011,
        "{:?}",
        r.fund_end
    );
    assert!((r.bad_debt[0] - 200.0).abs() < 0.011);
    assert_eq!(r.uncovered[0], 0.0);
    assert!(r.adl_accounts.is_empty());
    assert_eq!(r.broken_hedge_notional, 0.0);

    // A fund of 500 may not hold 700 of notional: auto-deleveraging at 90.
    let cfg = Config::from_toml(&TWO_VENUES.replace("FUND", "500.0")).unwrap();
    let e = Engine::new(
        &cfg,
        &binance_book(),
        PathModel::new(&cfg, None).unwrap(),
        false,
    );
    let r = e.run_path(0, None);
    assert!((r.fund_end[0] - 500.0).abs() < 0.011);
    assert!((r.uncovered[0] - 200.0).abs() < 0.011);
    // LeveragePnL by hand at 70: uPnL/max(1, wallet) × MM/(wallet + uPnL), MM = 5 % × |q| × 70.
    let lev = |q: f64, wallet: f64| {
        let upnl = q * 30.0;
        upnl / wallet.max(1.0) * (0.05 * q * p1) / (wallet + upnl)
    };
    let mut ranked = [
        (1usize, 4.0, lev(4.0, 100.0)),
        (2, 20.0, lev(20.0, 2_000.0)),
        (3, 3.0, lev(3.0, 50.0)),
    ];
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
    // 3: 90/50 × 10.5/140 = 0.135; 1: 120/100 × 14/220 = 0.0764; 2: 600/2000 × 70/2600 = 0.0081.
    assert_eq!(ranked.map(|x| x.0), [3, 1, 2]);
    let mut left = 10.0;
    let mut want = Vec::new();
    for (acct, q, _) in ranked {
        let take = f64::min(left, q);
        if take > 0.0 {
            want.push((acct, take * bp));
        }
        left -= take;
    }
    assert_eq!(r.adl_accounts.len(), want.len(), "{:?}", r.adl_accounts);
    for (got, w) in r.adl_accounts.iter().zip(&want) {
        assert_eq!(got.0, w.0);
        assert!((got.1 - w.1).abs() < 1e-6, "{got:?} vs {w:?}");
    }
    // Account 1's 4 ETH short was its hedge: its 4 ETH long on b stays, 4 × 70 = 280 unhedged,
    // and falls to 63: 4 × 7 = 28 lost — booked to Binance, where the winning leg was deleveraged.
    assert!((r.broken_hedge_notional - 280.0).abs() < 1e-6);
    assert!(
        (r.broken_hedge_loss - 28.0).abs() < 1e-6,
        "{}",
        r.broken_hedge_loss
    );
    assert!((r.broken_hedge_notional_by_venue[0] - 280.0).abs() < 1e-6);
    assert!((r.broken_hedge_loss_by_venue[0] - 28.0).abs() < 1e-6);
    assert_eq!(r.broken_hedge_loss_by_venue[1], 0.0);
    assert_eq!(r.broken_hedge_accounts.len(), 1);
    let (acct, venue, notional, loss) = r.broken_hedge_accounts[0];
    assert_eq!((acct, venue), (1, 0));
    assert!((notional - 280.0).abs() < 1e-6 && (loss - 28.0).abs() < 1e-6);
}

#[test]
fn a_venue_local_oracle_moves_only_that_venues_liquidations() {
    // Binance's index 30 % low for ETH (as its USDe index on 10 October 2025): a long there is
    // liquidated, the same long on venue b is not.
    let text = TWO_VENUES.replace("FUND", "1000000.0").replace(
        "[population]",
        "[[oracle_failures]]\nvenue = \"binance\"\nasset = \"ETH\"\nstart_step = 0\nsteps = 3\nmode = \"offset\"\noffset = -0.3\n\n[population]",
    );
    let text = text
        .replace("total_return = -0.3", "total_return = -0.01")
        .replace("total_return = -0.1", "total_return = -0.01");
    let cfg = Config::from_toml(&text).unwrap();
    let b = book(vec![
        pool(0, 0, 10.0, 100.0, 200.0),
        pool(1, 1, 10.0, 100.0, 200.0),
    ]);
    let e = Engine::new(&cfg, &b, PathModel::new(&cfg, None).unwrap(), false);
    let r = e.run_path(0, None);
    assert!(r.liquidated[0] > 0.0, "{:?}", r.liquidated);
    assert_eq!(r.liquidated[1], 0.0);
}

#[test]
fn runs_with_venue_rules_are_deterministic_per_seed() {
    let text = r#"
name = "rules"
seed = 5
paths = 12
steps = 60

[[assets]]
name = "ETH"
price = 2000.0
vol = 1.2
jump_intensity = 300.0
jump_mean = -0.04
jump_std = 0.04

[[shocks]]
asset = "ETH"
start_step = 5
steps = 30
total_return = -0.35

[[venues]]
name = "deribit"
rule = "deribit"
im_rate = 0.04
mm_rate = 0.02
insurance_fund = 5000.0
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 2000000.0 }]

[[venues]]
name = "binance"
rule = "binance"
im_rate = 0.05
mm_rate = 0.03
insurance_fund = 2000.0
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 5000000.0 }]

[[venues]]
name = "hyperliquid"
rule = "hyperliquid"
im_rate = 0.05
mm_rate = 0.025
insurance_fund = 5000.0
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 1000000.0 }]

[[venues]]
name = "dydx"
rule = "dydx"
im_rate = 0.05
mm_rate = 0.03
insurance_fund = 1000.0
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 500000.0 }]

[[venues]]
name = "aave"
rule = "aave"
im_rate = 0.2
mm_rate = 0.15
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 3000000.0 }]

[population]
accounts = 400
notional_median = 30000.0
long_fraction = 0.7
hub_fraction = 0.3
mean_cushion = 0.3

[impact]
resilience = 0.1
max_rounds = 5
buffer = 0.05
"#;
    let c = Config::from_toml(text).expect("config");
    let a = intermargin_sim::simulate(&c, None, &|_| {}).expect("run");
    let b = intermargin_sim::simulate(&c, None, &|_| {}).expect("run");
    let ja = serde_json::to_string(&a.summary).unwrap();
    assert_eq!(ja, serde_json::to_string(&b.summary).unwrap());
    let w = &a.summary.without_breakers;
    assert!(
        w.venues.iter().take(5).all(|v| v.mean_liquidated > 0.0),
        "{ja}"
    );
}

/// One step at Hyperliquid: a long (10 at 100, collateral 95) marked at 90 has equity −5 below
/// 2/3 of its maintenance (45), so the liquidator vault takes it; a profitable short (−10 at 100)
/// is the deleveraging counterparty.
fn hl_takeover(fund: f64) -> intermargin_sim::engine::PathResult {
    let cfg = one_venue("hyperliquid", 90.0, fund);
    let b = book(vec![
        pool(0, 0, 10.0, 100.0, 95.0),
        pool(1, 0, -10.0, 100.0, 1000.0),
    ]);
    Engine::new(&cfg, &b, PathModel::new(&cfg, None).unwrap(), false).run_path(0, None)
}

#[test]
fn hyperliquids_liquidator_vault_deleverages_past_its_loss_threshold_not_only_when_empty() {
    let rules = RuleBook::bundled().unwrap();
    let f = rules
        .get(Venue::Hyperliquid)
        .liquidator_max_loss_fraction
        .expect("venues.toml states the threshold");
    // By hand: the vault sells the 10 at the book's fill and keeps the −5 of equity.
    let fill = IMPACT.expected_price(90.0, 900.0, true);
    let vault = -5.0 - 10.0 * (90.0 - fill);
    let loss = -vault;
    // A vault whose threshold covers the loss pays it.
    let big = 4.0 * loss / f;
    let r = hl_takeover(big);
    assert!(
        (r.fund_end[0] - (big + vault)).abs() < 0.011,
        "{:?}",
        r.fund_end
    );
    assert_eq!(r.adl[0], 0.0);
    assert_eq!(r.uncovered[0], 0.0);
    // A vault holding more than the loss, but whose threshold does not cover it: auto-deleveraging
    // at the bankruptcy price 90 − (−5)/10 = 90.5 (the short's 10 closed there: 905), the fund
    // untouched, the −5 uncovered.
    let small = 0.9 * loss / f;
    assert!(
        small > loss || f == 1.0,
        "the threshold must bind below the vault's capital"
    );
    let r = hl_takeover(small);
    assert!((r.fund_end[0] - small).abs() < 0.011, "{:?}", r.fund_end);
    assert!((r.adl[0] - 905.0).abs() < 1e-6, "{:?}", r.adl);
    assert!((r.uncovered[0] - 5.0).abs() < 1e-9, "{:?}", r.uncovered);
    assert!((r.liquidated[0] - 900.0).abs() < 1e-6, "{:?}", r.liquidated);
}
