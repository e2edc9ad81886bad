//! Venue instrument names → canonical [`Instrument`]s (expiry in UTC ms, strike, call/put, settlement).
//!
//! Every venue here expires dated contracts at 08:00 UTC on the named day (Deribit, OKX, Bybit,
//! Binance delivery contracts), so that is the expiry time used when only the name is known;
//! an instruments payload, when imported, supplies the exact timestamp instead.

use chrono::{Datelike, NaiveDate, Weekday};
use intermargin_model::{Instrument, InstrumentKind, OptionKind, Settlement, SizeUnit, Venue};

/// Hour (UTC) at which dated contracts of every supported venue expire.
pub const EXPIRY_HOUR_UTC: i64 = 8;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// UTC ms of 08:00 on a calendar date.
pub fn expiry_ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(EXPIRY_HOUR_UTC as u32, 0, 0)
        .map(|dt| dt.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// Parses `27DEC24` / `5JAN24` (Deribit, Bybit options) into a date.
pub fn parse_dmy(s: &str) -> Option<NaiveDate> {
    let digits = s.chars().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&digits) || s.len() != digits + 5 {
        return None;
    }
    let day: u32 = s.get(..digits)?.parse().ok()?;
    let mon = s.get(digits..digits + 3)?.to_ascii_uppercase();
    let month = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let year: i32 = s.get(digits + 3..)?.parse().ok()?;
    NaiveDate::from_ymd_opt(2000 + year, month, day)
}

/// Parses `240329` (OKX, Binance delivery) into a date.
pub fn parse_yymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s.get(..2)?.parse().ok()?;
    let month: u32 = s.get(2..4)?.parse().ok()?;
    let day: u32 = s.get(4..)?.parse().ok()?;
    NaiveDate::from_ymd_opt(2000 + year, month, day)
}

/// Last Friday of a month (Bybit inverse futures `BTCUSDH24` expire then).
pub fn last_friday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut d = first_next.pred_opt()?;
    while d.weekday() != Weekday::Fri {
        d = d.pred_opt()?;
    }
    Some(d)
}

/// Strike text (`100000`, Deribit's `0d625` for 0.625) as a number.
pub fn parse_strike(s: &str) -> Option<f64> {
    let v: f64 = s.replace('d', ".").parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

fn option_kind(s: &str) -> Option<OptionKind> {
    match s {
        "C" | "c" => Some(OptionKind::Call),
        "P" | "p" => Some(OptionKind::Put),
        _ => None,
    }
}

/// Builds an instrument from its parts.
#[allow(clippy::too_many_arguments)]
pub fn instrument(
    venue: Venue,
    symbol: &str,
    kind: InstrumentKind,
    underlying: &str,
    quote: &str,
    settle: &str,
    settlement: Settlement,
    contract_size: f64,
    size_unit: SizeUnit,
) -> Instrument {
    Instrument {
        venue,
        symbol: symbol.to_string(),
        kind,
        underlying: underlying.to_uppercase(),
        quote: quote.to_uppercase(),
        settle: settle.to_uppercase(),
        settlement,
        contract_size,
        size_unit,
    }
}

/// Deribit names: `BTC-PERPETUAL`, `BTC-29SEP23`, `BTC-27DEC24-100000-C` (inverse, coin-settled),
/// `BTC_USDC-PERPETUAL`, `SOL_USDC-27DEC24-200-C` (linear, USDC-settled), `BTC_USDC` (spot).
///
/// `inverse_contract_usd` is the USD face value of one inverse future (10 for BTC, 1 for ETH per
/// Deribit's contract specifications); linear contracts and options are counted in the coin
/// (contract size 1, base), since Deribit reports their size in the coin.
pub fn deribit(name: &str, inverse_contract_usd: Option<f64>) -> Option<Instrument> {
    let parts: Vec<&str> = name.split('-').collect();
    let (underlying, linear_quote) = match parts.first()?.split_once('_') {
        Some((u, q)) => (u, Some(q)),
        None => (*parts.first()?, None),
    };
    if underlying.is_empty() || !underlying.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let v = Venue::Deribit;
    let (quote, settle, settlement) = match linear_quote {
        Some(q) if !q.is_empty() => (q, q, Settlement::Linear),
        Some(_) => return None,
        None => ("USD", underlying, Settlement::Inverse),
    };
    let base_or_face = |kind: InstrumentKind| -> Option<Instrument> {
        Some(match settlement {
            Settlement::Inverse => instrument(
                v,
                name,
                kind,
                underlying,
                quote,
                settle,
                settlement,
                inverse_contract_usd?,
                SizeUnit::Quote,
            ),
            Settlement::Linear => instrument(
                v,
                name,
                kind,
                underlying,
                quote,
                settle,
                settlement,
                1.0,
                SizeUnit::Base,
            ),
        })
    };
    match parts.as_slice() {
        [_] if linear_quote.is_some() => Some(instrument(
            v,
            name,
            InstrumentKind::Spot,
            underlying,
            quote,
            quote,
            Settlement::Linear,
            1.0,
            SizeUnit::Base,
        )),
        [_, "PERPETUAL"] => base_or_face(InstrumentKind::Perpetual),
        [_, date] => base_or_face(InstrumentKind::Future {
            expiry_ms: expiry_ms(parse_dmy(date)?),
        }),
        [_, date, strike, cp] => Some(instrument(
            v,
            name,
            InstrumentKind::Option {
                expiry_ms: expiry_ms(parse_dmy(date)?),
                strike: parse_strike(strike)?,
                option_kind: option_kind(cp)?,
            },
            underlying,
            quote,
            settle,
            settlement,
            1.0,
            SizeUnit::Base,
        )),
        _ => None,
    }
}

#[derive(serde::Deserialize)]
struct DeribitFaces {
    inverse_face_usd: Vec<DeribitFace>,
}

#[derive(serde::Deserialize)]
struct DeribitFace {
    underlying: String,
    usd: f64,
}

/// Default face value in USD of one Deribit inverse future (`data/deribit_contracts.json`:
/// BTC 10 USD, ETH 1 USD), for positions imported without an instruments payload.
pub fn deribit_inverse_face(underlying: &str) -> Option<f64> {
    static T: std::sync::OnceLock<DeribitFaces> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        serde_json::from_str(include_str!("../data/deribit_contracts.json")).unwrap_or(
            DeribitFaces {
                inverse_face_usd: Vec::new(),
            },
        )
    })
    .inverse_face_usd
    .iter()
    .find(|f| f.underlying == underlying)
    .map(|f| f.usd)
}

