//! `rule export`, `zk setup`, `prove`, `verify`, `solvency build|verify`: zero-knowledge margin
//! proofs and Merkle-sum proofs of solvency (library: `intermargin-proofs`).
//!
//! Keys live in a directory next to the rule by default (`rule.json` → `rule.keys/`), so
//! `prove --rule R --private P --out F` and `verify --rule R --proof F` need no other argument
//! once `zk setup --rule R` has run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use intermargin_margin::portfolio::GridParams;
use intermargin_model::Snapshot;
use intermargin_proofs::solvency::{self, Ledger, SolvencyRoot, SumTree};
use intermargin_proofs::zk::export::{export_rule, instruments_of, ExportOptions};
use intermargin_proofs::zk::groth::{self, MarginProof};
use intermargin_proofs::zk::rule::{MarginRule, PrivateBook};
use intermargin_proofs::zk::unified::{self, UnifiedBook, UnifiedExportOptions, UnifiedRule};

/// A rule file of either kind: the scenario matrix, or `"kind": "unified"`.
enum AnyRule {
    Matrix(MarginRule),
    Unified(UnifiedRule),
}

fn read_rule(path: &Path) -> Result<AnyRule> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let kind = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string));
    Ok(match kind.as_deref() {
        Some(unified::UNIFIED_KIND) => AnyRule::Unified(UnifiedRule::read(path)?),
        _ => AnyRule::Matrix(MarginRule::read(path)?),
    })
}

/// `intermargin rule …`.
#[derive(Args)]
pub struct RuleArgs {
    #[command(subcommand)]
    cmd: RuleCmd,
}

#[derive(Subcommand)]
enum RuleCmd {
    /// Export a snapshot's scenario matrix as a public fixed-point margin rule (RULE.json).
    Export(ExportArgs),
}

/// Arguments of `intermargin rule export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Canonical snapshot; the rule covers every instrument held in its portfolio.
    #[arg(long)]
    snapshot: PathBuf,
    /// Output rule file.
    #[arg(long)]
    out: PathBuf,
    /// Scenario-grid parameter set: `deribit-pm`, `span`, a TOML file path, or `unified` (the
    /// unified cross-venue model: local floors per segregated venue + the pooled requirement).
    #[arg(long, default_value = "deribit-pm")]
    model: String,
    /// `--model unified`: the account to prove (default: the snapshot's only account).
    #[arg(long)]
    account: Option<String>,
    /// `--model unified`: also write the account's private book (legs in lots, a fresh salt) here.
    #[arg(long)]
    private_out: Option<PathBuf>,
    /// `--model unified`: bits of headroom above each leg's size (the rule admits up to 2^bits x).
    #[arg(long, default_value_t = 0)]
    headroom_bits: u32,
    /// Minimum collateral left after the worst scenario, in collateral base units.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    threshold: i128,
    /// Collateral asset (default: the snapshot's quote currency).
    #[arg(long)]
    collateral_asset: Option<String>,
    /// Decimals of the collateral asset's base unit (USD-like: 6).
    #[arg(long, default_value_t = 6)]
    collateral_decimals: u32,
    /// Quantities are lots of 10^-quantity_decimals contracts.
    #[arg(long, default_value_t = 4)]
    quantity_decimals: u32,
    /// Extra decimal digits carried by each loss.
    #[arg(long, default_value_t = 6)]
    loss_scale: u32,
    /// Declared quantity range: |q| < 2^(bits-1).
    #[arg(long, default_value_t = 48)]
    quantity_bits: u32,
    /// Declared collateral range: C < 2^bits.
    #[arg(long, default_value_t = 96)]
    collateral_bits: u32,
}

/// `intermargin zk …`.
#[derive(Args)]
pub struct ZkArgs {
    #[command(subcommand)]
    cmd: ZkCmd,
}

