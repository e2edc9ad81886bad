//! The feed the monitor reads: batches of prices it may trust, and alarms for what it must not.
//!
//! Judgement, per batch:
//! * **stale feed**: a source with no price for longer than its limit is stale; its prices are
//!   withheld (margin keeps the last good ones) and an alarm goes out; it recovers on the first
//!   price within the limit;
//! * **oracle divergence**: the index prices of one asset from every fresh source are compared;
//!   when max/min − 1 exceeds `divergence_pct`, the sources farther than half of it from the
//!   median are diverging (both of two, since neither can be preferred) and their prices of
//!   that asset are withheld until they agree again;
//! * **fx**: each asset's USD rate (`fx:ASSET`) is the median of the fresh, agreeing sources'
//!   index prices, so one bad source can neither move it nor hold it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::board::{Board, Health, HealthEvent, Quote, SourceStatus};
use crate::config::{ConfigError, LiveConfig, Source};
use crate::now_ms;

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// A source went silent beyond its limit.
    StaleFeed,
    /// Sources disagree on an asset's index beyond the limit.
    OracleDivergence,
    /// A stale or diverging source is trusted again.
    Recovered,
    /// A numbered message was lost (the source reconnects).
    SequenceGap,
    /// A connection dropped (a reconnect follows).
    Disconnected,
    /// A frame could not be read and was skipped.
    BadFrame,
    /// The venue answered with an error.
    VenueError,
}

impl AlarmKind {
    /// Whether the alarm should trip circuit breakers (the others are informational).
    pub fn trips(self) -> bool {
        matches!(self, AlarmKind::StaleFeed | AlarmKind::OracleDivergence)
    }
}

/// One alarm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// What.
    pub kind: AlarmKind,
    /// Which source, if one.
    pub source: Option<String>,
    /// Which asset, if one.
    pub asset: Option<String>,
    /// A sentence for the operator.
    pub detail: String,
    /// When (UTC ms).
    pub t_ms: i64,
}

/// One price the monitor may apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveTick {
    /// Canonical key (`fx:BTC`, `index:deribit:BTC`, `mark:okx:BTC-USD-SWAP`, `iv:…`).
    pub key: String,
    /// The price.
    pub price: f64,
}

/// What one call of [`LiveFeed::next_batch`] returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveBatch {
    /// When the batch was cut (UTC ms): the monitor's market clock.
    pub t_ms: i64,
    /// Prices to apply.
    pub ticks: Vec<LiveTick>,
    /// Alarms raised since the last batch.
    pub alarms: Vec<Alarm>,
    /// Prices received but withheld (stale or diverging source).
    pub withheld: usize,
}

/// The judgement rules (see the module docs).
#[derive(Debug, Clone)]
pub struct Rules {
    /// Staleness limit per source name.
    pub stale_after: BTreeMap<String, Duration>,
    /// max/min − 1 beyond which index sources diverge.
    pub divergence_pct: f64,
}

/// Pure judgement state, kept apart from I/O so it can be tested on any sequence of quotes.
#[derive(Debug, Clone)]
pub struct Judge {
    rules: Rules,
    started_ms: i64,
    last_price_ms: HashMap<String, i64>,
    stale: BTreeSet<String>,
    /// (asset, source) → latest index price and when received.
    index: BTreeMap<(String, String), (f64, i64)>,
    diverging: BTreeMap<String, BTreeSet<String>>,
    fx: BTreeMap<String, f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn key_kind(key: &str) -> &str {
    key.split(':').next().unwrap_or("")
}

impl Judge {
    /// A judge for these rules, starting its clocks at `now_ms`.
    pub fn new(rules: Rules, now_ms: i64) -> Judge {
        Judge {
            rules,
            started_ms: now_ms,
            last_price_ms: HashMap::new(),
            stale: BTreeSet::new(),
            index: BTreeMap::new(),
            diverging: BTreeMap::new(),
            fx: BTreeMap::new(),
        }
    }

    fn limit(&self, source: &str) -> Duration {
        self.rules
            .stale_after
            .get(source)
            .copied()
            .unwrap_or(Duration::from_secs(10))
    }

    /// Sources stale now.
    pub fn stale_sources(&self) -> &BTreeSet<String> {
        &self.stale
    }