/// Splits a concatenated symbol (`BTCUSDT`) at a known quote suffix.
pub fn split_quote<'a>(symbol: &'a str, quotes: &[&'a str]) -> Option<(&'a str, &'a str)> {
    quotes.iter().find_map(|q| {
        symbol
            .strip_suffix(q)
            .filter(|b| !b.is_empty())
            .map(|b| (b, *q))
    })
}

/// Quote suffixes of Binance USDⓈ-M symbols, longest first.
pub const BINANCE_QUOTES: [&str; 4] = ["FDUSD", "USDT", "USDC", "BUSD"];

/// Binance USDⓈ-M: `BTCUSDT` (perpetual), `BTCUSDT_240329` (quarterly); linear, size in the base coin.
pub fn binance(symbol: &str, margin_asset: Option<&str>) -> Option<Instrument> {
    let (pair, date) = match symbol.split_once('_') {
        Some((p, d)) => (p, Some(d)),
        None => (symbol, None),
    };
    let (base, quote) = split_quote(pair, &BINANCE_QUOTES)?;
    let kind = match date {
        None => InstrumentKind::Perpetual,
        Some(d) => InstrumentKind::Future {
            expiry_ms: expiry_ms(parse_yymmdd(d)?),
        },
    };
    let settle = margin_asset.filter(|m| !m.is_empty()).unwrap_or(quote);
    Some(instrument(
        Venue::Binance,
        symbol,
        kind,
        base,
        quote,
        settle,
        Settlement::Linear,
        1.0,
        SizeUnit::Base,
    ))
}

/// Contract terms an OKX `instId` does not spell out (one contract's value and its unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContractTerms {
    /// Value of one contract in `size_unit`.
    pub size: f64,
    /// Coin (base) or USD (quote).
    pub unit: SizeUnit,
}

