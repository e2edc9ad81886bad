//! Standard (per-position) option margin shared by the venues that list options beside their
//! tiered futures (OKX, Bybit): each option position is one [`OptionLeg`], and the legs join
//! the cross pool of their settlement currency after the futures rules have built it.

use intermargin_model::{Account, InstrumentKind, Market, OptionKind, Position, Venue};

use super::common::{pool, position_path};
use crate::error::MarginError;
use crate::report::{PositionMargin, VenueMargin};

/// One option position's requirement and value in its settlement currency.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OptionLeg {
    /// Settlement currency (the pool it joins).
    pub settle: String,
    /// Instrument id.
    pub instrument: String,
    /// Initial requirement.
    pub im: f64,
    /// Maintenance requirement.
    pub mm: f64,
    /// What the position adds to the pool's equity (signed market value where the venue counts
    /// it, zero where it does not).
    pub equity: f64,
}

/// The account's option positions on `venue` with their strike and kind; an isolated one is
/// refused (`name` margins options in the cross pool only), naming its JSON path.
pub(crate) fn cross_options<'a>(
    account: &'a Account,
    venue: Venue,
    name: &str,
) -> Result<Vec<(&'a Position, f64, OptionKind)>, MarginError> {
    let mut out = Vec::new();
    for (i, p) in account.positions.iter().enumerate() {
        let ins = &p.instrument;
        if ins.venue != venue {
            continue;
        }
        let InstrumentKind::Option {
            strike,
            option_kind,
            ..
        } = ins.kind
        else {
            continue;
        };
        if p.isolated {
            return Err(MarginError::Unsupported {
                field: format!("{}.isolated", position_path(account, i)),
                reason: format!(
                    "{}: {name} margins options in the cross pool only",
                    ins.id()
                ),
            });
        }
        out.push((p, strike, option_kind));
    }
    Ok(out)
}

/// Out-of-the-money amount of an option against `underlying` (call: strike above it; put:
/// strike below it), in price units; 0 in the money.
pub fn otm_amount(kind: OptionKind, strike: f64, underlying: f64) -> f64 {
    match kind {
        OptionKind::Call => (strike - underlying).max(0.0),
        OptionKind::Put => (underlying - strike).max(0.0),
    }
}

/// Adds option legs to the venue's `cross` pools (one per settlement currency; created when the
/// futures rules built none). A pool that receives options reports no futures liquidation
/// price: an option's value moves with the underlying, so the all-else-fixed solution no longer
/// holds.
pub(crate) fn merge_option_legs(
    venue: Venue,
    mut pools: Vec<VenueMargin>,
    legs: Vec<OptionLeg>,
    market: &Market,
) -> Result<Vec<VenueMargin>, MarginError> {
    for leg in legs {
        let at = pools
            .iter()
            .position(|p| p.pool == "cross" && p.settlement == leg.settle);
        let (equity, im, mm, mut positions, idx) = match at {
            Some(i) => {
                let p = &pools[i];
                (
                    p.equity,
                    p.initial_margin,
                    p.maintenance_margin,
                    p.positions.clone(),
                    Some(i),
                )
            }
            None => (0.0, 0.0, 0.0, Vec::new(), None),
        };
        for x in positions.iter_mut() {
            x.liquidation_price = None;
        }
        positions.push(PositionMargin {
            instrument: leg.instrument.clone(),
            initial_margin: leg.im,
            maintenance_margin: leg.mm,
            liquidation_price: None,
        });
        let rebuilt = pool(
            venue,
            &leg.settle,
            "cross",
            (equity + leg.equity, im + leg.im, mm + leg.mm),
            positions,
            market,
        )?;
        match idx {
            Some(i) => pools[i] = rebuilt,
            None => pools.push(rebuilt),
        }
    }
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otm_is_the_distance_on_the_losing_side_only() {
        assert_eq!(otm_amount(OptionKind::Call, 110.0, 100.0), 10.0);
        assert_eq!(otm_amount(OptionKind::Call, 90.0, 100.0), 0.0);
        assert_eq!(otm_amount(OptionKind::Put, 90.0, 100.0), 10.0);
        assert_eq!(otm_amount(OptionKind::Put, 110.0, 100.0), 0.0);
    }
}
