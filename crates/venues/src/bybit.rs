//! Bybit v5: `GET /v5/position/list`, `GET /v5/account/wallet-balance`,
//! `GET /v5/market/risk-limit`, `GET /v5/market/instruments-info`, `GET /v5/market/tickers`,
//! and open orders `GET /v5/order/realtime`.
//!
//! The `category` (linear, inverse, option) comes from the payload's `result.category`; a
//! position list without it is an error because the symbol alone is ambiguous.

use std::collections::BTreeMap;

use intermargin_model::{Order, OrderType, Position, PositionSide, Side};
use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{Node, Source};
use crate::symbols::{self, BybitCategory};

fn envelope<'a>(root: Node<'a>) -> Result<Node<'a>, VenueError> {
    if root.is_object() && root.has("retCode") {
        let code = root.get("retCode")?;
        if code.i64()? != 0 {
            return Err(VenueError::VenueReported {
                venue: root.src.venue,
                file: root.src.file_label(),
                message: format!(
                    "retCode {} {}",
                    code.v,
                    root.v
                        .get("retMsg")
                        .map(|m| m.to_string())
                        .unwrap_or_default()
                ),
            });
        }
    }
    if root.is_object() && root.has("result") {
        return root.get("result");
    }
    Ok(root)
}

fn category(result: &Node) -> Result<BybitCategory, VenueError> {
    let c = result.get("category")?;
    let s = c.str()?;
    BybitCategory::parse(s).ok_or_else(|| {
        c.err(format!(
            "expected linear, inverse, option or spot, got {s:?}"
        ))
    })
}

