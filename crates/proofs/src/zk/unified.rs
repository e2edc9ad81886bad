//! Margin sufficiency under the unified cross-venue model: a Groth16 statement that a committed book
//! holds, at every segregated venue, at least that venue's local floor, and in total the floors plus
//! an upper bound of the pooled requirement (issue 14, item 6).
//!
//! # The statement
//!
//! The public [`UnifiedRule`] lists venues (segregated or credit) and *legs*: every position and
//! every collateral balance of the book, each at one venue. The private witness is the signed lot
//! count `q_i` of every leg (balances are legs too, so the witness carries the collateral held at
//! each venue) and a salt; `q_i = q⁺_i − q⁻_i` with `0 ≤ q⁺_i, q⁻_i < 2^bits_i` (balances: `q⁻ = 0`,
//! no debt). With `S = 10^loss_scale` and every coefficient an integer in collateral base units × S
//! per lot, the circuit proves
//!
//! * **(a) local floors.** For every segregated venue `j`:
//!   `H_j ≥ F_j`, where `H_j = Σ_{i∈j} value_i·q_i` is the collateral held there and
//!   `F_j = Σ_{i∈j} floor⁺_i·q⁺_i + floor⁻_i·q⁻_i` its local floor;
//! * **(b) the pool.** With `W_g ≥ 0` and `W_g ≥ Σ_{i∈g} (loss_{i,s}·q⁺_i − (loss_{i,s} − 1)·q⁻_i)`
//!   for every scenario `s` of every underlying `g` (each underlying at its own worst, the
//!   per-underlying grid with its extended moves applied to coin collateral as well):
//!   `Σ_j H_j − Σ_j F_j − Σ_g W_g − Σ_i add_on_i·(q⁺_i + q⁻_i) − threshold·S ≥ 0`;
//! * **(c) the commitment** `Poseidon(tag, n, q_1..q_n, UNIFIED_COMMIT_TAG, salt)` opens to the
//!   book (public input 1), the rule digest is public input 0 and the threshold public input 2 —
//!   the same three public inputs as the scenario-matrix proof, so keys, proof files, `verify`
//!   and the Solidity verifier are shared ([`crate::zk::groth::Statement`]).
//!
//! # Why it is sound (the bound is at least the model's requirement)
//!
//! Every coefficient comes from [`intermargin_margin::portfolio::UnifiedModel`]
//! ([`UnifiedModel::scan_table`]: the same netted legs, grid, horizon and risk matrix its
//! requirement uses) and the venues' own rules in the margin crate; nothing of the formula is
//! re-implemented here. The model's requirement is `Σ local floors + pooled`, pooled = scan +
//! depeg + basis + funding + concentration, and each term is bounded above linearly:
//!
//! * **Local floors: linearised, not attested.** A floor is the venue's own maintenance margin of the
//!   venue's slice × (1 + buffer). Attested floors (public inputs the prover supplies) would let the
//!   prover understate them: nothing in the circuit could check a number computed from the private
//!   book by the venue's rules. So the floor is linearised per leg and side:
//!   `floor±_i = MM_venue(leg i alone at ±cap_i) × (1 + buffer) / cap_i`, `cap_i = 2^bits_i − 1` lots.
//!   This is an upper bound under two properties of the venue rules: the maintenance margin of a
//!   slice is at most the sum over its legs (offsets only lower it: per-symbol tiers, per-option
//!   formulas, a scenario maximum of sums), and each leg's maintenance margin is convex in its size
//!   with 0 at 0 (tiered brackets, linear formulas), so `MM(x)/x ≤ MM(cap)/cap` for `x ≤ cap`. The
//!   range check `|q_i| < 2^bits_i` is what makes the rate valid for every provable size.
//! * **Scan:** the model takes Σ over underlyings of each one's worst (less a published inter-commodity
//!   credit, 0 by default) and never more than that sum for any single, opposite-pair or co-moving
//!   scenario, so `Σ_g max(0, max_s loss_g(s))` bounds it. Losses per lot are rounded up for the long
//!   side, and one unit lower for the short side, so rounding never favours the prover.
//! * **Add-ons** (per leg, per lot of `|q|`): basis and funding are rates on `|net notional|` per venue and
//!   underlying, bounded by the sum of the legs' `|notional|` (triangle inequality); concentration
//!   `y·σ·G·sqrt(G/depth)` is convex in the gross `G`, bounded for `G ≤ G_cap` (the gross at every
//!   leg's cap) by `G·y·σ·sqrt(G_cap/depth)` ([`UnifiedModel::linear_concentration_rate`]); depeg
//!   `rate × max(0, net long stablecoin exposure)` is bounded by `rate × Σ |exposure parts|`
//!   (balances are long only). Rates are rounded up, balance values down.
//!
//! Credit lines and cross-underlying credit are ignored (they only lower the model's figure). The
//! test `bound_covers_the_unified_model_on_random_books` checks the bound against the model's
//! requirement and every venue's floor against the model's `local_minimum` on random books.
//!
//! # Constraints
//!
//! With `n` legs, `V` venues of which `V_s` segregated, `G` underlyings with scan rows, `m` grid
//! scenarios and slack width `ks` ([`UnifiedRule::slack_bits`], ≤ 126):
//! `Σ_i bits_i·(2, or 1 for a balance)` booleans + `(V_s + G·(m + 1) + 1)·ks` booleans +
//! `n + V_s + G·(m + 1) + 2` equalities + ⌈(n + 4)/8⌉ Poseidon permutations (~405 each). The hedged
//! example (4 legs, 1 underlying, the bundled 27-point grid + 4 extended moves) is about 10,000;
//! [`MAX_UNIFIED_SCAN_ROWS`] caps `G·m`.

use std::collections::{BTreeMap, HashMap};

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::fields::FieldVar;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use intermargin_margin::portfolio::{ScanTable, UnifiedModel, VenueKind};
use intermargin_model::{Account, Asset, Market, Position};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ProofError, Result};
use crate::zk::groth::{MarginProof, Statement};
use crate::zk::poseidon;
use crate::zk::rule::{
    int_to_field, parse_field_hex, random_salt, PrivatePosition, MAX_INSTRUMENTS,
};

