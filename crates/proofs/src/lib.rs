//! Proofs about margin and solvency that reveal nothing more than the claim.
//!
//! * [`zk`]: a trader proves that private positions `q` and collateral `C`, committed with
//!   Poseidon, meet a public fixed-point scenario matrix — for every scenario `s`,
//!   `C − Σ_i q_i·R[i][s] ≥ threshold` — with Groth16 over BN254 (arkworks), whose proofs
//!   (128 bytes) an Ethereum contract can verify through the BN254 precompiles
//!   ([`zk::solidity`]).
//! * [`solvency`]: a venue commits to all user balances in a Merkle-sum tree; each user checks
//!   their inclusion against the published root, which carries total liabilities per asset.
//!
//! # Why Groth16/BN254, and the matrix as circuit constants
//! Groth16 has the smallest proofs and the cheapest verification (three pairings), and BN254 is
//! the curve the EVM precompiles support. Its price is a circuit-specific setup: here the matrix
//! `R` is compiled into the circuit as constants (free linear combinations), so one setup per
//! rule; the verifier binds the key to the rule through a public input forced to equal the rule
//! digest (see [`zk::circuit`]). Passing 2,048 matrix entries as public inputs would cost one
//! multi-scalar-multiplication term each at verification instead.
//!
//! # Soundness bounds
//! The circuit works modulo the BN254 scalar field `p ≈ 2^253.6`. Every quantity is shown to lie
//! in `[−2^(kq−1), 2^(kq−1))` by decomposing `q_i + 2^(kq−1)` into `kq` bits, collateral in
//! `[0, 2^kc)` by `kc` bits, and each scenario's slack `C·S − Σ q_i·R[i][s] − T·S` (with
//! `S = 10^loss_scale`) into `ks` bits. [`zk::rule::MarginRule::slack_bits`] picks `ks` so that
//! every integer slack the bounded inputs can produce has absolute value below `2^(ks−1)`; since
//! `ks ≤ 126`, a negative slack is the field element `p − |slack| > 2^252`, which no `ks`-bit
//! decomposition equals. Hence a satisfying assignment implies the integer inequality — no
//! overflow or wrap-around can fake it. Losses in `R` are `|R| < 2^63`.
//!
//! # Fixed point
//! `R` is exported with losses rounded up (`ceil`), against a long position. For a short position
//! the same rounding favours the prover by less than `|q_i|·10^−loss_scale` base units per
//! scenario; choose `loss_scale` so this is negligible (the CLI default is 6).

#![deny(missing_docs)]

pub mod error;
pub mod json;
pub mod solvency;
pub mod zk;

pub use error::{ProofError, Result};
pub use solvency::{verify_inclusion, InclusionProof, Ledger, SolvencyRoot, SumTree};
pub use zk::groth::{prove, setup, verify, Keys, MarginProof};
pub use zk::rule::{MarginRule, PrivateBook, PrivatePosition};
