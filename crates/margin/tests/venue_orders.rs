//! Open orders in each venue's own margin: Binance's documented worked example to the cent,
//! random books against calculators written here from the documented rules, and reduce-only
//! orders that never add margin.
mod venue_support;

use intermargin_margin::venue_margins;
use intermargin_margin::VenueMargin;
use intermargin_model::{
    Account, Instrument, OptionKind, Order, OrderType, PositionSide, Settlement, Side, SizeUnit,
    Venue,
};
use proptest::prelude::*;
use venue_support::*;

fn btcusdt() -> Instrument {
    linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT")
}

fn deribit_perp() -> Instrument {
    perp(
        Venue::Deribit,
        "BTC-PERPETUAL",
        "BTC",
        "BTC",
        Settlement::Inverse,
        10.0,
        SizeUnit::Quote,
    )
}

fn with_orders(mut acc: Account, orders: Vec<Order>) -> Account {
    acc.orders = orders;
    acc
}

fn cross(out: &[VenueMargin], venue: Venue) -> &VenueMargin {
    out.iter()
        .find(|v| v.venue == venue && v.pool == "cross")
        .expect("a cross pool")
}

/// "How to Calculate Cost Required to Open a Position in Perpetual Futures Contracts"
/// (https://www.binance.com/en/support/faq/87fa7ee33b574f7084d42bd2ce2e463b): a limit order for
/// 1 BTC at 9,253.30 with the mark at 9,259.84 and 20× leverage. Documented: initial margin
/// 9,253.30 × 1 / 20 = 462.66; open loss of a long order 0, of a short order 6.54; cost of the
/// long 462.66 and of the short 462.66 + 6.54 = 469.20 (the page truncates to the cent).
#[test]
fn binance_cost_to_open_example_through_the_account() {
    let mut m = market();
    m.mark_prices.insert(btcusdt().id(), 9_259.84);
    let base = account(vec![coll(Venue::Binance, "USDT", 10_000.0, 6)], vec![]);
    let cents = |x: f64| (x * 100.0).floor() / 100.0;
    for (side, documented) in [(Side::Buy, 462.66), (Side::Sell, 469.20)] {
        let mut o = Order::limit(btcusdt(), side, 1.0, 9_253.30);
        o.leverage = Some(20.0);
        let acc = with_orders(base.clone(), vec![o]);
        let out = venue_margins(&acc, &assets(), &m).unwrap();
        let v = cross(&out, Venue::Binance);
        assert_eq!(cents(v.orders_initial_margin), documented, "{side:?}");
        // Orders' margin is part of the pool's initial margin and of its quote figures.
        assert_eq!(v.initial_margin, v.orders_initial_margin);
        let q = v.in_quote.as_ref().unwrap();
        assert_eq!(q.orders_initial_margin, v.orders_initial_margin);
    }
}

/// "How to Calculate the Margin Requirement on Binance Futures Trading": one-way mode
/// `max(|N + Bid|, |N − Ask|) / leverage`. Hand example: long 1 BTC at a mark of 10,000, a sell
/// for 1.5 BTC at 10,000 and a buy for 0.2 BTC at 9,000, 10×:
/// max(|10,000 + 1,800|, |10,000 − 15,000|) = 11,800 → 1,180, of which the position's 1,000;
/// the buy side sets it, and the buy at 9,000 below the mark has no open loss → orders 180.
#[test]
fn binance_one_way_hand_example() {
    let mut m = market();
    m.mark_prices.insert(btcusdt().id(), 10_000.0);
    let mut p = pos(btcusdt(), 1.0, Some(10_000.0));
    p.leverage = Some(10.0);
    let acc = with_orders(
        account(vec![coll(Venue::Binance, "USDT", 5_000.0, 6)], vec![p]),
        vec![
            Order::limit(btcusdt(), Side::Sell, 1.5, 10_000.0),
            Order::limit(btcusdt(), Side::Buy, 0.2, 9_000.0),
        ],
    );
    let out = venue_margins(&acc, &assets(), &m).unwrap();
    let v = cross(&out, Venue::Binance);
    close(v.orders_initial_margin, 180.0, 1e-9, "orders IM");
    close(v.initial_margin, 1_180.0, 1e-9, "IM");
}

