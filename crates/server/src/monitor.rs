//! The live monitor: consumes a price feed, re-margins only the accounts the tick touches,
//! and raises margin-call and liquidation alerts on the WebSocket feed.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use intermargin_liquidation::AccountState;
use intermargin_model::{Account, Instrument, Market};
use intermargin_sim::config::{Action, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::state::{AccountMargin, MarginFigures, Report, Shared};

/// One price update: `key` is `fx:ASSET`, `index:venue:UNDERLYING` or `mark:venue:SYMBOL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTick {
    /// Milliseconds since the start of the replay (or UTC ms for a live feed).
    pub t_ms: i64,
    /// What is priced.
    pub key: String,
    /// The new price in the market's quote currency (or the instrument's quote for marks).
    pub price: f64,
}

/// One batch from a feed: prices re-margined together, and what the feed says about its sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedBatch {
    /// Prices to apply (a replay's share one `t_ms`).
    pub ticks: Vec<PriceTick>,
    /// Alarms about the feed's sources raised with this batch (a live feed's stale or diverging
    /// sources trip the breakers; see [`LiveBreakers::observe_alarm`]).
    pub alarms: Vec<intermargin_live::Alarm>,
    /// Prices received but withheld by the feed (stale or diverging source): they never reach
    /// the market.
    pub withheld: usize,
    /// Wall time of the batch (UTC ms) when the feed is live: the market clock follows it. `None`
    /// for a replay, whose ticks' `t_ms` count from its start.
    pub wall_ms: Option<i64>,
    /// Each source's status for `/health` (a live feed's; `None` for a replay).
    pub sources: Option<Value>,
    /// Streamed account positions that changed (`serve --live` `[[accounts]]`).
    pub accounts: Vec<crate::live::AccountUpdate>,
    /// Each account stream's status for `/health` (`None` without account streams).
    pub account_streams: Option<Value>,
}

/// A source of price ticks: a replay file by default, the venues' live feeds with `serve --live`.
#[async_trait::async_trait]
pub trait PriceFeed: Send {
    /// The next batch (re-margined together), or `None` when the feed ends.
    async fn next_batch(&mut self) -> Option<FeedBatch>;
}

/// Replays a JSON-lines file of ticks in a loop, pacing them by their `t_ms` divided by `speed`.
pub struct ReplayFeed {
    ticks: Vec<PriceTick>,
    pos: usize,
    speed: f64,
    last_t: i64,
}

impl ReplayFeed {
    /// Parses JSON lines; an unparsable line is an error naming its line number.
    pub fn parse(text: &str, speed: f64) -> Result<ReplayFeed, String> {
        let mut ticks = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let t: PriceTick =
                serde_json::from_str(line).map_err(|e| format!("feed line {}: {e}", i + 1))?;
            if !t.price.is_finite() || t.price <= 0.0 {
                return Err(format!(
                    "feed line {}: price must be a positive number",
                    i + 1
                ));
            }
            ticks.push(t);
        }
        if ticks.is_empty() {
            return Err("feed: no ticks".into());
        }
        Ok(ReplayFeed {
            ticks,
            pos: 0,
            speed: speed.max(1e-6),
            last_t: 0,
        })
    }

    /// Reads a replay file.
    pub fn from_file(path: &Path, speed: f64) -> Result<ReplayFeed, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, speed)
    }
}

#[async_trait::async_trait]
impl PriceFeed for ReplayFeed {
    async fn next_batch(&mut self) -> Option<FeedBatch> {
        if self.pos >= self.ticks.len() {
            self.pos = 0;
            self.last_t = 0;
        }
        let t0 = self.ticks[self.pos].t_ms;
        let end = self.ticks[self.pos..]
            .iter()
            .position(|t| t.t_ms != t0)
            .map_or(self.ticks.len(), |n| self.pos + n);
        let batch = self.ticks[self.pos..end].to_vec();
        self.pos = end;
        let wait = ((t0 - self.last_t).max(0) as f64 / self.speed) as u64;
        self.last_t = t0;
        tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
        Some(FeedBatch {
            ticks: batch,
            ..FeedBatch::default()
        })
    }
}

