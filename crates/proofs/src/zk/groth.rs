//! Groth16 over BN254: per-rule setup, proving, verification, key files and the proof file.
//!
//! Setup is circuit-specific: its randomness ("toxic waste") is drawn from the OS RNG and dropped,
//! which is fine for tests and demos but means whoever ran `setup` could forge proofs. Production
//! keys must come from a multi-party ceremony (e.g. a phase-2 MPC over a powers-of-tau file); this
//! crate only reads the resulting keys.

use std::path::Path;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_snark::SNARK;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ProofError, Result};
use crate::zk::circuit::{MarginCircuit, Witness};
use crate::zk::poseidon;
use crate::zk::rule::{field_hex, int_to_field, parse_field_hex, MarginRule, PrivateBook};

/// The Groth16 proving key of a statement over BN254 (callers need not name the arkworks types).
pub type ProvingKeyBn254 = ProvingKey<Bn254>;

/// A public statement a Groth16 circuit is compiled from: the scenario-matrix rule
/// ([`MarginRule`]) or the unified cross-venue rule ([`crate::zk::unified::UnifiedRule`]). Both
/// have the same three public inputs (rule digest, commitment, threshold), so key files, proof
/// files, verification and the Solidity verifier are shared.
pub trait Statement {
    /// The circuit with an all-zero witness, for key generation and constraint counting.
    type Circuit<'a>: ark_relations::r1cs::ConstraintSynthesizer<Fr>
    where
        Self: 'a;
    /// Checks dimensions and ranges; errors name the field.
    fn check(&self) -> Result<()>;
    /// SHA-256 digest binding keys and proofs to this statement.
    fn rule_digest(&self) -> [u8; 32];
    /// The digest as a field element (its first 31 bytes, big-endian, below the modulus).
    fn rule_digest_field(&self) -> Fr {
        use ark_ff::PrimeField;
        Fr::from_be_bytes_mod_order(&self.rule_digest()[..31])
    }
    /// Minimum collateral left, collateral base units (public input 2).
    fn rule_threshold(&self) -> i128;
    /// Number of instruments (rows).
    fn instrument_count(&self) -> usize;
    /// Number of scenarios.
    fn scenario_count(&self) -> usize;
    /// The setup circuit.
    fn setup_circuit(&self) -> Self::Circuit<'_>;
}

impl Statement for MarginRule {
    type Circuit<'a> = MarginCircuit<'a>;
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
        self.n()
    }
    fn scenario_count(&self) -> usize {
        self.m()
    }
    fn setup_circuit(&self) -> MarginCircuit<'_> {
        MarginCircuit::for_setup(self)
    }
}

/// Scheme tag written into key and proof files.
pub const SCHEME: &str = "groth16-bn254";
/// File name of the proving key inside a keys directory.
pub const PROVING_KEY_FILE: &str = "proving_key.bin";
/// File name of the verifying key inside a keys directory.
pub const VERIFYING_KEY_FILE: &str = "verifying_key.bin";
/// File name of the key metadata inside a keys directory.
pub const KEYS_META_FILE: &str = "keys.json";
/// File name of the Solidity verifier inside a keys directory.
pub const SOLIDITY_FILE: &str = "MarginVerifier.sol";

/// A proving/verifying key pair for one rule.
pub struct Keys {
    /// Needed by the prover (large).
    pub pk: ProvingKey<Bn254>,
    /// Needed by the verifier (small).
    pub vk: VerifyingKey<Bn254>,
}

/// What a keys directory was made for; checked before any key is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysMeta {
    /// Always [`SCHEME`].
    pub scheme: String,
    /// SHA-256 rule digest (hex) the circuit was compiled from.
    pub rule_digest: String,
    /// SHA-256 of `verifying_key.bin`.
    pub verifying_key_sha256: String,
    /// Instruments × scenarios.
    pub instruments: usize,
    /// Number of scenarios.
    pub scenarios: usize,
    /// R1CS constraints of the circuit.
    pub constraints: usize,
    /// Reminder that OS-RNG setup keys are for testing only.
    pub trust: String,
}