/// Hedge mode: each positionSide leg separately. Long leg 1 BTC with a buy for 1 at 10,100 (open
/// loss 1 × |min(0, 10,000 − 10,100)| = 100); short leg −1 BTC with a buy for 0.5 (closes part
/// of it: max(|−10,000 + 5,000|, |−10,000|) = 10,000 → nothing). 10×: (20,100 − 10,000)/10 + 100.
#[test]
fn binance_hedge_mode_hand_example() {
    let mut m = market();
    m.mark_prices.insert(btcusdt().id(), 10_000.0);
    let mut long = pos(btcusdt(), 1.0, Some(10_000.0));
    long.leverage = Some(10.0);
    let mut short = pos(btcusdt(), -1.0, Some(10_000.0));
    short.leverage = Some(10.0);
    let mut buy_long = Order::limit(btcusdt(), Side::Buy, 1.0, 10_100.0);
    buy_long.position_side = Some(PositionSide::Long);
    let mut close_short = Order::limit(btcusdt(), Side::Buy, 0.5, 10_000.0);
    close_short.position_side = Some(PositionSide::Short);
    let acc = with_orders(
        account(
            vec![coll(Venue::Binance, "USDT", 5_000.0, 6)],
            vec![long, short],
        ),
        vec![buy_long, close_short],
    );
    let v = venue_margins(&acc, &assets(), &m).unwrap();
    close(
        cross(&v, Venue::Binance).orders_initial_margin,
        1_010.0 + 100.0,
        1e-9,
        "hedge",
    );
}

/// Deribit futures: `IM(max(|q + buys|, |q − sells|)) − IM(|q|)` with the size-dependent rate
/// (BTC inverse: 2 % + 0.005 % per BTC). Hand example: long 100,000 USD of BTC-PERPETUAL at a
/// mark of 50,000 (2 BTC), a sell order of 300,000 USD (6 BTC) and a buy of 50,000 USD (1 BTC):
/// reach max(|2 + 1|, |2 − 6|) = 4 BTC; IM(4) = 4 × (0.02 + 4 × 0.00005) = 0.0808,
/// IM(2) = 2 × (0.02 + 2 × 0.00005) = 0.0402 → orders 0.0406 BTC.
#[test]
fn deribit_futures_hand_example() {
    let mut m = market();
    m.mark_prices.insert(deribit_perp().id(), 50_000.0);
    m.fx.insert("BTC".into(), 50_000.0);
    let acc = with_orders(
        account(
            vec![coll(Venue::Deribit, "BTC", 1.0, 8)],
            vec![pos(deribit_perp(), 10_000.0, Some(50_000.0))],
        ),
        vec![
            Order::limit(deribit_perp(), Side::Sell, 30_000.0, 51_000.0),
            Order::limit(deribit_perp(), Side::Buy, 5_000.0, 49_000.0),
        ],
    );
    let out = venue_margins(&acc, &assets(), &m).unwrap();
    let v = cross(&out, Venue::Deribit);
    close(v.orders_initial_margin, 0.0406, 1e-12, "orders IM (BTC)");
    close(v.initial_margin, 0.0402 + 0.0406, 1e-12, "IM (BTC)");
    close(
        v.in_quote.as_ref().unwrap().orders_initial_margin,
        0.0406 * 50_000.0,
        1e-7,
        "orders IM (USD)",
    );
}

/// Deribit options: a sell order extending a short pays the short-option initial margin per
/// coin; a buy pays its premium beyond what closes a short. U = 10,000, call K = 10,000 (not
/// OTM), mark 0.025 BTC: per short IM = max(0.15 − 0, 0.1) + 0.025 = 0.175 BTC (the reference's
/// worked example). Short 1 call with orders sell 2 and buy 3 at 0.03: sells → 2 × 0.175 = 0.35;
/// buys beyond covering the 1 short: 2 of 3 → 3 × 0.03 × 2/3 = 0.06.
#[test]
fn deribit_option_orders_hand_example() {
    let call = inverse_option("BTC-OPT-10000-C", "BTC", 10_000.0, OptionKind::Call);
    let mut m = market();
    m.mark_prices.insert(call.id(), 0.025);
    m.index_prices.insert("deribit:BTC".into(), 10_000.0);
    m.fx.insert("BTC".into(), 10_000.0);
    let acc = with_orders(
        account(
            vec![coll(Venue::Deribit, "BTC", 1.0, 8)],
            vec![pos(call.clone(), -1.0, Some(0.025))],
        ),
        vec![
            Order::limit(call.clone(), Side::Sell, 2.0, 0.03),
            Order::limit(call, Side::Buy, 3.0, 0.03),
        ],
    );
    let v = venue_margins(&acc, &assets(), &m).unwrap();
    close(
        cross(&v, Venue::Deribit).orders_initial_margin,
        0.35 + 0.06,
        1e-12,
        "option orders",
    );
}

