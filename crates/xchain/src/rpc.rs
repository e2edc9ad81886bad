//! A minimal blocking Ethereum JSON-RPC client over plain HTTP/1.1 (std only), enough to drive
//! local EVM nodes (anvil) in the devnet and its tests: calls, transactions from unlocked
//! accounts, receipts. TLS endpoints are refused with a clear error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use serde_json::{json, Value};

use crate::error::XchainError;

/// One node's JSON-RPC endpoint (`http://host:port[/path]`).
#[derive(Debug, Clone)]
pub struct Rpc {
    url: String,
    host_port: String,
    path: String,
}

/// A mined transaction's receipt fields the devnet uses.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: B256,
    /// Whether it succeeded (`status == 1`).
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Created contract, for a deployment.
    pub contract_address: Option<Address>,
    /// Logs: (topics, data).
    pub logs: Vec<(Vec<B256>, Vec<u8>)>,
    /// Block the transaction was included in.
    pub block_number: u64,
    /// Hash of that block (a reorg that drops or moves the transaction changes it).
    pub block_hash: B256,
}

impl Rpc {
    /// An endpoint from its URL; only `http://` is supported.
    pub fn new(url: &str) -> Result<Rpc, XchainError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| XchainError::Rpc {
                url: url.into(),
                method: "-".into(),
                reason: "only http:// endpoints are supported by this client".into(),
            })?;
        let (host_port, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Rpc {
            url: url.into(),
            host_port: host_port.into(),
            path: path.into(),
        })
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, method: &str, reason: impl Into<String>) -> XchainError {
        XchainError::Rpc {
            url: self.url.clone(),
            method: method.into(),
            reason: reason.into(),
        }
    }

    /// Calls `method` with `params`; returns the `result` or the node's error as [`XchainError::Rpc`].
    pub fn call(&self, method: &str, params: Value) -> Result<Value, XchainError> {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut stream =
            TcpStream::connect(&self.host_port).map_err(|e| self.err(method, e.to_string()))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.path,
            self.host_port,
            body.len(),
            body
        );
        stream
            .write_all(req.as_bytes())
            .map_err(|e| self.err(method, e.to_string()))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| self.err(method, e.to_string()))?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| self.err(method, "malformed HTTP response"))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status_ok = head.lines().next().is_some_and(|l| l.contains(" 200"));
        let mut payload = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            payload =
                dechunk(&payload).ok_or_else(|| self.err(method, "malformed chunked body"))?;
        }
        let v: Value = serde_json::from_slice(&payload).map_err(|e| {
            self.err(
                method,
                format!("{}: {e}", if status_ok { "bad JSON" } else { "HTTP error" }),
            )
        })?;
        if let Some(e) = v.get("error") {
            return Err(self.err(method, e.to_string()));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| self.err(method, "response has neither result nor error"))
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64, XchainError> {
        let v = self.call("eth_chainId", json!([]))?;
        hex_u64(&v).ok_or_else(|| self.err("eth_chainId", format!("not a quantity: {v}")))
    }

    /// The timestamp (Unix seconds) of the latest block: `eth_getBlockByNumber("latest")`.
    pub fn latest_timestamp(&self) -> Result<u64, XchainError> {
        let m = "eth_getBlockByNumber";
        let b = self.call(m, json!(["latest", false]))?;
        hex_u64(&b["timestamp"])
            .ok_or_else(|| self.err(m, format!("timestamp not a quantity: {}", b["timestamp"])))
    }

    /// `eth_accounts`.
    pub fn accounts(&self) -> Result<Vec<Address>, XchainError> {
        let v = self.call("eth_accounts", json!([]))?;
        serde_json::from_value(v).map_err(|e| self.err("eth_accounts", e.to_string()))
    }

    /// `eth_call` of `data` on `to` at the latest block.
    pub fn eth_call(&self, to: Address, data: &[u8]) -> Result<Vec<u8>, XchainError> {
        let v = self.call(
            "eth_call",
            json!([{"to": to, "data": format!("0x{}", hex_encode(data))}, "latest"]),
        )?;
        v.as_str()
            .and_then(hex_decode)
            .ok_or_else(|| self.err("eth_call", format!("not hex data: {v}")))
    }

    /// Sends a transaction from an unlocked account (`to` None: a deployment) and waits for its receipt.
    pub fn send(
        &self,
        from: Address,
        to: Option<Address>,
        data: &[u8],
    ) -> Result<Receipt, XchainError> {
        let mut tx = json!({"from": from, "data": format!("0x{}", hex_encode(data))});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        // Gas: the node's estimate plus a quarter and 20,000. The estimate runs on the latest
        // block; the transaction runs in the next, where time-dependent paths (a rate-limit
        // bucket refilling) can cost more than estimated.
        // A transaction that reverts already in the estimate is sent as the node would send it
        // (it is mined and reverts on chain).
        if let Some(est) = self
            .call("eth_estimateGas", json!([tx.clone()]))
            .ok()
            .as_ref()
            .and_then(hex_u64)
        {
            tx["gas"] = json!(format!("{:#x}", est + est / 4 + 20_000));
        }
        let h = self.call("eth_sendTransaction", json!([tx]))?;
        let hash: B256 = serde_json::from_value(h.clone())
            .map_err(|e| self.err("eth_sendTransaction", format!("{e}: {h}")))?;
        self.receipt(hash)
    }

    /// Polls `eth_getTransactionReceipt` until the transaction is mined (30 s at most).
    pub fn receipt(&self, hash: B256) -> Result<Receipt, XchainError> {
        let m = "eth_getTransactionReceipt";
        for _ in 0..300 {
            match self.try_receipt(hash)? {
                Some(r) => return Ok(r),
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Err(self.err(m, format!("{hash} not mined within 30 s")))
    }

    /// `eth_blockNumber`.
    pub fn block_number(&self) -> Result<u64, XchainError> {
        let v = self.call("eth_blockNumber", json!([]))?;
        hex_u64(&v).ok_or_else(|| self.err("eth_blockNumber", format!("not a quantity: {v}")))
    }

    /// Hash of block `number` of the current canonical chain (None past the head).
    pub fn block_hash(&self, number: u64) -> Result<Option<B256>, XchainError> {
        let m = "eth_getBlockByNumber";
        let b = self.call(m, json!([format!("{number:#x}"), false]))?;
        if b.is_null() {
            return Ok(None);
        }
        serde_json::from_value(b["hash"].clone())
            .map(Some)
            .map_err(|e| self.err(m, format!("hash: {e}")))
    }

    /// The transactions of block `number` as call requests (from, to, input, value, nonce), to be
    /// included again by a reorg.
    pub fn block_transactions(&self, number: u64) -> Result<Vec<Value>, XchainError> {
        let m = "eth_getBlockByNumber";
        let b = self.call(m, json!([format!("{number:#x}"), true]))?;
        Ok(b["transactions"]
            .as_array()
            .map(|txs| {
                txs.iter()
                    .map(|t| {
                        let mut req = json!({"from": t["from"], "data": t["input"], "value": t["value"], "nonce": t["nonce"], "gas": t["gas"]});
                        if !t["to"].is_null() {
                            req["to"] = t["to"].clone();
                        }
                        req
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Mines `n` blocks at once (`anvil_mine`, a development-node method).
    pub fn mine(&self, n: u64) -> Result<(), XchainError> {
        if n > 0 {
            self.call("anvil_mine", json!([format!("{n:#x}")]))?;
        }
        Ok(())
    }

    /// Replaces the last `depth` blocks (`anvil_reorg`): `txs` are (call request, block offset
    /// within the new blocks) to include in them; transactions not listed are dropped.
    pub fn reorg(&self, depth: u64, txs: &[(Value, u64)]) -> Result<(), XchainError> {
        let list: Vec<Value> = txs.iter().map(|(t, o)| json!([t, o])).collect();
        self.call("anvil_reorg", json!([depth, list]))?;
        Ok(())
    }

    /// `eth_getTransactionCount(address, tag)` (`tag`: "latest" or "pending").
    pub fn nonce(&self, address: Address, tag: &str) -> Result<u64, XchainError> {
        let m = "eth_getTransactionCount";
        let v = self.call(m, json!([address, tag]))?;
        hex_u64(&v).ok_or_else(|| self.err(m, format!("not a quantity: {v}")))
    }

    /// `eth_call` of `data` on `to` from `from` at `block` (a number, or the latest block).
    pub fn eth_call_at(
        &self,
        from: Option<Address>,
        to: Address,
        data: &[u8],
        block: Option<u64>,
    ) -> Result<Vec<u8>, XchainError> {
        let mut req = json!({"to": to, "data": format!("0x{}", hex_encode(data))});
        if let Some(f) = from {
            req["from"] = json!(f);
        }
        let tag = block.map_or_else(|| "latest".to_string(), |b| format!("{b:#x}"));
        let v = self.call("eth_call", json!([req, tag]))?;
        v.as_str()
            .and_then(hex_decode)
            .ok_or_else(|| self.err("eth_call", format!("not hex data: {v}")))
    }

    /// The receipt of `hash` if it is mined on the current canonical chain.
    pub fn try_receipt(&self, hash: B256) -> Result<Option<Receipt>, XchainError> {
        let m = "eth_getTransactionReceipt";
        {
            let r = self.call(m, json!([hash]))?;
            if r.is_null() {
                return Ok(None);
            }
            let q = |k: &str| r.get(k).and_then(hex_u64);
            let logs = r
                .get("logs")
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .map(|l| {
                            let topics = l
                                .get("topics")
                                .and_then(|t| serde_json::from_value::<Vec<B256>>(t.clone()).ok())
                                .unwrap_or_default();
                            let data = l
                                .get("data")
                                .and_then(Value::as_str)
                                .and_then(hex_decode)
                                .unwrap_or_default();
                            (topics, data)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Some(Receipt {
                tx_hash: hash,
                success: q("status") == Some(1),
                gas_used: q("gasUsed").unwrap_or(0),
                contract_address: r
                    .get("contractAddress")
                    .and_then(|a| serde_json::from_value(a.clone()).ok()),
                logs,
                block_number: q("blockNumber").unwrap_or(0),
                block_hash: r
                    .get("blockHash")
                    .and_then(|h| serde_json::from_value(h.clone()).ok())
                    .unwrap_or_default(),
            }))
        }
    }
}

fn hex_u64(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x")?;
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunked_bodies_parse() {
        let r = Rpc::new("http://127.0.0.1:8545").unwrap();
        assert_eq!(
            (r.host_port.as_str(), r.path.as_str()),
            ("127.0.0.1:8545", "/")
        );
        let r = Rpc::new("http://node:80/rpc/v1").unwrap();
        assert_eq!(r.path, "/rpc/v1");
        assert!(matches!(
            Rpc::new("https://x"),
            Err(XchainError::Rpc { .. })
        ));
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n").unwrap(),
            b"Wikipedia"
        );
        assert!(dechunk(b"zz\r\n").is_none());
        assert_eq!(hex_decode("0x0aff").unwrap(), vec![10, 255]);
        assert!(hex_decode("0x0").is_none());
    }
}
