//! The R1CS statement: the commitment opens to (q, C, salt) and every scenario leaves at least the
//! threshold, with range checks that rule out overflow and field wrap-around.
//!
//! Public inputs, in order: `rule_digest`, `commitment`, `threshold`. The matrix `R` is compiled
//! into the circuit as constants (a linear combination with constant coefficients costs no
//! constraint), so the keys are per rule; the first public input is forced to equal the digest of
//! the rule the keys were made for, which binds the verifying key to that matrix cryptographically:
//! a verifier who recomputes the digest from a different rule file gets a rejection.
//!
//! Constraints (n instruments, m scenarios, widths kq, kc, ks from [`MarginRule`]):
//! `n·kq + kc + m·ks` booleanity constraints, `n + 1 + m` recomposition equalities, one digest
//! equality and ⌈(n+4)/8⌉ Poseidon permutations (~405 constraints each).

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::fields::FieldVar;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::zk::poseidon;
use crate::zk::rule::{int_to_field, MarginRule};

/// The witness: quantities (rule order), collateral, salt.
#[derive(Debug, Clone)]
pub struct Witness {
    /// Signed lots per instrument, in the rule's order.
    pub quantities: Vec<i128>,
    /// Collateral in base units.
    pub collateral: u128,
    /// Commitment salt.
    pub salt: Fr,
}

/// Circuit instance: rule constants, public inputs and witness.
#[derive(Clone)]
pub struct MarginCircuit<'a> {
    /// The rule compiled into constants.
    pub rule: &'a MarginRule,
    /// Public input 0: must equal `rule.digest_field()` (the constant).
    pub rule_digest: Fr,
    /// Public input 1: the commitment.
    pub commitment: Fr,
    /// Public input 2: the threshold (as a field element).
    pub threshold: Fr,
    /// The threshold as an integer, for computing the slack bits of the witness.
    pub threshold_int: i128,
    /// Private witness.
    pub witness: Witness,
}

impl<'a> MarginCircuit<'a> {
    /// A circuit with an all-zero witness, for key generation (values are not used in setup).
    pub fn for_setup(rule: &'a MarginRule) -> Self {
        MarginCircuit {
            rule,
            rule_digest: rule.digest_field(),
            commitment: Fr::from(0u64),
            threshold: int_to_field(rule.threshold),
            threshold_int: rule.threshold,
            witness: Witness {
                quantities: vec![0; rule.n()],
                collateral: 0,
                salt: Fr::from(0u64),
            },
        }
    }
}

/// Allocates the low `bits` bits of `value` as booleans and returns `Σ b_j·2^j`.
fn alloc_bits(
    cs: &ConstraintSystemRef<Fr>,
    value: u128,
    bits: u32,
) -> Result<FpVar<Fr>, SynthesisError> {
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

/// `2^k` in the field.
fn pow2(k: u32) -> Fr {
    let mut f = Fr::from(1u64);
    for _ in 0..k {
        f = f + f;
    }
    f
}

impl ConstraintSynthesizer<Fr> for MarginCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let rule = self.rule;
        let w = &self.witness;
        if w.quantities.len() != rule.n() {
            return Err(SynthesisError::Unsatisfiable);
        }
        // Public inputs, fixed order.
        let digest = FpVar::new_input(cs.clone(), || Ok(self.rule_digest))?;
        let commitment = FpVar::new_input(cs.clone(), || Ok(self.commitment))?;
        let threshold = FpVar::new_input(cs.clone(), || Ok(self.threshold))?;
        digest.enforce_equal(&FpVar::constant(rule.digest_field()))?;

        // Quantities: q_i + 2^(kq-1) ∈ [0, 2^kq).
        let kq = rule.quantity_bits;
        let offset = pow2(kq - 1);
        let mut q = Vec::with_capacity(rule.n());
        for &qi in &w.quantities {
            let v = FpVar::new_witness(cs.clone(), || Ok(int_to_field(qi)))?;
            let shifted = (qi + (1i128 << (kq - 1))) as u128;
            let bits = alloc_bits(&cs, shifted, kq)?;
            (&v + offset).enforce_equal(&bits)?;
            q.push(v);
        }
        // Collateral ∈ [0, 2^kc).
        let c = FpVar::new_witness(cs.clone(), || Ok(Fr::from(w.collateral)))?;
        alloc_bits(&cs, w.collateral, rule.collateral_bits)?.enforce_equal(&c)?;
        let salt = FpVar::new_witness(cs.clone(), || Ok(w.salt))?;

        // Commitment opens to (q, C, salt).
        poseidon::commit_gadget(cs.clone(), &q, &c, &salt)?.enforce_equal(&commitment)?;

        // Every scenario: C·S − Σ q_i·R[i][s] − T·S ∈ [0, 2^ks).
        let s_f = Fr::from(rule.scale_factor() as u128);
        let ks = rule.slack_bits();
        let base = &c * s_f - &threshold * s_f;
        // Native slacks for the bit witness; an overflow (impossible within validated bounds)
        // or a negative slack yields bits that cannot satisfy the recomposition.
        let native = rule
            .slacks(&w.quantities, w.collateral, self.threshold_int)
            .unwrap_or_else(|_| vec![-1; rule.m()]);
        for (s, &slack_int) in native.iter().enumerate() {
            let mut slack = base.clone();
            for (i, qv) in q.iter().enumerate() {
                let r = rule.losses[i][s];
                if r != 0 {
                    slack -= qv * int_to_field(r as i128);
                }
            }
            let bits = alloc_bits(&cs, slack_int as u128, ks)?;
            slack.enforce_equal(&bits)?;
        }
        Ok(())
    }
}