// ---- random books against calculators written from the documented rules ----

/// Binance, one-way mode, written from the FAQ's formula: every order's value at its limit
/// price summed per side, the position at the mark, and the open loss of each order of the side
/// that sets the requirement.
fn binance_calculator(q: f64, mark: f64, lev: f64, orders: &[(bool, f64, f64, bool)]) -> f64 {
    let n = q * mark;
    let mut bid = 0.0;
    let mut ask = 0.0;
    for &(buy, qty, price, ro) in orders {
        if ro {
            continue;
        }
        if buy {
            bid += qty * price;
        } else {
            ask += qty * price;
        }
    }
    let with = f64::max((n + bid).abs(), (n - ask).abs());
    if with <= n.abs() {
        return 0.0;
    }
    let buy_side = (n + bid).abs() >= (n - ask).abs();
    let mut loss = 0.0;
    for &(buy, qty, price, ro) in orders {
        if ro || buy != buy_side {
            continue;
        }
        let dir = if buy { 1.0 } else { -1.0 };
        let x = dir * (mark - price);
        if x < 0.0 {
            loss += qty * -x;
        }
    }
    (with - n.abs()) / lev + loss
}

/// Deribit futures, written from the rule: the coin sizes the orders could reach on either side.
fn deribit_calculator(q_btc: f64, orders: &[(bool, f64, bool)]) -> f64 {
    let im = |x: f64| x * (0.02 + x * 0.00005);
    let buys: f64 = orders.iter().filter(|o| o.0 && !o.2).map(|o| o.1).sum();
    let sells: f64 = orders.iter().filter(|o| !o.0 && !o.2).map(|o| o.1).sum();
    im(f64::max((q_btc + buys).abs(), (q_btc - sells).abs())) - im(q_btc.abs())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn binance_random_books_match_the_documented_rule(
        q in -5.0f64..5.0,
        mark in 20_000.0f64..80_000.0,
        lev in 1u32..=50,
        raw in prop::collection::vec((any::<bool>(), 0.001f64..3.0, 0.9f64..1.1, prop::bool::weighted(0.2)), 0..6),
    ) {
        let lev = f64::from(lev);
        let orders: Vec<(bool, f64, f64, bool)> =
            raw.iter().map(|&(b, qty, k, ro)| (b, qty, mark * k, ro)).collect();
        let mut m = market();
        m.mark_prices.insert(btcusdt().id(), mark);
        let mut positions = vec![];
        if q.abs() > 1e-9 {
            let mut p = pos(btcusdt(), q, Some(mark));
            p.leverage = Some(lev);
            positions.push(p);
        }
        let book: Vec<Order> = orders.iter().map(|&(b, qty, price, ro)| {
            let mut o = Order::limit(btcusdt(), if b { Side::Buy } else { Side::Sell }, qty, price);
            o.reduce_only = ro;
            o.leverage = Some(lev);
            o
        }).collect();
        let acc = with_orders(account(vec![coll(Venue::Binance, "USDT", 1e6, 6)], positions), book);
        let out = venue_margins(&acc, &assets(), &m).unwrap();
        let got = cross(&out, Venue::Binance).orders_initial_margin;
        let want = binance_calculator(q, mark, lev, &orders);
        prop_assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{} vs {}", got, want);
    }

    #[test]
    fn deribit_random_books_match_the_documented_rule(
        q_usd in -500_000i64..500_000,
        mark in 20_000.0f64..80_000.0,
        raw in prop::collection::vec((any::<bool>(), 1i64..40_000, prop::bool::weighted(0.2)), 0..6),
    ) {
        let mut m = market();
        m.mark_prices.insert(deribit_perp().id(), mark);
        m.fx.insert("BTC".into(), mark);
        let contracts = (q_usd / 10) as f64;
        let positions = if contracts != 0.0 { vec![pos(deribit_perp(), contracts, Some(mark))] } else { vec![] };
        let book: Vec<Order> = raw.iter().map(|&(b, c, ro)| {
            let mut o = Order::limit(deribit_perp(), if b { Side::Buy } else { Side::Sell }, c as f64, mark);
            o.reduce_only = ro;
            o
        }).collect();
        let coin = |c: f64| c * 10.0 / mark;
        let rows: Vec<(bool, f64, bool)> = raw.iter().map(|&(b, c, ro)| (b, coin(c as f64), ro)).collect();
        let acc = with_orders(account(vec![coll(Venue::Deribit, "BTC", 10.0, 8)], positions), book);
        let out = venue_margins(&acc, &assets(), &m).unwrap();
        let got = cross(&out, Venue::Deribit).orders_initial_margin;
        let want = deribit_calculator(coin(contracts), &rows);
        prop_assert!((got - want).abs() <= 1e-12 + 1e-9 * want.abs(), "{} vs {}", got, want);
    }

    /// Reduce-only and untriggered stop orders never change any venue's figures.
    #[test]
    fn reduce_only_and_stop_orders_add_nothing(
        q in -5.0f64..5.0,
        mark in 20_000.0f64..80_000.0,
        raw in prop::collection::vec((any::<bool>(), 0.001f64..3.0, 0.9f64..1.1, any::<bool>()), 1..6),
    ) {
        let mut m = market();
        m.mark_prices.insert(btcusdt().id(), mark);
        m.mark_prices.insert(deribit_perp().id(), mark);
        m.fx.insert("BTC".into(), mark);
        let mut positions = vec![];
        if q.abs() > 1e-9 {
            positions.push(pos(btcusdt(), q, Some(mark)));
            positions.push(pos(deribit_perp(), (q * mark / 10.0).round(), Some(mark)));
        }
        let base = account(
            vec![coll(Venue::Binance, "USDT", 1e6, 6), coll(Venue::Deribit, "BTC", 10.0, 8)],
            positions,
        );
        let mut book = vec![];
        for &(b, qty, k, stop) in &raw {
            let side = if b { Side::Buy } else { Side::Sell };
            for ins in [btcusdt(), deribit_perp()] {
                let size = if ins.venue == Venue::Deribit { (qty * mark / 10.0).ceil() } else { qty };
                let mut o = Order::limit(ins, side, size, mark * k);
                if stop {
                    o.order_type = OrderType::StopLimit;
                    o.trigger_price = Some(mark * k);
                } else {
                    o.reduce_only = true;
                }
                book.push(o);
            }
        }
        let without = venue_margins(&base, &assets(), &m).unwrap();
        let with = venue_margins(&with_orders(base, book), &assets(), &m).unwrap();
        prop_assert_eq!(without, with);
    }
}

