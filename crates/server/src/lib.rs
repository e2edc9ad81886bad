//! The intermargin service: a durable event-sourced ledger behind an authenticated
//! HTTP/WebSocket API, a live monitor that re-margins accounts as prices move, and a
//! dashboard served by the same binary.
//!
//! The crate holds no business rule of its own: margin, allocation, liquidation,
//! simulation and proofs are calls into the engine crates ([`risk`]). It owns storage
//! (SQLite embedded by default, PostgreSQL by URL), authentication and per-account
//! isolation, idempotency, and transport.
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod engine;
pub mod error;
pub mod history;
pub mod jobs;
pub mod ledger;
pub mod live;
pub mod monitor;
pub mod risk;
pub mod state;
pub mod worker_reports;
pub mod ws;
pub mod xchain;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use intermargin_model::{Asset, Snapshot};
use tokio::sync::{broadcast, RwLock};
use utoipa::OpenApi;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::ledger::{Ledger, Mutation};
use crate::state::{AppState, Shared};

/// Largest request body accepted (venue payloads included).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The OpenAPI document of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "intermargin", description = "Interoperable margin across venues: ledger, margin, allocation, liquidation, simulation, proofs."),
    paths(
        api::health, api::list_accounts, api::create_account, api::create_key, api::list_keys,
        api::revoke_key, api::rotate_key, api::get_ledger, api::declare_asset,
        api::get_account, api::get_events, api::deposit, api::withdraw, api::transfer, api::put_positions,
        api::get_market, api::get_margin, history::get_history, api::credit, api::get_credits,
        risk::import_positions, risk::get_liquidation, risk::get_reconcile,
        risk::post_whatif,
        engine::get_allocation, engine::get_liquidation_plan, engine::execute_liquidation, engine::start_simulation,
        engine::get_simulation, engine::start_proof, engine::get_proof, engine::verify_proof,
        engine::verify_solvency, xchain::get_xchain,
    ),
    components(schemas(
        api::NewAccount, api::NewKey, api::Movement, api::TransferReq, api::CreditReq, api::PositionsReq, api::AssetReq,
        ledger::Event, history::HistoryPoint, error::ErrorBody, error::ErrorDetail, risk::ImportReq, risk::WhatIfReq, risk::WhatIfTrade,
        engine::SimulationReq, engine::ProofReq, engine::LiquidateReq, engine::VerifyReq, engine::SolvencyVerifyReq,
        jobs::JobView, jobs::Status,
    )),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Connection and request time limits of the HTTP server (slow or idle clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest the server waits for a request's headers, counted from when it starts waiting
    /// for them: on a new connection, and between requests on a kept-alive one. A client that
    /// sends headers slowly (slowloris) or holds a connection idle is disconnected after it.
    pub header_read: std::time::Duration,
    /// Longest one request may take once its headers are in, its body included: past it the
    /// answer is 408 (a client that stalls in the middle of a body). WebSockets are not bounded
    /// by it once upgraded.
    pub request: std::time::Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: std::time::Duration::from_secs(10),
            request: std::time::Duration::from_secs(60),
        }
    }
}

/// The router over a shared state: every route of the service, with the default request timeout.
pub fn app(state: Shared) -> Router {
    app_with(state, Timeouts::default().request)
}

