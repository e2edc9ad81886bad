//! Live fetch: one [`Fetcher`] per venue pulls a user's own positions, balances and the market
//! data the adapters read, signing requests the way each venue documents it ([`sign`]).
//!
//! * Credentials come from environment variables ([`Credentials::from_env`]); they never appear
//!   in `Debug` output or error messages.
//! * Every request has a timeout; HTTP 429 and 5xx answers and transport failures are retried
//!   with exponential backoff (honouring `Retry-After` seconds), other 4xx answers fail at once.
//! * A fetch returns the raw payloads ([`crate::Payload`]), so the same adapters parse live data
//!   and saved files; [`Fetcher::snapshot`] does both steps.
//!
//! Aave has no HTTP API (its state is read with `eth_call` against a node), so it has no fetcher:
//! save the view-call results as JSON and import them.

pub mod sign;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use intermargin_model::{Snapshot, Venue};
use serde_json::Value;

use crate::error::VenueError;
use crate::{import, ImportOptions, Payload};

/// Where and how patiently to talk to a venue.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Base URL without a trailing slash (`https://fapi.binance.com`).
    pub base_url: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Retries after the first attempt on 429, 5xx and transport errors.
    pub max_retries: u32,
    /// First backoff delay; doubles on each retry.
    pub backoff: Duration,
    /// Validity window sent to Binance (`recvWindow`) and Bybit (`X-BAPI-RECV-WINDOW`), ms.
    pub recv_window_ms: u64,
}

impl FetchConfig {
    /// Production endpoint and conservative defaults for `venue`.
    pub fn for_venue(venue: Venue) -> Self {
        let base = match venue {
            Venue::Deribit => "https://www.deribit.com",
            Venue::Binance => "https://fapi.binance.com",
            Venue::Okx => "https://www.okx.com",
            Venue::Bybit => "https://api.bybit.com",
            Venue::Dydx => "https://indexer.dydx.trade",
            Venue::Hyperliquid => "https://api.hyperliquid.xyz",
            _ => "",
        };
        FetchConfig {
            base_url: base.to_string(),
            timeout: Duration::from_secs(10),
            max_retries: 4,
            backoff: Duration::from_millis(250),
            recv_window_ms: 5000,
        }
    }
}

