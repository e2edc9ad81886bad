//! The live monitor: consumes a price feed, re-margins only the accounts the tick touches,
//! and raises margin-call and liquidation alerts on the WebSocket feed.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use intermargin_model::Market;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::state::Shared;

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

/// A source of price ticks: a replay file by default, a venue WebSocket in production.
#[async_trait::async_trait]
pub trait PriceFeed: Send {
    /// The next ticks sharing one timestamp (re-margined together), or `None` when the feed ends.
    async fn next_batch(&mut self) -> Option<Vec<PriceTick>>;
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
    async fn next_batch(&mut self) -> Option<Vec<PriceTick>> {
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
        Some(batch)
    }
}

/// Applies a tick to the market; returns the underlying it moves, or an error naming the key.
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
        other => return Err(format!("tick key {:?}: unknown kind {other:?}", tick.key)),
    };
    Ok(underlying)
}

/// A circuit breaker on one key: a move beyond `max_move` within `window_ms` trips it for `cooldown_ms`.
pub struct MoveBreaker {
    max_move: f64,
    window_ms: i64,
    cooldown_ms: i64,
    history: HashMap<String, VecDeque<(i64, f64)>>,
    tripped_until: HashMap<String, i64>,
}

impl MoveBreaker {
    /// A breaker tripping on a relative move above `max_move` within `window_ms`.
    pub fn new(max_move: f64, window_ms: i64, cooldown_ms: i64) -> Self {
        MoveBreaker {
            max_move,
            window_ms,
            cooldown_ms,
            history: HashMap::new(),
            tripped_until: HashMap::new(),
        }
    }

    /// Records a tick; returns the relative move when this tick trips the breaker.
    pub fn observe(&mut self, tick: &PriceTick) -> Option<f64> {
        let h = self.history.entry(tick.key.clone()).or_default();
        while h
            .front()
            .is_some_and(|(t, _)| tick.t_ms - t > self.window_ms || *t > tick.t_ms)
        {
            h.pop_front();
        }
        h.push_back((tick.t_ms, tick.price));
        let (lo, hi) = h.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, p)| {
            (lo.min(*p), hi.max(*p))
        });
        let mv = (hi - lo) / lo;
        let until = self
            .tripped_until
            .get(&tick.key)
            .copied()
            .unwrap_or(i64::MIN);
        if mv > self.max_move && tick.t_ms >= until {
            self.tripped_until
                .insert(tick.key.clone(), tick.t_ms + self.cooldown_ms);
            return Some(mv);
        }
        None
    }

    /// True while the key's breaker is cooling down.
    pub fn is_tripped(&self, key: &str, now_ms: i64) -> bool {
        self.tripped_until.get(key).is_some_and(|u| now_ms < *u)
    }
}

/// Publishes a message for one account (or `*` for everyone).
pub fn publish(st: &Shared, account: &str, msg: serde_json::Value) {
    // No subscribers is not an error.
    let _ = st
        .feed
        .send(Arc::new((account.to_string(), msg.to_string())));
}