/// A margin sufficiency proof with the public inputs it was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarginProof {
    /// Always [`SCHEME`].
    pub scheme: String,
    /// SHA-256 rule digest (hex) the proof is about.
    pub rule_digest: String,
    /// SHA-256 of the verifying key the proof was made for.
    pub verifying_key_sha256: String,
    /// Poseidon commitment to (q, C, salt), a field element in hex.
    pub commitment: String,
    /// The threshold proved, in collateral base units.
    pub threshold: i128,
    /// Compressed Groth16 proof (A ∈ G1, B ∈ G2, C ∈ G1), hex; 128 bytes.
    pub proof: String,
    /// The same proof and inputs as decimal strings, in the argument order of the Solidity verifier.
    pub solidity_calldata: SolidityCalldata,
}

/// Arguments of `verifyProof(a, b, c, input)` in the exported contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolidityCalldata {
    /// A = (x, y).
    pub a: [String; 2],
    /// B = ((x_im, x_re), (y_im, y_re)) in EIP-197 order.
    pub b: [[String; 2]; 2],
    /// C = (x, y).
    pub c: [String; 2],
    /// Public inputs: rule digest, commitment, threshold.
    pub input: [String; 3],
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ProofError + '_ {
    move |source| ProofError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Number of R1CS constraints of the rule's circuit.
pub fn constraint_count<S: Statement>(rule: &S) -> Result<usize> {
    use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem};
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(ark_relations::r1cs::SynthesisMode::Setup);
    rule.setup_circuit().generate_constraints(cs.clone())?;
    cs.finalize();
    Ok(cs.num_constraints())
}

/// TEST-ONLY trusted setup for one rule (see the module docs).
pub fn setup<S: Statement, R: RngCore + CryptoRng>(rule: &S, rng: &mut R) -> Result<Keys> {
    rule.check()?;
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(rule.setup_circuit(), rng)
        .map_err(|e| ProofError::Snark(e.to_string()))?;
    Ok(Keys { pk, vk })
}

/// SHA-256 (hex) of a verifying key's compressed encoding.
pub fn vk_sha256(vk: &VerifyingKey<Bn254>) -> Result<String> {
    let mut b = Vec::new();
    vk.serialize_compressed(&mut b)?;
    Ok(sha256_hex(&b))
}

impl Keys {
    /// Writes `proving_key.bin`, `verifying_key.bin`, `keys.json` and the Solidity verifier.
    pub fn write_dir<S: Statement>(&self, rule: &S, dir: &Path) -> Result<KeysMeta> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut pk = Vec::new();
        self.pk.serialize_uncompressed(&mut pk)?;
        let p = dir.join(PROVING_KEY_FILE);
        std::fs::write(&p, &pk).map_err(io_err(&p))?;
        let mut vk = Vec::new();
        self.vk.serialize_compressed(&mut vk)?;
        let p = dir.join(VERIFYING_KEY_FILE);
        std::fs::write(&p, &vk).map_err(io_err(&p))?;
        let meta = KeysMeta {
            scheme: SCHEME.into(),
            rule_digest: hex::encode(rule.rule_digest()),
            verifying_key_sha256: sha256_hex(&vk),
            instruments: rule.instrument_count(),
            scenarios: rule.scenario_count(),
            constraints: constraint_count(rule)?,
            trust: "TEST ONLY: single-party setup with OS randomness; whoever ran it can forge \
                    proofs. Use keys from a multi-party ceremony in production."
                .into(),
        };
        let p = dir.join(KEYS_META_FILE);
        let text = serde_json::to_string_pretty(&meta).map_err(|source| ProofError::Json {
            path: p.display().to_string(),
            source,
        })?;
        std::fs::write(&p, text).map_err(io_err(&p))?;
        let p = dir.join(SOLIDITY_FILE);
        std::fs::write(&p, crate::zk::solidity::verifier_contract(&self.vk, rule))
            .map_err(io_err(&p))?;
        Ok(meta)
    }
}

