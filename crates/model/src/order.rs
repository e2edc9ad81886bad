//! Open (resting) orders: what the venues reserve initial margin for before anything fills.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{finite, positive, ModelError};
use crate::instrument::Instrument;

/// Which way an order trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buys (adds to a long, reduces a short).
    Buy,
    /// Sells (adds to a short, reduces a long).
    Sell,
}

impl Side {
    /// `+1` for a buy, `−1` for a sell (the venues' "direction of order").
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
}

/// How an order executes, normalised across venues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// Rests in the book at its limit price (post-only, GTC, IOC limit…).
    #[default]
    Limit,
    /// Executes at the best price; rests only while being matched.
    Market,
    /// Places a limit order once a trigger price trades.
    StopLimit,
    /// Places a market order once a trigger price trades.
    StopMarket,
    /// Take-profit limit, placed at a trigger.
    TakeProfitLimit,
    /// Take-profit market, placed at a trigger.
    TakeProfitMarket,
    /// Trailing stop, placed when the price retraces by the callback.
    TrailingStop,
}

impl OrderType {
    /// True for an order that sits off the book until a trigger price trades (stop, take-profit,
    /// trailing): venues check margin for it only when it triggers.
    pub fn is_conditional(self) -> bool {
        !matches!(self, OrderType::Limit | OrderType::Market)
    }
}

/// Hedge-mode leg an order belongs to (Binance `positionSide`, OKX `posSide`, Bybit
/// `positionIdx` 1 / 2); absent in one-way mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    /// The long leg.
    Long,
    /// The short leg.
    Short,
}

/// A resting order on a venue, sized in the venue's own position unit (the unit of
/// [`crate::Position::size`] for the same instrument).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// The contract ordered.
    pub instrument: Instrument,
    /// Buy or sell.
    pub side: Side,
    /// Limit, market or a conditional type.
    #[serde(default)]
    pub order_type: OrderType,
    /// Limit price in the instrument's quote currency (the premium for options); absent for
    /// market and stop-market orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Trigger price of a conditional order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_price: Option<f64>,
    /// Original size in contracts (> 0).
    pub size: f64,
    /// Unfilled size in contracts (0 < remaining ≤ size).
    pub remaining: f64,
    /// True when the order may only reduce a position.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reduce_only: bool,
    /// The venue's order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Hedge-mode leg, when the venue runs the symbol in hedge mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_side: Option<PositionSide>,
    /// Venue sub-account, when the venue has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_account: Option<String>,
    /// True when the order is for an isolated-margin position.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
    /// Leverage the order was placed with, when the venue reports it per order (OKX `lever`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<f64>,
}

impl Order {
    /// A limit order for `remaining` contracts at `price`, unfilled, with no venue extras.
    pub fn limit(instrument: Instrument, side: Side, size: f64, price: f64) -> Self {
        Order {
            instrument,
            side,
            order_type: OrderType::Limit,
            price: Some(price),
            trigger_price: None,
            size,
            remaining: size,
            reduce_only: false,
            id: None,
            position_side: None,
            sub_account: None,
            isolated: false,
            leverage: None,
        }
    }

    /// Unfilled size signed by side (buys > 0).
    pub fn signed_remaining(&self) -> f64 {
        self.side.sign() * self.remaining
    }

    /// True when the order is in the book and can add exposure: not reduce-only, not waiting
    /// for a trigger, and with a limit price (a market order does not rest).
    pub fn reserves_margin(&self) -> bool {
        !self.reduce_only
            && self.order_type == OrderType::Limit
            && self.price.is_some()
            && self.remaining > 0.0
    }

    pub(crate) fn validate(&self, path: &str, now_ms: Option<i64>) -> Result<(), ModelError> {
        self.instrument
            .validate(&format!("{path}.instrument"), now_ms)?;
        positive(&format!("{path}.size"), self.size)?;
        let r = format!("{path}.remaining");
        finite(&r, self.remaining)?;
        if self.remaining < 0.0 {
            return Err(ModelError::Negative {
                field: r,
                value: self.remaining.to_string(),
            });
        }
        if self.remaining > self.size * (1.0 + 1e-12) {
            return Err(ModelError::invalid(
                r,
                format!(
                    "{} unfilled exceeds the order size {}",
                    self.remaining, self.size
                ),
            ));
        }
        if let Some(p) = self.price {
            // Option premiums and spreads can be quoted at zero but never below.
            let f = format!("{path}.price");
            finite(&f, p)?;
            if p < 0.0 {
                return Err(ModelError::Negative {
                    field: f,
                    value: p.to_string(),
                });
            }
        } else if matches!(
            self.order_type,
            OrderType::Limit | OrderType::StopLimit | OrderType::TakeProfitLimit
        ) {
            return Err(ModelError::invalid(
                format!("{path}.price"),
                "a limit order needs its limit price",
            ));
        }
        if let Some(t) = self.trigger_price {
            positive(&format!("{path}.trigger_price"), t)?;
        }
        if let Some(l) = self.leverage {
            positive(&format!("{path}.leverage"), l)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstrumentKind, Settlement, SizeUnit, Venue};

    fn btcusdt() -> Instrument {
        Instrument {
            venue: Venue::Binance,
            symbol: "BTCUSDT".into(),
            kind: InstrumentKind::Perpetual,
            underlying: "BTC".into(),
            quote: "USDT".into(),
            settle: "USDT".into(),
            settlement: Settlement::Linear,
            contract_size: 1.0,
            size_unit: SizeUnit::Base,
        }
    }

    #[test]
    fn a_minimal_order_reads_with_defaults() {
        let ins = serde_json::to_value(btcusdt()).unwrap();
        let v = serde_json::json!({"instrument": ins, "side": "sell", "price": 9253.3,
            "size": 1.0, "remaining": 0.4});
        let o: Order = serde_json::from_value(v).unwrap();
        assert_eq!(o.order_type, OrderType::Limit);
        assert!(!o.reduce_only && o.reserves_margin());
        assert_eq!(o.signed_remaining(), -0.4);
        o.validate("o", None).unwrap();
    }

    #[test]
    fn bad_orders_name_their_field() {
        let mut o = Order::limit(btcusdt(), Side::Buy, 1.0, 100.0);
        o.remaining = 2.0;
        let e = o
            .validate("portfolio.accounts[0].orders[3]", None)
            .unwrap_err();
        assert!(e.to_string().contains("orders[3].remaining"), "{e}");
        let mut o = Order::limit(btcusdt(), Side::Buy, 1.0, 100.0);
        o.price = None;
        let e = o.validate("x", None).unwrap_err();
        assert!(e.to_string().contains("x.price"), "{e}");
        let mut o = Order::limit(btcusdt(), Side::Buy, 0.0, 100.0);
        o.remaining = 0.0;
        assert!(o
            .validate("x", None)
            .unwrap_err()
            .to_string()
            .contains("x.size"));
    }

    #[test]
    fn reduce_only_and_conditional_orders_reserve_nothing() {
        let mut o = Order::limit(btcusdt(), Side::Buy, 1.0, 100.0);
        o.reduce_only = true;
        assert!(!o.reserves_margin());
        let mut o = Order::limit(btcusdt(), Side::Buy, 1.0, 100.0);
        o.order_type = OrderType::StopLimit;
        assert!(!o.reserves_margin());
    }
}