/// Format version of a unified rule.
pub const UNIFIED_RULE_VERSION: u32 = 1;
/// The `kind` field of a unified rule file.
pub const UNIFIED_KIND: &str = "unified";
/// Value absorbed in the commitment's collateral slot: the collateral is among the legs.
pub const UNIFIED_COMMIT_TAG: u64 = 0x756e_6966_6965_6431;
/// Largest accepted `bits` of one leg.
pub const MAX_LEG_BITS: u32 = 56;
/// Most scan rows (underlyings × scenarios) one rule may carry.
pub const MAX_UNIFIED_SCAN_ROWS: usize = 2_048;
/// Largest accepted slack width (see [`UnifiedRule::slack_bits`]).
pub const MAX_UNIFIED_SLACK_BITS: u32 = 126;

/// A venue of the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedVenue {
    /// Venue name (`binance`).
    pub venue: String,
    /// Segregated (its floor is checked where it is held) or credit (no floor).
    pub kind: VenueKind,
}

/// One leg (a position or a collateral balance), its coefficients per lot, × 10^loss_scale, in
/// collateral base units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedLeg {
    /// Leg id: instrument id (`binance:BTCUSDT`, with `#sub=…` / `#isolated`) or `venue:ASSET collateral`.
    pub id: String,
    /// Index into `venues`.
    pub venue: usize,
    /// Index into `groups` when the leg has scenario losses.
    #[serde(default)]
    pub group: Option<usize>,
    /// Declared range: `0 ≤ q⁺, q⁻ < 2^bits` lots.
    pub bits: u32,
    /// A balance: `q ≥ 0` (no debt).
    pub long_only: bool,
    /// Local floor per long lot (segregated venues), rounded up.
    pub floor_long: i64,
    /// Local floor per short lot (segregated venues), rounded up.
    pub floor_short: i64,
    /// Basis + funding + concentration + depeg per lot of `|q|`, rounded up.
    pub add_on: i64,
    /// Value per lot of a balance, rounded down (0 for positions).
    pub value: i64,
    /// Loss per long lot in each scenario of the rule (rounded up); empty without a group.
    #[serde(default)]
    pub losses: Vec<i64>,
}

/// Refuses an empty or repeated name in `names`, naming `field[i]`.
fn unique_names(field: &str, names: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() || !seen.insert(name.as_str()) {
            return Err(ProofError::field(
                format!("{field}[{i}]"),
                format!("empty or duplicate `{name}`"),
            ));
        }
    }
    Ok(())
}

/// The public unified rule ([`crate::zk::unified`] describes the statement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedRule {
    /// Must be [`UNIFIED_RULE_VERSION`].
    pub version: u32,
    /// Must be [`UNIFIED_KIND`].
    pub kind: String,
    /// Free text: snapshot, model, time.
    #[serde(default)]
    pub description: String,
    /// The asset every figure is counted in (base units).
    pub collateral_asset: String,
    /// A lot is `10^-quantity_decimals` of a contract or of a unit of a balance.
    pub quantity_decimals: u32,
    /// Extra decimal digits of every coefficient.
    pub loss_scale: u32,
    /// Minimum collateral left above the requirement, collateral base units.
    pub threshold: i128,
    /// Close-out horizon the scenarios cover (seconds; documentation, part of the digest).
    pub horizon_s: f64,
    /// Venues.
    pub venues: Vec<UnifiedVenue>,
    /// Underlyings with scan rows.
    pub groups: Vec<String>,
    /// Grid scenario names, one per entry of each leg's `losses`.
    pub scenarios: Vec<String>,
    /// Legs.
    pub legs: Vec<UnifiedLeg>,
}

fn ceil_log2(x: u128) -> u32 {
    if x <= 1 {
        0
    } else {
        128 - (x - 1).leading_zeros()
    }
}

impl UnifiedRule {
    /// Parses and validates a rule from JSON text; errors name the field.
    pub fn from_json(text: &str) -> Result<Self> {
        let rule: UnifiedRule = crate::json::from_str(text, "rule")?;
        rule.validate()?;
        Ok(rule)
    }

