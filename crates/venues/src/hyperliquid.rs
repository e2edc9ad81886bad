//! Hyperliquid `POST /info`: `clearinghouseState` (positions and margin summary), `meta`
//! (universe, margin tables) and `metaAndAssetCtxs` (`[meta, [ctx…]]`, mark and oracle prices).
//!
//! Collateral (USDC) is `marginSummary.accountValue − Σ unrealizedPnl`, the balance excluding
//! unrealised P&L, computed exactly (PARAMS.md).

use intermargin_model::Position;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{Node, Source};
use crate::symbols;

pub(crate) fn import(payloads: &[(Source, Value)], b: &mut Builder) -> Result<(), VenueError> {
    for (src, v) in payloads {
        let root = Node::root(src, v);
        if root.is_array() {
            let parts = root.array()?;
            if parts.len() != 2 {
                return Err(root.err(format!(
                    "expected metaAndAssetCtxs as [meta, assetCtxs], got an array of {}",
                    parts.len()
                )));
            }
            let coins = meta(&parts[0], b)?;
            let ctxs = parts[1].array()?;
            if ctxs.len() != coins.len() {
                return Err(parts[1].err(format!(
                    "expected one asset context per universe entry ({}), got {}",
                    coins.len(),
                    ctxs.len()
                )));
            }
            for (coin, ctx) in coins.iter().zip(ctxs) {
                let Some(coin) = coin else { continue };
                if let Some(m) = ctx.opt_num("markPx")? {
                    b.mark(coin, m)?;
                }
                if let Some(o) = ctx.opt_num("oraclePx")? {
                    b.index(coin, o)?;
                }
            }
        } else if root.is_object() && root.has("assetPositions") {
            clearinghouse(&root, b)?;
        } else if root.is_object() && root.has("universe") {
            meta(&root, b)?;
        } else {
            return Err(src.unrecognised(
                "expected clearinghouseState (assetPositions), meta (universe) or metaAndAssetCtxs ([meta, ctxs])",
            ));
        }
    }
    Ok(())
}

/// Reads a meta object; returns the universe's coin names (None for delisted) in order.
fn meta(n: &Node, b: &mut Builder) -> Result<Vec<Option<String>>, VenueError> {
    let mut coins = Vec::new();
    for u in n.get("universe")?.array()? {
        let name = u.get("name")?.nonempty_str()?.to_string();
        let delisted = match u.opt("isDelisted")? {
            Some(d) => d.bool()?,
            None => false,
        };
        if delisted {
            coins.push(None);
            continue;
        }
        let mut m = Map::new();
        m.insert("source".into(), json!("POST /info meta"));
        m.insert("max_leverage".into(), json!(u.num("maxLeverage")?));
        m.insert("sz_decimals".into(), json!(u.get("szDecimals")?.i64()?));
        let only_isolated = match u.opt("onlyIsolated")? {
            Some(x) => x.bool()?,
            None => false,
        };
        m.insert("only_isolated".into(), json!(only_isolated));
        if let Some(id) = u.opt_i64("marginTableId")? {
            m.insert("margin_table_id".into(), json!(id));
        }
        b.params(format!("hyperliquid:{name}"), m)?;
        coins.push(Some(name));
    }
    if let Some(tables) = n.opt("marginTables")? {
        let mut out = Map::new();
        for t in tables.array()? {
            let pair = t.array()?;
            if pair.len() != 2 {
                return Err(t.err("expected [id, {marginTiers}]"));
            }
            let id = pair[0].i64()?;
            let mut tiers = Vec::new();
            for tier in pair[1].get("marginTiers")?.array()? {
                tiers.push(json!({
                    "lower_bound": tier.num("lowerBound")?,
                    "max_leverage": tier.num("maxLeverage")?,
                }));
            }
            tiers.sort_by(|a, c| {
                let x = a["lower_bound"].as_f64().unwrap_or(0.0);
                let y = c["lower_bound"].as_f64().unwrap_or(0.0);
                x.total_cmp(&y)
            });
            out.insert(id.to_string(), Value::Array(tiers));
        }
        let mut m = Map::new();
        m.insert("source".into(), json!("POST /info meta"));
        m.insert("margin_tables".into(), Value::Object(out));
        b.params("hyperliquid".to_string(), m)?;
    }
    Ok(coins)
}

