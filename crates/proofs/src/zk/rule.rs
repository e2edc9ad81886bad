//! The public margin rule (a fixed-point scenario matrix) and the trader's private book.
//!
//! Units. `q_i` is an integer number of *lots* (`size × 10^quantity_decimals`); `C` and the
//! threshold are integers in the collateral asset's base units; `losses[i][s]` is the loss of one
//! lot of instrument `i` in scenario `s`, in collateral base units, multiplied by `10^loss_scale`
//! and rounded up (a gain is a negative loss). The statement for every scenario `s` is
//!
//! ```text
//! C·10^loss_scale − Σ_i q_i·losses[i][s] − threshold·10^loss_scale ≥ 0
//! ```
//!
//! which is `C − Σ_i q_i·loss_i,s ≥ threshold` with no division in the circuit.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ProofError, Result};

/// Format version written into every rule; bump when the digest encoding changes.
pub const RULE_VERSION: u32 = 1;
/// Largest accepted `quantity_bits` (keeps every native sum inside i128, see [`MarginRule::slack_bits`]).
pub const MAX_QUANTITY_BITS: u32 = 56;
/// Largest accepted `collateral_bits`.
pub const MAX_COLLATERAL_BITS: u32 = 100;
/// Largest accepted `loss_scale` (decimal digits).
pub const MAX_LOSS_SCALE: u32 = 18;
/// Largest accepted slack width: keeps native i128 arithmetic exact and is far below the
/// 253 bits at which a negative slack could wrap around the BN254 scalar field into range.
pub const MAX_SLACK_BITS: u32 = 126;
/// Most instruments one rule may carry (each adds a private input and a range check).
pub const MAX_INSTRUMENTS: usize = 256;
/// Most scenarios one rule may carry (each adds a range-checked slack).
pub const MAX_SCENARIOS: usize = 4_096;
/// Most loss-matrix cells (instruments × scenarios): the circuit has about one constraint per
/// cell, and the trusted setup and proving cost grow with them.
pub const MAX_CELLS: usize = 1 << 16;

fn default_quantity_bits() -> u32 {
    48
}
fn default_collateral_bits() -> u32 {
    96
}

/// A public margin rule: per-lot losses of each instrument in each scenario, in fixed point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarginRule {
    /// Format version, must be [`RULE_VERSION`].
    pub version: u32,
    /// Free text: where the rule comes from (snapshot, model, time).
    #[serde(default)]
    pub description: String,
    /// The asset collateral and threshold are counted in (base units).
    pub collateral_asset: String,
    /// `q_i = size × 10^quantity_decimals` (a lot is `10^-quantity_decimals` of one unit of size).
    pub quantity_decimals: u32,
    /// `losses[i][s]` carries `loss_scale` extra decimal digits of collateral base units.
    pub loss_scale: u32,
    /// Declared range of each quantity: `−2^(quantity_bits−1) ≤ q_i < 2^(quantity_bits−1)`.
    #[serde(default = "default_quantity_bits")]
    pub quantity_bits: u32,
    /// Declared range of collateral: `0 ≤ C < 2^collateral_bits`.
    #[serde(default = "default_collateral_bits")]
    pub collateral_bits: u32,
    /// Minimum collateral left after the worst scenario, in collateral base units.
    pub threshold: i128,
    /// Instrument ids, one per row of `losses`.
    pub instruments: Vec<String>,
    /// Scenario names, one per column of `losses`.
    pub scenarios: Vec<String>,
    /// `losses[i][s]`: loss of one lot of instrument `i` in scenario `s`, × 10^loss_scale.
    pub losses: Vec<Vec<i64>>,
}

fn ceil_log2(x: u128) -> u32 {
    if x <= 1 {
        0
    } else {
        128 - (x - 1).leading_zeros()
    }
}

impl MarginRule {
    /// Parses and validates a rule from JSON text; errors name the field.
    pub fn from_json(text: &str) -> Result<Self> {
        let rule: MarginRule = crate::json::from_str(text, "rule")?;
        rule.validate()?;
        Ok(rule)
    }