/// API credentials (or, for dYdX and Hyperliquid, the public account address).
#[derive(Clone, Default)]
pub struct Credentials {
    /// API key, Deribit client id, or account address.
    pub key: String,
    /// API secret or Deribit client secret (empty for address-only venues).
    pub secret: String,
    /// OKX passphrase; dYdX subaccount number.
    pub extra: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("extra", &self.extra.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Environment variables each venue's fetcher reads: (key, secret, extra).
pub fn env_vars(
    venue: Venue,
) -> Option<(&'static str, Option<&'static str>, Option<&'static str>)> {
    Some(match venue {
        Venue::Binance => ("BINANCE_API_KEY", Some("BINANCE_API_SECRET"), None),
        Venue::Okx => (
            "OKX_API_KEY",
            Some("OKX_API_SECRET"),
            Some("OKX_API_PASSPHRASE"),
        ),
        Venue::Bybit => ("BYBIT_API_KEY", Some("BYBIT_API_SECRET"), None),
        Venue::Deribit => ("DERIBIT_CLIENT_ID", Some("DERIBIT_CLIENT_SECRET"), None),
        Venue::Dydx => ("DYDX_ADDRESS", None, None),
        Venue::Hyperliquid => ("HYPERLIQUID_ADDRESS", None, None),
        _ => return None,
    })
}

impl Credentials {
    /// Reads the venue's variables (see [`env_vars`]) from the process environment.
    pub fn from_env(venue: Venue) -> Result<Self, VenueError> {
        Self::from_lookup(venue, |k| std::env::var(k).ok())
    }

    /// Reads the venue's variables through `get` (testable without touching the environment).
    pub fn from_lookup(
        venue: Venue,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, VenueError> {
        let (k, s, x) = env_vars(venue)
            .ok_or_else(|| VenueError::Unsupported(format!("no live fetcher for {venue}")))?;
        let need = |var: &str| {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| VenueError::MissingCredential {
                    venue,
                    var: var.to_string(),
                })
        };
        let key = need(k)?;
        let secret = match s {
            Some(v) => need(v)?,
            None => String::new(),
        };
        let extra = match x {
            Some(v) => Some(need(v)?),
            None if venue == Venue::Dydx => get("DYDX_SUBACCOUNT"),
            None => None,
        };
        Ok(Credentials { key, secret, extra })
    }
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Pulls one account's data from one venue.
#[derive(Clone)]
pub struct Fetcher {
    venue: Venue,
    cfg: FetchConfig,
    creds: Credentials,
    client: reqwest::Client,
    clock: Clock,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A request to send: method, path with query, headers, body.
struct Req {
    method: reqwest::Method,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Req {
    fn get(path_and_query: impl Into<String>) -> Self {
        Req {
            method: reqwest::Method::GET,
            path_and_query: path_and_query.into(),
            headers: Vec::new(),
            body: None,
        }
    }
}

impl Fetcher {
    /// A fetcher for `venue` with explicit configuration and credentials.
    pub fn new(venue: Venue, cfg: FetchConfig, creds: Credentials) -> Result<Self, VenueError> {
        if env_vars(venue).is_none() {
            return Err(VenueError::Unsupported(format!(
                "no live fetcher for {venue}: {}",
                if venue == Venue::Aave {
                    "Aave state is read with eth_call; import the view-call results instead"
                } else {
                    "not supported"
                }
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent(concat!("intermargin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VenueError::Http {
                venue,
                url: cfg.base_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Fetcher {
            venue,
            cfg,
            creds,
            client,
            clock: Arc::new(now_ms),
        })
    }

    /// A fetcher configured from the environment: credentials per [`env_vars`], and an optional
    /// `INTERMARGIN_<VENUE>_URL` overriding the base URL (e.g. a testnet).
    pub fn from_env(venue: Venue) -> Result<Self, VenueError> {
        let mut cfg = FetchConfig::for_venue(venue);
        let var = format!("INTERMARGIN_{}_URL", venue.as_str().to_uppercase());
        if let Ok(url) = std::env::var(var) {
            cfg.base_url = url.trim_end_matches('/').to_string();
        }
        Fetcher::new(venue, cfg, Credentials::from_env(venue)?)
    }

    /// Replaces the clock used for request timestamps (UTC ms), for reproducible signatures.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn http_err(&self, url: &str, reason: impl Into<String>) -> VenueError {
        VenueError::Http {
            venue: self.venue,
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    /// Sends the request built by `make` (called again per attempt, so signatures carry a fresh
    /// timestamp), retrying 429/5xx/transport errors with exponential backoff.
    async fn send(&self, make: impl Fn() -> Result<Req, VenueError>) -> Result<String, VenueError> {
        let mut attempt = 0u32;
        loop {
            let req = make()?;
            let url = format!("{}{}", self.cfg.base_url, req.path_and_query);
            // Never echo query strings in errors: Deribit's auth carries the client secret.
            let shown = url.split('?').next().unwrap_or(&url).to_string();
            let mut rb = self.client.request(req.method.clone(), &url);
            for (k, v) in &req.headers {
                rb = rb.header(k, v);
            }
            if let Some(b) = req.body {
                rb = rb.header("Content-Type", "application/json").body(b);
            }
            let retry_after;
            match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    retry_after = resp
                        .headers()
                        .get("Retry-After")
                        .and_then(|h| h.to_str().ok())
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    if status.is_success() {
                        return resp
                            .text()
                            .await
                            .map_err(|e| self.http_err(&shown, format!("reading body: {e}")));
                    }
                    let retryable = status.as_u16() == 429 || status.is_server_error();
                    if !retryable || attempt >= self.cfg.max_retries {
                        let body = resp.text().await.unwrap_or_default();
                        let short: String = body.chars().take(300).collect();
                        return Err(self.http_err(
                            &shown,
                            format!("HTTP {status} after {} attempt(s): {short}", attempt + 1),
                        ));
                    }
                }
                Err(e) => {
                    if attempt >= self.cfg.max_retries {
                        let kind = if e.is_timeout() {
                            "timed out"
                        } else {
                            "failed"
                        };
                        return Err(self.http_err(
                            &shown,
                            format!("{kind} after {} attempt(s): {e}", attempt + 1),
                        ));
                    }
                    retry_after = None;
                }
            }
            let backoff = self
                .cfg
                .backoff
                .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX));
            tokio::time::sleep(retry_after.unwrap_or(backoff).min(Duration::from_secs(60))).await;
            attempt += 1;
        }
    }

    fn binance_signed(&self, path: &str, params: &str) -> Result<Req, VenueError> {
        let ts = (self.clock)();
        let mut q = String::new();
        if !params.is_empty() {
            q.push_str(params);
            q.push('&');
        }
        q.push_str(&format!(
            "recvWindow={}&timestamp={ts}",
            self.cfg.recv_window_ms
        ));
        let sig = sign::binance_signature(&self.creds.secret, &q)?;
        let mut r = Req::get(format!("{path}?{q}&signature={sig}"));
        r.headers
            .push(("X-MBX-APIKEY".to_string(), self.creds.key.clone()));
        Ok(r)
    }

    fn okx_signed(&self, path_and_query: &str) -> Result<Req, VenueError> {
        let ts = sign::okx_timestamp((self.clock)())?;
        let sig = sign::okx_signature(&self.creds.secret, &ts, "GET", path_and_query, "")?;
        let mut r = Req::get(path_and_query);
        r.headers.extend([
            ("OK-ACCESS-KEY".to_string(), self.creds.key.clone()),
            ("OK-ACCESS-SIGN".to_string(), sig),
            ("OK-ACCESS-TIMESTAMP".to_string(), ts),
            (
                "OK-ACCESS-PASSPHRASE".to_string(),
                self.creds.extra.clone().unwrap_or_default(),
            ),
        ]);
        Ok(r)
    }

    fn bybit_signed(&self, path: &str, query: &str) -> Result<Req, VenueError> {
        let ts = (self.clock)();
        let rw = self.cfg.recv_window_ms;
        let sig = sign::bybit_signature(&self.creds.secret, ts, &self.creds.key, rw, query)?;
        let mut r = Req::get(format!("{path}?{query}"));
        r.headers.extend([
            ("X-BAPI-API-KEY".to_string(), self.creds.key.clone()),
            ("X-BAPI-SIGN".to_string(), sig),
            ("X-BAPI-TIMESTAMP".to_string(), ts.to_string()),
            ("X-BAPI-RECV-WINDOW".to_string(), rw.to_string()),
        ]);
        Ok(r)
    }

    /// Binance USDⓈ-M user-data stream key: `POST /fapi/v1/listenKey` (a new key, or the active
    /// one with its validity extended to 60 minutes) when `keep_alive` is false, `PUT` (extend
    /// the active key) when true; both carry only the `X-MBX-APIKEY` header (USER_STREAM
    /// security). Returns the key the venue answered (`PUT` answers it too; empty if not).
    pub async fn binance_listen_key(&self, keep_alive: bool) -> Result<String, VenueError> {
        if self.venue != Venue::Binance {
            return Err(VenueError::Unsupported(format!(
                "listen keys are Binance's; this fetcher is for {}",
                self.venue
            )));
        }
        let path = "/fapi/v1/listenKey";
        let text = self
            .send(|| {
                let mut r = Req::get(path);
                r.method = if keep_alive {
                    reqwest::Method::PUT
                } else {
                    reqwest::Method::POST
                };
                r.headers
                    .push(("X-MBX-APIKEY".to_string(), self.creds.key.clone()));
                Ok(r)
            })
            .await?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| self.http_err(path, format!("not JSON: {e}")))?;
        match v.get("listenKey").and_then(Value::as_str) {
            Some(k) if !k.is_empty() => Ok(k.to_string()),
            _ if keep_alive => Ok(String::new()),
            _ => Err(self.http_err(path, format!("no listenKey in the answer: {v}"))),
        }
    }

    /// Fetches the payloads the venue's adapter reads, named after their endpoints.
    pub async fn fetch(&self) -> Result<Vec<Payload>, VenueError> {
        let mut out = Vec::new();
        match self.venue {
            Venue::Binance => {
                for path in [
                    "/fapi/v3/account",
                    "/fapi/v3/positionRisk",
                    "/fapi/v1/leverageBracket",
                ] {
                    let text = self.send(|| self.binance_signed(path, "")).await?;
                    out.push(Payload::named(path, text));
                }
            }
            Venue::Okx => {
                for path in ["/api/v5/account/positions", "/api/v5/account/balance"] {
                    let text = self.send(|| self.okx_signed(path)).await?;
                    out.push(Payload::named(path, text));
                }
            }
            Venue::Bybit => {
                for (path, q) in [
                    ("/v5/position/list", "category=linear&settleCoin=USDT"),
                    ("/v5/position/list", "category=inverse"),
                    ("/v5/account/wallet-balance", "accountType=UNIFIED"),
                ] {
                    let text = self.send(|| self.bybit_signed(path, q)).await?;
                    out.push(Payload::named(format!("{path}?{q}"), text));
                }
            }
            Venue::Deribit => out = self.fetch_deribit().await?,
            Venue::Dydx => {
                let n = self.creds.extra.clone().unwrap_or_else(|| "0".to_string());
                let path = format!("/v4/addresses/{}/subaccountNumber/{n}", self.creds.key);
                let text = self.send(|| Ok(Req::get(path.clone()))).await?;
                out.push(Payload::named(path.clone(), text));
                let text = self.send(|| Ok(Req::get("/v4/perpetualMarkets"))).await?;
                out.push(Payload::named("/v4/perpetualMarkets", text));
            }
            Venue::Hyperliquid => {
                for body in [
                    serde_json::json!({"type": "clearinghouseState", "user": self.creds.key}),
                    serde_json::json!({"type": "metaAndAssetCtxs"}),
                ] {
                    let b = body.to_string();
                    let text = self
                        .send(|| {
                            Ok(Req {
                                method: reqwest::Method::POST,
                                path_and_query: "/info".to_string(),
                                headers: Vec::new(),
                                body: Some(b.clone()),
                            })
                        })
                        .await?;
                    out.push(Payload::named(
                        format!("/info {}", body["type"].as_str().unwrap_or("")),
                        text,
                    ));
                }
            }
            other => {
                return Err(VenueError::Unsupported(format!(
                    "no live fetcher for {other}"
                )))
            }
        }
        Ok(out)
    }

    /// Deribit: `public/auth` with `grant_type=client_credentials`, then the private calls with
    /// the bearer token, then `public/ticker` for every option held (Greeks and mark IV).
    async fn fetch_deribit(&self) -> Result<Vec<Payload>, VenueError> {
        let auth_path = format!(
            "/api/v2/public/auth?grant_type=client_credentials&client_id={}&client_secret={}",
            url_encode(&self.creds.key),
            url_encode(&self.creds.secret)
        );
        let text = self.send(|| Ok(Req::get(auth_path.clone()))).await?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| self.http_err("/api/v2/public/auth", format!("not JSON: {e}")))?;
        let token = v
            .pointer("/result/access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                self.http_err(
                    "/api/v2/public/auth",
                    format!(
                        "no result.access_token in the answer: {}",
                        v.get("error").cloned().unwrap_or(Value::Null)
                    ),
                )
            })?
            .to_string();
        let bearer = format!("Bearer {token}");
        let private = |path: &str| {
            let mut r = Req::get(path);
            r.headers
                .push(("Authorization".to_string(), bearer.clone()));
            r
        };
        let mut out = Vec::new();
        let pos_path = "/api/v2/private/get_positions?currency=any";
        let positions = self.send(|| Ok(private(pos_path))).await?;
        let held_options: Vec<String> = serde_json::from_str::<Value>(&positions)
            .ok()
            .and_then(|v| v.get("result").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter(|p| p.get("kind").and_then(Value::as_str) == Some("option"))
            .filter(|p| {
                p.get("size")
                    .and_then(Value::as_f64)
                    .is_some_and(|s| s != 0.0)
            })
            .filter_map(|p| p.get("instrument_name").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        out.push(Payload::named(pos_path, positions));
        let sum_path = "/api/v2/private/get_account_summaries";
        let sums = self.send(|| Ok(private(sum_path))).await?;
        out.push(Payload::named(sum_path, sums));
        for name in held_options {
            let path = format!(
                "/api/v2/public/ticker?instrument_name={}",
                url_encode(&name)
            );
            let text = self.send(|| Ok(Req::get(path.clone()))).await?;
            out.push(Payload::named(path, text));
        }
        Ok(out)
    }

    /// Fetches and imports into one validated snapshot.
    pub async fn snapshot(&self, opts: &ImportOptions) -> Result<Snapshot, VenueError> {
        let payloads = self.fetch().await?;
        import(self.venue, &payloads, opts)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_name_the_missing_variable_and_never_print_secrets() {
        let e = Credentials::from_lookup(Venue::Okx, |k| {
            (k != "OKX_API_PASSPHRASE").then(|| "v".to_string())
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "okx: missing credential: environment variable OKX_API_PASSPHRASE is not set"
        );
        let c = Credentials::from_lookup(Venue::Binance, |k| Some(format!("{k}-value"))).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("BINANCE_API_KEY-value"));
        assert!(!dbg.contains("BINANCE_API_SECRET-value"));
        assert!(Fetcher::new(Venue::Aave, FetchConfig::for_venue(Venue::Aave), c).is_err());
    }

    #[test]
    fn url_encoding_keeps_unreserved_characters() {
        assert_eq!(url_encode("BTC-27JUN25-100000-C"), "BTC-27JUN25-100000-C");
        assert_eq!(url_encode("a b/+="), "a%20b%2F%2B%3D");
    }
}