pub(crate) fn import(payloads: &[(Source, Value)], b: &mut Builder) -> Result<(), VenueError> {
    let mut results = Vec::new();
    for (src, v) in payloads {
        let root = Node::root(src, v);
        if let Some(t) = root.v.get("time").and_then(Value::as_i64) {
            b.observe_time(t);
        }
        results.push(envelope(root)?);
    }
    // Instruments first: exact expiries for positions.
    let mut expiries: BTreeMap<String, i64> = BTreeMap::new();
    let mut kinds = Vec::new();
    for r in &results {
        let list = r.get("list")?.array()?;
        let first = list.first();
        let kind = match first {
            None => "empty",
            Some(f) if f.has("coin") && f.has("accountType") => "wallet",
            Some(f) if f.has("side") && f.has("size") => "positions",
            Some(f) if f.has("orderId") && f.has("orderStatus") => "orders",
            Some(f) if f.has("riskLimitValue") && f.has("maintenanceMargin") => "risk",
            Some(f) if f.has("symbol") && f.has("markPrice") && f.has("indexPrice") => "tickers",
            Some(f) if f.has("lotSizeFilter") || f.has("contractType") || f.has("optionsType") => {
                "instruments"
            }
            Some(f) => {
                return Err(f.src.unrecognised(format!(
                "{}: not a Bybit position, open order, wallet balance, risk limit, instrument or ticker row",
                f.path
            )))
            }
        };
        kinds.push(kind);
    }
    // Risk limits before instruments (so instrument max_leverage yields to tiers), then the rest.
    for (r, kind) in results.iter().zip(&kinds) {
        if *kind == "risk" {
            risk_limits(r, b)?;
        }
    }
    for (r, kind) in results.iter().zip(&kinds) {
        if *kind == "instruments" {
            let cat = category(r)?;
            for n in r.get("list")?.array()? {
                instrument(&n, cat, &mut expiries, b)?;
            }
        }
    }
    for (r, kind) in results.iter().zip(kinds) {
        match kind {
            "wallet" => {
                for acc in r.get("list")?.array()? {
                    let t = acc.get("accountType")?.str()?;
                    let sub = (t != "UNIFIED").then(|| t.to_string());
                    for c in acc.get("coin")?.array()? {
                        let coin = c.get("coin")?.nonempty_str()?;
                        b.balance(
                            coin,
                            c.dec("walletBalance")?,
                            sub.clone(),
                            None,
                            &format!("{}.walletBalance", c.path),
                        )?;
                    }
                }
            }
            "positions" => {
                let cat = category(r)?;
                for n in r.get("list")?.array()? {
                    position(&n, cat, &expiries, b)?;
                }
            }
            "orders" => {
                let cat = category(r)?;
                for n in r.get("list")?.array()? {
                    order(&n, cat, &expiries, b)?;
                }
            }
            "tickers" => {
                let cat = category(r)?;
                for n in r.get("list")?.array()? {
                    ticker(&n, cat, &expiries, b)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn instrument(
    n: &Node,
    cat: BybitCategory,
    expiries: &mut BTreeMap<String, i64>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let symbol = n.get("symbol")?.nonempty_str()?;
    if let Some(d) = n.opt_i64("deliveryTime")? {
        if d > 0 {
            expiries.insert(symbol.to_string(), d);
        }
    }
    if let Some(lf) = n.opt("leverageFilter")? {
        let key = format!("bybit:{symbol}");
        let mut m = Map::new();
        m.insert("source".into(), json!("GET /v5/market/instruments-info"));
        m.insert(
            "category".into(),
            json!(match cat {
                BybitCategory::Linear => "linear",
                BybitCategory::Inverse => "inverse",
                BybitCategory::Option => "option",
                BybitCategory::Spot => "spot",
            }),
        );
        if let Some(x) = lf.opt_num("minLeverage")? {
            m.insert("min_leverage".into(), json!(x));
        }
        if let Some(x) = lf.opt_num("leverageStep")? {
            m.insert("leverage_step".into(), json!(x));
        }
        if let Some(x) = lf.opt_num("maxLeverage")? {
            if !b.has_param(&key, "risk_limits") {
                m.insert("max_leverage".into(), json!(x));
            }
        }
        b.params(key, m)?;
    }
    Ok(())
}

/// `GET /v5/market/tickers` row: the mark of the symbol and, for options (whose position rows
/// carry no index), the underlying's index and the mark implied volatility.
fn ticker(
    n: &Node,
    cat: BybitCategory,
    expiries: &BTreeMap<String, i64>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let sym_node = n.get("symbol")?;
    let symbol = sym_node.nonempty_str()?;
    if let Some(m) = n.opt_num("markPrice")? {
        if m < 0.0 {
            return Err(n.get("markPrice")?.err("mark price must not be negative"));
        }
        b.mark(symbol, m)?;
    }
    if cat == BybitCategory::Option {
        let ins = symbols::bybit(symbol, cat, expiries.get(symbol).copied())
            .ok_or_else(|| sym_node.err(format!("cannot parse Bybit option symbol {symbol:?}")))?;
        if let Some(ix) = n.opt_num("indexPrice")? {
            if ix < 0.0 {
                return Err(n.get("indexPrice")?.err("index price must not be negative"));
            }
            b.index(&ins.underlying, ix)?;
        }
        if let Some(iv) = n.opt_num("markIv")? {
            b.mark_iv(symbol, iv)?;
        }
    }
    Ok(())
}

/// One row of `GET /v5/order/realtime`: `leavesQty` left (else `qty − cumExecQty`), in the
/// position's unit; conditional orders (`orderStatus` `Untriggered`) keep their trigger, and
/// closed rows (the endpoint also returns recent fills and cancels) are skipped.
fn order(
    n: &Node,
    cat: BybitCategory,
    expiries: &BTreeMap<String, i64>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let sym_node = n.get("symbol")?;
    let symbol = sym_node.nonempty_str()?;
    if let Some(t) = n.opt_i64("updatedTime")? {
        b.observe_time(t);
    }
    let status = n.get("orderStatus")?.str()?;
    if !matches!(status, "New" | "PartiallyFilled" | "Untriggered") {
        return Ok(());
    }
    let side_node = n.get("side")?;
    let side = match side_node.str()? {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        other => return Err(side_node.err(format!("expected \"Buy\" or \"Sell\", got {other:?}"))),
    };
    let type_node = n.get("orderType")?;
    let limit = match type_node.str()? {
        "Limit" => true,
        "Market" => false,
        other => {
            return Err(type_node.err(format!("expected \"Limit\" or \"Market\", got {other:?}")))
        }
    };
    let stop_kind = n
        .opt("stopOrderType")?
        .map(|s| s.str())
        .transpose()?
        .unwrap_or("");
    let order_type = if status == "Untriggered" {
        match (stop_kind, limit) {
            ("TrailingStop", _) => OrderType::TrailingStop,
            (k, true) if k.contains("TakeProfit") => OrderType::TakeProfitLimit,
            (k, false) if k.contains("TakeProfit") => OrderType::TakeProfitMarket,
            (_, true) => OrderType::StopLimit,
            (_, false) => OrderType::StopMarket,
        }
    } else if limit {
        OrderType::Limit
    } else {
        OrderType::Market
    };
    let size = n.num("qty")?;
    let remaining = match n.opt_num("leavesQty")? {
        Some(l) => l,
        None => size - n.opt_num("cumExecQty")?.unwrap_or(0.0),
    };
    let ins = symbols::bybit(symbol, cat, expiries.get(symbol).copied())
        .ok_or_else(|| sym_node.err(format!("cannot parse Bybit symbol {symbol:?}")))?;
    let position_side = match n.opt_i64("positionIdx")? {
        Some(1) => Some(PositionSide::Long),
        Some(2) => Some(PositionSide::Short),
        _ => None,
    };
    let flag = |key: &str| -> Result<bool, VenueError> {
        match n.opt(key)? {
            Some(r) => r.bool(),
            None => Ok(false),
        }
    };
    let reduce_only = flag("reduceOnly")? || flag("closeOnTrigger")?;
    b.order(Order {
        instrument: ins,
        side,
        order_type,
        price: n.opt_num("price")?.filter(|p| *p > 0.0 && limit),
        trigger_price: n.opt_num("triggerPrice")?.filter(|p| *p > 0.0),
        size,
        remaining,
        reduce_only,
        id: n.opt_id("orderId")?,
        position_side,
        sub_account: None,
        isolated: false,
        leverage: None,
    })
}

fn position(
    n: &Node,
    cat: BybitCategory,
    expiries: &BTreeMap<String, i64>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let sym_node = n.get("symbol")?;
    let symbol = sym_node.nonempty_str()?;
    let size_node = n.get("size")?;
    let mut size = size_node.f64()?;
    if let Some(t) = n.opt_i64("updatedTime")? {
        b.observe_time(t);
    }
    if size == 0.0 {
        return Ok(());
    }
    let side = n.get("side")?;
    match side.str()? {
        "Buy" => size = size.abs(),
        "Sell" => size = -size.abs(),
        other => return Err(side.err(format!("expected \"Buy\" or \"Sell\", got {other:?}"))),
    }
    let ins = symbols::bybit(symbol, cat, expiries.get(symbol).copied())
        .ok_or_else(|| sym_node.err(format!("cannot parse Bybit symbol {symbol:?}")))?;
    let settle = ins.settle.clone();
    let mut p = Position::new(ins, size);
    p.entry_price = n.opt_num("avgPrice")?.filter(|x| *x > 0.0);
    p.leverage = n.opt_positive("leverage")?;
    p.unrealized_pnl = n.opt_num("unrealisedPnl")?;
    p.isolated = match n.opt_i64("tradeMode")? {
        None | Some(0) => false,
        Some(1) => true,
        Some(other) => {
            return Err(n
                .get("tradeMode")?
                .err(format!("expected 0 (cross) or 1 (isolated), got {other}")))
        }
    };
    let pool = intermargin_model::position_pool(
        intermargin_model::Venue::Bybit,
        symbol,
        p.isolated,
        size > 0.0,
    );
    let cur = Some(settle.as_str());
    b.report(
        Some(pool.clone()),
        Some(symbol),
        cur,
        "initial_margin",
        n.opt_num("positionIM")?,
        "positionIM",
    );
    b.report(
        Some(pool.clone()),
        Some(symbol),
        cur,
        "maintenance_margin",
        n.opt_num("positionMM")?,
        "positionMM",
    );
    b.report(
        Some(pool),
        Some(symbol),
        None,
        "liquidation_price",
        n.opt_num("liqPrice")?,
        "liqPrice",
    );
    if p.isolated {
        p.isolated_margin = n.opt_num("positionBalance")?;
    }
    if let Some(m) = n.opt_num("markPrice")? {
        b.mark(symbol, m)?;
    }
    let idx = n.opt_i64("positionIdx")?.unwrap_or(0);
    b.position(format!("{symbol}/{idx}"), p)
}

fn risk_limits(r: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let cat = r.get("category")?.str()?.to_string();
    let mut by_symbol: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for n in r.get("list")?.array()? {
        let symbol = n.get("symbol")?.nonempty_str()?;
        let max_lev = n.num("maxLeverage")?;
        let mut im = n.num("initialMargin")?;
        let mut mm = n.num("maintenanceMargin")?;
        // Percent or fraction? Bybit's initial margin rate is 1/maxLeverage: a product near 100
        // means the payload is in percent (the inverse docs example: "1" with "100.00").
        if max_lev > 0.0 && (im * max_lev - 100.0).abs() < 1.0 {
            im = n.opt_num_div("initialMargin", 100)?.unwrap_or(im);
            mm = n.opt_num_div("maintenanceMargin", 100)?.unwrap_or(mm);
        }
        let mut row = json!({
            "id": n.get("id")?.i64()?,
            "risk_limit_value": n.num("riskLimitValue")?,
            "maintenance_margin_rate": mm,
            "initial_margin_rate": im,
            "max_leverage": max_lev,
        });
        if let Some(d) = n.opt_num("mmDeduction")? {
            row["mm_deduction"] = json!(d);
        }
        if let Some(l) = n.opt("isLowestRisk")? {
            row["is_lowest_risk"] = json!(l.i64()? == 1);
        }
        by_symbol.entry(symbol.to_string()).or_default().push(row);
    }
    for (symbol, mut rows) in by_symbol {
        rows.sort_by(|a, c| {
            let x = a["risk_limit_value"].as_f64().unwrap_or(0.0);
            let y = c["risk_limit_value"].as_f64().unwrap_or(0.0);
            x.total_cmp(&y)
        });
        let mut m = Map::new();
        m.insert("source".into(), json!("GET /v5/market/risk-limit"));
        m.insert("category".into(), json!(cat));
        m.insert("risk_limits".into(), Value::Array(rows));
        let key = format!("bybit:{symbol}");
        b.params(key, m)?;
    }
    Ok(())
}