    /// Reads and validates a rule file.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let rule: MarginRule = crate::json::read(path)?;
        rule.validate()?;
        Ok(rule)
    }

    /// Number of instruments (rows).
    pub fn n(&self) -> usize {
        self.instruments.len()
    }

    /// Number of scenarios (columns).
    pub fn m(&self) -> usize {
        self.scenarios.len()
    }

    /// `10^loss_scale`, the factor applied to collateral and threshold.
    pub fn scale_factor(&self) -> i128 {
        10i128.pow(self.loss_scale)
    }

    /// Width in bits of each scenario's slack range check.
    ///
    /// Bounds argument: with `|q_i| ≤ 2^(kq−1)`, `|losses| < 2^63`, `0 ≤ C < 2^kc`,
    /// `|threshold| < 2^kc` and `S = 10^loss_scale ≤ 2^⌈log2 S⌉`, the integer slack satisfies
    /// `|C·S − Σ q_i·R − T·S| < 2^(kc+1+⌈log2 S⌉) + 2^(⌈log2 n⌉+kq+62) ≤ 2^(ks−1)` with
    /// `ks = max(kc+1+⌈log2 S⌉, ⌈log2 n⌉+kq+62) + 1`. An honest non-negative slack thus fits in `ks`
    /// bits, and a negative one is `p − |slack| > p − 2^ks > 2^ks` in the field (p ≈ 2^253.6,
    /// ks ≤ 126), so no assignment of `ks` bits can represent it.
    pub fn slack_bits(&self) -> u32 {
        let scale_bits = ceil_log2(self.scale_factor() as u128);
        let a = self.collateral_bits + 1 + scale_bits;
        let b = ceil_log2(self.n() as u128) + self.quantity_bits + 62;
        a.max(b) + 1
    }

    /// Checks dimensions, ranges and uniqueness; every error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.version != RULE_VERSION {
            return Err(ProofError::field(
                "version",
                format!(
                    "unsupported version {}, expected {RULE_VERSION}",
                    self.version
                ),
            ));
        }
        if self.collateral_asset.is_empty() {
            return Err(ProofError::field("collateral_asset", "must not be empty"));
        }
        if self.loss_scale > MAX_LOSS_SCALE {
            return Err(ProofError::field(
                "loss_scale",
                format!("{} exceeds the maximum {MAX_LOSS_SCALE}", self.loss_scale),
            ));
        }
        if self.quantity_decimals > 18 {
            return Err(ProofError::field("quantity_decimals", "must be at most 18"));
        }
        if !(2..=MAX_QUANTITY_BITS).contains(&self.quantity_bits) {
            return Err(ProofError::field(
                "quantity_bits",
                format!("{} outside 2..={MAX_QUANTITY_BITS}", self.quantity_bits),
            ));
        }
        if !(1..=MAX_COLLATERAL_BITS).contains(&self.collateral_bits) {
            return Err(ProofError::field(
                "collateral_bits",
                format!("{} outside 1..={MAX_COLLATERAL_BITS}", self.collateral_bits),
            ));
        }
        if self.instruments.is_empty() {
            return Err(ProofError::field("instruments", "must not be empty"));
        }
        if self.scenarios.is_empty() {
            return Err(ProofError::field("scenarios", "must not be empty"));
        }
        if self.n() > MAX_INSTRUMENTS {
            return Err(ProofError::field(
                "instruments",
                format!("{} exceed the limit of {MAX_INSTRUMENTS}", self.n()),
            ));
        }
        if self.m() > MAX_SCENARIOS {
            return Err(ProofError::field(
                "scenarios",
                format!("{} exceed the limit of {MAX_SCENARIOS}", self.m()),
            ));
        }
        if self.n() * self.m() > MAX_CELLS {
            return Err(ProofError::field(
                "scenarios",
                format!(
                    "{} instruments × {} scenarios = {} loss cells exceed the limit of {MAX_CELLS}",
                    self.n(),
                    self.m(),
                    self.n() * self.m()
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, id) in self.instruments.iter().enumerate() {
            if id.is_empty() || !seen.insert(id.as_str()) {
                return Err(ProofError::field(
                    format!("instruments[{i}]"),
                    format!("empty or duplicate instrument id `{id}`"),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (s, name) in self.scenarios.iter().enumerate() {
            if name.is_empty() || !seen.insert(name.as_str()) {
                return Err(ProofError::field(
                    format!("scenarios[{s}]"),
                    format!("empty or duplicate scenario name `{name}`"),
                ));
            }
        }
        if self.losses.len() != self.n() {
            return Err(ProofError::field(
                "losses",
                format!(
                    "has {} rows, expected one per instrument ({})",
                    self.losses.len(),
                    self.n()
                ),
            ));
        }
        for (i, row) in self.losses.iter().enumerate() {
            if row.len() != self.m() {
                return Err(ProofError::field(
                    format!("losses[{i}]"),
                    format!(
                        "has {} entries, expected one per scenario ({})",
                        row.len(),
                        self.m()
                    ),
                ));
            }
            if let Some(s) = row.iter().position(|&x| x == i64::MIN) {
                return Err(ProofError::field(
                    format!("losses[{i}][{s}]"),
                    "i64::MIN is outside the symmetric range |x| < 2^63",
                ));
            }
        }
        let limit = 1i128 << self.collateral_bits;
        if self.threshold <= -limit || self.threshold >= limit {
            return Err(ProofError::field(
                "threshold",
                format!(
                    "{} outside |threshold| < 2^collateral_bits = 2^{}",
                    self.threshold, self.collateral_bits
                ),
            ));
        }
        let ks = self.slack_bits();
        if ks > MAX_SLACK_BITS {
            return Err(ProofError::field(
                "quantity_bits",
                format!(
                    "slack range {ks} bits (from quantity_bits, collateral_bits, loss_scale and the \
                     number of instruments) exceeds {MAX_SLACK_BITS}"
                ),
            ));
        }
        Ok(())
    }

    /// SHA-256 over a canonical, length-prefixed encoding of everything except the threshold
    /// and description; binds a proving/verifying key to exactly this matrix.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"intermargin-zk-rule-v1\0");
        let put_str = |h: &mut Sha256, s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        h.update(self.version.to_le_bytes());
        put_str(&mut h, &self.collateral_asset);
        for v in [
            self.quantity_decimals,
            self.loss_scale,
            self.quantity_bits,
            self.collateral_bits,
        ] {
            h.update(v.to_le_bytes());
        }
        h.update((self.n() as u64).to_le_bytes());
        h.update((self.m() as u64).to_le_bytes());
        for id in &self.instruments {
            put_str(&mut h, id);
        }
        for s in &self.scenarios {
            put_str(&mut h, s);
        }
        for row in &self.losses {
            for x in row {
                h.update(x.to_le_bytes());
            }
        }
        put_str(&mut h, crate::zk::poseidon::POSEIDON_ID);
        h.finalize().into()
    }

    /// The digest as a field element (its first 31 bytes, big-endian, so it is below the modulus).
    pub fn digest_field(&self) -> Fr {
        Fr::from_be_bytes_mod_order(&self.digest()[..31])
    }

    /// Per-scenario integer slacks `C·S − Σ q_i·R[i][s] − T·S` (checked; the bounds guarantee no overflow).
    pub fn slacks(&self, q: &[i128], collateral: u128, threshold: i128) -> Result<Vec<i128>> {
        let s_f = self.scale_factor();
        let overflow = |f: &str| ProofError::Overflow {
            field: f.to_string(),
        };
        let c = i128::try_from(collateral).map_err(|_| overflow("collateral"))?;
        let base = c
            .checked_mul(s_f)
            .and_then(|x| x.checked_sub(threshold.checked_mul(s_f)?))
            .ok_or_else(|| overflow("collateral·10^loss_scale − threshold·10^loss_scale"))?;
        (0..self.m())
            .map(|s| {
                let mut acc = base;
                for (i, qi) in q.iter().enumerate() {
                    let term = qi
                        .checked_mul(self.losses[i][s] as i128)
                        .ok_or_else(|| overflow(&format!("quantities[{i}]·losses[{i}][{s}]")))?;
                    acc = acc
                        .checked_sub(term)
                        .ok_or_else(|| overflow(&format!("slack of scenario {s}")))?;
                }
                Ok(acc)
            })
            .collect()
    }
}

/// Rounds a per-lot loss in collateral base units up to fixed point (`ceil(loss·10^scale)`),
/// against the prover for long positions; errors name `field`.
pub fn loss_to_fixed(loss: f64, scale: u32, field: &str) -> Result<i64> {
    if !loss.is_finite() {
        return Err(ProofError::field(
            field,
            format!("loss {loss} is not finite"),
        ));
    }
    let x = (loss * 10f64.powi(scale as i32)).ceil();
    // 2^63 is exact in f64; |x| < 2^63 (excluding i64::MIN) is the accepted range.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if x >= TWO_POW_63 || x <= -TWO_POW_63 {
        return Err(ProofError::field(
            field,
            format!("loss {loss} × 10^{scale} does not fit in i64"),
        ));
    }
    Ok(x as i64)
}

/// One position of the private book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivatePosition {
    /// Instrument id, as listed in the rule.
    pub instrument: String,
    /// Signed quantity in lots (`size × 10^quantity_decimals`).
    pub quantity: i128,
}

/// The trader's private witness: positions, collateral and the commitment's salt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateBook {
    /// Collateral in base units of the rule's collateral asset.
    pub collateral: u128,
    /// Hiding salt: a BN254 scalar as `0x`-prefixed big-endian hex (see [`random_salt`]).
    pub salt: String,
    /// Positions; instruments of the rule not listed have quantity 0.
    pub positions: Vec<PrivatePosition>,
}

impl PrivateBook {
    /// Parses a private book from JSON text; errors name the field.
    pub fn from_json(text: &str) -> Result<Self> {
        crate::json::from_str(text, "private book")
    }

    /// Reads a private book file.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        crate::json::read(path)
    }

    /// Quantities in the rule's instrument order, range-checked, plus the parsed salt.
    pub fn resolve(&self, rule: &MarginRule) -> Result<(Vec<i128>, Fr)> {
        let index: std::collections::HashMap<&str, usize> = rule
            .instruments
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut q = vec![0i128; rule.n()];
        let mut set = vec![false; rule.n()];
        let half = 1i128 << (rule.quantity_bits - 1);
        for (k, p) in self.positions.iter().enumerate() {
            let Some(&i) = index.get(p.instrument.as_str()) else {
                return Err(ProofError::field(
                    format!("positions[{k}].instrument"),
                    format!("`{}` is not an instrument of the rule", p.instrument),
                ));
            };
            if set[i] {
                return Err(ProofError::field(
                    format!("positions[{k}].instrument"),
                    format!("`{}` listed twice", p.instrument),
                ));
            }
            if p.quantity < -half || p.quantity >= half {
                return Err(ProofError::field(
                    format!("positions[{k}].quantity"),
                    format!(
                        "{} outside the declared range [−2^{b}, 2^{b}) (quantity_bits = {})",
                        p.quantity,
                        rule.quantity_bits,
                        b = rule.quantity_bits - 1
                    ),
                ));
            }
            set[i] = true;
            q[i] = p.quantity;
        }
        if self.collateral >> rule.collateral_bits != 0 {
            return Err(ProofError::field(
                "collateral",
                format!(
                    "{} outside the declared range [0, 2^{})",
                    self.collateral, rule.collateral_bits
                ),
            ));
        }
        let salt = parse_field_hex(&self.salt, "salt")?;
        Ok((q, salt))
    }
}

