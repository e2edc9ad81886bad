//! Aave v3 `liquidationCall`: what one call repays and seizes, ported line by line from
//! `aave-dao/aave-v3-origin` `src/contracts/protocol/libraries/logic/LiquidationLogic.sol`
//! (v3.3: `executeLiquidationCall` and `_calculateAvailableCollateralToLiquidate`) with
//! `PercentageMath` rounding (half up). The contract computes in 256 bits; here every product
//! of at most three 128-bit inputs is formed in 512 bits, so none can wrap:
//!
//! * the whole reserve debt may be repaid, unless both the reserve's collateral and debt are
//!   worth at least `MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD` (2,000 USD in 8-decimal base units)
//!   **and** the health factor is above `CLOSE_FACTOR_HF_THRESHOLD` (0.95): then at most
//!   `DEFAULT_LIQUIDATION_CLOSE_FACTOR` (50 %) of the user's **total** debt in base currency;
//! * collateral seized = repaid value × liquidation bonus (capped at the balance, then the debt
//!   repaid is what that balance covers); the protocol fee is a share of the bonus part, taken
//!   from the seized collateral to the treasury;
//! * a partial liquidation must leave at least `MIN_LEFTOVER_BASE` (1,000 USD) of both debt and
//!   collateral, else the call reverts `MUST_NOT_LEAVE_DUST`;
//! * when the seized collateral was all the user's collateral, the debt left is burnt as a
//!   reserve deficit (v3.3 bad-debt clean-up).

use ruint::aliases::U512 as Wide;
use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};

/// `CLOSE_FACTOR_HF_THRESHOLD` (wad): above it, the 50 % close factor may apply.
pub const CLOSE_FACTOR_HF_THRESHOLD_WAD: u128 = 950_000_000_000_000_000;
/// `MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD`: 2,000 USD in 8-decimal base currency.
pub const MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD: u128 = 2_000 * 100_000_000;
/// `MIN_LEFTOVER_BASE` = `MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD / 2`.
pub const MIN_LEFTOVER_BASE: u128 = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD / 2;
/// `DEFAULT_LIQUIDATION_CLOSE_FACTOR`, bps.
pub const DEFAULT_LIQUIDATION_CLOSE_FACTOR_BPS: u128 = 5_000;
/// One wad (health factors are wads).
pub const WAD: u128 = 1_000_000_000_000_000_000;

/// One side of the call: a reserve of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaveReserve {
    /// Asset symbol.
    pub symbol: String,
    /// The user's balance (aToken or variable-debt token), in the asset's base units.
    pub balance: u128,
    /// Oracle price in base currency units (8 decimals for USD markets).
    pub price: u128,
    /// The asset's decimals.
    pub decimals: u8,
}

/// Everything `executeLiquidationCall` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaveCallInputs {
    /// `totalCollateralInBaseCurrency` of the user.
    pub total_collateral_base: u128,
    /// `totalDebtInBaseCurrency` of the user.
    pub total_debt_base: u128,
    /// Health factor, wad.
    pub health_factor_wad: u128,
    /// Collateral reserve seized.
    pub collateral: AaveReserve,
    /// Debt reserve repaid.
    pub debt: AaveReserve,
    /// Liquidation bonus, bps (10500 = 105 %; the E-Mode category's for members).
    pub liquidation_bonus_bps: u32,
    /// Liquidation protocol fee, bps of the bonus part.
    pub protocol_fee_bps: u32,
    /// `debtToCover` the liquidator asks for (`u128::MAX`: as much as allowed).
    pub debt_to_cover: u128,
}

/// What the call does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaveCall {
    /// `maxLiquidatableDebt` (debt base units).
    pub max_liquidatable_debt: u128,
    /// True when the 50 % close factor capped it.
    pub close_factor_applied: bool,
    /// Debt repaid by the liquidator (`actualDebtToLiquidate`).
    pub debt_repaid: u128,
    /// Collateral the liquidator receives (after the protocol fee).
    pub collateral_to_liquidator: u128,
    /// Collateral sent to the treasury.
    pub protocol_fee: u128,
    /// Seized collateral valued in base currency (before the fee).
    pub collateral_base: u128,
    /// Debt of this reserve burnt as a deficit because no collateral is left.
    pub deficit: u128,
}

fn u(x: u128) -> Wide {
    Wide::from(x)
}

fn percent_mul(value: Wide, bps: Wide) -> Wide {
    (value * bps + u(5_000)) / u(10_000)
}

fn percent_div(value: Wide, bps: Wide) -> Wide {
    (value * u(10_000) + bps / u(2)) / bps
}

fn to_u128(x: Wide, field: &str) -> Result<u128, LiquidationError> {
    u128::try_from(x).map_err(|_| param(field, "does not fit 128 bits"))
}

