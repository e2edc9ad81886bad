//! Proof of solvency: a Merkle-sum tree over user balances in several assets.
//!
//! Each node carries a SHA-256 hash and one sum per asset. A leaf is
//! `H("im-sol-leaf" ‖ nonce ‖ user ‖ balances)`; a parent is
//! `H("im-sol-node" ‖ left.hash ‖ left.sums ‖ right.hash ‖ right.sums)` with
//! `parent.sums = left.sums + right.sums`. Hashing both children's sums (not just their total) is
//! the fix to the Maxwell-Todd flaw: a venue cannot shift liability between siblings without
//! changing the hash. The root thus commits to total liabilities per asset.
//!
//! Choices. SHA-256 (the `sha2` crate) rather than Poseidon: nothing here runs inside a circuit,
//! SHA-256 is ~50× faster natively and any user can re-implement the check. Balances are `u64`
//! base units (non-negative by type, parsed with errors naming row and column); sums are `u128`
//! with checked addition — with at most 2^32 users a sum is below 2^96, so an overflow can only
//! come from a forged proof, which verification rejects. Leaves are padded to a power of two with
//! zero-balance padding leaves, placed in a random order (so a sibling sum is not a known
//! neighbour's balance) and salted with a per-user nonce (so balances cannot be brute-forced from
//! a hash). Sibling sums still reveal subtree totals — the usual leak of Merkle-sum trees; a
//! zk-SNARK over the path (Summa) would hide them.
//!
//! Reserves are declared by the venue (`RESERVES.json`) and compared to the committed liabilities;
//! proving custody of reserves (signatures over addresses) is out of scope here.

use std::collections::{BTreeMap, HashSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ProofError, Result};

/// Scheme tag of root and proof files.
pub const SOLVENCY_SCHEME: &str = "merkle-sum-sha256-v1";
/// Most users a tree accepts (keeps every honest sum below 2^96, far from the u128 bound).
pub const MAX_USERS: usize = 1 << 32;
/// Longest accepted user id (ids become file names).
pub const MAX_USER_LEN: usize = 128;
/// Most asset columns a ledger may have (every tree node carries one sum per asset).
pub const MAX_ASSETS: usize = 64;
/// Most memory a tree may take, bytes ([`tree_bytes`]); checked before anything is allocated.
pub const MAX_TREE_BYTES: u128 = 16 << 30;

/// Memory a tree over `users` users and `assets` assets takes: every level's hashes (32 bytes)
/// and sums (16 bytes per asset), about twice the padded leaf level, plus the per-user rows.
pub fn tree_bytes(users: usize, assets: usize) -> u128 {
    let width = (users.max(2) as u128).next_power_of_two();
    let node = 32 + 16 * assets as u128;
    2 * width * node + users as u128 * (8 * assets as u128 + 16 + 8 + MAX_USER_LEN as u128)
}

/// A 32-byte SHA-256 output.
pub type Hash = [u8; 32];

/// User balances: one row per user, one column per asset, in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    /// Asset names (CSV header after `user`).
    pub assets: Vec<String>,
    /// User ids, unique.
    pub users: Vec<String>,
    /// Row-major balances, `users.len() × assets.len()`.
    pub balances: Vec<u64>,
}

/// Checks that a user id is usable as a file name and unambiguous.
pub fn validate_user_id(id: &str, field: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_USER_LEN {
        return Err(ProofError::field(
            field,
            format!("user id must have 1 to {MAX_USER_LEN} characters"),
        ));
    }
    if id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(ProofError::field(
            field,
            format!("user id `{id}` must use only A-Z a-z 0-9 _ - . @ and not start with `.`"),
        ));
    }
    Ok(())
}