fn okx_swap() -> Instrument {
    linear_perp(Venue::Okx, "BTC-USDT-SWAP", "BTC", "USDT")
}

fn okx_inverse() -> Instrument {
    // BTC-USD-SWAP: 100 USD face per contract, settled in BTC.
    perp(
        Venue::Okx,
        "BTC-USD-SWAP",
        "BTC",
        "BTC",
        Settlement::Inverse,
        100.0,
        SizeUnit::Quote,
    )
}

fn bybit_linear() -> Instrument {
    linear_perp(Venue::Bybit, "BTCUSDT", "BTC", "USDT")
}

fn bybit_inverse() -> Instrument {
    // BTCUSD: 1 USD per contract, settled in BTC.
    perp(
        Venue::Bybit,
        "BTCUSD",
        "BTC",
        "BTC",
        Settlement::Inverse,
        1.0,
        SizeUnit::Quote,
    )
}

/// OKX, one-way mode ("OKX to change initial margin requirement (IMR) for futures under one-way
/// mode…", okx.com/help, 2024-10-24). Hand example: long 1 BTC-USDT-SWAP (1 BTC per contract
/// here) at a mark of 10,000, 10×; a buy for 0.2 at 10,100 and a sell for 1.5 at 10,000.
/// Long: Max[(10,000 + 2,020), (15,000 − 10,000)] / 10 = 1,202, of which the position's 1,000;
/// order loss of the buy |0.2 × min(0, 10,000 − 10,100)| = 20, of the sell 0 → orders 222.
#[test]
fn okx_one_way_hand_example() {
    let mut m = market();
    m.mark_prices.insert(okx_swap().id(), 10_000.0);
    let mut p = pos(okx_swap(), 1.0, Some(10_000.0));
    p.leverage = Some(10.0);
    let acc = with_orders(
        account(vec![coll(Venue::Okx, "USDT", 5_000.0, 6)], vec![p]),
        vec![
            Order::limit(okx_swap(), Side::Buy, 0.2, 10_100.0),
            Order::limit(okx_swap(), Side::Sell, 1.5, 10_000.0),
        ],
    );
    let out = venue_margins(&acc, &assets(), &m).unwrap();
    let v = cross(&out, Venue::Okx);
    close(v.orders_initial_margin, 222.0, 1e-9, "orders IM");
    close(v.initial_margin, 1_222.0, 1e-9, "IM");
}

