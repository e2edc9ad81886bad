//! `price` and `iv`: single-option valuation from the command line.

use anyhow::Result;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;

use intermargin_pricing::{
    black76, black76_inverse, coin_greeks_from_linear, OptionKind, PricingError,
};
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
    /// Implied volatility as a fraction a year (0.6 = 60 %; above 5 is refused).
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
    /// Quote currency of forward and strike (a label for the units shown).
    #[arg(long, default_value = "USD")]
    pub quote: String,
    /// Settlement coin of an inverse option (a label for the units shown).
    #[arg(long, default_value = "BTC")]
    pub coin: String,
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

/// Units of each figure `price` prints, spelled out for a reader of the JSON.
#[derive(Serialize)]
struct Units {
    price: String,
    delta: String,
    gamma: String,
    vega: String,
    theta: String,
    vanna: String,
    volga: String,
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
    /// Vega per vol point (σ + 0.01), as venues display it.
    vega_per_vol_point: f64,
    /// Theta per calendar day, as venues display it.
    theta_per_day: f64,
    quote: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    coin: Option<String>,
    units: Units,
    /// Coin-settled only: the Greeks in the venue's convention (Deribit's display).
    #[serde(skip_serializing_if = "Option::is_none")]
    venue_convention: Option<VenueConvention>,
}

/// Deribit's display of a coin-settled option's Greeks, per contract of one coin.
#[derive(Serialize)]
struct VenueConvention {
    price_coin: f64,
    price_quote: f64,
    delta_coin: f64,
    gamma: f64,
    vega_per_vol_point: f64,
    theta_per_day: f64,
    units: BTreeMap<&'static str, String>,
}

/// Runs `intermargin price`.
pub fn price(a: PriceArgs) -> Result<()> {
    let kind: OptionKind = a.kind.into();
    let f = if a.inverse { black76_inverse } else { black76 };
    let g = f(kind, a.forward, a.strike, a.years, a.vol, a.rate).map_err(as_flag)?;
    let q = a.quote.as_str();
    let c = a.coin.as_str();
    // Linear: premium in the quote currency per 1 unit of underlying, Greeks per 1 quote unit of
    // forward. Inverse: premium in coin per contract of 1 coin, Greeks of that coin premium.
    let value = if a.inverse { c } else { q };
    let units = Units {
        price: if a.inverse {
            format!("{c} per contract of 1 {c}")
        } else {
            format!("{q} per 1 unit of underlying")
        },
        delta: if a.inverse {
            format!("{c} per 1 {q} of forward (d premium / dF)")
        } else {
            "underlying per unit held, dimensionless (d premium / dF)".to_string()
        },
        gamma: format!("delta per 1 {q} of forward (d²premium / dF²)"),
        vega: format!("{value} per 1.00 of vol (100 vol points)"),
        theta: format!("{value} per year"),
        vanna: "delta per 1.00 of vol (d delta / dσ)".to_string(),
        volga: format!("{value} per (1.00 of vol)²"),
    };
    let venue_convention = a.inverse.then(|| {
        let lin = black76(kind, a.forward, a.strike, a.years, a.vol, a.rate);
        lin.map(|lin| {
            let v = coin_greeks_from_linear(&lin, a.forward);
            VenueConvention {
                price_coin: v.price_coin,
                price_quote: v.price_quote,
                delta_coin: v.delta_coin,
                gamma: v.gamma,
                vega_per_vol_point: v.vega_per_vol_point,
                theta_per_day: v.theta_per_day,
                units: BTreeMap::from([
                    ("price_coin", format!("{c} per contract")),
                    ("price_quote", format!("{q} per contract")),
                    (
                        "delta_coin",
                        format!("{c} per contract (Black-Scholes delta − premium in {c})"),
                    ),
                    ("gamma", format!("{c} of delta per 1 {q} of forward")),
                    ("vega_per_vol_point", format!("{q} per vol point")),
                    ("theta_per_day", format!("{q} per day")),
                ]),
            }
        })
    });
    let venue_convention = venue_convention.transpose().map_err(as_flag)?;
    let out = PriceOut {
        price: g.price,
        delta: g.delta,
        gamma: g.gamma,
        vega: g.vega,
        theta: g.theta,
        vanna: g.vanna,
        volga: g.volga,
        vega_per_vol_point: g.vega_per_vol_point(),
        theta_per_day: g.theta_per_day(),
        quote: q.to_string(),
        coin: a.inverse.then(|| c.to_string()),
        units,
        venue_convention,
    };
    if a.json {
        return print_json(&out);
    }
    let kind_name = match a.kind {
        KindArg::Call => "call",
        KindArg::Put => "put",
    };
    println!(
        "{} {kind_name}: forward {} {q}, strike {} {q}, {} years, vol {} % a year, rate {} % a year",
        if a.inverse {
            format!("coin-settled ({c})")
        } else {
            "linear".to_string()
        },
        a.forward,
        a.strike,
        a.years,
        sig(a.vol * 100.0),
        sig(a.rate * 100.0),
    );
    let u = &out.units;
    let mut rows: Vec<Vec<String>> = vec![
        row("price", out.price, &u.price),
        row("delta", out.delta, &u.delta),
        row("gamma", out.gamma, &u.gamma),
        row(
            "vega",
            out.vega_per_vol_point,
            &format!("{value} per vol point (σ + 1 %)"),
        ),
        row(
            "theta",
            out.theta_per_day,
            &format!("{value} per day (of 365)"),
        ),
        row("vanna", out.vanna, &u.vanna),
        row("volga", out.volga, &u.volga),
    ];
    if let Some(v) = &out.venue_convention {
        rows.push(vec![String::new(); 3]);
        rows.push(vec![
            "as Deribit shows it".into(),
            String::new(),
            "(per contract of 1 coin)".into(),
        ]);
        rows.push(row("premium", v.price_coin, c));
        rows.push(row(
            "premium",
            v.price_quote,
            &format!("{q} at the forward"),
        ));
        rows.push(row(
            "delta",
            v.delta_coin,
            &format!("{c} (Black-Scholes delta − premium in {c})"),
        ));
        rows.push(row("gamma", v.gamma, &format!("{c} of delta per 1 {q}")));
        rows.push(row(
            "vega",
            v.vega_per_vol_point,
            &format!("{q} per vol point"),
        ));
        rows.push(row("theta", v.theta_per_day, &format!("{q} per day")));
    }
    print_table(&["measure", "value", "unit"], &rows);
    Ok(())
}

/// One table row: a measure, its value with enough significant digits, and its unit.
fn row(name: &str, v: f64, unit: &str) -> Vec<String> {
    vec![name.to_string(), sig(v), unit.to_string()]
}

/// Formats with 6 significant digits (plain notation between 1e-4 and 1e9, else scientific).
fn sig(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if !(1e-4..1e9).contains(&a) {
        return format!("{v:.5e}");
    }
    let digits = (5 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
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
        return print_json(&serde_json::json!({ "iv": iv, "iv_percent": iv * 100.0 }));
    }
    println!("iv {iv:.12} ({:.4} % a year)", iv * 100.0);
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
