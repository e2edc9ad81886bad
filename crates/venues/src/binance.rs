//! Binance USDⓈ-M futures: `GET /fapi/v2|v3/positionRisk`, `GET /fapi/v2|v3/account`,
//! `GET /fapi/v2|v3/balance`, `GET /fapi/v1/leverageBracket`, and the portfolio-margin variants
//! `GET /papi/v1/um/positionRisk`, `/papi/v1/balance`, `/papi/v1/um/leverageBracket`,
//! `/papi/v1/account` (the unified account's totals: [`crate::binance_pm`]).
//! COIN-M rows (`BTCUSD_PERP`, quantity brackets) are handed to [`crate::binance_coinm`].
//! Open orders: `GET /fapi/v1/openOrders`.

use intermargin_model::{Instrument, Order, OrderType, Position, PositionSide, Side};
use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{describe, Node, Source};
use crate::symbols;

pub(crate) fn import(payloads: &[(Source, Value)], b: &mut Builder) -> Result<(), VenueError> {
    for (src, v) in payloads {
        let root = Node::root(src, v);
        if root.is_object() && root.has("code") && root.has("msg") && !root.has("assets") {
            return Err(VenueError::VenueReported {
                venue: src.venue,
                file: src.file_label(),
                message: v.to_string(),
            });
        }
        if root.is_array() {
            for row in root.array()? {
                item(row, b)?;
            }
        } else {
            item(root, b)?;
        }
    }
    Ok(())
}

fn item(n: Node, b: &mut Builder) -> Result<(), VenueError> {
    if !n.is_object() {
        return Err(n.err(format!("expected an object, got {}", describe(n.v))));
    }
    if n.has("brackets") && crate::binance_coinm::is_coinm_brackets(&n) {
        crate::binance_coinm::brackets(&n, b)
    } else if n.has("brackets") {
        brackets(&n, b)
    } else if n.has("orderId") && n.has("origQty") {
        order(&n, b)
    } else if n.has("positionAmt") {
        position(&n, b)
    } else if n.has("assets") && n.has("positions") {
        if let Some(t) = n.opt_i64("updateTime")? {
            b.observe_time(t);
        }
        for a in n.get("assets")?.array()? {
            let asset = a.get("asset")?.nonempty_str()?;
            b.balance(
                asset,
                a.dec("walletBalance")?,
                None,
                None,
                &format!("{}.walletBalance", a.path),
            )?;
            if let Some(t) = a.opt_i64("updateTime")? {
                b.observe_time(t);
            }
        }
        for p in n.get("positions")?.array()? {
            position(&p, b)?;
        }
        Ok(())
    } else if n.has("asset") && n.has("totalWalletBalance") {
        // GET /papi/v1/balance: totalWalletBalance is the asset's whole wallet (margin + UM + CM),
        // the cross-margin loan a debt of it.
        crate::binance_pm::balance(&n, b)
    } else if n.has("asset") && n.has("collateralRate") {
        crate::binance_pm::collateral_rate(&n, b)
    } else if n.has("asset") && n.has("balance") {
        let asset = n.get("asset")?.nonempty_str()?;
        if let Some(t) = n.opt_i64("updateTime")? {
            b.observe_time(t);
        }
        b.balance(
            asset,
            n.dec("balance")?,
            None,
            None,
            &format!("{}.balance", n.path),
        )
    } else if n.has("uniMMR") || n.has("accountEquity") {
        // /papi/v1/account: the unified account's totals in USD, kept for reconcile.
        crate::binance_pm::account(&n, b)
    } else {
        Err(n.src.unrecognised(format!(
            "{}: not a Binance position (positionAmt), open order (orderId+origQty), account (assets+positions), balance (asset+balance) or leverage bracket (brackets)",
            if n.path.is_empty() { "(root)" } else { &n.path }
        )))
    }
}

