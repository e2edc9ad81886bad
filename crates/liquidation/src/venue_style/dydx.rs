//! dYdX v4: how the protocol itself liquidates a subaccount, ported from
//! `dydxprotocol/v4-chain` `protocol/x/clob/keeper/liquidations.go`.
//!
//! * A subaccount is liquidatable iff its maintenance requirement is non-zero and its total net
//!   collateral is below it (`IsLiquidatable`). One position is liquidated at a time, in full
//!   (the genesis `PositionBlockLimits.MaxPositionPortionLiquidatedPpm` is 1,000,000 and the
//!   subaccount block limit is 100,000,000 USDC), until the subaccount is no longer liquidatable.
//! * The liquidation order's limit is the **fillable price** (`GetFillablePrice`):
//!   `(PNNV − ABR·SMMR·PMMR) / PS` with `ABR = clamp(BA·(1 − TNC/TMMR), 0, 1)`.
//! * The **bankruptcy price** of a delta (`GetBankruptcyPriceInQuoteQuantums`):
//!   `−DNNV − ⌊TNC·|DMMR| / TMMR⌋` quote quantums.
//! * The **insurance fund delta** of a fill (`GetLiquidationInsuranceFundDelta`):
//!   `fill − bankruptcy`; when positive the subaccount pays `min(max_liquidation_fee_ppm·|fill|,
//!   delta)` to the fund, when negative the fund covers it. A fund that cannot cover the loss
//!   leaves the order unfilled and the position is **deleveraged** against offsetting positions
//!   at the bankruptcy price (`liquidations_deleveraging.go`).
//!
//! Amounts are quote quantums (1e-6 USDC) in `i128`; the fillable price is a rational number
//! in the protocol and an `f64` here (it only bounds the order), while the quote that moves is
//! rounded to the quantum against the liquidated subaccount.

use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};

/// Quote quantums per USDC.
pub const QUANTUMS_PER_USDC: f64 = 1e6;

/// The protocol's `LiquidationsConfig` fields that size a liquidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DydxConfig {
    /// Largest liquidation fee, ppm of the fill's quote (`MaxLiquidationFeePpm`).
    pub max_liquidation_fee_ppm: u32,
    /// How fast the adjusted bankruptcy rating grows (`BankruptcyAdjustmentPpm`).
    pub bankruptcy_adjustment_ppm: u32,
    /// Largest spread as a ratio of the position's maintenance margin
    /// (`SpreadToMaintenanceMarginRatioPpm`).
    pub spread_to_maintenance_margin_ratio_ppm: u32,
}

impl Default for DydxConfig {
    /// `LiquidationsConfig_Default` (`protocol/x/clob/types/liquidations_config.go`):
    /// 5,000 ppm fee, bankruptcy adjustment 1,000,000 ppm, spread ratio 100,000 ppm.
    fn default() -> Self {
        DydxConfig {
            max_liquidation_fee_ppm: 5_000,
            bankruptcy_adjustment_ppm: 1_000_000,
            spread_to_maintenance_margin_ratio_ppm: 100_000,
        }
    }
}

/// One perpetual position of the subaccount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DydxPosition {
    /// Instrument id.
    pub instrument: String,
    /// Signed size in base units (positive long).
    pub size: f64,
    /// Position net notional value `PNNV`, signed quote quantums.
    pub net_notional: i128,
    /// Position maintenance margin requirement `PMMR`, quote quantums (≥ 0).
    pub maintenance: i128,
}

/// `−DNNV − ⌊TNC·|DMMR| / TMMR⌋`: the signed quote quantums a delta must bring so that
/// closing it at that price needs no insurance-fund payment (rounded towards +∞ overall).
pub fn bankruptcy_quote_quantums(
    delta_net_notional: i128,
    delta_maintenance: i128,
    tnc: i128,
    tmmr: i128,
) -> Result<i128, LiquidationError> {
    if tmmr <= 0 {
        return Err(param(
            "dydx.total_maintenance",
            format!("must be > 0 to price a liquidation, got {tmmr}"),
        ));
    }
    if delta_maintenance > 0 {
        return Err(param(
            "dydx.delta_maintenance",
            "a liquidation never raises the maintenance requirement",
        ));
    }
    let product = tnc
        .checked_mul(delta_maintenance.abs())
        .ok_or_else(|| param("dydx.total_net_collateral", "overflow"))?;
    Ok(-delta_net_notional - product.div_euclid(tmmr))
}

