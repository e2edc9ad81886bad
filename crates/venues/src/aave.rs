//! Aave v3: results of the view calls a client makes (Aave has no JSON API), as JSON objects
//! whose field names are the contracts' own return-value names and whose uint256 values are
//! decimal strings (or JSON integers), the way ethers/viem print them. See
//! `tests/data/aave/README.md` for the three payload shapes:
//!
//! * user account data: `{"chainId", "user", "getUserAccountData": {totalCollateralBase,
//!   totalDebtBase, availableBorrowsBase, currentLiquidationThreshold, ltv, healthFactor},
//!   "getUserEMode"?}` (`Pool`), base currency with 8 decimals, health factor with 18;
//! * user reserves: `{"chainId", "user", "reserves": [{symbol, decimals, "getUserReserveData":
//!   {currentATokenBalance, currentStableDebt, currentVariableDebt, usageAsCollateralEnabled, …}}]}`
//!   (`AaveProtocolDataProvider.getUserReserveData`);
//! * reserves: `{"chainId", "reserves": [{symbol, "getReserveConfigurationData": {decimals, ltv,
//!   liquidationThreshold, liquidationBonus, reserveFactor, usageAsCollateralEnabled,
//!   borrowingEnabled, stableBorrowRateEnabled, isActive, isFrozen}, "getReserveEModeCategory"?,
//!   "getAssetPrice"?, "getDebtCeiling"?, "isolationModeTotalDebt"?, "borrowableInIsolation"?}],
//!   "eModeCategories"?: [{id, ltv, liquidationThreshold, liquidationBonus, label,
//!   "priceSource"?, "priceSourcePrice"?}]}` (isolation mode: debt ceiling and total isolated
//!   debt in USD with 2 decimals; v3.0–v3.1 e-mode price source with its oracle price, 8
//!   decimals).
//!
//! Supplied aTokens are positive collateral and debts negative collateral, both in the
//! reserve's exact base units. With only the user account data, the totals become `USD`
//! collateral and debt (8 decimals), since the per-asset split is unknown.

use intermargin_model::Amount;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{Node, Source};

const BPS: i64 = 10_000;

fn units(n: &Node) -> Result<i128, VenueError> {
    let text = match n.v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(x) => x.to_string(),
        _ => {
            return Err(n.err(format!(
                "expected an unsigned integer string, got {}",
                crate::json::describe(n.v)
            )))
        }
    };
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(n.err(format!("expected an unsigned integer string, got {text:?}")));
    }
    text.parse::<i128>()
        .map_err(|_| n.err(format!("{text} exceeds 128-bit base units")))
}

/// Basis points as an exact fraction (8050 → 0.805).
fn bps(n: &Node) -> Result<f64, VenueError> {
    let u = units(n)?;
    let d = Decimal::try_from_i128_with_scale(u, 4).map_err(|_| n.err("value too large"))?;
    d.to_f64().ok_or_else(|| n.err("value not representable"))
}

/// A liquidation bonus (10500 = the liquidator gets 105 %) as the bonus fraction (0.05).
fn bonus(n: &Node) -> Result<f64, VenueError> {
    let u = units(n)?;
    if u == 0 {
        return Ok(0.0);
    }
    let d = Decimal::try_from_i128_with_scale(u - BPS as i128, 4)
        .map_err(|_| n.err("value too large"))?;
    d.to_f64().ok_or_else(|| n.err("value not representable"))
}

/// A fixed-point integer with `decimals` as f64.
fn scaled(n: &Node, decimals: u32) -> Result<f64, VenueError> {
    let u = units(n)?;
    let d = Decimal::try_from_i128_with_scale(u, decimals)
        .map_err(|_| n.err("value too large for a decimal"))?;
    d.to_f64().ok_or_else(|| n.err("value not representable"))
}

fn chain_id(n: &Node) -> Result<Option<u64>, VenueError> {
    match n.opt_i64("chainId")? {
        Some(c) if c >= 0 => Ok(Some(c as u64)),
        Some(c) => Err(n.get("chainId")?.err(format!("must be >= 0, got {c}"))),
        None => Ok(None),
    }
}

