//! Aave v3's oracle polled by JSON-RPC: `AaveOracle.getAssetsPrices(address[])` through
//! `eth_call` at the latest block, prices in the oracle's base currency unit (USD × 1e8 on
//! Ethereum mainnet: `BASE_CURRENCY_UNIT`). Source: aave-v3-core
//! `contracts/misc/AaveOracle.sol` (`getAssetsPrices`), Ethereum JSON-RPC `eth_call`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{interval, MissedTickBehavior};

use crate::board::{Board, Health, Quote};
use crate::now_ms;

/// `bytes4(keccak256("getAssetsPrices(address[])"))`.
pub const GET_ASSETS_PRICES: &str = "9d23d9f2";

/// One Aave oracle to poll.
#[derive(Debug, Clone)]
pub struct AaveSource {
    /// Name on the board (`aave`).
    pub name: String,
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// The AaveOracle contract address (0x…).
    pub oracle: String,
    /// (reserve symbol, asset address) pairs, in the order asked.
    pub assets: Vec<(String, String)>,
    /// The oracle's base currency unit (1e8 for USD).
    pub base_unit: f64,
    /// Polling period.
    pub every: Duration,
    /// Silence after which the feed judges the source stale.
    pub stale_after: Duration,
}

/// Why an oracle answer could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OracleError {
    /// An address is not 20 bytes of hex.
    #[error("assets[{index}].address: {reason}")]
    Address {
        /// Position in `assets`.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// The JSON-RPC answer was an error or malformed.
    #[error("eth_call: {0}")]
    Rpc(String),
}

fn address_word(a: &str, index: usize) -> Result<String, OracleError> {
    let h = a.strip_prefix("0x").unwrap_or(a);
    if h.len() != 40 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OracleError::Address {
            index,
            reason: format!("expected 0x and 40 hex digits, got {a:?}"),
        });
    }
    Ok(format!("{:0>64}", h.to_lowercase()))
}

/// ABI-encodes `getAssetsPrices(assets)` (selector, offset 0x20, length, one word per address).
pub fn encode_call(assets: &[(String, String)]) -> Result<String, OracleError> {
    let mut s = format!("0x{GET_ASSETS_PRICES}{:064x}{:064x}", 32, assets.len());
    for (i, (_, a)) in assets.iter().enumerate() {
        s.push_str(&address_word(a, i)?);
    }
    Ok(s)
}

/// Decodes the `uint256[]` return value into prices in base units (errors beyond u128).
pub fn decode_prices(hex: &str, expected: usize) -> Result<Vec<u128>, OracleError> {
    let h = hex.strip_prefix("0x").unwrap_or(hex);
    if !h.len().is_multiple_of(64) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OracleError::Rpc(format!(
            "return data is not whole 32-byte words: {} hex digits",
            h.len()
        )));
    }
    let word = |i: usize| -> Option<&str> { h.get(i * 64..(i + 1) * 64) };
    let small = |w: &str| -> Result<u128, OracleError> {
        if w[..32].bytes().any(|b| b != b'0') {
            return Err(OracleError::Rpc(format!("value 0x{w} exceeds 128 bits")));
        }
        u128::from_str_radix(&w[32..], 16).map_err(|e| OracleError::Rpc(e.to_string()))
    };
    let offset = small(word(0).ok_or_else(|| OracleError::Rpc("empty return data".into()))?)?;
    if !offset.is_multiple_of(32) {
        return Err(OracleError::Rpc(format!(
            "array offset {offset} not word-aligned"
        )));
    }
    let at = (offset / 32) as usize;
    let len = small(word(at).ok_or_else(|| OracleError::Rpc("array length missing".into()))?)?;
    if len as usize != expected {
        return Err(OracleError::Rpc(format!(
            "oracle returned {len} prices for {expected} assets"
        )));
    }
    (0..expected)
        .map(|i| {
            small(word(at + 1 + i).ok_or_else(|| OracleError::Rpc(format!("price {i} missing")))?)
        })
        .collect()
}

