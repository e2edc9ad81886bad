//! Locally signed transactions for the relayer: legacy (type 0) transactions with EIP-155 replay
//! protection, RLP-encoded by hand (the encoding needs only byte strings and one list), and a
//! sender that keeps the account's nonce and re-syncs it from `eth_getTransactionCount(pending)`
//! when the node says "nonce too low" / "nonce too high" or a sent transaction vanished (a reorg
//! dropped it, leaving a gap).

use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Address, B256, U256};
use k256::ecdsa::SigningKey;
use serde_json::json;

use crate::error::XchainError;
use crate::rpc::{Receipt, Rpc};

fn rlp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        rlp_len(out, b.len(), 0x80);
        out.extend_from_slice(b);
    }
}

fn rlp_len(out: &mut Vec<u8>, len: usize, offset: u8) {
    if len < 56 {
        out.push(offset + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|x| **x == 0).count();
        out.push(offset + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_uint(out: &mut Vec<u8>, v: U256) {
    let be = v.to_be_bytes::<32>();
    let skip = be.iter().take_while(|x| **x == 0).count();
    rlp_bytes(out, &be[skip..]);
}

fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = items.concat();
    let mut out = Vec::with_capacity(body.len() + 9);
    rlp_len(&mut out, body.len(), 0xc0);
    out.extend(body);
    out
}

/// A legacy transaction's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTx {
    /// Sender's nonce.
    pub nonce: u64,
    /// Wei per gas.
    pub gas_price: U256,
    /// Gas limit.
    pub gas: u64,
    /// Recipient (None: contract creation).
    pub to: Option<Address>,
    /// Wei sent.
    pub value: U256,
    /// Call data.
    pub data: Vec<u8>,
}

impl LegacyTx {
    fn fields(&self) -> Vec<Vec<u8>> {
        let mut f = Vec::new();
        for v in [U256::from(self.nonce), self.gas_price, U256::from(self.gas)] {
            let mut o = Vec::new();
            rlp_uint(&mut o, v);
            f.push(o);
        }
        let mut o = Vec::new();
        rlp_bytes(&mut o, self.to.as_ref().map_or(&[][..], |a| a.as_slice()));
        f.push(o);
        let mut o = Vec::new();
        rlp_uint(&mut o, self.value);
        f.push(o);
        let mut o = Vec::new();
        rlp_bytes(&mut o, &self.data);
        f.push(o);
        f
    }

    /// The EIP-155 signing hash for `chain_id`.
    pub fn signing_hash(&self, chain_id: u64) -> B256 {
        let mut f = self.fields();
        for v in [U256::from(chain_id), U256::ZERO, U256::ZERO] {
            let mut o = Vec::new();
            rlp_uint(&mut o, v);
            f.push(o);
        }
        keccak256(rlp_list(&f))
    }

    /// The signed raw transaction (`eth_sendRawTransaction`'s argument).
    pub fn sign(&self, key: &SigningKey, chain_id: u64) -> Result<Vec<u8>, XchainError> {
        let h = self.signing_hash(chain_id);
        let (sig, recid) = key
            .sign_prehash_recoverable(h.as_slice())
            .map_err(|e| XchainError::malformed("transaction", e.to_string()))?;
        // Low-s form, as Ethereum requires (k256 normalises; flip the parity if it did).
        let (sig, odd) = match sig.normalize_s() {
            Some(n) => (n, !recid.is_y_odd()),
            None => (sig, recid.is_y_odd()),
        };
        let v = U256::from(chain_id) * U256::from(2) + U256::from(35 + u64::from(odd));
        let bytes = sig.to_bytes();
        let mut f = self.fields();
        for v in [
            v,
            U256::from_be_slice(&bytes[..32]),
            U256::from_be_slice(&bytes[32..]),
        ] {
            let mut o = Vec::new();
            rlp_uint(&mut o, v);
            f.push(o);
        }
        Ok(rlp_list(&f))
    }
}

/// An account that signs its own transactions and tracks its nonce per chain.
#[derive(Debug, Clone)]
pub struct TxSender {
    key: SigningKey,
    address: Address,
    nonce: Option<u64>,
    /// How many times the nonce was re-synced from the node (gaps and collisions).
    pub resyncs: u64,
}

/// Whether a node's error is about the nonce (too low, too high, already used).
pub fn is_nonce_error(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("nonce too low")
        || r.contains("nonce too high")
        || r.contains("nonce has already been used")
        || r.contains("already known")
        || r.contains("replacement transaction underpriced")
        || r.contains("invalid nonce")
}

impl TxSender {
    /// A sender signing with the 32-byte secret `secret`.
    pub fn new(secret: &[u8; 32]) -> Result<TxSender, XchainError> {
        let key = SigningKey::from_slice(secret)
            .map_err(|e| XchainError::malformed("relayer key", e.to_string()))?;
        let point = key.verifying_key().to_encoded_point(false);
        let address = Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]);
        Ok(TxSender {
            key,
            address,
            nonce: None,
            resyncs: 0,
        })
    }

    /// The sender's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The nonce the next transaction will use, if known.
    pub fn next_nonce(&self) -> Option<u64> {
        self.nonce
    }

    /// Forgets the nonce: the next send reads it from the node (`pending`).
    pub fn resync(&mut self) {
        self.nonce = None;
        self.resyncs += 1;
    }

    /// Sets the nonce of the next transaction (tests inject gaps with it).
    pub fn set_nonce(&mut self, n: u64) {
        self.nonce = Some(n);
    }

    fn raw(
        &mut self,
        rpc: &Rpc,
        chain_id: u64,
        to: Address,
        value: U256,
        data: &[u8],
    ) -> Result<B256, XchainError> {
        let nonce = match self.nonce {
            Some(n) => n,
            None => rpc.nonce(self.address, "pending")?,
        };
        let gas_price = rpc.call("eth_gasPrice", json!([]))?;
        let gas_price = gas_price
            .as_str()
            .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or(U256::from(2_000_000_000u64));
        let req = json!({"from": self.address, "to": to, "value": format!("{value:#x}"), "data": format!("0x{}", alloy_primitives::hex::encode(data))});
        let est = rpc
            .call("eth_estimateGas", json!([req]))
            .ok()
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            })
            .unwrap_or(1_000_000);
        let tx = LegacyTx {
            nonce,
            gas_price: gas_price * U256::from(2),
            gas: est + est / 4 + 20_000,
            to: Some(to),
            value,
            data: data.to_vec(),
        };
        let raw = tx.sign(&self.key, chain_id)?;
        let v = rpc.call(
            "eth_sendRawTransaction",
            json!([format!("0x{}", alloy_primitives::hex::encode(raw))]),
        )?;
        self.nonce = Some(nonce + 1);
        serde_json::from_value(v.clone())
            .map_err(|e| XchainError::Devnet(format!("eth_sendRawTransaction: {e}: {v}")))
    }

    /// Signs and sends a call to `to` and waits for its receipt. A nonce error re-syncs the nonce
    /// from `eth_getTransactionCount(pending)` and sends again (once); a transaction not mined
    /// while the node's pending count shows a gap below it is re-sent with the re-synced nonce.
    pub fn send(
        &mut self,
        rpc: &Rpc,
        chain_id: u64,
        to: Address,
        data: &[u8],
    ) -> Result<Receipt, XchainError> {
        self.send_value(rpc, chain_id, to, U256::ZERO, data)
    }

    /// [`TxSender::send`] with `value` wei attached (a plain transfer when `data` is empty).
    pub fn send_value(
        &mut self,
        rpc: &Rpc,
        chain_id: u64,
        to: Address,
        value: U256,
        data: &[u8],
    ) -> Result<Receipt, XchainError> {
        // A gap: our next nonce is above what the node knows (a reorg dropped our transactions).
        if let Some(n) = self.nonce {
            if rpc.nonce(self.address, "pending")? < n {
                self.resync();
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let hash = match self.raw(rpc, chain_id, to, value, data) {
                Ok(h) => h,
                Err(XchainError::Rpc { reason, .. }) if attempt < 3 && is_nonce_error(&reason) => {
                    self.resync();
                    continue;
                }
                Err(e) => return Err(e),
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Some(r) = rpc.try_receipt(hash)? {
                    return Ok(r);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Not mined: a nonce gap below it keeps it queued.
            let pending = rpc.nonce(self.address, "latest")?;
            if attempt < 3 && self.nonce.is_some_and(|n| pending + 1 < n) {
                self.resync();
                continue;
            }
            return Err(XchainError::Rpc {
                url: rpc.url().into(),
                method: "eth_sendRawTransaction".into(),
                reason: format!("{hash} not mined within 20 s"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EIP-155's worked example (eips.ethereum.org/EIPS/eip-155, "Example"): its signing data,
    /// signing hash and signed transaction.
    #[test]
    fn eip155_example_signs_to_the_published_transaction() {
        let tx = LegacyTx {
            nonce: 9,
            gas_price: U256::from(20_000_000_000u64),
            gas: 21_000,
            to: Some(
                "0x3535353535353535353535353535353535353535"
                    .parse()
                    .unwrap(),
            ),
            value: U256::from(1_000_000_000_000_000_000u64),
            data: vec![],
        };
        assert_eq!(
            format!("{}", tx.signing_hash(1)),
            "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"
        );
        let key = SigningKey::from_slice(&[0x46; 32]).unwrap();
        let raw = tx.sign(&key, 1).unwrap();
        assert_eq!(
            alloy_primitives::hex::encode(raw),
            "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        );
        // The sender's address equals the one recovered from the published signature.
        let s = TxSender::new(&[0x46; 32]).unwrap();
        let raw = alloy_primitives::hex::decode("28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa63627667cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83").unwrap();
        let sig = alloy_primitives::Signature::from_bytes_and_parity(&raw, false);
        assert_eq!(
            sig.recover_address_from_prehash(&tx.signing_hash(1))
                .unwrap(),
            s.address()
        );
    }

    #[test]
    fn rlp_lengths_and_nonce_errors() {
        let mut o = Vec::new();
        rlp_bytes(&mut o, &[0x7f]);
        assert_eq!(o, vec![0x7f]);
        let mut o = Vec::new();
        rlp_bytes(&mut o, &[0u8; 60]);
        assert_eq!(&o[..2], &[0xb8, 60]);
        let mut o = Vec::new();
        rlp_uint(&mut o, U256::ZERO);
        assert_eq!(o, vec![0x80]);
        assert!(is_nonce_error(
            "{\"code\":-32003,\"message\":\"nonce too low\"}"
        ));
        assert!(is_nonce_error("Nonce too high"));
        assert!(!is_nonce_error("execution reverted"));
    }
}