#[derive(Subcommand)]
enum ZkCmd {
    /// TEST-ONLY Groth16 setup for one rule (toxic waste from the OS RNG; use a ceremony in production).
    Setup(SetupArgs),
    /// Print the Poseidon commitment of a private book (what a proof will publish).
    Commit(CommitArgs),
}

/// Arguments of `intermargin zk setup`.
#[derive(Args)]
pub struct SetupArgs {
    /// The rule to compile.
    #[arg(long)]
    rule: PathBuf,
    /// Keys directory (default: next to the rule, `<rule stem>.keys/`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `intermargin zk commit`.
#[derive(Args)]
pub struct CommitArgs {
    /// The rule (fixes the instrument order).
    #[arg(long)]
    rule: PathBuf,
    /// The private book.
    #[arg(long)]
    private: PathBuf,
}

/// Arguments of `intermargin prove`.
#[derive(Args)]
pub struct ProveArgs {
    /// The public rule.
    #[arg(long)]
    rule: PathBuf,
    /// The private book: positions, collateral, salt.
    #[arg(long)]
    private: PathBuf,
    /// Where to write the proof.
    #[arg(long)]
    out: PathBuf,
    /// Keys directory (default: `<rule stem>.keys/` next to the rule).
    #[arg(long)]
    keys: Option<PathBuf>,
}

/// Arguments of `intermargin verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The verifier's rule (its digest and threshold are used, not the proof's claims).
    #[arg(long)]
    rule: PathBuf,
    /// The proof file.
    #[arg(long)]
    proof: PathBuf,
    /// Keys directory (default: `<rule stem>.keys/` next to the rule).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Require this commitment (hex), e.g. one the trader registered earlier.
    #[arg(long)]
    commitment: Option<String>,
}

/// `intermargin solvency …`.
#[derive(Args)]
pub struct SolvencyArgs {
    #[command(subcommand)]
    cmd: SolvencyCmd,
}

#[derive(Subcommand)]
enum SolvencyCmd {
    /// Build the Merkle-sum tree: DIR/root.json and DIR/proofs/<user>.json.
    Build(BuildArgs),
    /// Check one user's inclusion proof against a published root.
    Verify(SolvencyVerifyArgs),
}

/// Arguments of `intermargin solvency build`.
#[derive(Args)]
pub struct BuildArgs {
    /// CSV `user,<ASSET>,<ASSET>,…` with integer base-unit balances.
    #[arg(long)]
    balances: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Declared reserves per asset, JSON `{"BTC": 123, …}` (base units); reported in root.json.
    #[arg(long)]
    reserves: Option<PathBuf>,
    /// Secret 32-byte hex seed for nonces and leaf order (default: OS RNG). For reproducible tests only.
    #[arg(long)]
    seed: Option<String>,
}

/// Arguments of `intermargin solvency verify`.
#[derive(Args)]
pub struct SolvencyVerifyArgs {
    /// The published root.json.
    #[arg(long)]
    root: PathBuf,
    /// The user's proof file.
    #[arg(long)]
    proof: PathBuf,
}

fn default_keys(rule: &Path) -> PathBuf {
    let stem = rule
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rule".into());
    rule.with_file_name(format!("{stem}.keys"))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

fn load_params(model: &str) -> Result<GridParams> {
    Ok(match model {
        "deribit-pm" => GridParams::deribit_pm()?,
        "span" => GridParams::span()?,
        path => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("--model: `{path}` is not deribit-pm, span or a readable TOML file")
            })?;
            GridParams::from_toml(&text, path)?
        }
    })
}

