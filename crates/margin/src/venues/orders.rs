//! Initial margin the venues reserve for open orders, each by its own published rule.
//!
//! * Binance USDⓈ-M ("How to Calculate the Margin Requirement on Binance Futures Trading",
//!   <https://www.binance.com/en/support/faq/4f83b65d83654b5e933f85ef12bf769d>, 2022-12-06):
//!   one-way mode `Margin Requirement = max(|N + Bid|, |N − Ask|) / leverage` with `N` the
//!   position notional at the mark (signed) and `Bid` / `Ask` the order values at their limit
//!   prices; hedge mode applies the same per `positionSide` leg. Stop orders reserve nothing
//!   until triggered. Each order also carries its open loss ("How to Calculate Cost Required to
//!   Open a Position in Perpetual Futures Contracts",
//!   <https://www.binance.com/en/support/faq/87fa7ee33b574f7084d42bd2ce2e463b>):
//!   `qty × |min(0, direction × (mark − order price))|`; we charge it for the orders of the side
//!   that sets the requirement (the side that adds exposure).
//! * Deribit (standard margin): "the total initial margin is calculated as the initial margin of
//!   your current positions plus initial margin of your current orders"
//!   (<https://deribit.freshdesk.com/support/solutions/articles/1000197257-futures-leverage-and-margin>);
//!   a futures book is charged on the larger of the two sizes its orders could reach,
//!   `IM(max(|q + buys|, |q − sells|)) − IM(|q|)` with the size-dependent rate of
//!   `params/deribit.toml` (the netting form is UNCONFIRMED from Deribit's text). Options: sell
//!   orders that extend a short carry the short-option initial margin per coin; buy orders beyond
//!   closing a short reserve their premium (UNCONFIRMED, third-party reading in
//!   `venue-margin-rules.md` §1.2).
//! * OKX (perpetuals and expiry futures, cross and isolated, single-currency and multi-currency
//!   margin): "OKX to change initial margin requirement (IMR) for futures under one-way mode in
//!   spot and futures and multi-currency account modes"
//!   (<https://okx.com/fr/help/okx-to-change-initial-margin-requirement-imr-for-futures-under-one-way-mode>,
//!   published 2024-10-24, in force from 2024-11-08): a long position charges
//!   `Max[(Position notional + Buy order value), (Sell order value − Position notional)] / Leverage`,
//!   a short `Max[(Buy order value − Position notional), (Position notional + Sell order value)] /
//!   Leverage` — the same netting as Binance's, [`netted_requirement`] — and every order adds its
//!   order loss: USDT-margined buy `|ctVal × n × mult × min(0, mark − px)|`, sell `… min(0, px −
//!   mark)`; crypto-margined buy `… min(0, 1/px − 1/mark)`, sell `… min(0, 1/mark − 1/px)`
//!   ([`order_loss`]). Long/short (hedge) mode: the page covers one-way mode; we apply the same
//!   rule per `posSide` leg (our reading).
//! * Bybit (USDT/USDC/inverse perpetuals and futures): "Order Cost (Perpetuals & Futures
//!   Trading)" (<https://testnet.bybit.com/en/help-center/article/Order-Cost-USDT-Contract>,
//!   2024-10-30): `Order Cost = Initial Margin + Fee to Open + Fee to Close` with
//!   `IM = qty × price / leverage`, `Fee to Open = qty × price × taker`, `Fee to Close` buy
//!   `qty × price × (1 − 1/leverage) × taker`, sell `× (1 + 1/leverage)` (inverse: values
//!   `qty / price` in coin, buy `(1 + 1/leverage)`, sell `(1 − 1/leverage)`). An order that does
//!   not increase the existing position posts no IM and, with buy and sell orders/positions
//!   together, the larger side sets the requirement, `Max[Buy IM, Sell IM]` (Bybit's contract
//!   help text as quoted at <https://www.safe-crypto.com/trading/bybit>; third-party copy, the
//!   Bybit page itself was not found — [`bybit_orders_initial_margin`]). Order loss as in the
//!   Unified Trading Account glossary
//!   (<https://www.bybit.com/en/help-center/article/Glossary-Unified-Trading-Account>, updated
//!   2025-09-02): buy `min[0, (mark − price) × size]`, sell `min[0, (price − mark) × size]`.
//!   Bybit puts it in the margin balance of both the IM and the MM rate; we charge it with the
//!   orders' initial margin (the same IM check) and not against maintenance.
//!   Options orders on OKX and Bybit still reserve nothing here (no rule found).
//!
//! Reduce-only orders never add margin on any venue.

