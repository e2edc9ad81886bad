//! End-to-end soundness and completeness of the margin sufficiency proof.

mod common;

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem};
use common::{book, grid_rule, tiny_rule};
use intermargin_proofs::zk::circuit::{MarginCircuit, Witness};
use intermargin_proofs::zk::groth::{self, commitment_of, decode_proof, public_inputs, verify_raw};
use intermargin_proofs::zk::rule::{field_hex, int_to_field, parse_field_hex, MarginRule};
use intermargin_proofs::{prove, setup, verify, Keys, ProofError};
use rand::SeedableRng;

const SALT: &str = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";

fn rng() -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(7)
}

fn tiny_keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| setup(&tiny_rule(), &mut rng()).unwrap())
}

/// Satisfied? for a circuit built from an explicit witness (no native pre-check).
fn satisfied(rule: &MarginRule, q: Vec<i128>, c: u128, salt: Fr, commitment: Fr) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let circuit = MarginCircuit {
        rule,
        rule_digest: rule.digest_field(),
        commitment,
        threshold: int_to_field(rule.threshold),
        threshold_int: rule.threshold,
        witness: Witness {
            quantities: q,
            collateral: c,
            salt,
        },
    };
    circuit.generate_constraints(cs.clone()).unwrap();
    cs.is_satisfied().unwrap()
}

#[test]
fn hand_computed_slacks_match_the_rule() {
    // q = (3, -2), C = 100, T = 10:
    // down: 100 - (3*10 + (-2)*4) - 10 = 100 - 22 - 10 = 68
    // up:   100 - (3*(-5) + (-2)*20) - 10 = 100 + 55 - 10 = 145
    let r = tiny_rule();
    assert_eq!(r.slacks(&[3, -2], 100, 10).unwrap(), vec![68, 145]);
}

#[test]
fn sufficient_book_proves_and_verifies() {
    let r = tiny_rule();
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let p = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap();
    verify(&r, &tiny_keys().vk, &p).unwrap();
    // Compressed Groth16/BN254: 32 (A) + 64 (B) + 32 (C) bytes.
    assert_eq!(hex::decode(&p.proof[2..]).unwrap().len(), 128);
}

#[test]
fn exactly_at_threshold_is_sufficient_and_one_below_is_refused() {
    let r = tiny_rule();
    // down needs C >= 22 + 10 = 32; up needs C >= -55 + 10.
    let ok = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 32, SALT);
    let p = prove(&r, &tiny_keys().pk, &ok, &mut rng()).unwrap();
    verify(&r, &tiny_keys().vk, &p).unwrap();
    let short = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 31, SALT);
    match prove(&r, &tiny_keys().pk, &short, &mut rng()) {
        Err(ProofError::Insufficient {
            scenario, slack, ..
        }) => {
            assert_eq!(scenario, "down");
            assert_eq!(slack, -1);
        }
        other => panic!("expected Insufficient, got {other:?}"),
    }
}

#[test]
fn forged_witness_for_an_undercollateralised_book_fails_constraints() {
    let r = tiny_rule();
    let salt = parse_field_hex(SALT, "salt").unwrap();
    let cm = commitment_of(&[3, -2], 31, salt);
    assert!(!satisfied(&r, vec![3, -2], 31, salt, cm));
    // Sanity: the same path accepts the sufficient book.
    let cm = commitment_of(&[3, -2], 32, salt);
    assert!(satisfied(&r, vec![3, -2], 32, salt, cm));
}

