//! Shared server state: the ledger, the in-memory books and market, and the alert channel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use intermargin_model::{Account, Asset, Market};
use tokio::sync::{broadcast, RwLock};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::ledger::Ledger;

/// Everything handlers share; cheap to clone through `Arc`.
pub struct AppState {
    /// Durable ledger.
    pub ledger: Ledger,
    /// Key verification and rate limits.
    pub auth: Auth,
    /// Latest market snapshot (updated by the live monitor).
    pub market: RwLock<Market>,
    /// Declared assets (decimals), mirrored from the ledger.
    pub assets: RwLock<Vec<Asset>>,
    /// Each account's book as last loaded from the ledger.
    pub books: RwLock<HashMap<String, Account>>,
    /// Each account's latest margin report, recomputed on ticks and writes.
    pub reports: RwLock<HashMap<String, Arc<Report>>>,
    /// Margin updates and alerts for WebSocket subscribers (JSON text, tagged by account).
    pub feed: broadcast::Sender<Arc<(String, String)>>,
    /// Directory for data the server writes (plots, simulation results).
    pub data_dir: PathBuf,
    /// Transfer routes, fees and haircuts the allocation plan uses.
    pub routes: Arc<intermargin_allocate::RoutesFile>,
    /// Simulation and proof jobs.
    pub jobs: Arc<crate::jobs::Jobs>,
    /// What the live monitor has done, for `/health`.
    pub monitor: MonitorStats,
    /// Threads the monitor re-margins on: fewer than the cores, so queries always keep one.
    pub monitor_pool: Arc<rayon::ThreadPool>,
    /// Which margin updates the monitor writes to the margin history.
    pub history: crate::history::Recorder,
    /// One lock per account that liquidations hold from planning to booking.
    pub account_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Reports of remote margin workers relayed by `serve --nats` (empty otherwise).
    pub worker_reports: crate::worker_reports::WorkerReports,
}

/// Counters of the live monitor: how far the feed has got and what the last re-margin cost.
#[derive(Default)]
pub struct MonitorStats {
    /// Price batches applied.
    pub batches: std::sync::atomic::AtomicU64,
    /// Accounts re-margined in the last batch.
    pub last_accounts: std::sync::atomic::AtomicU64,
    /// Wall time of the last batch's re-margin, microseconds.
    pub last_remargin_us: std::sync::atomic::AtomicU64,
    /// Market time of the last applied tick (ms).
    pub market_time_ms: std::sync::atomic::AtomicI64,
    /// Market time until which a circuit breaker halts liquidations (ms; in the past when none).
    pub halt_until_ms: std::sync::atomic::AtomicI64,
    /// The feed's breakers, sources and alarms (`serve --live`), for `/health`.
    pub feed: std::sync::Mutex<crate::monitor::FeedHealth>,
}

/// A margin report: its JSON text, serialised once when computed instead of on every query,
/// and the figures the service itself reads (state for hysteresis and alerts).
pub struct Report {
    /// Account state ([`crate::risk::state_of`]); `None` when the engines could not margin the account.
    pub state: Option<intermargin_liquidation::AccountState>,
    /// Equity and the unified requirements; `None` with `state`.
    pub figures: Option<intermargin_liquidation::Figures>,
    /// The siloed total and the saving beside them (the history chart's other series); `None`
    /// with `state`.
    pub headline: Option<Headline>,
    /// The report as JSON text.
    pub json: bytes::Bytes,
}

/// The report's siloed total and saving, quote currency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Headline {
    /// Σ of each venue's siloed requirement.
    pub siloed_total: f64,
    /// Siloed total − unified initial margin.
    pub saving: f64,
}

/// Shared handle used by every handler.
pub type Shared = Arc<AppState>;

impl AppState {
    /// Reloads one account's book from the ledger into memory.
    pub async fn reload_book(&self, account: &str) -> Result<Account, ApiError> {
        let mut acc = Account::new(account);
        acc.collateral = self.ledger.balances(account).await?;
        acc.positions = self.ledger.positions(account).await?;
        self.books
            .write()
            .await
            .insert(account.to_string(), acc.clone());
        Ok(acc)
    }

    /// The lock serialising liquidations of one account.
    pub fn account_lock(&self, account: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = match self.account_locks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        m.entry(account.to_string()).or_default().clone()
    }

    /// The in-memory book of an account (loading it on first use).
    pub async fn book(&self, account: &str) -> Result<Account, ApiError> {
        if let Some(a) = self.books.read().await.get(account) {
            return Ok(a.clone());
        }
        self.reload_book(account).await
    }
}
