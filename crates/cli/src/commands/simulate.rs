//! `simulate` and `frontier`: the risk lab on a TOML config, writing `summary.json` and plots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use intermargin_sim::config::Process;
use intermargin_sim::paths::History;
use intermargin_sim::{plot, Config};

use crate::output::{money, percent, print_table, read_file};

/// Currency of the risk lab's figures: its configs give prices in US dollars.
const SIM_CURRENCY: &str = "USD";

/// Arguments of `intermargin simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// Simulation config (TOML; see examples/stress/).
    #[arg(long)]
    pub config: PathBuf,
    /// Number of paths (overrides `paths`).
    #[arg(long)]
    pub paths: Option<usize>,
    /// Seed (overrides `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory (created).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `intermargin frontier`.
#[derive(Args)]
pub struct FrontierArgs {
    /// Simulation config with a `[frontier]` table.
    #[arg(long)]
    pub config: PathBuf,
    /// Paths per frontier point (overrides `frontier.paths`).
    #[arg(long)]
    pub paths: Option<usize>,
    /// Output directory (created).
    #[arg(long)]
    pub out: PathBuf,
}

fn load(path: &Path) -> Result<(Config, Option<History>)> {
    let text = read_file(path)?;
    let c = Config::from_toml(&text).with_context(|| path.display().to_string())?;
    let history = match &c.process {
        Process::Bootstrap { csv, .. } => {
            let p = path.parent().unwrap_or(Path::new(".")).join(csv);
            let names: Vec<String> = c.assets.iter().map(|a| a.name.clone()).collect();
            Some(History::from_csv(
                &read_file(&p)?,
                &names,
                &p.display().to_string(),
            )?)
        }
        process => {
            let _ = process;
            None
        }
    };
    Ok((c, history))
}