/// OKX crypto-margined: short 10 BTC-USD-SWAP (1,000 USD) at a mark of 20,000, 5×, a sell for
/// 5 contracts at 19,000: Short: Max[(0 − 0.05), (0.05 + 500/19,000)] / 5 in BTC; order loss of
/// the sell |500 × min(0, 1/20,000 − 1/19,000)|.
#[test]
fn okx_crypto_margined_hand_example() {
    let mut m = market();
    m.mark_prices.insert(okx_inverse().id(), 20_000.0);
    m.fx.insert("BTC".into(), 20_000.0);
    let mut p = pos(okx_inverse(), -10.0, Some(20_000.0));
    p.leverage = Some(5.0);
    let acc = with_orders(
        account(vec![coll(Venue::Okx, "BTC", 1.0, 8)], vec![p]),
        vec![Order::limit(okx_inverse(), Side::Sell, 5.0, 19_000.0)],
    );
    let pos_value = 1_000.0 / 20_000.0;
    let sell_value = 500.0 / 19_000.0;
    let netted = f64::max(0.0 - pos_value, pos_value + sell_value) / 5.0;
    let loss = (500.0 * f64::min(0.0, 1.0 / 20_000.0 - 1.0 / 19_000.0)).abs();
    let want = netted - pos_value / 5.0 + loss;
    let out = venue_margins(&acc, &assets(), &m).unwrap();
    close(
        cross(&out, Venue::Okx).orders_initial_margin,
        want,
        1e-12,
        "orders IM (BTC)",
    );
}

/// Bybit "Order Cost (USDT Contract)" worked example (help.bybit.com, article 900000169703):
/// 1 BTC long at 50,000 USDT, 10×, taker 0.06 %: IM 5,000 + fee to open 30 + fee to close
/// 1 × 50,000 × (10 − 1)/10 × 0.06 % = 27 → order cost 5,057. With the current non-VIP taker
/// rate 0.055 % (params/bybit.toml): 5,000 + 27.5 + 24.75 = 5,052.25.
#[test]
fn bybit_order_cost_worked_example() {
    let mut m = market();
    m.mark_prices.insert(bybit_linear().id(), 50_000.0);
    let acc = |lev: f64| {
        // No position: the leg's leverage is the order's.
        let mut a = with_orders(
            account(vec![coll(Venue::Bybit, "USDT", 10_000.0, 6)], vec![]),
            vec![Order::limit(bybit_linear(), Side::Buy, 1.0, 50_000.0)],
        );
        a.orders[0].leverage = Some(lev);
        a
    };
    let out = venue_margins(&acc(10.0), &assets(), &m).unwrap();
    close(
        cross(&out, Venue::Bybit).orders_initial_margin,
        5_052.25,
        1e-9,
        "0.055 %",
    );
    m.venue_params.insert(
        "bybit:fee-rate:BTCUSDT".into(),
        serde_json::json!({"symbol": "BTCUSDT", "takerFeeRate": "0.0006", "makerFeeRate": "0.0001"}),
    );
    let out = venue_margins(&acc(10.0), &assets(), &m).unwrap();
    close(
        cross(&out, Venue::Bybit).orders_initial_margin,
        5_057.0,
        1e-9,
        "0.06 %",
    );
    // Bybit's order rows carry no leverage: with no position either, the leg is charged at
    // Bybit's default 10× ("The default order will use Cross Margin with 10x leverage") — the
    // example's leverage, so the same 5,057.
    let mut flat = acc(10.0);
    flat.orders[0].leverage = None;
    let out = venue_margins(&flat, &assets(), &m).unwrap();
    close(
        cross(&out, Venue::Bybit).orders_initial_margin,
        5_057.0,
        1e-9,
        "default 10×",
    );
}

