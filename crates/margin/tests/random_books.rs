//! Randomized books against independent calculators written here from each venue's
//! documentation (issue 15, "randomized books against an independent calculator").
//!
//! The calculators do not share code or formulas with the rules under test:
//! * maintenance is summed slice by slice over the bracket table (each part of the notional
//!   charged at its own bracket's rate), where the rules use `notional × rate − maintenance
//!   amount`; the two agree only if the maintenance amounts follow the bracket recursion;
//! * liquidation prices are found by bisection on the documented definition (margin balance =
//!   maintenance margin, the bracket re-chosen at every trial price), where the rules use the
//!   venues' closed forms.
mod venue_support;

use intermargin_margin::venues::binance::BinanceUsdm;
use intermargin_margin::venues::bybit::BybitRiskLimit;
use intermargin_margin::venues::deribit::DeribitStandard;
use intermargin_margin::venues::hyperliquid::HyperliquidPerps;
use intermargin_margin::{MarginModel, VenueMargin};
use intermargin_model::{Market, Settlement, SizeUnit, Venue};
use proptest::prelude::*;
use serde_json::json;
use venue_support::*;

/// A bracket: from `floor` (inclusive) to `cap` (exclusive) of notional, at `mmr`.
#[derive(Clone, Copy)]
struct Bracket {
    floor: f64,
    cap: f64,
    mmr: f64,
}

/// Maintenance of a position of notional `n`: each slice of `n` at its own bracket's rate; past
/// the last cap the last rate goes on.
fn sliced_maintenance(table: &[Bracket], n: f64) -> f64 {
    let last = table.len() - 1;
    table
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let top = if i == last { n } else { n.min(b.cap) };
            (top - b.floor).max(0.0) * b.mmr
        })
        .sum()
}

/// The root of a continuous monotone `g` on the positive prices, or `None` when `g` keeps its
/// sign on (0, 1e12].
fn root(g: impl Fn(f64) -> f64) -> Option<f64> {
    bisect(&g, 1e-9, 1e12)
}

/// Liquidation prices agree to the cent, or relatively to 1e-9 for prices in the millions.
fn same_price(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => {
            let tol = 0.01f64.max(w.abs() * 1e-9);
            assert!((g - w).abs() <= tol, "{what}: got {g}, want {w}");
        }
        (None, None) => {}
        // A root a hair above zero or beyond 1e12 is the same as none.
        (Some(g), None) | (None, Some(g)) if !(1e-6..1e11).contains(&g) => {}
        _ => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

fn close_rel(got: f64, want: f64, what: &str) {
    let tol = 1e-9f64.max(want.abs() * 1e-12);
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn pool<'a>(out: &'a [VenueMargin], name: &str) -> &'a VenueMargin {
    out.iter()
        .find(|v| v.pool == name)
        .unwrap_or_else(|| panic!("no pool {name}: {out:?}"))
}

// ---------------------------------------------------------------------------------------------
// Binance USDⓈ-M: maintenance by bracket, initial = notional / leverage, cross equity = wallet +
// unrealised P&L; liquidation when the margin balance meets the maintenance margin
// (https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93).

/// BTCUSDT brackets as published (notional floor, cap, maintenance rate); the historical table
/// the FAQ's example uses (source in params/binance.toml). Written here without maintenance
/// amounts: the calculator slices.
const BINANCE_BTC: [(f64, f64, f64); 10] = [
    (0.0, 50_000.0, 0.004),
    (50_000.0, 250_000.0, 0.005),
    (250_000.0, 1_000_000.0, 0.01),
    (1_000_000.0, 10_000_000.0, 0.025),
    (10_000_000.0, 20_000_000.0, 0.05),
    (20_000_000.0, 50_000_000.0, 0.10),
    (50_000_000.0, 100_000_000.0, 0.125),
    (100_000_000.0, 200_000_000.0, 0.15),
    (200_000_000.0, 300_000_000.0, 0.25),
    (300_000_000.0, 500_000_000.0, 0.50),
];

/// A second symbol whose brackets arrive as `GET /fapi/v1/leverageBracket` rows (camelCase, no
/// `cum`: the rules derive it), so both table sources are exercised.
const BINANCE_ETH: [(f64, f64, f64); 5] = [
    (0.0, 10_000.0, 0.0065),
    (10_000.0, 100_000.0, 0.0075),
    (100_000.0, 500_000.0, 0.01),
    (500_000.0, 1_000_000.0, 0.02),
    (1_000_000.0, 5_000_000.0, 0.05),
];

