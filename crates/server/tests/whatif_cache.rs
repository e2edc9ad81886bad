//! The what-if's fast paths (issue 17 item 5) change no number: on random 7-venue books,
//! (1) the what-if that reuses the venues a trade leaves untouched equals, exactly, the what-if
//! computed the plain way (each venue's rules and the unified model on the whole book before and
//! after, then compared), and (2) the service's kept "before" side is used only for the very book,
//! assets and market it was computed on: after a ledger change or a price tick the what-if equals
//! the one computed afresh.

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_margin::venue_margins;
use intermargin_margin::whatif::{compare, Side, WhatIf};
use intermargin_model::{
    Account, Amount, Asset, Collateral, Market, Portfolio, Position, Snapshot, Venue,
};
use intermargin_server::risk::{whatif, Before, BeforeCache, Traded};
use intermargin_venues::trade::{apply_trades, resolve_symbol, TradeSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 2024-08-27 07:00 UTC.
const NOW: i64 = 1_724_742_000_000;

/// (venue, symbol, mark, implied vol, size scale)
const BOOK: [(Venue, &str, f64, Option<f64>, f64); 16] = [
    (Venue::Deribit, "BTC-PERPETUAL", 62_905.0, None, 20_000.0),
    (Venue::Deribit, "ETH-PERPETUAL", 2_651.0, None, 30_000.0),
    (Venue::Deribit, "BTC-27DEC24", 64_100.0, None, 5_000.0),
    (
        Venue::Deribit,
        "BTC-27DEC24-60000-C",
        0.09,
        Some(0.55),
        10.0,
    ),
    (Venue::Deribit, "BTC-28MAR25-55000-P", 0.05, Some(0.6), 10.0),
    (Venue::Binance, "BTCUSDT", 62_895.0, None, 4.0),
    (Venue::Binance, "ETHUSDT", 2_650.5, None, 3.0),
    (Venue::Okx, "BTC-USD-SWAP", 62_905.0, None, 2_000.0),
    (Venue::Okx, "BTC-USDT-SWAP", 62_900.0, None, 300.0),
    (Venue::Bybit, "BTCUSDT", 62_893.0, None, 2.5),
    (Venue::Bybit, "BTCUSD", 62_902.0, None, 50_000.0),
    (Venue::Dydx, "BTC-USD", 62_888.0, None, 1.5),
    (Venue::Dydx, "ETH-USD", 2_649.0, None, 12.0),
    (Venue::Hyperliquid, "BTC", 62_891.0, None, 1.0),
    (Venue::Hyperliquid, "ETH", 2_650.2, None, 20.0),
    (Venue::Hyperliquid, "SOL", 150.1, None, 300.0),
];

fn market() -> Market {
    let mut m = Market::new(NOW, "USD");
    for (a, px) in [
        ("BTC", 62_890.0),
        ("ETH", 2_650.0),
        ("SOL", 150.0),
        ("USDT", 1.0),
        ("USDC", 1.0),
        ("WETH", 2_650.0),
    ] {
        m.fx.insert(a.into(), px);
    }
    for (venue, symbol, mark, iv, _) in BOOK {
        let id = resolve_symbol(venue, symbol).unwrap().id();
        m.mark_prices.insert(id.clone(), mark);
        if let Some(iv) = iv {
            m.mark_ivs.insert(id, iv);
        }
    }
    m
}

fn position(venue: Venue, symbol: &str, size: f64, entry: f64) -> Position {
    let mut p = Position::new(resolve_symbol(venue, symbol).unwrap(), size);
    p.entry_price = Some(entry);
    if !matches!(venue, Venue::Deribit | Venue::Aave) {
        p.leverage = Some(10.0);
    }
    p
}

fn assets() -> Vec<Asset> {
    vec![
        Asset::new("BTC", 8),
        Asset::new("ETH", 18),
        Asset::new("USDT", 6),
        Asset::new("USDC", 6),
        Asset::new("WETH", 18),
    ]
}

/// A random book over `BOOK`: each instrument held with probability 0.6, random signed sizes
/// and entries, every venue's balances scaled at random.
fn random_book(rng: &mut StdRng, market: &Market) -> Account {
    let mut acc = Account::new("r");
    for (venue, symbol, mark, _, scale) in BOOK {
        if rng.gen_bool(0.6) {
            let size = (rng.gen_range(-1.0..1.0_f64) * scale * 100.0).round() / 100.0;
            if size != 0.0 {
                acc.positions.push(position(
                    venue,
                    symbol,
                    size,
                    mark * rng.gen_range(0.95..1.05),
                ));
            }
        }
    }
    let _ = market;
    let cash = |venue: Venue, asset: &str, amount: f64| Collateral {
        venue,
        asset: asset.into(),
        amount: Amount(amount as i128),
        sub_account: None,
        chain_id: (venue == Venue::Aave).then_some(1),
    };
    let k = |rng: &mut StdRng| rng.gen_range(0.5..2.0);
    acc.collateral = vec![
        cash(Venue::Deribit, "BTC", 3e9 * k(rng)),
        cash(Venue::Deribit, "ETH", 1e19 * k(rng)),
        cash(Venue::Binance, "USDT", 2e11 * k(rng)),
        cash(Venue::Okx, "BTC", 2e8 * k(rng)),
        cash(Venue::Okx, "USDT", 5e10 * k(rng)),
        cash(Venue::Bybit, "USDT", 5e10 * k(rng)),
        cash(Venue::Bybit, "BTC", 1e8 * k(rng)),
        cash(Venue::Dydx, "USDC", 6e10 * k(rng)),
        cash(Venue::Hyperliquid, "USDC", 6e10 * k(rng)),
        cash(Venue::Aave, "USDC", 3e11 * k(rng)),
        cash(Venue::Aave, "WETH", -2e19 * k(rng)),
    ];
    acc
}

/// One to three random trades: new instruments, adds, closes and flips, at the mark or not.
fn random_trades(rng: &mut StdRng, acc: &Account) -> Vec<TradeSpec> {
    (0..rng.gen_range(1..4))
        .map(|_| {
            let (venue, symbol, mark, _, scale) = BOOK[rng.gen_range(0..BOOK.len())];
            let held = acc
                .positions
                .iter()
                .find(|p| p.instrument.venue == venue && p.instrument.symbol == symbol)
                .map(|p| p.size);
            let size = match (held, rng.gen_range(0..4)) {
                (Some(q), 0) => -q,
                (Some(q), 1) => -q * rng.gen_range(1.2..2.0),
                _ => ((rng.gen_range(-0.5..0.5_f64) * scale * 100.0).round() / 100.0).max(0.01),
            };
            TradeSpec {
                venue: venue.to_string(),
                instrument: symbol.to_string(),
                size,
                price: rng.gen_bool(0.5).then(|| mark * rng.gen_range(0.97..1.03)),
            }
        })
        .collect()
}

/// The what-if the plain way: `venue_margins` and the unified model's `margin` on the whole
/// book before and on the whole traded book after, compared (no venue reused).
fn plain(acc: &Account, assets: &[Asset], market: &Market, trades: &[TradeSpec]) -> Option<WhatIf> {
    let mut snap = Snapshot::new(
        Portfolio {
            assets: assets.to_vec(),
            accounts: vec![acc.clone()],
        },
        market.clone(),
    );
    let traded = apply_trades(&mut snap, &acc.id, trades).ok()?;
    let model = UnifiedModel::new(UnifiedParams::bundled().unwrap());
    let after = &snap.portfolio.accounts[0];
    let bv = venue_margins(acc, assets, market).ok()?;
    let bu = model.margin(acc, assets, market).ok()?;
    let av = venue_margins(after, assets, market).ok()?;
    let au = model.margin(after, assets, market).ok()?;
    compare(
        &Side {
            venues: &bv,
            unified: &bu,
        },
        &Side {
            venues: &av,
            unified: &au,
        },
        &traded,
    )
    .ok()
}

#[test]
fn reusing_untouched_venues_changes_no_number_on_random_books() {
    let mut rng = StdRng::seed_from_u64(20_261_203);
    let (assets, market) = (assets(), market());
    let mut compared = 0;
    for case in 0..80 {
        let acc = random_book(&mut rng, &market);
        let trades = random_trades(&mut rng, &acc);
        let fast = whatif(&acc, &assets, &market, &trades);
        match plain(&acc, &assets, &market, &trades) {
            Some(p) => {
                let fast = fast.unwrap_or_else(|e| panic!("case {case} {trades:?}: {e}"));
                // Exactly equal: every figure, every venue, every flag.
                assert_eq!(fast, p, "case {case}: {trades:?}");
                compared += 1;
            }
            None => assert!(fast.is_err(), "case {case}: plain failed, fast did not"),
        }
    }
    assert!(
        compared >= 60,
        "only {compared} of 80 random cases compared"
    );
}

#[test]
fn the_kept_before_side_follows_ledger_changes_and_price_ticks() {
    let mut rng = StdRng::seed_from_u64(17_005);
    let assets = assets();
    let mut market = market();
    let cache = BeforeCache::default();
    let mut acc = random_book(&mut rng, &market);
    let mut hits = 0;
    for step in 0..40 {
        match rng.gen_range(0..3) {
            // A ledger change: the book gains, loses or resizes a position.
            0 => {
                let (venue, symbol, mark, _, scale) = BOOK[rng.gen_range(0..BOOK.len())];
                match acc
                    .positions
                    .iter()
                    .position(|p| p.instrument.venue == venue && p.instrument.symbol == symbol)
                {
                    Some(i) if rng.gen_bool(0.5) => {
                        acc.positions.remove(i);
                    }
                    Some(i) => acc.positions[i].size *= rng.gen_range(0.5..1.5),
                    None => acc
                        .positions
                        .push(position(venue, symbol, scale * 0.3, mark)),
                }
            }
            // A price tick: every mark and rate moves a little.
            1 => {
                let k = rng.gen_range(0.97..1.03);
                for x in market.mark_prices.values_mut() {
                    *x *= k;
                }
                for (a, x) in market.fx.iter_mut() {
                    if !matches!(a.as_str(), "USD" | "USDT" | "USDC") {
                        *x *= k;
                    }
                }
            }
            // Nothing changes: the kept side must be the one used.
            _ => {}
        }
        let trades = random_trades(&mut rng, &acc);
        let Ok(traded) = Traded::apply(&acc, &assets, market.clone(), &trades) else {
            continue;
        };
        let first = cache.get_or_compute(&acc, &assets, &market);
        let again = cache.get_or_compute(&acc, &assets, &market);
        let fresh = Before::compute(&acc, &assets, &market);
        match (first, again, fresh) {
            (Ok(first), Ok(again), Ok(fresh)) => {
                assert!(
                    std::sync::Arc::ptr_eq(&first, &again),
                    "step {step}: not kept"
                );
                assert_eq!(first.account(), &acc, "step {step}: a stale book");
                let kept = traded.whatif(&first).unwrap();
                assert_eq!(kept, traded.whatif(&fresh).unwrap(), "step {step}");
                if let Some(p) = plain(&acc, &assets, &market, &trades) {
                    assert_eq!(kept, p, "step {step}");
                }
                hits += 1;
            }
            (f, a, r) => assert!(
                f.is_err() && a.is_err() && r.is_err(),
                "step {step}: the kept and fresh sides disagree on failing"
            ),
        }
    }
    assert!(hits >= 25, "only {hits} of 40 steps compared");
    assert_eq!(cache.len(), 1);
}