use intermargin_model::{Order, Side};

/// One order of a leg, as Binance's rule reads it: side, size in the underlying (coin) and limit
/// price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegOrder {
    /// Buy or sell.
    pub side: Side,
    /// Unfilled size in the underlying (coin), > 0.
    pub qty: f64,
    /// Limit price.
    pub price: f64,
}

/// Binance's open loss of one order: `qty × |min(0, direction × (mark − price))|`.
pub fn binance_open_loss(o: &LegOrder, mark: f64) -> f64 {
    o.qty * (o.side.sign() * (mark - o.price)).min(0.0).abs()
}

/// Binance's margin requirement of one leg (position and orders together):
/// `max(|N + Bid|, |N − Ask|) / leverage`, `N` the signed position notional at the mark.
pub fn binance_leg_requirement(position_notional: f64, orders: &[LegOrder], leverage: f64) -> f64 {
    let (bid, ask) = order_values(orders);
    netted_requirement(position_notional, bid, ask, leverage)
}

/// The netted requirement of a position and its orders that Binance and OKX both publish:
/// `max(|N + Bid|, |N − Ask|) / leverage` with `N` the signed position value at the mark and
/// `Bid` / `Ask` the buy / sell orders' values at their prices (OKX writes it per sign of `N`:
/// long `Max[N + Buy, Sell − N]`, short `Max[Buy − |N|, |N| + Sell]` — the same number).
pub fn netted_requirement(position_value: f64, bid: f64, ask: f64, leverage: f64) -> f64 {
    (position_value + bid)
        .abs()
        .max((position_value - ask).abs())
        / leverage
}

/// An order's loss at the mark when it fills at its own price (≥ 0): `−pnl` of its signed
/// remaining size entered at `price` and valued at `mark`, when that is a loss — OKX's and
/// Bybit's "order loss" (linear `qty × |min(0, dir × (mark − px))|`; inverse
/// `face × |min(0, dir × (1/px − 1/mark))|`), the same quantity as Binance's open loss.
pub fn order_loss(
    ins: &intermargin_model::Instrument,
    signed_size: f64,
    price: f64,
    mark: f64,
) -> f64 {
    (-ins.pnl(signed_size, price, mark)).max(0.0)
}

/// Value of `size` contracts at `price` in the settle currency: linear `base × price`, inverse
/// the coin amount (`face / price`) — the measure OKX and Bybit size initial margin by.
pub fn settle_value(ins: &intermargin_model::Instrument, size: f64, price: f64) -> f64 {
    let base = ins.base_quantity(size, price).abs();
    match ins.settlement {
        intermargin_model::Settlement::Linear => base * price,
        intermargin_model::Settlement::Inverse => base,
    }
}

/// One resting order of a leg as OKX's and Bybit's rules read it, in the settle currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuedOrder {
    /// Buy or sell.
    pub side: Side,
    /// Unfilled size in contracts, > 0.
    pub contracts: f64,
    /// Limit price.
    pub price: f64,
    /// Value of the unfilled size at the limit price ([`settle_value`]).
    pub value: f64,
    /// Its loss at the mark ([`order_loss`]).
    pub loss: f64,
}