/// Applies a tick to the market (`fx:`, `index:`, `mark:`, and `iv:` for a mark implied vol
/// as a fraction); returns what it moves (an underlying or an instrument id), or an error naming the key.
pub fn apply_tick(market: &mut Market, tick: &PriceTick) -> Result<String, String> {
    let mut parts = tick.key.splitn(2, ':');
    let kind = parts.next().unwrap_or_default();
    let rest = parts
        .next()
        .ok_or_else(|| format!("tick key {:?}: expected kind:name", tick.key))?;
    let underlying = match kind {
        "fx" => {
            market.fx.insert(rest.to_string(), tick.price);
            rest.to_string()
        }
        "index" => {
            market.index_prices.insert(rest.to_string(), tick.price);
            rest.rsplit(':').next().unwrap_or(rest).to_string()
        }
        "mark" => {
            market.mark_prices.insert(rest.to_string(), tick.price);
            rest.to_string()
        }
        "iv" => {
            market.mark_ivs.insert(rest.to_string(), tick.price);
            rest.to_string()
        }
        other => return Err(format!("tick key {:?}: unknown kind {other:?}", tick.key)),
    };
    Ok(underlying)
}

/// The risk lab's circuit breakers (`intermargin_sim::config::Breaker`) applied to a live feed:
/// one step of the lab is `step_ms` of market time.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Market time per lab step, ms.
    pub step_ms: i64,
    /// The breakers, in the risk lab's format.
    pub breakers: Vec<intermargin_sim::config::Breaker>,
}

impl BreakerFile {
    /// Parses a breakers file, naming the field at fault.
    pub fn from_toml(text: &str) -> Result<BreakerFile, String> {
        let f: BreakerFile = toml::from_str(text).map_err(|e| format!("breakers: {e}"))?;
        if f.step_ms <= 0 {
            return Err("breakers: step_ms: must be > 0".into());
        }
        for (i, b) in f.breakers.iter().enumerate() {
            if let Trigger::PriceMove { pct, window_steps } = b.trigger {
                if !(pct.is_finite() && pct > 0.0) || window_steps == 0 {
                    return Err(format!(
                        "breakers[{i}].trigger: pct must be > 0 and window_steps >= 1"
                    ));
                }
            }
        }
        Ok(f)
    }
}

/// A breaker that tripped on a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    /// Index in the breakers file.
    pub breaker: usize,
    /// Feed key whose move tripped it.
    pub key: String,
    /// Relative move over the window.
    pub change: f64,
    /// Market time until which it stays active.
    pub until_ms: i64,
}

/// Reason of a breaker tripped by a live feed's alarm: a source silent beyond its limit.
pub const STALE_FEED: &str = "stale feed";
/// Reason of a breaker tripped by a live feed's alarm: index sources of one asset disagreeing.
pub const ORACLE_DIVERGENCE: &str = "oracle divergence";

/// A breaker tripped by a live feed's alarm ([`STALE_FEED`] or [`ORACLE_DIVERGENCE`]): it halts
/// liquidations until its source recovers, whatever the breakers file says, since liquidating
/// on a price that is stale or contested is what breakers exist to prevent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedTrip {
    /// `stale feed` or `oracle divergence`.
    pub reason: &'static str,
    /// The source whose prices are withheld.
    pub source: String,
    /// The asset it disagrees on (oracle divergence only).
    pub asset: Option<String>,
    /// When it tripped (market time, ms).
    pub since_ms: i64,
    /// The feed's sentence for the operator.
    pub detail: String,
}

/// What an alarm did to the feed breakers.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedBreakerChange {
    /// A breaker tripped.
    Tripped(FeedTrip),
    /// A tripped breaker's source recovered.
    Cleared(FeedTrip),
}

/// Live state of the breakers: each key's recent prices and each breaker's activity.
pub struct LiveBreakers {
    file: BreakerFile,
    history: HashMap<String, VecDeque<(i64, f64)>>,
    active_until: Vec<i64>,
    /// Feed breakers active now, by (reason, source, asset).
    feed_trips: std::collections::BTreeMap<(&'static str, String, String), FeedTrip>,
}

impl LiveBreakers {
    /// Breakers from a parsed file, none active.
    pub fn new(file: BreakerFile) -> Self {
        let n = file.breakers.len();
        LiveBreakers {
            file,
            history: HashMap::new(),
            active_until: vec![i64::MIN; n],
            feed_trips: Default::default(),
        }
    }