    /// Judges what arrived at `now` (each quote names its asset).
    pub fn judge(&mut self, now: i64, quotes: Vec<Quote>, events: Vec<HealthEvent>) -> LiveBatch {
        let mut alarms = Vec::new();
        for e in events {
            let (kind, detail) = match &e.health {
                Health::Gap { expected, got } => (
                    AlarmKind::SequenceGap,
                    format!("message {expected} expected, {got} received: reconnecting for a fresh snapshot"),
                ),
                Health::Disconnected { reason } => (AlarmKind::Disconnected, reason.clone()),
                Health::BadFrame { reason } => (AlarmKind::BadFrame, reason.clone()),
                Health::VenueError { message } => (AlarmKind::VenueError, message.clone()),
                // Staleness is judged here from the prices' times, not reported by sources.
                Health::Connected => continue,
            };
            alarms.push(Alarm {
                kind,
                source: Some(e.source.clone()),
                asset: None,
                detail,
                t_ms: e.t_ms,
            });
        }
        for q in &quotes {
            let t = self
                .last_price_ms
                .entry(q.source.clone())
                .or_insert(q.recv_ms);
            *t = (*t).max(q.recv_ms);
        }
        // Staleness, for every configured source (a source that never priced counts from start).
        let sources: Vec<String> = self.rules.stale_after.keys().cloned().collect();
        for s in sources {
            let last = self
                .last_price_ms
                .get(&s)
                .copied()
                .unwrap_or(self.started_ms);
            let silent = now - last;
            let limit = self.limit(&s).as_millis() as i64;
            if silent > limit && self.stale.insert(s.clone()) {
                alarms.push(Alarm {
                    kind: AlarmKind::StaleFeed,
                    source: Some(s.clone()),
                    asset: None,
                    detail: format!(
                        "no price from {s} for {:.1} s (limit {:.1} s): its prices no longer move margin",
                        silent as f64 / 1000.0,
                        limit as f64 / 1000.0
                    ),
                    t_ms: now,
                });
            } else if silent <= limit && self.stale.remove(&s) {
                alarms.push(Alarm {
                    kind: AlarmKind::Recovered,
                    source: Some(s.clone()),
                    asset: None,
                    detail: format!("{s} prices again"),
                    t_ms: now,
                });
            }
        }
        // Index prices per asset and source.
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for q in &quotes {
            if key_kind(&q.key) == "index" {
                if let Some(a) = &q.asset {
                    self.index
                        .insert((a.clone(), q.source.clone()), (q.value, q.recv_ms));
                    touched.insert(a.clone());
                }
            }
        }
        // A source going stale or recovering changes who counts for every asset it prices.
        let all_assets: BTreeSet<String> = self.index.keys().map(|(a, _)| a.clone()).collect();
        for asset in all_assets {
            let fresh: Vec<(String, f64)> = self
                .index
                .range((asset.clone(), String::new())..)
                .take_while(|((a, _), _)| *a == asset)
                .filter(|((_, s), (_, t))| {
                    !self.stale.contains(s) && now - *t <= self.limit(s).as_millis() as i64
                })
                .map(|((_, s), (p, _))| (s.clone(), *p))
                .collect();
            let mut flagged = BTreeSet::new();
            if fresh.len() >= 2 {
                let hi = fresh.iter().map(|x| x.1).fold(f64::MIN, f64::max);
                let lo = fresh.iter().map(|x| x.1).fold(f64::MAX, f64::min);
                if hi / lo - 1.0 > self.rules.divergence_pct {
                    let m = median(fresh.iter().map(|x| x.1).collect());
                    for (s, p) in &fresh {
                        if (p / m - 1.0).abs() > self.rules.divergence_pct / 2.0 {
                            flagged.insert(s.clone());
                        }
                    }
                }
            }
            let before = self.diverging.get(&asset).cloned().unwrap_or_default();
            if flagged != before {
                let newly: Vec<&String> = flagged.difference(&before).collect();
                if !newly.is_empty() {
                    let prices: Vec<String> =
                        fresh.iter().map(|(s, p)| format!("{s} {p}")).collect();
                    alarms.push(Alarm {
                        kind: AlarmKind::OracleDivergence,
                        source: Some(newly.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")),
                        asset: Some(asset.clone()),
                        detail: format!(
                            "{asset} index sources disagree beyond {:.2} % ({}): the diverging sources' {asset} prices are withheld",
                            self.rules.divergence_pct * 100.0,
                            prices.join(", ")
                        ),
                        t_ms: now,
                    });
                }
                for s in before.difference(&flagged) {
                    alarms.push(Alarm {
                        kind: AlarmKind::Recovered,
                        source: Some(s.clone()),
                        asset: Some(asset.clone()),
                        detail: format!("{s} agrees again on {asset}"),
                        t_ms: now,
                    });
                }
                if flagged.is_empty() {
                    self.diverging.remove(&asset);
                } else {
                    self.diverging.insert(asset.clone(), flagged.clone());
                }
                touched.insert(asset.clone());
            }
            if touched.contains(&asset) {
                let agreeing: Vec<f64> = fresh
                    .iter()
                    .filter(|(s, _)| !flagged.contains(s))
                    .map(|x| x.1)
                    .collect();
                if !agreeing.is_empty() {
                    self.fx.insert(asset.clone(), median(agreeing));
                }
            }
        }
        let mut ticks = Vec::new();
        let mut withheld = 0;
        for q in quotes {
            let kind = key_kind(&q.key);
            if kind == "mid" {
                continue;
            }
            let diverging = q
                .asset
                .as_ref()
                .and_then(|a| self.diverging.get(a))
                .is_some_and(|set| set.contains(&q.source));
            if self.stale.contains(&q.source) || diverging {
                withheld += 1;
                continue;
            }
            ticks.push(LiveTick {
                key: q.key,
                price: q.value,
            });
        }
        for a in touched {
            if let Some(fx) = self.fx.get(&a) {
                ticks.push(LiveTick {
                    key: format!("fx:{a}"),
                    price: *fx,
                });
            }
        }
        LiveBatch {
            t_ms: now,
            ticks,
            alarms,
            withheld,
        }
    }
}

/// The running sources and the judge: what `serve --live` reads.
pub struct LiveFeed {
    board: Arc<Board>,
    judge: Judge,
    batch: Duration,
    tick_every: Duration,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl LiveFeed {
    /// Starts every configured source on the current tokio runtime.
    pub fn start(cfg: &LiveConfig) -> Result<LiveFeed, ConfigError> {
        let sources = cfg.sources()?;
        let board = Arc::new(Board::new());
        let (stop, rx) = watch::channel(false);
        let mut stale_after = BTreeMap::new();
        let mut tasks = Vec::new();
        for s in sources {
            match s {
                Source::Ws(w) => {
                    stale_after.insert(w.name.clone(), w.stale_after);
                    tasks.push(tokio::spawn(crate::ws::run(w, board.clone(), rx.clone())));
                }
                Source::Aave(a) => {
                    stale_after.insert(a.name.clone(), a.stale_after);
                    tasks.push(tokio::spawn(crate::aave::run(a, board.clone(), rx.clone())));
                }
            }
        }
        let shortest = stale_after
            .values()
            .min()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        Ok(LiveFeed {
            board,
            judge: Judge::new(
                Rules {
                    stale_after,
                    divergence_pct: cfg.divergence_pct,
                },
                now_ms(),
            ),
            batch: Duration::from_millis(cfg.batch_ms),
            tick_every: (shortest / 4).max(Duration::from_millis(10)),
            stop,
            tasks,
        })
    }

    /// Waits for prices (or for the staleness clock), then returns the judged batch.
    pub async fn next_batch(&mut self) -> LiveBatch {
        tokio::select! {
            _ = self.board.changed() => {
                // Let the batch window fill: prices arriving together are re-margined together.
                tokio::time::sleep(self.batch).await;
            }
            _ = tokio::time::sleep(self.tick_every) => {}
        }
        let (quotes, events) = self.board.drain();
        self.judge.judge(now_ms(), quotes, events)
    }

    /// Each configured source's connection state and counters (a source that has not yet
    /// connected nor priced is listed too, disconnected), by name.
    pub fn status(&self) -> Vec<(String, SourceStatus)> {
        let mut st = self.board.status();
        for name in self.judge.rules.stale_after.keys() {
            if !st.iter().any(|(n, _)| n == name) {
                st.push((name.clone(), SourceStatus::default()));
            }
        }
        st.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, s) in st.iter_mut() {
            s.stale = self.judge.stale_sources().contains(name);
        }
        st
    }