    /// Reads and validates a rule file.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let rule: UnifiedRule = crate::json::read(path)?;
        rule.validate()?;
        Ok(rule)
    }

    /// `10^loss_scale`.
    pub fn scale_factor(&self) -> i128 {
        10i128.pow(self.loss_scale)
    }

    /// Width of every range-checked slack.
    ///
    /// `B = S·(|threshold| + 1) + Σ_i 2^bits_i·(value + floor⁺ + floor⁻ + 2·add_on + max_s |loss| + 1)`
    /// bounds the magnitude of every linear form of an in-range witness (held, floors, scan sums,
    /// add-ons); `ks = ⌈log2 B⌉ + 2` lets an honest slack (at most `2B`) fit, and since every
    /// expression stays below `2^(ks+9)` in magnitude (`G ≤ 2^11` worst-case terms) — far below
    /// the BN254 modulus `p ≈ 2^253.6` — a negative slack is `p − |x| > 2^ks` in the field and no
    /// `ks` bits represent it. `None` when `B` overflows u128.
    pub fn slack_bits(&self) -> Option<u32> {
        let s = self.scale_factor() as u128;
        let mut b = s.checked_mul(self.threshold.unsigned_abs().checked_add(1)?)?;
        for l in &self.legs {
            let worst = l.losses.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0) as u128;
            let coef = (l.value.unsigned_abs() as u128)
                .checked_add(l.floor_long.unsigned_abs() as u128)?
                .checked_add(l.floor_short.unsigned_abs() as u128)?
                .checked_add(2 * l.add_on.unsigned_abs() as u128)?
                .checked_add(worst + 1)?;
            b = b.checked_add(coef.checked_mul(1u128.checked_shl(l.bits)?)?)?;
        }
        Some(ceil_log2(b) + 2)
    }

    /// Checks dimensions, ranges, signs and uniqueness; every error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.version != UNIFIED_RULE_VERSION {
            return Err(ProofError::field(
                "version",
                format!(
                    "unsupported version {}, expected {UNIFIED_RULE_VERSION}",
                    self.version
                ),
            ));
        }
        if self.kind != UNIFIED_KIND {
            return Err(ProofError::field(
                "kind",
                format!("`{}`, expected `{UNIFIED_KIND}`", self.kind),
            ));
        }
        if self.collateral_asset.is_empty() {
            return Err(ProofError::field("collateral_asset", "must not be empty"));
        }
        if self.loss_scale > crate::zk::rule::MAX_LOSS_SCALE {
            return Err(ProofError::field("loss_scale", "must be at most 18"));
        }
        if self.quantity_decimals > 18 {
            return Err(ProofError::field("quantity_decimals", "must be at most 18"));
        }
        if !(self.horizon_s.is_finite() && self.horizon_s >= 0.0) {
            return Err(ProofError::field(
                "horizon_s",
                "must be a finite number >= 0",
            ));
        }
        if self.threshold.unsigned_abs() >= 1u128 << 100 {
            return Err(ProofError::field(
                "threshold",
                "outside |threshold| < 2^100",
            ));
        }
        if self.venues.is_empty() {
            return Err(ProofError::field("venues", "must not be empty"));
        }
        let mut seen = std::collections::HashSet::new();
        for (j, v) in self.venues.iter().enumerate() {
            if v.venue.is_empty() || !seen.insert(v.venue.as_str()) {
                return Err(ProofError::field(
                    format!("venues[{j}].venue"),
                    format!("empty or duplicate venue `{}`", v.venue),
                ));
            }
        }
        if self.legs.is_empty() {
            return Err(ProofError::field("legs", "must not be empty"));
        }
        if self.legs.len() > MAX_INSTRUMENTS {
            return Err(ProofError::field(
                "legs",
                format!("{} exceed the limit of {MAX_INSTRUMENTS}", self.legs.len()),
            ));
        }
        if self.groups.len() * self.scenarios.len() > MAX_UNIFIED_SCAN_ROWS {
            return Err(ProofError::field(
                "scenarios",
                format!(
                    "{} underlyings × {} scenarios exceed the limit of {MAX_UNIFIED_SCAN_ROWS} scan rows",
                    self.groups.len(),
                    self.scenarios.len()
                ),
            ));
        }
        unique_names("groups", &self.groups)?;
        unique_names("scenarios", &self.scenarios)?;
        let mut seen = std::collections::HashSet::new();
        let mut used = vec![false; self.groups.len()];
        for (i, l) in self.legs.iter().enumerate() {
            let at = |k: &str| format!("legs[{i}].{k}");
            if l.id.is_empty() || !seen.insert(l.id.as_str()) {
                return Err(ProofError::field(
                    at("id"),
                    format!("empty or duplicate leg id `{}`", l.id),
                ));
            }
            let Some(v) = self.venues.get(l.venue) else {
                return Err(ProofError::field(
                    at("venue"),
                    format!("{} is not an index of venues", l.venue),
                ));
            };
            if !(1..=MAX_LEG_BITS).contains(&l.bits) {
                return Err(ProofError::field(
                    at("bits"),
                    format!("{} outside 1..={MAX_LEG_BITS}", l.bits),
                ));
            }
            for (k, x) in [
                ("floor_long", l.floor_long),
                ("floor_short", l.floor_short),
                ("add_on", l.add_on),
                ("value", l.value),
            ] {
                if x < 0 {
                    return Err(ProofError::field(at(k), format!("{x} is negative")));
                }
            }
            if v.kind == VenueKind::Credit && (l.floor_long != 0 || l.floor_short != 0) {
                return Err(ProofError::field(
                    at("floor_long"),
                    "a credit venue holds no local floor (must be 0)",
                ));
            }
            if l.value != 0 && !l.long_only {
                return Err(ProofError::field(
                    at("value"),
                    "only a balance (long_only) carries a value",
                ));
            }
            match l.group {
                Some(g) => {
                    if g >= self.groups.len() {
                        return Err(ProofError::field(
                            at("group"),
                            format!("{g} is not an index of groups"),
                        ));
                    }
                    used[g] = true;
                    if l.losses.len() != self.scenarios.len() {
                        return Err(ProofError::field(
                            at("losses"),
                            format!(
                                "has {} entries, expected one per scenario ({})",
                                l.losses.len(),
                                self.scenarios.len()
                            ),
                        ));
                    }
                    if let Some(s) = l.losses.iter().position(|&x| x == i64::MIN) {
                        return Err(ProofError::field(
                            format!("legs[{i}].losses[{s}]"),
                            "i64::MIN is outside the symmetric range |x| < 2^63",
                        ));
                    }
                }
                None => {
                    if !l.losses.is_empty() {
                        return Err(ProofError::field(
                            at("losses"),
                            "a leg without a group has no losses",
                        ));
                    }
                }
            }
        }
        if let Some(g) = used.iter().position(|u| !u) {
            return Err(ProofError::field(
                format!("groups[{g}]"),
                "no leg belongs to it",
            ));
        }
        if !self.groups.is_empty() && self.scenarios.is_empty() {
            return Err(ProofError::field(
                "scenarios",
                "must not be empty when there are groups",
            ));
        }
        match self.slack_bits() {
            Some(ks) if ks <= MAX_UNIFIED_SLACK_BITS => Ok(()),
            _ => Err(ProofError::field(
                "legs",
                format!(
                    "slack range (from bits, coefficients, loss_scale and threshold) exceeds \
                     {MAX_UNIFIED_SLACK_BITS} bits"
                ),
            )),
        }
    }

    /// SHA-256 over a canonical, length-prefixed encoding of everything except the threshold and
    /// description (the threshold is public input 2).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"intermargin-zk-unified-rule-v1\0");
        let put_str = |h: &mut Sha256, s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        h.update(self.version.to_le_bytes());
        put_str(&mut h, &self.kind);
        put_str(&mut h, &self.collateral_asset);
        h.update(self.quantity_decimals.to_le_bytes());
        h.update(self.loss_scale.to_le_bytes());
        h.update(self.horizon_s.to_le_bytes());
        h.update((self.venues.len() as u64).to_le_bytes());
        for v in &self.venues {
            put_str(&mut h, &v.venue);
            h.update([matches!(v.kind, VenueKind::Segregated) as u8]);
        }
        h.update((self.groups.len() as u64).to_le_bytes());
        for g in &self.groups {
            put_str(&mut h, g);
        }
        h.update((self.scenarios.len() as u64).to_le_bytes());
        for s in &self.scenarios {
            put_str(&mut h, s);
        }
        h.update((self.legs.len() as u64).to_le_bytes());
        for l in &self.legs {
            put_str(&mut h, &l.id);
            h.update((l.venue as u64).to_le_bytes());
            h.update(l.group.map(|g| g as u64 + 1).unwrap_or(0).to_le_bytes());
            h.update(l.bits.to_le_bytes());
            h.update([l.long_only as u8]);
            for x in [l.floor_long, l.floor_short, l.add_on, l.value] {
                h.update(x.to_le_bytes());
            }
            h.update((l.losses.len() as u64).to_le_bytes());
            for x in &l.losses {
                h.update(x.to_le_bytes());
            }
        }
        put_str(&mut h, poseidon::POSEIDON_ID);
        h.finalize().into()
    }

    /// Every figure of the statement for a book (quantities in leg order), in collateral base units
    /// × 10^loss_scale, unchecked: the prover refuses on any negative slack.
    pub fn evaluate(&self, q: &[i128]) -> Result<Evaluation> {
        let overflow = |what: &str| ProofError::Overflow {
            field: what.to_string(),
        };
        if q.len() != self.legs.len() {
            return Err(ProofError::field(
                "positions",
                format!("{} quantities for {} legs", q.len(), self.legs.len()),
            ));
        }
        let nv = self.venues.len();
        let mut held = vec![0i128; nv];
        let mut floor = vec![0i128; nv];
        let mut add_on = 0i128;
        let mut scan = vec![vec![0i128; self.scenarios.len()]; self.groups.len()];
        for (i, (l, &qi)) in self.legs.iter().zip(q).enumerate() {
            let (qp, qn) = (qi.max(0), (-qi).max(0));
            let mul = |a: i128, b: i64| {
                a.checked_mul(b as i128)
                    .ok_or_else(|| overflow(&format!("legs[{i}]")))
            };
            held[l.venue] += mul(qi, l.value)?;
            floor[l.venue] += mul(qp, l.floor_long)? + mul(qn, l.floor_short)?;
            add_on += mul(qp + qn, l.add_on)?;
            if let Some(g) = l.group {
                for (s, &loss) in l.losses.iter().enumerate() {
                    scan[g][s] += mul(qp, loss)? - mul(qn, loss)? + qn;
                }
            }
        }
        let worst: Vec<i128> = scan
            .iter()
            .map(|v| v.iter().copied().max().unwrap_or(0).max(0))
            .collect();
        let s_f = self.scale_factor();
        let pool_slack = held.iter().sum::<i128>()
            - floor.iter().sum::<i128>()
            - worst.iter().sum::<i128>()
            - add_on
            - self.threshold * s_f;
        Ok(Evaluation {
            held,
            floor,
            worst,
            add_on,
            pool_slack,
            scan,
        })
    }

    /// Native check of the statement; the first unmet condition is an error naming it.
    pub fn check_book(&self, q: &[i128]) -> Result<Evaluation> {
        let e = self.evaluate(q)?;
        for (j, v) in self.venues.iter().enumerate() {
            if v.kind == VenueKind::Segregated && e.held[j] < e.floor[j] {
                return Err(ProofError::Unmet {
                    what: format!(
                        "local floor at segregated venue {} (held {} < floor {})",
                        v.venue, e.held[j], e.floor[j]
                    ),
                    slack: e.held[j] - e.floor[j],
                    scale: self.loss_scale,
                });
            }
        }
        if e.pool_slack < 0 {
            return Err(ProofError::Unmet {
                what: format!(
                    "pooled requirement (held {} − floors {} − worst scenario losses {} − add-ons {} − threshold)",
                    e.held.iter().sum::<i128>(),
                    e.floor.iter().sum::<i128>(),
                    e.worst.iter().sum::<i128>(),
                    e.add_on
                ),
                slack: e.pool_slack,
                scale: self.loss_scale,
            });
        }
        Ok(e)
    }
}

