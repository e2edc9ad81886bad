//! Poseidon over the BN254 scalar field: the commitment hash, natively and as a circuit gadget.
//!
//! Parameters: width t = 9 (rate 8, capacity 1), S-box x^5, 8 full and 63 partial rounds — the
//! round numbers the Poseidon paper (Grassi et al., USENIX Security 2021, Table 2 script) gives for a
//! 254-bit field at 128-bit security with t = 9, as used by circomlib. Round constants and the MDS
//! matrix come from arkworks' Grain LFSR (`find_poseidon_ark_and_mds`, the paper's reference
//! generator), so the hash is *not* byte-compatible with circomlib's constants.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_crypto_primitives::sponge::poseidon::{
    find_poseidon_ark_and_mds, PoseidonConfig, PoseidonSponge,
};
use ark_crypto_primitives::sponge::CryptographicSponge;
use ark_ff::PrimeField;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::fields::FieldVar;
use ark_relations::r1cs::{ConstraintSystemRef, SynthesisError};

/// Identifier of the parameter set, part of the rule digest.
pub const POSEIDON_ID: &str = "poseidon-bn254-t9-x5-rf8-rp63-grain";
/// Domain-separation tag absorbed first in every commitment ("imzkcom1" as an integer).
pub const COMMIT_TAG: u64 = 0x696d_7a6b_636f_6d31;

const RATE: usize = 8;
const FULL_ROUNDS: usize = 8;
const PARTIAL_ROUNDS: usize = 63;
const ALPHA: u64 = 5;

/// The shared parameter set (generated once per process).
pub fn config() -> &'static PoseidonConfig<Fr> {
    static CFG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CFG.get_or_init(|| {
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(
            Fr::MODULUS_BIT_SIZE as u64,
            RATE,
            FULL_ROUNDS as u64,
            PARTIAL_ROUNDS as u64,
            0,
        );
        PoseidonConfig::new(FULL_ROUNDS, PARTIAL_ROUNDS, ALPHA, mds, ark, RATE, 1)
    })
}

/// The sequence absorbed for a commitment: tag, n, q_1..q_n, C, salt.
fn commitment_inputs(q: &[Fr], collateral: Fr, salt: Fr) -> Vec<Fr> {
    let mut v = Vec::with_capacity(q.len() + 4);
    v.push(Fr::from(COMMIT_TAG));
    v.push(Fr::from(q.len() as u64));
    v.extend_from_slice(q);
    v.push(collateral);
    v.push(salt);
    v
}

/// Native commitment `Poseidon(tag, n, q_1..q_n, C, salt)`.
pub fn commit(q: &[Fr], collateral: Fr, salt: Fr) -> Fr {
    let mut sponge = PoseidonSponge::new(config());
    sponge.absorb(&commitment_inputs(q, collateral, salt));
    sponge.squeeze_field_elements::<Fr>(1)[0]
}

/// In-circuit commitment over already-allocated variables; must match [`commit`].
pub fn commit_gadget(
    cs: ConstraintSystemRef<Fr>,
    q: &[FpVar<Fr>],
    collateral: &FpVar<Fr>,
    salt: &FpVar<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    let mut inputs = Vec::with_capacity(q.len() + 4);
    inputs.push(FpVar::constant(Fr::from(COMMIT_TAG)));
    inputs.push(FpVar::constant(Fr::from(q.len() as u64)));
    inputs.extend_from_slice(q);
    inputs.push(collateral.clone());
    inputs.push(salt.clone());
    let mut sponge = PoseidonSpongeVar::new(cs, config());
    sponge.absorb(&inputs)?;
    Ok(sponge.squeeze_field_elements(1)?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_r1cs_std::R1CSVar;
    use ark_relations::r1cs::ConstraintSystem;

    #[test]
    fn gadget_matches_native_hash_and_inputs_matter() {
        let q: Vec<Fr> = (0..11u64).map(Fr::from).collect();
        let (c, salt) = (Fr::from(1_000u64), Fr::from(42u64));
        let native = commit(&q, c, salt);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let qv: Vec<FpVar<Fr>> = q
            .iter()
            .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
            .collect();
        let cv = FpVar::new_witness(cs.clone(), || Ok(c)).unwrap();
        let sv = FpVar::new_witness(cs.clone(), || Ok(salt)).unwrap();
        let out = commit_gadget(cs.clone(), &qv, &cv, &sv).unwrap();
        assert_eq!(out.value().unwrap(), native);
        assert!(cs.is_satisfied().unwrap());
        assert_ne!(commit(&q, c, Fr::from(43u64)), native);
        assert_ne!(commit(&q[..10], c, salt), native);
    }
}
