use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{finite, positive, ModelError};

/// Where a position or a balance lives; the unit of siloed margin.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    /// Deribit (inverse and linear futures, options).
    Deribit,
    /// Binance USDⓈ-M futures.
    Binance,
    /// OKX v5.
    Okx,
    /// Bybit v5.
    Bybit,
    /// dYdX v4 (dYdX Chain).
    Dydx,
    /// Hyperliquid perpetuals.
    Hyperliquid,
    /// Aave v3 lending pool.
    Aave,
    /// CME (SPAN-margined futures and options).
    Cme,
    /// The intermargin collateral hub (cross-chain pool).
    Hub,
}

impl Venue {
    /// Every venue, in a stable order.
    pub const ALL: [Venue; 9] = [
        Venue::Deribit,
        Venue::Binance,
        Venue::Okx,
        Venue::Bybit,
        Venue::Dydx,
        Venue::Hyperliquid,
        Venue::Aave,
        Venue::Cme,
        Venue::Hub,
    ];

    /// The lowercase name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Deribit => "deribit",
            Venue::Binance => "binance",
            Venue::Okx => "okx",
            Venue::Bybit => "bybit",
            Venue::Dydx => "dydx",
            Venue::Hyperliquid => "hyperliquid",
            Venue::Aave => "aave",
            Venue::Cme => "cme",
            Venue::Hub => "hub",
        }
    }
}

/// Label of an isolated margin pool (`isolated:<venue>:<symbol>:<long|short>`): the adapters file a
/// venue's reported figures under it and the venue rules compute the pool under it, so both must
/// build it here for the two to join.
pub fn isolated_pool(venue: Venue, symbol: &str, long: bool) -> String {
    let side = if long { "long" } else { "short" };
    format!("isolated:{venue}:{symbol}:{side}")
}

/// Label of the pool a position of a cross-or-isolated venue margins in: its own isolated pool, or
/// the account's `cross` pool.
pub fn position_pool(venue: Venue, symbol: &str, isolated: bool, long: bool) -> String {
    if isolated {
        isolated_pool(venue, symbol, long)
    } else {
        "cross".to_string()
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Venue {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Venue::ALL
            .iter()
            .copied()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ModelError::invalid("venue", format!("unknown venue {s:?}")))
    }
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OptionKind {
    /// Right to buy.
    Call,
    /// Right to sell.
    Put,
}

/// What kind of contract an instrument is, with the terms that define its payoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InstrumentKind {
    /// Spot holding or spot margin position.
    Spot,
    /// Dated future expiring at `expiry_ms`.
    Future {
        /// Expiry, UTC ms.
        expiry_ms: i64,
    },
    /// Perpetual swap (funded, never expires).
    Perpetual,
    /// European option on the underlying's forward.
    Option {
        /// Expiry, UTC ms.
        expiry_ms: i64,
        /// Strike, in the quote currency.
        strike: f64,
        /// Call or put.
        option_kind: OptionKind,
    },
}

/// How P&L settles: in the quote currency (linear) or in the underlying coin (inverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Settlement {
    /// P&L in the quote/settle currency (USDT, USDC, USD).
    Linear,
    /// P&L in the underlying coin (Deribit BTC futures and options, OKX coin-margined).
    Inverse,
}

/// What one contract of the instrument is denominated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SizeUnit {
    /// One contract is `contract_size` units of the underlying (1 BTC option, 0.001 BTC linear swap).
    Base,
    /// One contract is `contract_size` units of the quote currency (Deribit's 10 USD BTC future).
    Quote,
}

/// A tradable contract, venue-qualified, with everything needed to value it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Instrument {
    /// Venue listing the instrument.
    pub venue: Venue,
    /// The venue's own name (`BTC-27DEC24-100000-C`, `BTCUSDT`).
    pub symbol: String,
    /// Contract type and terms.
    #[serde(flatten)]
    pub kind: InstrumentKind,
    /// Underlying asset (`BTC`).
    pub underlying: String,
    /// Currency prices and strikes are quoted in (`USD`, `USDT`, `USDC`).
    pub quote: String,
    /// Asset that P&L and margin settle in (`BTC` for inverse, `USDT` for linear).
    pub settle: String,
    /// Linear or inverse.
    pub settlement: Settlement,
    /// Size of one contract, in `size_unit`.
    pub contract_size: f64,
    /// Whether `contract_size` counts underlying or quote units.
    pub size_unit: SizeUnit,
}

impl Instrument {
    /// Globally unique key `venue:symbol`, used to look up market data.
    pub fn id(&self) -> String {
        format!("{}:{}", self.venue, self.symbol)
    }

    /// Label of this instrument's isolated margin pool on one side (see [`isolated_pool`]).
    pub fn isolated_pool(&self, long: bool) -> String {
        isolated_pool(self.venue, &self.symbol, long)
    }

