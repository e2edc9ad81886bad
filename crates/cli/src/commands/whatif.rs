//! `intermargin whatif`: each venue's margin, the unified requirement and the first venue to
//! liquidate, before and after hypothetical trades (`--trade VENUE:INSTRUMENT:SIZE[@PRICE]`).
//!
//! The computation and its JSON are `intermargin_documents::whatif` (which the service and the
//! Python package call too): the margin of the snapshot as it is and of the snapshot with the
//! trades applied, so a what-if always equals `margin` on the traded snapshot.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Args;
use intermargin_server::risk::{whatif, WhatIfError};
use intermargin_venues::trade::{TradeSpec, MAX_TRADES};

use crate::commands::margin::load_snapshot;
use crate::output::{money, percent, print_json, print_table};

/// Arguments of `intermargin whatif`.
#[derive(Args)]
pub struct WhatIfArgs {
    /// Canonical snapshot (`{"portfolio":…, "market":…}`).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// A trade `VENUE:INSTRUMENT:SIZE[@PRICE]`: the venue's own symbol, signed size in the
    /// venue's size unit, price in the instrument's quote currency (the mark when absent).
    /// Repeat for several trades (applied in order).
    #[arg(long = "trade", required = true)]
    pub trades: Vec<String>,
    /// Account of the snapshot (needed when it holds several).
    #[arg(long)]
    pub account: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `intermargin whatif`.
pub fn run(a: WhatIfArgs) -> Result<()> {
    if a.trades.len() > MAX_TRADES {
        bail!(
            "--trade: {} trades exceed the limit of {MAX_TRADES}",
            a.trades.len()
        );
    }
    let trades: Vec<TradeSpec> = a
        .trades
        .iter()
        .enumerate()
        .map(|(i, t)| {
            TradeSpec::parse(t, i).map_err(|e| anyhow!("--trade {t:?}: {}: {}", e.part, e.message))
        })
        .collect::<Result<_>>()?;
    let snap = load_snapshot(&a.snapshot)?;
    let account = match (&a.account, snap.portfolio.accounts.as_slice()) {
        (Some(id), accs) => accs
            .iter()
            .find(|x| &x.id == id)
            .ok_or_else(|| anyhow!("--account: no account {id:?} in {}", a.snapshot.display()))?,
        (None, [one]) => one,
        (None, many) => bail!(
            "--account: {} holds {} accounts; name one",
            a.snapshot.display(),
            many.len()
        ),
    };
    let w =
        whatif(account, &snap.portfolio.assets, &snap.market, &trades).map_err(|e| match e {
            WhatIfError::Trade(t) => anyhow!(
                "--trade {:?}: {}: {}",
                a.trades.get(t.index).map(String::as_str).unwrap_or(""),
                t.part,
                t.message
            ),
            WhatIfError::Engine(m) => anyhow!("{}: {m}", a.snapshot.display()),
        })?;
    let quote = snap.market.quote.as_str();
    if a.json {
        return print_json(&intermargin_documents::whatif::document(
            &account.id,
            quote,
            &w,
        ));
    }
    let mv = |m: Option<f64>| m.map(percent).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = w
        .venues
        .iter()
        .map(|v| {
            vec![
                v.venue.to_string(),
                format!(
                    "{} → {}",
                    money(v.before.initial_margin, quote),
                    money(v.after.initial_margin, quote)
                ),
                format!(
                    "{} → {}",
                    money(v.before.maintenance_margin, quote),
                    money(v.after.maintenance_margin, quote)
                ),
                money(v.after.available, quote),
                format!(
                    "{} → {}",
                    mv(v.before.liquidation_move),
                    mv(v.after.liquidation_move)
                ),
                match &v.reason {
                    Some(r) => format!("REFUSED: {r}"),
                    None => "ok".into(),
                },
            ]
        })
        .collect();
    print_table(
        &[
            "venue",
            "initial",
            "maintenance",
            "available after",
            "liquidation move",
            "order",
        ],
        &rows,
    );
    for v in &w.venues {
        if v.before.orders_initial_margin != 0.0 || v.after.orders_initial_margin != 0.0 {
            println!(
                "{} open orders' initial margin (part of initial): {} → {}",
                v.venue,
                money(v.before.orders_initial_margin, quote),
                money(v.after.orders_initial_margin, quote)
            );
        }
    }
    let (b, f) = (&w.unified.before, &w.unified.after);
    println!(
        "unified initial {} → {}, maintenance {} → {}, saving {} → {}",
        money(b.initial_margin, quote),
        money(f.initial_margin, quote),
        money(b.maintenance_margin, quote),
        money(f.maintenance_margin, quote),
        money(b.saving, quote),
        money(f.saving, quote)
    );
    let name = |v: Option<intermargin_model::Venue>| {
        v.map(|v| v.to_string()).unwrap_or_else(|| "none".into())
    };
    println!(
        "liquidates first: {} → {}",
        name(w.liquidates_first.before),
        name(w.liquidates_first.after)
    );
    Ok(())
}
