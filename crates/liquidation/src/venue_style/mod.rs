//! What each venue itself does to a pool it liquidates, by its own documented rule: Deribit
//! closes a part of the position per round until maintenance is below equity again
//! ([`deribit`]); Binance reduces by one IOC order or hands the position to its insurance fund at
//! the bankruptcy price, else to auto-deleveraging ranked by LeveragePnL ([`binance`]); dYdX v4
//! closes whole positions at the fillable price bounded by the bankruptcy price, settling with
//! the insurance fund or deleveraging ([`dydx`]); Hyperliquid sends market orders (20 % first
//! above 100,000 USDC, then whole within the 30 s cooldown) and hands the pool to the backstop
//! vault below 2/3 of maintenance ([`hyperliquid`]); Aave v3 sizes one `liquidationCall`
//! ([`aave`]). Each rule lives once, here; [`venue_liquidations`] applies them to an account
//! beside the planner's own minimal closure ([`crate::plan_liquidation`]).

pub mod aave;
pub mod binance;
pub mod deribit;
pub mod dydx;
pub mod hyperliquid;

#[cfg(feature = "margin-models")]
pub use glue::{venue_liquidations, VenueAction, VenueLiquidation, VenueStyleOptions};

#[cfg(feature = "margin-models")]
mod glue {
    use intermargin_margin::venues::aave::AaveV3;
    use intermargin_margin::venues::dydx::net_notional;
    use intermargin_margin::{pool_of_in, venue_margins, VenueMargin};
    use intermargin_model::{Account, Asset, Market, Venue};
    use serde::{Deserialize, Serialize};

    use super::{aave, dydx, hyperliquid};
    use crate::error::{param, LiquidationError};
    use crate::impact::DepthBook;
    use crate::rules::RuleBook;

    /// Inputs the account does not carry.
    #[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
    pub struct VenueStyleOptions {
        /// dYdX insurance fund balance, USDC; `None` assumes it covers every payout.
        pub dydx_insurance_fund: Option<f64>,
    }

    /// The venue's own action on one of its pools.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "rule", rename_all = "snake_case")]
    pub enum VenueAction {
        /// dYdX v4 subaccount liquidation.
        Dydx(dydx::DydxLiquidation),
        /// Hyperliquid market orders, backstop and auto-deleveraging.
        Hyperliquid(hyperliquid::HlLiquidation),
        /// One Aave v3 `liquidationCall` at the largest size allowed.
        Aave(Box<AaveAction>),
    }

