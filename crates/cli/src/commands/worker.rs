//! `worker` and `ticks`: margin workers on NATS JetStream (issue 20), and a price tick source for
//! them; `serve --nats` (in `serve.rs`) is the API node's side.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use rand::{Rng, SeedableRng};

/// Arguments of `intermargin worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// NATS server URL (JetStream enabled), e.g. nats://127.0.0.1:4222.
    #[arg(long)]
    pub nats: String,
    /// Partitions this worker claims at once: `0-3`, `0,2` or a mix.
    #[arg(long)]
    pub partitions: String,
    /// Partitions this worker takes over when their owner's lease has expired (`0-3`, …).
    #[arg(long, default_value = "")]
    pub standby: String,
    /// Total number of account partitions (the same for every worker and API node).
    #[arg(long, default_value_t = 4)]
    pub partition_count: u32,
    /// Worker name (default: worker-<pid>).
    #[arg(long)]
    pub name: Option<String>,
    /// Lease time to live, ms: a killed worker's partitions are taken over after about this.
    #[arg(long, default_value_t = 3000)]
    pub lease_ms: u64,
    /// Ack wait of the partition consumers, ms: a killed worker's unacknowledged events are
    /// redelivered after it.
    #[arg(long, default_value_t = 5000)]
    pub ack_wait_ms: u64,
    /// Print one JSON line per margin round (accounts, margin time, tick → published latency).
    #[arg(long)]
    pub stats: bool,
}

/// Arguments of `intermargin ticks`.
#[derive(Args)]
pub struct TicksArgs {
    /// NATS server URL (JetStream enabled).
    #[arg(long)]
    pub nats: String,
    /// Snapshot whose market gives the starting prices (and whose instruments map mark prices to
    /// underlyings); default: the demo book.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Rounds of ticks (one per underlying per round).
    #[arg(long, default_value_t = 10)]
    pub rounds: u64,
    /// Milliseconds between rounds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Relative size of each price step (a seeded random walk).
    #[arg(long, default_value_t = 0.001)]
    pub step: f64,
    /// Random walk seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Total number of account partitions (creates the streams if absent).
    #[arg(long, default_value_t = 4)]
    pub partition_count: u32,
}

/// Runs `intermargin worker` until killed.
pub fn run_worker(a: WorkerArgs) -> Result<()> {
    let partitions =
        intermargin_workers::parse_partitions(&a.partitions, a.partition_count, "--partitions")?;
    let standby =
        intermargin_workers::parse_partitions(&a.standby, a.partition_count, "--standby")?;
    if partitions.is_empty() && standby.is_empty() {
        anyhow::bail!("--partitions: name at least one partition (or --standby ones)");
    }
    if !(300..=600_000).contains(&a.lease_ms) {
        anyhow::bail!("--lease-ms: must be in 300..=600000, got {}", a.lease_ms);
    }
    if !(100..=600_000).contains(&a.ack_wait_ms) {
        anyhow::bail!(
            "--ack-wait-ms: must be in 100..=600000, got {}",
            a.ack_wait_ms
        );
    }
    let cfg = intermargin_workers::worker::Config {
        name: a
            .name
            .unwrap_or_else(|| format!("worker-{}", std::process::id())),
        partitions,
        standby,
        partition_count: a.partition_count,
        lease: Duration::from_millis(a.lease_ms),
        ack_wait: Duration::from_millis(a.ack_wait_ms),
        stats: a.stats,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(intermargin_workers::worker::run(&a.nats, cfg))?;
    Ok(())
}

/// Keyed values per underlying: underlying → key → value.
type PerUnderlying = BTreeMap<String, BTreeMap<String, f64>>;

/// The underlying of each price key of a snapshot's market, and the option vols per underlying.
fn keys_by_underlying(snap: &intermargin_model::Snapshot) -> (PerUnderlying, PerUnderlying) {
    let mut marks: BTreeMap<String, String> = BTreeMap::new();
    for acc in &snap.portfolio.accounts {
        for p in &acc.positions {
            marks.insert(p.instrument.id(), p.instrument.underlying.clone());
        }
    }
    let m = &snap.market;
    let mut prices: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let keyed =
        m.fx.iter()
            .map(|(k, v)| (format!("fx:{k}"), *v))
            .chain(
                m.index_prices
                    .iter()
                    .map(|(k, v)| (format!("index:{k}"), *v)),
            )
            .chain(m.mark_prices.iter().map(|(k, v)| (format!("mark:{k}"), *v)));
    for (key, px) in keyed {
        if let Some(u) = intermargin_workers::ticks::underlying_of(&key, &marks) {
            if intermargin_workers::tick_subject(&u).is_ok() {
                prices.entry(u).or_default().insert(key, px);
            }
        }
    }
    let mut ivs: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (id, iv) in &m.mark_ivs {
        if let Some(u) = marks.get(id) {
            ivs.entry(u.clone()).or_default().insert(id.clone(), *iv);
        }
    }
    (prices, ivs)
}

/// Runs `intermargin ticks`: a seeded random walk of a snapshot's prices, one tick per
/// underlying per round, printing each tick's JetStream sequence.
pub fn run_ticks(a: TicksArgs) -> Result<()> {
    if !(a.step.is_finite() && a.step >= 0.0 && a.step < 0.5) {
        anyhow::bail!("--step: must be in [0, 0.5), got {}", a.step);
    }
    let snap = match &a.snapshot {
        Some(p) => super::margin::load_snapshot(p)?,
        None => serde_json::from_str(intermargin_server::DEMO_SNAPSHOT)
            .map_err(|e| anyhow!("demo snapshot: {e}"))?,
    };
    let (mut prices, ivs) = keys_by_underlying(&snap);
    // Underlyings of the book's instruments walk; the other prices (stablecoins' and the quote's
    // own fx) are published once, unchanged.
    let walking: std::collections::BTreeSet<String> = snap
        .portfolio
        .accounts
        .iter()
        .flat_map(|a| a.positions.iter().map(|p| p.instrument.underlying.clone()))
        .collect();
    if prices.is_empty() {
        anyhow::bail!("--snapshot: its market prices no underlying of its positions");
    }
    let quote = snap.market.quote.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let js = intermargin_workers::jetstream_at(&a.nats).await?;
        intermargin_workers::ensure_streams(&js, a.partition_count).await?;
        let mut market_time = snap.market.timestamp_ms;
        for round in 0..a.rounds {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(a.interval_ms)).await;
                market_time += a.interval_ms as i64;
            }
            for (u, keys) in prices.iter_mut() {
                if round > 0 && !walking.contains(u) {
                    continue;
                }
                if round > 0 {
                    let f = 1.0 + a.step * (rng.gen::<f64>() * 2.0 - 1.0);
                    keys.values_mut().for_each(|p| *p *= f);
                }
                let tick = intermargin_workers::TickMsg {
                    underlying: u.clone(),
                    quote: quote.clone(),
                    time_ms: market_time,
                    sent_ms: intermargin_workers::now_ms(),
                    prices: keys.clone(),
                    ivs: ivs.get(u).cloned().unwrap_or_default(),
                };
                let seq = intermargin_workers::ticks::publish(&js, &tick).await?;
                println!(
                    "{}",
                    serde_json::json!({"round": round, "underlying": u, "seq": seq, "sent_ms": tick.sent_ms})
                );
            }
        }
        Ok::<(), intermargin_workers::Error>(())
    })?;
    Ok(())
}