/// OKX: the initial margin a leg's orders add — the netted requirement
/// ([`netted_requirement`]) less the position's own `|N| / leverage`, plus every order's loss.
pub fn okx_orders_initial_margin(
    position_value: f64,
    orders: &[ValuedOrder],
    leverage: f64,
) -> f64 {
    let (bid, ask) = orders.iter().fold((0.0, 0.0), |(b, a), o| match o.side {
        Side::Buy => (b + o.value, a),
        Side::Sell => (b, a + o.value),
    });
    let netted = netted_requirement(position_value, bid, ask, leverage);
    let loss: f64 = orders.iter().map(|o| o.loss).sum();
    (netted - position_value.abs() / leverage).max(0.0) + loss
}

/// Bybit: one order's cost per unit of value: `1/leverage + taker + taker × (1 ∓ 1/leverage)`
/// (IM, fee to open, fee to close at the bankruptcy price; `−` for a linear buy or an inverse
/// sell, `+` for a linear sell or an inverse buy).
pub fn bybit_cost_per_value(side: Side, inverse: bool, leverage: f64, taker: f64) -> f64 {
    let close = match (side, inverse) {
        (Side::Buy, false) | (Side::Sell, true) => 1.0 - 1.0 / leverage,
        (Side::Sell, false) | (Side::Buy, true) => 1.0 + 1.0 / leverage,
    };
    1.0 / leverage + taker + taker * close
}

/// Bybit: the initial margin a leg's orders add. `position` is the signed position in
/// contracts and `position_value` its value at the mark; orders that would only reduce the
/// position (taken in the order they would fill: buys from the highest price, sells from the
/// lowest) post nothing, the rest costs [`bybit_cost_per_value`] of its value; the larger side
/// sets the requirement, the position's `|N| / leverage` on its own side:
/// `max(P_buy + Σ buy cost, P_sell + Σ sell cost) − |N| / leverage`, plus every order's loss.
pub fn bybit_orders_initial_margin(
    position: f64,
    position_value: f64,
    orders: &[ValuedOrder],
    leverage: f64,
    taker: f64,
    inverse: bool,
) -> f64 {
    let side_cost = |side: Side, closable: f64| -> f64 {
        let mut rows: Vec<&ValuedOrder> = orders.iter().filter(|o| o.side == side).collect();
        // Fill order: the best-priced order for the other side fills first.
        rows.sort_by(|a, b| match side {
            Side::Buy => b.price.total_cmp(&a.price),
            Side::Sell => a.price.total_cmp(&b.price),
        });
        let mut left = closable;
        let mut cost = 0.0;
        for o in rows {
            let closes = left.min(o.contracts);
            left -= closes;
            let opens = o.contracts - closes;
            if opens > 0.0 {
                cost += o.value
                    * (opens / o.contracts)
                    * bybit_cost_per_value(side, inverse, leverage, taker);
            }
        }
        cost
    };
    let pos_im = position_value.abs() / leverage;
    let (long_im, short_im) = if position >= 0.0 {
        (pos_im, 0.0)
    } else {
        (0.0, pos_im)
    };
    let buys = long_im + side_cost(Side::Buy, (-position).max(0.0));
    let sells = short_im + side_cost(Side::Sell, position.max(0.0));
    let loss: f64 = orders.iter().map(|o| o.loss).sum();
    (buys.max(sells) - pos_im).max(0.0) + loss
}

