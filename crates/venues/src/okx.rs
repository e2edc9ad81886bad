//! OKX v5: `GET /api/v5/account/positions`, `GET /api/v5/account/balance`,
//! `GET /api/v5/public/instruments` (contract values), and open orders
//! `GET /api/v5/trade/orders-pending`.
//!
//! Contract sizes come from an imported instruments payload (`ctVal × ctMult`, unit `ctValCcy`)
//! or, failing that, the dated table `data/okx_contracts.json`. Isolated spot-margin rows
//! (`instType` `MARGIN`, `mgnMode` `isolated`) become a spot position plus the borrowed
//! liability as negative collateral in sub-account `isolated:<instId>`; cross-margin `MARGIN`
//! rows are skipped because their holdings and debt are already in the balance's `cashBal`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use intermargin_model::{Order, OrderType, Position, PositionSide, Side, SizeUnit};
use serde::Deserialize;
use serde_json::Value;

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{Node, Source};
use crate::symbols::{self, ContractTerms};

#[derive(Deserialize)]
struct Table {
    families: Vec<Family>,
}

#[derive(Deserialize)]
struct Family {
    family: String,
    swap: Option<(f64, String)>,
    futures: Option<(f64, String)>,
    option: Option<(f64, String)>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        serde_json::from_str(include_str!("../data/okx_contracts.json"))
            .unwrap_or(Table { families: vec![] })
    })
}

fn unit(s: &str) -> SizeUnit {
    if s == "quote" {
        SizeUnit::Quote
    } else {
        SizeUnit::Base
    }
}

/// Contract terms from the dated table, by `instId` shape.
pub(crate) fn table_terms(inst_id: &str) -> Option<ContractTerms> {
    let parts: Vec<&str> = inst_id.split('-').collect();
    let family = format!("{}-{}", parts.first()?, parts.get(1)?);
    let f = table().families.iter().find(|f| f.family == family)?;
    let t = match parts.len() {
        3 if parts[2] == "SWAP" => f.swap.as_ref(),
        3 => f.futures.as_ref(),
        5 => f.option.as_ref(),
        _ => None,
    }?;
    Some(ContractTerms {
        size: t.0,
        unit: unit(&t.1),
    })
}

fn envelope<'a>(root: Node<'a>) -> Result<Node<'a>, VenueError> {
    if root.is_object() && root.has("code") {
        let code = root.get("code")?;
        let ok = match code.v {
            Value::String(s) => s == "0",
            Value::Number(n) => n.as_i64() == Some(0),
            _ => false,
        };
        if !ok {
            return Err(VenueError::VenueReported {
                venue: root.src.venue,
                file: root.src.file_label(),
                message: format!(
                    "code {} {}",
                    code.v,
                    root.v.get("msg").map(|m| m.to_string()).unwrap_or_default()
                ),
            });
        }
    }
    if root.is_object() && root.has("data") {
        return root.get("data");
    }
    Ok(root)
}

pub(crate) fn import(payloads: &[(Source, Value)], b: &mut Builder) -> Result<(), VenueError> {
    let mut rows = Vec::new();
    for (src, v) in payloads {
        let data = envelope(Node::root(src, v))?;
        if data.is_array() {
            rows.extend(data.array()?);
        } else {
            rows.push(data);
        }
    }
    // Instruments first: they define the contract sizes positions need.
    let mut terms: BTreeMap<String, (ContractTerms, Option<i64>)> = BTreeMap::new();
    for n in rows.iter().filter(|n| n.has("ctVal") && n.has("instId")) {
        let id = n.get("instId")?.nonempty_str()?.to_string();
        let ct_val = n.opt_num("ctVal")?;
        let Some(ct_val) = ct_val else { continue };
        let mult = n.opt_num("ctMult")?.unwrap_or(1.0);
        let ccy = n.get("ctValCcy")?.str()?;
        let base = id.split('-').next().unwrap_or("");
        let u = if ccy == base {
            SizeUnit::Base
        } else {
            SizeUnit::Quote
        };
        let size = ct_val * mult;
        if size.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(n.get("ctVal")?.err("contract value must be > 0"));
        }
        let exp = n.opt_i64("expTime")?;
        terms.insert(id, (ContractTerms { size, unit: u }, exp));
    }
    // Position tiers (GET /api/v5/public/position-tiers) become published tier tables.
    crate::okx_tiers::import(&rows, b)?;
    for n in &rows {
        if (n.has("ctVal") && n.has("instId")) || crate::okx_tiers::is_tier_row(n) {
            continue;
        }
        if n.has("details") {
            balance(n, b)?;
        } else if n.has("ordId") && n.has("instId") {
            order(n, &terms, b)?;
        } else if n.has("pos") && n.has("instId") {
            position(n, &terms, b)?;
        } else {
            return Err(n.src.unrecognised(format!(
                "{}: not an OKX position (instId+pos), open order (instId+ordId), balance (details), instrument (ctVal) or position tier (tier+minSz+maxSz+mmr)",
                if n.path.is_empty() { "(root)" } else { &n.path }
            )));
        }
    }
    Ok(())
}

