//! Our liquidation price per position (`UnifiedModel::position_liquidations`) on random books,
//! against calculators written here: for a Binance USDⓈ-M cross book the price of each symbol at
//! which the pool's margin balance meets its maintenance margin, found by bisection on the
//! documented definition with every maintenance summed slice by slice over the bracket table
//! (https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93); for a single
//! position inside the first bracket, the closed form solved by hand.
mod venue_support;

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_margin::venue_margins;
use intermargin_model::{Market, Venue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use venue_support::*;

/// BTCUSDT brackets (notional floor, cap, maintenance rate) as in params/binance.toml's source
/// (the FAQ's table); written without maintenance amounts: the calculator slices.
const BTC: [(f64, f64, f64); 10] = [
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
/// ETHUSDT: the one bracket the API documentation shows (0.65 % up to 10,000 USDT); the ETH
/// legs stay under it at every price the search tries.
const ETH: [(f64, f64, f64); 1] = [(0.0, 10_000.0, 0.0065)];

/// Maintenance of notional `n`: each slice at its own bracket's rate.
fn sliced(table: &[(f64, f64, f64)], n: f64) -> f64 {
    let last = table.len() - 1;
    table
        .iter()
        .enumerate()
        .map(|(i, &(floor, cap, r))| {
            ((if i == last { n } else { n.min(cap) }) - floor).max(0.0) * r
        })
        .sum()
}

/// The root of `g` between `lo` and `hi` (opposite signs), by bisection to 1e-9 relative.
fn bisect(g: &dyn Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let glo = g(lo);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if (g(mid) > 0.0) == (glo > 0.0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn market_at(btc: f64, eth: f64) -> Market {
    let mut m = market();
    for (coin, px) in [("BTC", btc), ("ETH", eth)] {
        m.fx.insert(coin.into(), px);
        m.index_prices.insert(format!("binance:{coin}"), px);
        m.mark_prices.insert(format!("binance:{coin}USDT"), px);
    }
    m
}

fn model() -> UnifiedModel {
    UnifiedModel::new(UnifiedParams::bundled().unwrap())
}

/// The search bisects a bracket of the move grid 12 times and answers on the liquidated side:
/// within 2/4096 of the price (the widest bracket it can bisect below +300 % is 2.0 wide).
const SEARCH_TOL: f64 = 2.0 / 4096.0;

#[test]
fn a_two_symbol_cross_book_liquidates_each_symbol_where_the_bisection_on_the_documented_rule_does()
{
    let mut rng = StdRng::seed_from_u64(18);
    let mut checked = 0;
    for case in 0..40 {
        let (btc_px, eth_px) = (
            rng.gen_range(20_000.0..120_000.0),
            rng.gen_range(800.0..6_000.0),
        );
        let sign = |r: &mut StdRng| if r.gen_bool(0.5) { 1.0 } else { -1.0 };
        let qb: f64 = sign(&mut rng) * rng.gen_range(0.05..20.0);
        // At most 1,600 USDT of ETH at the mark: under 10,000 even 500 % higher.
        let qe: f64 = sign(&mut rng) * rng.gen_range(0.05..1_600.0 / eth_px);
        let (eb, ee) = (
            btc_px * rng.gen_range(0.9..1.1),
            eth_px * rng.gen_range(0.9..1.1),
        );
        // Enough wallet to stand at the mark: maintenance plus a random cushion.
        let mm_now = sliced(&BTC, qb.abs() * btc_px) + sliced(&ETH, qe.abs() * eth_px);
        let upnl = qb * (btc_px - eb) + qe * (eth_px - ee);
        let wallet =
            (mm_now - upnl) + rng.gen_range(0.02..0.6) * (qb.abs() * btc_px + qe.abs() * eth_px);
        let m = market_at(btc_px, eth_px);
        let btc_perp = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
        let eth_perp = linear_perp(Venue::Binance, "ETHUSDT", "ETH", "USDT");
        let acc = account(
            vec![coll(Venue::Binance, "USDT", wallet, 6)],
            vec![pos(btc_perp, qb, Some(eb)), pos(eth_perp, qe, Some(ee))],
        );
        let venues = venue_margins(&acc, &assets(), &m).unwrap();
        let u = model().margin(&acc, &assets(), &m).unwrap();
        let ours = model()
            .position_liquidations(&acc, &assets(), &m, &venues, &u)
            .unwrap();
        assert_eq!(ours.len(), 2);
        // Margin balance − maintenance with one symbol at price x, the other at its mark.
        let legs = [
            (qb, eb, btc_px, &BTC[..], qe, ee, eth_px, &ETH[..]),
            (qe, ee, eth_px, &ETH[..], qb, eb, btc_px, &BTC[..]),
        ];
        for (o, (q, e, px, t, q2, e2, px2, t2)) in ours.iter().zip(legs) {
            let g = |x: f64| {
                wallet + q * (x - e) + q2 * (px2 - e2)
                    - sliced(t, q.abs() * x)
                    - sliced(t2, q2.abs() * px2)
            };
            assert!(g(px) > 0.0, "case {case}: healthy at the mark");
            assert_eq!(o.reference_price, Some(px));
            // Longs liquidate below the mark, shorts above; the search stops at −99 % / +500 %.
            let (lo, hi) = if q > 0.0 {
                (0.01 * px, px)
            } else {
                (px, 6.0 * px)
            };
            if (g(lo) > 0.0) == (g(hi) > 0.0) {
                assert_eq!(
                    o.liquidation_price, None,
                    "case {case} {}: no root in range",
                    o.instrument
                );
                continue;
            }
            let want = bisect(&g, lo, hi);
            let got = o
                .liquidation_price
                .unwrap_or_else(|| panic!("case {case}: {o:?}, want {want}"));
            assert!(
                (got - want).abs() <= SEARCH_TOL * px,
                "case {case} {}: ours {got}, bisection {want}",
                o.instrument
            );
            // On the liquidated side of the root.
            assert!(
                g(got) <= 1e-6 * wallet.abs().max(1.0),
                "case {case}: g({got}) = {}",
                g(got)
            );
            close(o.liquidation_move.unwrap(), got / px - 1.0, 1e-12, "move");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} liquidation prices checked");
}

#[test]
fn a_single_position_in_the_first_bracket_liquidates_at_the_closed_form_and_at_the_venues_price() {
    let mut rng = StdRng::seed_from_u64(1818);
    for case in 0..40 {
        let px = rng.gen_range(30_000.0..100_000.0);
        let long = rng.gen_bool(0.5);
        // Notional under 50,000 USDT at any price the search reaches: 0.4 % maintenance, no
        // maintenance amount.
        let q: f64 = rng.gen_range(0.01..0.08) * if long { 1.0 } else { -1.0 };
        let e = px * rng.gen_range(0.95..1.05);
        let wallet = q.abs() * px * rng.gen_range(0.05..0.5);
        let m = market_at(px, 2_000.0);
        let perp = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
        let acc = account(
            vec![coll(Venue::Binance, "USDT", wallet, 6)],
            vec![pos(perp, q, Some(e))],
        );
        let venues = venue_margins(&acc, &assets(), &m).unwrap();
        let u = model().margin(&acc, &assets(), &m).unwrap();
        let o = &model()
            .position_liquidations(&acc, &assets(), &m, &venues, &u)
            .unwrap()[0];
        // W + q (P − E) = |q| P × 0.004  ⇒  P = (q E − W) / (q − 0.004 |q|).
        let want = (q * e - wallet) / (q - 0.004 * q.abs());
        if q.abs() * want.max(px) >= 50_000.0 || want <= 0.01 * px || want >= 6.0 * px {
            continue;
        }
        let got = o.liquidation_price.unwrap();
        assert!(
            (got - want).abs() <= SEARCH_TOL * px,
            "case {case}: ours {got}, hand {want}"
        );
        // The venue's own closed form (its liquidation price for the position) agrees.
        let venue = o.venue_liquidation_price.unwrap();
        assert!(
            (venue - want).abs() <= 1e-6 * want,
            "case {case}: venue {venue}, hand {want}"
        );
        assert_eq!(o.pool, "cross:USDT");
    }
}

#[test]
fn positions_where_nothing_can_be_liquidated_have_no_price() {
    // Collateral alone (no debt, no position charged maintenance): nothing to liquidate.
    let m = market_at(60_000.0, 2_000.0);
    let acc = account(vec![coll(Venue::Binance, "USDT", 1_000.0, 6)], Vec::new());
    let venues = venue_margins(&acc, &assets(), &m).unwrap();
    let u = model().margin(&acc, &assets(), &m).unwrap();
    assert!(model()
        .position_liquidations(&acc, &assets(), &m, &venues, &u)
        .unwrap()
        .is_empty());
}
