//! Binance COIN-M futures: the documentation's numbers, and random books against a calculator
//! written here from the documented definitions (not from the rule's closed form).
//!
//! Sources:
//! * "How to Calculate Liquidation Price of COIN-M Futures Contracts",
//!   <https://www.binance.com/es-MX/support/faq/how-to-calculate-liquidation-price-of-coin-m-futures-contracts-ceccfcfb4e3a45e3b48b0b1bb1a8ae46>:
//!   the glossary (WB, TMM1, UPNL1, cum, CM = contract size), the notional in the coin
//!   ("100 contracts, mark 25,000: 100 × 100 / 25,000 = 0.4 BTC … maintenance 0.4 × 0.4 % − 0 =
//!   0.0016 BTC"), and "a BTCUSD position of 300 BTC: maintenance margin rate 12.5 %,
//!   maintenance amount 11.605 BTC" (an older version of the page said 11.81 BTC).
//! * The leverage table of "Leverage and Margin in Coin-Margined Futures Contracts"
//!   (<https://www.binance.com/en-NG/support/faq/be2c7d9d95b04a7e8044ed02dd7dfe5c>): BTCUSD
//!   position levels at 5, 10, 20, 50, 100, 200, 400, 1,000 BTC.
//! * Binance's own calculator on a COIN-M long, quoted in
//!   <https://dev.binance.vision/t/coin-margined-futures-liquidation-price-calculation-help-cm-variable/6292>:
//!   wallet 101 BTC, long 100,000 BTCUSD contracts (10,000,000 USD) at 45,000 → 33,599.40; the
//!   poster's own evaluation of the formula with the older maintenance amount (11.81) gave
//!   33,578.859744834.
mod venue_support;

use intermargin_margin::venues::binance::BinanceUsdm;
use intermargin_margin::venues::binance_coinm::{
    liquidation_price, CoinmLeg, CoinmLiquidationInputs,
};
use intermargin_margin::{MarginModel, VenueMargin};
use intermargin_model::{Instrument, InstrumentKind, Market, Settlement, SizeUnit, Venue};
use proptest::prelude::*;
use serde_json::json;
use venue_support::*;

/// BTCUSD levels: (floor, cap, maintenance rate), bounds in BTC. Floors from the leverage table
/// above; 12.5 % on 200–400 BTC with the FAQ's maintenance amount 11.605 BTC. The other rates
/// complete the table so that the bracket recursion gives that 11.605 (5×0.1 % + 10×0.5 % +
/// 20×1.5 % + 50×2.5 % + 100×5 % + 200×2.5 % = 11.605, checked below); the rules derive `cum`
/// from the rows, which are served here without it.
const BTCUSD: [(f64, f64, f64); 10] = [
    (0.0, 5.0, 0.004),
    (5.0, 10.0, 0.005),
    (10.0, 20.0, 0.01),
    (20.0, 50.0, 0.025),
    (50.0, 100.0, 0.05),
    (100.0, 200.0, 0.10),
    (200.0, 400.0, 0.125),
    (400.0, 1_000.0, 0.15),
    (1_000.0, 1_500.0, 0.25),
    (1_500.0, 1_000_000.0, 0.50),
];

/// The table as `GET /dapi/v1/leverageBracket` returns it (its docs spell the floor `qtylFloor`).
fn dapi_brackets() -> serde_json::Value {
    let rows: Vec<_> = BTCUSD
        .iter()
        .enumerate()
        .map(|(i, (f, c, r))| {
            json!({"bracket": i + 1, "initialLeverage": 20, "qtylFloor": f, "qtyCap": c,
                   "maintMarginRatio": r})
        })
        .collect();
    json!({"pair": "BTCUSD", "brackets": rows})
}

fn coinm(symbol: &str, expiry_ms: Option<i64>) -> Instrument {
    let mut i = perp(
        Venue::Binance,
        symbol,
        "BTC",
        "BTC",
        Settlement::Inverse,
        100.0,
        SizeUnit::Quote,
    );
    if let Some(e) = expiry_ms {
        i.kind = InstrumentKind::Future { expiry_ms: e };
    }
    i
}

fn coinm_market() -> Market {
    let mut m = market();
    m.venue_params
        .insert("binance:BTCUSD".into(), dapi_brackets());
    m
}

fn pool<'a>(out: &'a [VenueMargin], name: &str) -> &'a VenueMargin {
    out.iter()
        .find(|v| v.pool == name && v.settlement == "BTC")
        .unwrap_or_else(|| panic!("no BTC pool {name}: {out:?}"))
}

/// Maintenance (BTC) of a coin notional `n`: each slice at its own level's rate.
fn sliced(n: f64) -> f64 {
    let last = BTCUSD.len() - 1;
    BTCUSD
        .iter()
        .enumerate()
        .map(|(i, &(f, c, r))| {
            let top = if i == last { n } else { n.min(c) };
            (top - f).max(0.0) * r
        })
        .sum()
}

#[test]
fn maintenance_amount_at_300_btc_is_the_faqs_11_605() {
    // Maintenance amount = notional × rate − maintenance, at 300 BTC: 300 × 12.5 % − sliced.
    let cum = 300.0 * 0.125 - sliced(300.0);
    close(cum, 11.605, 1e-12, "maintenance amount at 300 BTC");
}