fn read_meta<S: Statement>(rule: &S, dir: &Path) -> Result<KeysMeta> {
    let meta: KeysMeta = crate::json::read(&dir.join(KEYS_META_FILE))?;
    let want = hex::encode(rule.rule_digest());
    if meta.rule_digest != want {
        return Err(ProofError::field(
            format!("{}: rule_digest", dir.join(KEYS_META_FILE).display()),
            format!(
                "keys were made for rule {}, this rule's digest is {want}",
                meta.rule_digest
            ),
        ));
    }
    Ok(meta)
}

/// Reads the proving key of `rule` from a keys directory, checking it was made for this rule.
pub fn read_proving_key<S: Statement>(rule: &S, dir: &Path) -> Result<ProvingKey<Bn254>> {
    read_meta(rule, dir)?;
    let p = dir.join(PROVING_KEY_FILE);
    let bytes = std::fs::read(&p).map_err(io_err(&p))?;
    // The prover trusts its own key file; skipping subgroup checks saves seconds on load.
    let pk = ProvingKey::<Bn254>::deserialize_uncompressed_unchecked(&bytes[..])
        .map_err(|e| ProofError::field(p.display().to_string(), e.to_string()))?;
    Ok(pk)
}

/// Reads and checks the verifying key of `rule` (hash recorded at setup, curve/subgroup checks).
pub fn read_verifying_key<S: Statement>(rule: &S, dir: &Path) -> Result<VerifyingKey<Bn254>> {
    let meta = read_meta(rule, dir)?;
    let p = dir.join(VERIFYING_KEY_FILE);
    let bytes = std::fs::read(&p).map_err(io_err(&p))?;
    if sha256_hex(&bytes) != meta.verifying_key_sha256 {
        return Err(ProofError::field(
            p.display().to_string(),
            "SHA-256 does not match keys.json verifying_key_sha256",
        ));
    }
    VerifyingKey::<Bn254>::deserialize_compressed(&bytes[..])
        .map_err(|e| ProofError::field(p.display().to_string(), e.to_string()))
}

/// Commitment to a resolved book (rule order).
pub fn commitment_of(q: &[i128], collateral: u128, salt: Fr) -> Fr {
    let qf: Vec<Fr> = q.iter().map(|&x| int_to_field(x)).collect();
    poseidon::commit(&qf, Fr::from(collateral), salt)
}

/// Proves that `book` meets `rule`; refuses (with the failing scenario) when it does not.
pub fn prove<R: RngCore + CryptoRng>(
    rule: &MarginRule,
    pk: &ProvingKey<Bn254>,
    book: &PrivateBook,
    rng: &mut R,
) -> Result<MarginProof> {
    let (q, salt) = book.resolve(rule)?;
    let slacks = rule.slacks(&q, book.collateral, rule.threshold)?;
    if let Some((s, &slack)) = slacks.iter().enumerate().find(|(_, &x)| x < 0) {
        return Err(ProofError::Insufficient {
            scenario: rule.scenarios[s].clone(),
            slack,
            scale: rule.loss_scale,
        });
    }
    let commitment = commitment_of(&q, book.collateral, salt);
    let circuit = MarginCircuit {
        rule,
        rule_digest: rule.digest_field(),
        commitment,
        threshold: int_to_field(rule.threshold),
        threshold_int: rule.threshold,
        witness: Witness {
            quantities: q,
            collateral: book.collateral,
            salt,
        },
    };
    prove_circuit(rule, pk, circuit, commitment, rng)
}

/// Runs Groth16 on a circuit of `rule` and packs the proof file (shared by every statement).
pub fn prove_circuit<S: Statement, C, R: RngCore + CryptoRng>(
    rule: &S,
    pk: &ProvingKey<Bn254>,
    circuit: C,
    commitment: Fr,
    rng: &mut R,
) -> Result<MarginProof>
where
    C: ark_relations::r1cs::ConstraintSynthesizer<Fr>,
{
    let proof =
        Groth16::<Bn254>::prove(pk, circuit, rng).map_err(|e| ProofError::Snark(e.to_string()))?;
    let mut bytes = Vec::new();
    proof.serialize_compressed(&mut bytes)?;
    let inputs = public_inputs(rule, commitment);
    Ok(MarginProof {
        scheme: SCHEME.into(),
        rule_digest: hex::encode(rule.rule_digest()),
        verifying_key_sha256: vk_sha256(&pk.vk)?,
        commitment: field_hex(&commitment),
        threshold: rule.rule_threshold(),
        proof: format!("0x{}", hex::encode(bytes)),
        solidity_calldata: crate::zk::solidity::calldata(&proof, &inputs),
    })
}

