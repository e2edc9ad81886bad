//! Live fetchers against a local HTTP server that replays the test payloads and checks each
//! request's authentication the way the venue would.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use intermargin_model::Venue;
use intermargin_venues::fetch::{sign, Credentials, FetchConfig, Fetcher};
use intermargin_venues::{ImportOptions, VenueError};

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(rel),
    )
    .unwrap()
}

#[derive(Clone, Default)]
struct Counters {
    hits: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

impl Counters {
    fn hit(&self, k: &str) -> usize {
        let mut m = self.hits.lock().unwrap();
        let c = m.entry(k.to_string()).or_insert(0);
        *c += 1;
        *c
    }
    fn get(&self, k: &str) -> usize {
        self.hits.lock().unwrap().get(k).copied().unwrap_or(0)
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

fn cfg(base: String) -> FetchConfig {
    FetchConfig {
        base_url: base,
        timeout: Duration::from_millis(500),
        max_retries: 3,
        backoff: Duration::from_millis(5),
        recv_window_ms: 5000,
    }
}

fn creds(key: &str, secret: &str, extra: Option<&str>) -> Credentials {
    Credentials {
        key: key.into(),
        secret: secret.into(),
        extra: extra.map(str::to_string),
    }
}

fn json(body: String) -> Response {
    ([("content-type", "application/json")], body).into_response()
}

// ---------------------------------------------------------------- Binance

async fn binance(State(c): State<Counters>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let n = c.hit(&path);
    if path == "/fapi/v3/positionRisk" && n == 1 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "{\"code\":-1003,\"msg\":\"Too many requests\"}",
        )
            .into_response();
    }
    if headers.get("X-MBX-APIKEY").and_then(|v| v.to_str().ok()) != Some("bkey") {
        return (
            StatusCode::UNAUTHORIZED,
            "{\"code\":-2015,\"msg\":\"bad key\"}",
        )
            .into_response();
    }
    // The server checks the signature over the query exactly as received.
    let q = uri.query().unwrap_or("");
    let Some((signed, sig)) = q.rsplit_once("&signature=") else {
        return (
            StatusCode::BAD_REQUEST,
            "{\"code\":-1102,\"msg\":\"no signature\"}",
        )
            .into_response();
    };
    if sign::binance_signature("bsecret", signed).unwrap() != sig
        || !signed.ends_with("recvWindow=5000&timestamp=1700000000000")
    {
        return (
            StatusCode::BAD_REQUEST,
            "{\"code\":-1022,\"msg\":\"Signature invalid\"}",
        )
            .into_response();
    }
    let file = match path.as_str() {
        "/fapi/v3/account" => "binance/fapi_v3_account.json",
        "/fapi/v3/positionRisk" => "binance/fapi_v3_positionRisk.json",
        "/fapi/v1/leverageBracket" => "binance/fapi_v1_leverageBracket.json",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    json(fixture(file))
}

#[tokio::test]
async fn binance_fetch_signs_queries_and_retries_a_429() {
    let c = Counters::default();
    let app = Router::new().fallback(binance).with_state(c.clone());
    let base = serve(app).await;
    let f = Fetcher::new(Venue::Binance, cfg(base), creds("bkey", "bsecret", None))
        .unwrap()
        .with_clock(|| 1_700_000_000_000);
    let snap = f.snapshot(&ImportOptions::default()).await.unwrap();
    assert_eq!(c.get("/fapi/v3/positionRisk"), 2, "429 then 200");
    let syms: Vec<_> = snap.portfolio.accounts[0]
        .positions
        .iter()
        .map(|p| p.instrument.symbol.clone())
        .collect();
    assert_eq!(syms, vec!["BTCUSDT", "ADAUSDT"]);
    assert!(snap.market.venue_params.contains_key("binance:ETHUSDT"));

    // a wrong secret is a 400 from the venue: reported, not retried
    let base = serve(
        Router::new()
            .fallback(binance)
            .with_state(Counters::default()),
    )
    .await;
    let f = Fetcher::new(Venue::Binance, cfg(base), creds("bkey", "wrong", None))
        .unwrap()
        .with_clock(|| 1_700_000_000_000);
    let e = f.fetch().await.unwrap_err().to_string();
    assert!(
        e.contains("HTTP 400") && e.contains("Signature invalid") && e.contains("1 attempt"),
        "{e}"
    );
}

// ---------------------------------------------------------------- OKX

async fn okx(State(c): State<Counters>, uri: Uri, headers: HeaderMap) -> Response {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let n = c.hit(uri.path());
    if n == 1 && uri.path() == "/api/v5/account/balance" {
        return (StatusCode::BAD_GATEWAY, "upstream").into_response();
    }
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let ts = h("OK-ACCESS-TIMESTAMP");
    let expect = sign::okx_signature("osecret", &ts, "GET", &pq, "").unwrap();
    if h("OK-ACCESS-KEY") != "okey"
        || h("OK-ACCESS-PASSPHRASE") != "opass"
        || h("OK-ACCESS-SIGN") != expect
        || ts != "2023-11-14T22:13:20.000Z"
    {
        return json("{\"code\":\"50113\",\"msg\":\"Invalid Sign\",\"data\":[]}".into());
    }
    match uri.path() {
        "/api/v5/account/positions" => json(fixture("okx/account_positions.json")),
        "/api/v5/account/balance" => json(fixture("okx/account_balance.json")),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[tokio::test]
async fn okx_fetch_sends_base64_hmac_headers_and_retries_a_502() {
    let c = Counters::default();
    let base = serve(Router::new().fallback(okx).with_state(c.clone())).await;
    let f = Fetcher::new(
        Venue::Okx,
        cfg(base),
        creds("okey", "osecret", Some("opass")),
    )
    .unwrap()
    .with_clock(|| 1_700_000_000_000);
    let snap = f.snapshot(&ImportOptions::default()).await.unwrap();
    assert_eq!(c.get("/api/v5/account/balance"), 2);
    assert_eq!(snap.portfolio.accounts[0].positions.len(), 1);

    // the venue's error envelope (code != "0") surfaces as a venue error
    let base = serve(Router::new().fallback(okx).with_state(Counters::default())).await;
    let f = Fetcher::new(Venue::Okx, cfg(base), creds("okey", "bad", Some("opass")))
        .unwrap()
        .with_clock(|| 1_700_000_000_000);
    let e = f.snapshot(&ImportOptions::default()).await.unwrap_err();
    assert!(matches!(e, VenueError::VenueReported { .. }), "{e}");
    assert!(e.to_string().contains("Invalid Sign"));
}

// ---------------------------------------------------------------- Bybit

async fn bybit(uri: Uri, headers: HeaderMap) -> Response {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let q = uri.query().unwrap_or("");
    let ts: i64 = h("X-BAPI-TIMESTAMP").parse().unwrap_or(0);
    let expect = sign::bybit_signature("ysecret", ts, "ykey", 5000, q).unwrap();
    if h("X-BAPI-API-KEY") != "ykey"
        || h("X-BAPI-RECV-WINDOW") != "5000"
        || h("X-BAPI-SIGN") != expect
    {
        return json(
            "{\"retCode\":10004,\"retMsg\":\"error sign!\",\"result\":{},\"time\":1}".into(),
        );
    }
    match (uri.path(), q) {
        ("/v5/position/list", "category=inverse") => json(fixture("bybit/v5_position_list_inverse.json")),
        ("/v5/position/list", _) => json(
            "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"list\":[],\"category\":\"linear\",\"nextPageCursor\":\"\"},\"time\":1697684980172}".into(),
        ),
        ("/v5/account/wallet-balance", _) => json(fixture("bybit/v5_account_wallet_balance.json")),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[tokio::test]
async fn bybit_fetch_signs_with_v5_headers() {
    let base = serve(Router::new().fallback(bybit)).await;
    let f = Fetcher::new(Venue::Bybit, cfg(base), creds("ykey", "ysecret", None))
        .unwrap()
        .with_clock(|| 1_700_000_000_000);
    let snap = f.snapshot(&ImportOptions::default()).await.unwrap();
    let p = &snap.portfolio.accounts[0].positions[0];
    assert_eq!((p.instrument.symbol.as_str(), p.size), ("BTCUSD", -300.0));
}

// ---------------------------------------------------------------- Deribit

async fn deribit_auth(Query(q): Query<HashMap<String, String>>) -> Response {
    let ok = q.get("grant_type").map(String::as_str) == Some("client_credentials")
        && q.get("client_id").map(String::as_str) == Some("fo7WAPRm4P")
        && q.get("client_secret").map(String::as_str) == Some("W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS");
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":13004,\"message\":\"invalid_credentials\"}}",
        )
            .into_response();
    }
    json("{\"jsonrpc\":\"2.0\",\"id\":9929,\"result\":{\"access_token\":\"1582628593469.1MbQ-J_4\",\"expires_in\":31536000,\"refresh_token\":\"1582628593469.1GP4rQd0\",\"scope\":\"connection mainaccount\",\"token_type\":\"bearer\"}}".into())
}

fn bearer_ok(h: &HeaderMap) -> bool {
    h.get("Authorization").and_then(|v| v.to_str().ok()) == Some("Bearer 1582628593469.1MbQ-J_4")
}

#[tokio::test]
async fn deribit_fetch_uses_client_credentials_and_fetches_option_tickers() {
    let tickers = Arc::new(AtomicUsize::new(0));
    let t2 = tickers.clone();
    let app = Router::new()
        .route("/api/v2/public/auth", get(deribit_auth))
        .route(
            "/api/v2/private/get_positions",
            get(|h: HeaderMap| async move {
                if !bearer_ok(&h) {
                    return (StatusCode::UNAUTHORIZED, "{}").into_response();
                }
                json(fixture("deribit/private_get_positions_options.json"))
            }),
        )
        .route(
            "/api/v2/private/get_account_summaries",
            get(|h: HeaderMap| async move {
                if !bearer_ok(&h) {
                    return (StatusCode::UNAUTHORIZED, "{}").into_response();
                }
                json(fixture("deribit/private_get_account_summaries.json"))
            }),
        )
        .route(
            "/api/v2/public/ticker",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let t2 = t2.clone();
                async move {
                    assert_eq!(q["instrument_name"], "BTC-27JUN25-100000-C");
                    t2.fetch_add(1, Ordering::SeqCst);
                    json(fixture("deribit/public_ticker_option.json"))
                }
            }),
        );
    let base = serve(app).await;
    // client id and secret from Deribit's public/auth documentation example
    let f = Fetcher::new(
        Venue::Deribit,
        cfg(base.clone()),
        creds("fo7WAPRm4P", "W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS", None),
    )
    .unwrap();
    let snap = f.snapshot(&ImportOptions::default()).await.unwrap();
    assert_eq!(tickers.load(Ordering::SeqCst), 1);
    assert_eq!(snap.portfolio.accounts[0].positions.len(), 3);
    assert_eq!(snap.market.mark_ivs["deribit:BTC-27JUN25-100000-C"], 0.5823);

    let f = Fetcher::new(Venue::Deribit, cfg(base), creds("fo7WAPRm4P", "nope", None)).unwrap();
    let e = f.fetch().await.unwrap_err().to_string();
    assert!(
        e.contains("HTTP 400") && !e.contains("nope"),
        "secret must not leak: {e}"
    );
}

// ---------------------------------------------------------------- public venues, retries, timeouts

#[tokio::test]
async fn dydx_and_hyperliquid_public_fetches() {
    let app = Router::new()
        .route(
            "/v4/addresses/{addr}/subaccountNumber/{n}",
            get(|uri: Uri| async move {
                assert!(uri
                    .path()
                    .ends_with("/dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4/subaccountNumber/0"));
                json(fixture("dydx/v4_addresses_subaccountNumber_0.json"))
            }),
        )
        .route(
            "/v4/perpetualMarkets",
            get(|| async { json(fixture("dydx/v4_perpetualMarkets.json")) }),
        )
        .route(
            "/info",
            post(|body: Bytes| async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                match v["type"].as_str() {
                    Some("clearinghouseState") => {
                        assert_eq!(v["user"], "0xabc");
                        json(fixture("hyperliquid/info_clearinghouseState.json"))
                    }
                    Some("metaAndAssetCtxs") => {
                        json(fixture("hyperliquid/info_metaAndAssetCtxs.json"))
                    }
                    _ => StatusCode::BAD_REQUEST.into_response(),
                }
            }),
        );
    let base = serve(app).await;
    let d = Fetcher::new(
        Venue::Dydx,
        cfg(base.clone()),
        creds("dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4", "", None),
    )
    .unwrap();
    let s = d.snapshot(&ImportOptions::default()).await.unwrap();
    assert_eq!(s.portfolio.accounts[0].positions.len(), 2);
    let h = Fetcher::new(Venue::Hyperliquid, cfg(base), creds("0xabc", "", None)).unwrap();
    let s = h.snapshot(&ImportOptions::default()).await.unwrap();
    assert_eq!(s.market.mark_prices["hyperliquid:ETH"], 6.0436);
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_configured_retries() {
    let c = Counters::default();
    let app = Router::new()
        .fallback(|State(c): State<Counters>| async move {
            c.hit("x");
            (StatusCode::SERVICE_UNAVAILABLE, "down")
        })
        .with_state(c.clone());
    let base = serve(app).await;
    let f = Fetcher::new(Venue::Dydx, cfg(base), creds("addr", "", None)).unwrap();
    let e = f.fetch().await.unwrap_err().to_string();
    assert_eq!(c.get("x"), 4, "1 attempt + 3 retries");
    assert!(e.contains("HTTP 503") && e.contains("4 attempt"), "{e}");
}

#[tokio::test]
async fn slow_answers_time_out() {
    let app = Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        "late"
    });
    let base = serve(app).await;
    let mut c = cfg(base);
    c.timeout = Duration::from_millis(100);
    c.max_retries = 1;
    let f = Fetcher::new(Venue::Hyperliquid, c, creds("0xabc", "", None)).unwrap();
    let e = f.fetch().await.unwrap_err().to_string();
    assert!(e.contains("timed out after 2 attempt"), "{e}");
}
