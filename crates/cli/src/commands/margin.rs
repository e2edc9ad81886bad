//! `intermargin margin`: each venue's own (siloed) margin of a snapshot, pool by pool.
//!
//! `--json` prints `{"quote", "venues":[{venue, settlement, equity, initial_margin,
//! orders_initial_margin, maintenance_margin, margin_ratio, in_quote:{…}, positions:[…]}]}`
//! (one entry per margin pool; `orders_initial_margin` is the part of `initial_margin` open
//! orders reserve; an `account` field names the owner). Without `--json`, a table, and a line
//! per pool whose open orders reserve margin. `--model` selects a portfolio / unified model
//! instead (wired by `commands/portfolio_margin.rs`).

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use intermargin_margin::{venue_margins, QuoteFigures, VenueMargin};
use intermargin_model::Snapshot;

use crate::output::{money, percent, pool_amount, print_json, print_table, read_file};

/// Portfolio / unified models `--model` accepts.
pub const MODELS: [&str; 4] = ["deribit-pm", "span", "sensitivity", "unified"];

/// Arguments of `intermargin margin`.
#[derive(Args)]
pub struct MarginArgs {
    /// Canonical snapshot (`{"portfolio":…, "market":…}`), e.g. from `intermargin import`.
    #[arg(long)]
    pub snapshot: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Portfolio or unified model instead of each venue's own rules.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(MODELS))]
    pub model: Option<String>,
    /// Explain every number (per-position rows; scenario detail for --model).
    #[arg(long)]
    pub explain: bool,
    /// With `--model unified`: the risk lab's auto-deleveraging forecast, either the
    /// `summary.json` of `intermargin simulate` (its venues' `expected_unhedged_fraction`) or a
    /// forecast JSON (`{"source", "expected_unhedged_fraction": {venue: f}, "materiality"}`); a
    /// material broken-hedge add-on is then charged and explained (`broken_hedge_adl`).
    #[arg(long)]
    pub adl_forecast: Option<PathBuf>,
}

/// Reads `--adl-forecast`: a forecast document, or a simulate summary whose venue names are
/// venues of the unified model (others are skipped); errors name the file and the JSON path.
pub fn load_adl_forecast(
    path: &std::path::Path,
) -> Result<intermargin_margin::portfolio::BrokenHedgeForecast> {
    use intermargin_margin::portfolio::BrokenHedgeForecast;
    let text = read_file(path)?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: not JSON: {e}", path.display()))?;
    let f = if v.get("expected_unhedged_fraction").is_some() {
        serde_json::from_value::<BrokenHedgeForecast>(v)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?
    } else {
        let venues = v
            .pointer("/without_breakers/venues")
            .and_then(|x| x.as_array())
            .ok_or_else(|| {
                anyhow!(
                    "{}: without_breakers.venues: missing (expected a simulate summary.json or a forecast with expected_unhedged_fraction)",
                    path.display()
                )
            })?;
        let mut map = std::collections::BTreeMap::new();
        for (i, x) in venues.iter().enumerate() {
            let name = x.get("venue").and_then(|n| n.as_str()).ok_or_else(|| {
                anyhow!(
                    "{}: without_breakers.venues[{i}].venue: missing",
                    path.display()
                )
            })?;
            let Ok(venue) = name.parse::<intermargin_model::Venue>() else {
                continue;
            };
            let e = x
                .get("expected_unhedged_fraction")
                .and_then(|n| n.as_f64())
                .ok_or_else(|| {
                    anyhow!(
                        "{}: without_breakers.venues[{i}].expected_unhedged_fraction: missing or not a number",
                        path.display()
                    )
                })?;
            map.insert(venue, e);
        }
        BrokenHedgeForecast {
            source: format!(
                "intermargin simulate {:?} ({} paths, seed {}): {}",
                v.get("name").and_then(|n| n.as_str()).unwrap_or(""),
                v.get("paths").and_then(|n| n.as_u64()).unwrap_or(0),
                v.get("seed").and_then(|n| n.as_u64()).unwrap_or(0),
                path.display()
            ),
            expected_unhedged_fraction: map,
            materiality: intermargin_margin::portfolio::broken_hedge::DEFAULT_MATERIALITY,
        }
    };
    f.validate()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(f)
}

