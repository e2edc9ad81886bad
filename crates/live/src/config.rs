//! `serve --live CONFIG`: which venues and instruments to stream, where, and how strictly to
//! judge them. TOML; every error names the field and the reason.

use std::time::Duration;

use intermargin_venues::stream::{StreamSubscription, StreamVenue};
use serde::Deserialize;

use crate::aave::AaveSource;
use crate::ws::{Backoff, WsSource};

/// At most this many sources in one config.
pub const MAX_SOURCES: usize = 32;
/// At most this many instruments (or assets) per source.
pub const MAX_INSTRUMENTS: usize = 500;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// A source silent for longer is stale (its prices stop moving margin), seconds.
    #[serde(default = "default_stale")]
    pub stale_after_secs: f64,
    /// Sources of one asset's index disagreeing by more than this fraction (max/min − 1)
    /// diverge: the outliers' prices are withheld and the breaker trips.
    #[serde(default = "default_divergence")]
    pub divergence_pct: f64,
    /// Prices arriving within this window are re-margined together, milliseconds.
    #[serde(default = "default_batch")]
    pub batch_ms: u64,
    /// First reconnect delay, milliseconds (doubles per failure, with jitter).
    #[serde(default = "default_backoff")]
    pub reconnect_base_ms: u64,
    /// Largest reconnect delay, milliseconds.
    #[serde(default = "default_backoff_cap")]
    pub reconnect_cap_ms: u64,
    /// The sources.
    pub sources: Vec<SourceConfig>,
    /// Account streams (positions streamed into ledger accounts).
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
}

/// One account stream: a venue account whose positions are streamed into a ledger account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The venue (`binance`: the USDⓈ-M user-data stream; `deribit`: `user.portfolio` and
    /// `user.changes` after `public/auth`; `okx`: `positions`, `account`, `orders` after
    /// `login`; `bybit`: `position`, `wallet`, `order` after `auth`).
    pub venue: String,
    /// The ledger account the streamed positions are filed under.
    pub account: String,
    /// Environment variable holding the API key or Deribit client id (default
    /// `BINANCE_API_KEY` / `DERIBIT_CLIENT_ID` / `OKX_API_KEY` / `BYBIT_API_KEY`).
    pub key_env: Option<String>,
    /// Environment variable holding the API secret or Deribit client secret (default
    /// `BINANCE_API_SECRET` / `DERIBIT_CLIENT_SECRET` / `OKX_API_SECRET` / `BYBIT_API_SECRET`).
    pub secret_env: Option<String>,
    /// OKX only: environment variable holding the API key's passphrase (default
    /// `OKX_API_PASSPHRASE`).
    pub passphrase_env: Option<String>,
    /// REST base URL (default the venue's production endpoint).
    pub rest_url: Option<String>,
    /// WebSocket base URL (default `wss://fstream.binance.com`; Deribit, OKX, Bybit: the full
    /// URL, default `wss://www.deribit.com/ws/api/v2`, `wss://ws.okx.com:8443/ws/v5/private`,
    /// `wss://stream.bybit.com/v5/private`).
    pub ws_url: Option<String>,
    /// Binance only: listen-key keep-alive period, seconds (default 1800, below the key's
    /// 3600 s validity).
    pub keepalive_secs: Option<f64>,
    /// Deribit only: currencies subscribed (default `["any"]`).
    pub currencies: Option<Vec<String>>,
    /// Deribit only: `public/set_heartbeat` interval, seconds (default 30, at least 10).
    pub heartbeat_secs: Option<u64>,
    /// OKX and Bybit only: keep-alive ping period, seconds (default 20; OKX: below 30, its
    /// silence limit).
    pub ping_secs: Option<f64>,
    /// REST reconciliation period, seconds (default 60).
    pub reconcile_secs: Option<f64>,
}