impl Ledger {
    /// Parses `user,<ASSET>,…` CSV with integer base-unit balances; errors name row and column.
    pub fn from_csv<R: std::io::Read>(reader: R) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let headers = rdr
            .headers()
            .map_err(|e| ProofError::field("header", e.to_string()))?
            .clone();
        if headers.get(0).map(str::trim) != Some("user") {
            return Err(ProofError::field(
                "header",
                "first column must be `user`, followed by one column per asset",
            ));
        }
        let assets: Vec<String> = headers
            .iter()
            .skip(1)
            .map(|s| s.trim().to_string())
            .collect();
        if assets.is_empty() {
            return Err(ProofError::field("header", "no asset columns after `user`"));
        }
        let mut seen = HashSet::new();
        for (j, a) in assets.iter().enumerate() {
            if a.is_empty() || !seen.insert(a.clone()) {
                return Err(ProofError::field(
                    format!("header column {}", j + 2),
                    format!("empty or duplicate asset `{a}`"),
                ));
            }
        }
        if assets.len() > MAX_ASSETS {
            return Err(ProofError::field(
                "header",
                format!(
                    "{} asset columns exceed the limit of {MAX_ASSETS}",
                    assets.len()
                ),
            ));
        }
        let k = assets.len();
        let mut users = Vec::new();
        let mut balances = Vec::new();
        let mut ids = HashSet::new();
        for (r, rec) in rdr.records().enumerate() {
            let line = r + 2;
            let rec = rec.map_err(|e| ProofError::field(format!("row {line}"), e.to_string()))?;
            if rec.len() != k + 1 {
                return Err(ProofError::field(
                    format!("row {line}"),
                    format!("has {} fields, header has {}", rec.len(), k + 1),
                ));
            }
            let user = rec[0].trim().to_string();
            validate_user_id(&user, &format!("row {line}, column user"))?;
            if !ids.insert(user.clone()) {
                return Err(ProofError::field(
                    format!("row {line}, column user"),
                    format!("duplicate user `{user}`"),
                ));
            }
            for (j, a) in assets.iter().enumerate() {
                let raw = rec[j + 1].trim();
                balances.push(parse_balance(
                    raw,
                    &format!("row {line} (user {user}), column {a}"),
                )?);
            }
            users.push(user);
            if tree_bytes(users.len(), k) > MAX_TREE_BYTES || users.len() > MAX_USERS {
                return Err(ProofError::field(
                    format!("row {line}"),
                    format!(
                        "{} users × {k} assets would need more than {} GiB for the tree",
                        users.len(),
                        MAX_TREE_BYTES >> 30
                    ),
                ));
            }
        }
        if users.is_empty() {
            return Err(ProofError::field("rows", "no users"));
        }
        if users.len() > MAX_USERS {
            return Err(ProofError::field(
                "rows",
                format!("more than {MAX_USERS} users"),
            ));
        }
        Ok(Ledger {
            assets,
            users,
            balances,
        })
    }
}

/// Parses one non-negative integer balance bounded by `u64::MAX`.
pub fn parse_balance(raw: &str, field: &str) -> Result<u64> {
    if raw.starts_with('-') {
        return Err(ProofError::field(field, format!("negative balance {raw}")));
    }
    raw.parse::<u64>().map_err(|e| {
        let reason = match e.kind() {
            std::num::IntErrorKind::PosOverflow => {
                format!("balance {raw} exceeds the bound 2^64 - 1 base units")
            }
            _ => format!("`{raw}` is not an integer number of base units"),
        };
        ProofError::field(field, reason)
    })
}

fn leaf_hash(nonce: &[u8; 16], user: &str, balances: &[u64]) -> Hash {
    let mut h = Sha256::new();
    h.update(b"im-sol-leaf\0");
    h.update(nonce);
    h.update((user.len() as u32).to_be_bytes());
    h.update(user.as_bytes());
    h.update((balances.len() as u32).to_be_bytes());
    for b in balances {
        h.update(b.to_be_bytes());
    }
    h.finalize().into()
}

fn pad_hash(index: u64) -> Hash {
    let mut h = Sha256::new();
    h.update(b"im-sol-pad\0");
    h.update(index.to_be_bytes());
    h.finalize().into()
}

fn node_hash(lh: &Hash, ls: &[u128], rh: &Hash, rs: &[u128]) -> Hash {
    let mut h = Sha256::new();
    h.update(b"im-sol-node\0");
    h.update(lh);
    for s in ls {
        h.update(s.to_be_bytes());
    }
    h.update(rh);
    for s in rs {
        h.update(s.to_be_bytes());
    }
    h.finalize().into()
}