fn brackets(rows: &[(f64, f64, f64)]) -> Vec<Bracket> {
    rows.iter()
        .map(|&(floor, cap, mmr)| Bracket { floor, cap, mmr })
        .collect()
}

fn binance_market() -> Market {
    let mut m = market();
    let rows: Vec<_> = BINANCE_ETH
        .iter()
        .enumerate()
        .map(|(i, (f, c, r))| {
            json!({"bracket": i + 1, "initialLeverage": 50, "notionalFloor": f,
                   "notionalCap": c, "maintMarginRatio": r})
        })
        .collect();
    m.venue_params
        .insert("binance:ETHUSDT".into(), json!({ "brackets": rows }));
    m
}

/// One random Binance position: (size, entry, mark, leverage).
fn binance_leg(max_size: f64, lo: f64, hi: f64) -> impl Strategy<Value = (f64, f64, f64, f64)> {
    (
        prop_oneof![(0.001..max_size), (-max_size..-0.001)],
        lo..hi,
        lo..hi,
        1u32..=125,
    )
        .prop_map(|(s, e, m, l)| (s, e, m, f64::from(l)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One-way cross book of BTCUSDT and ETHUSDT: MM, IM, equity and each symbol's
    /// liquidation price (the other symbol's maintenance and P&L held at its mark).
    #[test]
    fn binance_cross_one_way(
        wallet_micro in 0i64..3_000_000_000_000,
        btc in binance_leg(60.0, 10_000.0, 120_000.0),
        eth in binance_leg(800.0, 500.0, 6_000.0),
    ) {
        let wallet = wallet_micro as f64 / 1e6;
        let legs = [
            ("BTCUSDT", "BTC", btc, brackets(&BINANCE_BTC)),
            ("ETHUSDT", "ETH", eth, brackets(&BINANCE_ETH)),
        ];
        let mut m = binance_market();
        let mut positions = Vec::new();
        for (sym, coin, (s, e, mk, l), _) in &legs {
            let ins = linear_perp(Venue::Binance, sym, coin, "USDT");
            m.mark_prices.insert(ins.id(), *mk);
            let mut p = pos(ins, *s, Some(*e));
            p.leverage = Some(*l);
            positions.push(p);
        }
        let acc = account(
            vec![coll(Venue::Binance, "USDT", wallet, 6)],
            positions,
        );
        let out = BinanceUsdm::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let cross = pool(&out, "cross");

        let mm: Vec<f64> = legs
            .iter()
            .map(|(_, _, (s, _, mk, _), t)| sliced_maintenance(t, s.abs() * mk))
            .collect();
        let upnl: Vec<f64> = legs.iter().map(|(_, _, (s, e, mk, _), _)| s * (mk - e)).collect();
        let im: f64 = legs.iter().map(|(_, _, (s, _, mk, l), _)| s.abs() * mk / l).sum();
        close_rel(cross.maintenance_margin, mm[0] + mm[1], "MM");
        close_rel(cross.initial_margin, im, "IM");
        close_rel(cross.equity, wallet + upnl[0] + upnl[1], "equity");
        for (i, (sym, _, (s, e, _, _), t)) in legs.iter().enumerate() {
            let o = 1 - i;
            // Margin balance − maintenance with this symbol at price x.
            let g = |x: f64| wallet + upnl[o] + s * (x - e) - mm[o] - sliced_maintenance(t, s.abs() * x);
            let got = cross.positions[i].liquidation_price;
            same_price(got, root(g), sym);
        }
    }

    /// An isolated position liquidates when its isolated wallet plus P&L meets its maintenance;
    /// the cross pool keeps the rest of the wallet.
    #[test]
    fn binance_isolated(
        wallet_micro in 0i64..3_000_000_000_000,
        (s, e, mk, l) in binance_leg(60.0, 10_000.0, 120_000.0),
        posted_frac in 0.002f64..1.5,
    ) {
        let wallet = wallet_micro as f64 / 1e6;
        let t = brackets(&BINANCE_BTC);
        let ins = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
        let mut m = binance_market();
        m.mark_prices.insert(ins.id(), mk);
        let posted = s.abs() * e * posted_frac;
        let mut p = pos(ins.clone(), s, Some(e));
        p.leverage = Some(l);
        p.isolated = true;
        p.isolated_margin = Some(posted);
        let acc = account(vec![coll(Venue::Binance, "USDT", wallet, 6)], vec![p]);
        let out = BinanceUsdm::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let iso = pool(&out, &ins.isolated_pool(s > 0.0));
        close_rel(pool(&out, "cross").equity, wallet - posted, "cross equity");
        close_rel(iso.equity, posted + s * (mk - e), "isolated equity");
        close_rel(iso.maintenance_margin, sliced_maintenance(&t, s.abs() * mk), "MM");
        close_rel(iso.initial_margin, s.abs() * mk / l, "IM");
        let g = |x: f64| posted + s * (x - e) - sliced_maintenance(&t, s.abs() * x);
        same_price(iso.positions[0].liquidation_price, root(g), "isolated LP");
    }
}

// ---------------------------------------------------------------------------------------------
// Bybit linear perpetuals under risk limits: maintenance = each slice of the position value at
// its tier's rate (https://www.fourbit.net/en/help-center/article/Maintenance-Margin-USDT-Contract,
// mirror of Bybit's help centre), initial = value / leverage, cross equity = wallet + P&L.

/// A risk-limit table in the shape of `GET /v5/market/risk-limit` rows (adapter form,
/// fractions): tier caps every 2,000,000 USDT, rate +0.5 % per tier.
fn bybit_tiers() -> Vec<Bracket> {
    (0..8)
        .map(|i| Bracket {
            floor: 2_000_000.0 * i as f64,
            cap: 2_000_000.0 * (i + 1) as f64,
            mmr: 0.005 * (i + 1) as f64,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bybit_cross(
        wallet_micro in 0i64..5_000_000_000_000,
        size in prop_oneof![(0.001f64..150.0), (-150.0f64..-0.001)],
        entry in 20_000.0f64..100_000.0,
        mark in 20_000.0f64..100_000.0,
        lev in 1u32..=100,
    ) {
        let wallet = wallet_micro as f64 / 1e6;
        let t = bybit_tiers();
        let rows: Vec<_> = t
            .iter()
            .map(|b| json!({"risk_limit_value": b.cap, "maintenance_margin_rate": b.mmr,
                            "initial_margin_rate": 0.01, "max_leverage": 100}))
            .collect();
        let ins = linear_perp(Venue::Bybit, "BTCUSDT", "BTC", "USDT");
        let mut m = market();
        m.mark_prices.insert(ins.id(), mark);
        m.venue_params.insert("bybit:BTCUSDT".into(), json!({ "risk_limits": rows }));
        let mut p = pos(ins, size, Some(entry));
        p.leverage = Some(f64::from(lev));
        let acc = account(vec![coll(Venue::Bybit, "USDT", wallet, 6)], vec![p]);
        let out = BybitRiskLimit::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let cross = pool(&out, "cross");
        let value = size.abs() * mark;
        close_rel(cross.maintenance_margin, sliced_maintenance(&t, value), "MM");
        close_rel(cross.initial_margin, value / f64::from(lev), "IM");
        close_rel(cross.equity, wallet + size * (mark - entry), "equity");
        // Bybit documents no tier re-selection for the liquidation price; where the price's
        // value stays in the mark's tier both readings agree, so compare there only.
        let g = |x: f64| wallet + size * (x - entry) - sliced_maintenance(&t, size.abs() * x);
        let want = root(g);
        let tier_of = |v: f64| t.iter().position(|b| v < b.cap).unwrap_or(t.len() - 1);
        if want.map(|w| tier_of(size.abs() * w)) == Some(tier_of(value)) {
            same_price(cross.positions[0].liquidation_price, want, "LP");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hyperliquid: maintenance = notional / (2 × max leverage) of the margin tier, initial =
// notional / leverage, cross account value = wallet + P&L; liquidation when the account value
// meets the maintenance margin (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations).
// Max leverage (tier 1) from the margin-tiers page: BTC 40×, ETH 25×.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hyperliquid_cross(
        wallet_micro in 0i64..5_000_000_000_000,
        btc in binance_leg(20.0, 20_000.0, 120_000.0),
        eth in binance_leg(300.0, 800.0, 6_000.0),
    ) {
        let wallet = wallet_micro as f64 / 1e6;
        let legs = [("BTC", 40.0, btc), ("ETH", 25.0, eth)];
        let mut m = market();
        let mut positions = Vec::new();
        for (coin, max_lev, (s, e, mk, l)) in &legs {
            let ins = linear_perp(Venue::Hyperliquid, coin, coin, "USDC");
            m.mark_prices.insert(ins.id(), *mk);
            let mut p = pos(ins, *s, Some(*e));
            p.leverage = Some(l.min(*max_lev));
            positions.push(p);
        }
        let acc = account(vec![coll(Venue::Hyperliquid, "USDC", wallet, 6)], positions);
        let out = HyperliquidPerps::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let cross = pool(&out, "cross");
        let mm: Vec<f64> = legs.iter().map(|(_, ml, (s, _, mk, _))| s.abs() * mk / (2.0 * ml)).collect();
        let upnl: Vec<f64> = legs.iter().map(|(_, _, (s, e, mk, _))| s * (mk - e)).collect();
        let im: f64 = legs.iter().map(|(_, ml, (s, _, mk, l))| s.abs() * mk / l.min(*ml)).sum();
        close_rel(cross.maintenance_margin, mm[0] + mm[1], "MM");
        close_rel(cross.initial_margin, im, "IM");
        close_rel(cross.equity, wallet + upnl[0] + upnl[1], "equity");
        for (i, &(coin, ml, (s, e, _, _))) in legs.iter().enumerate() {
            let o = 1 - i;
            let g = |x: f64| wallet + upnl[o] + s * (x - e) - mm[o] - s.abs() * x / (2.0 * ml);
            same_price(cross.positions[i].liquidation_price, root(g), coin);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deribit inverse futures (standard margin): with q the position in BTC at the mark,
// IM = |q|·(2 % + |q|·0.005 %), MM = |q|·(1 % + |q|·0.005 %) in BTC
// (https://support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022); equity =
// balance + USD face × (1/entry − 1/mark). Liquidation: equity = maintenance, q re-valued at
// the trial price.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn deribit_inverse_perpetual(
        balance_sat in 1i64..10_000_000_000,
        contracts in prop_oneof![(1i64..200_000), (-200_000i64..-1)],
        entry in 10_000.0f64..120_000.0,
        mark in 10_000.0f64..120_000.0,
    ) {
        let balance = balance_sat as f64 / 1e8;
        let ins = perp(Venue::Deribit, "BTC-PERPETUAL", "BTC", "BTC", Settlement::Inverse, 10.0, SizeUnit::Quote);
        let mut m = market();
        m.fx.insert("BTC".into(), mark);
        m.mark_prices.insert(ins.id(), mark);
        let acc = account(
            vec![coll(Venue::Deribit, "BTC", balance, 8)],
            vec![pos(ins, contracts as f64, Some(entry))],
        );
        let out = DeribitStandard::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let v = &out[0];
        let face = contracts as f64 * 10.0;
        let q = |x: f64| (face / x).abs();
        close_rel(v.initial_margin, q(mark) * (0.02 + q(mark) * 0.00005), "IM");
        close_rel(v.maintenance_margin, q(mark) * (0.01 + q(mark) * 0.00005), "MM");
        close_rel(v.equity, balance + face * (1.0 / entry - 1.0 / mark), "equity");
        let g = |x: f64| balance + face * (1.0 / entry - 1.0 / x) - q(x) * (0.01 + q(x) * 0.00005);
        // Only the root on the losing side of the mark is a liquidation price (the
        // maintenance grows as the price falls, so a long can have a second, meaningless root
        // far below).
        if g(mark) > 0.0 {
            let want = if face > 0.0 { bisect(&g, 1e-6, mark) } else { bisect(&g, mark, 1e12) };
            same_price(v.positions[0].liquidation_price, want, "LP");
        }
    }
}

/// Bisection of `g` on `[lo, hi]` where it changes sign.
fn bisect(g: &impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> Option<f64> {
    let glo = g(lo);
    if glo.signum() == g(hi).signum() {
        return None;
    }
    for _ in 0..400 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if g(mid).signum() == glo.signum() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Found by `binance_isolated`: an isolated long whose mark lies in a high bracket but whose
/// liquidation price lies in the first. Long 10 BTCUSDT @ 10,000, mark 90,000 (notional
/// 900,000: bracket 1 %, cum 1,300), isolated wallet 99,400. In the mark's bracket the formula
/// gives (99,400 + 1,300 − 100,000) / (10 × 0.01 − 10) < 0, yet at the first bracket (0.4 %, cum
/// 0) LP = (99,400 − 100,000) / (10 × 0.004 − 10) = 600 / 9.96 = 60.240963…, a notional of 602.41
/// that is inside that bracket: Binance liquidates there (formerly reported as no price).
#[test]
fn binance_isolated_liquidation_in_a_lower_bracket_than_the_mark() {
    let ins = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 90_000.0);
    let mut p = pos(ins.clone(), 10.0, Some(10_000.0));
    p.leverage = Some(1.0);
    p.isolated = true;
    p.isolated_margin = Some(99_400.0);
    let acc = account(vec![coll(Venue::Binance, "USDT", 100_000.0, 6)], vec![p]);
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let lp = pool(&out, &ins.isolated_pool(true)).positions[0]
        .liquidation_price
        .unwrap();
    close(lp, 600.0 / 9.96, 1e-9, "LP");
}