/// A fresh hiding salt from the OS RNG (31 bytes, so always below the field modulus).
pub fn random_salt() -> String {
    use rand::RngCore;
    let mut b = [0u8; 31];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("0x{}", hex::encode(b))
}

/// Parses a canonical field element from `0x` big-endian hex (at most 32 bytes, below the modulus).
pub fn parse_field_hex(s: &str, field: &str) -> Result<Fr> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.is_empty() || h.len() > 64 {
        return Err(ProofError::field(field, "expected 1 to 64 hex digits"));
    }
    let padded = format!("{h:0>64}");
    let bytes =
        hex::decode(&padded).map_err(|e| ProofError::field(field, format!("not hex: {e}")))?;
    let f = Fr::from_be_bytes_mod_order(&bytes);
    if f.into_bigint().to_bytes_be() != bytes {
        return Err(ProofError::field(
            field,
            "not below the BN254 scalar field modulus",
        ));
    }
    Ok(f)
}

/// Formats a field element as `0x` + 64 hex digits, big-endian.
pub fn field_hex(f: &Fr) -> String {
    format!("0x{}", hex::encode(f.into_bigint().to_bytes_be()))
}

/// Maps a signed integer into the field (negative values to `p − |x|`).
pub fn int_to_field(x: i128) -> Fr {
    let f = Fr::from(x.unsigned_abs());
    if x < 0 {
        -f
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_round_up_to_fixed_point() {
        // 1.2345678 × 10^6 = 1234567.8 → 1234568; −1.2345678 × 10^6 → −1234567 (ceil).
        assert_eq!(loss_to_fixed(1.2345678, 6, "x").unwrap(), 1_234_568);
        assert_eq!(loss_to_fixed(-1.2345678, 6, "x").unwrap(), -1_234_567);
        assert!(loss_to_fixed(f64::NAN, 6, "x").is_err());
        assert!(loss_to_fixed(1e13, 6, "x").is_err());
    }

    #[test]
    fn slack_bits_follow_the_documented_bound() {
        let mut r = MarginRule {
            version: RULE_VERSION,
            description: String::new(),
            collateral_asset: "USDC".into(),
            quantity_decimals: 0,
            loss_scale: 6,
            quantity_bits: 48,
            collateral_bits: 96,
            threshold: 0,
            instruments: (0..32).map(|i| format!("i{i}")).collect(),
            scenarios: vec!["s".into()],
            losses: vec![vec![0]; 32],
        };
        // ⌈log2 10^6⌉ = 20: a = 96 + 1 + 20 = 117; b = ⌈log2 32⌉ + 48 + 62 = 115; ks = 118.
        assert_eq!(r.slack_bits(), 118);
        r.quantity_bits = 56;
        // b = 5 + 56 + 62 = 123 > 117 → ks = 124.
        assert_eq!(r.slack_bits(), 124);
    }

    #[test]
    fn field_hex_round_trips_and_rejects_non_canonical() {
        let f = int_to_field(-5);
        assert_eq!(parse_field_hex(&field_hex(&f), "f").unwrap(), f);
        // The modulus itself is not canonical.
        let p = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
        assert!(parse_field_hex(p, "salt").is_err());
        assert!(parse_field_hex("0xzz", "salt").is_err());
    }
}