fn add_sums(l: &[u128], r: &[u128], out: &mut [u128], field: &str) -> Result<()> {
    for ((o, a), b) in out.iter_mut().zip(l).zip(r) {
        *o = a.checked_add(*b).ok_or_else(|| ProofError::Overflow {
            field: field.to_string(),
        })?;
    }
    Ok(())
}

fn user_nonce(seed: &[u8; 32], user: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"im-sol-nonce\0");
    h.update(seed);
    h.update(user.as_bytes());
    let d: Hash = h.finalize().into();
    let mut n = [0u8; 16];
    n.copy_from_slice(&d[..16]);
    n
}

/// A built Merkle-sum tree, all levels in memory (leaves first).
pub struct SumTree {
    assets: Vec<String>,
    users: Vec<String>,
    balances: Vec<u64>,
    nonces: Vec<[u8; 16]>,
    /// `leaf_of_user[u]` = leaf position of user `u`.
    leaf_of_user: Vec<u64>,
    hashes: Vec<Vec<Hash>>,
    sums: Vec<Vec<u128>>,
}

impl SumTree {
    /// Builds the tree; `seed` (secret, random in production) derives nonces and the leaf order.
    pub fn build(ledger: Ledger, seed: [u8; 32]) -> Result<Self> {
        let Ledger {
            assets,
            users,
            balances,
        } = ledger;
        let k = assets.len();
        let n = users.len();
        if n == 0 || k == 0 || balances.len() != n * k {
            return Err(ProofError::field(
                "balances",
                "empty ledger or wrong dimensions",
            ));
        }
        if k > MAX_ASSETS || n > MAX_USERS || tree_bytes(n, k) > MAX_TREE_BYTES {
            return Err(ProofError::field(
                "balances",
                format!(
                    "{n} users × {k} assets exceed the tree limits ({MAX_ASSETS} assets, {} GiB)",
                    MAX_TREE_BYTES >> 30
                ),
            ));
        }
        let width = n.next_power_of_two().max(2);
        let depth = width.trailing_zeros() as usize;
        let mut order: Vec<u64> = (0..width as u64).collect();
        order.shuffle(&mut rand_chacha::ChaCha20Rng::from_seed(seed));
        // order[pos] = slot at leaf `pos`; slots < n are users, the rest padding.
        let mut leaf_of_user = vec![0u64; n];
        for (pos, &slot) in order.iter().enumerate() {
            if (slot as usize) < n {
                leaf_of_user[slot as usize] = pos as u64;
            }
        }
        let nonces: Vec<[u8; 16]> = users.par_iter().map(|u| user_nonce(&seed, u)).collect();
        let mut leaf_hashes = vec![[0u8; 32]; width];
        let mut leaf_sums = vec![0u128; width * k];
        leaf_hashes
            .par_iter_mut()
            .zip(leaf_sums.par_chunks_mut(k))
            .enumerate()
            .for_each(|(pos, (h, s))| {
                let slot = order[pos] as usize;
                if slot < n {
                    let b = &balances[slot * k..(slot + 1) * k];
                    *h = leaf_hash(&nonces[slot], &users[slot], b);
                    for (o, &x) in s.iter_mut().zip(b) {
                        *o = x as u128;
                    }
                } else {
                    *h = pad_hash(pos as u64);
                }
            });
        let mut hashes = vec![leaf_hashes];
        let mut sums = vec![leaf_sums];
        for level in 0..depth {
            let (ph, ps) = {
                let ch = &hashes[level];
                let cs = &sums[level];
                let half = ch.len() / 2;
                let mut ph = vec![[0u8; 32]; half];
                let mut ps = vec![0u128; half * k];
                ph.par_iter_mut()
                    .zip(ps.par_chunks_mut(k))
                    .enumerate()
                    .try_for_each(|(i, (h, s))| -> Result<()> {
                        let (l, r) = (2 * i, 2 * i + 1);
                        let (lsum, rsum) = (&cs[l * k..(l + 1) * k], &cs[r * k..(r + 1) * k]);
                        add_sums(lsum, rsum, s, "tree sums")?;
                        *h = node_hash(&ch[l], lsum, &ch[r], rsum);
                        Ok(())
                    })?;
                (ph, ps)
            };
            hashes.push(ph);
            sums.push(ps);
        }
        Ok(SumTree {
            assets,
            users,
            balances,
            nonces,
            leaf_of_user,
            hashes,
            sums,
        })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the tree has no users (never, after a successful build).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// User ids in input order.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// Tree depth (number of sibling steps in each proof).
    pub fn depth(&self) -> usize {
        self.hashes.len() - 1
    }

    /// The published root: hash and total liabilities per asset.
    pub fn root(&self) -> SolvencyRoot {
        let top = self.hashes.len() - 1;
        SolvencyRoot {
            scheme: SOLVENCY_SCHEME.into(),
            assets: self.assets.clone(),
            root_hash: hex::encode(self.hashes[top][0]),
            liabilities: self.sums[top].clone(),
            depth: self.depth(),
            users: self.users.len() as u64,
            reserves: None,
        }
    }

    /// Inclusion proof of user number `u` (input order).
    pub fn proof(&self, u: usize) -> InclusionProof {
        let k = self.assets.len();
        let mut pos = self.leaf_of_user[u] as usize;
        let mut path = Vec::with_capacity(self.depth());
        for level in 0..self.depth() {
            let sib = pos ^ 1;
            path.push(PathStep {
                hash: HexHash(self.hashes[level][sib]),
                sums: self.sums[level][sib * k..(sib + 1) * k].to_vec(),
            });
            pos >>= 1;
        }
        InclusionProof {
            scheme: SOLVENCY_SCHEME.into(),
            user: self.users[u].clone(),
            nonce: hex::encode(self.nonces[u]),
            assets: self.assets.clone(),
            balances: self.balances[u * k..(u + 1) * k].to_vec(),
            leaf_index: self.leaf_of_user[u],
            path,
        }
    }
}

/// Venue-declared reserves compared with the committed liabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservesReport {
    /// Declared reserves per asset (base units).
    pub declared: BTreeMap<String, u128>,
    /// Assets whose liabilities exceed reserves (empty when solvent).
    pub shortfalls: Vec<String>,
    /// True iff liabilities ≤ reserves for every asset.
    pub solvent: bool,
}

