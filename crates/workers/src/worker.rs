//! `intermargin worker`: owns event partitions through leases, keeps their accounts' books in
//! memory, re-margins on ticks with the unified model's batch engine and publishes reports.
//!
//! * **Ownership**: a lease per partition in the `im_owners` key-value bucket (`create` succeeds
//!   only when the key is absent; renewed every third of its life by compare-and-set on the
//!   revision; the bucket's max age expires a killed worker's lease). Primary partitions are
//!   claimed at once, standby partitions only after twice the lease time, so at start each
//!   partition goes to its primary worker and a standby takes it over when its owner dies.
//! * **Books**: on taking a partition the worker reads the last book of each of its accounts
//!   (a last-per-subject consumer over `im.events.<p>.>`), then follows the partition's durable
//!   pull consumer `events-p<p>` from its last acknowledged message. An event is acknowledged only
//!   after the reports it caused were stored by JetStream, so a killed worker's unacknowledged
//!   events are redelivered to the next owner (after the consumer's ack wait). A book at a
//!   version already held is ignored: replays are harmless.
//! * **Reports**: `(book_seq, market_seq)` versions; the `Nats-Msg-Id` is the account and that
//!   version, so a replayed identical report is dropped by JetStream itself, and API nodes drop
//!   any older one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use async_nats::HeaderMap;
use futures::StreamExt;
use intermargin_margin::portfolio::{BatchBook, UnifiedBatch, UnifiedModel, UnifiedParams};
use intermargin_model::{Instrument, Market};
use tokio::sync::mpsc;

use crate::{
    account_of_token, account_token, ensure_streams, nats_err, now_ms, owners_bucket,
    report_subject, BookMsg, Error, ReportMsg, Result, TickMsg, BOOK_SEQ_HEADER, EVENTS_STREAM,
    TICKS_STREAM,
};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Worker name (lease value, report field).
    pub name: String,
    /// Partitions claimed at once.
    pub partitions: Vec<u32>,
    /// Partitions taken over when free for longer than twice the lease.
    pub standby: Vec<u32>,
    /// Total number of partitions (must match the streams').
    pub partition_count: u32,
    /// Lease time to live.
    pub lease: Duration,
    /// Ack wait of the partition consumers (redelivery of a dead worker's events).
    pub ack_wait: Duration,
    /// Print one JSON line per margin round on stdout (benchmarks).
    pub stats: bool,
}

/// What the worker's tasks send its engine loop.
enum Input {
    /// A price tick and its stream sequence.
    Tick(u64, TickMsg),
    /// A partition's last book per account at the time it was taken.
    Snapshot(u32, Vec<(u64, BookMsg)>),
    /// A book event from a partition's durable consumer.
    Event(u32, Box<jetstream::Message>),
    /// A lease was taken.
    Acquired(u32),
    /// A lease was lost (or could not be renewed).
    Lost(u32),
}

/// One account held in memory.
struct Held {
    partition: u32,
    book_seq: u64,
    book: BookMsg,
}

/// The engine loop's state.
struct State {
    name: String,
    model: UnifiedModel,
    market: Market,
    have_market: bool,
    market_seq: u64,
    tick_sent_ms: i64,
    /// Latest tick sequence per underlying (replays of older ticks are ignored).
    tick_seq: HashMap<String, u64>,
    accounts: BTreeMap<String, Held>,
    owned: BTreeSet<u32>,
    /// Derived from `accounts` and `market` by [`State::rebuild`].
    engine: Option<UnifiedBatch>,
    instruments: Vec<Instrument>,
    order: Vec<String>,
    book: BatchBook,
    /// Accounts holding an instrument the market cannot price, with the reason.
    unpriced: HashMap<String, String>,
}

fn parse_book(
    m: &jetstream::Message,
    partitions_ok: impl Fn(u32) -> bool,
) -> Result<(u32, u64, BookMsg)> {
    let subject = m.subject.as_str();
    let mut parts = subject.splitn(4, '.');
    let (_, _, p, token) = (parts.next(), parts.next(), parts.next(), parts.next());
    let p: u32 = p
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::Invalid {
            field: "subject".into(),
            reason: format!("{subject:?}: expected im.events.<partition>.<account>"),
        })?;
    if !partitions_ok(p) {
        return Err(Error::Invalid {
            field: "subject".into(),
            reason: format!("{subject:?}: partition {p} not consumed here"),
        });
    }
    let account = account_of_token(token.unwrap_or_default())?;
    let seq = m
        .headers
        .as_ref()
        .and_then(|h| h.get(BOOK_SEQ_HEADER))
        .and_then(|v| v.as_str().parse::<u64>().ok())
        .ok_or_else(|| Error::Invalid {
            field: BOOK_SEQ_HEADER.into(),
            reason: format!("{subject:?}: missing or not a number"),
        })?;
    let book: BookMsg = serde_json::from_slice(&m.payload).map_err(|e| Error::Invalid {
        field: format!("{subject}.payload"),
        reason: e.to_string(),
    })?;
    if book.account != account {
        return Err(Error::Invalid {
            field: format!("{subject}.payload.account"),
            reason: format!("{:?} on the subject of {account:?}", book.account),
        });
    }
    Ok((p, seq, book))
}