/// Fillable price of closing `position` (quote per base unit):
/// `(PNNV − ABR·SMMR·PMMR) / PS`, `ABR = clamp(BA·(1 − TNC/TMMR), 0, 1)`.
pub fn fillable_price(
    position: &DydxPosition,
    tnc: i128,
    tmmr: i128,
    cfg: &DydxConfig,
) -> Result<f64, LiquidationError> {
    if tmmr <= 0 {
        return Err(param(
            "dydx.total_maintenance",
            format!("must be > 0 to price a liquidation, got {tmmr}"),
        ));
    }
    if !(position.size.is_finite() && position.size != 0.0) {
        return Err(param(
            format!("dydx.positions[{:?}].size", position.instrument),
            "must be finite and non-zero",
        ));
    }
    let quote = fillable_quote(position, tnc, tmmr, cfg);
    Ok(quote / QUANTUMS_PER_USDC / position.size)
}

/// `PNNV − ABR·SMMR·PMMR` in quote quantums (a real number).
fn fillable_quote(position: &DydxPosition, tnc: i128, tmmr: i128, cfg: &DydxConfig) -> f64 {
    // ABR in exact integers first: BA·(TMMR − TNC) / (10⁶·TMMR), clamped to [0, 1].
    let num = cfg.bankruptcy_adjustment_ppm as i128 * (tmmr - tnc);
    let den = 1_000_000 * tmmr;
    let abr = if num <= 0 {
        0.0
    } else if num >= den {
        1.0
    } else {
        num as f64 / den as f64
    };
    let spread = position.maintenance as f64 * cfg.spread_to_maintenance_margin_ratio_ppm as f64
        / 1_000_000.0;
    position.net_notional as f64 - abr * spread
}

/// The insurance fund's side of a fill: positive = the subaccount pays that fee to the fund
/// (capped at `max_liquidation_fee_ppm` of `|fill|`), negative = the fund covers that loss.
pub fn insurance_fund_delta(fill_quote: i128, bankruptcy_quote: i128, cfg: &DydxConfig) -> i128 {
    let delta = fill_quote - bankruptcy_quote;
    if delta <= 0 {
        return delta;
    }
    let max_fee = (fill_quote.abs() * cfg.max_liquidation_fee_ppm as i128).div_euclid(1_000_000);
    max_fee.min(delta)
}

/// How one position was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DydxClose {
    /// Instrument id.
    pub instrument: String,
    /// `sell` (closing a long) or `buy`.
    pub side: String,
    /// Base units closed (the whole position).
    pub size: f64,
    /// `orderbook` (an IOC liquidation order at the fillable price) or `deleveraging`
    /// (against offsetting positions at the bankruptcy price: the fund could not cover).
    pub method: String,
    /// Limit price of the liquidation order.
    pub fillable_price: f64,
    /// Price at which closing leaves the subaccount's collateral exactly consumed.
    pub bankruptcy_price: f64,
    /// Quote the subaccount receives (+) or pays (−) for the close, USDC.
    pub quote: f64,
    /// To the insurance fund (+, the liquidation fee) or from it (−), USDC.
    pub insurance_fund_delta: f64,
    /// Total net collateral after, USDC.
    pub net_collateral_after: f64,
    /// Total maintenance requirement after, USDC.
    pub maintenance_after: f64,
}

/// What dYdX does to one subaccount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DydxLiquidation {
    /// Whether the protocol liquidates it now (`TNC < TMMR`, `TMMR > 0`).
    pub liquidatable: bool,
    /// Positions closed, in order, until the subaccount is no longer liquidatable.
    pub closes: Vec<DydxClose>,
    /// Insurance fund balance after, USDC (`None` when its balance was not given).
    pub insurance_fund_after: Option<f64>,
    /// Total net collateral after, USDC.
    pub net_collateral_after: f64,
}

