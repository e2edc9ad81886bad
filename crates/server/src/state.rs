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
    /// Each margined account's figures and state (compact), recomputed on ticks and writes.
    pub margins: RwLock<HashMap<String, AccountMargin>>,
    /// Serialised margin reports, bounded: kept while they are current, built on demand.
    pub reports: RwLock<ReportCache>,
    /// Every instrument of the books by id (the pooled scan's legs, collateral spot legs
    /// included): the monitor prices each once per tick and shares the rows between accounts.
    pub instruments: std::sync::Mutex<HashMap<String, intermargin_model::Instrument>>,
    /// Who listens on `/ws`: the reports the monitor serialises on a tick.
    pub listeners: Arc<Listeners>,
    /// Relative change of an account's figures since its last serialised report beyond which a
    /// tick serialises it for the `/ws` listeners (`serve --report-threshold`).
    pub report_threshold: f64,
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
    /// The on-chain deployment credits on `chain:<id>` venues go through (`serve --xchain`).
    pub xchain: std::sync::OnceLock<Arc<crate::xchain::Xchain>>,
    /// The margin of each account's book as it is, kept for the next what-if on it.
    pub whatif_before: crate::risk::BeforeCache,
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
    /// Version of the market: incremented with every applied price batch (under the market's
    /// write lock), so a report says which prices it was computed on.
    pub market_seq: std::sync::atomic::AtomicU64,
    /// Margin reports serialised (ticks for listeners, queries on demand, writes).
    pub reports_serialised: std::sync::atomic::AtomicU64,
    /// Accounts re-margined by a tick without serialising a report (figures only).
    pub reports_skipped: std::sync::atomic::AtomicU64,
    /// Instruments priced once and shared by every account in the last tick.
    pub last_shared_instruments: std::sync::atomic::AtomicU64,
}

/// An account's margin as the monitor keeps it for every account: figures and state, no text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarginFigures {
    /// Account state ([`crate::risk::state_of`] of `figures`).
    pub state: intermargin_liquidation::AccountState,
    /// Equity and the unified requirements.
    pub figures: intermargin_liquidation::Figures,
    /// The siloed total and the saving.
    pub headline: Headline,
}

impl MarginFigures {
    /// True when `self` differs from `before` in state, or in a figure by more than `threshold`
    /// of the account's scale (the largest of |equity|, |initial|, |siloed total| before, at
    /// least 1 quote unit).
    pub fn moved(&self, before: &MarginFigures, threshold: f64) -> bool {
        let (a, b) = (self, before);
        let scale = b
            .figures
            .equity
            .abs()
            .max(b.figures.initial.abs())
            .max(b.headline.siloed_total.abs())
            .max(1.0);
        a.state != b.state
            || [
                (a.figures.equity, b.figures.equity),
                (a.figures.initial, b.figures.initial),
                (a.figures.maintenance, b.figures.maintenance),
                (a.headline.siloed_total, b.headline.siloed_total),
            ]
            .iter()
            // A figure turning NaN counts as a move.
            .any(|(x, y)| (x - y).abs() > threshold * scale || x.is_nan() != y.is_nan())
    }
}

/// One account's entry in [`AppState::margins`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountMargin {
    /// [`MonitorStats::market_seq`] of the prices (and, with the book lock order, the book) the
    /// figures were computed on; a cached report older than this is stale.
    pub seq: u64,
    /// The figures; `None` when the engines could not margin the account.
    pub current: Option<MarginFigures>,
    /// The figures of the last report serialised for the `/ws` listeners (the threshold's base).
    pub published: Option<MarginFigures>,
}

/// Serialised reports, at most `cap` (oldest inserted dropped first); an entry is served only
/// while it is as new as the account's figures ([`AccountMargin::seq`]).
pub struct ReportCache {
    map: HashMap<String, (u64, Arc<Report>)>,
    order: std::collections::VecDeque<String>,
    cap: usize,
}

impl ReportCache {
    /// An empty cache holding at most `cap` reports (at least 1).
    pub fn new(cap: usize) -> ReportCache {
        ReportCache {
            map: HashMap::new(),
            order: Default::default(),
            cap: cap.max(1),
        }
    }

    /// The report of `id` when it was computed at `seq` or later.
    pub fn get(&self, id: &str, seq: u64) -> Option<Arc<Report>> {
        self.map
            .get(id)
            .filter(|(s, _)| *s >= seq)
            .map(|(_, r)| r.clone())
    }

    /// Stores the report of `id` computed at `seq` (an older one never replaces a newer one).
    pub fn insert(&mut self, id: &str, seq: u64, report: Arc<Report>) {
        if let Some(e) = self.map.get_mut(id) {
            if e.0 <= seq {
                *e = (seq, report);
            }
            return;
        }
        while self.map.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.map.insert(id.to_string(), (seq, report));
        self.order.push_back(id.to_string());
    }