/// A quote-currency figure for the table, `n/a` when the market has no rate for the pool.
fn in_quote(m: &VenueMargin, quote: &str, f: fn(&QuoteFigures) -> f64) -> String {
    m.in_quote
        .as_ref()
        .map(|q| money(f(q), quote))
        .unwrap_or_else(|| "n/a".into())
}

/// Reads and validates a snapshot; a structural error names the JSON path that failed.
pub fn load_snapshot(path: &std::path::Path) -> Result<Snapshot> {
    let text = read_file(path)?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let snap: Snapshot = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        anyhow!(
            "{}: {}: {}",
            path.display(),
            if at == "." {
                "(document)".to_string()
            } else {
                at
            },
            e.inner()
        )
    })?;
    snap.validate()
        .with_context(|| format!("{}", path.display()))?;
    Ok(snap)
}

/// Runs `intermargin margin`.
pub fn run(a: MarginArgs) -> Result<()> {
    if let Some(m) = &a.model {
        let model = <super::portfolio_margin::PmModel as clap::ValueEnum>::from_str(m, true)
            .map_err(|e| anyhow!("--model: {e}"))?;
        let forecast = match &a.adl_forecast {
            Some(p) if m == "unified" => Some(load_adl_forecast(p)?),
            Some(_) => {
                return Err(anyhow!(
                    "--adl-forecast: only the unified model reads it (--model unified)"
                ))
            }
            None => None,
        };
        return super::portfolio_margin::run(
            &a.snapshot,
            model,
            a.explain,
            a.json,
            forecast.as_ref(),
        );
    }
    if a.adl_forecast.is_some() {
        return Err(anyhow!(
            "--adl-forecast: only the unified model reads it (--model unified)"
        ));
    }
    let snap = load_snapshot(&a.snapshot)?;
    if a.json {
        let doc = intermargin_documents::venue_margin_document(&snap)
            .with_context(|| format!("{}", a.snapshot.display()))?;
        return print_json(&doc);
    }
    let mut pools: Vec<(String, VenueMargin)> = Vec::new();
    for acc in &snap.portfolio.accounts {
        let v = venue_margins(acc, &snap.portfolio.assets, &snap.market)
            .with_context(|| format!("{}: account {:?}", a.snapshot.display(), acc.id))?;
        pools.extend(v.into_iter().map(|m| (acc.id.clone(), m)));
    }
    let quote = snap.market.quote.as_str();
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|(acc, m)| {
            let pool = m.settlement.as_str();
            vec![
                acc.clone(),
                m.venue.to_string(),
                pool.to_string(),
                pool_amount(m.equity, pool),
                pool_amount(m.initial_margin, pool),
                pool_amount(m.maintenance_margin, pool),
                percent(m.margin_ratio),
                in_quote(m, quote, |q| q.equity),
                in_quote(m, quote, |q| q.initial_margin),
                in_quote(m, quote, |q| q.maintenance_margin),
            ]
        })
        .collect();
    let h = |s: &str| format!("{s} ({quote})");
    print_table(
        &[
            "account",
            "venue",
            "pool",
            "equity",
            "initial",
            "maintenance",
            "margin ratio",
            &h("equity"),
            &h("initial"),
            &h("maint."),
        ],
        &rows,
    );
    println!("margin ratio = maintenance / equity; a venue liquidates at 100 %");
    for (acc, m) in pools.iter().filter(|(_, m)| m.orders_initial_margin != 0.0) {
        println!(
            "{acc} {} {} pool: open orders' initial margin {} ({}), part of initial",
            m.venue,
            m.pool,
            pool_amount(m.orders_initial_margin, &m.settlement),
            in_quote(m, quote, |q| q.orders_initial_margin)
        );
    }
    let total = |f: fn(&QuoteFigures) -> f64| {
        pools
            .iter()
            .filter_map(|(_, m)| m.in_quote.as_ref().map(f))
            .sum::<f64>()
    };
    let missing: Vec<&str> = pools
        .iter()
        .filter(|(_, m)| m.in_quote.is_none())
        .map(|(_, m)| m.settlement.as_str())
        .collect();
    println!(
        "siloed total: equity {}, initial {}, maintenance {}{}",
        money(total(|q| q.equity), quote),
        money(total(|q| q.initial_margin), quote),
        money(total(|q| q.maintenance_margin), quote),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                " (excluding pools in {}: no {quote} rate in market.fx)",
                missing.join(", ")
            )
        }
    );
    print_liquidation_prices(&snap);
    if a.explain {
        println!();
        let rows: Vec<Vec<String>> = pools
            .iter()
            .flat_map(|(acc, m)| {
                m.positions.iter().map(move |p| {
                    let pool = m.settlement.as_str();
                    vec![
                        acc.clone(),
                        p.instrument.clone(),
                        pool_amount(p.initial_margin, pool),
                        pool_amount(p.maintenance_margin, pool),
                        p.liquidation_price
                            .map(|x| money(x, quote))
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
            })
            .collect();
        print_table(
            &[
                "account",
                "position",
                "initial",
                "maintenance",
                "liquidation price (underlying)",
            ],
            &rows,
        );
    }
    Ok(())
}

/// Per position: the venue's liquidation price and ours (the move at which the unified model
/// says the position's venue pool meets that venue's maintenance margin), with the distance
/// from the position's reference price in %.
fn print_liquidation_prices(snap: &Snapshot) {
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let price =
        |x: Option<f64>, quote: &str| x.map(|x| money(x, quote)).unwrap_or_else(|| "-".into());
    let dist = |m: Option<f64>| m.map(percent).unwrap_or_else(|| "-".into());
    for acc in &snap.portfolio.accounts {
        match intermargin_documents::position_liquidations(acc, snap) {
            Ok(list) => {
                for (p, pos) in list.iter().zip(&acc.positions) {
                    let quote = pos.instrument.quote.as_str();
                    rows.push(vec![
                        acc.id.clone(),
                        p.instrument.clone(),
                        p.pool.clone(),
                        price(p.reference_price, quote),
                        price(p.venue_liquidation_price, quote),
                        dist(p.venue_liquidation_move),
                        price(p.liquidation_price, quote),
                        dist(p.liquidation_move),
                    ]);
                }
            }
            Err(e) => failed.push(format!("{}: {e}", acc.id)),
        }
    }
    if rows.is_empty() && failed.is_empty() {
        return;
    }
    println!();
    print_table(
        &[
            "account",
            "position",
            "pool",
            "price now",
            "venue's liquidation",
            "distance",
            "our liquidation",
            "distance",
        ],
        &rows,
    );
    println!(
        "price now: the mark of a future or perpetual, the venue's index for an option; ours: the \
         move of the underlying at which the pool meets the venue's own maintenance margin \
         (its rules re-evaluated along the move; - when no move within -99 % .. +500 % reaches it)"
    );
    for f in failed {
        println!("our liquidation prices unavailable for {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("intermargin-margin-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_wrong_type_names_its_json_path() {
        let demo = include_str!("../../../../examples/demo/snapshot.json");
        let bad = demo.replacen("\"size\": -5.0", "\"size\": \"-5\"", 1);
        let p = write("bad.json", &bad);
        let e = load_snapshot(&p).unwrap_err().to_string();
        assert!(e.contains("portfolio.accounts[0].positions[1].size"), "{e}");
    }

    #[test]
    fn a_failed_validation_names_its_field() {
        let demo = include_str!("../../../../examples/demo/snapshot.json");
        let bad = demo.replacen("\"size\": 10.0", "\"size\": 0.0", 1);
        let p = write("zero.json", &bad);
        let e = format!("{:#}", load_snapshot(&p).unwrap_err());
        assert!(e.contains("positions[0].size"), "{e}");
    }
}