#[test]
fn wraparound_witness_is_rejected_by_range_checks() {
    // A huge short in ETH makes `up` hugely positive; a wrapped field value for q cannot pass
    // the 16-bit range check even if the slack would look fine modulo p.
    let r = tiny_rule();
    let salt = parse_field_hex(SALT, "salt").unwrap();
    let out_of_range = 1i128 << 15; // quantity_bits = 16 → q < 2^15
    let cm = commitment_of(&[0, out_of_range], 1 << 31, salt);
    assert!(!satisfied(&r, vec![0, out_of_range], 1 << 31, salt, cm));
    let in_range = (1i128 << 15) - 1;
    // up: C - 20·q - 10 with C = 2^31 and q = 32767: 2147483648 - 655340 - 10 ≥ 0, down: C - 4q - 10 ≥ 0.
    let cm = commitment_of(&[0, in_range], 1 << 31, salt);
    assert!(satisfied(&r, vec![0, in_range], 1 << 31, salt, cm));
}

#[test]
fn witness_that_does_not_open_the_commitment_fails() {
    let r = tiny_rule();
    let salt = parse_field_hex(SALT, "salt").unwrap();
    let cm_other = commitment_of(&[3, -1], 100, salt);
    assert!(!satisfied(&r, vec![3, -2], 100, salt, cm_other));
}

#[test]
fn positions_outside_the_declared_range_are_rejected() {
    let r = tiny_rule();
    let b = book(&[("x:BTC-PERP", -(1 << 15) - 1)], 100, SALT);
    let e = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap_err();
    assert!(e.to_string().contains("positions[0].quantity"), "{e}");
    let b = book(&[("x:BTC-PERP", 1)], 1 << 32, SALT);
    let e = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap_err();
    assert!(e.to_string().starts_with("collateral"), "{e}");
    let b = book(&[("x:SOL-PERP", 1)], 100, SALT);
    let e = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap_err();
    assert!(e.to_string().contains("positions[0].instrument"), "{e}");
}

#[test]
fn proof_fails_against_another_commitment() {
    let r = tiny_rule();
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let mut p = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap();
    let salt = parse_field_hex(SALT, "salt").unwrap();
    p.commitment = field_hex(&commitment_of(&[3, -2], 101, salt));
    assert!(matches!(
        verify(&r, &tiny_keys().vk, &p),
        Err(ProofError::Rejected(_))
    ));
}

#[test]
fn proof_fails_against_another_scenario_matrix() {
    let r = tiny_rule();
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let p = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap();
    let mut other = r.clone();
    other.losses[0][0] = 11;
    // Against the other rule's digest the proof's claim is refused outright...
    assert!(matches!(
        verify(&other, &tiny_keys().vk, &p),
        Err(ProofError::Rejected(_))
    ));
    // ...and a proof relabelled for the other rule fails the pairing under that rule's own key.
    let other_keys = setup(&other, &mut rng()).unwrap();
    let mut relabelled = p.clone();
    relabelled.rule_digest = hex::encode(other.digest());
    assert!(matches!(
        verify(&other, &other_keys.vk, &relabelled),
        Err(ProofError::Rejected(_))
    ));
    // The original key with the other rule's digest as public input 0 also fails.
    let cm = parse_field_hex(&p.commitment, "c").unwrap();
    let raw = decode_proof(&p).unwrap();
    assert!(verify_raw(&tiny_keys().vk, &raw, &public_inputs(&other, cm)).is_err());
}

#[test]
fn tampered_public_inputs_fail() {
    let r = tiny_rule();
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let p = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap();
    let cm = parse_field_hex(&p.commitment, "c").unwrap();
    let raw = decode_proof(&p).unwrap();
    let good = public_inputs(&r, cm);
    verify_raw(&tiny_keys().vk, &raw, &good).unwrap();
    for j in 0..3 {
        let mut bad = good;
        bad[j] += Fr::from(1u64);
        assert!(
            verify_raw(&tiny_keys().vk, &raw, &bad).is_err(),
            "input {j}"
        );
    }
    // A verifier demanding a higher threshold rejects the proof.
    let mut stricter = r.clone();
    stricter.threshold = 11;
    let mut claimed = p.clone();
    claimed.threshold = 11;
    assert!(matches!(
        verify(&stricter, &tiny_keys().vk, &claimed),
        Err(ProofError::Rejected(_))
    ));
    // A flipped proof byte is either not a curve point or fails the pairing.
    let mut flipped = p.clone();
    let mut bytes = hex::decode(&p.proof[2..]).unwrap();
    bytes[40] ^= 1;
    flipped.proof = format!("0x{}", hex::encode(bytes));
    assert!(verify(&r, &tiny_keys().vk, &flipped).is_err());
}

