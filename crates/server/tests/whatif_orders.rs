//! Issue 17: a what-if on a book with open orders. The orders stay open across the trade; what
//! they reserve follows the venue's own rule on the traded position (Binance: `max(|N + Bid|,
//! |N − Ask|) / leverage`, computed here by hand), and the `after` side equals `margin` on the
//! book traded by hand with the orders kept.

use intermargin_margin::venue_margins;
use intermargin_model::{Amount, Order, Side, Snapshot, Venue};
use intermargin_server::risk::whatif;
use intermargin_venues::trade::TradeSpec;

const HEDGED: &str = include_str!("../../../examples/hedged-book/snapshot.json");

fn book_with_orders() -> Snapshot {
    let mut s = Snapshot::from_json(HEDGED).unwrap();
    let acc = &mut s.portfolio.accounts[0];
    let ins = |sym: &str| {
        acc.positions
            .iter()
            .find(|p| p.instrument.symbol == sym)
            .unwrap()
            .instrument
            .clone()
    };
    let btcusdt = ins("BTCUSDT");
    let call = ins("BTC-27DEC24-60000-C");
    acc.orders = vec![
        Order::limit(btcusdt.clone(), Side::Sell, 2.0, 63_500.0),
        Order::limit(btcusdt, Side::Buy, 3.0, 62_000.0),
        Order::limit(call.clone(), Side::Sell, 4.0, 0.15),
        Order::limit(call, Side::Buy, 2.0, 0.13),
    ];
    s.validate().unwrap();
    s
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn a_flip_on_binance_moves_what_its_orders_reserve() {
    let snap = book_with_orders();
    let acc = &snap.portfolio.accounts[0];
    let trade = TradeSpec::parse("binance:BTCUSDT:10@62895.1", 0).unwrap();
    let w = whatif(acc, &snap.portfolio.assets, &snap.market, &[trade]).unwrap();
    let venue = |v: Venue| w.venues.iter().find(|x| x.venue == v).unwrap();

    // Binance, 4× (the position's leverage), mark 62,895.1, by hand from the FAQ's rule.
    // Before: N = −8.5 × 62,895.1 = −534,608.35; Bid = 3 × 62,000 = 186,000;
    // Ask = 2 × 63,500 = 127,000: max(348,608.35, 661,608.35) → the sells set it:
    // (661,608.35 − 534,608.35) / 4 = 31,750; the sell at 63,500 above the mark has no open loss.
    // After (+10 → long 1.5): N = 94,342.65; max(280,342.65, 32,657.35) → the buys:
    // (280,342.65 − 94,342.65) / 4 = 46,500; the buy at 62,000 below the mark has no open loss.
    let b = venue(Venue::Binance);
    close(
        b.before.orders_initial_margin,
        31_750.0,
        "binance orders before",
    );
    close(
        b.after.orders_initial_margin,
        46_500.0,
        "binance orders after",
    );

    // Deribit: long 16 calls; selling 4 extends no short, buying 2 at 0.13 reserves the premium
    // 0.26 BTC, at 62,890.55 USD per BTC; the Binance trade changes neither.
    let d = venue(Venue::Deribit);
    close(
        d.before.orders_initial_margin,
        0.26 * 62_890.55,
        "deribit orders before",
    );
    close(
        d.after.orders_initial_margin,
        0.26 * 62_890.55,
        "deribit orders after",
    );

    // The traded book by hand: short 8.5 @ 62,950 bought back at 62,895.1 realises
    // 8.5 × (62,950 − 62,895.1) = 466.65 USDT; 1.5 long remains at 62,895.1; orders unchanged.
    let mut traded = snap.clone();
    let a = &mut traded.portfolio.accounts[0];
    let p = a
        .positions
        .iter_mut()
        .find(|p| p.instrument.symbol == "BTCUSDT")
        .unwrap();
    p.size = 1.5;
    p.entry_price = Some(62_895.1);
    p.unrealized_pnl = None;
    let usdt = a
        .collateral
        .iter_mut()
        .find(|c| c.venue == Venue::Binance && c.asset == "USDT")
        .unwrap();
    usdt.amount = Amount(usdt.amount.0 + 466_650_000);
    let m = venue_margins(
        &traded.portfolio.accounts[0],
        &traded.portfolio.assets,
        &snap.market,
    )
    .unwrap();
    let im: f64 = m
        .iter()
        .filter(|v| v.venue == Venue::Binance)
        .map(|v| v.in_quote.as_ref().unwrap().initial_margin)
        .sum();
    close(
        b.after.initial_margin,
        im,
        "binance initial after = margin on the traded book",
    );
    // Position IM after: 94,342.65 / 4 = 23,585.6625, plus the orders' 46,500.
    close(
        im,
        23_585.662_5 + 46_500.0,
        "binance initial after, by hand",
    );
}

#[test]
fn orders_count_in_the_refusal_check() {
    // A resting buy of 200 BTC at 62,000 reserves far more than the 1,000,000 USDT wallet.
    // Binance's requirement is max(|N + Bid|, |N − Ask|) / 4 with Bid = 12,586,000:
    // * buying 1 (short 8.5 → 7.5) raises |N + Bid| from 12,051,391.65 to 12,114,286.75, so the
    //   venue's initial margin rises above its equity: refused;
    // * selling 1 (short 8.5 → 9.5) lowers it to 11,988,496.55 (and the position's own IM rises
    //   by only 62,895.1 / 4): the total falls, so the venue takes it although short of margin.
    let mut snap = book_with_orders();
    let acc = &mut snap.portfolio.accounts[0];
    let btcusdt = acc.orders[0].instrument.clone();
    acc.orders
        .push(Order::limit(btcusdt, Side::Buy, 200.0, 62_000.0));
    let acc = &snap.portfolio.accounts[0];
    let run = |spec: &str| {
        let t = TradeSpec::parse(spec, 0).unwrap();
        let w = whatif(acc, &snap.portfolio.assets, &snap.market, &[t]).unwrap();
        w.venues
            .into_iter()
            .find(|x| x.venue == Venue::Binance)
            .unwrap()
    };
    let up = run("binance:BTCUSDT:1@62895.1");
    // Before: (12,051,391.65 − 534,608.35) / 4 = 2,879,195.825 of orders.
    close(
        up.before.orders_initial_margin,
        2_879_195.825,
        "orders before",
    );
    // After buying 1: (12,114,286.75 − 471,713.25) / 4 = 2,910,643.375.
    close(
        up.after.orders_initial_margin,
        2_910_643.375,
        "orders after a buy",
    );
    assert!(up.refused, "{up:?}");
    let down = run("binance:BTCUSDT:-1@62895.1");
    // After selling 1: (11,988,496.55 − 597,503.45) / 4 = 2,847,748.275.
    close(
        down.after.orders_initial_margin,
        2_847_748.275,
        "orders after a sell",
    );
    assert!(!down.refused && down.after.available < 0.0, "{down:?}");
}