    /// Applies a live feed's alarm at market time `now_ms`: a stale feed or an oracle divergence
    /// trips a breaker per source (and asset), the matching recovery clears it; other alarms
    /// (disconnections, gaps, bad frames) are informational and change nothing.
    pub fn observe_alarm(
        &mut self,
        now_ms: i64,
        alarm: &intermargin_live::Alarm,
    ) -> Vec<FeedBreakerChange> {
        use intermargin_live::AlarmKind;
        let sources: Vec<String> = alarm
            .source
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let asset = alarm.asset.clone();
        let mut out = Vec::new();
        for source in sources {
            match alarm.kind {
                AlarmKind::StaleFeed | AlarmKind::OracleDivergence => {
                    let reason = if alarm.kind == AlarmKind::StaleFeed {
                        STALE_FEED
                    } else {
                        ORACLE_DIVERGENCE
                    };
                    let asset = if reason == STALE_FEED {
                        None
                    } else {
                        asset.clone()
                    };
                    let key = (reason, source.clone(), asset.clone().unwrap_or_default());
                    if self.feed_trips.contains_key(&key) {
                        continue;
                    }
                    let trip = FeedTrip {
                        reason,
                        source,
                        asset,
                        since_ms: now_ms,
                        detail: alarm.detail.clone(),
                    };
                    self.feed_trips.insert(key, trip.clone());
                    out.push(FeedBreakerChange::Tripped(trip));
                }
                AlarmKind::Recovered => {
                    // The feed says which: a recovery naming an asset ends a divergence, one
                    // without ends a stale spell.
                    let key = match &asset {
                        Some(a) => (ORACLE_DIVERGENCE, source, a.clone()),
                        None => (STALE_FEED, source, String::new()),
                    };
                    if let Some(trip) = self.feed_trips.remove(&key) {
                        out.push(FeedBreakerChange::Cleared(trip));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The feed breakers active now.
    pub fn feed_trips(&self) -> Vec<FeedTrip> {
        self.feed_trips.values().cloned().collect()
    }

    fn longest_window_ms(&self) -> i64 {
        self.file
            .breakers
            .iter()
            .filter_map(|b| match b.trigger {
                Trigger::PriceMove { window_steps, .. } => Some(window_steps as i64),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            * self.file.step_ms
    }

    /// Records a tick seen at market time `now_ms`; returns the breakers it trips. Like the lab, a
    /// `price_move` compares the price now with the price `window_steps` steps ago (the oldest
    /// kept when the feed is younger). Trips last until a market time, like the halt they cause.
    pub fn observe(&mut self, now_ms: i64, tick: &PriceTick) -> Vec<Trip> {
        let keep = self.longest_window_ms();
        let h = self.history.entry(tick.key.clone()).or_default();
        h.push_back((now_ms, tick.price));
        // Keep one price at or before the longest window's start, and everything after it.
        while h.len() > 1 && h[1].0 <= now_ms - keep {
            h.pop_front();
        }
        let mut out = Vec::new();
        for (i, b) in self.file.breakers.iter().enumerate() {
            let Trigger::PriceMove { window_steps, .. } = b.trigger else {
                continue;
            };
            let start = now_ms - window_steps as i64 * self.file.step_ms;
            let then = h
                .iter()
                .rev()
                .find(|(t, _)| *t <= start)
                .or(h.front())
                .map(|(_, p)| *p)
                .unwrap_or(tick.price);
            if b.trigger.price_moved(then, tick.price) && self.active_until[i] <= now_ms {
                let until = now_ms + b.cooldown_steps.max(1) as i64 * self.file.step_ms;
                self.active_until[i] = until;
                out.push(Trip {
                    breaker: i,
                    key: tick.key.clone(),
                    change: tick.price / then - 1.0,
                    until_ms: until,
                });
            }
        }
        out
    }

    /// Market time until which liquidations are halted (`i64::MIN` when none is; `i64::MAX`
    /// while a feed breaker is active, which lasts until its source recovers).
    pub fn halt_until(&self) -> i64 {
        if !self.feed_trips.is_empty() {
            return i64::MAX;
        }
        self.file
            .breakers
            .iter()
            .zip(&self.active_until)
            .filter(|(b, _)| matches!(b.action, Action::HaltLiquidations))
            .map(|(_, u)| *u)
            .max()
            .unwrap_or(i64::MIN)
    }
}

/// Publishes a message for one account (or `*` for everyone).
pub fn publish(st: &Shared, account: &str, msg: serde_json::Value) {
    // No subscribers is not an error.
    let _ = st
        .feed
        .send(Arc::new((account.to_string(), msg.to_string())));
}

/// The market snapshot and its version ([`crate::state::MonitorStats::market_seq`]), read
/// together under the market's lock.
async fn market_now(st: &Shared) -> (Arc<Market>, u64) {
    let m = st.market.read().await;
    let seq = st
        .monitor
        .market_seq
        .load(std::sync::atomic::Ordering::Acquire);
    (Arc::new(m.clone()), seq)
}

/// Recomputes the full margin report of `ids` (in parallel, off the async threads): an account
/// whose book changed, a query margining on demand. Stores figures and reports, alerts on state
/// changes and streams the reports to `/ws` listeners.
pub async fn remargin_accounts(st: &Shared, ids: &[String]) -> Vec<(String, Arc<Report>)> {
    let (market, seq) = market_now(st).await;
    let assets = Arc::new(st.assets.read().await.clone());
    let mut work = Vec::with_capacity(ids.len());
    for id in ids {
        let Ok(book) = st.book(id).await else {
            continue;
        };
        work.push((id.clone(), book));
    }
    let (m, a) = (market.clone(), assets.clone());
    // One account (a query margining on demand) is computed on its own blocking thread, not
    // queued on the monitor's pool behind a tick or the first pass over a large ledger.
    let pool = (work.len() > 1).then(|| st.monitor_pool.clone());
    let computed = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        let one = |(id, book): (String, Account)| {
            let report = crate::risk::margin_report(&book, &a, &m, None)
                .unwrap_or_else(|e| crate::risk::failed_report(&id, &e));
            (id, Arc::new(report))
        };
        match pool {
            Some(pool) => pool.install(|| work.into_par_iter().map(one).collect::<Vec<_>>()),
            None => work.into_iter().map(one).collect(),
        }
    })
    .await
    .unwrap_or_default();
    st.monitor
        .reports_serialised
        .fetch_add(computed.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let listening = st.feed.receiver_count() > 0;
    let mut updates = Vec::with_capacity(computed.len());
    {
        let mut margins = st.margins.write().await;
        let mut cache = st.reports.write().await;
        for (id, report) in &computed {
            let current = report.margin_figures();
            let prev = margins.get(id).copied();
            if prev.is_some_and(|p| p.seq > seq) {
                // A tick already margined the account on newer prices.
                continue;
            }
            margins.insert(
                id.clone(),
                AccountMargin {
                    seq,
                    current,
                    published: if listening {
                        current
                    } else {
                        prev.and_then(|p| p.published)
                    },
                },
            );
            cache.insert(id, seq, report.clone());
            updates.push(Update {
                id: id.clone(),
                previous: prev.map(|p| p.current.map(|c| c.state)),
                current,
                report: Some(report.clone()),
            });
        }
    }
    finish(st, updates, market.timestamp_ms).await;
    computed
}

/// One re-margined account: its figures before and after, and its report when one was serialised.
struct Update {
    id: String,
    /// `None` when the account was never margined; `Some(None)` when it could not be.
    previous: Option<Option<AccountState>>,
    current: Option<MarginFigures>,
    report: Option<Arc<Report>>,
}

/// After a re-margin: the margin history, alerts on state changes (into margin call,
/// liquidation or bankruptcy) and the serialised reports to `/ws`.
async fn finish(st: &Shared, updates: Vec<Update>, market_ms: i64) {
    record_history(st, &updates, market_ms).await;
    for u in updates {
        let state = u.current.map(|c| c.state);
        // Compared as states; named only for the (rare) alert.
        let changed = u.previous != Some(state);
        let alarming = matches!(
            state,
            Some(AccountState::MarginCall | AccountState::Liquidation | AccountState::Bankrupt)
        );
        if changed && alarming {
            let old_state = u.previous.map(state_name);
            publish(
                st,
                &u.id,
                json!({"type": "alert", "account": u.id, "state": state_name(state), "previous": old_state, "timestamp_ms": market_ms}),
            );
        }
        if let Some(report) = u.report {
            if st.feed.receiver_count() > 0 {
                // The report's JSON text is reused as is, not re-serialised per message.
                let text = format!(
                    "{{\"type\":\"margin\",\"account\":{},\"report\":{}}}",
                    Value::String(u.id.clone()),
                    String::from_utf8_lossy(&report.json)
                );
                let _ = st.feed.send(Arc::new((u.id, text)));
            }
        }
    }
}

/// True when `account` holds something a price of `key` moves (`apply_tick`'s answer: an
/// underlying, a collateral asset or an instrument id `venue:symbol`).
fn touches(account: &Account, key: &str) -> bool {
    account.positions.iter().any(|p| {
        let i = &p.instrument;
        i.underlying == key
            || key
                .strip_prefix(i.venue.as_str())
                .and_then(|r| r.strip_prefix(':'))
                == Some(i.symbol.as_str())
    }) || account.collateral.iter().any(|c| c.asset == key)
}

/// What a fast re-margin did.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastPass {
    /// Accounts re-margined.
    pub accounts: usize,
    /// Reports serialised for `/ws` listeners.
    pub serialised: usize,
    /// Instruments priced once and shared.
    pub shared_instruments: usize,
}

/// Re-margins, on the figures-only path, the accounts holding something `moved` names (every
/// account when `None`): the instrument rows of the unified grid are priced once and shared,
/// accounts run in parallel on the monitor's pool, only figures are kept; a full report is
/// serialised only for accounts an account-scoped `/ws` socket listens to, or, when a wider
/// socket listens, whose figures moved beyond `--report-threshold` since their last report.
/// Cached reports of re-margined accounts become stale (queries rebuild them on demand).
pub async fn remargin_fast(
    st: &Shared,
    moved: Option<std::collections::BTreeSet<String>>,
) -> FastPass {
    let (market, seq) = market_now(st).await;
    let assets = Arc::new(st.assets.read().await.clone());
    let wide = st.listeners.wide() > 0 && st.feed.receiver_count() > 0;
    let subscribed = st.listeners.accounts();
    let threshold = st.report_threshold;
    let st2 = st.clone();
    let pool = st.monitor_pool.clone();
    let m = market.clone();
    let work = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        let st = st2;
        let market = m;
        let books = st.books.blocking_read();
        let model = match crate::risk::unified_model() {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("monitor: {e}");
                return (Vec::new(), FastPass::default());
            }
        };
        pool.install(|| {
            let affected: Vec<(&String, &Account)> = books
                .par_iter()
                .filter(|(_, acc)| {
                    moved
                        .as_ref()
                        .is_none_or(|m| m.iter().any(|k| touches(acc, k)))
                })
                .collect();
            // Every instrument of the books, priced once at this market.
            let universe: Vec<Instrument> = st
                .instruments
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned()
                .collect();
            let shared = match model.shared_rows(&market, universe) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::debug!("monitor: no shared instrument rows: {e}");
                    None
                }
            };
            let figures: Vec<Option<MarginFigures>> = affected
                .par_iter()
                .map(|(_, acc)| {
                    crate::risk::assess_figures(acc, &assets, &market, shared.as_ref())
                        .ok()
                        .map(|(_, f)| f)
                })
                .collect();
            // Figures in; which reports to serialise decided against the last one published.
            let mut updates = Vec::with_capacity(affected.len());
            let mut to_serialise = Vec::new();
            {
                let mut margins = st.margins.blocking_write();
                let mut cache = st.reports.blocking_write();
                for ((id, _), current) in affected.iter().zip(&figures) {
                    let prev = margins.get(*id).copied();
                    if prev.is_some_and(|p| p.seq > seq) {
                        continue;
                    }
                    let published = prev.and_then(|p| p.published);
                    let serialise = subscribed.contains(*id)
                        || (wide
                            && match (current, &published) {
                                (Some(c), Some(p)) => c.moved(p, threshold),
                                _ => true,
                            });
                    margins.insert(
                        (*id).clone(),
                        AccountMargin {
                            seq,
                            current: *current,
                            published,
                        },
                    );
                    if serialise {
                        to_serialise.push(updates.len());
                    } else {
                        cache.remove(id);
                    }
                    updates.push(Update {
                        id: (*id).clone(),
                        previous: prev.map(|p| p.current.map(|c| c.state)),
                        current: *current,
                        report: None,
                    });
                }
            }
            // The full report, by the per-account path, for the accounts someone will read.
            let reports: Vec<(usize, Arc<Report>)> = to_serialise
                .par_iter()
                .filter_map(|&k| {
                    let acc = books.get(&updates[k].id)?;
                    let r = crate::risk::margin_report(acc, &assets, &market, None)
                        .unwrap_or_else(|e| crate::risk::failed_report(&updates[k].id, &e));
                    Some((k, Arc::new(r)))
                })
                .collect();
            {
                let mut margins = st.margins.blocking_write();
                let mut cache = st.reports.blocking_write();
                for (k, r) in &reports {
                    let id = &updates[*k].id;
                    if let Some(e) = margins.get_mut(id).filter(|e| e.seq == seq) {
                        e.published = r.margin_figures();
                        cache.insert(id, seq, r.clone());
                    }
                }
            }
            let pass = FastPass {
                accounts: updates.len(),
                serialised: reports.len(),
                shared_instruments: shared.as_ref().map_or(0, |s| s.len()),
            };
            for (k, r) in reports {
                updates[k].report = Some(r);
            }
            (updates, pass)
        })
    })
    .await
    .unwrap_or_default();
    let (updates, pass) = work;
    use std::sync::atomic::Ordering::Relaxed;
    st.monitor
        .reports_serialised
        .fetch_add(pass.serialised as u64, Relaxed);
    st.monitor
        .reports_skipped
        .fetch_add((pass.accounts - pass.serialised) as u64, Relaxed);
    st.monitor
        .last_shared_instruments
        .store(pass.shared_instruments as u64, Relaxed);
    finish(st, updates, market.timestamp_ms).await;
    pass
}

/// Writes the margin-history points that are due ([`crate::history::Recorder`]) in one
/// transaction; a storage failure is logged, never stops the monitor.
async fn record_history(st: &Shared, updates: &[Update], market_ms: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let points: Vec<(String, crate::history::HistoryPoint)> = updates
        .iter()
        .filter_map(|u| {
            let f = u.current.as_ref()?;
            // Checked before stamping: a report without figures never takes a slot.
            crate::history::HistoryPoint::of(f, now, market_ms)?;
            let t = st.history.stamp(&u.id, now, Some(f.state))?;
            crate::history::HistoryPoint::of(f, t, market_ms).map(|p| (u.id.clone(), p))
        })
        .collect();
    if points.is_empty() {
        return;
    }
    if let Err(e) = st
        .ledger
        .record_history(&points, crate::history::KEEP)
        .await
    {
        tracing::warn!("margin history: {e}");
    }
}

/// The wire name of a state (`unknown` when the account could not be margined).
fn state_name(s: Option<AccountState>) -> String {
    s.and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// What `/health` shows of the feed: the feed breakers active now and, for a live feed, each
/// source's status, the prices withheld so far and the latest alarms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeedHealth {
    /// Feed breakers active now (empty for a replay).
    pub breakers: Vec<FeedTrip>,
    /// Each source's status (`null` for a replay).
    pub sources: Option<Value>,
    /// Each account stream's status (`null` without account streams).
    pub accounts: Option<Value>,
    /// Prices withheld since start (stale or diverging source).
    pub withheld: u64,
    /// The latest alarms, newest last (at most [`RECENT_ALARMS`]).
    pub recent_alarms: VecDeque<intermargin_live::Alarm>,
}

/// Alarms `/health` keeps.
pub const RECENT_ALARMS: usize = 32;

/// Publishes a feed breaker's trip or recovery to every subscriber and logs it.
fn announce(st: &Shared, change: &FeedBreakerChange) {
    match change {
        FeedBreakerChange::Tripped(t) => {
            tracing::warn!(source = %t.source, "circuit breaker tripped ({}): {}", t.reason, t.detail);
            publish(
                st,
                "*",
                json!({"type": "alert", "account": "*", "state": "circuit_breaker", "reason": t.reason,
                       "source": t.source, "asset": t.asset, "action": Action::HaltLiquidations,
                       "since_ms": t.since_ms, "detail": t.detail}),
            );
        }
        FeedBreakerChange::Cleared(t) => {
            tracing::info!(source = %t.source, "circuit breaker cleared ({}): the source recovered", t.reason);
            publish(
                st,
                "*",
                json!({"type": "alert", "account": "*", "state": "circuit_breaker_cleared", "reason": t.reason,
                       "source": t.source, "asset": t.asset, "since_ms": t.since_ms}),
            );
        }
    }
}

/// Runs the feed forever: each batch of ticks updates the market and re-margins the accounts it
/// touches; a live feed's alarms trip and clear the feed breakers, and a live batch's wall time
/// is the market clock.
pub async fn run(st: Shared, mut feed: Box<dyn PriceFeed>, mut breakers: LiveBreakers) {
    use std::sync::atomic::Ordering::Release;
    let mut clock = st.market.read().await.timestamp_ms;
    let mut last_t = 0i64;
    while let Some(batch) = feed.next_batch().await {
        if let Some(w) = batch.wall_ms {
            clock = clock.max(w);
        }
        for alarm in &batch.alarms {
            if !alarm.kind.trips() {
                tracing::info!(source = ?alarm.source, "feed: {:?}: {}", alarm.kind, alarm.detail);
            }
            for change in breakers.observe_alarm(clock, alarm) {
                announce(&st, &change);
            }
        }
        if batch.sources.is_some() || !batch.alarms.is_empty() || batch.withheld > 0 {
            let mut h = st.monitor.feed.lock().unwrap_or_else(|p| p.into_inner());
            h.breakers = breakers.feed_trips();
            if batch.sources.is_some() {
                h.sources = batch.sources.clone();
            }
            if batch.account_streams.is_some() {
                h.accounts = batch.account_streams.clone();
            }
            h.withheld += batch.withheld as u64;
            for a in &batch.alarms {
                if h.recent_alarms.len() >= RECENT_ALARMS {
                    h.recent_alarms.pop_front();
                }
                h.recent_alarms.push_back(a.clone());
            }
        }
        for u in &batch.accounts {
            match crate::live::apply_account_update(&st, u).await {
                Ok(()) => tracing::info!(
                    "account {}: {} positions on {} from its account stream",
                    u.account,
                    u.positions.len(),
                    u.venue
                ),
                Err(e) => {
                    tracing::warn!("account {}: streamed positions not filed: {e}", u.account)
                }
            }
        }
        if batch.ticks.is_empty() {
            // Alarms only: the clock and the halt still move (market time first, as below).
            if batch.wall_ms.is_some() {
                st.market.write().await.timestamp_ms = clock;
                st.monitor.market_time_ms.store(clock, Release);
            }
            st.monitor
                .halt_until_ms
                .store(breakers.halt_until(), Release);
            continue;
        }
        let mut moved = std::collections::BTreeSet::new();
        for tick in &batch.ticks {
            if batch.wall_ms.is_none() {
                clock += (tick.t_ms - last_t).max(0);
                last_t = tick.t_ms;
            }
            for trip in breakers.observe(clock, tick) {
                let b = &breakers.file.breakers[trip.breaker];
                publish(
                    &st,
                    "*",
                    json!({"type": "alert", "account": "*", "state": "circuit_breaker", "key": trip.key,
                           "move": trip.change, "breaker": trip.breaker, "trigger": b.trigger,
                           "action": b.action, "until_ms": trip.until_ms}),
                );
            }
            let mut m = st.market.write().await;
            m.timestamp_ms = clock;
            // Market time first, then the halt (Release): a reader that loads the halt and then the
            // time (Acquire, as /health does) never sees a halt from a tick ahead of its clock.
            st.monitor.market_time_ms.store(clock, Release);
            st.monitor
                .halt_until_ms
                .store(breakers.halt_until(), Release);
            match apply_tick(&mut m, tick) {
                Ok(u) => {
                    moved.insert(u);
                }
                Err(e) => tracing::warn!("{e}"),
            }
            // A new market version: reports computed before it are stale.
            st.monitor.market_seq.fetch_add(1, Release);
        }
        let started = std::time::Instant::now();
        let pass = remargin_fast(&st, Some(moved)).await;
        let m = &st.monitor;
        use std::sync::atomic::Ordering::Relaxed;
        m.batches.fetch_add(1, Relaxed);
        m.last_accounts.store(pass.accounts as u64, Relaxed);
        m.last_remargin_us
            .store(started.elapsed().as_micros() as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_update_the_named_market_field() {
        let mut m = Market::new(0, "USD");
        let t = |key: &str, price| PriceTick {
            t_ms: 0,
            key: key.into(),
            price,
        };
        assert_eq!(apply_tick(&mut m, &t("fx:BTC", 90_000.0)).unwrap(), "BTC");
        assert_eq!(m.fx["BTC"], 90_000.0);
        assert_eq!(
            apply_tick(&mut m, &t("index:deribit:BTC", 90_010.0)).unwrap(),
            "BTC"
        );
        assert_eq!(m.index_prices["deribit:BTC"], 90_010.0);
        assert_eq!(
            apply_tick(&mut m, &t("iv:deribit:BTC-27DEC24-60000-C", 0.55)).unwrap(),
            "deribit:BTC-27DEC24-60000-C"
        );
        assert_eq!(m.mark_ivs["deribit:BTC-27DEC24-60000-C"], 0.55);
        assert!(apply_tick(&mut m, &t("bogus:X", 1.0)).is_err());
        assert!(apply_tick(&mut m, &t("fx", 1.0)).is_err());
    }

    fn live(text: &str) -> LiveBreakers {
        LiveBreakers::new(BreakerFile::from_toml(text).unwrap())
    }

    const FIVE_PCT_IN_60S: &str = "step_ms = 1000\n[[breakers]]\n\
        trigger = { kind = \"price_move\", pct = 0.05, window_steps = 60 }\n\
        action = { kind = \"halt_liquidations\" }\ncooldown_steps = 300\n";

    fn tick(t_ms: i64, price: f64) -> PriceTick {
        PriceTick {
            t_ms,
            key: "fx:BTC".into(),
            price,
        }
    }

    #[test]
    fn a_risk_lab_breaker_trips_once_per_cooldown_and_halts_liquidations() {
        let mut b = live(FIVE_PCT_IN_60S);
        assert!(b.observe(0, &tick(0, 100.0)).is_empty());
        assert!(
            b.observe(10_000, &tick(10_000, 103.0)).is_empty(),
            "+3 % < 5 %"
        );
        // 94 against 100 (the oldest price, the feed being younger than the window): −6 %.
        let trips = b.observe(20_000, &tick(20_000, 94.0));
        assert_eq!(trips.len(), 1);
        assert!((trips[0].change - (94.0 / 100.0 - 1.0)).abs() < 1e-12);
        assert_eq!(trips[0].until_ms, 20_000 + 300 * 1_000);
        assert_eq!(b.halt_until(), 320_000);
        assert!(
            b.observe(40_000, &tick(40_000, 80.0)).is_empty(),
            "still cooling down"
        );
        // After the cool-down: 100 against 80 (the price 60 s before 400 s is the one at 40 s).
        let trips = b.observe(400_000, &tick(400_000, 100.0));
        assert_eq!(trips.len(), 1);
        assert!((trips[0].change - 0.25).abs() < 1e-12);
    }

    #[test]
    fn a_move_spread_over_more_than_the_window_does_not_trip() {
        let mut b = live(FIVE_PCT_IN_60S);
        assert!(b.observe(0, &tick(0, 100.0)).is_empty());
        assert!(b.observe(30_000, &tick(30_000, 104.0)).is_empty());
        // +9 % since 0 s, but the window starts at 30 s: 109 / 104 − 1 = 4.8 % < 5 %.
        assert!(b.observe(90_000, &tick(90_000, 109.0)).is_empty());
        assert_eq!(b.halt_until(), i64::MIN);
    }

    fn alarm(
        kind: intermargin_live::AlarmKind,
        source: &str,
        asset: Option<&str>,
    ) -> intermargin_live::Alarm {
        intermargin_live::Alarm {
            kind,
            source: Some(source.into()),
            asset: asset.map(str::to_string),
            detail: String::new(),
            t_ms: 0,
        }
    }

    #[test]
    fn feed_alarms_trip_until_their_source_recovers() {
        use intermargin_live::AlarmKind::*;
        let mut b = live("step_ms = 1000\nbreakers = []\n");
        assert_eq!(b.halt_until(), i64::MIN);
        // Informational alarms trip nothing.
        assert!(b
            .observe_alarm(5, &alarm(Disconnected, "okx", None))
            .is_empty());
        assert!(b.observe_alarm(5, &alarm(BadFrame, "okx", None)).is_empty());
        let t = b.observe_alarm(10, &alarm(StaleFeed, "binance", None));
        assert!(
            matches!(&t[..], [FeedBreakerChange::Tripped(x)] if x.reason == STALE_FEED && x.source == "binance" && x.since_ms == 10)
        );
        assert_eq!(b.halt_until(), i64::MAX);
        // Repeated alarm: still one breaker.
        assert!(b
            .observe_alarm(20, &alarm(StaleFeed, "binance", None))
            .is_empty());
        // Two sources disagreeing on BTC: one breaker each.
        let t = b.observe_alarm(30, &alarm(OracleDivergence, "deribit,okx", Some("BTC")));
        assert_eq!(t.len(), 2);
        assert_eq!(b.feed_trips().len(), 3);
        // A recovery naming the asset ends that source's divergence only.
        let t = b.observe_alarm(40, &alarm(Recovered, "okx", Some("BTC")));
        assert!(
            matches!(&t[..], [FeedBreakerChange::Cleared(x)] if x.reason == ORACLE_DIVERGENCE && x.source == "okx")
        );
        let t = b.observe_alarm(50, &alarm(Recovered, "binance", None));
        assert!(matches!(&t[..], [FeedBreakerChange::Cleared(x)] if x.reason == STALE_FEED));
        assert_eq!(b.halt_until(), i64::MAX, "deribit still diverges");
        b.observe_alarm(60, &alarm(Recovered, "deribit", Some("BTC")));
        assert!(b.feed_trips().is_empty());
        assert_eq!(b.halt_until(), i64::MIN);
    }

    #[test]
    fn breaker_files_name_the_bad_field() {
        let e = BreakerFile::from_toml("step_ms = 0\nbreakers = []").unwrap_err();
        assert!(e.contains("step_ms"), "{e}");
        let e = BreakerFile::from_toml(
            "step_ms = 1000\n[[breakers]]\ntrigger = { kind = \"price_move\", pct = 0.0, window_steps = 5 }\n\
             action = { kind = \"halt_liquidations\" }\ncooldown_steps = 1\n",
        )
        .unwrap_err();
        assert!(e.contains("breakers[0].trigger"), "{e}");
        // The file the service ships with parses.
        BreakerFile::from_toml(crate::DEMO_BREAKERS).unwrap();
    }

    #[test]
    fn replay_rejects_bad_lines_with_their_number() {
        assert!(
            ReplayFeed::parse("{\"t_ms\":0,\"key\":\"fx:BTC\",\"price\":1}\nnot json", 1.0)
                .err()
                .unwrap()
                .starts_with("feed line 2")
        );
        assert!(ReplayFeed::parse("{\"t_ms\":0,\"key\":\"fx:BTC\",\"price\":-1}", 1.0).is_err());
    }
}