/// Runs `intermargin rule export`.
pub fn rule(a: RuleArgs) -> Result<()> {
    let RuleCmd::Export(a) = a.cmd;
    let text = std::fs::read_to_string(&a.snapshot)
        .with_context(|| format!("reading {}", a.snapshot.display()))?;
    let snap = Snapshot::from_json(&text).with_context(|| format!("{}", a.snapshot.display()))?;
    if a.model == "unified" {
        return rule_unified(a, &snap);
    }
    let instruments = instruments_of(snap.portfolio.accounts.iter().flat_map(|a| &a.positions));
    if instruments.is_empty() {
        bail!("portfolio.accounts[*].positions: no instruments to export");
    }
    let params = load_params(&a.model)?;
    let opts = ExportOptions {
        collateral_asset: a
            .collateral_asset
            .unwrap_or_else(|| snap.market.quote.clone()),
        collateral_decimals: a.collateral_decimals,
        quantity_decimals: a.quantity_decimals,
        loss_scale: a.loss_scale,
        quantity_bits: a.quantity_bits,
        collateral_bits: a.collateral_bits,
        threshold: a.threshold,
    };
    let rule = export_rule(
        &snap.market,
        &instruments,
        &params,
        &opts,
        format!("scenario matrix of {}", a.snapshot.display()),
    )?;
    write_json(&a.out, &rule)?;
    eprintln!(
        "wrote {} ({} instruments x {} scenarios, digest {})",
        a.out.display(),
        rule.n(),
        rule.m(),
        hex_digest(&rule)
    );
    Ok(())
}

fn hex_digest(rule: &MarginRule) -> String {
    rule.digest().iter().map(|b| format!("{b:02x}")).collect()
}

/// `rule export --model unified`: the account's unified rule (and private book).
fn rule_unified(a: ExportArgs, snap: &Snapshot) -> Result<()> {
    let accounts = &snap.portfolio.accounts;
    let account = match &a.account {
        Some(id) => accounts
            .iter()
            .find(|x| &x.id == id)
            .with_context(|| format!("--account: no account `{id}` in portfolio.accounts"))?,
        None => match accounts.as_slice() {
            [one] => one,
            _ => bail!(
                "portfolio.accounts: {} accounts; choose one with --account",
                accounts.len()
            ),
        },
    };
    let model = intermargin_margin::portfolio::UnifiedModel::new(
        intermargin_margin::portfolio::UnifiedParams::bundled()?,
    );
    let opts = UnifiedExportOptions {
        collateral_asset: a
            .collateral_asset
            .clone()
            .unwrap_or_else(|| snap.market.quote.clone()),
        collateral_decimals: a.collateral_decimals,
        quantity_decimals: a.quantity_decimals,
        loss_scale: a.loss_scale,
        headroom_bits: a.headroom_bits,
        threshold: a.threshold,
    };
    let (rule, book) = unified::export_unified(
        &model,
        account,
        &snap.portfolio.assets,
        &snap.market,
        &opts,
        format!("account {} of {}", account.id, a.snapshot.display()),
    )?;
    write_json(&a.out, &rule)?;
    if let Some(p) = &a.private_out {
        write_json(p, &book)?;
    }
    eprintln!(
        "wrote {} (unified: {} legs at {} venues, {} underlyings x {} scenarios, digest {})",
        a.out.display(),
        rule.legs.len(),
        rule.venues.len(),
        rule.groups.len(),
        rule.scenarios.len(),
        hex::encode(rule.digest())
    );
    Ok(())
}

/// Runs `intermargin zk setup|commit`.
pub fn zk(a: ZkArgs) -> Result<()> {
    match a.cmd {
        ZkCmd::Setup(a) => {
            let dir = a.out.unwrap_or_else(|| default_keys(&a.rule));
            let meta = match read_rule(&a.rule)? {
                AnyRule::Matrix(rule) => {
                    groth::setup(&rule, &mut rand::rngs::OsRng)?.write_dir(&rule, &dir)?
                }
                AnyRule::Unified(rule) => {
                    groth::setup(&rule, &mut rand::rngs::OsRng)?.write_dir(&rule, &dir)?
                }
            };
            eprintln!(
                "TEST-ONLY setup (single party, OS randomness): whoever ran it can forge proofs."
            );
            println!(
                "wrote {} ({} constraints; {} and {})",
                dir.display(),
                meta.constraints,
                groth::PROVING_KEY_FILE,
                groth::SOLIDITY_FILE
            );
            Ok(())
        }
        ZkCmd::Commit(a) => {
            let c = match read_rule(&a.rule)? {
                AnyRule::Matrix(rule) => {
                    let book = PrivateBook::read(&a.private)?;
                    let (q, salt) = book.resolve(&rule)?;
                    groth::commitment_of(&q, book.collateral, salt)
                }
                AnyRule::Unified(rule) => {
                    let book = UnifiedBook::read(&a.private)?;
                    let (q, salt) = book.resolve(&rule)?;
                    unified::commitment_of(&q, salt)
                }
            };
            println!("{}", intermargin_proofs::zk::rule::field_hex(&c));
            Ok(())
        }
    }
}