fn default_stale() -> f64 {
    10.0
}
fn default_divergence() -> f64 {
    0.02
}
fn default_batch() -> u64 {
    200
}
fn default_backoff() -> u64 {
    500
}
fn default_backoff_cap() -> u64 {
    30_000
}

/// One source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `deribit`, `binance`, `okx`, `bybit`, `hyperliquid`, `dydx` or `aave`.
    pub venue: String,
    /// Name in alarms and on /health (default: the venue).
    pub name: Option<String>,
    /// Endpoint (default: the venue's production URL; for Aave required, or `url_env`).
    pub url: Option<String>,
    /// Environment variable holding the endpoint (for RPC URLs that embed a key).
    pub url_env: Option<String>,
    /// The venue's instrument symbols (Hyperliquid coins; dYdX tickers).
    #[serde(default)]
    pub instruments: Vec<String>,
    /// Index names (Deribit `btc_usd`, OKX `BTC-USD`).
    #[serde(default)]
    pub indices: Vec<String>,
    /// OKX option families for `opt-summary` (`BTC-USD`).
    #[serde(default)]
    pub option_families: Vec<String>,
    /// Deribit heartbeat interval, seconds (≥ 10).
    pub heartbeat_secs: Option<u64>,
    /// Client keep-alive period override, seconds.
    pub keepalive_secs: Option<f64>,
    /// Per-source staleness override, seconds.
    pub stale_after_secs: Option<f64>,
    /// Aave: the AaveOracle address.
    pub oracle: Option<String>,
    /// Aave: reserve symbol → asset address.
    #[serde(default)]
    pub assets: std::collections::BTreeMap<String, String>,
    /// Aave: the oracle's base currency unit (default 1e8, USD).
    pub base_unit: Option<f64>,
    /// Aave: polling period, seconds (default 5).
    pub poll_secs: Option<f64>,
}

/// A configured source, ready to run.
#[derive(Debug, Clone)]
pub enum Source {
    /// A WebSocket venue.
    Ws(WsSource),
    /// Aave's oracle.
    Aave(AaveSource),
}

impl Source {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Source::Ws(s) => &s.name,
            Source::Aave(a) => &a.name,
        }
    }
}

/// A config error naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The field (`sources[2].instruments`).
    pub field: String,
    /// Why.
    pub reason: String,
}