    /// Expiry in UTC ms, if the instrument expires.
    pub fn expiry_ms(&self) -> Option<i64> {
        match self.kind {
            InstrumentKind::Future { expiry_ms } | InstrumentKind::Option { expiry_ms, .. } => {
                Some(expiry_ms)
            }
            InstrumentKind::Spot | InstrumentKind::Perpetual => None,
        }
    }

    /// True for options.
    pub fn is_option(&self) -> bool {
        matches!(self.kind, InstrumentKind::Option { .. })
    }

    /// Exposure in underlying units of `size` contracts at `price` (quote per underlying).
    ///
    /// For quote-denominated contracts the exposure depends on price: `size·contract_size / price`.
    pub fn base_quantity(&self, size: f64, price: f64) -> f64 {
        match self.size_unit {
            SizeUnit::Base => size * self.contract_size,
            SizeUnit::Quote => size * self.contract_size / price,
        }
    }

    /// P&L in the settle currency of `size` contracts entered at `entry` and valued at `price`
    /// (futures-style: linear = base quantity × price change; inverse = USD face × (1/entry −
    /// 1/price), in coin). The one formula every venue rule and the what-if apply.
    pub fn pnl(&self, size: f64, entry: f64, price: f64) -> f64 {
        match self.settlement {
            Settlement::Linear => {
                self.base_quantity(size, price) * price - self.base_quantity(size, entry) * entry
            }
            Settlement::Inverse => {
                let usd_face = match self.size_unit {
                    SizeUnit::Quote => size * self.contract_size,
                    SizeUnit::Base => size * self.contract_size * entry,
                };
                usd_face * (1.0 / entry - 1.0 / price)
            }
        }
    }

    /// Entry price of `size + add` contracts when `add` contracts (same sign) at `price` join
    /// `size` entered at `entry`: the one average for which [`Instrument::pnl`] of the whole
    /// equals the sum of the parts' at every price (arithmetic by contracts, except harmonic for
    /// inverse contracts counted in USD).
    pub fn average_entry(&self, size: f64, entry: f64, add: f64, price: f64) -> f64 {
        let total = size + add;
        match (self.settlement, self.size_unit) {
            (Settlement::Inverse, SizeUnit::Quote) => total / (size / entry + add / price),
            _ => (size * entry + add * price) / total,
        }
    }

    /// The entry price at which `size` contracts show `pnl` at `price` (the inverse of
    /// [`Instrument::pnl`]); `price` itself for linear contracts counted in quote units, whose
    /// futures-style P&L does not depend on the entry.
    pub fn entry_for_pnl(&self, size: f64, pnl: f64, price: f64) -> f64 {
        let n = size * self.contract_size;
        match (self.settlement, self.size_unit) {
            (Settlement::Linear, SizeUnit::Base) => price - pnl / n,
            (Settlement::Linear, SizeUnit::Quote) => price,
            (Settlement::Inverse, SizeUnit::Quote) => 1.0 / (pnl / n + 1.0 / price),
            (Settlement::Inverse, SizeUnit::Base) => price * (1.0 - pnl / n),
        }
    }

    /// Checks terms for internal consistency and against the snapshot time.
    pub fn validate(&self, path: &str, now_ms: Option<i64>) -> Result<(), ModelError> {
        if self.symbol.trim().is_empty() {
            return Err(ModelError::invalid(
                format!("{path}.symbol"),
                "must not be empty",
            ));
        }
        for (name, v) in [
            ("underlying", &self.underlying),
            ("quote", &self.quote),
            ("settle", &self.settle),
        ] {
            if v.trim().is_empty() {
                return Err(ModelError::invalid(
                    format!("{path}.{name}"),
                    "must not be empty",
                ));
            }
        }
        positive(&format!("{path}.contract_size"), self.contract_size)?;
        if let InstrumentKind::Option { strike, .. } = self.kind {
            let f = format!("{path}.strike");
            finite(&f, strike)?;
            if strike <= 0.0 {
                return Err(ModelError::NotPositive {
                    field: f,
                    value: strike,
                });
            }
        }
        if self.settlement == Settlement::Inverse && self.settle != self.underlying {
            return Err(ModelError::invalid(
                format!("{path}.settle"),
                format!(
                    "an inverse instrument settles in its underlying {:?}, not {:?}",
                    self.underlying, self.settle
                ),
            ));
        }
        if let (Some(expiry_ms), Some(now)) = (self.expiry_ms(), now_ms) {
            if expiry_ms <= now {
                return Err(ModelError::Expired {
                    field: format!("{path}.expiry_ms"),
                    expiry_ms,
                    timestamp_ms: now,
                });
            }
        }
        Ok(())
    }
}