fn clearinghouse(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    if let Some(t) = n.opt_i64("time")? {
        b.observe_time(t);
    }
    let mut upnl_sum = Decimal::ZERO;
    for ap in n.get("assetPositions")?.array()? {
        let p = ap.get("position")?;
        let coin_node = p.get("coin")?;
        let coin = coin_node.nonempty_str()?;
        let szi_node = p.get("szi")?;
        let szi = szi_node.f64()?;
        let upnl = p.dec("unrealizedPnl")?;
        if szi == 0.0 {
            continue;
        }
        upnl_sum = upnl_sum
            .checked_add(upnl)
            .ok_or_else(|| p.err("unrealised P&L sum overflows"))?;
        let ins = symbols::hyperliquid(coin)
            .ok_or_else(|| coin_node.err(format!("cannot parse coin {coin:?}")))?;
        let mut pos = Position::new(ins, szi);
        pos.entry_price = p.opt_num("entryPx")?.filter(|x| *x > 0.0);
        pos.unrealized_pnl = Some(p.num("unrealizedPnl")?);
        if let Some(lev) = p.opt("leverage")? {
            pos.leverage = lev.opt_positive("value")?;
            if pos.leverage.is_none() {
                return Err(lev.get("value")?.err("required leverage value is missing"));
            }
            pos.isolated = lev
                .opt_enum("type", &["cross", "isolated"])?
                .ok_or_else(|| lev.err("leverage.type: required field is missing"))?
                == "isolated";
        }
        let margin_used = p.opt_num("marginUsed")?;
        if pos.isolated {
            // `marginUsed` of an isolated position already includes its unrealised P&L; the
            // canonical isolated margin is what was posted, so the P&L is taken out once here.
            let used = margin_used.ok_or_else(|| {
                p.err(
                    "marginUsed: an isolated position needs its margin (required field is missing)",
                )
            })?;
            pos.isolated_margin = Some(used - p.num("unrealizedPnl")?);
        }
        let pool = intermargin_model::position_pool(
            intermargin_model::Venue::Hyperliquid,
            coin,
            pos.isolated,
            szi > 0.0,
        );
        let name = symbols::hyperliquid(coin)
            .map(|i| i.symbol)
            .unwrap_or_else(|| coin.to_string());
        b.report(
            Some(pool.clone()),
            Some(&name),
            None,
            "liquidation_price",
            p.opt_num("liquidationPx")?,
            "liquidationPx",
        );
        b.report(
            Some(pool),
            Some(&name),
            Some("USDC"),
            "margin_used",
            margin_used,
            "marginUsed",
        );
        b.position(coin.to_string(), pos)?;
    }
    if let Some(cross) = n.opt("crossMarginSummary")? {
        b.report(
            Some("cross".into()),
            None,
            Some("USDC"),
            "equity",
            cross.opt_num("accountValue")?,
            "crossMarginSummary.accountValue",
        );
    }
    b.report(
        Some("cross".into()),
        None,
        Some("USDC"),
        "maintenance_margin",
        n.opt_num("crossMaintenanceMarginUsed")?,
        "crossMaintenanceMarginUsed",
    );
    let summary = n.get("marginSummary")?;
    let value = summary.dec("accountValue")?;
    let balance = value
        .checked_sub(upnl_sum)
        .ok_or_else(|| summary.err("balance overflows"))?;
    b.balance(
        "USDC",
        balance,
        None,
        None,
        &format!("{}.accountValue", summary.path),
    )
}