/// OKX's rule written from the page, branch by branch: long
/// `Max[(N + Buy), (Sell − N)] / L`, short `Max[(Buy − N), (N + Sell)] / L`, flat = long with
/// N = 0; the position's own `N / L` taken off; plus each order's loss by the page's USDT- or
/// crypto-margined formula. Orders: (buy, contracts, price); `face` USD per contract (inverse)
/// or base per contract (linear).
fn okx_calculator(
    inverse: bool,
    face: f64,
    q: f64,
    mark: f64,
    lev: f64,
    orders: &[(bool, f64, f64)],
) -> f64 {
    let value = |n: f64, px: f64| {
        if inverse {
            n * face / px
        } else {
            n * face * px
        }
    };
    let n = value(q.abs(), mark);
    let buy: f64 = orders.iter().filter(|o| o.0).map(|o| value(o.1, o.2)).sum();
    let sell: f64 = orders
        .iter()
        .filter(|o| !o.0)
        .map(|o| value(o.1, o.2))
        .sum();
    let req = if q >= 0.0 {
        f64::max(n + buy, sell - n) / lev
    } else {
        f64::max(buy - n, n + sell) / lev
    };
    let loss: f64 = orders
        .iter()
        .map(|&(is_buy, c, px)| {
            let x = match (inverse, is_buy) {
                (false, true) => f64::min(0.0, mark - px),
                (false, false) => f64::min(0.0, px - mark),
                (true, true) => f64::min(0.0, 1.0 / px - 1.0 / mark),
                (true, false) => f64::min(0.0, 1.0 / mark - 1.0 / px),
            };
            (face * c * x).abs()
        })
        .sum();
    req - n / lev + loss
}

/// Bybit's order cost written from the pages: each order's part that increases the position
/// (closing parts first, best-priced first) costs `IM + fee to open + fee to close` by the
/// Order Cost page's linear or inverse formulas; `Max[Buy IM, Sell IM]` with the position's
/// IM on its side; plus the UTA glossary's order loss `|min(0, (mark − price) × size)|` (buy),
/// `|min(0, (price − mark) × size)|` (sell), in coin for inverse.
fn bybit_calculator(
    inverse: bool,
    q: f64,
    mark: f64,
    lev: f64,
    taker: f64,
    orders: &[(bool, f64, f64)],
) -> f64 {
    let cost = |is_buy: bool, qty: f64, px: f64| -> f64 {
        if inverse {
            let v = qty / px;
            let close = if is_buy {
                1.0 + 1.0 / lev
            } else {
                1.0 - 1.0 / lev
            };
            v / lev + v * taker + v * close * taker
        } else {
            let close = if is_buy {
                1.0 - 1.0 / lev
            } else {
                1.0 + 1.0 / lev
            };
            qty * px / lev + qty * px * taker + qty * px * close * taker
        }
    };
    let side = |is_buy: bool| -> f64 {
        let mut rows: Vec<(f64, f64)> = orders
            .iter()
            .filter(|o| o.0 == is_buy)
            .map(|o| (o.1, o.2))
            .collect();
        // Buys fill from the highest price down, sells from the lowest up.
        rows.sort_by(|a, b| {
            if is_buy {
                b.1.total_cmp(&a.1)
            } else {
                a.1.total_cmp(&b.1)
            }
        });
        let mut closable = if is_buy { (-q).max(0.0) } else { q.max(0.0) };
        let mut total = 0.0;
        for (qty, px) in rows {
            let c = qty.min(closable);
            closable -= c;
            total += cost(is_buy, qty - c, px);
        }
        total
    };
    let pos_im = if inverse {
        q.abs() / mark
    } else {
        q.abs() * mark
    } / lev;
    let buy_im = side(true) + if q > 0.0 { pos_im } else { 0.0 };
    let sell_im = side(false) + if q < 0.0 { pos_im } else { 0.0 };
    let loss: f64 = orders
        .iter()
        .map(|&(is_buy, qty, px)| {
            let x = if inverse {
                let d = if is_buy {
                    1.0 / px - 1.0 / mark
                } else {
                    1.0 / mark - 1.0 / px
                };
                qty * d
            } else if is_buy {
                (mark - px) * qty
            } else {
                (px - mark) * qty
            };
            f64::min(0.0, x).abs()
        })
        .sum();
    buy_im.max(sell_im) - pos_im + loss
}