#[test]
fn faq_maintenance_of_100_contracts_at_25000() {
    // 100 BTCUSD contracts at mark 25,000: notional 100 × 100 / 25,000 = 0.4 BTC, level 1,
    // maintenance 0.4 × 0.4 % − 0 = 0.0016 BTC; IM at 20× = 0.02 BTC.
    let ins = coinm("BTCUSD_PERP", None);
    let mut m = coinm_market();
    m.mark_prices.insert(ins.id(), 25_000.0);
    let mut p = pos(ins, 100.0, Some(25_000.0));
    p.leverage = Some(20.0);
    let acc = account(vec![coll(Venue::Binance, "BTC", 1.0, 8)], vec![p]);
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let c = pool(&out, "cross");
    close(c.maintenance_margin, 0.0016, 1e-12, "MM");
    close(c.initial_margin, 0.02, 1e-12, "IM");
    close(c.equity, 1.0, 1e-12, "equity");
    // No USDⓈ-M pool is made of the BTC wallet.
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn binance_calculator_long_100000_contracts() {
    // Cross, only position: LP = 10,000,000 × (1 + 12.5 %) / (101 + 11.605 + 10,000,000 / 45,000)
    // = 11,250,000 / 334.827222… = 33,599.41860…; Binance shows 33,599.40 (tick 0.1).
    let ins = coinm("BTCUSD_PERP", None);
    let mut m = coinm_market();
    m.mark_prices.insert(ins.id(), 45_000.0);
    let mut p = pos(ins, 100_000.0, Some(45_000.0));
    p.leverage = Some(5.0);
    let acc = account(vec![coll(Venue::Binance, "BTC", 101.0, 8)], vec![p]);
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let lp = pool(&out, "cross").positions[0].liquidation_price.unwrap();
    let want = 10_000_000.0 * 1.125 / (101.0 + 11.605 + 10_000_000.0 / 45_000.0);
    close(lp, want, 1e-6, "LP");
    assert_eq!((lp * 10.0).floor() / 10.0, 33_599.4, "Binance's 33,599.40");
    // The formula with the older maintenance amount reproduces the poster's 33,578.859744834.
    let old = liquidation_price(&CoinmLiquidationInputs {
        wallet_balance: 101.0,
        both: Some((
            1.0,
            CoinmLeg {
                face: 10_000_000.0,
                face_over_entry: 10_000_000.0 / 45_000.0,
                mmr: 0.125,
                cum: 11.81,
            },
        )),
        ..Default::default()
    })
    .unwrap();
    close(old, 33_578.859_744_834, 1e-6, "older cum");
}

#[test]
fn beyond_the_files_last_bracket_is_refused_with_the_key_to_supply() {
    // The shipped table has the API docs' level 1 only (0–50 BTC): 60 BTC of notional without
    // published brackets must name what to import, not guess.
    let ins = coinm("BTCUSD_PERP", None);
    let mut m = market();
    m.mark_prices.insert(ins.id(), 50_000.0);
    let p = pos(ins, 30_000.0, Some(50_000.0));
    let acc = account(vec![coll(Venue::Binance, "BTC", 10.0, 8)], vec![p]);
    let err = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(err.contains("binance:BTCUSD_PERP"), "{err}");
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

/// Every sign change of `g` over a geometric grid of prices, refined by bisection; the one
/// nearest `mark` (Binance shows one price per position: the one the market reaches first).
fn nearest_root(g: impl Fn(f64) -> f64, mark: f64) -> Option<f64> {
    let mut roots = Vec::new();
    let mut x = 1.0;
    while x < 1e9 {
        let y = x * 1.01;
        if let Some(r) = bisect(&g, x, y) {
            roots.push(r);
        }
        x = y;
    }
    roots
        .into_iter()
        .min_by(|a, b| (a - mark).abs().total_cmp(&(b - mark).abs()))
}

fn same_price(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => {
            assert!(
                (g - w).abs() <= 0.01f64.max(w * 1e-9),
                "{what}: got {g}, want {w}"
            )
        }
        (None, None) => {}
        // A root outside the grid (below 1 USD or above 1e9) is the same as none.
        (Some(g), None) | (None, Some(g)) if !(1.0..1e9).contains(&g) => {}
        _ => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

fn close_rel(got: f64, want: f64, what: &str) {
    let tol = 1e-12f64.max(want.abs() * 1e-11);
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

/// One random leg: (contracts, entry, mark, leverage).
fn leg() -> impl Strategy<Value = (f64, f64, f64, f64)> {
    (
        prop_oneof![(1i64..200_000), (-200_000i64..-1)],
        10_000.0f64..120_000.0,
        10_000.0f64..120_000.0,
        1u32..=125,
    )
        .prop_map(|(n, e, m, l)| (n as f64, e, m, f64::from(l)))
}

/// P&L in BTC of `n` contracts of 100 USD entered at `e`, at price `x` (inverse).
fn pnl(n: f64, e: f64, x: f64) -> f64 {
    n * 100.0 * (1.0 / e - 1.0 / x)
}

const QUARTER_MS: i64 = 1_800_000_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Cross book of the perpetual and a quarterly of BTC: MM sliced by level, IM = notional /
    /// leverage, equity = wallet + P&L, and each symbol's liquidation price where the margin
    /// balance meets the maintenance (the other symbol held at its mark).
    #[test]
    fn cross_one_way(
        wallet_sat in 0i64..50_000_000_000,
        a in leg(),
        b in leg(),
    ) {
        let wallet = wallet_sat as f64 / 1e8;
        let legs = [
            (coinm("BTCUSD_PERP", None), a),
            (coinm("BTCUSD_270326", Some(QUARTER_MS)), b),
        ];
        let mut m = coinm_market();
        let mut positions = Vec::new();
        for (ins, (n, e, mk, l)) in &legs {
            m.mark_prices.insert(ins.id(), *mk);
            let mut p = pos(ins.clone(), *n, Some(*e));
            p.leverage = Some(*l);
            positions.push(p);
        }
        let acc = account(vec![coll(Venue::Binance, "BTC", wallet, 8)], positions);
        let out = BinanceUsdm::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let cross = pool(&out, "cross");
        let notional: Vec<f64> = legs.iter().map(|(_, (n, _, mk, _))| n.abs() * 100.0 / mk).collect();
        let mm: Vec<f64> = notional.iter().map(|x| sliced(*x)).collect();
        let upnl: Vec<f64> = legs.iter().map(|(_, (n, e, mk, _))| pnl(*n, *e, *mk)).collect();
        let im: f64 = legs.iter().zip(&notional).map(|((_, (_, _, _, l)), x)| x / l).sum();
        close_rel(cross.maintenance_margin, mm[0] + mm[1], "MM");
        close_rel(cross.initial_margin, im, "IM");
        close_rel(cross.equity, wallet + upnl[0] + upnl[1], "equity");
        for (i, (ins, (n, e, mk, _))) in legs.iter().enumerate() {
            let o = 1 - i;
            let g = |x: f64| wallet + upnl[o] - mm[o] + pnl(*n, *e, x) - sliced(n.abs() * 100.0 / x);
            same_price(cross.positions[i].liquidation_price, nearest_root(g, *mk), &ins.symbol);
        }
    }

    /// Hedge mode, cross: a LONG and a SHORT of one symbol share one price, each leg's
    /// maintenance at its own level.
    #[test]
    fn cross_hedge(
        wallet_sat in 0i64..50_000_000_000,
        (nl, el, mk, _) in leg(),
        (ns, es, _, _) in leg(),
    ) {
        let (nl, ns) = (nl.abs(), -ns.abs());
        let wallet = wallet_sat as f64 / 1e8;
        let ins = coinm("BTCUSD_PERP", None);
        let mut m = coinm_market();
        m.mark_prices.insert(ins.id(), mk);
        let acc = account(
            vec![coll(Venue::Binance, "BTC", wallet, 8)],
            vec![pos(ins.clone(), nl, Some(el)), pos(ins.clone(), ns, Some(es))],
        );
        let out = BinanceUsdm::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let cross = pool(&out, "cross");
        let g = |x: f64| wallet + pnl(nl, el, x) + pnl(ns, es, x)
            - sliced(nl * 100.0 / x) - sliced(-ns * 100.0 / x);
        let want = nearest_root(g, mk);
        same_price(cross.positions[0].liquidation_price, want, "long leg");
        same_price(cross.positions[1].liquidation_price, want, "short leg");
    }

    /// Isolated: the position's isolated wallet plus its P&L meets its maintenance; the cross
    /// pool keeps the rest of the wallet.
    #[test]
    fn isolated(
        wallet_sat in 0i64..50_000_000_000,
        (n, e, mk, l) in leg(),
        posted_frac in 0.002f64..1.5,
    ) {
        let wallet = wallet_sat as f64 / 1e8;
        let ins = coinm("BTCUSD_PERP", None);
        let mut m = coinm_market();
        m.mark_prices.insert(ins.id(), mk);
        let posted = n.abs() * 100.0 / e * posted_frac;
        let mut p = pos(ins.clone(), n, Some(e));
        p.leverage = Some(l);
        p.isolated = true;
        p.isolated_margin = Some(posted);
        let acc = account(vec![coll(Venue::Binance, "BTC", wallet, 8)], vec![p]);
        let out = BinanceUsdm::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let iso = pool(&out, &ins.isolated_pool(n > 0.0));
        close_rel(pool(&out, "cross").equity, wallet - posted, "cross equity");
        close_rel(iso.equity, posted + pnl(n, e, mk), "isolated equity");
        close_rel(iso.maintenance_margin, sliced(n.abs() * 100.0 / mk), "MM");
        close_rel(iso.initial_margin, n.abs() * 100.0 / mk / l, "IM");
        let g = |x: f64| posted + pnl(n, e, x) - sliced(n.abs() * 100.0 / x);
        same_price(iso.positions[0].liquidation_price, nearest_root(g, mk), "isolated LP");
    }
}