/// A change to one field of a proof file.
type Alter = Box<dyn Fn(&mut intermargin_proofs::zk::groth::MarginProof)>;

#[test]
fn every_field_of_the_proof_file_is_checked() {
    // The calldata a user sends on chain must be the proof the verifier accepted: altering any part
    // of `solidity_calldata`, or the verifying-key hash, is refused with the field named.
    let r = tiny_rule();
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let p = prove(&r, &tiny_keys().pk, &b, &mut rng()).unwrap();
    verify(&r, &tiny_keys().vk, &p).unwrap();
    let bump = |s: &mut String| *s = (s.parse::<num_bigint_like::Big>().unwrap().inc()).to_string();
    let cases: Vec<(&str, Alter)> = vec![
        (
            "solidity_calldata.a",
            Box::new(move |q| bump(&mut q.solidity_calldata.a[0])),
        ),
        (
            "solidity_calldata.b",
            Box::new(move |q| bump(&mut q.solidity_calldata.b[1][0])),
        ),
        (
            "solidity_calldata.c",
            Box::new(move |q| bump(&mut q.solidity_calldata.c[1])),
        ),
        (
            "solidity_calldata.input",
            Box::new(move |q| bump(&mut q.solidity_calldata.input[2])),
        ),
        (
            "verifying_key_sha256",
            Box::new(|q| q.verifying_key_sha256 = "00".repeat(32)),
        ),
    ];
    for (field, alter) in cases {
        let mut bad = p.clone();
        alter(&mut bad);
        let e = verify(&r, &tiny_keys().vk, &bad).unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}

/// Decimal strings of 256-bit field elements, incremented by one (test-only arithmetic).
mod num_bigint_like {
    /// A non-negative decimal number as digits.
    pub struct Big(Vec<u8>);
    impl std::str::FromStr for Big {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            s.bytes()
                .map(|b| b.checked_sub(b'0').filter(|d| *d < 10).ok_or(s.to_string()))
                .collect::<Result<Vec<u8>, String>>()
                .map(Big)
        }
    }
    impl Big {
        /// The number plus one.
        pub fn inc(mut self) -> Self {
            for d in self.0.iter_mut().rev() {
                if *d == 9 {
                    *d = 0;
                } else {
                    *d += 1;
                    return self;
                }
            }
            self.0.insert(0, 1);
            self
        }
    }
    impl std::fmt::Display for Big {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for d in &self.0 {
                write!(f, "{d}")?;
            }
            Ok(())
        }
    }
}

#[test]
fn grid_32_by_64_proves_and_rejects_insufficient() {
    let r = grid_rule(32, 64);
    r.validate().unwrap();
    let keys = setup(&r, &mut rng()).unwrap();
    // Long 1 lot of every future: worst scenario is the largest down move (odd s = 63, move -32):
    // loss per lot = beta_i · 32 · 10^4 / 10^6 base units = 0.32·beta_i; Σ beta_i = 32·100 + 7·496
    // = 6672, so the worst loss is 0.32·6672 = 2135.04 base units.
    let positions: Vec<(String, i128)> = r.instruments.iter().map(|i| (i.clone(), 1)).collect();
    let pos: Vec<(&str, i128)> = positions.iter().map(|(i, q)| (i.as_str(), *q)).collect();
    let ok = book(&pos, 2136, SALT);
    let p = prove(&r, &keys.pk, &ok, &mut rng()).unwrap();
    verify(&r, &keys.vk, &p).unwrap();
    let short = book(&pos, 2135, SALT);
    match prove(&r, &keys.pk, &short, &mut rng()) {
        Err(ProofError::Insufficient { scenario, .. }) => assert_eq!(scenario, "s63"),
        other => panic!("expected Insufficient, got {other:?}"),
    }
}