/// OKX `instId` → instrument: `BTC-USDT` (spot/margin), `BTC-USDT-SWAP`, `BTC-USD-SWAP` (inverse),
/// `BTC-USD-240329`, `BTC-USD-240329-70000-C`. `terms` gives the contract value (from an
/// instruments payload or the dated table in `data/okx_contracts.json`).
pub fn okx(inst_id: &str, terms: Option<ContractTerms>) -> Option<Instrument> {
    let parts: Vec<&str> = inst_id.split('-').collect();
    let v = Venue::Okx;
    let (base, quote) = (*parts.first()?, *parts.get(1)?);
    if base.is_empty() || quote.is_empty() {
        return None;
    }
    // Coin-margined (inverse) contracts are quoted in USD and settle in the coin.
    let inverse = quote == "USD";
    let (settle, settlement) = if inverse {
        (base, Settlement::Inverse)
    } else {
        (quote, Settlement::Linear)
    };
    let derivative = |kind: InstrumentKind| -> Option<Instrument> {
        let t = terms?;
        Some(instrument(
            v, inst_id, kind, base, quote, settle, settlement, t.size, t.unit,
        ))
    };
    match parts.as_slice() {
        [_, _] => Some(instrument(
            v,
            inst_id,
            InstrumentKind::Spot,
            base,
            quote,
            quote,
            Settlement::Linear,
            1.0,
            SizeUnit::Base,
        )),
        [_, _, "SWAP"] => derivative(InstrumentKind::Perpetual),
        [_, _, date] => derivative(InstrumentKind::Future {
            expiry_ms: expiry_ms(parse_yymmdd(date)?),
        }),
        [_, _, date, strike, cp] => derivative(InstrumentKind::Option {
            expiry_ms: expiry_ms(parse_yymmdd(date)?),
            strike: parse_strike(strike)?,
            option_kind: option_kind(cp)?,
        }),
        _ => None,
    }
}

/// Bybit v5 category of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BybitCategory {
    /// USDT/USDC perpetuals and futures (size in the coin).
    Linear,
    /// Coin-margined contracts (`BTCUSD`, `BTCUSDH24`; one contract = 1 USD).
    Inverse,
    /// USDC/USDT-settled options (size in the coin).
    Option,
    /// Spot.
    Spot,
}

impl BybitCategory {
    /// Parses the `category` string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(BybitCategory::Linear),
            "inverse" => Some(BybitCategory::Inverse),
            "option" => Some(BybitCategory::Option),
            "spot" => Some(BybitCategory::Spot),
            _ => None,
        }
    }
}

const FUTURES_MONTH_CODES: &str = "FGHJKMNQUVXZ";

/// Bybit v5 symbol → instrument: linear `BTCUSDT`, `BTCPERP` (USDC perp), `BTC-27DEC24` (USDC
/// future), `BTCUSDT-27DEC24`; inverse `BTCUSD`, `BTCUSDH24`; option `BTC-27MAR26-70000-P-USDT`,
/// `BTC-29DEC23-30000-C` (USDC). `expiry` overrides the name-derived expiry (instruments-info
/// `deliveryTime`).
pub fn bybit(symbol: &str, cat: BybitCategory, expiry: Option<i64>) -> Option<Instrument> {
    let v = Venue::Bybit;
    let linear = |kind, base: &str, quote: &str| {
        Some(instrument(
            v,
            symbol,
            kind,
            base,
            quote,
            quote,
            Settlement::Linear,
            1.0,
            SizeUnit::Base,
        ))
    };
    match cat {
        BybitCategory::Spot => {
            let (b, q) = split_quote(symbol, &["USDT", "USDC", "BTC", "ETH"])?;
            linear(InstrumentKind::Spot, b, q)
        }
        BybitCategory::Linear => {
            if let Some((pair, date)) = symbol.split_once('-') {
                let d = expiry.or_else(|| parse_dmy(date).map(expiry_ms))?;
                let (b, q) = match split_quote(pair, &["USDT", "USDC"]) {
                    Some(x) => x,
                    None => (pair, "USDC"),
                };
                linear(InstrumentKind::Future { expiry_ms: d }, b, q)
            } else if let Some(b) = symbol.strip_suffix("PERP").filter(|b| !b.is_empty()) {
                linear(InstrumentKind::Perpetual, b, "USDC")
            } else {
                let (b, q) = split_quote(symbol, &["USDT", "USDC"])?;
                linear(InstrumentKind::Perpetual, b, q)
            }
        }
        BybitCategory::Inverse => {
            let (pair, kind) = match symbol.strip_suffix(|c: char| c.is_ascii_digit()) {
                Some(_) => {
                    // BTCUSDH24: month code + two-digit year.
                    let n = symbol.len();
                    let (n2, n3) = (n.checked_sub(2)?, n.checked_sub(3)?);
                    let yy: i32 = symbol.get(n2..)?.parse().ok()?;
                    let code = symbol.get(n3..n2)?.chars().next()?;
                    let month = FUTURES_MONTH_CODES.find(code)? as u32 + 1;
                    let d = match expiry {
                        Some(e) => e,
                        None => expiry_ms(last_friday(2000 + yy, month)?),
                    };
                    (symbol.get(..n3)?, InstrumentKind::Future { expiry_ms: d })
                }
                None => (symbol, InstrumentKind::Perpetual),
            };
            let base = pair.strip_suffix("USD").filter(|b| !b.is_empty())?;
            Some(instrument(
                v,
                symbol,
                kind,
                base,
                "USD",
                base,
                Settlement::Inverse,
                1.0,
                SizeUnit::Quote,
            ))
        }
        BybitCategory::Option => {
            let parts: Vec<&str> = symbol.split('-').collect();
            let (base, date, strike, cp, settle) = match parts.as_slice() {
                [b, d, k, cp] => (*b, *d, *k, *cp, "USDC"),
                [b, d, k, cp, s] => (*b, *d, *k, *cp, *s),
                _ => return None,
            };
            let e = expiry.or_else(|| parse_dmy(date).map(expiry_ms))?;
            Some(instrument(
                v,
                symbol,
                InstrumentKind::Option {
                    expiry_ms: e,
                    strike: parse_strike(strike)?,
                    option_kind: option_kind(cp)?,
                },
                base,
                settle,
                settle,
                Settlement::Linear,
                1.0,
                SizeUnit::Base,
            ))
        }
    }
}