impl State {
    /// Stores a book newer than the one held; returns whether it changed anything.
    fn put_book(&mut self, partition: u32, seq: u64, book: BookMsg) -> bool {
        if !self.owned.contains(&partition) {
            return false;
        }
        match self.accounts.get(&book.account) {
            Some(h) if h.book_seq >= seq => false,
            _ => {
                self.accounts.insert(
                    book.account.clone(),
                    Held {
                        partition,
                        book_seq: seq,
                        book,
                    },
                );
                true
            }
        }
    }

    /// Rebuilds the instrument list, the batch engine over the current market and the book.
    fn rebuild(&mut self) {
        let mut by_id: BTreeMap<String, Instrument> = BTreeMap::new();
        for h in self.accounts.values() {
            for p in &h.book.positions {
                by_id
                    .entry(p.instrument.id())
                    .or_insert_with(|| p.instrument.clone());
            }
        }
        let all: Vec<Instrument> = by_id.into_values().collect();
        let (engine, instruments, bad) =
            match UnifiedBatch::new(&self.model, &self.market, all.clone()) {
                Ok(e) => (Some(e), all, HashMap::new()),
                Err(_) => {
                    // Find the instruments the market cannot price; margin everything else.
                    let mut ok = Vec::new();
                    let mut bad = HashMap::new();
                    for i in all {
                        match UnifiedBatch::new(&self.model, &self.market, vec![i.clone()]) {
                            Ok(_) => ok.push(i),
                            Err(e) => {
                                bad.insert(i.id(), e.to_string());
                            }
                        }
                    }
                    let e = if ok.is_empty() {
                        None
                    } else {
                        UnifiedBatch::new(&self.model, &self.market, ok.clone()).ok()
                    };
                    (e, ok, bad)
                }
            };
        let row: HashMap<String, u32> = instruments
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id(), i as u32))
            .collect();
        self.order = self.accounts.keys().cloned().collect();
        self.unpriced.clear();
        let mut book = BatchBook::with_capacity(self.order.len(), 8);
        if let Some(e) = &engine {
            for id in &self.order {
                let h = &self.accounts[id];
                let mut legs = Vec::with_capacity(h.book.positions.len());
                let mut missing = None;
                for p in &h.book.positions {
                    let iid = p.instrument.id();
                    match row.get(&iid) {
                        Some(r) => legs.push((*r, p.size)),
                        None => {
                            missing = Some(format!(
                                "{iid}: {}",
                                bad.get(&iid).cloned().unwrap_or_else(|| "no price".into())
                            ))
                        }
                    }
                }
                if let Some(why) = missing {
                    self.unpriced.insert(id.clone(), why);
                    legs.clear();
                }
                if let Err(err) = book.push(&e.engine.matrix, &legs) {
                    self.unpriced.insert(id.clone(), err.to_string());
                    let _ = book.push(&e.engine.matrix, &[]);
                }
            }
            book.index(&e.engine.matrix);
        } else {
            for id in &self.order {
                self.unpriced.insert(
                    id.clone(),
                    if self.have_market {
                        "no instrument of the book has a price".into()
                    } else {
                        "no price tick received yet".into()
                    },
                );
            }
        }
        self.engine = engine;
        self.instruments = instruments;
        self.book = book;
    }

    /// Reprices the matrix at the current market (same instruments, same book rows).
    fn reprice(&mut self) -> bool {
        match UnifiedBatch::new(&self.model, &self.market, self.instruments.clone()) {
            Ok(e) => {
                self.engine = Some(e);
                true
            }
            Err(_) => false,
        }
    }

    /// Slots of the accounts holding `underlying`.
    fn holders(&self, underlying: &str) -> Vec<u32> {
        let Some(e) = &self.engine else {
            return Vec::new();
        };
        match e.engine.matrix.groups.iter().position(|g| g == underlying) {
            Some(g) => self.book.holders(g).to_vec(),
            None => Vec::new(),
        }
    }

    /// Margins the accounts at `slots` and builds their reports.
    fn reports(&self, slots: &[u32]) -> Vec<ReportMsg> {
        let mut out = vec![f64::NAN; slots.len()];
        if let Some(e) = &self.engine {
            tokio::task::block_in_place(|| e.margin_accounts(&self.book, slots, &mut out));
        }
        let computed = now_ms();
        slots
            .iter()
            .zip(out)
            .map(|(&s, im)| {
                let id = &self.order[s as usize];
                let h = &self.accounts[id];
                let error = self.unpriced.get(id).cloned();
                ReportMsg {
                    kind: "worker_margin".into(),
                    account: id.clone(),
                    book_seq: h.book_seq,
                    market_seq: self.market_seq,
                    model: "unified".into(),
                    pooled_requirement: if error.is_none() && im.is_finite() {
                        Some(im)
                    } else {
                        None
                    },
                    currency: self.market.quote.clone(),
                    positions: h.book.positions.len(),
                    partition: h.partition,
                    worker: self.name.clone(),
                    market_time_ms: self.market.timestamp_ms,
                    tick_sent_ms: self.tick_sent_ms,
                    computed_ms: computed,
                    error: error.or_else(|| (!im.is_finite()).then(|| "not margined".into())),
                }
            })
            .collect()
    }
}