/// The OKX / Bybit legs of an account's reserving orders on perpetuals and futures: grouped by
/// (symbol, hedge leg, isolated), each with the signed position (contracts) and its value at the
/// mark from the positions of the same leg, the leg's leverage (position's, else an order's)
/// and the orders valued at their prices. Options and spot orders are left out.
pub(crate) fn futures_legs(
    account: &intermargin_model::Account,
    market: &intermargin_model::Market,
    venue: intermargin_model::Venue,
) -> Result<Vec<FuturesLeg>, crate::error::MarginError> {
    use intermargin_model::{InstrumentKind, PositionSide};
    use std::collections::BTreeMap;
    type LegKey = (String, Option<PositionSide>, bool);
    let mut legs: BTreeMap<LegKey, Vec<(usize, &Order)>> = BTreeMap::new();
    for (i, o) in account.orders.iter().enumerate() {
        if o.instrument.venue != venue
            || !o.reserves_margin()
            || !matches!(
                o.instrument.kind,
                InstrumentKind::Perpetual | InstrumentKind::Future { .. }
            )
        {
            continue;
        }
        legs.entry((o.instrument.symbol.clone(), o.position_side, o.isolated))
            .or_default()
            .push((i, o));
    }
    let mut out = Vec::new();
    for ((symbol, leg, isolated), orders) in legs {
        let ins = &orders[0].1.instrument;
        let id = ins.id();
        let mark = super::common::mark_price(market, &id)?;
        let held: Vec<&intermargin_model::Position> = account
            .positions
            .iter()
            .filter(|p| {
                p.instrument.venue == venue
                    && p.instrument.symbol == symbol
                    && p.isolated == isolated
                    && match leg {
                        None => true,
                        Some(PositionSide::Long) => p.size > 0.0,
                        Some(PositionSide::Short) => p.size < 0.0,
                    }
            })
            .collect();
        let contracts: f64 = held.iter().map(|p| p.size).sum();
        let value: f64 = held
            .iter()
            .map(|p| p.size.signum() * settle_value(&p.instrument, p.size, mark))
            .sum();
        let leverage = held
            .iter()
            .find_map(|p| p.leverage)
            .or_else(|| orders.iter().find_map(|(_, o)| o.leverage));
        let mut rows = Vec::with_capacity(orders.len());
        for (_, o) in &orders {
            let price = o.price.unwrap_or(mark);
            rows.push(ValuedOrder {
                side: o.side,
                contracts: o.remaining,
                price,
                value: settle_value(&o.instrument, o.remaining, price),
                loss: order_loss(&o.instrument, o.signed_remaining(), price, mark),
            });
        }
        out.push(FuturesLeg {
            instrument: ins.clone(),
            first_order: orders[0].0,
            contracts,
            value,
            leverage,
            orders: rows,
        });
    }
    Ok(out)
}

/// Adds `im` (settle currency) of open orders to `venue`'s cross pool in `settle`, creating an
/// empty cross pool when the account has neither balance nor position there (the venue takes
/// order margin from the account's balance: isolated orders too).
pub(crate) fn charge_cross_pool(
    pools: &mut Vec<crate::report::VenueMargin>,
    venue: intermargin_model::Venue,
    settle: &str,
    im: f64,
    market: &intermargin_model::Market,
) -> Result<(), crate::error::MarginError> {
    if im == 0.0 {
        return Ok(());
    }
    let k = match pools
        .iter()
        .position(|p| p.settlement == settle && p.pool == "cross")
    {
        Some(k) => k,
        None => {
            pools.push(super::common::pool(
                venue,
                settle,
                "cross",
                (0.0, 0.0, 0.0),
                Vec::new(),
                market,
            )?);
            pools.len() - 1
        }
    };
    super::common::add_orders_margin(&mut pools[k], im, market);
    Ok(())
}

/// One (symbol, hedge leg, isolated) group of OKX / Bybit orders with its position.
#[derive(Debug, Clone)]
pub(crate) struct FuturesLeg {
    /// The orders' instrument.
    pub instrument: intermargin_model::Instrument,
    /// Index of the leg's first order in `account.orders` (for error paths).
    pub first_order: usize,
    /// Signed position of the leg, contracts.
    pub contracts: f64,
    /// Signed position value at the mark, settle currency.
    pub value: f64,
    /// The position's leverage, else an order's (`None` when neither says).
    pub leverage: Option<f64>,
    /// The resting orders.
    pub orders: Vec<ValuedOrder>,
}

fn order_values(orders: &[LegOrder]) -> (f64, f64) {
    orders.iter().fold((0.0, 0.0), |(b, a), o| match o.side {
        Side::Buy => (b + o.qty * o.price, a),
        Side::Sell => (b, a + o.qty * o.price),
    })
}