fn cerr(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

fn secs(field: &str, v: f64, lo: f64, hi: f64) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < lo || v > hi {
        return Err(cerr(
            field,
            format!("must be between {lo} and {hi} seconds, got {v}"),
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

impl LiveConfig {
    /// Parses and validates the TOML text.
    pub fn from_toml(text: &str) -> Result<LiveConfig, ConfigError> {
        let c: LiveConfig = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            cerr("config", msg)
        })?;
        c.sources()?;
        Ok(c)
    }

    /// Reads a config file.
    pub fn from_file(path: &std::path::Path) -> Result<LiveConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| cerr(path.display().to_string(), e.to_string()))?;
        Self::from_toml(&text)
    }

    /// The staleness limit.
    pub fn stale_after(&self) -> Result<Duration, ConfigError> {
        secs("stale_after_secs", self.stale_after_secs, 0.05, 3600.0)
    }

    /// The account streams to run, validated; keys are read from the named environment
    /// variables now (an unset variable is an error naming the field and the variable).
    pub fn account_sources(&self) -> Result<Vec<crate::account::AnyAccountSource>, ConfigError> {
        use intermargin_model::Venue;
        use intermargin_venues::fetch::{env_vars, Credentials, FetchConfig, Fetcher};
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let f = |k: &str| format!("accounts[{i}].{k}");
            let venue = match a.venue.as_str() {
                "binance" => Venue::Binance,
                "deribit" => Venue::Deribit,
                "okx" => Venue::Okx,
                "bybit" => Venue::Bybit,
                other => {
                    return Err(cerr(
                        f("venue"),
                        format!(
                        "account streams exist for binance, deribit, okx and bybit, got {other:?}"
                    ),
                    ))
                }
            };
            let only = |field: &str, given: bool, v: &str| {
                if given {
                    Err(cerr(
                        f(field),
                        format!("applies to {v} account streams only"),
                    ))
                } else {
                    Ok(())
                }
            };
            if venue != Venue::Binance {
                only("keepalive_secs", a.keepalive_secs.is_some(), "binance")?;
            }
            if venue != Venue::Deribit {
                only("currencies", a.currencies.is_some(), "deribit")?;
                only("heartbeat_secs", a.heartbeat_secs.is_some(), "deribit")?;
            }
            if venue != Venue::Okx {
                only("passphrase_env", a.passphrase_env.is_some(), "okx")?;
            }
            if !matches!(venue, Venue::Okx | Venue::Bybit) {
                only("ping_secs", a.ping_secs.is_some(), "okx and bybit")?;
            }
            if a.account.trim().is_empty() || !seen.insert(a.account.clone()) {
                return Err(cerr(f("account"), "empty or used twice"));
            }
            let (dk, ds, dx) = env_vars(venue).ok_or_else(|| cerr(f("venue"), "no fetcher"))?;
            let key_var = a.key_env.clone().unwrap_or_else(|| dk.to_string());
            let secret_var = a
                .secret_env
                .clone()
                .unwrap_or_else(|| ds.unwrap_or_default().to_string());
            let read = |field: &str, var: &str| {
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| cerr(f(field), format!("environment variable {var} is not set")))
            };
            let extra = match (venue, dx) {
                (Venue::Okx, Some(dx)) => {
                    let var = a.passphrase_env.clone().unwrap_or_else(|| dx.to_string());
                    Some(read("passphrase_env", &var)?)
                }
                _ => None,
            };
            let creds = Credentials {
                key: read("key_env", &key_var)?,
                secret: read("secret_env", &secret_var)?,
                extra,
            };
            let mut fc = FetchConfig::for_venue(venue);
            if let Some(u) = &a.rest_url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(cerr(f("rest_url"), format!("unsupported scheme in {u:?}")));
                }
                fc.base_url = u.trim_end_matches('/').to_string();
            }
            let ws_base = a.ws_url.clone().unwrap_or_else(|| {
                match venue {
                    Venue::Deribit => "wss://www.deribit.com/ws/api/v2",
                    Venue::Okx => "wss://ws.okx.com:8443/ws/v5/private",
                    Venue::Bybit => "wss://stream.bybit.com/v5/private",
                    _ => "wss://fstream.binance.com",
                }
                .to_string()
            });
            if !(ws_base.starts_with("ws://") || ws_base.starts_with("wss://")) {
                return Err(cerr(
                    f("ws_url"),
                    format!("unsupported scheme in {ws_base:?}"),
                ));
            }
            let rest = Fetcher::new(venue, fc, creds.clone())
                .map_err(|e| cerr(f("venue"), e.to_string()))?;
            let reconcile_every = secs(
                &f("reconcile_secs"),
                a.reconcile_secs.unwrap_or(60.0),
                0.05,
                86_400.0,
            )?;
            let backoff = Backoff::new(
                Duration::from_millis(self.reconnect_base_ms),
                Duration::from_millis(self.reconnect_cap_ms),
            );
            if matches!(venue, Venue::Okx | Venue::Bybit) {
                // OKX closes a connection silent for 30 s; Bybit after 10 minutes.
                let max = if venue == Venue::Okx { 29.0 } else { 600.0 };
                let ping_every = secs(&f("ping_secs"), a.ping_secs.unwrap_or(20.0), 0.05, max)?;
                out.push(if venue == Venue::Okx {
                    crate::account::AnyAccountSource::Okx(crate::okx_account::OkxAccountSource {
                        account: a.account.clone(),
                        creds,
                        rest,
                        ws_url: ws_base,
                        ping_every,
                        reconcile_every,
                        backoff,
                    })
                } else {
                    crate::account::AnyAccountSource::Bybit(
                        crate::bybit_account::BybitAccountSource {
                            account: a.account.clone(),
                            creds,
                            rest,
                            ws_url: ws_base,
                            ping_every,
                            reconcile_every,
                            backoff,
                        },
                    )
                });
                continue;
            }
            if venue == Venue::Deribit {
                let currencies = a.currencies.clone().unwrap_or_else(|| vec!["any".into()]);
                if currencies.is_empty()
                    || currencies
                        .iter()
                        .any(|c| c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric()))
                {
                    return Err(cerr(
                        f("currencies"),
                        "a non-empty list of currency codes (BTC, ETH, …) or \"any\"",
                    ));
                }
                let heartbeat_secs = a.heartbeat_secs.unwrap_or(30);
                if !(crate::deribit_account::MIN_HEARTBEAT_SECS..=3600).contains(&heartbeat_secs) {
                    return Err(cerr(
                        f("heartbeat_secs"),
                        format!("{heartbeat_secs} is outside 10..=3600 (Deribit's minimum is 10)"),
                    ));
                }
                out.push(crate::account::AnyAccountSource::Deribit(
                    crate::deribit_account::DeribitAccountSource {
                        account: a.account.clone(),
                        creds,
                        rest,
                        ws_url: ws_base,
                        currencies,
                        heartbeat_secs,
                        reconcile_every,
                        backoff,
                    },
                ));
                continue;
            }
            out.push(crate::account::AnyAccountSource::Binance(
                crate::account::BinanceAccountSource {
                    account: a.account.clone(),
                    rest,
                    ws_base,
                    keepalive: secs(
                        &f("keepalive_secs"),
                        a.keepalive_secs.unwrap_or(1800.0),
                        0.05,
                        3540.0,
                    )?,
                    reconcile_every,
                    backoff,
                },
            ));
        }
        Ok(out)
    }

    /// The sources to run, validated (bounds, addresses, URLs, venue names).
    pub fn sources(&self) -> Result<Vec<Source>, ConfigError> {
        let stale = self.stale_after()?;
        if !(self.divergence_pct.is_finite()
            && self.divergence_pct > 0.0
            && self.divergence_pct < 1.0)
        {
            return Err(cerr(
                "divergence_pct",
                format!("must be a fraction in (0, 1), got {}", self.divergence_pct),
            ));
        }
        if self.batch_ms == 0 || self.batch_ms > 60_000 {
            return Err(cerr("batch_ms", "must be between 1 and 60000"));
        }
        if self.reconnect_base_ms == 0 || self.reconnect_cap_ms < self.reconnect_base_ms {
            return Err(cerr(
                "reconnect_base_ms",
                "must be positive and not above reconnect_cap_ms",
            ));
        }
        if self.sources.is_empty() {
            return Err(cerr("sources", "at least one source is needed"));
        }
        if self.sources.len() > MAX_SOURCES {
            return Err(cerr("sources", format!("at most {MAX_SOURCES} sources")));
        }
        let backoff = Backoff::new(
            Duration::from_millis(self.reconnect_base_ms),
            Duration::from_millis(self.reconnect_cap_ms),
        );
        let mut names = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let f = |k: &str| format!("sources[{i}].{k}");
            let name = s.name.clone().unwrap_or_else(|| s.venue.clone());
            if !names.insert(name.clone()) {
                return Err(cerr(f("name"), format!("{name:?} is used twice")));
            }
            let n =
                s.instruments.len() + s.indices.len() + s.option_families.len() + s.assets.len();
            if n > MAX_INSTRUMENTS {
                return Err(cerr(
                    f("instruments"),
                    format!("at most {MAX_INSTRUMENTS} per source, got {n}"),
                ));
            }
            let stale = match s.stale_after_secs {
                Some(v) => secs(&f("stale_after_secs"), v, 0.05, 3600.0)?,
                None => stale,
            };
            let url = match (&s.url, &s.url_env) {
                (Some(u), None) => Some(u.clone()),
                (None, Some(env)) => Some(std::env::var(env).map_err(|_| {
                    cerr(
                        f("url_env"),
                        format!("environment variable {env} is not set"),
                    )
                })?),
                (None, None) => None,
                (Some(_), Some(_)) => return Err(cerr(f("url"), "give url or url_env, not both")),
            };
            if let Some(u) = &url {
                let ok = if s.venue == "aave" {
                    u.starts_with("http://") || u.starts_with("https://")
                } else {
                    u.starts_with("ws://") || u.starts_with("wss://")
                };
                if !ok {
                    return Err(cerr(f("url"), format!("unsupported scheme in {u:?}")));
                }
            }
            if s.venue == "aave" {
                let url = url.ok_or_else(|| {
                    cerr(f("url"), "Aave needs a JSON-RPC endpoint (url or url_env)")
                })?;
                let oracle = s
                    .oracle
                    .clone()
                    .ok_or_else(|| cerr(f("oracle"), "missing"))?;
                if s.assets.is_empty() {
                    return Err(cerr(f("assets"), "at least one reserve"));
                }
                let assets: Vec<(String, String)> = s
                    .assets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                crate::aave::encode_call(&assets).map_err(|e| cerr(f("assets"), e.to_string()))?;
                crate::aave::encode_call(&[(String::new(), oracle.clone())])
                    .map_err(|_| cerr(f("oracle"), format!("{oracle:?} is not an address")))?;
                let base_unit = s.base_unit.unwrap_or(1e8);
                if !(base_unit.is_finite() && base_unit >= 1.0) {
                    return Err(cerr(f("base_unit"), "must be at least 1"));
                }
                out.push(Source::Aave(AaveSource {
                    name,
                    rpc_url: url,
                    oracle,
                    assets,
                    base_unit,
                    every: secs(&f("poll_secs"), s.poll_secs.unwrap_or(5.0), 0.05, 3600.0)?,
                    stale_after: stale,
                }));
                continue;
            }
            let venue = StreamVenue::parse(&s.venue).ok_or_else(|| {
                cerr(
                    f("venue"),
                    format!("unknown venue {:?} (deribit, binance, okx, bybit, hyperliquid, dydx, aave)", s.venue),
                )
            })?;
            if s.instruments.is_empty() && venue != StreamVenue::Dydx && s.indices.is_empty() {
                return Err(cerr(f("instruments"), "at least one instrument or index"));
            }
            let sub = StreamSubscription {
                instruments: s.instruments.clone(),
                indices: s.indices.clone(),
                option_families: s.option_families.clone(),
                heartbeat_secs: s.heartbeat_secs.unwrap_or(30).clamp(10, 3600),
            };
            let url = match url {
                Some(u) if venue == StreamVenue::Binance && !u.contains("/stream") => {
                    intermargin_venues::stream::binance_combined_url(&u, &sub)
                }
                Some(u) => u,
                None => venue.default_url(&sub),
            };
            let keepalive = match s.keepalive_secs {
                Some(v) => Some(secs(&f("keepalive_secs"), v, 0.01, 3600.0)?),
                None => None,
            };
            out.push(Source::Ws(WsSource {
                name,
                venue,
                url,
                sub,
                stale_after: stale,
                backoff: backoff.clone(),
                keepalive,
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e = LiveConfig::from_toml("[[sources]]\nvenue = \"ftx\"\ninstruments = [\"X\"]\n")
            .unwrap_err();
        assert_eq!(e.field, "sources[0].venue");
        let e = LiveConfig::from_toml(
            "divergence_pct = 2.0\n[[sources]]\nvenue = \"okx\"\ninstruments = [\"X\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "divergence_pct");
        let e = LiveConfig::from_toml(
            "[[sources]]\nvenue = \"aave\"\nurl = \"http://x\"\noracle = \"0x1\"\nassets = { WETH = \"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\" }\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "sources[0].oracle");
        let e = LiveConfig::from_toml(
            "[[sources]]\nvenue = \"okx\"\nurl = \"http://x\"\ninstruments = [\"X\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "sources[0].url");
        let many: String = (0..501).map(|i| format!("\"S{i}\",")).collect();
        let e = LiveConfig::from_toml(&format!(
            "[[sources]]\nvenue = \"okx\"\ninstruments = [{many}]\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "sources[0].instruments");
        let e = LiveConfig::from_toml(
            "bogus = 1\n[[sources]]\nvenue = \"okx\"\ninstruments = [\"X\"]\n",
        )
        .unwrap_err();
        assert!(e.reason.contains("bogus"), "{e}");
    }

    #[test]
    fn account_streams_name_their_fields() {
        let base = "[[sources]]\nvenue = \"okx\"\ninstruments = [\"X\"]\n";
        let c = LiveConfig::from_toml(&format!(
            "{base}[[accounts]]\nvenue = \"hyperliquid\"\naccount = \"a\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.account_sources().err().unwrap().field,
            "accounts[0].venue"
        );
        let c = LiveConfig::from_toml(&format!(
            "{base}[[accounts]]\nvenue = \"binance\"\naccount = \"a\"\nkey_env = \"IM_TEST_SURELY_UNSET_VAR\"\n"
        ))
        .unwrap();
        let e = c.account_sources().err().unwrap();
        assert_eq!(e.field, "accounts[0].key_env");
        assert!(e.reason.contains("IM_TEST_SURELY_UNSET_VAR"), "{e}");
    }

    #[test]
    fn deribit_account_streams_name_their_fields() {
        let base = "[[sources]]\nvenue = \"okx\"\ninstruments = [\"X\"]\n[[accounts]]\nvenue = \"deribit\"\naccount = \"d\"\n";
        let err = |extra: &str| {
            LiveConfig::from_toml(&format!("{base}{extra}"))
                .unwrap()
                .account_sources()
                .err()
                .unwrap()
        };
        let e = err("key_env = \"IM_TEST_SURELY_UNSET_VAR\"\n");
        assert_eq!(e.field, "accounts[0].key_env");
        assert!(e.reason.contains("IM_TEST_SURELY_UNSET_VAR"), "{e}");
        assert_eq!(
            err("keepalive_secs = 60\n").field,
            "accounts[0].keepalive_secs"
        );
        // PATH is set wherever cargo runs tests: the credentials are read, the rest checked.
        let keys = "key_env = \"PATH\"\nsecret_env = \"PATH\"\n";
        assert_eq!(
            err(&format!("{keys}heartbeat_secs = 5\n")).field,
            "accounts[0].heartbeat_secs"
        );
        assert_eq!(
            err(&format!("{keys}currencies = [\"BTC\", \"a.b\"]\n")).field,
            "accounts[0].currencies"
        );
        let ok = LiveConfig::from_toml(&format!("{base}{keys}currencies = [\"BTC\"]\n"))
            .unwrap()
            .account_sources()
            .unwrap();
        let crate::account::AnyAccountSource::Deribit(d) = &ok[0] else {
            panic!("not a deribit source")
        };
        assert_eq!(d.ws_url, "wss://www.deribit.com/ws/api/v2");
        assert_eq!(d.heartbeat_secs, 30);
        assert_eq!(
            d.channels(),
            ["user.portfolio.btc", "user.changes.any.btc.raw"]
        );
        let binance = "[[sources]]\nvenue = \"okx\"\ninstruments = [\"X\"]\n[[accounts]]\nvenue = \"binance\"\naccount = \"b\"\ncurrencies = [\"BTC\"]\n";
        assert_eq!(
            LiveConfig::from_toml(binance)
                .unwrap()
                .account_sources()
                .err()
                .unwrap()
                .field,
            "accounts[0].currencies"
        );
    }

    #[test]
    fn okx_and_bybit_account_streams_name_their_fields() {
        let src = "[[sources]]\nvenue = \"okx\"\ninstruments = [\"X\"]\n";
        let err = |venue: &str, extra: &str| {
            LiveConfig::from_toml(&format!(
                "{src}[[accounts]]\nvenue = \"{venue}\"\naccount = \"a\"\n{extra}"
            ))
            .unwrap()
            .account_sources()
            .err()
            .unwrap()
        };
        // PATH is set wherever cargo runs tests: the credentials are read, the rest checked.
        let keys = "key_env = \"PATH\"\nsecret_env = \"PATH\"\n";
        let e = err(
            "okx",
            &format!("{keys}passphrase_env = \"IM_TEST_SURELY_UNSET_VAR\"\n"),
        );
        assert_eq!(e.field, "accounts[0].passphrase_env");
        assert!(e.reason.contains("IM_TEST_SURELY_UNSET_VAR"), "{e}");
        let okx = format!("{keys}passphrase_env = \"PATH\"\n");
        // (venue, credentials, the offending line, the field it must be named by)
        let cases = [
            ("okx", okx.as_str(), "ping_secs = 30", "ping_secs"),
            ("okx", okx.as_str(), "heartbeat_secs = 30", "heartbeat_secs"),
            ("okx", okx.as_str(), "keepalive_secs = 30", "keepalive_secs"),
            ("bybit", keys, "passphrase_env = \"PATH\"", "passphrase_env"),
            ("bybit", keys, "ping_secs = 0", "ping_secs"),
            ("bybit", keys, "ws_url = \"http://x\"", "ws_url"),
            ("deribit", keys, "ping_secs = 5", "ping_secs"),
        ];
        for (venue, creds, line, field) in cases {
            let e = err(venue, &format!("{creds}{line}\n"));
            assert_eq!(e.field, format!("accounts[0].{field}"), "{venue}: {line}");
        }
        let ok = |venue: &str, extra: &str| {
            LiveConfig::from_toml(&format!(
                "{src}[[accounts]]\nvenue = \"{venue}\"\naccount = \"a\"\n{extra}"
            ))
            .unwrap()
            .account_sources()
            .unwrap()
            .remove(0)
        };
        let crate::account::AnyAccountSource::Okx(o) = ok("okx", &okx) else {
            panic!("not an okx source")
        };
        assert_eq!(o.ws_url, "wss://ws.okx.com:8443/ws/v5/private");
        assert_eq!(o.ping_every, Duration::from_secs(20));
        assert!(o.creds.extra.is_some());
        let crate::account::AnyAccountSource::Bybit(b) = ok("bybit", keys) else {
            panic!("not a bybit source")
        };
        assert_eq!(b.ws_url, "wss://stream.bybit.com/v5/private");
        assert_eq!(b.ping_every, Duration::from_secs(20));
    }

    #[test]
    fn the_shipped_example_parses() {
        let c = LiveConfig::from_toml(include_str!("../../../examples/live/live.toml")).unwrap();
        let names: Vec<String> = c
            .sources()
            .unwrap()
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        assert_eq!(names, ["deribit", "binance", "okx"]);
    }

    #[test]
    fn binance_base_url_becomes_the_combined_stream() {
        let c = LiveConfig::from_toml(
            "[[sources]]\nvenue = \"binance\"\nurl = \"ws://127.0.0.1:9\"\ninstruments = [\"BTCUSDT\"]\n",
        )
        .unwrap();
        let Source::Ws(s) = &c.sources().unwrap()[0] else {
            panic!()
        };
        assert_eq!(
            s.url,
            "ws://127.0.0.1:9/stream?streams=btcusdt@markPrice@1s"
        );
    }
}
