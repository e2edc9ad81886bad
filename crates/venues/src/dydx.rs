//! dYdX v4 indexer: `GET /v4/addresses/{address}/subaccountNumber/{n}` (`{"subaccount": …}`),
//! `GET /v4/addresses/{address}` (`{"subaccounts": […]}`), `GET /v4/perpetualMarkets`
//! (`{"markets": …}`), and the equivalent websocket `subscribed` messages of the
//! `v4_subaccounts` and `v4_markets` channels (`contents` holds the same objects).
//!
//! Collateral is the USDC balance *excluding* unrealised P&L: the indexer's USDC asset
//! position is the quote balance, which already paid for open perpetuals, so the adapter adds
//! back `Σ size × entryPrice` exactly (see PARAMS.md).

use intermargin_model::Position;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::{Node, Source};
use crate::symbols;

pub(crate) fn import(payloads: &[(Source, Value)], b: &mut Builder) -> Result<(), VenueError> {
    let mut subaccounts = Vec::new();
    for (src, v) in payloads {
        let mut root = Node::root(src, v);
        if root.is_object() && root.has("contents") {
            root = root.get("contents")?;
        }
        if !root.is_object() {
            return Err(root.err(format!(
                "expected an object, got {}",
                crate::json::describe(root.v)
            )));
        }
        let mut known = false;
        if let Some(m) = root.opt("markets")? {
            known = true;
            for (ticker, mk) in m.entries()? {
                market(&ticker, &mk, b)?;
            }
        }
        if let Some(s) = root.opt("subaccount")? {
            known = true;
            subaccounts.push(s);
        }
        if let Some(list) = root.opt("subaccounts")? {
            known = true;
            subaccounts.extend(list.array()?);
        }
        if !known {
            return Err(src.unrecognised(
                "expected a dYdX indexer object with markets, subaccount or subaccounts",
            ));
        }
    }
    for s in &subaccounts {
        subaccount(s, b)?;
    }
    Ok(())
}

fn market(ticker: &str, n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let ins = symbols::dydx(ticker)
        .ok_or_else(|| n.err(format!("cannot parse dYdX ticker {ticker:?}")))?;
    let oracle = n.opt_num("oraclePrice")?;
    if let Some(p) = oracle {
        // dYdX v4 margins and liquidates at the oracle price: it is the mark.
        b.mark(ticker, p)?;
        b.index(&ins.underlying, p)?;
    }
    let mut m = Map::new();
    m.insert("source".into(), json!("GET /v4/perpetualMarkets"));
    m.insert(
        "initial_margin_fraction".into(),
        json!(n.num("initialMarginFraction")?),
    );
    m.insert(
        "maintenance_margin_fraction".into(),
        json!(n.num("maintenanceMarginFraction")?),
    );
    for (from, to) in [
        ("openInterest", "open_interest"),
        ("openInterestLowerCap", "open_interest_lower_cap"),
        ("openInterestUpperCap", "open_interest_upper_cap"),
        ("basePositionSize", "base_position_size"),
        ("incrementalPositionSize", "incremental_position_size"),
        ("maxPositionSize", "max_position_size"),
        ("oraclePrice", "oracle_price"),
    ] {
        if let Some(x) = n.opt_num(from)? {
            m.insert(to.into(), json!(x));
        }
    }
    if let Some(a) = n.opt_i64("atomicResolution")? {
        m.insert("atomic_resolution".into(), json!(a));
    }
    b.params(format!("dydx:{ticker}"), m)
}

fn signed(n: &Node, side_key: &str, size: Decimal) -> Result<Decimal, VenueError> {
    match n.opt(side_key)? {
        None => Ok(size),
        Some(s) => match s.str()? {
            "LONG" => Ok(size.abs()),
            "SHORT" => Ok(-size.abs()),
            other => Err(s.err(format!("expected \"LONG\" or \"SHORT\", got {other:?}"))),
        },
    }
}

fn subaccount(s: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let address = s.get("address")?.nonempty_str()?;
    let number = s.get("subaccountNumber")?.i64()?;
    let sub = format!("{address}/{number}");
    let mut paid = Decimal::ZERO;
    if let Some(perps) = s.opt("openPerpetualPositions")? {
        for (ticker, p) in perps.entries()? {
            if let Some(st) = p.opt("status")? {
                if st.str()? != "OPEN" {
                    continue;
                }
            }
            let size_node = p.get("size")?;
            let size = signed(&p, "side", size_node.decimal()?)?;
            if size.is_zero() {
                continue;
            }
            let market = match p.opt("market")? {
                Some(m) => m.nonempty_str()?.to_string(),
                None => ticker.clone(),
            };
            let ins = symbols::dydx(&market)
                .ok_or_else(|| p.err(format!("cannot parse dYdX ticker {market:?}")))?;
            let entry = p.dec("entryPrice")?;
            paid = size
                .checked_mul(entry)
                .and_then(|x| paid.checked_add(x))
                .ok_or_else(|| p.err("size × entryPrice overflows"))?;
            let mut pos = Position::new(
                ins,
                rust_decimal::prelude::ToPrimitive::to_f64(&size)
                    .ok_or_else(|| size_node.err("size not representable"))?,
            );
            pos.sub_account = Some(sub.clone());
            pos.entry_price = Some(p.num("entryPrice")?).filter(|x| *x > 0.0);
            pos.unrealized_pnl = p.opt_num("unrealizedPnl")?;
            b.position(format!("{sub}/{market}"), pos)?;
        }
    }
    let mut saw_usdc = false;
    if let Some(assets) = s.opt("assetPositions")? {
        for (sym, a) in assets.entries()? {
            let symbol = match a.opt("symbol")? {
                Some(x) => x.nonempty_str()?.to_string(),
                None => sym.clone(),
            };
            let mut size = signed(&a, "side", a.dec("size")?)?;
            if symbol == "USDC" {
                saw_usdc = true;
                size = size
                    .checked_add(paid)
                    .ok_or_else(|| a.err("balance overflows"))?;
            }
            b.balance(
                &symbol,
                size,
                Some(sub.clone()),
                None,
                &format!("{}.size", a.path),
            )?;
        }
    }
    if !saw_usdc && !paid.is_zero() {
        b.balance(
            "USDC",
            paid,
            Some(sub.clone()),
            None,
            "openPerpetualPositions",
        )?;
    }
    let pool = Some(format!("subaccount:{sub}"));
    let usdc = Some("USDC");
    b.report(
        pool.clone(),
        None,
        usdc,
        "equity",
        s.opt_num("equity")?,
        "equity",
    );
    b.report(
        pool,
        None,
        usdc,
        "free_collateral",
        s.opt_num("freeCollateral")?,
        "freeCollateral",
    );
    Ok(())
}