/// One row of `GET /fapi/v1/openOrders` (or `GET /fapi/v1/order`): `origQty − executedQty`
/// left, `price` "0" for the types without a limit; rows no longer open are skipped.
fn order(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let sym_node = n.get("symbol")?;
    let symbol = sym_node.nonempty_str()?;
    if let Some(t) = n.opt_i64("updateTime")? {
        b.observe_time(t);
    }
    let status = n.get("status")?.str()?;
    if !matches!(status, "NEW" | "PARTIALLY_FILLED") {
        return Ok(());
    }
    let side = match n.get("side")?.str()? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => {
            return Err(n
                .get("side")?
                .err(format!("expected \"BUY\" or \"SELL\", got {other:?}")))
        }
    };
    let order_type = match n.get("type")?.str()? {
        "LIMIT" => OrderType::Limit,
        "MARKET" => OrderType::Market,
        "STOP" => OrderType::StopLimit,
        "STOP_MARKET" => OrderType::StopMarket,
        "TAKE_PROFIT" => OrderType::TakeProfitLimit,
        "TAKE_PROFIT_MARKET" => OrderType::TakeProfitMarket,
        "TRAILING_STOP_MARKET" => OrderType::TrailingStop,
        other => {
            return Err(n
                .get("type")?
                .err(format!("unknown Binance order type {other:?}")))
        }
    };
    let size = n.num("origQty")?;
    let remaining = size - n.opt_num("executedQty")?.unwrap_or(0.0);
    let margin_asset = match n.opt("marginAsset")? {
        Some(m) => Some(m.str()?),
        None => None,
    };
    let ins = symbols::binance(symbol, margin_asset)
        .ok_or_else(|| sym_node.err(format!("cannot parse Binance symbol {symbol:?}")))?;
    let position_side = match n.opt_enum("positionSide", &["BOTH", "LONG", "SHORT"])? {
        Some("LONG") => Some(PositionSide::Long),
        Some("SHORT") => Some(PositionSide::Short),
        _ => None,
    };
    let close_all = match n.opt("closePosition")? {
        Some(c) => c.bool()?,
        None => false,
    };
    let reduce_only = match n.opt("reduceOnly")? {
        Some(r) => r.bool()?,
        None => false,
    };
    b.order(Order {
        instrument: ins,
        side,
        order_type,
        price: n.opt_num("price")?.filter(|p| *p > 0.0),
        trigger_price: n.opt_num("stopPrice")?.filter(|p| *p > 0.0),
        size,
        remaining,
        // "Close-All" orders close the position: they never add to it.
        reduce_only: reduce_only || close_all,
        id: n.opt_id("orderId")?,
        position_side,
        sub_account: None,
        isolated: false,
        leverage: None,
    })
}

fn position(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let sym_node = n.get("symbol")?;
    let symbol = sym_node.nonempty_str()?;
    if crate::binance_coinm::is_coinm(symbol) {
        return crate::binance_coinm::position(n, b);
    }
    let Some(amt) = open_amount(n, b)? else {
        return Ok(());
    };
    let margin_asset = match n.opt("marginAsset")? {
        Some(m) => Some(m.str()?),
        None => None,
    };
    let ins = symbols::binance(symbol, margin_asset)
        .ok_or_else(|| sym_node.err(format!("cannot parse Binance symbol {symbol:?}")))?;
    let mark = n.opt_num("markPrice")?;
    // Leverage: the payload's field (v2); v3 dropped it, so it is the position's notional over
    // the venue's own `positionInitialMargin` (`initialMargin`), which is what sets IM there.
    position_row(n, b, symbol, amt, ins, mark, |position_im| {
        Ok(match n.opt_positive("leverage")? {
            Some(l) => Some(l),
            None => {
                let notional = match n.opt_num("notional")? {
                    Some(x) => Some(x.abs()),
                    None => mark.map(|m| (amt * m).abs()),
                };
                match (notional, position_im) {
                    (Some(x), Some(im)) if im > 0.0 && x > 0.0 => Some(whole_leverage(x / im)),
                    _ => None,
                }
            }
        })
    })
}

/// The signed `positionAmt` of a position row (USDⓈ-M or COIN-M), its `updateTime` observed;
/// `None` for a flat row (nothing to import).
pub(crate) fn open_amount(n: &Node, b: &mut Builder) -> Result<Option<f64>, VenueError> {
    let amt = n.get("positionAmt")?.f64()?;
    if let Some(t) = n.opt_i64("updateTime")? {
        b.observe_time(t);
    }
    Ok((amt != 0.0).then_some(amt))
}