    /// Stops every source (also done on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quote of BTC (every quote of these tests prices BTC: index, BTCUSDT, BTC-PERPETUAL).
    fn q(source: &str, key: &str, v: f64, t: i64) -> Quote {
        Quote {
            source: source.into(),
            key: key.into(),
            value: v,
            venue_ms: None,
            recv_ms: t,
            asset: Some("BTC".into()),
        }
    }

    fn judge() -> Judge {
        let mut stale_after = BTreeMap::new();
        for s in ["deribit", "okx", "binance"] {
            stale_after.insert(s.to_string(), Duration::from_millis(1000));
        }
        Judge::new(
            Rules {
                stale_after,
                divergence_pct: 0.02,
            },
            0,
        )
    }

    fn fx(b: &LiveBatch, a: &str) -> Option<f64> {
        b.ticks
            .iter()
            .find(|t| t.key == format!("fx:{a}"))
            .map(|t| t.price)
    }

    #[test]
    fn fx_is_the_median_of_agreeing_sources() {
        let mut j = judge();
        let b = j.judge(
            10,
            vec![
                q("deribit", "index:deribit:BTC", 100.0, 10),
                q("okx", "index:okx:BTC", 101.0, 10),
                q("binance", "index:binance:BTC", 100.5, 10),
            ],
            vec![],
        );
        assert_eq!(fx(&b, "BTC"), Some(100.5));
        assert!(b.alarms.is_empty());
    }

