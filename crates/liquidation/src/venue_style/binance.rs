//! Binance USDⓈ-M futures: liquidation, insurance fund and auto-deleveraging ("counterparty
//! liquidation"), from the pages cited in `params/venues.toml` (`[binance]`):
//!
//! * liquidation starts when the margin balance is below the maintenance margin; open orders
//!   are cancelled and **one large IOC order** reduces the position without closing it
//!   ("Smart Liquidation"); if the account is margin compliant after the realised loss and the
//!   liquidation (clearance) fee, liquidation stops;
//! * otherwise the position is closed at its **bankruptcy price** and the **insurance fund**
//!   takes it over (what is left of the margin goes to the fund; a negative balance is brought
//!   back to 0 by the fund), and the fund offloads it on the market;
//! * the fund does not take a position beyond `insurance_fund_max_notional_fraction` of its
//!   balance (100 % by default), and cannot pay what it does not have: then the position goes to
//!   **auto-deleveraging** at the bankruptcy price, profitable opposite positions ranked by
//!   `LeveragePnL = max(0, uPnL) / max(1, wallet balance) × margin ratio`, margin ratio
//!   `= MM / (wallet + uPnL)` (0 when that is ≤ 0), highest first ([`leverage_pnl`]).
//!
//! Our reading where the pages are silent: the IOC is sent only when a partial close can make
//! the account compliant (the smallest such fraction, found by bisection on the order's own
//! impact); when none can, the whole position goes to the takeover at once.

use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};
use crate::impact::ImpactParams;
use crate::rules::VenueRules;

/// The position being liquidated (one-way mode, one symbol of the margin pool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinancePosition {
    /// Instrument id.
    pub instrument: String,
    /// Signed size in base units.
    pub size: f64,
    /// Mark price.
    pub mark: f64,
    /// Maintenance margin of the position at its current size, quote currency.
    pub maintenance: f64,
    /// Price impact of a market order in this symbol.
    pub impact: ImpactParams,
}

/// The rule's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinanceParams {
    /// Liquidation (clearance) fee, fraction of the liquidated notional.
    pub clearance_fee: f64,
    /// Largest position the fund takes over, as a fraction of its balance.
    pub fund_max_notional_fraction: f64,
}

impl BinanceParams {
    /// From `[binance]` of `params/venues.toml`.
    pub fn from_rules(rules: &VenueRules) -> Result<BinanceParams, LiquidationError> {
        Ok(BinanceParams {
            clearance_fee: rules.liquidation_fee,
            fund_max_notional_fraction: rules.insurance_fund_max_notional_fraction.ok_or_else(
                || {
                    param(
                        "venues.binance.insurance_fund_max_notional_fraction",
                        "missing",
                    )
                },
            )?,
        })
    }
}

/// The IOC order that reduces the position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinanceOrder {
    /// `sell` or `buy`.
    pub side: String,
    /// Base units.
    pub size: f64,
    /// Fraction of the position.
    pub fraction: f64,
    /// Average fill after impact.
    pub price: f64,
    /// Clearance fee charged (to the insurance fund).
    pub fee: f64,
}

/// The takeover of a position closed at its bankruptcy price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinanceTakeover {
    /// `insurance_fund` or `adl`.
    pub by: String,
    /// Base units taken over (unsigned).
    pub size: f64,
    /// Bankruptcy price: where the position's margin balance is exactly 0.
    pub bankruptcy_price: f64,
    /// Where the fund offloads it (its order's average fill); `None` for ADL.
    pub offload_price: Option<f64>,
    /// Margin balance of the account at the mark before the takeover (negative: a deficit).
    pub equity_before: f64,
}

/// What Binance does to the position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinanceLiquidation {
    /// Whether it is liquidatable now.
    pub liquidatable: bool,
    /// The IOC order, when a partial close makes the account compliant.
    pub ioc: Option<BinanceOrder>,
    /// The takeover, when it does not.
    pub takeover: Option<BinanceTakeover>,
    /// Signed size left with the trader.
    pub size_after: f64,
    /// Margin balance left with the trader (0 after a takeover).
    pub equity_after: f64,
    /// Change of the insurance fund: fee in, offload profit or loss (negative: the fund paid).
    pub fund_delta: f64,
}