/// The published commitment: root hash and per-asset liabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolvencyRoot {
    /// Always [`SOLVENCY_SCHEME`].
    pub scheme: String,
    /// Asset order of every sums vector.
    pub assets: Vec<String>,
    /// Root hash, hex.
    pub root_hash: String,
    /// Total liabilities per asset (root sums), base units.
    pub liabilities: Vec<u128>,
    /// Tree depth; every proof has exactly this many steps.
    pub depth: usize,
    /// Number of users (padding excluded).
    pub users: u64,
    /// Reserves comparison, when reserves were given at build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserves: Option<ReservesReport>,
}

impl SolvencyRoot {
    /// Compares liabilities with declared reserves (`{"BTC": 123, …}`); every asset must be declared.
    pub fn with_reserves(mut self, declared: BTreeMap<String, u128>) -> Result<Self> {
        for a in declared.keys() {
            if !self.assets.contains(a) {
                return Err(ProofError::field(
                    format!("reserves.{a}"),
                    "asset not in the balances file",
                ));
            }
        }
        let mut shortfalls = Vec::new();
        for (a, l) in self.assets.iter().zip(&self.liabilities) {
            let r = declared.get(a).ok_or_else(|| {
                ProofError::field(
                    format!("reserves.{a}"),
                    "missing: every asset needs reserves",
                )
            })?;
            if l > r {
                shortfalls.push(a.clone());
            }
        }
        self.reserves = Some(ReservesReport {
            declared,
            solvent: shortfalls.is_empty(),
            shortfalls,
        });
        Ok(self)
    }
}

/// A SHA-256 output kept as bytes in memory and written as 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexHash(pub Hash);

impl Serialize for HexHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for HexHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let b = hex::decode(&s).map_err(serde::de::Error::custom)?;
        let h: Hash = b
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))?;
        Ok(HexHash(h))
    }
}

/// One step up the tree: the sibling's hash and sums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathStep {
    /// Sibling hash (hex in JSON).
    pub hash: HexHash,
    /// Sibling per-asset sums.
    pub sums: Vec<u128>,
}