/// Recomputes the margin of `ids` (in parallel, off the async threads), stores the reports,
/// and alerts on state changes.
pub async fn remargin_accounts(st: &Shared, ids: &[String]) {
    let market = Arc::new(st.market.read().await.clone());
    let assets = Arc::new(st.assets.read().await.clone());
    let mut work = Vec::with_capacity(ids.len());
    {
        let reports = st.reports.read().await;
        for id in ids {
            let Ok(book) = st.book(id).await else {
                continue;
            };
            let previous = reports.get(id).cloned();
            work.push((id.clone(), book, previous));
        }
    }
    let (m, a) = (market.clone(), assets.clone());
    let pool = st.monitor_pool.clone();
    let computed = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        pool.install(|| {
            work.into_par_iter()
                .map(|(id, book, previous)| {
                    let prev_state = previous.as_ref().and_then(|r| r.state);
                    let report = crate::risk::margin_report(&book, &a, &m, prev_state)
                        .unwrap_or_else(|e| crate::risk::failed_report(&id, &e));
                    (id, Arc::new(report), previous)
                })
                .collect::<Vec<_>>()
        })
    })
    .await
    .unwrap_or_default();
    {
        let mut reports = st.reports.write().await;
        for (id, report, _) in &computed {
            reports.insert(id.clone(), report.clone());
        }
    }
    // Nobody listening: skip building the per-account messages.
    let listening = st.feed.receiver_count() > 0;
    for (id, report, previous) in computed {
        let new_state = state_name(report.state);
        let old_state = previous.as_ref().map(|r| state_name(r.state));
        if old_state.as_deref() != Some(new_state.as_str())
            && matches!(
                new_state.as_str(),
                "margin_call" | "liquidation" | "bankrupt"
            )
        {
            publish(
                st,
                &id,
                json!({"type": "alert", "account": id, "state": new_state, "previous": old_state, "timestamp_ms": market.timestamp_ms}),
            );
        }
        if listening {
            // The report's JSON text is reused as is, not re-serialised per message.
            let text = format!(
                "{{\"type\":\"margin\",\"account\":{},\"report\":{}}}",
                Value::String(id.clone()),
                String::from_utf8_lossy(&report.json)
            );
            let _ = st.feed.send(Arc::new((id, text)));
        }
    }
}

/// The wire name of a state (`unknown` when the account could not be margined).
fn state_name(s: Option<intermargin_liquidation::AccountState>) -> String {
    s.and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Runs the feed forever: each batch of ticks updates the market and re-margins the accounts it touches.
pub async fn run(st: Shared, mut feed: Box<dyn PriceFeed>, mut breaker: MoveBreaker) {
    let mut clock = st.market.read().await.timestamp_ms;
    let mut last_t = 0i64;
    while let Some(batch) = feed.next_batch().await {
        let mut moved = std::collections::BTreeSet::new();
        for tick in &batch {
            clock += (tick.t_ms - last_t).max(0);
            last_t = tick.t_ms;
            if let Some(mv) = breaker.observe(tick) {
                publish(
                    &st,
                    "*",
                    json!({"type": "alert", "account": "*", "state": "circuit_breaker", "key": tick.key, "move": mv}),
                );
            }
            let mut m = st.market.write().await;
            m.timestamp_ms = clock;
            match apply_tick(&mut m, tick) {
                Ok(u) => {
                    moved.insert(u);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let affected: Vec<String> = st
            .books
            .read()
            .await
            .iter()
            .filter(|(_, acc)| {
                moved.iter().any(|u| {
                    acc.positions
                        .iter()
                        .any(|p| &p.instrument.underlying == u || &p.instrument.id() == u)
                        || acc.collateral.iter().any(|c| &c.asset == u)
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        let started = std::time::Instant::now();
        remargin_accounts(&st, &affected).await;
        let m = &st.monitor;
        use std::sync::atomic::Ordering::Relaxed;
        m.batches.fetch_add(1, Relaxed);
        m.last_accounts.store(affected.len() as u64, Relaxed);
        m.last_remargin_us
            .store(started.elapsed().as_micros() as u64, Relaxed);
        m.market_time_ms.store(clock, Relaxed);
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
        assert!(apply_tick(&mut m, &t("bogus:X", 1.0)).is_err());
        assert!(apply_tick(&mut m, &t("fx", 1.0)).is_err());
    }

    #[test]
    fn breaker_trips_once_per_cooldown_on_a_fast_move() {
        let mut b = MoveBreaker::new(0.05, 60_000, 300_000);
        let t = |t_ms, price| PriceTick {
            t_ms,
            key: "fx:BTC".into(),
            price,
        };
        assert!(b.observe(&t(0, 100.0)).is_none());
        assert!(b.observe(&t(10_000, 103.0)).is_none()); // 3 % < 5 %
        let mv = b.observe(&t(20_000, 94.0)).unwrap(); // (103 − 94)/94 ≈ 9.6 %
        assert!((mv - 9.0 / 94.0).abs() < 1e-12);
        assert!(b.is_tripped("fx:BTC", 30_000));
        assert!(b.observe(&t(40_000, 80.0)).is_none(), "still cooling down");
        assert!(!b.is_tripped("fx:BTC", 400_000));
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
