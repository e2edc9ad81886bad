//! Deribit: `private/get_positions`, `private/get_position`, `private/get_account_summary`,
//! `private/get_account_summaries`, `public/get_instruments`, `public/get_instrument`,
//! `public/ticker` (futures and options, with `greeks` and `mark_iv`), and open orders
//! `private/get_open_orders_by_currency`.
//!
//! Sizes: Deribit reports futures in USD (inverse) and options and linear contracts in the coin;
//! inverse futures become contracts of their face value (10 USD BTC, 1 USD ETH, or the
//! instruments payload's `contract_size`), everything else is counted in the coin.

use std::collections::BTreeMap;

use intermargin_model::{
    Greeks, Instrument, InstrumentKind, Order, OrderType, Position, Settlement, Side, Venue,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{Node, Source};
use crate::symbols;

#[derive(Clone, Copy)]
struct InstrumentInfo {
    contract_size: f64,
    expiry_ms: Option<i64>,
}

enum Item<'a> {
    Instrument(Node<'a>),
    Position(Node<'a>),
    Ticker(Node<'a>),
    Summary(Node<'a>),
    Order(Node<'a>),
}

fn unwrap_rpc<'a>(root: Node<'a>) -> Result<Node<'a>, VenueError> {
    if !root.is_object() {
        return Ok(root);
    }
    if let Some(e) = root.opt("error")? {
        return Err(VenueError::VenueReported {
            venue: Venue::Deribit,
            file: root.src.file_label(),
            message: e.v.to_string(),
        });
    }
    if root.has("jsonrpc") || root.has("result") {
        return root.get("result");
    }
    Ok(root)
}

fn classify<'a>(n: Node<'a>, out: &mut Vec<Item<'a>>) -> Result<(), VenueError> {
    if n.is_array() {
        for e in n.array()? {
            classify(e, out)?;
        }
        return Ok(());
    }
    if !n.is_object() {
        return Err(n.err(format!(
            "expected a position, account summary, instrument or ticker object, got {}",
            crate::json::describe(n.v)
        )));
    }
    if n.has("summaries") {
        for s in n.get("summaries")?.array()? {
            out.push(Item::Summary(s));
        }
    } else if n.has("currency") && n.has("balance") {
        out.push(Item::Summary(n));
    } else if n.has("order_id") && n.has("order_state") {
        // An order row also has instrument_name, direction and average_price: test it first.
        out.push(Item::Order(n));
    } else if n.has("instrument_name")
        && (n.has("size")
            || n.has("direction")
            || n.has("average_price")
            || n.has("floating_profit_loss"))
    {
        // A position row (a ticker has neither a direction nor an average price); `size` is
        // then required, so a row that lost it is refused rather than read as a ticker.
        out.push(Item::Position(n));
    } else if n.has("instrument_name") && n.has("expiration_timestamp") {
        out.push(Item::Instrument(n));
    } else if n.has("instrument_name") && n.has("mark_price") {
        out.push(Item::Ticker(n));
    } else {
        return Err(n.src.unrecognised(format!(
            "{}: not a Deribit position (instrument_name+size), open order (order_id+order_state), account summary (currency+balance), instrument (expiration_timestamp) or ticker (mark_price)",
            if n.path.is_empty() { "(root)" } else { &n.path }
        )));
    }
    Ok(())
}

/// The coin an instrument name refers to (`BTC` for `BTC-PERPETUAL` and `BTC_USDC-...`).
fn underlying_of(name: &str) -> &str {
    let head = name.split('-').next().unwrap_or(name);
    head.split('_').next().unwrap_or(head)
}

/// Key of an instrument's index: the coin (`BTC`) for USD-quoted contracts, `COIN_QUOTE`
/// (`SOL_USDC`) for Deribit's linear ones, whose index is quoted in USDC.
pub(crate) fn index_key(name: &str) -> String {
    name.split('-').next().unwrap_or(name).to_string()
}

fn f(d: Decimal, n: &Node) -> Result<f64, VenueError> {
    d.to_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| n.err(format!("{d} is not representable as a number")))
}

pub(crate) fn import(payloads: &[(Source, Value)], b: &mut Builder) -> Result<(), VenueError> {
    let mut items = Vec::new();
    for (src, v) in payloads {
        let root = unwrap_rpc(Node::root(src, v))?;
        classify(root, &mut items)?;
    }
    let mut infos: BTreeMap<String, InstrumentInfo> = BTreeMap::new();
    for it in &items {
        if let Item::Instrument(n) = it {
            let name = n.get("instrument_name")?.nonempty_str()?.to_string();
            let kind = n.get("kind")?.str()?;
            let expiry = n.get("expiration_timestamp")?.i64()?;
            let perpetual = n
                .opt("settlement_period")?
                .map(|p| p.str().map(|s| s == "perpetual"))
                .transpose()?
                .unwrap_or(false);
            let cs = n.num("contract_size")?;
            if cs <= 0.0 {
                return Err(n
                    .get("contract_size")?
                    .err(format!("contract size must be > 0, got {cs}")));
            }
            infos.insert(
                name,
                InstrumentInfo {
                    contract_size: cs,
                    expiry_ms: (kind == "option" || (kind == "future" && !perpetual))
                        .then_some(expiry),
                },
            );
        }
    }
    for it in &items {
        match it {
            Item::Instrument(_) => {}
            Item::Summary(n) => {
                let ccy = n.get("currency")?.nonempty_str()?;
                let bal = n.dec("balance")?;
                b.balance(ccy, bal, None, None, &format!("{}.balance", n.path))?;
                let pool = Some("cross".to_string());
                let cur = Some(ccy);
                b.report(
                    pool.clone(),
                    None,
                    cur,
                    "equity",
                    n.opt_num("equity")?,
                    "equity",
                );
                b.report(
                    pool.clone(),
                    None,
                    cur,
                    "initial_margin",
                    n.opt_num("initial_margin")?,
                    "initial_margin",
                );
                b.report(
                    pool,
                    None,
                    cur,
                    "maintenance_margin",
                    n.opt_num("maintenance_margin")?,
                    "maintenance_margin",
                );
            }
            Item::Ticker(n) => ticker(n, b)?,
            Item::Position(n) => position(n, &infos, b)?,
            Item::Order(n) => order(n, &infos, b)?,
        }
    }
    Ok(())
}

fn ticker(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let name = n.get("instrument_name")?.nonempty_str()?;
    if let Some(t) = n.opt_i64("timestamp")? {
        b.observe_time(t);
    }
    b.mark(name, n.num("mark_price")?)?;
    // index_prices are per underlying in USD; the USDC-quoted index of a linear contract
    // (`SOL_USDC-PERPETUAL`) is filed under `SOL_USDC`, which its margin converts at.
    if let Some(ix) = n.opt_num("index_price")? {
        b.index(&index_key(name), ix)?;
    }
    // Deribit quotes implied volatility in percent (80.5 = 80.5 %).
    if let Some(iv) = n.opt_num_div("mark_iv", 100)? {
        b.mark_iv(name, iv)?;
    }
    if let Some(g) = n.opt("greeks")? {
        b.greeks(
            name,
            Greeks {
                delta: g.num("delta")?,
                gamma: g.num("gamma")?,
                vega: g.num("vega")?,
                theta: g.num("theta")?,
            },
        )?;
    }
    Ok(())
}

/// The instrument an `instrument_name` names, with the instruments payload's contract size and
/// expiry when one was imported.
fn resolve(
    name_node: &Node,
    infos: &BTreeMap<String, InstrumentInfo>,
) -> Result<Instrument, VenueError> {
    let name = name_node.nonempty_str()?;
    let info = infos.get(name).copied();
    let face = info
        .map(|i| i.contract_size)
        .or_else(|| symbols::deribit_inverse_face(underlying_of(name)));
    let mut ins = symbols::deribit(name, face).ok_or_else(|| {
        name_node.err(format!(
            "cannot parse Deribit instrument {name:?} (or unknown contract size: import public/get_instruments too)"
        ))
    })?;
    if let Some(e) = info.and_then(|i| i.expiry_ms) {
        match &mut ins.kind {
            InstrumentKind::Future { expiry_ms } | InstrumentKind::Option { expiry_ms, .. } => {
                *expiry_ms = e
            }
            _ => {}
        }
    }
    Ok(ins)
}

/// Deribit's `amount` / `size` in contracts: inverse futures are quoted in USD (contracts of
/// their face value), everything else in the coin.
fn contracts(
    ins: &Instrument,
    amount: Decimal,
    name_node: &Node,
    amount_node: &Node,
) -> Result<Decimal, VenueError> {
    Ok(match (ins.settlement, &ins.kind) {
        (Settlement::Inverse, InstrumentKind::Future { .. } | InstrumentKind::Perpetual) => {
            let face = Decimal::try_from(ins.contract_size)
                .map_err(|_| name_node.err("contract size is not a decimal"))?;
            amount
                .checked_div(face)
                .ok_or_else(|| amount_node.err("size / contract size overflows"))?
        }
        _ => amount,
    })
}

/// One row of `private/get_open_orders_by_currency` (or `…_by_instrument`): `amount −
/// filled_amount` left, in the position's contracts; closed rows are skipped.
fn order(
    n: &Node,
    infos: &BTreeMap<String, InstrumentInfo>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let name_node = n.get("instrument_name")?;
    if let Some(t) = n.opt_i64("last_update_timestamp")? {
        b.observe_time(t);
    }
    let state = n.get("order_state")?.str()?;
    if !matches!(state, "open" | "untriggered") {
        return Ok(());
    }
    let ins = resolve(&name_node, infos)?;
    let side = match n.get("direction")?.str()? {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => {
            return Err(n
                .get("direction")?
                .err(format!("expected \"buy\" or \"sell\", got {other:?}")))
        }
    };
    let type_node = n.get("order_type")?;
    let order_type = match type_node.str()? {
        "limit" => OrderType::Limit,
        "market" | "market_limit" => OrderType::Market,
        "stop_limit" => OrderType::StopLimit,
        "stop_market" => OrderType::StopMarket,
        "take_limit" => OrderType::TakeProfitLimit,
        "take_market" => OrderType::TakeProfitMarket,
        "trailing_stop" => OrderType::TrailingStop,
        other => return Err(type_node.err(format!("unknown Deribit order type {other:?}"))),
    };
    let amount_node = n.get("amount")?;
    let amount = contracts(&ins, amount_node.decimal()?, &name_node, &amount_node)?;
    let filled = match n.opt_decimal("filled_amount")? {
        Some(x) => contracts(&ins, x, &name_node, &amount_node)?,
        None => Decimal::ZERO,
    };
    // `price` is a number, or the string "market_price" for market orders.
    let price = match n.opt("price")? {
        Some(p) if p.v.is_number() => Some(p.f64()?),
        _ => None,
    };
    let reduce_only = match n.opt("reduce_only")? {
        Some(r) => r.bool()?,
        None => false,
    };
    b.order(Order {
        instrument: ins,
        side,
        order_type,
        price,
        trigger_price: n.opt_num("trigger_price")?.filter(|x| *x > 0.0),
        size: f(amount, &amount_node)?,
        remaining: f(amount - filled, &amount_node)?,
        reduce_only,
        id: n.opt_id("order_id")?,
        position_side: None,
        sub_account: None,
        isolated: false,
        leverage: None,
    })
}

fn position(
    n: &Node,
    infos: &BTreeMap<String, InstrumentInfo>,
    b: &mut Builder,
) -> Result<(), VenueError> {
    let name_node = n.get("instrument_name")?;
    let name = name_node.nonempty_str()?;
    let size_node = n.get("size")?;
    let mut amount = size_node.decimal()?;
    if amount.is_zero() {
        return Ok(());
    }
    if let Some(d) = n.opt("direction")? {
        match d.str()? {
            "sell" if amount.is_sign_positive() => amount = -amount,
            "buy" | "sell" | "zero" => {}
            other => return Err(d.err(format!("expected \"buy\" or \"sell\", got {other:?}"))),
        }
    }
    let ins = resolve(&name_node, infos)?;
    let contracts = contracts(&ins, amount, &name_node, &size_node)?;
    let mut p = Position::new(ins.clone(), f(contracts, &size_node)?);
    p.entry_price = n.opt_num("average_price")?.filter(|x| *x > 0.0);
    p.leverage = n.opt_num("leverage")?.filter(|x| *x > 0.0);
    p.unrealized_pnl = n.opt_num("floating_profit_loss")?;
    let pool = Some("cross".to_string());
    let cur = Some(ins.settle.as_str());
    b.report(
        pool.clone(),
        Some(name),
        cur,
        "initial_margin",
        n.opt_num("initial_margin")?,
        "initial_margin",
    );
    b.report(
        pool.clone(),
        Some(name),
        cur,
        "maintenance_margin",
        n.opt_num("maintenance_margin")?,
        "maintenance_margin",
    );
    b.report(
        pool,
        Some(name),
        None,
        "liquidation_price",
        n.opt_num("estimated_liquidation_price")?,
        "estimated_liquidation_price",
    );
    if let Some(m) = n.opt_num("mark_price")? {
        b.mark(name, m)?;
    }
    if let Some(ix) = n.opt_num("index_price")? {
        b.index(&index_key(name), ix)?;
    }
    b.position(name.to_string(), p)
}