/// A user's inclusion proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// Always [`SOLVENCY_SCHEME`].
    pub scheme: String,
    /// The user id.
    pub user: String,
    /// The leaf's nonce, hex (16 bytes).
    pub nonce: String,
    /// Asset order of `balances` and every sums vector.
    pub assets: Vec<String>,
    /// The user's balances in base units (non-negative, at most 2^64 − 1).
    pub balances: Vec<u64>,
    /// Leaf position; bit `j` tells whether the node at level `j` is a right child.
    pub leaf_index: u64,
    /// Siblings from the leaf up.
    pub path: Vec<PathStep>,
}

fn parse_hash(s: &str, field: &str) -> Result<Hash> {
    let b = hex::decode(s).map_err(|e| ProofError::field(field, format!("not hex: {e}")))?;
    b.try_into()
        .map_err(|_| ProofError::field(field, "expected 32 bytes"))
}

/// Checks `proof` against `root`: recomputes hashes and sums up the path; error says which step failed.
pub fn verify_inclusion(root: &SolvencyRoot, proof: &InclusionProof) -> Result<()> {
    if root.scheme != SOLVENCY_SCHEME || proof.scheme != SOLVENCY_SCHEME {
        return Err(ProofError::field(
            "scheme",
            format!("expected `{SOLVENCY_SCHEME}`"),
        ));
    }
    let k = root.assets.len();
    if proof.assets != root.assets {
        return Err(ProofError::field("assets", "differ from the root's assets"));
    }
    if root.liabilities.len() != k {
        return Err(ProofError::field(
            "liabilities",
            format!("expected {k} sums"),
        ));
    }
    if proof.balances.len() != k {
        return Err(ProofError::field(
            "balances",
            format!("expected {k} balances"),
        ));
    }
    if proof.path.len() != root.depth {
        return Err(ProofError::Rejected(format!(
            "path has {} steps, the tree has depth {}",
            proof.path.len(),
            root.depth
        )));
    }
    if root.depth < 64 && proof.leaf_index >> root.depth != 0 {
        return Err(ProofError::field("leaf_index", "beyond the tree width"));
    }
    validate_user_id(&proof.user, "user")?;
    let nonce: [u8; 16] = hex::decode(&proof.nonce)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ProofError::field("nonce", "expected 16 bytes of hex"))?;
    let mut h = leaf_hash(&nonce, &proof.user, &proof.balances);
    let mut s: Vec<u128> = proof.balances.iter().map(|&b| b as u128).collect();
    let mut idx = proof.leaf_index;
    for (j, step) in proof.path.iter().enumerate() {
        let sh = step.hash.0;
        if step.sums.len() != k {
            return Err(ProofError::field(
                format!("path[{j}].sums"),
                format!("expected {k} sums"),
            ));
        }
        let mut parent = vec![0u128; k];
        add_sums(&s, &step.sums, &mut parent, &format!("path[{j}].sums"))?;
        h = if idx & 1 == 0 {
            node_hash(&h, &s, &sh, &step.sums)
        } else {
            node_hash(&sh, &step.sums, &h, &s)
        };
        s = parent;
        idx >>= 1;
    }
    let want = parse_hash(&root.root_hash, "root_hash")?;
    if h != want {
        return Err(ProofError::Rejected(
            "recomputed root hash differs from the published root: the leaf or a sibling was altered"
                .into(),
        ));
    }
    if s != root.liabilities {
        return Err(ProofError::Rejected(
            "recomputed sums differ from the published liabilities".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn root_sums_are_column_sums_and_all_proofs_verify(
            rows in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 2), 1..40),
            seed in any::<[u8; 32]>(),
        ) {
            let n = rows.len();
            let ledger = Ledger {
                assets: vec!["A".into(), "B".into()],
                users: (0..n).map(|i| format!("u{i}")).collect(),
                balances: rows.iter().flatten().copied().collect(),
            };
            let t = SumTree::build(ledger, seed).unwrap();
            let root = t.root();
            for j in 0..2 {
                let s: u128 = rows.iter().map(|r| r[j] as u128).sum();
                prop_assert_eq!(root.liabilities[j], s);
            }
            for u in 0..n {
                prop_assert!(verify_inclusion(&root, &t.proof(u)).is_ok());
            }
        }
    }
}
