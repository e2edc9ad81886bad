//! `price` and `iv`: single-option valuation from the command line.

use anyhow::Result;
use clap::{Args, ValueEnum};
use intermargin_pricing::{black76, black76_inverse, OptionKind, PricingError};
use serde::Serialize;

use crate::output::{print_json, print_table};

/// Call or put, as typed on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Call option.
    Call,
    /// Put option.
    Put,
}

impl From<KindArg> for OptionKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Call => OptionKind::Call,
            KindArg::Put => OptionKind::Put,
        }
    }
}

/// Arguments of `intermargin price`.
#[derive(Args)]
pub struct PriceArgs {
    /// Forward price of the underlying.
    #[arg(long, allow_hyphen_values = true)]
    pub forward: f64,
    /// Strike.
    #[arg(long, allow_hyphen_values = true)]
    pub strike: f64,
    /// Time to expiry in years.
    #[arg(long, allow_hyphen_values = true)]
    pub years: f64,
    /// Implied volatility (0.6 = 60%).
    #[arg(long, allow_hyphen_values = true)]
    pub vol: f64,
    /// Continuously compounded discount rate.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub rate: f64,
    /// Call or put.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Coin-settled (inverse) premium and Greeks, as on Deribit and OKX.
    #[arg(long)]
    pub inverse: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `intermargin iv`.
#[derive(Args)]
pub struct IvArgs {
    /// Forward price of the underlying.
    #[arg(long, allow_hyphen_values = true)]
    pub forward: f64,
    /// Strike.
    #[arg(long, allow_hyphen_values = true)]
    pub strike: f64,
    /// Time to expiry in years.
    #[arg(long, allow_hyphen_values = true)]
    pub years: f64,
    /// Option premium (quote currency, or coin with --inverse).
    #[arg(long, allow_hyphen_values = true)]
    pub price: f64,
    /// Continuously compounded discount rate.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub rate: f64,
    /// Call or put.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// The premium is coin-settled (inverse).
    #[arg(long)]
    pub inverse: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct PriceOut {
    price: f64,
    delta: f64,
    gamma: f64,
    vega: f64,
    theta: f64,
    vanna: f64,
    volga: f64,
}

/// Runs `intermargin price`.
pub fn price(a: PriceArgs) -> Result<()> {
    let f = if a.inverse { black76_inverse } else { black76 };
    let g = f(a.kind.into(), a.forward, a.strike, a.years, a.vol, a.rate).map_err(as_flag)?;
    let out = PriceOut {
        price: g.price,
        delta: g.delta,
        gamma: g.gamma,
        vega: g.vega,
        theta: g.theta,
        vanna: g.vanna,
        volga: g.volga,
    };
    if a.json {
        return print_json(&out);
    }
    let rows = [
        ("price", out.price),
        ("delta", out.delta),
        ("gamma", out.gamma),
        ("vega", out.vega),
        ("theta", out.theta),
        ("vanna", out.vanna),
        ("volga", out.volga),
    ]
    .iter()
    .map(|(k, v)| vec![k.to_string(), format!("{v:.10}")])
    .collect::<Vec<_>>();
    print_table(&["measure", "value"], &rows);
    Ok(())
}

/// Runs `intermargin iv`.
pub fn iv(a: IvArgs) -> Result<()> {
    let f = if a.inverse {
        intermargin_pricing::implied_vol_inverse
    } else {
        intermargin_pricing::implied_vol
    };
    let iv = f(a.kind.into(), a.forward, a.strike, a.years, a.price, a.rate).map_err(as_flag)?;
    if a.json {
        return print_json(&serde_json::json!({ "iv": iv }));
    }
    println!("iv {iv:.12}");
    Ok(())
}

/// Rewrites a pricing error so it names the command-line flag (`--vol`) rather than the field.
fn as_flag(e: PricingError) -> anyhow::Error {
    match e {
        PricingError::BadInput {
            field,
            reason,
            value,
        } => anyhow::anyhow!("--{field}: {reason} (got {value})"),
        other => other.into(),
    }
}