/// What a USDⓈ-M and a COIN-M position row share (`positionRisk`, `account.positions[]`): the
/// hedge side, entry, unrealised P&L, margin type and isolated wallet, the mark, and the
/// venue's own liquidation price, position IM and maintenance kept for reconcile. `ins` is the
/// row's instrument, `mark` its usable mark, and `leverage` gives the row's leverage from the
/// venue's position initial margin (`positionInitialMargin`, else `initialMargin`).
pub(crate) fn position_row(
    n: &Node,
    b: &mut Builder,
    symbol: &str,
    amt: f64,
    ins: Instrument,
    mark: Option<f64>,
    leverage: impl FnOnce(Option<f64>) -> Result<Option<f64>, VenueError>,
) -> Result<(), VenueError> {
    let side = n
        .opt_enum("positionSide", &["BOTH", "LONG", "SHORT"])?
        .unwrap_or("BOTH");
    let settle = ins.settle.clone();
    let mut p = Position::new(ins, amt);
    p.entry_price = n.opt_num("entryPrice")?.filter(|x| *x > 0.0);
    p.unrealized_pnl = match n.opt_num("unRealizedProfit")? {
        Some(u) => Some(u),
        None => n.opt_num("unrealizedProfit")?,
    };
    p.isolated = match (
        n.opt_enum("marginType", &["cross", "isolated"])?,
        n.opt("isolated")?,
    ) {
        (Some(m), _) => m == "isolated",
        (None, Some(i)) => i.bool()?,
        (None, None) => n.opt_num("isolatedWallet")?.is_some_and(|w| w != 0.0),
    };
    if p.isolated {
        p.isolated_margin = match n.opt_num("isolatedWallet")? {
            Some(w) => Some(w),
            None => n.opt_num("isolatedMargin")?,
        };
    }
    if let Some(m) = mark {
        b.mark(symbol, m)?;
    }
    let position_im = match n.opt_num("positionInitialMargin")? {
        Some(x) => Some(x),
        None => n.opt_num("initialMargin")?,
    };
    p.leverage = leverage(position_im)?;
    let pool = intermargin_model::position_pool(
        intermargin_model::Venue::Binance,
        symbol,
        p.isolated,
        amt > 0.0,
    );
    let cur = Some(settle.as_str());
    b.report(
        Some(pool.clone()),
        Some(symbol),
        None,
        "liquidation_price",
        n.opt_num("liquidationPrice")?,
        "liquidationPrice",
    );
    b.report(
        Some(pool.clone()),
        Some(symbol),
        cur,
        "initial_margin",
        position_im,
        "positionInitialMargin",
    );
    b.report(
        Some(pool),
        Some(symbol),
        cur,
        "maintenance_margin",
        n.opt_num("maintMargin")?,
        "maintMargin",
    );
    b.position(format!("{symbol}/{side}"), p)
}

/// Binance leverage is a whole number (1–125×): a ratio within 0.1 % of one is that number
/// (the venue rounds `initialMargin` to 8 decimals), anything else is kept as computed.
fn whole_leverage(x: f64) -> f64 {
    let r = x.round();
    if r >= 1.0 && ((x - r) / r).abs() < 1e-3 {
        r
    } else {
        x
    }
}

fn brackets(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let symbol = n.get("symbol")?.nonempty_str()?;
    let mut rows = Vec::new();
    for br in n.get("brackets")?.array()? {
        rows.push(json!({
            "bracket": br.get("bracket")?.i64()?,
            "initial_leverage": br.num("initialLeverage")?,
            "notional_floor": br.num("notionalFloor")?,
            "notional_cap": br.num("notionalCap")?,
            "maint_margin_ratio": br.num("maintMarginRatio")?,
            "cum": br.num("cum")?,
        }));
    }
    rows.sort_by(|a, c| {
        let fa = a["notional_floor"].as_f64().unwrap_or(0.0);
        let fc = c["notional_floor"].as_f64().unwrap_or(0.0);
        fa.total_cmp(&fc)
    });
    let mut m = Map::new();
    let source = if n.src.file.as_deref().is_some_and(|f| f.contains("papi")) {
        "GET /papi/v1/um/leverageBracket"
    } else {
        "GET /fapi/v1/leverageBracket"
    };
    m.insert("source".into(), json!(source));
    if let Some(c) = n.opt_num("notionalCoef")? {
        m.insert("notional_coef".into(), json!(c));
    }
    m.insert("brackets".into(), Value::Array(rows));
    b.params(format!("binance:{symbol}"), m)
}