/// dYdX v4 ticker (`BTC-USD`): a USDC-settled linear perpetual, size in the coin.
pub fn dydx(ticker: &str) -> Option<Instrument> {
    let (base, quote) = ticker.split_once('-')?;
    if base.is_empty() || quote.is_empty() {
        return None;
    }
    Some(instrument(
        Venue::Dydx,
        ticker,
        InstrumentKind::Perpetual,
        base,
        quote,
        "USDC",
        Settlement::Linear,
        1.0,
        SizeUnit::Base,
    ))
}

/// Hyperliquid coin (`ETH`): a USDC-settled linear perpetual quoted in USD, size in the coin.
pub fn hyperliquid(coin: &str) -> Option<Instrument> {
    if coin.trim().is_empty() {
        return None;
    }
    Some(instrument(
        Venue::Hyperliquid,
        coin,
        InstrumentKind::Perpetual,
        coin,
        "USD",
        "USDC",
        Settlement::Linear,
        1.0,
        SizeUnit::Base,
    ))
}

/// Binance COIN-M: `BTCUSD_PERP` (perpetual), `BTCUSD_250328` (quarterly); inverse, quoted in
/// USD, settled and margined in the coin, one contract = `contract_usd` USD (100 for BTC, 10 for
/// the others: `data/binance_coinm_contracts.json`). `None` for anything else (USDⓈ-M symbols
/// end in USDT/USDC/BUSD/FDUSD).
pub fn binance_coinm(symbol: &str, contract_usd: f64) -> Option<Instrument> {
    let (pair, suffix) = symbol.split_once('_')?;
    let base = pair.strip_suffix("USD").filter(|b| !b.is_empty())?;
    if !base.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let kind = if suffix == "PERP" {
        InstrumentKind::Perpetual
    } else {
        InstrumentKind::Future {
            expiry_ms: expiry_ms(parse_yymmdd(suffix)?),
        }
    };
    Some(instrument(
        Venue::Binance,
        symbol,
        kind,
        base,
        "USD",
        base,
        Settlement::Inverse,
        contract_usd,
        SizeUnit::Quote,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-12-27 08:00:00 UTC = 1735286400000 ms (date -u -d '2024-12-27 08:00' +%s → 1735286400).
    const DEC27_2024_0800: i64 = 1_735_286_400_000;

    #[test]
    fn deribit_inverse_option_name_parses_to_expiry_strike_and_call() {
        let i = deribit("BTC-27DEC24-100000-C", None).unwrap();
        assert_eq!(
            i.kind,
            InstrumentKind::Option {
                expiry_ms: DEC27_2024_0800,
                strike: 100000.0,
                option_kind: OptionKind::Call
            }
        );
        assert_eq!(i.settlement, Settlement::Inverse);
        assert_eq!(
            (i.underlying.as_str(), i.quote.as_str(), i.settle.as_str()),
            ("BTC", "USD", "BTC")
        );
        assert_eq!((i.contract_size, i.size_unit), (1.0, SizeUnit::Base));
    }

    #[test]
    fn deribit_future_matches_the_instruments_payload_expiry() {
        // public/get_instruments gives BTC-29SEP23 expiration_timestamp 1695974400000.
        let i = deribit("BTC-29SEP23", Some(10.0)).unwrap();
        assert_eq!(i.expiry_ms(), Some(1_695_974_400_000));
        assert_eq!((i.contract_size, i.size_unit), (10.0, SizeUnit::Quote));
        // and the option fixture BTC-13JAN23-16000-P expires at 1673596800000
        let o = deribit("BTC-13JAN23-16000-P", None).unwrap();
        assert_eq!(o.expiry_ms(), Some(1_673_596_800_000));
    }

    #[test]
    fn deribit_linear_names_settle_in_usdc() {
        let p = deribit("BTC_USDC-PERPETUAL", None).unwrap();
        assert_eq!(p.kind, InstrumentKind::Perpetual);
        assert_eq!(
            (p.settle.as_str(), p.settlement),
            ("USDC", Settlement::Linear)
        );
        let o = deribit("XRP_USDC-27DEC24-0d625-P", None).unwrap();
        assert!(
            matches!(o.kind, InstrumentKind::Option { strike, option_kind: OptionKind::Put, .. } if strike == 0.625)
        );
        assert!(
            deribit("BTC-PERPETUAL", None).is_none(),
            "inverse needs a face value"
        );
        assert!(deribit("BTC-FS-29SEP23_PERP", Some(10.0)).is_none());
        assert!(deribit("BTC-31FEB24", Some(10.0)).is_none());
    }

    #[test]
    fn okx_inst_ids_parse() {
        let t = ContractTerms {
            size: 100.0,
            unit: SizeUnit::Quote,
        };
        let i = okx("BTC-USD-SWAP", Some(t)).unwrap();
        assert_eq!(
            (i.settlement, i.settle.as_str()),
            (Settlement::Inverse, "BTC")
        );
        let f = okx("BTC-USD-240329", Some(t)).unwrap();
        // 2024-03-29 08:00 UTC = 1711699200000
        assert_eq!(f.expiry_ms(), Some(1_711_699_200_000));
        let o = okx(
            "BTC-USD-240329-70000-C",
            Some(ContractTerms {
                size: 0.01,
                unit: SizeUnit::Base,
            }),
        )
        .unwrap();
        assert!(o.is_option());
        let s = okx("BTC-USDT", None).unwrap();
        assert_eq!(s.kind, InstrumentKind::Spot);
        assert!(okx("BTC-USDT-SWAP", None).is_none());
    }

    #[test]
    fn bybit_symbols_parse_per_category() {
        let i = bybit("BTCUSD", BybitCategory::Inverse, None).unwrap();
        assert_eq!(
            (i.settlement, i.size_unit),
            (Settlement::Inverse, SizeUnit::Quote)
        );
        // BTCUSDH24: March 2024, last Friday = 2024-03-29.
        let f = bybit("BTCUSDH24", BybitCategory::Inverse, None).unwrap();
        assert_eq!(f.expiry_ms(), Some(1_711_699_200_000));
        let o = bybit(
            "BTC-27MAR26-70000-P-USDT",
            BybitCategory::Option,
            Some(1_774_598_400_000),
        )
        .unwrap();
        assert_eq!(o.settle, "USDT");
        assert_eq!(
            bybit("BTCPERP", BybitCategory::Linear, None).unwrap().quote,
            "USDC"
        );
        assert_eq!(
            bybit("BTCUSDT", BybitCategory::Linear, None)
                .unwrap()
                .underlying,
            "BTC"
        );
    }

    #[test]
    fn short_or_odd_names_are_rejected_not_sliced_out_of_bounds() {
        for s in ["1", "12", "H24", "USDH24", "\u{c9}H24", "-", ""] {
            assert!(bybit(s, BybitCategory::Inverse, None).is_none(), "{s}");
            assert!(bybit(s, BybitCategory::Option, None).is_none(), "{s}");
            assert!(deribit(s, Some(10.0)).is_none(), "{s}");
            assert!(binance(s, None).is_none(), "{s}");
        }
    }

    #[test]
    fn binance_symbols_parse() {
        let p = binance("BTCUSDT", None).unwrap();
        assert_eq!((p.underlying.as_str(), p.quote.as_str()), ("BTC", "USDT"));
        let f = binance("BTCUSDT_240329", Some("USDT")).unwrap();
        assert_eq!(f.expiry_ms(), Some(1_711_699_200_000));
        assert!(binance("USDT", None).is_none());
    }
}