    /// Drops the report of `id` (its account's figures moved on without it).
    pub fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }

    /// Reports held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no report is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Sockets on `/ws` by what they may see: an account-scoped key listens to its account (every
/// re-margin of it is serialised), a wider key to every account (reports of accounts whose
/// figures moved beyond the threshold).
#[derive(Default)]
pub struct Listeners {
    accounts: std::sync::Mutex<HashMap<String, usize>>,
    wide: std::sync::atomic::AtomicUsize,
}

impl Listeners {
    /// Registers a socket; the guard unregisters it when dropped.
    pub fn join(self: &Arc<Self>, account: Option<&str>) -> ListenerGuard {
        use std::sync::atomic::Ordering::Relaxed;
        match account {
            Some(a) => {
                *self
                    .accounts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(a.to_string())
                    .or_default() += 1;
            }
            None => {
                self.wide.fetch_add(1, Relaxed);
            }
        }
        ListenerGuard {
            listeners: self.clone(),
            account: account.map(str::to_string),
        }
    }

    /// Sockets listening to every account.
    pub fn wide(&self) -> usize {
        self.wide.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The accounts some account-scoped socket listens to.
    pub fn accounts(&self) -> std::collections::HashSet<String> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

/// Unregisters a `/ws` socket from [`Listeners`] when dropped.
pub struct ListenerGuard {
    listeners: Arc<Listeners>,
    account: Option<String>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        match &self.account {
            Some(a) => {
                let mut m = self
                    .listeners
                    .accounts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if let Some(n) = m.get_mut(a) {
                    *n -= 1;
                    if *n == 0 {
                        m.remove(a);
                    }
                }
            }
            None => {
                self.listeners
                    .wide
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
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

impl Report {
    /// The report's figures and state; `None` when the engines could not margin the account.
    pub fn margin_figures(&self) -> Option<MarginFigures> {
        Some(MarginFigures {
            state: self.state?,
            figures: self.figures?,
            headline: self.headline?,
        })
    }
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
        let acc = self.ledger.book(account).await?;
        let quote = self.market.read().await.quote.clone();
        self.note_instruments([&acc], &quote);
        self.books
            .write()
            .await
            .insert(account.to_string(), acc.clone());
        Ok(acc)
    }

    /// Adds the instruments of `accounts` to [`AppState::instruments`].
    pub fn note_instruments<'a>(
        &self,
        accounts: impl IntoIterator<Item = &'a Account>,
        quote: &str,
    ) {
        let Ok(model) = crate::risk::unified_model() else {
            return;
        };
        let mut known = self.instruments.lock().unwrap_or_else(|p| p.into_inner());
        for a in accounts {
            for i in model.scan_instruments(a, quote) {
                known.entry(i.id()).or_insert(i);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use intermargin_liquidation::{AccountState, Figures};

    fn report(tag: &str) -> Arc<Report> {
        Arc::new(Report {
            state: None,
            figures: None,
            headline: None,
            json: bytes::Bytes::from(tag.to_string()),
        })
    }

    #[test]
    fn the_report_cache_is_bounded_and_serves_only_current_reports() {
        let mut c = ReportCache::new(2);
        c.insert("a", 5, report("a5"));
        c.insert("b", 5, report("b5"));
        assert!(c.get("a", 5).is_some());
        assert!(c.get("a", 6).is_none(), "figures newer than the report");
        // An older report never replaces a newer one.
        c.insert("a", 4, report("a4"));
        assert_eq!(&c.get("a", 5).unwrap().json[..], b"a5");
        // A third account evicts the oldest inserted.
        c.insert("c", 7, report("c7"));
        assert_eq!(c.len(), 2);
        assert!(c.get("a", 0).is_none());
        assert!(c.get("b", 5).is_some() && c.get("c", 7).is_some());
        c.remove("b");
        assert!(c.get("b", 0).is_none());
    }

    #[test]
    fn a_move_is_measured_against_the_accounts_scale() {
        let f = |equity: f64, initial: f64, state| MarginFigures {
            state,
            figures: Figures {
                equity,
                initial,
                maintenance: initial / 2.0,
            },
            headline: Headline {
                siloed_total: initial * 1.5,
                saving: initial / 2.0,
            },
        };
        let base = f(100_000.0, 20_000.0, AccountState::Healthy);
        // Scale 100,000 (the equity): 0.1 % is 100.
        assert!(!f(100_099.0, 20_000.0, AccountState::Healthy).moved(&base, 0.001));
        assert!(f(100_101.0, 20_000.0, AccountState::Healthy).moved(&base, 0.001));
        assert!(f(100_000.0, 20_000.0, AccountState::MarginCall).moved(&base, 0.001));
        assert!(f(f64::NAN, 20_000.0, AccountState::Healthy).moved(&base, 0.001));
        assert!(!base.moved(&base, 0.0));
    }
}