/// The router over a shared state, answering 408 to a request not done within `request_timeout`.
pub fn app_with(state: Shared, request_timeout: std::time::Duration) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/health", get(api::health))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/ws", get(ws::upgrade))
        .route(
            "/api/v1/accounts",
            get(api::list_accounts).post(api::create_account),
        )
        .route("/api/v1/keys", get(api::list_keys).post(api::create_key))
        .route("/api/v1/keys/{key_id}", delete(api::revoke_key))
        .route("/api/v1/keys/{key_id}/rotate", post(api::rotate_key))
        .route("/api/v1/ledger", get(api::get_ledger))
        .route("/api/v1/xchain", get(xchain::get_xchain))
        .route("/api/v1/assets", post(api::declare_asset))
        .route("/api/v1/market", get(api::get_market))
        .route("/api/v1/accounts/{id}", get(api::get_account))
        .route("/api/v1/accounts/{id}/events", get(api::get_events))
        .route("/api/v1/accounts/{id}/deposits", post(api::deposit))
        .route("/api/v1/accounts/{id}/withdrawals", post(api::withdraw))
        .route("/api/v1/accounts/{id}/transfers", post(api::transfer))
        .route(
            "/api/v1/accounts/{id}/credits",
            get(api::get_credits).post(api::credit),
        )
        .route("/api/v1/accounts/{id}/positions", post(api::put_positions))
        .route("/api/v1/accounts/{id}/import", post(risk::import_positions))
        .route("/api/v1/accounts/{id}/margin", get(api::get_margin))
        .route("/api/v1/accounts/{id}/history", get(history::get_history))
        .route("/api/v1/accounts/{id}/reconcile", get(risk::get_reconcile))
        .route("/api/v1/accounts/{id}/whatif", post(risk::post_whatif))
        .route(
            "/api/v1/accounts/{id}/liquidation",
            get(risk::get_liquidation),
        )
        .route(
            "/api/v1/accounts/{id}/liquidation/plan",
            get(engine::get_liquidation_plan),
        )
        .route(
            "/api/v1/accounts/{id}/allocation",
            get(engine::get_allocation),
        )
        .route(
            "/api/v1/accounts/{id}/liquidations",
            post(engine::execute_liquidation),
        )
        .route("/api/v1/accounts/{id}/proofs", post(engine::start_proof))
        .route("/api/v1/accounts/{id}/proofs/{job}", get(engine::get_proof))
        .route("/api/v1/simulations", post(engine::start_simulation))
        .route("/api/v1/simulations/{job}", get(engine::get_simulation))
        .route("/api/v1/proofs/verify", post(engine::verify_proof))
        .route("/api/v1/solvency/verify", post(engine::verify_solvency))
        .route("/plots/{name}", get(dashboard::plot))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_failures_per_address,
        ))
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

/// Counts every 401 against the client's address; past the allowance the answer becomes 429
/// with `Retry-After` (the address is known when served with connect info, as `serve` does).
async fn limit_failures_per_address(
    axum::extract::State(st): axum::extract::State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let addr = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::UNAUTHORIZED {
        if let Some(ip) = addr {
            if let Err(wait) = st.auth.fail(&format!("addr:{ip}")) {
                return ApiError::RateLimited(wait).into_response();
            }
        }
    }
    resp
}

/// How to start the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the embedded database and generated files.
    pub data_dir: PathBuf,
    /// Database URL; `None` means `sqlite://<data_dir>/intermargin.db`.
    pub database: Option<String>,
    /// Admin key to install instead of generating one (from `INTERMARGIN_ADMIN_KEY`).
    pub admin_key: Option<String>,
    /// Price replay file; `None` uses the bundled demo feed.
    pub feed: Option<PathBuf>,
    /// Replay speed multiplier (1 = real time).
    pub feed_speed: f64,
    /// Live feeds config (TOML, `intermargin_live::LiveConfig`): the monitor runs on the venues'
    /// WebSocket feeds instead of the replay (`serve --live`).
    pub live: Option<PathBuf>,
    /// Requests per second allowed per API key (burst = 2 s worth).
    pub rate_limit: f64,
    /// Preload the demo book on an empty ledger.
    pub demo: bool,
    /// Copies of the demo book to preload (load testing); 1 loads it once under its own ids.
    pub demo_copies: usize,
    /// Routes file for allocation plans; `None` uses the bundled hedged-book routes.
    pub routes: Option<PathBuf>,
    /// Run the demo stress simulation and frontier at start so the dashboard has plots.
    pub demo_plots: bool,
    /// Threads for re-margining on price ticks; `None` = one less than the cores (at least 1).
    pub monitor_threads: Option<usize>,
    /// Circuit breakers in the risk lab's format; `None` uses examples/stress/live-breakers.toml.
    pub breakers: Option<PathBuf>,
    /// Header-read (idle connection) and request time limits.
    pub timeouts: Timeouts,
    /// Wall time between two margin-history points of one account (state changes are always
    /// kept); zero keeps every margin update.
    pub history_step: std::time::Duration,
    /// Relative change of an account's figures since its last serialised report beyond which a
    /// tick serialises its report for the `/ws` listeners of every account (see
    /// [`state::MarginFigures::moved`]).
    pub report_threshold: f64,
    /// Most serialised reports kept in memory (the others are built when read).
    pub report_cache: usize,
}

