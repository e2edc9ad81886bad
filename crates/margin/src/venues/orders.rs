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
//! * OKX and Bybit: orders are read into the model but reserve nothing here (their order-margin
//!   rules were not found in a citable form).
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
    (position_notional + bid)
        .abs()
        .max((position_notional - ask).abs())
        / leverage
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