/// The statement's figures for one book, collateral base units × 10^loss_scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Collateral held per venue.
    pub held: Vec<i128>,
    /// Local floor per venue (0 at credit venues).
    pub floor: Vec<i128>,
    /// Worst scan loss per underlying (≥ 0).
    pub worst: Vec<i128>,
    /// Σ add-ons.
    pub add_on: i128,
    /// Σ held − Σ floors − Σ worst − add-ons − threshold.
    pub pool_slack: i128,
    /// Scan loss per underlying and scenario.
    pub scan: Vec<Vec<i128>>,
}

impl Evaluation {
    /// The requirement the circuit checks: Σ floors + Σ worst + add-ons (no threshold).
    pub fn requirement(&self) -> i128 {
        self.floor.iter().sum::<i128>() + self.worst.iter().sum::<i128>() + self.add_on
    }
}

/// The trader's private witness under a unified rule: every leg's lots (balances included) and the salt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedBook {
    /// Hiding salt: a BN254 scalar as `0x` big-endian hex.
    pub salt: String,
    /// Legs by id with their signed lots; legs of the rule not listed hold 0.
    pub positions: Vec<PrivatePosition>,
}

impl UnifiedBook {
    /// Reads a private book file.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        crate::json::read(path)
    }

    /// Quantities in the rule's leg order, range-checked, and the salt.
    pub fn resolve(&self, rule: &UnifiedRule) -> Result<(Vec<i128>, Fr)> {
        let index: HashMap<&str, usize> = rule
            .legs
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let mut q = vec![0i128; rule.legs.len()];
        let mut set = vec![false; rule.legs.len()];
        for (k, p) in self.positions.iter().enumerate() {
            let Some(&i) = index.get(p.instrument.as_str()) else {
                return Err(ProofError::field(
                    format!("positions[{k}].instrument"),
                    format!("`{}` is not a leg of the rule", p.instrument),
                ));
            };
            if set[i] {
                return Err(ProofError::field(
                    format!("positions[{k}].instrument"),
                    format!("`{}` listed twice", p.instrument),
                ));
            }
            let l = &rule.legs[i];
            let lim = 1i128 << l.bits;
            if p.quantity <= -lim || p.quantity >= lim || (l.long_only && p.quantity < 0) {
                return Err(ProofError::field(
                    format!("positions[{k}].quantity"),
                    format!(
                        "{} outside the leg's declared range {}(−2^{b}, 2^{b})",
                        p.quantity,
                        if l.long_only { "[0, 2^bits) ⊂ " } else { "" },
                        b = l.bits
                    ),
                ));
            }
            set[i] = true;
            q[i] = p.quantity;
        }
        Ok((q, parse_field_hex(&self.salt, "salt")?))
    }
}