/// The public inputs the verifier recomputes: its rule's digest, the commitment, its threshold.
pub fn public_inputs<S: Statement>(rule: &S, commitment: Fr) -> [Fr; 3] {
    [
        rule.rule_digest_field(),
        commitment,
        int_to_field(rule.rule_threshold()),
    ]
}

/// Parses the compressed proof bytes, with curve and subgroup checks.
pub fn decode_proof(proof: &MarginProof) -> Result<Proof<Bn254>> {
    let h = proof.proof.strip_prefix("0x").unwrap_or(&proof.proof);
    let bytes = hex::decode(h).map_err(|e| ProofError::field("proof", format!("not hex: {e}")))?;
    Proof::<Bn254>::deserialize_compressed(&bytes[..])
        .map_err(|e| ProofError::field("proof", format!("not a valid Groth16 proof: {e}")))
}

/// Verifies `proof` against the verifier's own `rule` (digest and threshold) and key.
pub fn verify<S: Statement>(rule: &S, vk: &VerifyingKey<Bn254>, proof: &MarginProof) -> Result<()> {
    if proof.scheme != SCHEME {
        return Err(ProofError::field(
            "scheme",
            format!("`{}`, expected `{SCHEME}`", proof.scheme),
        ));
    }
    let want = hex::encode(rule.rule_digest());
    if proof.rule_digest != want {
        return Err(ProofError::Rejected(format!(
            "proof is about rule {}, not this rule ({want})",
            proof.rule_digest
        )));
    }
    if proof.threshold != rule.rule_threshold() {
        return Err(ProofError::Rejected(format!(
            "proof claims threshold {}, the rule requires {}",
            proof.threshold,
            rule.rule_threshold()
        )));
    }
    let commitment = parse_field_hex(&proof.commitment, "commitment")?;
    let vk_hash = vk_sha256(vk)?;
    if proof.verifying_key_sha256 != vk_hash {
        return Err(ProofError::Rejected(format!(
            "verifying_key_sha256: proof was made for key {}, this key is {vk_hash}",
            proof.verifying_key_sha256
        )));
    }
    let p = decode_proof(proof)?;
    let inputs = public_inputs(rule, commitment);
    verify_raw(vk, &p, &inputs)?;
    // The calldata a user sends on chain must be this very proof and these inputs, field by field.
    let want = crate::zk::solidity::calldata(&p, &inputs);
    let got = &proof.solidity_calldata;
    let fields: [(&str, bool); 4] = [
        ("solidity_calldata.a", got.a == want.a),
        ("solidity_calldata.b", got.b == want.b),
        ("solidity_calldata.c", got.c == want.c),
        ("solidity_calldata.input", got.input == want.input),
    ];
    for (field, same) in fields {
        if !same {
            return Err(ProofError::Rejected(format!(
                "{field} differs from the proof and public inputs it accompanies"
            )));
        }
    }
    Ok(())
}

/// Groth16 pairing check on explicit public inputs.
pub fn verify_raw(vk: &VerifyingKey<Bn254>, proof: &Proof<Bn254>, inputs: &[Fr]) -> Result<()> {
    let pvk: PreparedVerifyingKey<Bn254> = ark_groth16::prepare_verifying_key(vk);
    let ok = Groth16::<Bn254>::verify_with_processed_vk(&pvk, inputs, proof)
        .map_err(|e| ProofError::Snark(e.to_string()))?;
    if ok {
        Ok(())
    } else {
        Err(ProofError::Rejected(
            "pairing check failed: the proof does not hold for this rule, commitment, threshold \
             and verifying key"
                .into(),
        ))
    }
}