/// The initial margin a leg's orders add on Binance: the leg's requirement less the position's
/// own `|N| / leverage`, plus the open loss of the orders on the side that sets the requirement
/// (none when neither side adds exposure).
pub fn binance_orders_initial_margin(
    position_notional: f64,
    orders: &[LegOrder],
    mark: f64,
    leverage: f64,
) -> f64 {
    let (bid, ask) = order_values(orders);
    let n = position_notional;
    let up = (n + bid).abs();
    let down = (n - ask).abs();
    let with_orders = up.max(down);
    if with_orders <= n.abs() {
        return 0.0;
    }
    let side = if up >= down { Side::Buy } else { Side::Sell };
    let open_loss: f64 = orders
        .iter()
        .filter(|o| o.side == side)
        .map(|o| binance_open_loss(o, mark))
        .sum();
    (with_orders - n.abs()) / leverage + open_loss
}

/// Deribit futures: the coin sizes a book's orders could take it to, `(max(|q + buys|,
/// |q − sells|), |q|)`, with `q` the signed position and `buys` / `sells` the orders' coin sizes.
pub fn deribit_futures_reach(q: f64, buys: f64, sells: f64) -> f64 {
    (q + buys).abs().max((q - sells).abs())
}

/// The orders of `orders` that reserve margin (see [`Order::reserves_margin`]), by instrument id
/// and hedge leg, in input order.
pub(crate) fn reserving(orders: &[Order], venue: intermargin_model::Venue) -> Vec<&Order> {
    orders
        .iter()
        .filter(|o| o.instrument.venue == venue && o.reserves_margin())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_cost_to_open_worked_example() {
        // "How to Calculate Cost Required to Open a Position in Perpetual Futures Contracts":
        // 1 BTC at 9,253.30, mark 9,259.84, 20×: IM = 9,253.30 / 20 = 462.66 (462.665 before
        // the page's truncation); open loss of the long order 0; of the short order
        // 1 × |min(0, −1 × (9,259.84 − 9,253.30))| = 6.54.
        let buy = LegOrder {
            side: Side::Buy,
            qty: 1.0,
            price: 9_253.30,
        };
        let sell = LegOrder {
            side: Side::Sell,
            ..buy
        };
        let mark = 9_259.84;
        assert_eq!(binance_open_loss(&buy, mark), 0.0);
        assert!((binance_open_loss(&sell, mark) - 6.54).abs() < 1e-9);
        let long_cost = binance_orders_initial_margin(0.0, &[buy], mark, 20.0);
        let short_cost = binance_orders_initial_margin(0.0, &[sell], mark, 20.0);
        // The page prints cents truncated: 462.66 and 462.66 + 6.54 = 469.20.
        assert_eq!((long_cost * 100.0).floor() / 100.0, 462.66);
        assert_eq!((short_cost * 100.0).floor() / 100.0, 469.20);
    }

    #[test]
    fn binance_orders_that_only_reduce_reserve_nothing() {
        // Long 1 BTC at mark 10,000 with a sell order for 1.5 BTC at 10,000, 1×:
        // max(|10,000 + 0|, |10,000 − 15,000|) = 10,000 = |N| → the order adds nothing; a sell for
        // 3 BTC reaches |10,000 − 30,000| = 20,000 → 10,000 more.
        let sell = |qty| LegOrder {
            side: Side::Sell,
            qty,
            price: 10_000.0,
        };
        assert_eq!(
            binance_orders_initial_margin(10_000.0, &[sell(1.5)], 10_000.0, 1.0),
            0.0
        );
        assert_eq!(
            binance_orders_initial_margin(10_000.0, &[sell(3.0)], 10_000.0, 1.0),
            10_000.0
        );
        assert_eq!(
            binance_leg_requirement(10_000.0, &[sell(3.0)], 1.0),
            20_000.0
        );
    }
}
