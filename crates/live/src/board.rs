//! The board: the latest price per key from every source, plus each source's health and a
//! bounded log of health events. Sources write, the feed reads; nothing queues without bound.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::Notify;

/// Keys the board holds at most (all sources together); new keys beyond it are dropped and
/// counted, existing keys keep updating.
pub const MAX_KEYS: usize = 100_000;
/// Health events kept for the feed to read; older ones are dropped and counted.
pub const MAX_EVENTS: usize = 4_096;

/// One price as last received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    /// The source that sent it (`deribit`, `aave`, or a configured name).
    pub source: String,
    /// Canonical market key (`mark:okx:BTC-USD-SWAP`, `index:deribit:BTC`).
    pub key: String,
    /// The price.
    pub value: f64,
    /// The venue's own timestamp, when it sends one (UTC ms).
    pub venue_ms: Option<i64>,
    /// When we received it (UTC ms).
    pub recv_ms: i64,
    /// The underlying asset it prices (`BTC`), as the frame's parser named it.
    pub asset: Option<String>,
}

/// What happened to a source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Health {
    /// Connected (or, for polling, the first answer arrived).
    Connected,
    /// The connection closed or could not be opened; a reconnect follows.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// A numbered message was missed: the source reconnects for a fresh snapshot.
    Gap {
        /// The number expected.
        expected: u64,
        /// The number received.
        got: u64,
    },
    /// A frame could not be read (logged and skipped).
    BadFrame {
        /// The parser's reason, naming the JSON path.
        reason: String,
    },
    /// The venue answered with an error (failed subscription, rejected request).
    VenueError {
        /// The venue's message.
        message: String,
    },
}

/// A health change of one source at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthEvent {
    /// The source.
    pub source: String,
    /// When (UTC ms).
    pub t_ms: i64,
    /// What.
    pub health: Health,
}

/// Counters and state of one source, for `/health` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceStatus {
    /// Connected now.
    pub connected: bool,
    /// Silent beyond its limit now (judged by the feed, see `LiveFeed::status`).
    pub stale: bool,
    /// Last price received (UTC ms).
    pub last_price_ms: Option<i64>,
    /// Connections opened.
    pub connects: u64,
    /// Disconnections seen.
    pub disconnects: u64,
    /// Frames skipped as unreadable.
    pub bad_frames: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Venue error messages received.
    pub venue_errors: u64,
}

#[derive(Default)]
struct Inner {
    latest: HashMap<String, Quote>,
    dirty: BTreeSet<String>,
    events: VecDeque<HealthEvent>,
    status: HashMap<String, SourceStatus>,
    dropped_keys: u64,
    dropped_events: u64,
}

/// Shared by the source tasks (writers) and the feed (reader).
#[derive(Default)]
pub struct Board {
    inner: Mutex<Inner>,
    notify: Notify,
}

impl Board {
    /// An empty board.
    pub fn new() -> Board {
        Board::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a writer panicked mid-update of plain maps; the data is
        // still a set of complete quotes, so keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records prices from `source`; wakes the feed.
    pub fn put(&self, quotes: Vec<Quote>) {
        if quotes.is_empty() {
            return;
        }
        {
            let mut g = self.lock();
            for q in quotes {
                if !g.latest.contains_key(&q.key) && g.latest.len() >= MAX_KEYS {
                    g.dropped_keys += 1;
                    continue;
                }
                let st = g.status.entry(q.source.clone()).or_default();
                st.last_price_ms = Some(q.recv_ms);
                g.dirty.insert(q.key.clone());
                g.latest.insert(q.key.clone(), q);
            }
        }
        self.notify.notify_one();
    }

    /// Records a health event and updates the source's counters; wakes the feed.
    pub fn event(&self, source: &str, t_ms: i64, health: Health) {
        {
            let mut g = self.lock();
            let st = g.status.entry(source.to_string()).or_default();
            match &health {
                Health::Connected => {
                    st.connected = true;
                    st.connects += 1;
                }
                Health::Disconnected { .. } => {
                    st.connected = false;
                    st.disconnects += 1;
                }
                Health::Gap { .. } => st.gaps += 1,
                Health::BadFrame { .. } => st.bad_frames += 1,
                Health::VenueError { .. } => st.venue_errors += 1,
            }
            if g.events.len() >= MAX_EVENTS {
                g.events.pop_front();
                g.dropped_events += 1;
            }
            g.events.push_back(HealthEvent {
                source: source.to_string(),
                t_ms,
                health,
            });
        }
        self.notify.notify_one();
    }

    /// Waits until something was written since the last wake-up.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }

    /// Takes the quotes updated since the last call, and the health events.
    pub fn drain(&self) -> (Vec<Quote>, Vec<HealthEvent>) {
        let mut g = self.lock();
        let keys = std::mem::take(&mut g.dirty);
        let quotes = keys
            .iter()
            .filter_map(|k| g.latest.get(k).cloned())
            .collect();
        let events = g.events.drain(..).collect();
        (quotes, events)
    }

    /// Every source's status, by name.
    pub fn status(&self) -> Vec<(String, SourceStatus)> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .status
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Keys and events dropped by the bounds (`MAX_KEYS`, `MAX_EVENTS`).
    pub fn dropped(&self) -> (u64, u64) {
        let g = self.lock();
        (g.dropped_keys, g.dropped_events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(key: &str, v: f64) -> Quote {
        Quote {
            source: "s".into(),
            key: key.into(),
            value: v,
            venue_ms: None,
            recv_ms: 1,
            asset: None,
        }
    }

    #[test]
    fn conflates_to_the_latest_value_per_key() {
        let b = Board::new();
        b.put(vec![
            q("mark:x:A", 1.0),
            q("mark:x:A", 2.0),
            q("mark:x:B", 3.0),
        ]);
        b.put(vec![q("mark:x:A", 4.0)]);
        let (quotes, _) = b.drain();
        let got: Vec<(String, f64)> = quotes.into_iter().map(|q| (q.key, q.value)).collect();
        assert_eq!(
            got,
            vec![("mark:x:A".into(), 4.0), ("mark:x:B".into(), 3.0)]
        );
        assert!(
            b.drain().0.is_empty(),
            "a drained key is clean until written again"
        );
    }

    #[test]
    fn events_are_bounded() {
        let b = Board::new();
        for i in 0..(MAX_EVENTS + 10) {
            b.event("s", i as i64, Health::Connected);
        }
        let (_, ev) = b.drain();
        assert_eq!(ev.len(), MAX_EVENTS);
        assert_eq!(b.dropped().1, 10);
        assert_eq!(ev[0].t_ms, 10, "the oldest are dropped");
    }
}