/// Default of [`Config::report_threshold`]: 0.1 % of the account's scale.
pub const DEFAULT_REPORT_THRESHOLD: f64 = 0.001;
/// Default of [`Config::report_cache`].
pub const DEFAULT_REPORT_CACHE: usize = 10_000;

/// The monitor's thread pool: by default it leaves one core to the API.
fn monitor_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, ApiError> {
    let n = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    });
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .thread_name(|i| format!("remargin-{i}"))
        .build()
        .map_err(|e| ApiError::Engine(format!("monitor thread pool: {e}")))
}

/// The demo book preloaded on first start: a hedged BTC book over several venues.
pub const DEMO_SNAPSHOT: &str = include_str!("../../../examples/hedged-book/snapshot.json");
/// The routes (fees, latencies, haircuts) allocation plans use unless `--routes` names a file.
pub const DEMO_ROUTES: &str = include_str!("../../../examples/routes/hedged-book.json");
/// The circuit breakers the live monitor applies unless `--breakers` names a file.
pub const DEMO_BREAKERS: &str = include_str!("../../../examples/stress/live-breakers.toml");
/// The demo price feed replayed by default (JSON lines of ticks).
pub const DEMO_FEED: &str = include_str!("../../../examples/demo/feed.jsonl");

/// Opens the ledger, prepares state, and returns it with the admin key when one was created.
pub async fn prepare(cfg: &Config) -> Result<(Shared, Option<String>), ApiError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| ApiError::Storage(format!("{}: {e}", cfg.data_dir.display())))?;
    let url = cfg.database.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            cfg.data_dir.join("intermargin.db").display()
        )
    });
    if cfg.demo_copies > MAX_DEMO_COPIES {
        return Err(ApiError::bad(
            "--demo-copies",
            format!(
                "{} copies exceed the limit of {MAX_DEMO_COPIES} (each copy is an account held in memory)",
                cfg.demo_copies
            ),
        ));
    }
    let ledger = Ledger::open(&url).await?;
    log_verified(&ledger.verify().await?);
    let demo: Snapshot = Snapshot::from_json(DEMO_SNAPSHOT)
        .map_err(|e| ApiError::Engine(format!("demo snapshot: {e}")))?;
    let auth = Auth::new(
        auth::load_pepper(&cfg.data_dir)?,
        cfg.rate_limit,
        cfg.rate_limit * 2.0,
    );
    let new_admin = install_admin_key(&ledger, &auth, cfg.admin_key.as_deref()).await?;
    if cfg.demo && ledger.accounts().await?.is_empty() {
        let started = std::time::Instant::now();
        load_demo(&ledger, &demo, cfg.demo_copies.max(1)).await?;
        tracing::info!(
            "demo book loaded ({} copies) in {:.1} s",
            cfg.demo_copies.max(1),
            started.elapsed().as_secs_f64()
        );
        // Verified once from the log, then checkpointed: the next start replays only what follows.
        log_verified(&ledger.verify().await?);
    }
    for a in &demo.portfolio.assets {
        ledger.declare_asset(a).await?;
    }
    let assets: Vec<Asset> = ledger.assets().await?;
    let routes_text = match &cfg.routes {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| ApiError::bad("--routes", format!("{}: {e}", p.display())))?,
        None => DEMO_ROUTES.to_string(),
    };
    let routes = intermargin_allocate::RoutesFile::from_json(&routes_text)
        .map_err(|e| ApiError::bad("--routes", e.to_string()))?;
    let (feed, _) = broadcast::channel(1024);
    let st = Arc::new(AppState {
        ledger,
        auth,
        market: RwLock::new(demo.market.clone()),
        assets: RwLock::new(assets),
        books: RwLock::new(HashMap::new()),
        margins: RwLock::new(HashMap::new()),
        reports: RwLock::new(state::ReportCache::new(cfg.report_cache)),
        listeners: Default::default(),
        report_threshold: cfg.report_threshold,
        instruments: Default::default(),
        feed,
        data_dir: cfg.data_dir.clone(),
        routes: Arc::new(routes),
        jobs: Arc::new(jobs::Jobs::new(cfg.data_dir.join("jobs"))),
        monitor: Default::default(),
        monitor_pool: Arc::new(monitor_pool(cfg.monitor_threads)?),
        history: history::Recorder::new(cfg.history_step),
        account_locks: Default::default(),
        worker_reports: Default::default(),
        xchain: Default::default(),
        whatif_before: Default::default(),
    });
    let started = std::time::Instant::now();
    let books = st.ledger.all_books().await?;
    let mut ids: Vec<String> = books.keys().cloned().collect();
    ids.sort();
    {
        // The instruments of every book, priced once per tick and shared between accounts: one
        // account per new (venue, symbol or collateral asset) is enough to list them all.
        let quote = st.market.read().await.quote.clone();
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<&intermargin_model::Account> = books
            .values()
            .filter(|a| {
                let mut new = false;
                for p in &a.positions {
                    new |= seen.insert((p.instrument.venue, p.instrument.symbol.as_str(), true));
                }
                for c in &a.collateral {
                    new |= seen.insert((c.venue, c.asset.as_str(), false));
                }
                new
            })
            .collect();
        st.note_instruments(firsts, &quote);
    }
    *st.books.write().await = books;
    tracing::info!(
        "{} books loaded in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    if ids.len() <= MARGIN_AT_START {
        monitor::remargin_accounts(&st, &ids).await;
    } else {
        // A large ledger serves at once: queries margin their account on demand, and the first
        // pass over every account runs in the background (ticks re-margin what they touch).
        let st2 = st.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            // Figures only, on the shared instrument rows: reports are built when read.
            let pass = monitor::remargin_fast(&st2, None).await;
            tracing::info!(
                "first margin pass over {} accounts done in {:.1} s",
                pass.accounts,
                started.elapsed().as_secs_f64()
            );
        });
    }
    Ok((st, new_admin))
}