fn balance(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    if let Some(t) = n.opt_i64("uTime")? {
        b.observe_time(t);
    }
    for d in n.get("details")?.array()? {
        let ccy = d.get("ccy")?.nonempty_str()?;
        b.balance(
            ccy,
            d.dec("cashBal")?,
            None,
            None,
            &format!("{}.cashBal", d.path),
        )?;
    }
    Ok(())
}

/// One row of `GET /api/v5/trade/orders-pending`: `sz − accFillSz` left, in contracts (the
/// base currency for spot); rows no longer live are skipped.
fn order(
    n: &Node,
    terms: &BTreeMap<String, (ContractTerms, Option<i64>)>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let id_node = n.get("instId")?;
    let inst_id = id_node.nonempty_str()?;
    if let Some(t) = n.opt_i64("uTime")? {
        b.observe_time(t);
    }
    let state = n.get("state")?.str()?;
    if !matches!(state, "live" | "partially_filled") {
        return Ok(());
    }
    let type_node = n.get("ordType")?;
    let order_type = match type_node.str()? {
        "limit" | "post_only" | "fok" | "ioc" | "mmp" | "mmp_and_post_only" | "op_fok" | "elp" => {
            OrderType::Limit
        }
        "market" | "optimal_limit_ioc" => OrderType::Market,
        other => return Err(type_node.err(format!("unknown OKX order type {other:?}"))),
    };
    if order_type == OrderType::Market
        && n.opt("tgtCcy")?.map(|t| t.str()).transpose()? == Some("quote_ccy")
    {
        // A spot market order sized in the quote currency has no size in the position's unit
        // until it fills; it does not rest in the book either.
        return Ok(());
    }
    let t = terms.get(inst_id).copied();
    let mut ins = symbols::okx(inst_id, t.map(|x| x.0).or_else(|| table_terms(inst_id)))
        .ok_or_else(|| {
            id_node.err(format!(
                "cannot parse OKX instrument {inst_id:?} or its contract value is unknown (import GET /api/v5/public/instruments too)"
            ))
        })?;
    if let Some(e) = t.and_then(|x| x.1) {
        match &mut ins.kind {
            intermargin_model::InstrumentKind::Future { expiry_ms }
            | intermargin_model::InstrumentKind::Option { expiry_ms, .. } => *expiry_ms = e,
            _ => {}
        }
    }
    let side_node = n.get("side")?;
    let side = match side_node.str()? {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(side_node.err(format!("expected \"buy\" or \"sell\", got {other:?}"))),
    };
    let size = n.num("sz")?;
    let remaining = size - n.opt_num("accFillSz")?.unwrap_or(0.0);
    // SPOT orders carry `posSide` "" (the orders channel's documented push).
    let position_side = match n.opt_enum("posSide", &["long", "short", "net", ""])? {
        Some("long") => Some(PositionSide::Long),
        Some("short") => Some(PositionSide::Short),
        _ => None,
    };
    let reduce_only = match n.opt("reduceOnly")? {
        Some(r) => r.bool()?,
        None => false,
    };
    b.order(Order {
        instrument: ins,
        side,
        order_type,
        price: n.opt_num("px")?,
        trigger_price: None,
        size,
        remaining,
        reduce_only,
        id: n.opt_id("ordId")?,
        position_side,
        sub_account: None,
        isolated: n.opt_enum("tdMode", &["cross", "isolated", "cash", "spot_isolated"])?
            == Some("isolated"),
        // SPOT orders carry `lever` "0": no leverage (the orders channel's documented push).
        leverage: match n.opt_num("lever")? {
            Some(0.0) => None,
            _ => n.opt_positive("lever")?,
        },
    })
}

