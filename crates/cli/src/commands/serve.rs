//! `serve`: the intermargin service (ledger, API, live monitor, dashboard).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

/// Arguments of `intermargin serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite ledger and generated plots.
    #[arg(long, default_value = "intermargin-data")]
    pub data: PathBuf,
    /// Database URL (`postgres://user@host/db` for PostgreSQL; default: SQLite in --data).
    #[arg(long)]
    pub database: Option<String>,
    /// Price replay file (JSON lines of {"t_ms","key","price"}); default: the bundled demo feed.
    #[arg(long)]
    pub feed: Option<PathBuf>,
    /// Run the monitor on the venues' live feeds listed in this TOML file (venues, instruments,
    /// staleness and divergence limits: crates/live/README.md) instead of the replay.
    #[arg(long, conflicts_with = "feed")]
    pub live: Option<PathBuf>,
    /// Replay speed multiplier (1 = the feed's own pace).
    #[arg(long, default_value_t = 1.0)]
    pub feed_speed: f64,
    /// Requests per second allowed per API key.
    #[arg(long, default_value_t = 2000.0)]
    pub rate_limit: f64,
    /// Do not preload the demo book into an empty ledger.
    #[arg(long)]
    pub no_demo: bool,
    /// Preload this many copies of the demo book (for load tests).
    #[arg(long, default_value_t = 1)]
    pub demo_copies: usize,
    /// Routes, fees and haircuts for allocation plans (format: crates/allocate/README.md);
    /// default: the bundled hedged-book routes.
    #[arg(long)]
    pub routes: Option<PathBuf>,
    /// Do not run the demo stress simulation and frontier at start (the dashboard's plots).
    #[arg(long)]
    pub no_demo_plots: bool,
    /// Threads re-margining accounts on price ticks (default: one less than the cores, at least 1).
    #[arg(long)]
    pub monitor_threads: Option<usize>,
    /// Circuit breakers for the live monitor, in the risk lab's [[breakers]] format
    /// (default: examples/stress/live-breakers.toml).
    #[arg(long)]
    pub breakers: Option<PathBuf>,
    /// Seconds a client has to send a request's headers, from when the server starts waiting
    /// (a new connection, or between kept-alive requests); then the connection is closed.
    #[arg(long, default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds one request may take once its headers are in, body included (then 408).
    #[arg(long, default_value_t = 60.0)]
    pub request_timeout: f64,
    /// Seconds of wall time between two points of an account's margin history (the dashboard's
    /// history chart, `GET …/history`); every change of state is kept as well.
    #[arg(long, default_value_t = 5.0)]
    pub history_step: f64,
    /// On a price tick, serialise the margin report of an account for the `/ws` listeners of
    /// every account only when its equity, initial or maintenance margin or siloed total moved by
    /// more than this fraction of the account's scale since its last report, or its state changed
    /// (an account-scoped listener gets every update; queries always get the current report).
    #[arg(long, default_value_t = intermargin_server::DEFAULT_REPORT_THRESHOLD)]
    pub report_threshold: f64,
    /// Most serialised margin reports kept in memory; the others are built when read.
    #[arg(long, default_value_t = intermargin_server::DEFAULT_REPORT_CACHE)]
    pub report_cache: usize,
    /// NATS server URL (JetStream): relay the ledger outbox to margin workers and serve their
    /// reports (`GET …/margin?source=workers`, `/ws`).
    #[arg(long)]
    pub nats: Option<String>,
    /// Total number of account partitions of the margin workers (with --nats).
    #[arg(long, default_value_t = 4)]
    pub partition_count: u32,
    /// Connect to a cross-chain deployment (`deployment.json` from `xchain devnet`, or one
    /// listing real RPC endpoints): credit lines on venue `chain:<spoke chain id>` are issued on
    /// chain through the guardians, and `GET /api/v1/xchain` shows every chain.
    #[arg(long)]
    pub xchain: Option<PathBuf>,
    /// The service's secret key (0x-hex, 32 bytes; it pays the accounts' gas); default
    /// `service.key` beside the deployment file.
    #[arg(long, requires = "xchain")]
    pub xchain_key: Option<PathBuf>,
    /// The guardians' signatures directory (their refusals are read from it); default
    /// `signatures` beside the deployment file.
    #[arg(long, requires = "xchain")]
    pub xchain_signatures: Option<PathBuf>,
    /// Blocks an on-chain acceptance or retirement must be buried under before the ledger counts it.
    #[arg(long, default_value_t = 2)]
    pub xchain_finality: u64,
    /// Seconds a credit request waits for the spoke's final acceptance (then the credit is voided).
    #[arg(long, default_value_t = 60.0)]
    pub xchain_timeout: f64,
    /// Seconds an on-chain credit is valid for (its expiry).
    #[arg(long, default_value_t = 86_400.0)]
    pub xchain_credit_ttl: f64,
}