async fn poll_once(client: &reqwest::Client, src: &AaveSource) -> Result<Vec<Quote>, OracleError> {
    let data = encode_call(&src.assets)?;
    let body = json!({"jsonrpc":"2.0","id":1,"method":"eth_call",
                      "params":[{"to": src.oracle, "data": data}, "latest"]});
    let resp = client
        .post(&src.rpc_url)
        .json(&body)
        .send()
        .await
        .map_err(|e| OracleError::Rpc(e.to_string()))?;
    let v: Value = resp
        .json()
        .await
        .map_err(|e| OracleError::Rpc(format!("answer is not JSON: {e}")))?;
    if let Some(e) = v.get("error") {
        return Err(OracleError::Rpc(e.to_string()));
    }
    let hex = v
        .get("result")
        .and_then(Value::as_str)
        .ok_or_else(|| OracleError::Rpc("answer has no result".into()))?;
    let prices = decode_prices(hex, src.assets.len())?;
    let now = now_ms();
    let mut out = Vec::new();
    for ((sym, _), p) in src.assets.iter().zip(prices) {
        // A zero price means the oracle has no source for the asset: skip it, never margin at 0.
        if p == 0 {
            continue;
        }
        out.push(Quote {
            source: src.name.clone(),
            key: format!("index:aave:{}", sym.to_uppercase()),
            value: p as f64 / src.base_unit,
            venue_ms: None,
            recv_ms: now,
            asset: Some(sym.to_uppercase()),
        });
    }
    Ok(out)
}

/// Polls until `stop` turns true.
pub async fn run(src: AaveSource, board: Arc<Board>, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            board.event(
                &src.name,
                now_ms(),
                Health::Disconnected {
                    reason: e.to_string(),
                },
            );
            return;
        }
    };
    let mut tick = interval(src.every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut connected = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match poll_once(&client, &src).await {
            Ok(q) => {
                if !connected {
                    board.event(&src.name, now_ms(), Health::Connected);
                    connected = true;
                }
                board.put(q);
            }
            Err(e) => {
                if connected {
                    board.event(
                        &src.name,
                        now_ms(),
                        Health::Disconnected {
                            reason: e.to_string(),
                        },
                    );
                    connected = false;
                } else {
                    board.event(
                        &src.name,
                        now_ms(),
                        Health::VenueError {
                            message: e.to_string(),
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_abi_layout() {
        let weth = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";
        let s = encode_call(&[("WETH".into(), weth.into())]).unwrap();
        // selector + offset 0x20 + length 1 + the address left-padded to 32 bytes
        assert_eq!(s.len(), 2 + 8 + 3 * 64);
        assert!(s.starts_with("0x9d23d9f2"));
        assert_eq!(&s[10..74], &format!("{:064x}", 32));
        assert_eq!(&s[74..138], &format!("{:064x}", 1));
        assert!(s.ends_with("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"));
        assert!(matches!(
            encode_call(&[("X".into(), "0x12".into())]),
            Err(OracleError::Address { index: 0, .. })
        ));
    }

    #[test]
    fn decodes_a_uint256_array() {
        // 2 prices: 3000.12345678 USD and 1.00010000 USD in 1e8 units.
        let ret = format!(
            "0x{:064x}{:064x}{:064x}{:064x}",
            32, 2, 300_012_345_678u128, 100_010_000u128
        );
        assert_eq!(
            decode_prices(&ret, 2).unwrap(),
            vec![300_012_345_678, 100_010_000]
        );
        assert!(decode_prices(&ret, 3).is_err());
        assert!(decode_prices("0x12", 1).is_err());
        let huge = format!("0x{:064x}{:064x}{}", 32, 1, "f".repeat(64));
        assert!(decode_prices(&huge, 1).is_err());
    }
}