/// Installs the admin key at start and returns it when it was generated (to print once).
///
/// Without `INTERMARGIN_ADMIN_KEY` a key is generated on a ledger that has no active admin key.
/// With it, the key must be strong; a new key id is installed as an admin key (earlier admin
/// keys stay valid until revoked, and the log says so); a key id the ledger already holds must
/// carry the same secret and be an active admin key, or the service refuses to start rather than
/// silently ignore the variable.
pub async fn install_admin_key(
    ledger: &Ledger,
    auth: &Auth,
    key: Option<&str>,
) -> Result<Option<String>, ApiError> {
    const VAR: &str = "INTERMARGIN_ADMIN_KEY";
    let Some(key) = key else {
        if ledger.has_admin_key().await? {
            return Ok(None);
        }
        let (full, id, secret) = auth::random_key();
        ledger
            .insert_key(&id, &auth.hash_secret(&secret), "admin")
            .await?;
        return Ok(Some(full));
    };
    auth::check_strong(VAR, key)?;
    let (id, secret) = auth::split_key(key)
        .ok_or_else(|| ApiError::bad(VAR, "expected the form im_<id>_<secret>"))?;
    match ledger.key(id).await? {
        None => {
            let had = ledger.has_admin_key().await?;
            ledger
                .insert_key(id, &auth.hash_secret(secret), "admin")
                .await?;
            if had {
                let others: Vec<String> = ledger
                    .keys()
                    .await?
                    .into_iter()
                    .filter(|k| {
                        k["role"] == "admin" && k["revoked_ms"].is_null() && k["key_id"] != id
                    })
                    .filter_map(|k| k["key_id"].as_str().map(str::to_string))
                    .collect();
                eprintln!(
                    "{VAR}: installed key id {id} as an admin key; the ledger's other admin keys ({}) stay valid until revoked with DELETE /api/v1/keys/{{key_id}}",
                    others.join(", ")
                );
            }
            Ok(None)
        }
        Some((_, _, true)) => Err(ApiError::bad(
            VAR,
            format!("key id {id} was revoked; give the new admin key a new key id"),
        )),
        Some((_, scope, false)) if scope != "admin" => Err(ApiError::bad(
            VAR,
            format!("key id {id} belongs to a non-admin key"),
        )),
        Some((hash, _, false)) => {
            if auth.verifies(secret, &hash)? {
                Ok(None)
            } else {
                Err(ApiError::bad(
                    VAR,
                    format!(
                        "key id {id} is stored with another secret: the variable changed on an existing ledger. \
                         Rotate the key through POST /api/v1/keys/{id}/rotate, or give the new key a new key id \
                         (it is then added as an admin key)"
                    ),
                ))
            }
        }
    }
}

