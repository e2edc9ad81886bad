//! `demo`: the bundled sample book, valued end to end (README's first command).

use anyhow::{Context, Result};
use clap::Args;
use intermargin_model::{InstrumentKind, Settlement, Snapshot};
use intermargin_pricing::{black76, black76_inverse};
use serde::Serialize;

use crate::output::{print_json, print_table};

/// The sample book shipped with the binary, so the demo runs from any directory.
const SAMPLE: &str = include_str!("../../../../examples/demo/snapshot.json");

/// Arguments of `intermargin demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// A canonical snapshot to use instead of the bundled sample.
    #[arg(long)]
    pub snapshot: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    account: String,
    instrument: String,
    size: f64,
    forward: f64,
    vol: Option<f64>,
    price: f64,
    delta: f64,
    gamma: f64,
    vega: f64,
    theta: f64,
}

/// Runs `intermargin demo`.
pub fn run(a: DemoArgs) -> Result<()> {
    let text = match &a.snapshot {
        Some(p) => crate::output::read_file(p)?,
        None => SAMPLE.to_string(),
    };
    let snap = Snapshot::from_json(&text).context("snapshot")?;
    let m = &snap.market;
    let mut rows = Vec::new();
    for acc in &snap.portfolio.accounts {
        for p in &acc.positions {
            let ins = &p.instrument;
            let id = ins.id();
            let forward = m
                .index_price(ins.venue.as_str(), &ins.underlying)
                .with_context(|| {
                    format!(
                        "market.index_prices: no price for {}:{}",
                        ins.venue, ins.underlying
                    )
                })?;
            let (vol, g) = match ins.kind {
                InstrumentKind::Option {
                    expiry_ms,
                    strike,
                    option_kind,
                } => {
                    let vol = *m
                        .mark_ivs
                        .get(&id)
                        .with_context(|| format!("market.mark_ivs: no implied vol for {id}"))?;
                    let t = intermargin_model::year_fraction(m.timestamp_ms, expiry_ms);
                    let r = m.rate(&ins.quote);
                    let g = match ins.settlement {
                        Settlement::Inverse => {
                            black76_inverse(option_kind, forward, strike, t, vol, r)?
                        }
                        Settlement::Linear => black76(option_kind, forward, strike, t, vol, r)?,
                    };
                    (Some(vol), g)
                }
                _ => {
                    let price = m.mark_prices.get(&id).copied().unwrap_or(forward);
                    let g = intermargin_pricing::Greeks {
                        price,
                        delta: 1.0,
                        ..Default::default()
                    };
                    (None, g)
                }
            };
            rows.push(Row {
                account: acc.id.clone(),
                instrument: id,
                size: p.size,
                forward,
                vol,
                price: g.price,
                delta: g.delta,
                gamma: g.gamma,
                vega: g.vega,
                theta: g.theta,
            });
        }
    }
    if a.json {
        return print_json(&serde_json::json!({ "positions": rows }));
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.account.clone(),
                r.instrument.clone(),
                format!("{}", r.size),
                format!("{:.2}", r.forward),
                r.vol
                    .map(|v| format!("{:.1}%", v * 100.0))
                    .unwrap_or_default(),
                format!("{:.6}", r.price),
                format!("{:.4}", r.delta),
                format!("{:.3e}", r.gamma),
                format!("{:.4}", r.vega),
                format!("{:.4}", r.theta),
            ]
        })
        .collect();
    print_table(
        &[
            "account",
            "instrument",
            "size",
            "forward",
            "iv",
            "price",
            "delta",
            "gamma",
            "vega",
            "theta/yr",
        ],
        &table,
    );
    Ok(())
}