fn position(
    n: &Node,
    terms: &BTreeMap<String, (ContractTerms, Option<i64>)>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let id_node = n.get("instId")?;
    let inst_id = id_node.nonempty_str()?;
    let inst_type = n.get("instType")?.str()?;
    let pos_node = n.get("pos")?;
    let mut pos = pos_node.decimal()?;
    if let Some(t) = n.opt_i64("uTime")? {
        b.observe_time(t);
    }
    if pos.is_zero() {
        return Ok(());
    }
    let isolated = n.opt_enum("mgnMode", &["cross", "isolated", "cash"])? == Some("isolated");
    let pos_side = n.opt_enum("posSide", &["long", "short", "net"])?;
    if pos_side == Some("short") && pos.is_sign_positive() {
        pos = -pos;
    }
    let t = terms.get(inst_id).copied();
    let mut ins = symbols::okx(inst_id, t.map(|x| x.0).or_else(|| table_terms(inst_id)))
        .ok_or_else(|| {
            id_node.err(format!(
                "cannot parse OKX instrument {inst_id:?} or its contract value is unknown (import GET /api/v5/public/instruments too)"
            ))
        })?;
    if let Some(e) = t.and_then(|x| x.1) {
        match &mut ins.kind {
            intermargin_model::InstrumentKind::Future { expiry_ms }
            | intermargin_model::InstrumentKind::Option { expiry_ms, .. } => *expiry_ms = e,
            _ => {}
        }
    }
    let mut sub_account = None;
    if inst_type == "MARGIN" {
        if !isolated {
            return Ok(());
        }
        // pos is in posCcy; a short spot-margin position holds the quote and owes the base.
        let pos_ccy = n.opt("posCcy")?.map(|c| c.str()).transpose()?.unwrap_or("");
        if pos_ccy != ins.underlying {
            return Err(n
                .get("posCcy")?
                .err("isolated margin position in the quote currency is not supported"));
        }
        let sub = format!("isolated:{inst_id}");
        if let (Some(liab), Some(ccy)) = (n.opt_decimal("liab")?, n.opt("liabCcy")?) {
            let ccy = ccy.nonempty_str()?;
            // OKX reports the liability as a negative number; debt is negative collateral.
            let debt = -liab.abs();
            b.balance(
                ccy,
                debt,
                Some(sub.clone()),
                None,
                &format!("{}.liab", n.path),
            )?;
        }
        sub_account = Some(sub);
    }
    let size = rust_decimal::prelude::ToPrimitive::to_f64(&pos)
        .ok_or_else(|| pos_node.err("size not representable"))?;
    let mut p = Position::new(ins.clone(), size);
    p.sub_account = sub_account;
    p.entry_price = n.opt_num("avgPx")?.filter(|x| *x > 0.0);
    p.leverage = n.opt_positive("lever")?;
    p.isolated = isolated;
    p.unrealized_pnl = n.opt_num("upl")?;
    if isolated && inst_type != "MARGIN" {
        p.isolated_margin = n.opt_num("margin")?;
    }
    if let Some(m) = n.opt_num("markPx")? {
        b.mark(inst_id, m)?;
    }
    if let Some(ix) = n.opt_num("idxPx")? {
        b.index(&ins.underlying, ix)?;
    }
    let side = pos_side.unwrap_or("net");
    if inst_type != "MARGIN" {
        let pool = intermargin_model::position_pool(
            intermargin_model::Venue::Okx,
            inst_id,
            isolated,
            size > 0.0,
        );
        // OKX states imr / mmr in the margin currency (`ccy`), liqPx in the quote.
        let ccy = n.opt("ccy")?.map(|c| c.str()).transpose()?;
        let ccy = ccy.filter(|c| !c.is_empty()).unwrap_or(ins.settle.as_str());
        b.report(
            Some(pool.clone()),
            Some(inst_id),
            Some(ccy),
            "initial_margin",
            n.opt_num("imr")?,
            "imr",
        );
        b.report(
            Some(pool.clone()),
            Some(inst_id),
            Some(ccy),
            "maintenance_margin",
            n.opt_num("mmr")?,
            "mmr",
        );
        b.report(
            Some(pool),
            Some(inst_id),
            None,
            "liquidation_price",
            n.opt_num("liqPx")?,
            "liqPx",
        );
    }
    b.position(format!("{inst_id}/{side}"), p)
}
