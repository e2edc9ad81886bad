//! Auto-deleveraging and broken hedges, every figure computed by hand below.
//!
//! ETH at 100, no volatility; it falls 30 % over steps 1–3 (a factor 0.7^(1/3) a step) and 10 %
//! more over steps 4–6, ending at 63. Venue `a` auto-deleverages with an empty insurance fund;
//! venue `b` does not.
//! * Account 0: long 10 ETH on `a` at 100 with 100 of collateral (bankrupt at 90). At step 1 the
//!   price is 100·0.7^(1/3) = 88.7904: it is liquidated with equity 100 + 10·(88.7904 − 100) =
//!   −12.096, uncovered by the fund, so 10 ETH must be deleveraged at the bankruptcy price
//!   88.7904 + 12.096/10 = 90.
//! * Account 1 (a hedged book): short 4 ETH on `a` (collateral 100) and long 4 ETH on `b`
//!   (collateral 200). Its short scores (44.8/100) × 355.2/144.8 ≈ 1.10 — first in the queue.
//! * Account 2: short 20 ETH on `a` with 2,000 (score (224/2000) × 1775.8/2224.2 ≈ 0.09).
//!
//! So 4 ETH of account 1 and 6 ETH of account 2 are closed at 90: 360 + 540 = 900 deleveraged.
//! Account 1's long on `b` is left unhedged: 4 × 88.7904 = 355.16 of notional, and from 88.7904
//! to 63 it loses 4 × 25.7904 = 103.16, the loss the broken hedge causes.
use intermargin_sim::config::Config;
use intermargin_sim::engine::Engine;
use intermargin_sim::paths::PathModel;
use intermargin_sim::population::{Leg, Pool, PopulationBook};

fn config(adl: bool) -> Config {
    Config::from_toml(&format!(
        r#"
name = "adl"
seed = 1
paths = 1
steps = 8

[[assets]]
name = "ETH"
price = 100.0
vol = 0.0

[[shocks]]
asset = "ETH"
start_step = 1
steps = 3
total_return = -0.3

[[shocks]]
asset = "ETH"
start_step = 4
steps = 3
total_return = -0.1

[[venues]]
name = "a"
im_rate = 0.1
mm_rate = 0.05
auto_deleverage = {adl}
depth = [{{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }}]

[[venues]]
name = "b"
im_rate = 0.1
mm_rate = 0.05
insurance_fund = 1000.0
depth = [{{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }}]

[population]
accounts = 3
notional_median = 1.0

[impact]
resilience = 1.0
max_rounds = 2
buffer = 0.05
"#
    ))
    .expect("config")
}

fn pool(account: usize, venue: usize, q: f64, collateral: f64) -> Pool {
    Pool {
        account,
        legs: vec![Leg {
            venue,
            asset: 0,
            q,
            p0: 100.0,
        }],
        collateral,
        unified: false,
        charge: Default::default(),
    }
}

fn book() -> PopulationBook {
    PopulationBook {
        pools: vec![
            pool(0, 0, 10.0, 100.0),
            pool(1, 0, -4.0, 100.0),
            pool(1, 1, 4.0, 200.0),
            pool(2, 0, -20.0, 2000.0),
        ],
        total_collateral: 0.0,
        total_notional: 0.0,
        accounts: 3,
    }
}

