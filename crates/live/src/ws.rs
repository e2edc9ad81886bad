//! One venue's WebSocket kept alive: connect, subscribe, answer heartbeats, watch for silence
//! and lost messages, reconnect with exponential backoff and full jitter, resubscribe.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_venues::stream::{
    keepalive_frame, parse_frame, subscribe_frames, StreamFrame, StreamSubscription, StreamVenue,
};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::{interval, sleep, timeout, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::board::{Board, Health, Quote};
use crate::now_ms;

/// Largest frame accepted (a Hyperliquid `allMids` is ~20 KB, an OKX `opt-summary` ~600 KB).
pub const MAX_FRAME_BYTES: usize = 4 << 20;

/// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
/// Jitter"): the n-th retry waits a uniform time in [base/2, min(cap, base·2ⁿ)].
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The next delay (random within its bounds).
    pub fn next_delay(&mut self) -> Duration {
        let hi = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let lo = self.base / 2;
        if hi <= lo {
            return hi;
        }
        let ms = rand::thread_rng().gen_range(lo.as_millis() as u64..=hi.as_millis() as u64);
        Duration::from_millis(ms)
    }

    /// Back to the first delay (after a healthy connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Everything one WebSocket source needs.
#[derive(Debug, Clone)]
pub struct WsSource {
    /// Name on the board and in alarms (`deribit`).
    pub name: String,
    /// The venue's protocol.
    pub venue: StreamVenue,
    /// Where to connect.
    pub url: String,
    /// What to subscribe to.
    pub sub: StreamSubscription,
    /// Silence after which the feed judges the source stale.
    pub stale_after: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Keep-alive period for venues that expect the client to ping (overrides the venue's).
    pub keepalive: Option<Duration>,
}

enum End {
    Stop,
    Reconnect(String),
}

/// Runs until `stop` turns true: connects, streams prices onto the board, reconnects.
pub async fn run(src: WsSource, board: Arc<Board>, mut stop: watch::Receiver<bool>) {
    let mut backoff = src.backoff.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let end = session(&src, &board, &mut stop, &mut backoff).await;
        match end {
            End::Stop => return,
            End::Reconnect(reason) => {
                board.event(&src.name, now_ms(), Health::Disconnected { reason });
            }
        }
        let wait = backoff.next_delay();
        tokio::select! {
            _ = sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn session(
    src: &WsSource,
    board: &Board,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connect = tokio_tungstenite::connect_async_with_config(src.url.as_str(), Some(cfg), false);
    let mut ws = match timeout(Duration::from_secs(10), connect).await {
        Err(_) => return End::Reconnect("connect timed out after 10 s".into()),
        Ok(Err(e)) => return End::Reconnect(format!("connect: {e}")),
        Ok(Ok((ws, _))) => ws,
    };
    board.event(&src.name, now_ms(), Health::Connected);
    for f in subscribe_frames(src.venue, &src.sub) {
        if let Err(e) = ws.send(Message::text(f)).await {
            return End::Reconnect(format!("subscribe: {e}"));
        }
    }
    let keep = src
        .keepalive
        .or_else(|| src.venue.keepalive_secs().map(Duration::from_secs));
    let mut keepalive = interval(keep.unwrap_or(Duration::from_secs(3600)));
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    keepalive.tick().await;
    let mut priced = false;
    let mut next_seq: Option<u64> = None;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match msg {
                    None => return End::Reconnect("closed by the venue".into()),
                    Some(Err(e)) => return End::Reconnect(format!("read: {e}")),
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(c))) => {
                        return End::Reconnect(format!(
                            "close frame{}",
                            c.map(|c| format!(": {} {}", c.code, c.reason)).unwrap_or_default()
                        ))
                    }
                    // Pings are answered by the transport (tungstenite queues the pong).
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        board.event(&src.name, now_ms(), Health::BadFrame {
                            reason: "binary frame from a text protocol".into(),
                        });
                        continue;
                    }
                };
                let frame = match parse_frame(src.venue, &text) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(source = %src.name, "skipped frame: {e}");
                        board.event(&src.name, now_ms(), Health::BadFrame { reason: e.to_string() });
                        continue;
                    }
                };
                let seq = match &frame {
                    StreamFrame::Prices { seq, .. } | StreamFrame::Ack { seq } => *seq,
                    _ => None,
                };
                if let Some(s) = seq {
                    if let Some(exp) = next_seq {
                        if s != exp {
                            board.event(&src.name, now_ms(), Health::Gap { expected: exp, got: s });
                            // The lost message may have held a price: start over from a fresh
                            // snapshot rather than trust the book.
                            let _ = ws.close(None).await;
                            return End::Reconnect(format!("sequence gap: expected {exp}, got {s}"));
                        }
                    }
                    next_seq = Some(s + 1);
                }
                match frame {
                    StreamFrame::Prices { prices, .. } => {
                        if prices.is_empty() {
                            continue;
                        }
                        let now = now_ms();
                        board.put(
                            prices
                                .into_iter()
                                .map(|p| Quote {
                                    source: src.name.clone(),
                                    key: p.key,
                                    value: p.value,
                                    venue_ms: p.venue_ms,
                                    recv_ms: now,
                                    asset: p.asset,
                                })
                                .collect(),
                        );
                        if !priced {
                            priced = true;
                            backoff.reset();
                        }
                    }
                    StreamFrame::Reply(r) => {
                        if let Err(e) = ws.send(Message::text(r)).await {
                            return End::Reconnect(format!("heartbeat reply: {e}"));
                        }
                    }
                    StreamFrame::VenueError(m) => {
                        board.event(&src.name, now_ms(), Health::VenueError { message: m });
                    }
                    StreamFrame::Ack { .. } | StreamFrame::Heartbeat | StreamFrame::Ignored => {}
                }
            }
            _ = keepalive.tick(), if keep.is_some() => {
                if let Some(f) = keepalive_frame(src.venue) {
                    if let Err(e) = ws.send(Message::text(f)).await {
                        return End::Reconnect(format!("keep-alive: {e}"));
                    }
                }
            }
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return End::Stop;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_its_bounds_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for n in 0..12u32 {
            let d = b.next_delay();
            let hi = (100u64 << n.min(20)).min(1000);
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(hi),
                "{n}: {d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