/// Commitment of a resolved book: `Poseidon(tag, n, q_1..q_n, UNIFIED_COMMIT_TAG, salt)`.
pub fn commitment_of(q: &[i128], salt: Fr) -> Fr {
    let qf: Vec<Fr> = q.iter().map(|&x| int_to_field(x)).collect();
    poseidon::commit(&qf, Fr::from(UNIFIED_COMMIT_TAG), salt)
}

/// Circuit instance of a unified rule.
#[derive(Clone)]
pub struct UnifiedCircuit<'a> {
    /// The rule compiled into constants.
    pub rule: &'a UnifiedRule,
    /// Public input 1.
    pub commitment: Fr,
    /// Public input 2 (must be the rule's threshold for the native slacks to hold).
    pub threshold: Fr,
    /// Private quantities in leg order.
    pub quantities: Vec<i128>,
    /// Private salt.
    pub salt: Fr,
}

impl<'a> UnifiedCircuit<'a> {
    /// The circuit for `q` (public inputs computed from it): what the prover runs.
    pub fn new(rule: &'a UnifiedRule, quantities: Vec<i128>, salt: Fr) -> Self {
        UnifiedCircuit {
            rule,
            commitment: commitment_of(&quantities, salt),
            threshold: int_to_field(rule.threshold),
            quantities,
            salt,
        }
    }
}

/// Allocates the low `bits` bits of `value` as booleans and returns `Σ b_j·2^j`.
fn alloc_bits(
    cs: &ConstraintSystemRef<Fr>,
    value: u128,
    bits: u32,
) -> std::result::Result<FpVar<Fr>, SynthesisError> {
    let mut acc = FpVar::<Fr>::zero();
    let mut coeff = Fr::from(1u64);
    for j in 0..bits {
        let bit = j < 128 && (value >> j) & 1 == 1;
        let b = Boolean::new_witness(cs.clone(), || Ok(bit))?;
        acc += FpVar::from(b) * coeff;
        coeff = coeff + coeff;
    }
    Ok(acc)
}

/// A native slack as the bit source: a negative value wraps to a huge u128 whose low bits cannot
/// recompose to the (field-negative) expression.
fn slack_bits_source(x: i128) -> u128 {
    x as u128
}

impl ConstraintSynthesizer<Fr> for UnifiedCircuit<'_> {
    fn generate_constraints(
        self,
        cs: ConstraintSystemRef<Fr>,
    ) -> std::result::Result<(), SynthesisError> {
        let rule = self.rule;
        if self.quantities.len() != rule.legs.len() {
            return Err(SynthesisError::Unsatisfiable);
        }
        let ks = rule.slack_bits().ok_or(SynthesisError::Unsatisfiable)?;
        let digest = FpVar::new_input(cs.clone(), || Ok(rule.rule_digest_field()))?;
        let commitment = FpVar::new_input(cs.clone(), || Ok(self.commitment))?;
        let threshold = FpVar::new_input(cs.clone(), || Ok(self.threshold))?;
        digest.enforce_equal(&FpVar::constant(rule.rule_digest_field()))?;
        let c = |x: i64| int_to_field(x as i128);

        // q = q⁺ − q⁻ with both in [0, 2^bits) (q⁻ absent for balances).
        let mut qp = Vec::with_capacity(rule.legs.len());
        let mut qn = Vec::with_capacity(rule.legs.len());
        let mut q = Vec::with_capacity(rule.legs.len());
        for (l, &qi) in rule.legs.iter().zip(&self.quantities) {
            let p = alloc_bits(&cs, qi.max(0) as u128, l.bits)?;
            let n = if l.long_only {
                // A negative quantity of a balance has no representation: its bits recompose to
                // a non-negative q⁺ that the commitment then fails to match.
                FpVar::zero()
            } else {
                alloc_bits(&cs, (-qi).max(0) as u128, l.bits)?
            };
            q.push(&p - &n);
            qp.push(p);
            qn.push(n);
        }
        let salt = FpVar::new_witness(cs.clone(), || Ok(self.salt))?;
        poseidon::commit_gadget(
            cs.clone(),
            &q,
            &FpVar::constant(Fr::from(UNIFIED_COMMIT_TAG)),
            &salt,
        )?
        .enforce_equal(&commitment)?;

        let native = rule
            .evaluate(&self.quantities)
            .map_err(|_| SynthesisError::Unsatisfiable)?;
        let nv = rule.venues.len();
        let mut held = vec![FpVar::<Fr>::zero(); nv];
        let mut floor = vec![FpVar::<Fr>::zero(); nv];
        let mut add_on = FpVar::<Fr>::zero();
        for (i, l) in rule.legs.iter().enumerate() {
            if l.value != 0 {
                held[l.venue] += &q[i] * c(l.value);
            }
            if l.floor_long != 0 {
                floor[l.venue] += &qp[i] * c(l.floor_long);
            }
            if l.floor_short != 0 && !l.long_only {
                floor[l.venue] += &qn[i] * c(l.floor_short);
            }
            if l.add_on != 0 {
                add_on += (&qp[i] + &qn[i]) * c(l.add_on);
            }
        }
        // (a) Every segregated venue holds its floor.
        for (j, v) in rule.venues.iter().enumerate() {
            if v.kind == VenueKind::Segregated {
                let slack = &held[j] - &floor[j];
                let bits =
                    alloc_bits(&cs, slack_bits_source(native.held[j] - native.floor[j]), ks)?;
                slack.enforce_equal(&bits)?;
            }
        }
        // Each underlying at its own worst: W_g ≥ 0 and W_g ≥ its loss in every scenario.
        let mut worst_sum = FpVar::<Fr>::zero();
        for (g, scan) in native.scan.iter().enumerate() {
            let w = alloc_bits(&cs, slack_bits_source(native.worst[g]), ks)?;
            for (s, &native_loss) in scan.iter().enumerate() {
                let mut loss = FpVar::<Fr>::zero();
                for (i, l) in rule.legs.iter().enumerate() {
                    if l.group != Some(g) {
                        continue;
                    }
                    let r = l.losses[s];
                    if r != 0 {
                        loss += &qp[i] * c(r);
                    }
                    if !l.long_only && r != 1 {
                        // Short side at one unit below the rounded-up loss (see the module docs).
                        loss -= &qn[i] * int_to_field(r as i128 - 1);
                    }
                }
                let bits = alloc_bits(&cs, slack_bits_source(native.worst[g] - native_loss), ks)?;
                (&w - &loss).enforce_equal(&bits)?;
            }
            worst_sum += w;
        }
        // (b) The pool: Σ held − Σ floors − Σ worst − add-ons − threshold·S ≥ 0.
        let s_f = int_to_field(rule.scale_factor());
        let mut pool = FpVar::<Fr>::zero();
        for j in 0..nv {
            pool += &held[j] - &floor[j];
        }
        pool = pool - worst_sum - add_on - threshold * s_f;
        let bits = alloc_bits(&cs, slack_bits_source(native.pool_slack), ks)?;
        pool.enforce_equal(&bits)?;
        Ok(())
    }
}

