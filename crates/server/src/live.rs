//! `serve --live CONFIG`: the monitor reads the venues' live feeds ([`intermargin_live::LiveFeed`])
//! instead of the demo replay. The feed has already judged its sources: stale and diverging
//! sources' prices are withheld (they never reach the market) and come as alarms, which the
//! monitor turns into circuit-breaker trips ([`crate::monitor::LiveBreakers::observe_alarm`]).

use std::path::Path;

use intermargin_live::{LiveConfig, LiveFeed};

use crate::monitor::{FeedBatch, PriceFeed, PriceTick};

/// The live feed as the monitor's price feed.
pub struct LiveSource {
    feed: LiveFeed,
}

impl LiveSource {
    /// Starts every source of `cfg` on the current tokio runtime.
    pub fn start(cfg: &LiveConfig) -> Result<LiveSource, String> {
        let feed = LiveFeed::start(cfg).map_err(|e| format!("--live: {e}"))?;
        Ok(LiveSource { feed })
    }

    /// Reads, validates and starts a live config file; errors name the flag and the field.
    pub fn from_file(path: &Path) -> Result<LiveSource, String> {
        let cfg =
            LiveConfig::from_file(path).map_err(|e| format!("--live {}: {e}", path.display()))?;
        Self::start(&cfg)
    }

    /// Each source's status as `/health` shows it: name → connection state and counters.
    pub fn status(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .feed
            .status()
            .into_iter()
            .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or_default()))
            .collect();
        serde_json::Value::Object(map)
    }
}

#[async_trait::async_trait]
impl PriceFeed for LiveSource {
    async fn next_batch(&mut self) -> Option<FeedBatch> {
        let b = self.feed.next_batch().await;
        let t_ms = b.t_ms;
        Some(FeedBatch {
            ticks: b
                .ticks
                .into_iter()
                .map(|t| PriceTick {
                    t_ms,
                    key: t.key,
                    price: t.price,
                })
                .collect(),
            alarms: b.alarms,
            withheld: b.withheld,
            wall_ms: Some(t_ms),
            sources: Some(self.status()),
        })
    }
}