pub(crate) fn import(
    payloads: &[(Source, Value)],
    b: &mut Builder,
    account: &str,
) -> Result<(), VenueError> {
    let mut user_reserves = false;
    let mut account_data = Vec::new();
    for (src, v) in payloads {
        let root = Node::root(src, v);
        if !root.is_object() {
            return Err(root.err(format!(
                "expected an object, got {}",
                crate::json::describe(root.v)
            )));
        }
        if let Some(t) = root.opt_i64("blockTimestamp")? {
            b.observe_time(t.saturating_mul(1000));
        }
        let chain = chain_id(&root)?;
        if root.has("getUserAccountData") {
            account_data.push(root.clone());
        } else if root.has("reserves") {
            let list = root.get("reserves")?.array()?;
            let is_user = list.first().is_some_and(|r| r.has("getUserReserveData"));
            if is_user {
                user_reserves = true;
                for r in &list {
                    user_reserve(r, chain, b)?;
                }
            } else {
                for r in &list {
                    reserve(r, chain, b)?;
                }
                if let Some(cats) = root.opt("eModeCategories")? {
                    emode(&cats, chain, b)?;
                }
            }
        } else {
            return Err(src.unrecognised(
                "expected Aave user account data (getUserAccountData), user reserves or reserves (reserves[])",
            ));
        }
    }
    for root in &account_data {
        user_account(root, b, account, !user_reserves)?;
    }
    Ok(())
}

fn user_account(
    root: &Node,
    b: &mut Builder,
    account: &str,
    as_collateral: bool,
) -> Result<(), VenueError> {
    let chain = chain_id(root)?;
    let d = root.get("getUserAccountData")?;
    let coll = d.get("totalCollateralBase")?;
    let debt = d.get("totalDebtBase")?;
    let mut m = Map::new();
    m.insert("source".into(), json!("Pool.getUserAccountData"));
    m.insert("total_collateral_usd".into(), json!(scaled(&coll, 8)?));
    m.insert("total_debt_usd".into(), json!(scaled(&debt, 8)?));
    m.insert(
        "available_borrows_usd".into(),
        json!(scaled(&d.get("availableBorrowsBase")?, 8)?),
    );
    m.insert(
        "current_liquidation_threshold".into(),
        json!(bps(&d.get("currentLiquidationThreshold")?)?),
    );
    m.insert("ltv".into(), json!(bps(&d.get("ltv")?)?));
    let hf = d.get("healthFactor")?;
    // type(uint256).max (no debt) does not fit 128 bits: the health factor is then infinite.
    let hf_text =
        hf.v.as_str()
            .map(str::to_string)
            .unwrap_or(hf.v.to_string());
    if hf_text.len() < 39 {
        let v = scaled(&hf, 18)?;
        m.insert("health_factor".into(), json!(v));
        b.report(
            Some("cross".into()),
            None,
            None,
            "health_factor",
            Some(v),
            "healthFactor",
        );
    } else if !hf_text.chars().all(|c| c.is_ascii_digit()) {
        return Err(hf.err(format!(
            "expected an unsigned integer string, got {hf_text:?}"
        )));
    }
    if let Some(e) = root.opt("getUserEMode")? {
        m.insert("emode_category".into(), json!(units(&e)?));
    }
    b.params(format!("aave:user:{account}"), m)?;
    if as_collateral {
        let c = units(&coll)?;
        let dbt = units(&debt)?;
        b.balance_units("USD", 8, Amount(c), None, chain)?;
        if dbt > 0 {
            b.balance_units("USD", 8, Amount(-dbt), None, chain)?;
        }
    }
    Ok(())
}

fn user_reserve(r: &Node, chain: Option<u64>, b: &mut Builder) -> Result<(), VenueError> {
    let symbol = r.get("symbol")?.nonempty_str()?.to_uppercase();
    let dec_node = r.get("decimals")?;
    let decimals = dec_node.i64()?;
    if !(0..=30).contains(&decimals) {
        return Err(dec_node.err(format!("expected 0..=30 decimals, got {decimals}")));
    }
    let decimals = decimals as u32;
    let u = r.get("getUserReserveData")?;
    let supplied = units(&u.get("currentATokenBalance")?)?;
    let stable = units(&u.get("currentStableDebt")?)?;
    let variable = units(&u.get("currentVariableDebt")?)?;
    let debt = stable
        .checked_add(variable)
        .ok_or_else(|| u.err("debt overflows"))?;
    if supplied > 0 {
        b.balance_units(&symbol, decimals, Amount(supplied), None, chain)?;
    }
    if debt > 0 {
        b.balance_units(&symbol, decimals, Amount(-debt), None, chain)?;
    }
    if let Some(c) = u.opt("usageAsCollateralEnabled")? {
        if !c.bool()? && supplied > 0 {
            let mut m = Map::new();
            m.insert(
                "source".into(),
                json!("AaveProtocolDataProvider.getUserReserveData"),
            );
            m.insert("collateral_disabled".into(), json!(true));
            b.params(format!("aave:user-reserve:{symbol}"), m)?;
        }
    }
    Ok(())
}

