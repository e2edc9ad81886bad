//! `liquidate`: account state and the partial-liquidation plan for each account of a snapshot
//! (intermargin's own recommendation: the smallest closure), and beside it what each venue
//! itself would do by its own rule (`venue_rules`: dYdX, Hyperliquid and Aave pools).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use intermargin_liquidation::venue_style::{
    venue_liquidations, VenueAction, VenueLiquidation, VenueStyleOptions,
};
use intermargin_liquidation::{
    plan_liquidation, DepthBook, LiquidationPlan, PlannerOptions, RuleBook, VenueMarginsRequirement,
};
use intermargin_model::Snapshot;
use serde::Serialize;

use crate::output::{money, print_json, print_table, read_file};

/// Arguments of `intermargin liquidate`.
#[derive(Args)]
pub struct LiquidateArgs {
    /// Canonical snapshot (portfolio + market).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// Depth / price-impact file: `{"default": {k, alpha, depth}, "instruments": {"venue:symbol": …}}`.
    #[arg(long)]
    pub depth: Option<PathBuf>,
    /// Only this account (default: every account).
    #[arg(long)]
    pub account: Option<String>,
    /// Target buffer over maintenance (0.05 = equity ≥ 1.05 × maintenance after the plan).
    #[arg(long, default_value_t = 0.05)]
    pub buffer: f64,
    /// dYdX insurance fund balance in USDC (decides orderbook fill vs deleveraging); when
    /// absent the fund is assumed to cover every payout.
    #[arg(long)]
    pub dydx_insurance_fund: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct AccountPlan {
    account: String,
    #[serde(flatten)]
    plan: LiquidationPlan,
    /// What each venue itself would do to its pools, by its documented rule.
    venue_rules: Vec<VenueLiquidation>,
}

/// Runs `intermargin liquidate`.
pub fn run(a: LiquidateArgs) -> Result<()> {
    let text = read_file(&a.snapshot)?;
    let snap = Snapshot::from_json(&text).with_context(|| a.snapshot.display().to_string())?;
    let depth = match &a.depth {
        Some(p) => DepthBook::from_json(&read_file(p)?).with_context(|| p.display().to_string())?,
        None => DepthBook::default(),
    };
    let rules = RuleBook::bundled()?;
    let req = VenueMarginsRequirement {
        assets: snap.portfolio.assets.clone(),
    };
    let opts = PlannerOptions {
        buffer: a.buffer,
        ..Default::default()
    };
    if let Some(f) = a.dydx_insurance_fund {
        if !(f.is_finite() && f >= 0.0) {
            bail!("--dydx-insurance-fund: must be a finite amount ≥ 0, got {f}");
        }
    }
    let style = VenueStyleOptions {
        dydx_insurance_fund: a.dydx_insurance_fund,
    };
    let mut out = Vec::new();
    for acc in &snap.portfolio.accounts {
        if a.account.as_deref().is_some_and(|id| id != acc.id) {
            continue;
        }
        let plan = plan_liquidation(acc, &snap.market, &req, &depth, &rules, opts)
            .with_context(|| format!("account {:?}", acc.id))?;
        let venue_rules = venue_liquidations(
            acc,
            &snap.portfolio.assets,
            &snap.market,
            &depth,
            &rules,
            style,
        )
        .with_context(|| format!("account {:?}: venue rules", acc.id))?;
        out.push(AccountPlan {
            account: acc.id.clone(),
            plan,
            venue_rules,
        });
    }
    if out.is_empty() {
        match &a.account {
            Some(id) => bail!("--account: no account {id:?} in the snapshot"),
            None => bail!("{}: the snapshot has no accounts", a.snapshot.display()),
        }
    }
    if a.json {
        if out.len() == 1 {
            return print_json(&out[0]);
        }
        return print_json(&serde_json::json!({ "accounts": out }));
    }
    let q = snap.market.quote.as_str();
    for p in &out {
        let (b, f) = (&p.plan.margin_before, &p.plan.margin_after);
        println!(
            "account {}: {:?} (equity {}, initial {}, maintenance {}) → {:?} after the plan (equity {}, maintenance {}); bad debt {}",
            p.account,
            p.plan.state,
            money(b.equity, q),
            money(b.initial, q),
            money(b.maintenance, q),
            p.plan.state_after,
            money(f.equity, q),
            money(f.maintenance, q),
            money(p.plan.bad_debt, q)
        );
        let rows: Vec<Vec<String>> = p
            .plan
            .plan
            .iter()
            .map(|l| {
                vec![
                    l.venue.clone(),
                    l.instrument.clone(),
                    l.side.clone(),
                    format!("{:.6}", l.reduce),
                    format!("{:.4}", l.expected_price),
                    money(l.fee, q),
                ]
            })
            .collect();
        if !rows.is_empty() {
            print_table(
                &[
                    "venue",
                    "instrument",
                    "side",
                    "reduce (contracts)",
                    "expected price (instrument's quote)",
                    "fee",
                ],
                &rows,
            );
        }
        for v in &p.venue_rules {
            println!("  {} {}: {}", v.venue, v.pool, describe(v));
        }
    }
    Ok(())
}

/// One line on what the venue itself does to a pool.
fn describe(v: &VenueLiquidation) -> String {
    if !v.liquidatable {
        return "not liquidatable by the venue".into();
    }
    match &v.action {
        VenueAction::Dydx(d) => d
            .closes
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} by {} (fillable {:.4}, bankruptcy {:.4}, insurance fund {:+.6} USDC)",
                    c.side, c.size, c.instrument, c.method, c.fillable_price, c.bankruptcy_price,
                    c.insurance_fund_delta
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        VenueAction::Hyperliquid(h) => h
            .steps
            .iter()
            .map(|s| match s.method.as_str() {
                "backstop" => "backstop vault takes the pool".to_string(),
                _ => s
                    .orders
                    .iter()
                    .map(|o| format!("{} {} {} ({:.0} %)", o.side, o.size, o.instrument, o.fraction * 100.0))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect::<Vec<_>>()
            .join(" → "),
        VenueAction::Aave(a) => match (&a.call, &a.revert, &a.inputs) {
            (Some(c), _, Some(i)) => format!(
                "liquidationCall repays {} base units of {} for {} base units of {} (+{} to the treasury)",
                c.debt_repaid, i.debt.symbol, c.collateral_to_liquidator, i.collateral.symbol, c.protocol_fee
            ),
            (_, Some(r), _) => format!("liquidationCall reverts: {r}"),
            _ => "no liquidationCall".into(),
        },
    }
}