/// Runs `intermargin prove`.
pub fn prove(a: ProveArgs) -> Result<()> {
    let rule = match read_rule(&a.rule)? {
        AnyRule::Matrix(rule) => rule,
        AnyRule::Unified(rule) => return prove_unified(a, rule),
    };
    let book = PrivateBook::read(&a.private)?;
    let dir = a.keys.unwrap_or_else(|| default_keys(&a.rule));
    let pk = groth::read_proving_key(&rule, &dir).with_context(|| {
        format!(
            "no usable keys in {} (run `intermargin zk setup --rule {}` first)",
            dir.display(),
            a.rule.display()
        )
    })?;
    let t = std::time::Instant::now();
    let proof = groth::prove(&rule, &pk, &book, &mut rand::rngs::OsRng)?;
    write_json(&a.out, &proof)?;
    println!(
        "proved in {:.2} s: commitment {} meets the rule (threshold {}) in all {} scenarios; wrote {}",
        t.elapsed().as_secs_f64(),
        proof.commitment,
        proof.threshold,
        rule.m(),
        a.out.display()
    );
    Ok(())
}

/// `prove` under a unified rule.
fn prove_unified(a: ProveArgs, rule: UnifiedRule) -> Result<()> {
    let book = UnifiedBook::read(&a.private)?;
    let dir = a.keys.unwrap_or_else(|| default_keys(&a.rule));
    let pk = groth::read_proving_key(&rule, &dir).with_context(|| {
        format!(
            "no usable keys in {} (run `intermargin zk setup --rule {}` first)",
            dir.display(),
            a.rule.display()
        )
    })?;
    let t = std::time::Instant::now();
    let proof = unified::prove(&rule, &pk, &book, &mut rand::rngs::OsRng)?;
    write_json(&a.out, &proof)?;
    println!(
        "proved in {:.2} s: commitment {} meets the unified rule (threshold {}): every segregated \
         venue holds its local floor and the pool covers all {} scenarios per underlying; wrote {}",
        t.elapsed().as_secs_f64(),
        proof.commitment,
        proof.threshold,
        rule.scenarios.len(),
        a.out.display()
    );
    Ok(())
}

/// Runs `intermargin verify`: exit 0 only when the proof holds.
pub fn verify(a: VerifyArgs) -> Result<()> {
    let rule = read_rule(&a.rule)?;
    let proof: MarginProof = intermargin_proofs::json::read(&a.proof)?;
    if let Some(c) = &a.commitment {
        let want = intermargin_proofs::zk::rule::parse_field_hex(c, "--commitment")?;
        let got = intermargin_proofs::zk::rule::parse_field_hex(&proof.commitment, "commitment")?;
        if want != got {
            bail!(
                "proof rejected: commitment {} is not the required {c}",
                proof.commitment
            );
        }
    }
    let dir = a.keys.unwrap_or_else(|| default_keys(&a.rule));
    let no_vk = || format!("no usable verifying key in {}", dir.display());
    match rule {
        AnyRule::Matrix(rule) => {
            let vk = groth::read_verifying_key(&rule, &dir).with_context(no_vk)?;
            groth::verify(&rule, &vk, &proof)?;
            println!(
                "valid: commitment {} meets rule {} (threshold {} {} base units, {} scenarios)",
                proof.commitment,
                proof.rule_digest,
                rule.threshold,
                rule.collateral_asset,
                rule.m()
            );
        }
        AnyRule::Unified(rule) => {
            let vk = groth::read_verifying_key(&rule, &dir).with_context(no_vk)?;
            groth::verify(&rule, &vk, &proof)?;
            println!(
                "valid: commitment {} meets unified rule {} (local floors at {} segregated venues, \
                 pool over {} scenarios per underlying, threshold {} {} base units)",
                proof.commitment,
                proof.rule_digest,
                rule.venues
                    .iter()
                    .filter(|v| v.kind == intermargin_margin::portfolio::VenueKind::Segregated)
                    .count(),
                rule.scenarios.len(),
                rule.threshold,
                rule.collateral_asset
            );
        }
    }
    Ok(())
}