#[test]
fn a_deleveraged_winning_leg_breaks_the_hedge_by_hand() {
    let c = config(true);
    let e = Engine::new(&c, &book(), PathModel::new(&c, None).expect("paths"), false);
    let r = e.run_path(0, None);
    let p1 = 100.0 * 0.7f64.powf(1.0 / 3.0);
    let deficit = 10.0 * (100.0 - p1) - 100.0;
    assert!((deficit - 12.096).abs() < 1e-3);
    // The fund (0) covers nothing: all of it is uncovered, and deleveraged rather than socialised.
    assert!((r.bad_debt[0] - deficit).abs() < 0.01, "{:?}", r.bad_debt);
    assert!((r.uncovered[0] - deficit).abs() < 0.01);
    assert!((r.adl[0] - 900.0).abs() < 0.01, "{:?}", r.adl);
    assert_eq!(r.adl[1], 0.0);
    // Ranked by P&L ratio × leverage: account 1 first (4 ETH), then account 2 (6 ETH).
    assert_eq!(r.adl_accounts.len(), 2);
    assert_eq!(r.adl_accounts[0].0, 1);
    assert!((r.adl_accounts[0].1 - 360.0).abs() < 0.01);
    assert_eq!(r.adl_accounts[1].0, 2);
    assert!((r.adl_accounts[1].1 - 540.0).abs() < 0.01);
    // Account 1's hedge is broken: its 4 ETH long on `b` is left alone and falls to 63.
    assert!((r.broken_hedge_notional - 4.0 * p1).abs() < 0.01);
    assert!(
        (r.broken_hedge_loss - 4.0 * (p1 - 63.0)).abs() < 0.01,
        "{}",
        r.broken_hedge_loss
    );
    // Account 2 holds no hedge: deleveraged, nothing broken. The broken hedge is booked to `a`,
    // where the winning leg was deleveraged, and to account 1.
    assert!((r.broken_hedge_notional_by_venue[0] - 4.0 * p1).abs() < 0.01);
    assert!((r.broken_hedge_loss_by_venue[0] - 4.0 * (p1 - 63.0)).abs() < 0.01);
    assert_eq!(r.broken_hedge_loss_by_venue[1], 0.0);
    assert_eq!(r.broken_hedge_accounts.len(), 1);
    assert_eq!(
        (r.broken_hedge_accounts[0].0, r.broken_hedge_accounts[0].1),
        (1, 0)
    );
}

#[test]
fn without_auto_deleveraging_the_loss_is_socialised_and_no_hedge_breaks() {
    let c = config(false);
    let e = Engine::new(&c, &book(), PathModel::new(&c, None).expect("paths"), false);
    let r = e.run_path(0, None);
    let p1 = 100.0 * 0.7f64.powf(1.0 / 3.0);
    assert!((r.uncovered[0] - (10.0 * (100.0 - p1) - 100.0)).abs() < 0.01);
    assert_eq!(r.adl, vec![0.0, 0.0]);
    assert!(r.adl_accounts.is_empty());
    assert_eq!(r.broken_hedge_notional, 0.0);
    assert_eq!(r.broken_hedge_loss, 0.0);
}

#[test]
fn the_deleveraged_counterparties_absorb_exactly_the_uncovered_loss() {
    // Conservation: the counterparties are closed at 90 instead of the market 88.7904, so they
    // give up (90 − 88.7904) × 10 = 12.096, the deficit.
    let c = config(true);
    let e = Engine::new(&c, &book(), PathModel::new(&c, None).expect("paths"), false);
    let r = e.run_path(0, None);
    let p1 = 100.0 * 0.7f64.powf(1.0 / 3.0);
    let given_up = (90.0 - p1) * 10.0;
    assert!((given_up - r.uncovered[0]).abs() < 0.01);
}

#[test]
fn the_summary_forecasts_deleveraging_and_broken_hedges_from_the_paths() {
    // A crash on hedged books (half the accounts hold a leg on two venues, siloed) at venues
    // with small funds: the summary's forecast is the paths' own frequencies and means.
    let text = r#"
name = "adl-run"
seed = 9
paths = 40
steps = 120
dt_seconds = 60

[[assets]]
name = "ETH"
price = 2000.0
vol = 1.5
jump_intensity = 200.0
jump_mean = -0.05
jump_std = 0.05

[[shocks]]
asset = "ETH"
start_step = 10
steps = 60
total_return = -0.4

[[venues]]
name = "a"
model_venue = "binance"
im_rate = 0.05
mm_rate = 0.03
liquidation_fee = 0.01
insurance_fund = 1000.0
auto_deleverage = true
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 1000000.0 }]