fn reserve(r: &Node, chain: Option<u64>, b: &mut Builder) -> Result<(), VenueError> {
    let symbol = r.get("symbol")?.nonempty_str()?.to_uppercase();
    let c = r.get("getReserveConfigurationData")?;
    let mut m = Map::new();
    m.insert(
        "source".into(),
        json!("AaveProtocolDataProvider.getReserveConfigurationData"),
    );
    if let Some(ch) = chain {
        m.insert("chain_id".into(), json!(ch));
    }
    m.insert("decimals".into(), json!(units(&c.get("decimals")?)?));
    m.insert("ltv".into(), json!(bps(&c.get("ltv")?)?));
    m.insert(
        "liquidation_threshold".into(),
        json!(bps(&c.get("liquidationThreshold")?)?),
    );
    m.insert(
        "liquidation_bonus".into(),
        json!(bonus(&c.get("liquidationBonus")?)?),
    );
    m.insert(
        "reserve_factor".into(),
        json!(bps(&c.get("reserveFactor")?)?),
    );
    for (from, to) in [
        ("usageAsCollateralEnabled", "usage_as_collateral_enabled"),
        ("borrowingEnabled", "borrowing_enabled"),
        ("isActive", "is_active"),
        ("isFrozen", "is_frozen"),
    ] {
        m.insert(to.into(), json!(c.get(from)?.bool()?));
    }
    if let Some(e) = r.opt("getReserveEModeCategory")? {
        m.insert("emode_category".into(), json!(units(&e)?));
    }
    if let Some(p) = r.opt("getAssetPrice")? {
        let price = scaled(&p, 8)?;
        m.insert("price_usd".into(), json!(price));
        b.index(&symbol, price)?;
    }
    // Isolation mode (v3): the ceiling (`AaveProtocolDataProvider.getDebtCeiling`, USD with
    // DEBT_CEILING_DECIMALS = 2), the debt counted against it (`Pool.getReserveData(asset)
    // .isolationModeTotalDebt`, same decimals) and whether the asset may be borrowed by isolated
    // users (`ReserveConfiguration.getBorrowableInIsolation`, UiPoolDataProvider's field name).
    for (from, to) in [
        ("getDebtCeiling", "debt_ceiling"),
        ("isolationModeTotalDebt", "isolation_mode_total_debt"),
    ] {
        if let Some(x) = r.opt(from)? {
            m.insert(to.into(), json!(scaled(&x, 2)?));
        }
    }
    if let Some(x) = r.opt("borrowableInIsolation")? {
        m.insert("borrowable_in_isolation".into(), json!(x.bool()?));
    }
    b.params(format!("aave:{symbol}"), m)
}

/// An address is "none" when it is the zero address.
fn is_zero_address(s: &str) -> bool {
    let h = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    !h.is_empty() && h.chars().all(|c| c == '0')
}

fn emode(cats: &Node, chain: Option<u64>, b: &mut Builder) -> Result<(), VenueError> {
    let mut out = Map::new();
    for c in cats.array()? {
        let id = c.get("id")?.i64()?;
        let mut e = Map::new();
        if let Some(l) = c.opt("label")? {
            e.insert("label".into(), json!(l.str()?));
        }
        e.insert("ltv".into(), json!(bps(&c.get("ltv")?)?));
        e.insert(
            "liquidation_threshold".into(),
            json!(bps(&c.get("liquidationThreshold")?)?),
        );
        e.insert(
            "liquidation_bonus".into(),
            json!(bonus(&c.get("liquidationBonus")?)?),
        );
        // v3.0–v3.1 `priceSource`: when set, its oracle price (`AaveOracle.getAssetPrice
        // (priceSource)`, 8 decimals, given as `priceSourcePrice`) prices every reserve of the
        // category for users in it.
        if let Some(src) = c.opt("priceSource")? {
            let addr = src.nonempty_str()?;
            if !is_zero_address(addr) {
                let p = c.opt("priceSourcePrice")?.ok_or_else(|| {
                    src.err("the category has a price source: priceSourcePrice (AaveOracle.getAssetPrice(priceSource)) is needed beside it")
                })?;
                let price = scaled(&p, 8)?;
                if price <= 0.0 {
                    return Err(p.err("AaveOracle never prices an asset at 0"));
                }
                e.insert("price_source".into(), json!(addr));
                e.insert("price_usd".into(), json!(price));
            }
        }
        out.insert(id.to_string(), Value::Object(e));
    }
    let mut m = Map::new();
    m.insert("source".into(), json!("Pool.getEModeCategoryData"));
    if let Some(ch) = chain {
        m.insert("chain_id".into(), json!(ch));
    }
    m.insert("emode_categories".into(), Value::Object(out));
    b.params("aave".to_string(), m)
}