    /// The Aave call, with the reserves it was sized on.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AaveAction {
        /// Health factor before.
        pub health_factor: f64,
        /// The call's inputs (`None` when the user is not liquidatable).
        pub inputs: Option<aave::AaveCallInputs>,
        /// Its outcome (`None` when not liquidatable or when it reverts).
        pub call: Option<aave::AaveCall>,
        /// The revert the call would hit, if any.
        pub revert: Option<String>,
    }

    /// One venue pool and what that venue does to it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct VenueLiquidation {
        /// Venue.
        pub venue: Venue,
        /// Pool label (`cross`, `isolated:<id>:<side>`, `subaccount:<n>`).
        pub pool: String,
        /// Whether the venue liquidates the pool now.
        pub liquidatable: bool,
        /// Where the rule is documented.
        pub source: String,
        /// The action.
        #[serde(flatten)]
        pub action: VenueAction,
    }

    const DYDX_SOURCE: &str =
        "https://github.com/dydxprotocol/v4-chain/blob/main/protocol/x/clob/keeper/liquidations.go";
    const HL_SOURCE: &str = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations";
    const AAVE_SOURCE: &str = "https://github.com/aave-dao/aave-v3-origin/blob/main/src/contracts/protocol/libraries/logic/LiquidationLogic.sol";

    /// Every dYdX, Hyperliquid and Aave pool of `account` with what its venue does to it now
    /// (pools of other venues are not listed: their venue rules are not modelled here).
    pub fn venue_liquidations(
        account: &Account,
        assets: &[Asset],
        market: &Market,
        depth: &DepthBook,
        rules: &RuleBook,
        opts: VenueStyleOptions,
    ) -> Result<Vec<VenueLiquidation>, LiquidationError> {
        let pools = venue_margins(account, assets, market)?;
        let mut out = Vec::new();
        for pool in &pools {
            match pool.venue {
                Venue::Dydx => out.push(dydx_pool(account, market, pool, opts)?),
                Venue::Hyperliquid => out.push(hl_pool(account, market, pool, depth, rules)?),
                _ => {}
            }
        }
        if pools.iter().any(|p| p.venue == Venue::Aave) {
            out.push(aave_account(account, assets, market, rules)?);
        }
        Ok(out)
    }

    /// The account's positions in one pool with their base size and mark.
    fn pool_positions<'a>(
        account: &'a Account,
        market: &Market,
        pool: &VenueMargin,
    ) -> Result<Vec<(&'a intermargin_model::Position, f64, f64)>, LiquidationError> {
        let mut out = Vec::new();
        for p in &account.positions {
            let (v, _, label) = pool_of_in(p, market);
            if v != pool.venue || label != pool.pool {
                continue;
            }
            let id = p.instrument.id();
            let mark = market.mark_prices.get(&id).copied().ok_or_else(|| {
                LiquidationError::MissingMarket {
                    field: format!("market.mark_prices[{id:?}]"),
                    reason: "the venue liquidates at its mark".into(),
                }
            })?;
            out.push((p, p.instrument.base_quantity(p.size, mark), mark));
        }
        Ok(out)
    }

    fn maintenance_of(pool: &VenueMargin, id: &str) -> f64 {
        pool.positions
            .iter()
            .find(|m| m.instrument == id)
            .map(|m| m.maintenance_margin)
            .unwrap_or(0.0)
    }

    /// USDC to quote quantums (the margin model's figures are whole quantums already).
    fn quantums(x: f64, field: &str) -> Result<i128, LiquidationError> {
        let q = (x * dydx::QUANTUMS_PER_USDC).round();
        if !(q.is_finite() && q.abs() < 1e30) {
            return Err(param(field, format!("{x} USDC is out of range")));
        }
        Ok(q as i128)
    }

    fn dydx_pool(
        account: &Account,
        market: &Market,
        pool: &VenueMargin,
        opts: VenueStyleOptions,
    ) -> Result<VenueLiquidation, LiquidationError> {
        let mut positions = Vec::new();
        for (p, size, mark) in pool_positions(account, market, pool)? {
            let id = p.instrument.id();
            if size == 0.0 {
                continue;
            }
            positions.push(dydx::DydxPosition {
                net_notional: quantums(net_notional(size, mark), "dydx.net_notional")?,
                maintenance: quantums(maintenance_of(pool, &id), "dydx.maintenance")?,
                instrument: id,
                size,
            });
        }
        let fund = match opts.dydx_insurance_fund {
            Some(f) => quantums(f, "dydx_insurance_fund")?,
            None => i128::MAX / 4,
        };
        let tnc = quantums(pool.equity, "dydx.net_collateral")?;
        let mut l =
            dydx::liquidate_subaccount(&positions, tnc, fund, &dydx::DydxConfig::default())?;
        if opts.dydx_insurance_fund.is_none() {
            l.insurance_fund_after = None; // unknown balance: no figure
        }
        Ok(VenueLiquidation {
            venue: Venue::Dydx,
            pool: pool.pool.clone(),
            liquidatable: l.liquidatable,
            source: DYDX_SOURCE.into(),
            action: VenueAction::Dydx(l),
        })
    }

    fn hl_pool(
        account: &Account,
        market: &Market,
        pool: &VenueMargin,
        depth: &DepthBook,
        rules: &RuleBook,
    ) -> Result<VenueLiquidation, LiquidationError> {
        let mut positions = Vec::new();
        for (p, size, mark) in pool_positions(account, market, pool)? {
            let id = p.instrument.id();
            positions.push(hyperliquid::HlPosition {
                maintenance: maintenance_of(pool, &id),
                impact: depth.get(&id),
                instrument: id,
                size,
                mark,
            });
        }
        let l =
            hyperliquid::liquidate_pool(pool.equity, &positions, rules.get(Venue::Hyperliquid))?;
        Ok(VenueLiquidation {
            venue: Venue::Hyperliquid,
            pool: pool.pool.clone(),
            liquidatable: l.liquidatable,
            source: HL_SOURCE.into(),
            action: VenueAction::Hyperliquid(l),
        })
    }

    /// Base currency units (8 decimals) of a USD value, rounded down.
    fn base(x: f64) -> u128 {
        (x * 1e8).floor().max(0.0) as u128
    }

    fn aave_account(
        account: &Account,
        assets: &[Asset],
        market: &Market,
        rules: &RuleBook,
    ) -> Result<VenueLiquidation, LiquidationError> {
        let model = AaveV3::new()?;
        let state = model.account_state(account, assets, market)?;
        let hf = state.health_factor();
        let not_liquidatable = |revert: Option<String>| VenueLiquidation {
            venue: Venue::Aave,
            pool: "cross".into(),
            liquidatable: false,
            source: AAVE_SOURCE.into(),
            action: VenueAction::Aave(Box::new(AaveAction {
                health_factor: hf,
                inputs: None,
                call: None,
                revert,
            })),
        };
        if hf.is_nan() || hf >= 1.0 {
            return Ok(not_liquidatable(None));
        }
        // The liquidator's best pair: the largest debt against the largest collateral.
        let value = |units: f64, price: f64| units * price;
        let debt = state
            .reserves
            .iter()
            .filter(|r| r.borrowed > 0.0)
            .max_by(|a, b| value(a.borrowed, a.price).total_cmp(&value(b.borrowed, b.price)));
        let coll = state
            .reserves
            .iter()
            .filter(|r| r.supplied > 0.0 && r.liquidation_threshold > 0.0)
            .max_by(|a, b| value(a.supplied, a.price).total_cmp(&value(b.supplied, b.price)));
        let (Some(debt), Some(coll)) = (debt, coll) else {
            return Ok(not_liquidatable(Some(
                "no collateral enabled to seize or no debt to repay".into(),
            )));
        };
        // Balances in base units, prices in 8-decimal base currency, as the contract reads them.
        let integer = |r: &intermargin_margin::venues::aave::ReserveState,
                       units: f64|
         -> Result<aave::AaveReserve, LiquidationError> {
            let d = assets
                .iter()
                .find(|a| a.symbol == r.symbol)
                .map(|a| a.decimals)
                .ok_or_else(|| param(format!("assets[{:?}]", r.symbol), "not declared"))?;
            let decimals = u8::try_from(d)
                .ok()
                .filter(|d| *d <= 38)
                .ok_or_else(|| param(format!("assets[{:?}].decimals", r.symbol), "must be ≤ 38"))?;
            Ok(aave::AaveReserve {
                symbol: r.symbol.clone(),
                balance: (units * 10f64.powi(d as i32)).round().max(0.0) as u128,
                price: base(r.price),
                decimals,
            })
        };
        let in_base = |x: &aave::AaveReserve| -> u128 {
            // balance · price / 10^decimals, as `userReserveCollateralInBaseCurrency`.
            let unit = 10u128.pow(x.decimals as u32);
            (x.balance / unit) * x.price + (x.balance % unit) * x.price / unit
        };
        let mut total_collateral_base = 0u128;
        let mut total_debt_base = 0u128;
        for r in &state.reserves {
            if r.supplied > 0.0 && r.liquidation_threshold > 0.0 {
                total_collateral_base += in_base(&integer(r, r.supplied)?);
            }
            if r.borrowed > 0.0 {
                total_debt_base += in_base(&integer(r, r.borrowed)?);
            }
        }
        let collateral = integer(coll, coll.supplied)?;
        let debt_reserve = integer(debt, debt.borrowed)?;
        let bonus = model.liquidation_bonus(account, market, &coll.symbol)?;
        let fee_share = rules.get(Venue::Aave).insurance_share;
        let inputs = aave::AaveCallInputs {
            total_collateral_base,
            total_debt_base,
            health_factor_wad: (hf.max(0.0) * 1e18).floor() as u128,
            collateral,
            debt: debt_reserve,
            liquidation_bonus_bps: ((1.0 + bonus) * 10_000.0).round() as u32,
            protocol_fee_bps: (fee_share * 10_000.0).round() as u32,
            debt_to_cover: u128::MAX,
        };
        let (call, revert) = match aave::liquidation_call(&inputs) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(VenueLiquidation {
            venue: Venue::Aave,
            pool: "cross".into(),
            liquidatable: true,
            source: AAVE_SOURCE.into(),
            action: VenueAction::Aave(Box::new(AaveAction {
                health_factor: hf,
                inputs: Some(inputs),
                call,
                revert,
            })),
        })
    }
}