/// Binance's ADL ranking: `max(0, uPnL) / max(1, wallet) × MM / (wallet + uPnL)`, 0 when the
/// margin balance is ≤ 0 (the formula at the end of the ADL FAQ, as quoted on the developer forum).
pub fn leverage_pnl(unrealized_pnl: f64, wallet_balance: f64, maintenance: f64) -> f64 {
    let pnl_percent = unrealized_pnl.max(0.0) / wallet_balance.max(1.0);
    let balance = wallet_balance + unrealized_pnl;
    let margin_ratio = if balance <= 0.0 {
        0.0
    } else {
        maintenance / balance
    };
    pnl_percent * margin_ratio
}

/// Equity after closing `f` of the position by IOC at its own impact, minus maintenance left.
fn surplus_after(equity: f64, p: &BinancePosition, f: f64, fee: f64) -> (f64, f64, f64) {
    let q = p.size.abs() * f;
    let price = p.impact.expected_price(p.mark, q * p.mark, p.size > 0.0);
    let cost = q * (p.mark - price).abs() + fee * q * price;
    (
        equity - cost - (1.0 - f) * p.maintenance,
        price,
        fee * q * price,
    )
}

/// Liquidates one position as Binance does, with `fund` the insurance fund's balance.
pub fn liquidate_position(
    equity: f64,
    position: &BinancePosition,
    fund: f64,
    params: &BinanceParams,
) -> Result<BinanceLiquidation, LiquidationError> {
    let p = position;
    if !equity.is_finite() {
        return Err(param("binance.equity", "must be finite"));
    }
    if !(p.size.is_finite() && p.size != 0.0 && p.mark.is_finite() && p.mark > 0.0) {
        return Err(param(
            format!("binance.positions[{:?}]", p.instrument),
            "size must be finite and non-zero, mark > 0",
        ));
    }
    if !(p.maintenance.is_finite() && p.maintenance >= 0.0) {
        return Err(param(
            format!("binance.positions[{:?}].maintenance", p.instrument),
            "must be finite and ≥ 0",
        ));
    }
    if !(fund.is_finite() && fund >= 0.0) {
        return Err(param("binance.insurance_fund", "must be finite and ≥ 0"));
    }
    if !(params.clearance_fee.is_finite() && (0.0..1.0).contains(&params.clearance_fee)) {
        return Err(param("venues.binance.liquidation_fee", "must be in [0, 1)"));
    }
    if equity >= p.maintenance {
        return Ok(BinanceLiquidation {
            liquidatable: false,
            ioc: None,
            takeover: None,
            size_after: p.size,
            equity_after: equity,
            fund_delta: 0.0,
        });
    }
    // The smallest partial close that leaves equity ≥ maintenance: scan for the first
    // fraction that does (the surplus need not be monotone under impact), then bisect.
    const SCAN: usize = 64;
    let fee = params.clearance_fee;
    let mut lo = 0.0;
    let mut hi = None;
    for i in 1..SCAN {
        let f = i as f64 / SCAN as f64;
        if surplus_after(equity, p, f, fee).0 >= 0.0 {
            hi = Some(f);
            break;
        }
        lo = f;
    }
    if let Some(mut hi) = hi {
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if surplus_after(equity, p, mid, fee).0 >= 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let (_, price, fee_paid) = surplus_after(equity, p, hi, fee);
        let q = p.size.abs() * hi;
        let equity_after = equity - q * (p.mark - price).abs() - fee_paid;
        return Ok(BinanceLiquidation {
            liquidatable: true,
            ioc: Some(BinanceOrder {
                side: if p.size > 0.0 { "sell" } else { "buy" }.into(),
                size: q,
                fraction: hi,
                price,
                fee: fee_paid,
            }),
            takeover: None,
            size_after: p.size * (1.0 - hi),
            equity_after,
            fund_delta: fee_paid,
        });
    }
    // Takeover at the bankruptcy price: equity + size·(bp − mark) = 0.
    let bp = p.mark - equity / p.size;
    let q = p.size.abs();
    let offload = p.impact.expected_price(p.mark, q * p.mark, p.size > 0.0);
    let fund_delta = p.size * (offload - bp);
    let accepts =
        q * p.mark <= params.fund_max_notional_fraction * fund && fund + fund_delta >= 0.0;
    Ok(BinanceLiquidation {
        liquidatable: true,
        ioc: None,
        takeover: Some(BinanceTakeover {
            by: if accepts { "insurance_fund" } else { "adl" }.into(),
            size: q,
            bankruptcy_price: bp,
            offload_price: accepts.then_some(offload),
            equity_before: equity,
        }),
        size_after: 0.0,
        equity_after: 0.0,
        fund_delta: if accepts { fund_delta } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat() -> ImpactParams {
        ImpactParams {
            k: 0.0,
            alpha: 1.0,
            depth: 1.0,
        }
    }

    fn eth(size: f64, maintenance: f64) -> BinancePosition {
        BinancePosition {
            instrument: "binance:ETHUSDT".into(),
            size,
            mark: 2_000.0,
            maintenance,
            impact: flat(),
        }
    }

    #[test]
    fn a_partial_ioc_restores_compliance_when_it_can() {
        // 10 ETH long at 2,000, MM 1,000 (5 %), equity 900, fee 0.5 %, no impact.
        // Closing f: equity 900 − 0.005·f·20,000 = 900 − 100f ≥ (1 − f)·1,000 ⇔ f ≥ 100/900.
        let params = BinanceParams {
            clearance_fee: 0.005,
            fund_max_notional_fraction: 1.0,
        };
        let l = liquidate_position(900.0, &eth(10.0, 1_000.0), 0.0, &params).unwrap();
        let ioc = l.ioc.unwrap();
        assert!((ioc.fraction - 1.0 / 9.0).abs() < 1e-9, "{}", ioc.fraction);
        assert!((ioc.fee - 100.0 / 9.0).abs() < 1e-6);
        assert!((l.fund_delta - ioc.fee).abs() < 1e-12);
        assert!(l.takeover.is_none());
    }

    #[test]
    fn a_bankrupt_position_goes_to_the_fund_or_to_adl() {
        // Equity −50 on 10 ETH long at 2,000: bankruptcy price 2,000 + 5 = 2,005.
        let params = BinanceParams {
            clearance_fee: 0.005,
            fund_max_notional_fraction: 1.0,
        };
        let l = liquidate_position(-50.0, &eth(10.0, 1_000.0), 30_000.0, &params).unwrap();
        let t = l.takeover.unwrap();
        assert_eq!(t.by, "insurance_fund");
        assert!((t.bankruptcy_price - 2_005.0).abs() < 1e-9);
        assert!((l.fund_delta + 50.0).abs() < 1e-9);
        // A fund of 19,999 may not hold 20,000 of notional: ADL at the same price.
        let l = liquidate_position(-50.0, &eth(10.0, 1_000.0), 19_999.0, &params).unwrap();
        assert_eq!(l.takeover.unwrap().by, "adl");
        assert_eq!(l.fund_delta, 0.0);
    }

    #[test]
    fn leverage_pnl_is_the_forum_example() {
        // uPnL 40.2, wallet 4.27: PnL percent 9.41 (rounded on the page); margin ratio 13.42 %.
        let mm = 0.1342 * (4.27 + 40.2);
        let x = leverage_pnl(40.2, 4.27, mm);
        assert!((x - 40.2 / 4.27 * 0.1342).abs() < 1e-12);
        assert_eq!(leverage_pnl(-5.0, 10.0, 1.0), 0.0);
        assert_eq!(leverage_pnl(5.0, -10.0, 1.0), 0.0);
    }
}