/// Liquidates a subaccount as the protocol does: while `TNC < TMMR`, the next position (in the
/// order given; the protocol starts at a pseudo-random one) is closed in full at the fillable
/// price, the fee or payout settled with the insurance fund (`fund`, quote quantums), or, when
/// the fund cannot cover the payout, deleveraged at the bankruptcy price.
pub fn liquidate_subaccount(
    positions: &[DydxPosition],
    tnc: i128,
    fund: i128,
    cfg: &DydxConfig,
) -> Result<DydxLiquidation, LiquidationError> {
    for p in positions {
        if p.maintenance < 0 {
            return Err(param(
                format!("dydx.positions[{:?}].maintenance", p.instrument),
                "must be ≥ 0",
            ));
        }
        if p.size == 0.0 || !p.size.is_finite() || (p.size > 0.0) != (p.net_notional >= 0) {
            return Err(param(
                format!("dydx.positions[{:?}].size", p.instrument),
                "must be finite, non-zero and of the net notional's sign",
            ));
        }
    }
    if fund < 0 {
        return Err(param("dydx.insurance_fund", "must be ≥ 0"));
    }
    let mut tmmr: i128 = positions.iter().map(|p| p.maintenance).sum();
    let mut tnc = tnc;
    let mut fund = fund;
    let liquidatable = tmmr > 0 && tnc < tmmr;
    let mut closes = Vec::new();
    for p in positions {
        if !(tmmr > 0 && tnc < tmmr) {
            break;
        }
        if p.maintenance == 0 {
            continue; // closing it frees nothing; the protocol's bankruptcy price needs DMMR
        }
        let bankruptcy = bankruptcy_quote_quantums(-p.net_notional, -p.maintenance, tnc, tmmr)?;
        let price = fillable_price(p, tnc, tmmr, cfg)?;
        // The fill's quote, rounded to the quantum against the subaccount.
        let fill = fillable_quote(p, tnc, tmmr, cfg).floor() as i128;
        let delta = insurance_fund_delta(fill, bankruptcy, cfg);
        let (method, quote, fund_delta) = if delta < 0 && fund + delta < 0 {
            ("deleveraging", bankruptcy, 0)
        } else if delta < 0 {
            ("orderbook", bankruptcy, delta)
        } else {
            ("orderbook", fill - delta, delta)
        };
        fund += fund_delta;
        tnc = tnc - p.net_notional + quote;
        tmmr -= p.maintenance;
        closes.push(DydxClose {
            instrument: p.instrument.clone(),
            side: if p.size > 0.0 { "sell" } else { "buy" }.into(),
            size: p.size.abs(),
            method: method.into(),
            fillable_price: price,
            bankruptcy_price: bankruptcy as f64 / QUANTUMS_PER_USDC / p.size,
            quote: quote as f64 / QUANTUMS_PER_USDC,
            insurance_fund_delta: fund_delta as f64 / QUANTUMS_PER_USDC,
            net_collateral_after: tnc as f64 / QUANTUMS_PER_USDC,
            maintenance_after: tmmr as f64 / QUANTUMS_PER_USDC,
        });
    }
    Ok(DydxLiquidation {
        liquidatable,
        closes,
        insurance_fund_after: Some(fund as f64 / QUANTUMS_PER_USDC),
        net_collateral_after: tnc as f64 / QUANTUMS_PER_USDC,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i128 = 1_000_000;

    fn btc_long(quote_balance: i128) -> (DydxPosition, i128) {
        // v4-chain test constants: 0.1 BTC at the $50,000 oracle, BtcUsd_20PercentInitial_
        // 10PercentMaintenance → PNNV $5,000, PMMR $500; TNC = balance + PNNV.
        let p = DydxPosition {
            instrument: "dydx:BTC-USD".into(),
            size: 0.1,
            net_notional: 5_000 * USD,
            maintenance: 500 * USD,
        };
        (p, quote_balance + 5_000 * USD)
    }

    #[test]
    fn bankruptcy_price_vectors_of_v4_chain() {
        // liquidations_test.go TestGetBankruptcyPriceInQuoteQuantums: long 0.1 BTC, balance
        // −$4,501 → 4,501,000,000; −$5,000 → 5,000,000,000; −$5,100 → 5,100,000,000.
        for (balance, want) in [
            (-4_501, 4_501_000_000i128),
            (-5_000, 5_000_000_000),
            (-5_100, 5_100_000_000),
        ] {
            let (p, tnc) = btc_long(balance * USD);
            let got =
                bankruptcy_quote_quantums(-p.net_notional, -p.maintenance, tnc, p.maintenance)
                    .unwrap();
            assert_eq!(got, want, "balance {balance}");
        }
        // Partial close of half the position at −$5,000 → 2,500,000,000.
        let (_, tnc) = btc_long(-5_000 * USD);
        let got = bankruptcy_quote_quantums(-2_500 * USD, -250 * USD, tnc, 500 * USD).unwrap();
        assert_eq!(got, 2_500_000_000);
    }

    #[test]
    fn fillable_price_vectors_of_v4_chain() {
        // TestGetFillablePrice: −$4,501 → $49,999; at bankruptcy (−$5,000) → $49,500.
        let cfg = DydxConfig::default();
        let (p, tnc) = btc_long(-4_501 * USD);
        assert!((fillable_price(&p, tnc, 500 * USD, &cfg).unwrap() - 49_999.0).abs() < 1e-6);
        let (p, tnc) = btc_long(-5_000 * USD);
        assert!((fillable_price(&p, tnc, 500 * USD, &cfg).unwrap() - 49_500.0).abs() < 1e-6);
    }

    #[test]
    fn a_healthy_subaccount_is_left_alone() {
        let (p, tnc) = btc_long(-4_000 * USD); // TNC 1,000 ≥ MMR 500
        let l = liquidate_subaccount(&[p], tnc, 0, &DydxConfig::default()).unwrap();
        assert!(!l.liquidatable && l.closes.is_empty());
    }
}
