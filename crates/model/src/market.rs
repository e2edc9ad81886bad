use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{finite, positive, ModelError};

/// One implied-volatility observation, the raw material of a surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VolQuote {
    /// Expiry, UTC ms.
    pub expiry_ms: i64,
    /// Strike in the underlying's quote currency.
    pub strike: f64,
    /// Annualised implied volatility (0.55 = 55 %).
    pub iv: f64,
}

/// Greeks a venue publishes for an instrument, kept to compare with our own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Greeks {
    /// dV/dF.
    pub delta: f64,
    /// d²V/dF².
    pub gamma: f64,
    /// dV/dσ as the venue quotes it.
    pub vega: f64,
    /// Time decay as the venue quotes it.
    pub theta: f64,
}

/// Market state at one instant: everything needed to value and shock a portfolio.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Market {
    /// Snapshot time, UTC ms.
    pub timestamp_ms: i64,
    /// Currency every cross-venue figure is reported in (`USD`).
    pub quote: String,
    /// Index (spot reference) prices keyed `venue:UNDERLYING` (e.g. `deribit:BTC`), in that venue's quote.
    #[serde(default)]
    pub index_prices: BTreeMap<String, f64>,
    /// Mark prices keyed by instrument id (`venue:symbol`), in the instrument's quote currency.
    #[serde(default)]
    pub mark_prices: BTreeMap<String, f64>,
    /// Mark implied vols keyed by instrument id.
    #[serde(default)]
    pub mark_ivs: BTreeMap<String, f64>,
    /// Venue-published Greeks keyed by instrument id.
    #[serde(default)]
    pub greeks: BTreeMap<String, Greeks>,
    /// Implied-vol quotes per underlying, from which a surface is built.
    #[serde(default)]
    pub vol_quotes: BTreeMap<String, Vec<VolQuote>>,
    /// Continuously compounded rates per currency.
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
    /// Value of one whole unit of each asset in `quote` (`BTC` → 65000, `USDT` → 1.0002).
    #[serde(default)]
    pub fx: BTreeMap<String, f64>,
    /// Risk parameters a venue publishes through its API (leverage brackets, risk limits, margin
    /// fractions, reserve configuration), keyed by instrument id, `venue:MARKET` or `venue`.
    /// They override the dated parameter files; shapes are documented in `crates/venues/PARAMS.md`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub venue_params: BTreeMap<String, serde_json::Value>,
}

impl Market {
    /// Empty market at `timestamp_ms`, reporting in `quote`.
    pub fn new(timestamp_ms: i64, quote: impl Into<String>) -> Self {
        let quote = quote.into();
        let mut fx = BTreeMap::new();
        fx.insert(quote.clone(), 1.0);
        Market {
            timestamp_ms,
            quote,
            fx,
            ..Default::default()
        }
    }

    /// Value of one unit of `asset` in the quote currency; the quote itself is 1.
    pub fn fx_rate(&self, asset: &str) -> Option<f64> {
        if asset == self.quote {
            return Some(1.0);
        }
        self.fx.get(asset).copied()
    }

    /// Index price for `underlying` on `venue`, falling back to the FX rate of the underlying.
    pub fn index_price(&self, venue: &str, underlying: &str) -> Option<f64> {
        self.index_prices
            .get(&format!("{venue}:{underlying}"))
            .copied()
            .or_else(|| self.fx_rate(underlying))
    }

    /// Continuously compounded rate for a currency, zero when not given.
    pub fn rate(&self, currency: &str) -> f64 {
        self.rates.get(currency).copied().unwrap_or(0.0)
    }

    /// Merges `other` into `self`; a different value for the same key is a conflict naming it.
    pub fn merge(&mut self, other: &Market) -> Result<(), ModelError> {
        if self.quote.is_empty() {
            self.quote = other.quote.clone();
        }
        self.timestamp_ms = self.timestamp_ms.max(other.timestamp_ms);
        merge_map(
            &mut self.index_prices,
            &other.index_prices,
            "market.index_prices",
        )?;
        merge_map(
            &mut self.mark_prices,
            &other.mark_prices,
            "market.mark_prices",
        )?;
        merge_map(&mut self.mark_ivs, &other.mark_ivs, "market.mark_ivs")?;
        merge_map(&mut self.greeks, &other.greeks, "market.greeks")?;
        merge_map(&mut self.rates, &other.rates, "market.rates")?;
        // FX rates only convert reports into the quote currency; adapters derive them from each
        // venue's own index, which differ by cents, so the first snapshot's rate is kept.
        for (k, v) in &other.fx {
            self.fx.entry(k.clone()).or_insert(*v);
        }
        merge_map(
            &mut self.venue_params,
            &other.venue_params,
            "market.venue_params",
        )?;
        for (k, quotes) in &other.vol_quotes {
            self.vol_quotes
                .entry(k.clone())
                .or_default()
                .extend(quotes.iter().cloned());
        }
        Ok(())
    }

    /// Checks every number is finite and prices are positive.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.quote.trim().is_empty() {
            return Err(ModelError::invalid("market.quote", "must not be empty"));
        }
        for (name, map) in [
            ("index_prices", &self.index_prices),
            ("mark_prices", &self.mark_prices),
            ("fx", &self.fx),
        ] {
            for (k, v) in map {
                positive(&format!("market.{name}[{k:?}]"), *v)?;
            }
        }
        for (k, v) in &self.mark_ivs {
            positive(&format!("market.mark_ivs[{k:?}]"), *v)?;
        }
        for (k, v) in &self.rates {
            finite(&format!("market.rates[{k:?}]"), *v)?;
        }
        for (k, g) in &self.greeks {
            for (n, v) in [
                ("delta", g.delta),
                ("gamma", g.gamma),
                ("vega", g.vega),
                ("theta", g.theta),
            ] {
                finite(&format!("market.greeks[{k:?}].{n}"), v)?;
            }
        }
        for (k, quotes) in &self.vol_quotes {
            for (i, q) in quotes.iter().enumerate() {
                positive(&format!("market.vol_quotes[{k:?}][{i}].strike"), q.strike)?;
                positive(&format!("market.vol_quotes[{k:?}][{i}].iv"), q.iv)?;
            }
        }
        Ok(())
    }
}

fn merge_map<V: Clone + PartialEq>(
    into: &mut BTreeMap<String, V>,
    from: &BTreeMap<String, V>,
    path: &str,
) -> Result<(), ModelError> {
    for (k, v) in from {
        match into.get(k) {
            Some(existing) if existing != v => {
                return Err(ModelError::invalid(
                    format!("{path}[{k:?}]"),
                    "conflicting values for the same key in two snapshots",
                ))
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}