impl Statement for UnifiedRule {
    type Circuit<'a> = UnifiedCircuit<'a>;
    fn check(&self) -> Result<()> {
        self.validate()
    }
    fn rule_digest(&self) -> [u8; 32] {
        self.digest()
    }
    fn rule_threshold(&self) -> i128 {
        self.threshold
    }
    fn instrument_count(&self) -> usize {
        self.legs.len()
    }
    fn scenario_count(&self) -> usize {
        self.scenarios.len()
    }
    fn setup_circuit(&self) -> UnifiedCircuit<'_> {
        UnifiedCircuit {
            rule: self,
            commitment: Fr::from(0u64),
            threshold: int_to_field(self.threshold),
            quantities: vec![0; self.legs.len()],
            salt: Fr::from(0u64),
        }
    }
}

/// Proves that `book` meets `rule`; refuses, naming the unmet condition, when it does not.
pub fn prove<R: RngCore + CryptoRng>(
    rule: &UnifiedRule,
    pk: &ark_groth16::ProvingKey<ark_bn254::Bn254>,
    book: &UnifiedBook,
    rng: &mut R,
) -> Result<MarginProof> {
    rule.validate()?;
    let (q, salt) = book.resolve(rule)?;
    rule.check_book(&q)?;
    let circuit = UnifiedCircuit::new(rule, q, salt);
    let commitment = circuit.commitment;
    crate::zk::groth::prove_circuit(rule, pk, circuit, commitment, rng)
}

/// Fixed-point layout of an exported unified rule.
#[derive(Debug, Clone, PartialEq)]
pub struct UnifiedExportOptions {
    /// The asset figures are counted in (the snapshot's quote by default).
    pub collateral_asset: String,
    /// Decimals of its base unit.
    pub collateral_decimals: u32,
    /// Lots of `10^-quantity_decimals` contracts or units.
    pub quantity_decimals: u32,
    /// Extra decimal digits of each coefficient.
    pub loss_scale: u32,
    /// Bits above each leg's size: the rule admits `|q| < 2^(bitlen(|lots|) + headroom_bits)`.
    pub headroom_bits: u32,
    /// Minimum collateral left above the requirement, collateral base units.
    pub threshold: i128,
}

impl UnifiedExportOptions {
    /// Defaults for a USD-like asset: 6 decimals, 4 quantity decimals, 6 loss digits, no headroom.
    pub fn for_asset(collateral_asset: impl Into<String>) -> Self {
        UnifiedExportOptions {
            collateral_asset: collateral_asset.into(),
            collateral_decimals: 6,
            quantity_decimals: 4,
            loss_scale: 6,
            headroom_bits: 0,
            threshold: 0,
        }
    }
}

fn leg_id(label: &str, sub: &Option<String>, isolated: bool) -> String {
    let mut id = label.to_string();
    if let Some(s) = sub {
        id.push_str(&format!("#sub={s}"));
    }
    if isolated {
        id.push_str("#isolated");
    }
    id
}

fn to_fixed(x: f64, up: bool, field: &str) -> Result<i64> {
    if !x.is_finite() {
        return Err(ProofError::field(field, format!("{x} is not finite")));
    }
    let y = if up { x.ceil() } else { x.floor() };
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if y >= TWO_POW_63 || y <= -TWO_POW_63 {
        return Err(ProofError::field(field, format!("{x} does not fit in i64")));
    }
    Ok(y as i64)
}

