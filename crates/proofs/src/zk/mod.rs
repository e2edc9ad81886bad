//! Margin sufficiency proof: Groth16 over BN254 that a Poseidon-committed book meets a public
//! fixed-point scenario matrix.

pub mod circuit;
pub mod export;
pub mod groth;
pub mod poseidon;
pub mod rule;
pub mod solidity;
pub mod unified;
