//! Mark, notional and unrealised P&L of one position, in the market's quote currency.

use intermargin_model::{InstrumentKind, Market, Position, Settlement, SizeUnit};

use crate::error::LiquidationError;

/// What one position is worth to the planner, per contract and in total, in quote currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegValue {
    /// Mark price in the instrument's quote currency (option premium for options).
    pub mark: f64,
    /// Underlying price used for notional (index, or mark for spot/perp without index).
    pub underlying: f64,
    /// Notional of one contract in the market's quote currency (≥ 0).
    pub notional_per_contract: f64,
    /// FX of the instrument's quote currency into the market quote.
    pub quote_fx: f64,
}

/// Values one position; missing prices are errors naming the market key.
pub fn leg_value(p: &Position, market: &Market) -> Result<LegValue, LiquidationError> {
    let id = p.instrument.id();
    let venue = p.instrument.venue.as_str();
    let underlying = market
        .index_price(venue, &p.instrument.underlying)
        .or_else(|| {
            market
                .mark_prices
                .get(&id)
                .copied()
                .filter(|_| !p.instrument.is_option())
        })
        .ok_or_else(|| LiquidationError::MissingMarket {
            field: format!(
                "market.index_prices[\"{venue}:{}\"]",
                p.instrument.underlying
            ),
            reason: format!("underlying price of {id}"),
        })?;
    let mark = match market.mark_prices.get(&id) {
        Some(m) => *m,
        None if !p.instrument.is_option() => underlying,
        None => {
            return Err(LiquidationError::MissingMarket {
                field: format!("market.mark_prices[\"{id}\"]"),
                reason: "option premium needed to value the leg".into(),
            })
        }
    };
    let quote_fx = market.fx_rate(&p.instrument.quote).unwrap_or(1.0);
    let per = match (&p.instrument.kind, p.instrument.size_unit) {
        (_, SizeUnit::Quote) => p.instrument.contract_size,
        (InstrumentKind::Option { .. }, SizeUnit::Base) => {
            // Premium notional; inverse premia are quoted in coin.
            let prem = if p.instrument.settlement == Settlement::Inverse {
                mark * underlying
            } else {
                mark
            };
            p.instrument.contract_size * prem
        }
        (_, SizeUnit::Base) => p.instrument.contract_size * mark,
    };
    Ok(LegValue {
        mark,
        underlying,
        notional_per_contract: per.abs() * quote_fx,
        quote_fx,
    })
}