/// A positive, finite number of seconds (at most a day) as a duration, or an error naming `flag`.
fn seconds(flag: &str, s: f64) -> Result<std::time::Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 86_400.0) {
        anyhow::bail!("{flag}: must be a number of seconds in (0, 86400], got {s}");
    }
    Ok(std::time::Duration::from_secs_f64(s))
}

/// Runs `intermargin serve` until interrupted.
pub fn run(a: ServeArgs) -> Result<()> {
    if !(a.feed_speed.is_finite() && a.feed_speed > 0.0) {
        anyhow::bail!(
            "--feed-speed: must be a positive number, got {}",
            a.feed_speed
        );
    }
    if !(a.rate_limit.is_finite() && a.rate_limit > 0.0) {
        anyhow::bail!(
            "--rate-limit: must be a positive number, got {}",
            a.rate_limit
        );
    }
    if !(a.report_threshold.is_finite() && (0.0..=1.0).contains(&a.report_threshold)) {
        anyhow::bail!(
            "--report-threshold: must be a fraction between 0 and 1, got {}",
            a.report_threshold
        );
    }
    if a.report_cache == 0 {
        anyhow::bail!("--report-cache: must be at least 1");
    }
    if a.monitor_threads == Some(0) {
        anyhow::bail!("--monitor-threads: must be at least 1");
    }
    let cfg = intermargin_server::Config {
        listen: a.listen,
        data_dir: a.data,
        database: a.database,
        admin_key: std::env::var("INTERMARGIN_ADMIN_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
        feed: a.feed,
        feed_speed: a.feed_speed,
        live: a.live,
        rate_limit: a.rate_limit,
        demo: !a.no_demo,
        demo_copies: a.demo_copies,
        routes: a.routes,
        demo_plots: !a.no_demo && !a.no_demo_plots,
        monitor_threads: a.monitor_threads,
        breakers: a.breakers,
        timeouts: intermargin_server::Timeouts {
            header_read: seconds("--header-timeout", a.header_timeout)?,
            request: seconds("--request-timeout", a.request_timeout)?,
        },
        history_step: seconds("--history-step", a.history_step)?,
        report_threshold: a.report_threshold,
        report_cache: a.report_cache,
    };
    let xchain = match &a.xchain {
        Some(p) => Some(intermargin_server::xchain::XchainConfig {
            deployment: p.clone(),
            key: a.xchain_key.clone(),
            signatures: a.xchain_signatures.clone(),
            finality: a.xchain_finality,
            timeout: seconds("--xchain-timeout", a.xchain_timeout)?,
            credit_ttl: seconds("--xchain-credit-ttl", a.xchain_credit_ttl)?,
        }),
        None => None,
    };
    // Connects the service to the deployment before it listens (inside the runtime).
    let attach = move |st: &intermargin_server::state::Shared| -> Result<()> {
        let Some(x) = xchain else { return Ok(()) };
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(intermargin_server::xchain::attach(st, x))
        })
        .map_err(|e| anyhow::anyhow!("--xchain: {e}"))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let Some(url) = a.nats else {
        return rt.block_on(intermargin_server::serve_with(cfg, attach));
    };
    let partitions = a.partition_count;
    rt.block_on(async move {
        let js = intermargin_workers::jetstream_at(&url)
            .await
            .map_err(|e| anyhow::anyhow!("--nats: {e}"))?;
        intermargin_workers::ensure_streams(&js, partitions)
            .await
            .map_err(|e| anyhow::anyhow!("--nats: {e}"))?;
        intermargin_server::serve_with(cfg, move |st| {
            attach(st)?;
            tokio::spawn(intermargin_workers::relay::run(
                st.clone(),
                js.clone(),
                partitions,
            ));
            tokio::spawn(intermargin_workers::intake::run(st.clone(), js));
            Ok(())
        })
        .await
    })
}