fn bar(total: u64) -> ProgressBar {
    // Hidden automatically when stderr is not a terminal.
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} paths ({per_sec}, eta {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(v)?)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// Runs `intermargin simulate`.
pub fn simulate(a: SimulateArgs) -> Result<()> {
    let (mut c, history) = load(&a.config)?;
    if let Some(p) = a.paths {
        anyhow::ensure!(p > 0, "--paths: must be >= 1");
        c.paths = p;
    }
    if let Some(s) = a.seed {
        c.seed = s;
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("{}: cannot create", a.out.display()))?;
    let runs = c.simulate_runs();
    let pb = bar((c.paths * runs) as u64);
    pb.set_message(c.name.clone());
    let out = intermargin_sim::simulate(&c, history, &|n| pb.inc(n))?;
    pb.finish_and_clear();
    write_json(&a.out.join("summary.json"), &out.summary)?;
    write_json(
        &a.out.join("timeline.json"),
        &serde_json::json!({
            "path": out.summary.without_breakers.worst_path,
            "without_breakers": out.timeline,
            "with_breakers": out.timeline_breakers,
        }),
    )?;
    plot::run_plots(&a.out, "", &out)?;
    let s = &out.summary;
    let w = &s.without_breakers;
    println!(
        "{}: {} paths, {} accounts, {} steps of {} s; amounts in {SIM_CURRENCY} (the config's prices)",
        s.name, s.paths, s.accounts, c.steps, c.dt_seconds
    );
    println!(
        "without breakers: P(bad debt) {}, mean bad debt {}, ES99 of bad debt {}, mean liquidated notional {}",
        percent(w.prob_bad_debt),
        money(w.mean_bad_debt, SIM_CURRENCY),
        money(w.bad_debt.es_99.value, SIM_CURRENCY),
        money(w.mean_liquidated, SIM_CURRENCY)
    );
    if let Some(b) = &s.with_breakers {
        println!(
            "with breakers:    P(bad debt) {}, mean bad debt {}, ES99 of bad debt {}, mean liquidated notional {}",
            percent(b.prob_bad_debt),
            money(b.mean_bad_debt, SIM_CURRENCY),
            money(b.bad_debt.es_99.value, SIM_CURRENCY),
            money(b.mean_liquidated, SIM_CURRENCY)
        );
    }
    let adl: Vec<Vec<String>> = w
        .venues
        .iter()
        .filter(|v| v.prob_adl > 0.0)
        .map(|v| {
            vec![
                v.venue.clone(),
                percent(v.prob_adl),
                money(v.mean_adl, SIM_CURRENCY),
                percent(v.prob_broken_hedge),
                money(v.mean_unhedged_notional, SIM_CURRENCY),
                money(v.mean_broken_hedge_loss, SIM_CURRENCY),
            ]
        })
        .collect();
    if !adl.is_empty() {
        println!("auto-deleveraging and broken hedges (without breakers):");
        print_table(
            &[
                "venue",
                "P(auto-deleveraging)",
                "deleveraged / path",
                "P(hedge broken)",
                "left unhedged / path",
                "loss caused / path",
            ],
            &adl,
        );
        let b = &w.broken_hedges;
        println!(
            "broken hedges: P {}, unhedged notional / path {}, loss caused / path {}",
            percent(b.prob),
            money(b.mean_unhedged_notional, SIM_CURRENCY),
            money(b.mean_loss, SIM_CURRENCY)
        );
        let rows: Vec<Vec<String>> = b
            .accounts
            .iter()
            .filter(|a| a.prob_broken_hedge > 0.0)
            .map(|a| {
                vec![
                    a.account.to_string(),
                    percent(a.prob_adl),
                    money(a.mean_adl, SIM_CURRENCY),
                    percent(a.prob_broken_hedge),
                    money(a.mean_unhedged_notional, SIM_CURRENCY),
                    money(a.mean_broken_hedge_loss, SIM_CURRENCY),
                ]
            })
            .collect();
        if !rows.is_empty() {
            println!("accounts most likely deleveraged, whose hedge broke:");
            print_table(
                &[
                    "account",
                    "P(auto-deleveraging)",
                    "deleveraged / path",
                    "P(hedge broken)",
                    "left unhedged / path",
                    "loss caused / path",
                ],
                &rows,
            );
        }
    }
    if !s.breakers_explained.is_empty() {
        let rows: Vec<Vec<String>> = s
            .breakers_explained
            .iter()
            .map(|e| {
                vec![
                    e.breakers.clone(),
                    format!("{:+.2} pp", e.prob_bad_debt_change * 100.0),
                    percent(e.paths_bad_debt_avoided),
                    percent(e.paths_bad_debt_created),
                    money(e.bad_debt_avoided, SIM_CURRENCY),
                    money(e.bad_debt_added, SIM_CURRENCY),
                    format!("{:.1}", e.mean_halted_steps),
                    format!("{:+.1}", e.liquidation_delay_steps),
                    format!("{:+.1}", e.first_bad_debt_delay_steps),
                ]
            })
            .collect();
        println!("breakers explained (each against the same paths without breakers):");
        print_table(
            &[
                "breakers",
                "P(bad debt) change",
                "paths: bad debt avoided",
                "paths: bad debt created",
                "bad debt avoided / path",
                "bad debt added / path",
                "halted steps / path",
                "liquidations deferred (steps)",
                "first bad debt moved (steps)",
            ],
            &rows,
        );
    }
    println!("wrote {}", a.out.join("summary.json").display());
    Ok(())
}

/// Runs `intermargin frontier`.
pub fn frontier(a: FrontierArgs) -> Result<()> {
    let (mut c, history) = load(&a.config)?;
    let mut fc = c.frontier.clone().ok_or_else(|| {
        anyhow::anyhow!("{}: frontier: missing [frontier] table", a.config.display())
    })?;
    if let Some(p) = a.paths {
        anyhow::ensure!(p > 0, "--paths: must be >= 1");
        fc.paths = Some(p);
    }
    let per = fc.paths.unwrap_or(c.paths);
    let total = (per * fc.im_multipliers.len() * 2) as u64;
    c.frontier = Some(fc);
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("{}: cannot create", a.out.display()))?;
    let pb = bar(total);
    pb.set_message("frontier");
    let f = intermargin_sim::frontier(&c, history, &|n| pb.inc(n))?;
    pb.finish_and_clear();
    write_json(&a.out.join("summary.json"), &f)?;
    plot::frontier(&a.out.join("frontier"), &f)?;
    let rows: Vec<Vec<String>> = f
        .points
        .iter()
        .map(|p| {
            vec![
                format!("{:?}", p.margining).to_lowercase(),
                format!("×{}", p.im_multiplier),
                format!("{:.2}×", p.capital_efficiency),
                format!(
                    "{} [{}, {}]",
                    percent(p.prob_bad_debt),
                    percent(p.prob_bad_debt_ci[0]),
                    percent(p.prob_bad_debt_ci[1])
                ),
                format!(
                    "{} [{}, {}]",
                    money(p.mean_bad_debt, SIM_CURRENCY),
                    money(p.mean_bad_debt_ci[0], SIM_CURRENCY),
                    money(p.mean_bad_debt_ci[1], SIM_CURRENCY)
                ),
                money(p.es_99_bad_debt, SIM_CURRENCY),
            ]
        })
        .collect();
    print_table(
        &[
            "margining",
            "IM multiplier",
            "capital efficiency (notional / collateral)",
            "P(bad debt) [95% CI]",
            "mean bad debt per path [95% CI]",
            "ES99 of bad debt",
        ],
        &rows,
    );
    if let Some(t) = f.target_prob_bad_debt {
        for m in &f.target_multipliers {
            let name = format!("{:?}", m.margining).to_lowercase();
            match m.im_multiplier {
                Some(x) => println!(
                    "{name}: P(bad debt) stays under {} (upper 95% bound) from IM multiplier ×{x}",
                    percent(t)
                ),
                None => println!(
                    "{name}: no swept IM multiplier keeps P(bad debt) under {} (upper 95% bound)",
                    percent(t)
                ),
            }
        }
    }
    println!("wrote {}", a.out.join("summary.json").display());
    Ok(())
}