fn okx_bybit_order_strategy() -> impl Strategy<Value = Vec<(bool, f64, f64)>> {
    prop::collection::vec((any::<bool>(), 1u32..400, -300i32..300), 0..7).prop_map(|v| {
        v.into_iter()
            .map(|(b, n, d)| (b, n as f64, d as f64))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random OKX books (USDT-margined and crypto-margined, long, short or flat, orders on both
    /// sides around the mark) against [`okx_calculator`].
    #[test]
    fn okx_random_books_match_the_documented_rule(
        inverse in any::<bool>(),
        q in -300i32..300,
        mark in 2_000u32..90_000,
        lev in 1u32..100,
        book in okx_bybit_order_strategy(),
    ) {
        let (ins, face, settle) = if inverse { (okx_inverse(), 100.0, "BTC") } else { (okx_swap(), 1.0, "USDT") };
        let mark = mark as f64;
        let q = q as f64 / if inverse { 1.0 } else { 100.0 };
        let lev = lev as f64;
        let mut m = market();
        m.mark_prices.insert(ins.id(), mark);
        m.fx.insert("BTC".into(), mark);
        let mut positions = Vec::new();
        if q != 0.0 {
            let mut p = pos(ins.clone(), q, Some(mark));
            p.leverage = Some(lev);
            positions.push(p);
        }
        let scale = if inverse { 1.0 } else { 100.0 };
        let rows: Vec<(bool, f64, f64)> = book.iter().map(|&(b, n, d)| (b, n / scale, mark * (1.0 + d / 2_000.0))).collect();
        let orders = rows.iter().map(|&(b, n, px)| {
            let mut o = Order::limit(ins.clone(), if b { Side::Buy } else { Side::Sell }, n, px);
            o.leverage = Some(lev);
            o
        }).collect();
        let acc = with_orders(account(vec![coll(Venue::Okx, settle, 10.0, 6)], positions), orders);
        let out = venue_margins(&acc, &assets(), &m).unwrap();
        let got = out.iter().filter(|v| v.venue == Venue::Okx).map(|v| v.orders_initial_margin).sum::<f64>();
        let want = okx_calculator(inverse, face, q, mark, lev, &rows);
        prop_assert!((got - want).abs() <= 1e-9 * (1.0 + want.abs()), "got {got}, want {want}");
    }

    /// Random Bybit books (USDT linear and inverse) against [`bybit_calculator`], with a taker
    /// rate published for the account and the file's rate.
    #[test]
    fn bybit_random_books_match_the_documented_rule(
        inverse in any::<bool>(),
        q in -300i32..300,
        mark in 2_000u32..90_000,
        lev in 1u32..100,
        published_fee in prop::option::of(0u32..20),
        book in okx_bybit_order_strategy(),
    ) {
        let (ins, settle) = if inverse { (bybit_inverse(), "BTC") } else { (bybit_linear(), "USDT") };
        let mark = mark as f64;
        // Inverse sizes in USD contracts, linear in BTC.
        let scale = if inverse { 0.01 } else { 100.0 };
        let q = q as f64 / scale;
        let lev = lev as f64;
        let mut m = market();
        m.mark_prices.insert(ins.id(), mark);
        m.fx.insert("BTC".into(), mark);
        let taker = match published_fee {
            Some(bp) => {
                let rate = bp as f64 / 10_000.0;
                m.venue_params.insert(
                    format!("bybit:fee-rate:{}", ins.symbol),
                    serde_json::json!([{"symbol": ins.symbol, "takerFeeRate": rate.to_string(), "makerFeeRate": "0"}]),
                );
                rate
            }
            None => 0.00055,
        };
        let mut positions = Vec::new();
        let mut lev_carrier = pos(ins.clone(), q, Some(mark));
        lev_carrier.leverage = Some(lev);
        if q != 0.0 {
            positions.push(lev_carrier);
        }
        let rows: Vec<(bool, f64, f64)> = book.iter().map(|&(b, n, d)| (b, n / scale, mark * (1.0 + d / 2_000.0))).collect();
        let orders = rows.iter().map(|&(b, n, px)| {
            let mut o = Order::limit(ins.clone(), if b { Side::Buy } else { Side::Sell }, n, px);
            // Bybit orders carry no leverage; the flat book's comes from here.
            if q == 0.0 { o.leverage = Some(lev); }
            o
        }).collect();
        let acc = with_orders(account(vec![coll(Venue::Bybit, settle, 10.0, 6)], positions), orders);
        let out = venue_margins(&acc, &assets(), &m).unwrap();
        let got = out.iter().filter(|v| v.venue == Venue::Bybit).map(|v| v.orders_initial_margin).sum::<f64>();
        let want = bybit_calculator(inverse, q, mark, lev, taker, &rows);
        prop_assert!((got - want).abs() <= 1e-9 * (1.0 + want.abs()), "got {got}, want {want}");
    }
}

/// Orders that only close the position reserve nothing on OKX and Bybit (both pages), and
/// reduce-only orders never do; options orders on either venue are not charged (no rule).
#[test]
fn okx_and_bybit_closing_orders_reserve_nothing() {
    let mut m = market();
    m.mark_prices.insert(okx_swap().id(), 50_000.0);
    m.mark_prices.insert(bybit_linear().id(), 50_000.0);
    let base = account(
        vec![
            coll(Venue::Okx, "USDT", 10_000.0, 6),
            coll(Venue::Bybit, "USDT", 10_000.0, 6),
        ],
        [okx_swap(), bybit_linear()]
            .into_iter()
            .map(|i| {
                let mut p = pos(i, 0.5, Some(50_000.0));
                p.leverage = Some(10.0);
                p
            })
            .collect(),
    );
    let mut reduce = Order::limit(okx_swap(), Side::Buy, 3.0, 49_000.0);
    reduce.reduce_only = true;
    let with = with_orders(
        base.clone(),
        vec![
            // Sells at or above the mark for no more than the long: closing only.
            Order::limit(okx_swap(), Side::Sell, 0.5, 51_000.0),
            Order::limit(bybit_linear(), Side::Sell, 0.2, 50_000.0),
            Order::limit(bybit_linear(), Side::Sell, 0.3, 52_000.0),
            reduce,
        ],
    );
    assert_eq!(
        venue_margins(&base, &assets(), &m).unwrap(),
        venue_margins(&with, &assets(), &m).unwrap()
    );
}

/// An OKX order with no `lever` on a symbol without a position: refused naming the order's
/// leverage field, never charged at the tier's most lenient maximum.
#[test]
fn okx_order_without_leverage_is_refused_naming_the_field() {
    let mut m = market();
    m.mark_prices.insert(okx_swap().id(), 50_000.0);
    let acc = with_orders(
        account(vec![coll(Venue::Okx, "USDT", 10_000.0, 6)], vec![]),
        vec![Order::limit(okx_swap(), Side::Buy, 1.0, 49_000.0)],
    );
    let e = venue_margins(&acc, &assets(), &m).unwrap_err().to_string();
    assert!(
        e.contains("orders[0].leverage") && e.contains("okx:BTC-USDT-SWAP"),
        "{e}"
    );
}