/// Most demo copies `serve --demo-copies` loads: each copy is an account kept in memory.
pub const MAX_DEMO_COPIES: usize = 1_000_000;

/// Accounts margined before serving; a larger ledger is margined in the background in chunks of this size.
const MARGIN_AT_START: usize = 10_000;

/// Accounts written per transaction by the demo bulk load.
const DEMO_ACCOUNTS_PER_TX: usize = 5_000;

fn log_verified(v: &ledger::Verified) {
    match v.from_checkpoint {
        Some(seq) => tracing::info!(
            "ledger projections verified from the checkpoint at event {seq} and the {} money events after it ({} balances)",
            v.events_replayed,
            v.rows
        ),
        None => tracing::info!(
            "ledger projections verified against the whole event log ({} money events, {} balances)",
            v.events_replayed,
            v.rows
        ),
    }
}

async fn load_demo(ledger: &Ledger, demo: &Snapshot, copies: usize) -> Result<(), ApiError> {
    for a in &demo.portfolio.assets {
        ledger.declare_asset(a).await?;
    }
    let mut batch = Vec::with_capacity(DEMO_ACCOUNTS_PER_TX);
    for copy in 0..copies {
        for acc in &demo.portfolio.accounts {
            let id = if copies == 1 {
                acc.id.clone()
            } else {
                format!("{}-{copy}", acc.id)
            };
            batch.push(demo_mutations(acc, &id));
            if batch.len() >= DEMO_ACCOUNTS_PER_TX {
                ledger.bulk_create(&batch).await?;
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        ledger.bulk_create(&batch).await?;
    }
    Ok(())
}

/// One demo account's mutations under `id`: its creation, deposits, and positions per venue.
fn demo_mutations(acc: &intermargin_model::Account, id: &str) -> Vec<Mutation> {
    let acc = intermargin_model::Account {
        id: id.to_string(),
        ..acc.clone()
    };
    let mut out = vec![Mutation::CreateAccount {
        id: acc.id.clone(),
        name: acc.id.clone(),
    }];
    for c in &acc.collateral {
        out.push(Mutation::Deposit {
            account: acc.id.clone(),
            location: c.venue,
            asset: c.asset.clone(),
            amount: c.amount,
        });
    }
    let venues: std::collections::BTreeSet<_> = acc
        .positions
        .iter()
        .map(|p| p.instrument.venue)
        .chain(acc.reported.iter().map(|r| r.venue))
        .collect();
    for v in venues {
        let positions = acc
            .positions
            .iter()
            .filter(|p| p.instrument.venue == v)
            .cloned()
            .collect();
        out.push(demo_positions(&acc, v, positions));
    }
    out
}

/// The demo book's positions on one venue: as the venue's report, with the figures it reported
/// beside them (what `…/reconcile` compares), when the snapshot was imported from its payloads.
fn demo_positions(
    acc: &intermargin_model::Account,
    venue: intermargin_model::Venue,
    positions: Vec<intermargin_model::Position>,
) -> Mutation {
    let reported: Vec<_> = acc
        .reported
        .iter()
        .filter(|r| r.venue == venue)
        .cloned()
        .collect();
    if reported.is_empty() {
        Mutation::Positions {
            account: acc.id.clone(),
            venue,
            positions,
        }
    } else {
        Mutation::VenueReport {
            account: acc.id.clone(),
            venue,
            positions,
            reported,
            relayed_by: "system".into(),
        }
    }
}

/// Queues the demo stress run and frontier (unless their plots exist) so the dashboard shows them.
pub fn start_demo_plots(st: &Shared) {
    let system = auth::Principal {
        key_id: "system".into(),
        scope: auth::Scope::Admin,
    };
    let plots = st.data_dir.join("plots");
    let runs = [
        (
            "demo-stress",
            "simulate",
            500,
            "demo-stress-loss_distribution.svg",
        ),
        ("demo", "frontier", 100, "demo-frontier.svg"),
    ];
    for (name, kind, paths, file) in runs {
        if plots.join(file).exists() {
            continue;
        }
        let req = engine::SimulationReq {
            kind: Some(kind.into()),
            preset: Some("crash".into()),
            config: None,
            paths: Some(paths),
            seed: None,
        };
        match engine::start_simulation_job(st, &system, req, Some(name)) {
            Ok(v) => tracing::info!("demo {kind} queued as job {}", v.id),
            Err(e) => tracing::warn!("demo {kind} not started: {e}"),
        }
    }
}

/// Runs the service until interrupted.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    serve_with(cfg, |_| Ok(())).await
}

/// Runs the service until interrupted, calling `on_start` with the prepared state before it
/// listens (`serve --nats` starts its outbox relay and report intake there).
pub async fn serve_with(
    cfg: Config,
    on_start: impl FnOnce(&Shared) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (st, admin) = prepare(&cfg).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    on_start(&st)?;
    if let Some(k) = admin {
        println!("admin API key (shown once, store it now): {k}");
    }
    if cfg.demo_plots {
        start_demo_plots(&st);
    }
    start_monitor(&st, &cfg)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    println!(
        "intermargin listening on http://{} (database: {:?})",
        listener.local_addr()?,
        st.ledger.backend()
    );
    serve_connections(listener, app_with(st, cfg.timeouts.request), cfg.timeouts).await;
    Ok(())
}

/// Starts the live monitor on the configured feed (`--live CONFIG`: the venues' live feeds;
/// else the replay file, else the bundled demo replay) with the configured breakers. Must run
/// inside a tokio runtime; errors name the flag at fault.
pub fn start_monitor(st: &Shared, cfg: &Config) -> anyhow::Result<()> {
    let feed: Box<dyn monitor::PriceFeed> = match (&cfg.live, &cfg.feed) {
        (Some(_), Some(_)) => anyhow::bail!("--live and --feed: give one price source, not both"),
        (Some(p), None) => {
            Box::new(live::LiveSource::from_file(p).map_err(|e| anyhow::anyhow!(e))?)
        }
        (None, Some(p)) => Box::new(
            monitor::ReplayFeed::from_file(p, cfg.feed_speed).map_err(|e| anyhow::anyhow!(e))?,
        ),
        (None, None) => Box::new(
            monitor::ReplayFeed::parse(DEMO_FEED, cfg.feed_speed)
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
    };
    let breakers = match &cfg.breakers {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("--breakers: {}: {e}", p.display()))?,
        None => DEMO_BREAKERS.to_string(),
    };
    let breakers = monitor::BreakerFile::from_toml(&breakers).map_err(|e| anyhow::anyhow!(e))?;
    tokio::spawn(monitor::run(
        st.clone(),
        feed,
        monitor::LiveBreakers::new(breakers),
    ));
    Ok(())
}

/// Accepts connections for ever and serves each with HTTP/1.1 (WebSocket upgrades included),
/// closing a connection whose request headers do not arrive within `timeouts.header_read` —
/// on a fresh connection and between kept-alive requests alike. Handlers see the client's
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    router: Router,
    timeouts: Timeouts,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                router.clone().oneshot(req.map(axum::body::Body::new))
            },
        );
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header_read)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("connection from {remote}: {e}");
            }
        });
    }
}