#[test]
fn rule_errors_name_the_field() {
    let mut r = tiny_rule();
    r.losses[1].pop();
    assert!(r
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("losses[1]"));
    let r = tiny_rule();
    let mut v = serde_json::to_value(&r).unwrap();
    v["losses"][1][0] = serde_json::json!(1e30);
    let e = MarginRule::from_json(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("losses[1][0]"), "{e}");
    let e = MarginRule::from_json("{\"version\": 1,")
        .unwrap_err()
        .to_string();
    assert!(e.contains("malformed JSON"), "{e}");
    let mut r = tiny_rule();
    r.threshold = 1 << 40;
    assert!(r
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("threshold"));
    let mut r = tiny_rule();
    r.quantity_bits = 56;
    r.collateral_bits = 100;
    r.loss_scale = 18;
    // slack bits = max(100 + 1 + 60, 1 + 56 + 62) + 1 = 162 > 126
    assert!(r.validate().is_err());
}

#[test]
fn solidity_verifier_equation_holds_for_exported_constants() {
    use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
    use ark_ec::pairing::Pairing;
    use ark_ec::{AffineRepr, CurveGroup};
    use std::str::FromStr;
    let r = tiny_rule();
    let keys = tiny_keys();
    let src = intermargin_proofs::zk::solidity::verifier_contract(&keys.vk, &r);
    let c = |name: &str| -> Fq {
        let pat = format!("uint256 constant {name} = ");
        let start = src.find(&pat).unwrap() + pat.len();
        let end = start + src[start..].find(';').unwrap();
        Fq::from_str(&src[start..end]).unwrap()
    };
    let g1 = |x: Fq, y: Fq| G1Affine::new(x, y);
    // EIP-197 order: imaginary first.
    let g2 = |xi: Fq, xr: Fq, yi: Fq, yr: Fq| G2Affine::new(Fq2::new(xr, xi), Fq2::new(yr, yi));
    let g2c = |t: &str| {
        g2(
            c(&format!("{t}_X_IM")),
            c(&format!("{t}_X_RE")),
            c(&format!("{t}_Y_IM")),
            c(&format!("{t}_Y_RE")),
        )
    };
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let p = prove(&r, &keys.pk, &b, &mut rng()).unwrap();
    let cd = &p.solidity_calldata;
    let f = |s: &String| Fq::from_str(s).unwrap();
    let a = g1(f(&cd.a[0]), f(&cd.a[1]));
    let bb = g2(
        f(&cd.b[0][0]),
        f(&cd.b[0][1]),
        f(&cd.b[1][0]),
        f(&cd.b[1][1]),
    );
    let cc = g1(f(&cd.c[0]), f(&cd.c[1]));
    let inputs: Vec<Fr> = cd.input.iter().map(|s| Fr::from_str(s).unwrap()).collect();
    let mut vkx = g1(c("IC0_X"), c("IC0_Y")).into_group();
    for (j, x) in inputs.iter().enumerate() {
        vkx += g1(c(&format!("IC{}_X", j + 1)), c(&format!("IC{}_Y", j + 1))) * x;
    }
    let lhs = Bn254::multi_pairing(
        [-a, g1(c("ALPHA_X"), c("ALPHA_Y")), vkx.into_affine(), cc],
        [bb, g2c("BETA"), g2c("GAMMA"), g2c("DELTA")],
    );
    assert_eq!(
        lhs,
        ark_ec::pairing::PairingOutput::<Bn254>::default(),
        "contract equation must hold for a valid proof"
    );
    // The contract's first input check uses the digest constant.
    assert!(src.contains(&format!("RULE_DIGEST_FIELD = {};", r.digest_field())));
    let _ = groth::SCHEME;
    let _ = G1Affine::generator();
}