/// Derives the unified rule of `account` and its private book from the model (one source of truth:
/// [`UnifiedModel::scan_table`], the model's rates and the venues' own rules in the margin crate).
pub fn export_unified(
    model: &UnifiedModel,
    account: &Account,
    assets: &[Asset],
    market: &Market,
    opts: &UnifiedExportOptions,
    description: String,
) -> Result<(UnifiedRule, UnifiedBook)> {
    let m_err = |field: &str| {
        let field = field.to_string();
        move |e: intermargin_margin::MarginError| ProofError::field(field, e.to_string())
    };
    let table: ScanTable = model
        .scan_table(account, assets, market)
        .map_err(m_err("account"))?;
    let fx = market.fx_rate(&opts.collateral_asset).ok_or_else(|| {
        ProofError::field(
            "collateral_asset",
            format!("market.fx has no rate for `{}`", opts.collateral_asset),
        )
    })? / market.fx_rate(&table.currency).unwrap_or(1.0);
    if !(fx.is_finite() && fx > 0.0) {
        return Err(ProofError::field(
            "collateral_asset",
            "rate must be positive",
        ));
    }
    // Quote per unit → collateral base units per lot, × 10^loss_scale.
    let per_lot = 10f64.powi(opts.collateral_decimals as i32 + opts.loss_scale as i32)
        / fx
        / 10f64.powi(opts.quantity_decimals as i32);
    let lot = 10f64.powi(opts.quantity_decimals as i32);

    // Merge legs with the same id (a balance on two chains), keep first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut merged: BTreeMap<String, (intermargin_margin::portfolio::ScanLeg, f64)> =
        BTreeMap::new();
    for l in &table.legs {
        let id = leg_id(&l.label, &l.sub_account, l.isolated);
        match merged.get_mut(&id) {
            Some(e) => e.1 += l.size,
            None => {
                order.push(id.clone());
                merged.insert(id, (l.clone(), l.size));
            }
        }
    }
    let mut venues: Vec<UnifiedVenue> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    // Lots and caps first: concentration is linearised at each (venue, underlying)'s gross at the caps.
    struct Pending {
        id: String,
        leg: intermargin_margin::portfolio::ScanLeg,
        lots: i128,
        bits: u32,
        cap_units: f64,
    }
    let mut pend: Vec<Pending> = Vec::new();
    for id in order {
        let (leg, size) = merged
            .remove(&id)
            .ok_or_else(|| ProofError::field("legs", "lost"))?;
        let lots_f = (size * lot).trunc();
        if !lots_f.is_finite() || lots_f.abs() >= 2f64.powi(MAX_LEG_BITS as i32) {
            return Err(ProofError::field(
                format!("legs[{id}]"),
                format!("size {size} does not fit {MAX_LEG_BITS} bits of lots"),
            ));
        }
        let lots = lots_f as i128;
        if !leg.position && lots < 0 {
            return Err(ProofError::field(
                format!("account.collateral[{id}]"),
                "a debt (negative balance) is not supported by the unified proof: its venue's \
                 floor depends on the whole account",
            ));
        }
        let bitlen = 128 - lots.unsigned_abs().leading_zeros();
        let bits = (bitlen.max(1) + opts.headroom_bits).min(MAX_LEG_BITS);
        let cap_units = ((1u128 << bits) - 1) as f64 / lot;
        pend.push(Pending {
            id,
            leg,
            lots,
            bits,
            cap_units,
        });
    }
    let mut gross_cap: BTreeMap<(intermargin_model::Venue, String), f64> = BTreeMap::new();
    for p in pend.iter().filter(|p| p.leg.position) {
        *gross_cap
            .entry((p.leg.venue, p.leg.underlying.clone()))
            .or_default() += p.leg.gross * p.cap_units;
    }
    let mut legs: Vec<UnifiedLeg> = Vec::with_capacity(pend.len());
    let mut book: Vec<PrivatePosition> = Vec::new();
    for p in pend {
        let l = &p.leg;
        let vp = model.params.venue(l.venue).map_err(m_err("venues"))?;
        let vname = l.venue.as_str().to_string();
        let venue = match venues.iter().position(|v| v.venue == vname) {
            Some(j) => j,
            None => {
                venues.push(UnifiedVenue {
                    venue: vname,
                    kind: vp.kind,
                });
                venues.len() - 1
            }
        };
        let field = |k: &str| format!("legs[{}].{k}", p.id);
        // Floors: the venue's own maintenance margin of this leg alone at ±cap, × (1 + buffer), per lot.
        let (mut floor_long, mut floor_short) = (0i64, 0i64);
        if let (Some(inst), VenueKind::Segregated) = (&l.instrument, vp.kind) {
            let cap_lots = ((1u128 << p.bits) - 1) as f64;
            let mm_at = |size: f64| -> Result<f64> {
                let mut acct = Account::new(account.id.clone());
                let mut pos = Position::new(inst.clone(), size);
                pos.sub_account = l.sub_account.clone();
                pos.isolated = l.isolated;
                acct.positions.push(pos);
                let vm = intermargin_margin::portfolio::venue_margins_most_favourable(
                    &acct, assets, market,
                )
                .map_err(m_err(&field("floor_long")))?;
                let mut mm = 0.0;
                for v in &vm {
                    mm += v
                        .quote()
                        .map_err(m_err(&field("floor_long")))?
                        .maintenance_margin;
                }
                Ok(mm.max(0.0))
            };
            let k = (1.0 + vp.buffer) / cap_lots * lot * per_lot;
            floor_long = to_fixed(mm_at(p.cap_units)? * k, true, &field("floor_long"))?;
            floor_short = to_fixed(mm_at(-p.cap_units)? * k, true, &field("floor_short"))?;
        }
        // Add-ons per unit of |size|.
        let mut add_unit = 0.0;
        if l.position {
            let dn = l.delta_notional.abs();
            add_unit += model.basis_rate(l.venue).map_err(m_err("venues"))? * dn;
            if l.perpetual {
                add_unit += model.funding_rate(l.venue).map_err(m_err("venues"))? * dn;
            }
            let g_cap = gross_cap
                .get(&(l.venue, l.underlying.clone()))
                .copied()
                .unwrap_or(0.0);
            add_unit += model
                .linear_concentration_rate(l.venue, &l.underlying, g_cap)
                .map_err(m_err("venues"))?
                * l.gross;
            if let Some(sc) = &l.stablecoin {
                add_unit += model.depeg_rate(sc) * dn;
            }
        } else if let Some(sc) = &l.stablecoin {
            add_unit += model.depeg_rate(sc) * l.value;
        }
        let add_on = to_fixed(add_unit * per_lot, true, &field("add_on"))?;
        let value = if l.position {
            0
        } else {
            to_fixed(l.value * per_lot, false, &field("value"))?.max(0)
        };
        let (group, losses) = if l.loss.iter().any(|&x| x != 0.0) {
            let g = match groups.iter().position(|g| *g == l.underlying) {
                Some(g) => g,
                None => {
                    groups.push(l.underlying.clone());
                    groups.len() - 1
                }
            };
            let mut out = Vec::with_capacity(l.loss.len());
            for (s, &x) in l.loss.iter().enumerate() {
                out.push(to_fixed(
                    x * per_lot,
                    true,
                    &format!("legs[{}].losses[{s}]", p.id),
                )?);
            }
            (Some(g), out)
        } else {
            (None, Vec::new())
        };
        if p.lots != 0 {
            book.push(PrivatePosition {
                instrument: p.id.clone(),
                quantity: p.lots,
            });
        }
        legs.push(UnifiedLeg {
            id: p.id,
            venue,
            group,
            bits: p.bits,
            long_only: !l.position,
            floor_long,
            floor_short,
            add_on,
            value,
            losses,
        });
    }
    let rule = UnifiedRule {
        version: UNIFIED_RULE_VERSION,
        kind: UNIFIED_KIND.into(),
        description: format!(
            "{description} (unified model {}, horizon {:.0} s) at {} ms; per lot, costs rounded up, values down",
            model.params.name, table.horizon_s, market.timestamp_ms
        ),
        collateral_asset: opts.collateral_asset.clone(),
        quantity_decimals: opts.quantity_decimals,
        loss_scale: opts.loss_scale,
        threshold: opts.threshold,
        horizon_s: table.horizon_s,
        venues,
        groups,
        scenarios: table.scenarios,
        legs,
    };
    rule.validate()?;
    Ok((
        rule,
        UnifiedBook {
            salt: random_salt(),
            positions: book,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::r1cs::ConstraintSystem;

    /// Two venues, one underlying, two scenarios; coefficients small enough to check by hand.
    fn tiny() -> UnifiedRule {
        UnifiedRule {
            version: UNIFIED_RULE_VERSION,
            kind: UNIFIED_KIND.into(),
            description: String::new(),
            collateral_asset: "USD".into(),
            quantity_decimals: 0,
            loss_scale: 0,
            threshold: 0,
            horizon_s: 5400.0,
            venues: vec![
                UnifiedVenue {
                    venue: "binance".into(),
                    kind: VenueKind::Segregated,
                },
                UnifiedVenue {
                    venue: "hub".into(),
                    kind: VenueKind::Credit,
                },
            ],
            groups: vec!["BTC".into()],
            scenarios: vec!["down".into(), "up".into()],
            legs: vec![
                UnifiedLeg {
                    id: "binance:BTCUSDT".into(),
                    venue: 0,
                    group: Some(0),
                    bits: 8,
                    long_only: false,
                    floor_long: 5,
                    floor_short: 6,
                    add_on: 1,
                    value: 0,
                    losses: vec![20, -20],
                },
                UnifiedLeg {
                    id: "binance:USDT collateral".into(),
                    venue: 0,
                    group: None,
                    bits: 16,
                    long_only: true,
                    floor_long: 0,
                    floor_short: 0,
                    add_on: 0,
                    value: 1,
                    losses: vec![],
                },
                UnifiedLeg {
                    id: "hub:USDC collateral".into(),
                    venue: 1,
                    group: None,
                    bits: 16,
                    long_only: true,
                    floor_long: 0,
                    floor_short: 0,
                    add_on: 0,
                    value: 1,
                    losses: vec![],
                },
            ],
        }
    }

    fn satisfied(rule: &UnifiedRule, q: Vec<i128>) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        UnifiedCircuit::new(rule, q, Fr::from(7u64))
            .generate_constraints(cs.clone())
            .unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn statement_by_hand() {
        let r = tiny();
        r.validate().unwrap();
        // Short 10: floor 10·6 = 60 at binance; scan: up loses −(−20)·... short side uses
        // loss − 1: down: −10·(20 − 1) = −190, up: −10·(−20 − 1) = 210 → worst 210;
        // add-on 10·1 = 10. Requirement 60 + 210 + 10 = 280.
        let e = r.evaluate(&[-10, 60, 220]).unwrap();
        assert_eq!(e.floor, vec![60, 0]);
        assert_eq!(e.worst, vec![210]);
        assert_eq!(e.add_on, 10);
        assert_eq!(e.requirement(), 280);
        assert_eq!(e.pool_slack, 0);
        assert!(r.check_book(&[-10, 60, 220]).is_ok());
        assert!(satisfied(&r, vec![-10, 60, 220]));
        // Pool ample (hub 10,000) but binance holds 59 < its floor 60: refused, and unsatisfiable.
        let err = r.check_book(&[-10, 59, 10_000]).unwrap_err().to_string();
        assert!(
            err.contains("local floor at segregated venue binance"),
            "{err}"
        );
        assert!(!satisfied(&r, vec![-10, 59, 10_000]));
        // One short of the pool.
        assert!(r.check_book(&[-10, 60, 219]).is_err());
        assert!(!satisfied(&r, vec![-10, 60, 219]));
        // A negative balance has no witness.
        assert!(!satisfied(&r, vec![-10, -1, 10_000]));
    }

    #[test]
    fn bad_rules_name_the_field() {
        let mut r = tiny();
        r.legs[2].floor_long = 1;
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("legs[2].floor_long"));
        let mut r = tiny();
        r.legs[0].value = 3;
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("legs[0].value"));
        let mut r = tiny();
        r.legs[0].losses.pop();
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("legs[0].losses"));
        let mut r = tiny();
        r.kind = "matrix".into();
        assert!(r.validate().unwrap_err().to_string().contains("kind"));
        let mut r = tiny();
        r.legs[0].bits = 60;
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("legs[0].bits"));
    }
}