[[venues]]
name = "b"
model_venue = "bybit"
im_rate = 0.05
mm_rate = 0.03
liquidation_fee = 0.01
insurance_fund = 1000.0
auto_deleverage = true
depth = [{ asset = "ETH", k = 0.05, alpha = 0.5, depth = 1000000.0 }]

[population]
accounts = 300
notional_median = 20000.0
long_fraction = 0.7
hub_fraction = 0.5
hub_hedge_ratio = 1.0
mean_cushion = 0.3

[impact]
resilience = 0.1
max_rounds = 5
buffer = 0.05
"#;
    let c = Config::from_toml(text).expect("config");
    let out = intermargin_sim::simulate(&c, None, &|_| {}).expect("run");
    let book = intermargin_sim::population::generate(&c).expect("book");
    let e = Engine::new(&c, &book, PathModel::new(&c, None).expect("paths"), false);
    let paths = intermargin_sim::run::run_paths(&e, c.paths, &|_| {});
    let n = paths.len() as f64;
    let w = &out.summary.without_breakers;
    let prob = paths
        .iter()
        .filter(|r| r.broken_hedge_notional > 0.0)
        .count() as f64
        / n;
    let loss = paths.iter().map(|r| r.broken_hedge_loss).sum::<f64>() / n;
    assert!(prob > 0.0, "the crash must deleverage some hedged leg");
    assert!((w.broken_hedges.prob - prob).abs() < 1e-12);
    assert!((w.broken_hedges.mean_loss - loss).abs() < 1e-6 * loss.max(1.0));
    for (v, vs) in w.venues.iter().take(2).enumerate() {
        let p = paths.iter().filter(|r| r.adl[v] > 0.0).count() as f64 / n;
        assert!((vs.prob_adl - p).abs() < 1e-12, "{}", vs.venue);
    }
    // Every account in the forecast was deleveraged on at least one path, most likely first.
    let a = &w.broken_hedges.accounts;
    assert!(!a.is_empty() && a.len() <= 10);
    assert!(a.windows(2).all(|x| x[0].prob_adl >= x[1].prob_adl));
    let top = a[0].account;
    let k = paths
        .iter()
        .filter(|r| r.adl_accounts.iter().any(|x| x.0 == top))
        .count() as f64;
    assert!((a[0].prob_adl - k / n).abs() < 1e-12);
    // Per venue and per account, the unhedged exposure and its loss are the paths' own means.
    let mut venue_loss = 0.0;
    for (v, vs) in w.venues.iter().take(2).enumerate() {
        let p = paths
            .iter()
            .filter(|r| r.broken_hedge_notional_by_venue[v] > 0.0)
            .count() as f64
            / n;
        let x = paths
            .iter()
            .map(|r| r.broken_hedge_notional_by_venue[v])
            .sum::<f64>()
            / n;
        let l = paths
            .iter()
            .map(|r| r.broken_hedge_loss_by_venue[v])
            .sum::<f64>()
            / n;
        assert!((vs.prob_broken_hedge - p).abs() < 1e-12, "{}", vs.venue);
        assert!((vs.mean_unhedged_notional - x).abs() < 1e-6 * x.max(1.0));
        assert!((vs.mean_broken_hedge_loss - l).abs() < 1e-6 * l.max(1.0));
        venue_loss += vs.mean_broken_hedge_loss;
    }
    assert!((venue_loss - w.broken_hedges.mean_loss).abs() < 1e-6 * venue_loss.max(1.0));
    for acc in a {
        let l = paths
            .iter()
            .flat_map(|r| r.broken_hedge_accounts.iter())
            .filter(|x| x.0 == acc.account)
            .map(|x| x.3)
            .sum::<f64>()
            / n;
        assert!((acc.mean_broken_hedge_loss - l).abs() < 1e-9 * l.max(1.0));
    }
    assert!(
        a.iter().any(|x| x.prob_broken_hedge > 0.0),
        "some account among the most deleveraged holds a hedge"
    );
}