    #[test]
    fn one_diverging_source_is_withheld_and_cannot_move_fx() {
        let mut j = judge();
        j.judge(
            10,
            vec![
                q("deribit", "index:deribit:BTC", 100.0, 10),
                q("okx", "index:okx:BTC", 100.2, 10),
            ],
            vec![],
        );
        // Binance's index jumps 10 % alone (a venue-local depeg).
        let b = j.judge(
            20,
            vec![
                q("binance", "index:binance:BTC", 110.0, 20),
                q("binance", "mark:binance:BTCUSDT", 110.1, 20),
            ],
            vec![],
        );
        assert_eq!(b.alarms.len(), 1);
        assert_eq!(b.alarms[0].kind, AlarmKind::OracleDivergence);
        assert_eq!(b.alarms[0].source.as_deref(), Some("binance"));
        assert_eq!(
            b.withheld, 2,
            "both the index and the mark of binance BTC are withheld"
        );
        assert_eq!(
            fx(&b, "BTC"),
            Some(100.1),
            "median of the two agreeing sources"
        );
        // Binance comes back in line: recovered, prices flow again.
        let b = j.judge(
            30,
            vec![q("binance", "index:binance:BTC", 100.1, 30)],
            vec![],
        );
        assert!(b.alarms.iter().any(|a| a.kind == AlarmKind::Recovered));
        assert!(b.ticks.iter().any(|t| t.key == "index:binance:BTC"));
    }

    #[test]
    fn two_disagreeing_sources_are_both_withheld() {
        let mut j = judge();
        let b = j.judge(
            10,
            vec![
                q("deribit", "index:deribit:BTC", 100.0, 10),
                q("okx", "index:okx:BTC", 103.0, 10),
            ],
            vec![],
        );
        assert_eq!(b.alarms[0].kind, AlarmKind::OracleDivergence);
        assert_eq!(b.withheld, 2);
        assert_eq!(
            fx(&b, "BTC"),
            None,
            "no fx move while the only two sources disagree"
        );
    }

    #[test]
    fn a_silent_source_goes_stale_and_recovers() {
        let mut j = judge();
        j.judge(
            10,
            vec![q("deribit", "index:deribit:BTC", 100.0, 10)],
            vec![],
        );
        let b = j.judge(1500, vec![], vec![]);
        let stale: Vec<_> = b
            .alarms
            .iter()
            .filter(|a| a.kind == AlarmKind::StaleFeed)
            .collect();
        assert_eq!(
            stale.len(),
            3,
            "every configured source silent for 1.5 s > 1 s: {b:?}"
        );
        assert!(stale.iter().all(|a| a.kind.trips()));
        // A price after the limit from deribit: recovered; the stale source's price is withheld
        // only while stale.
        let b = j.judge(
            1600,
            vec![q("deribit", "mark:deribit:BTC-PERPETUAL", 100.0, 1600)],
            vec![],
        );
        assert!(b
            .alarms
            .iter()
            .any(|a| a.kind == AlarmKind::Recovered && a.source.as_deref() == Some("deribit")));
        assert_eq!(b.ticks.len(), 1);
        // No duplicate stale alarm while silence continues.
        let b = j.judge(1700, vec![], vec![]);
        assert!(b.alarms.is_empty(), "{b:?}");
    }
}