/// Sizes one `liquidationCall`, or the revert it would hit (an error naming it).
pub fn liquidation_call(i: &AaveCallInputs) -> Result<AaveCall, LiquidationError> {
    if i.health_factor_wad >= WAD {
        return Err(param(
            "aave.health_factor",
            "HEALTH_FACTOR_NOT_BELOW_THRESHOLD: the user is not liquidatable (HF ≥ 1)",
        ));
    }
    if i.debt.balance == 0 {
        return Err(param(
            "aave.debt.balance",
            "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER",
        ));
    }
    if i.collateral.balance == 0 {
        return Err(param(
            "aave.collateral.balance",
            "COLLATERAL_CANNOT_BE_LIQUIDATED: no balance",
        ));
    }
    if i.collateral.price == 0 || i.debt.price == 0 {
        return Err(param("aave.price", "oracle price must be > 0"));
    }
    if i.liquidation_bonus_bps < 10_000 {
        return Err(param(
            "aave.liquidation_bonus",
            format!("must be ≥ 10000 bps, got {}", i.liquidation_bonus_bps),
        ));
    }
    if i.protocol_fee_bps > 10_000 {
        return Err(param(
            "aave.protocol_fee",
            format!("must be ≤ 10000 bps, got {}", i.protocol_fee_bps),
        ));
    }
    if i.collateral.decimals > 38 || i.debt.decimals > 38 {
        return Err(param("aave.decimals", "must be ≤ 38"));
    }
    let coll_unit = Wide::from(10u8).pow(Wide::from(i.collateral.decimals));
    let debt_unit = Wide::from(10u8).pow(Wide::from(i.debt.decimals));
    let (coll_price, debt_price) = (u(i.collateral.price), u(i.debt.price));
    let (coll_balance, debt_balance) = (u(i.collateral.balance), u(i.debt.balance));
    let bonus = u(i.liquidation_bonus_bps as u128);

    let debt_base = debt_balance * debt_price / debt_unit;
    let coll_base = coll_balance * coll_price / coll_unit;
    let mut max_liquidatable = debt_balance;
    let mut close_factor_applied = false;
    if coll_base >= u(MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD)
        && debt_base >= u(MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD)
        && u(i.health_factor_wad) > u(CLOSE_FACTOR_HF_THRESHOLD_WAD)
    {
        let default_liquidatable_base = percent_mul(
            u(i.total_debt_base),
            u(DEFAULT_LIQUIDATION_CLOSE_FACTOR_BPS),
        );
        if debt_base > default_liquidatable_base {
            max_liquidatable = default_liquidatable_base * debt_unit / debt_price;
            close_factor_applied = true;
        }
    }
    let mut actual_debt = max_liquidatable.min(u(i.debt_to_cover));

    // _calculateAvailableCollateralToLiquidate
    let base_collateral = debt_price * actual_debt * coll_unit / (coll_price * debt_unit);
    let max_collateral = percent_mul(base_collateral, bonus);
    let mut collateral_amount = if max_collateral > coll_balance {
        actual_debt = percent_div(
            coll_price * coll_balance * debt_unit / (debt_price * coll_unit),
            bonus,
        );
        coll_balance
    } else {
        max_collateral
    };
    let collateral_base = collateral_amount * coll_price / coll_unit;
    let mut fee = Wide::ZERO;
    if i.protocol_fee_bps != 0 {
        let bonus_collateral = collateral_amount - percent_div(collateral_amount, bonus);
        fee = percent_mul(bonus_collateral, u(i.protocol_fee_bps as u128));
        collateral_amount -= fee;
    }

    // Dust: repay all the debt, take all the collateral, or leave ≥ MIN_LEFTOVER_BASE of both.
    if actual_debt < debt_balance && collateral_amount + fee < coll_balance {
        let debt_left = (debt_balance - actual_debt) * debt_price / debt_unit;
        let coll_left = (coll_balance - collateral_amount) * coll_price / coll_unit;
        if debt_left < u(MIN_LEFTOVER_BASE) || coll_left < u(MIN_LEFTOVER_BASE) {
            return Err(param(
                "aave.debt_to_cover",
                "MUST_NOT_LEAVE_DUST: a partial liquidation must leave at least 1,000 USD of both debt and collateral",
            ));
        }
    }
    let deficit = if u(i.total_collateral_base) == collateral_base {
        debt_balance.checked_sub(actual_debt).ok_or_else(|| {
            param(
                "aave.debt_repaid",
                "exceeds the debt balance (the call reverts)",
            )
        })?
    } else {
        Wide::ZERO
    };
    Ok(AaveCall {
        max_liquidatable_debt: to_u128(max_liquidatable, "aave.max_liquidatable_debt")?,
        close_factor_applied,
        debt_repaid: to_u128(actual_debt, "aave.debt_repaid")?,
        collateral_to_liquidator: to_u128(collateral_amount, "aave.collateral")?,
        protocol_fee: to_u128(fee, "aave.protocol_fee")?,
        collateral_base: to_u128(collateral_base, "aave.collateral_base")?,
        deficit: to_u128(deficit, "aave.deficit")?,
    })
}