/// Publishes reports and waits until JetStream stored them all.
async fn publish_reports(js: &jetstream::Context, reports: &[ReportMsg]) -> Result<()> {
    let mut acks = Vec::with_capacity(reports.len());
    for r in reports {
        let body = serde_json::to_vec(r).map_err(|e| Error::Invalid {
            field: "report".into(),
            reason: e.to_string(),
        })?;
        let mut headers = HeaderMap::new();
        let id = format!(
            "{}-{}-{}",
            account_token(&r.account),
            r.book_seq,
            r.market_seq
        );
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        acks.push(
            js.publish_with_headers(report_subject(&r.account), headers, body.into())
                .await
                .map_err(|e| nats_err("publish report")(e.to_string()))?,
        );
    }
    for a in acks {
        a.await
            .map_err(|e| nats_err("report acknowledgement")(e.to_string()))?;
    }
    Ok(())
}

/// Follows the ticks stream (last tick per underlying first, then new ones) into `tx`.
async fn follow_ticks(js: jetstream::Context, tx: mpsc::Sender<Input>) {
    loop {
        let run = async {
            let stream = js
                .get_stream(TICKS_STREAM)
                .await
                .map_err(|e| nats_err("ticks stream")(e.to_string()))?;
            let c = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: "im.ticks.>".into(),
                    deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                    ..Default::default()
                })
                .await
                .map_err(|e| nats_err("ticks consumer")(e.to_string()))?;
            let mut msgs = c
                .messages()
                .await
                .map_err(|e| nats_err("ticks messages")(e.to_string()))?;
            while let Some(m) = msgs.next().await {
                let m = m.map_err(|e| nats_err("tick")(e.to_string()))?;
                let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                match serde_json::from_slice::<TickMsg>(&m.payload) {
                    Ok(t) => {
                        if tx.send(Input::Tick(seq, t)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => tracing::warn!("{}: tick dropped: {e}", m.subject),
                }
            }
            Ok::<(), Error>(())
        };
        if let Err(e) = run.await {
            tracing::warn!("ticks: {e}; following again");
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Loads a partition's last books, then follows its durable consumer into `tx`.
async fn follow_partition(
    js: jetstream::Context,
    p: u32,
    ack_wait: Duration,
    tx: mpsc::Sender<Input>,
) {
    loop {
        let run = async {
            let stream = js
                .get_stream(EVENTS_STREAM)
                .await
                .map_err(|e| nats_err("events stream")(e.to_string()))?;
            let filter = format!("im.events.{p}.>");
            let snap = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: filter.clone(),
                    deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                    ..Default::default()
                })
                .await
                .map_err(|e| nats_err(format!("partition {p} books"))(e.to_string()))?;
            let mut books = Vec::new();
            if snap.cached_info().num_pending > 0 {
                let mut msgs = snap
                    .messages()
                    .await
                    .map_err(|e| nats_err(format!("partition {p} books"))(e.to_string()))?;
                while let Some(m) = msgs.next().await {
                    let m =
                        m.map_err(|e| nats_err(format!("partition {p} book"))(e.to_string()))?;
                    let pending = m.info().map(|i| i.pending).unwrap_or(0);
                    match parse_book(&m, |q| q == p) {
                        Ok((_, seq, b)) => books.push((seq, b)),
                        Err(e) => tracing::warn!("partition {p}: book dropped: {e}"),
                    }
                    if pending == 0 {
                        break;
                    }
                }
            }
            if tx.send(Input::Snapshot(p, books)).await.is_err() {
                return Ok(());
            }
            let durable = format!("events-p{p}");
            let c = stream
                .get_or_create_consumer(
                    &durable,
                    consumer::pull::Config {
                        durable_name: Some(durable.clone()),
                        filter_subject: filter,
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait,
                        max_ack_pending: 50_000,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| nats_err(format!("consumer {durable}"))(e.to_string()))?;
            let mut msgs = c
                .messages()
                .await
                .map_err(|e| nats_err(format!("consumer {durable}"))(e.to_string()))?;
            while let Some(m) = msgs.next().await {
                let m = m.map_err(|e| nats_err(format!("consumer {durable}"))(e.to_string()))?;
                if tx.send(Input::Event(p, Box::new(m))).await.is_err() {
                    return Ok(());
                }
            }
            Ok::<(), Error>(())
        };
        if let Err(e) = run.await {
            tracing::warn!("partition {p}: {e}; following again");
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Holds and renews leases, announcing each change on `tx`.
async fn leases(kv: jetstream::kv::Store, cfg: Config, tx: mpsc::Sender<Input>) {
    let started = Instant::now();
    let mut owned: BTreeMap<u32, u64> = BTreeMap::new();
    let period = cfg.lease / 3;
    let value = bytes::Bytes::from(cfg.name.clone());
    loop {
        for (p, rev) in owned.clone() {
            match kv.update(format!("p{p}"), value.clone(), rev).await {
                Ok(r) => {
                    owned.insert(p, r);
                }
                Err(e) => {
                    tracing::warn!("lease of partition {p} lost: {e}");
                    owned.remove(&p);
                    if tx.send(Input::Lost(p)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let standby_ok = started.elapsed() >= cfg.lease * 2;
        let eligible = cfg
            .partitions
            .iter()
            .chain(cfg.standby.iter().filter(|_| standby_ok));
        for &p in eligible {
            if owned.contains_key(&p) {
                continue;
            }
            if let Ok(r) = kv.create(format!("p{p}"), value.clone()).await {
                owned.insert(p, r);
                if tx.send(Input::Acquired(p)).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// Runs a worker until the connection is lost for good.
pub async fn run(url: &str, cfg: Config) -> Result<()> {
    let client = crate::connect(url).await?;
    let js = jetstream::new(client);
    ensure_streams(&js, cfg.partition_count).await?;
    let kv = owners_bucket(&js, cfg.lease).await?;
    let model = UnifiedModel::new(UnifiedParams::bundled().map_err(|e| Error::Invalid {
        field: "unified params".into(),
        reason: e.to_string(),
    })?);
    let (tx, mut rx) = mpsc::channel::<Input>(65_536);
    tokio::spawn(follow_ticks(js.clone(), tx.clone()));
    tokio::spawn(leases(kv, cfg.clone(), tx.clone()));
    let mut tasks: HashMap<u32, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut st = State {
        name: cfg.name.clone(),
        model,
        market: Market::new(0, "USD"),
        have_market: false,
        market_seq: 0,
        tick_sent_ms: 0,
        tick_seq: HashMap::new(),
        accounts: BTreeMap::new(),
        owned: BTreeSet::new(),
        engine: None,
        instruments: Vec::new(),
        order: Vec::new(),
        book: BatchBook::default(),
        unpriced: HashMap::new(),
    };
    eprintln!(
        "worker {} following {url}: partitions {:?}, standby {:?} of {}",
        cfg.name, cfg.partitions, cfg.standby, cfg.partition_count
    );
    let mut round: u64 = 0;
    while let Some(first) = rx.recv().await {
        let mut inputs = vec![first];
        while inputs.len() < 100_000 {
            match rx.try_recv() {
                Ok(i) => inputs.push(i),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut ticked: BTreeSet<String> = BTreeSet::new();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let mut structure = false;
        let mut to_ack: Vec<Box<jetstream::Message>> = Vec::new();
        let mut first_tick_sent = i64::MAX;
        for input in inputs {
            match input {
                Input::Tick(seq, t) => {
                    if st.tick_seq.get(&t.underlying).is_some_and(|s| *s >= seq) {
                        continue;
                    }
                    if st.market_seq == 0 || !st.have_market {
                        st.market.quote = t.quote.clone();
                    }
                    if let Err(e) = crate::ticks::apply(&mut st.market, &t) {
                        tracing::warn!("tick {seq} ({}) dropped: {e}", t.underlying);
                        continue;
                    }
                    st.tick_seq.insert(t.underlying.clone(), seq);
                    st.market_seq = st.market_seq.max(seq);
                    st.tick_sent_ms = t.sent_ms;
                    first_tick_sent = first_tick_sent.min(t.sent_ms);
                    if !st.have_market {
                        st.have_market = true;
                        structure = true;
                    }
                    ticked.insert(t.underlying);
                }
                Input::Acquired(p) => {
                    st.owned.insert(p);
                    tasks.insert(
                        p,
                        tokio::spawn(follow_partition(js.clone(), p, cfg.ack_wait, tx.clone())),
                    );
                    eprintln!("worker {}: took partition {p}", cfg.name);
                }
                Input::Lost(p) => {
                    st.owned.remove(&p);
                    if let Some(t) = tasks.remove(&p) {
                        t.abort();
                    }
                    st.accounts.retain(|_, h| h.partition != p);
                    structure = true;
                    eprintln!("worker {}: lost partition {p}", cfg.name);
                }
                Input::Snapshot(p, books) => {
                    for (seq, b) in books {
                        let id = b.account.clone();
                        if st.put_book(p, seq, b) {
                            changed.insert(id);
                        }
                    }
                    // A (re)taken partition reports every account it holds at the current market.
                    for (id, h) in &st.accounts {
                        if h.partition == p {
                            changed.insert(id.clone());
                        }
                    }
                    structure = true;
                }
                Input::Event(p, m) => {
                    match parse_book(&m, |q| q == p) {
                        Ok((_, seq, b)) => {
                            let id = b.account.clone();
                            if st.put_book(p, seq, b) {
                                changed.insert(id);
                                structure = true;
                            }
                        }
                        Err(e) => tracing::warn!("partition {p}: event dropped: {e}"),
                    }
                    to_ack.push(m);
                }
            }
        }
        let mut instruments_changed = false;
        if structure {
            let before: Vec<String> = st.instruments.iter().map(|i| i.id()).collect();
            st.rebuild();
            let after: Vec<String> = st.instruments.iter().map(|i| i.id()).collect();
            instruments_changed = before != after;
        } else if !ticked.is_empty() && !st.reprice() {
            st.rebuild();
            instruments_changed = true;
        }
        let slots: Vec<u32> = if instruments_changed && st.have_market {
            (0..st.order.len() as u32).collect()
        } else {
            let mut set: BTreeSet<u32> = BTreeSet::new();
            for u in &ticked {
                set.extend(st.holders(u));
            }
            if !changed.is_empty() {
                let slot: HashMap<&str, u32> = st
                    .order
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.as_str(), i as u32))
                    .collect();
                set.extend(changed.iter().filter_map(|a| slot.get(a.as_str()).copied()));
            }
            set.into_iter().collect()
        };
        let margined = Instant::now();
        let reports = if st.have_market {
            st.reports(&slots)
        } else {
            Vec::new()
        };
        let margin_ms = margined.elapsed().as_secs_f64() * 1e3;
        if !reports.is_empty() {
            // A publication failure leaves the events unacknowledged: they are redelivered.
            if let Err(e) = publish_reports(&js, &reports).await {
                tracing::warn!("{e}");
                eprintln!("worker {}: {e}", cfg.name);
                continue;
            }
        }
        for m in &to_ack {
            if let Err(e) = m.ack().await {
                tracing::warn!("ack: {e}");
            }
        }
        round += 1;
        if cfg.stats && !reports.is_empty() {
            let done = now_ms();
            println!(
                "{}",
                serde_json::json!({
                    "round": round,
                    "worker": cfg.name,
                    "accounts_held": st.accounts.len(),
                    "reports": reports.len(),
                    "ticks": ticked.len(),
                    "events": to_ack.len(),
                    "margin_ms": margin_ms,
                    "round_ms": started.elapsed().as_secs_f64() * 1e3,
                    "tick_to_published_ms": if first_tick_sent == i64::MAX { serde_json::Value::Null } else { (done - first_tick_sent).into() },
                    "market_seq": st.market_seq,
                })
            );
        }
    }
    Ok(())
}
