//! Margin reports computed by remote margin workers (`intermargin worker`, issue 20) and relayed to
//! this API node by `serve --nats`: the latest report per account, ordered by the report's
//! `(book_seq, market_seq)` so a duplicate or an out-of-order delivery (a replay after a worker
//! was taken over, a slow worker that lost its partition) is dropped instead of served.
//!
//! Served by `GET /api/v1/accounts/{id}/margin?source=workers` and streamed on `/ws` as
//! `{"type":"worker_margin", …}` messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One account's latest worker report.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerReport {
    /// Version of the book it margins (the ledger outbox id of the account's latest book).
    pub book_seq: u64,
    /// Version of the market it margins (JetStream sequence of the latest price tick applied).
    pub market_seq: u64,
    /// The report as JSON text.
    pub json: bytes::Bytes,
}

/// What [`WorkerReports::offer`] did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Newer than the one held: stored (and to be streamed).
    Applied,
    /// Same `(book_seq, market_seq)` as the one held: dropped.
    Duplicate,
    /// Older than the one held: dropped.
    Stale,
}

/// The latest worker report per account, with counts of what was dropped.
#[derive(Debug, Default)]
pub struct WorkerReports {
    latest: RwLock<HashMap<String, Arc<WorkerReport>>>,
    /// Reports stored.
    pub applied: AtomicU64,
    /// Duplicates dropped.
    pub duplicates: AtomicU64,
    /// Out-of-order reports dropped.
    pub stale: AtomicU64,
}

impl WorkerReports {
    /// Keeps `report` for `account` when it is newer (lexicographic `(book_seq, market_seq)`) than
    /// the one held.
    pub fn offer(&self, account: &str, report: WorkerReport) -> Offered {
        let mut map = match self.latest.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let verdict = match map.get(account) {
            Some(held) => {
                let (old, new) = (
                    (held.book_seq, held.market_seq),
                    (report.book_seq, report.market_seq),
                );
                if new > old {
                    Offered::Applied
                } else if new == old {
                    Offered::Duplicate
                } else {
                    Offered::Stale
                }
            }
            None => Offered::Applied,
        };
        let counter = match verdict {
            Offered::Applied => {
                map.insert(account.to_string(), Arc::new(report));
                &self.applied
            }
            Offered::Duplicate => &self.duplicates,
            Offered::Stale => &self.stale,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        verdict
    }

    /// The latest report of `account`, if a worker sent one.
    pub fn get(&self, account: &str) -> Option<Arc<WorkerReport>> {
        let map = match self.latest.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.get(account).cloned()
    }

    /// Number of accounts with a report.
    pub fn len(&self) -> usize {
        match self.latest.read() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    /// True when no report arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(b: u64, m: u64) -> WorkerReport {
        WorkerReport {
            book_seq: b,
            market_seq: m,
            json: bytes::Bytes::from(format!("{b}/{m}")),
        }
    }

    #[test]
    fn newer_reports_replace_older_and_duplicates_are_dropped() {
        let w = WorkerReports::default();
        assert_eq!(w.offer("a", r(1, 5)), Offered::Applied);
        assert_eq!(w.offer("a", r(1, 5)), Offered::Duplicate);
        assert_eq!(w.offer("a", r(1, 4)), Offered::Stale);
        assert_eq!(w.offer("a", r(0, 9)), Offered::Stale);
        assert_eq!(w.offer("a", r(1, 6)), Offered::Applied);
        assert_eq!(w.offer("a", r(2, 1)), Offered::Applied);
        assert_eq!(w.offer("b", r(0, 0)), Offered::Applied);
        assert_eq!(w.get("a").map(|x| (x.book_seq, x.market_seq)), Some((2, 1)));
        assert_eq!(w.len(), 2);
        assert_eq!(w.applied.load(Ordering::Relaxed), 4);
        assert_eq!(w.duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(w.stale.load(Ordering::Relaxed), 2);
    }
}