/// Runs `intermargin solvency build|verify`.
pub fn solvency(a: SolvencyArgs) -> Result<()> {
    match a.cmd {
        SolvencyCmd::Build(a) => build(a),
        SolvencyCmd::Verify(a) => {
            let root: SolvencyRoot = intermargin_proofs::json::read(&a.root)?;
            let proof: solvency::InclusionProof = intermargin_proofs::json::read(&a.proof)?;
            solvency::verify_inclusion(&root, &proof)?;
            let bal: Vec<String> = proof
                .assets
                .iter()
                .zip(&proof.balances)
                .map(|(a, b)| format!("{a} {b}"))
                .collect();
            println!(
                "valid: user {} ({}) is included in root {}",
                proof.user,
                bal.join(", "),
                root.root_hash
            );
            Ok(())
        }
    }
}

fn build(a: BuildArgs) -> Result<()> {
    let file = std::fs::File::open(&a.balances)
        .with_context(|| format!("reading {}", a.balances.display()))?;
    let ledger = Ledger::from_csv(std::io::BufReader::new(file))
        .with_context(|| format!("{}", a.balances.display()))?;
    let seed = match &a.seed {
        Some(h) => {
            let b = hex::decode(h.trim_start_matches("0x")).context("--seed: not hex")?;
            <[u8; 32]>::try_from(b).map_err(|_| anyhow::anyhow!("--seed: expected 32 bytes"))?
        }
        None => {
            use rand::RngCore;
            let mut s = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut s);
            s
        }
    };
    let reserves: Option<BTreeMap<String, u128>> = match &a.reserves {
        Some(p) => Some(intermargin_proofs::json::read(p)?),
        None => None,
    };
    let tree = SumTree::build(ledger, seed)?;
    let mut root = tree.root();
    if let Some(r) = reserves {
        root = root.with_reserves(r).context("--reserves")?;
    }
    let proofs_dir = a.out.join("proofs");
    std::fs::create_dir_all(&proofs_dir)
        .with_context(|| format!("creating {}", proofs_dir.display()))?;
    let bar = indicatif::ProgressBar::new(tree.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} proofs {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    use rayon::prelude::*;
    (0..tree.len())
        .into_par_iter()
        .try_for_each(|u| -> Result<()> {
            let p = tree.proof(u);
            let path = proofs_dir.join(format!("{}.json", p.user));
            let text = serde_json::to_string(&p)?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            bar.inc(1);
            Ok(())
        })?;
    bar.finish_and_clear();
    write_json(&a.out.join("root.json"), &root)?;
    let liab: Vec<String> = root
        .assets
        .iter()
        .zip(&root.liabilities)
        .map(|(a, l)| format!("{a} {l}"))
        .collect();
    println!(
        "root {} over {} users; liabilities: {}",
        root.root_hash,
        root.users,
        liab.join(", ")
    );
    if let Some(r) = &root.reserves {
        if r.solvent {
            println!("reserves cover liabilities in every asset");
        } else {
            println!(
                "SHORTFALL: liabilities exceed reserves in {}",
                r.shortfalls.join(", ")
            );
        }
    }
    Ok(())
}
