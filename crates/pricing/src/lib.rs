//! Option pricing for intermargin: Black-76 on the forward, linear and coin-settled (inverse).
//!
//! The crate owns the valuation formulas and nothing else: no market lookups, no
//! margin rules. Every formula lives here once and every other crate calls it.
//!
//! # Linear (quote-settled) Black-76
//! With `d1 = (ln(F/K) + σ²T/2)/(σ√T)`, `d2 = d1 − σ√T`, `D = e^{−rT}`:
//! `C = D·(F·N(d1) − K·N(d2))`, `P = D·(K·N(−d2) − F·N(−d1))`.
//!
//! # Inverse (coin-settled) variant, as Deribit and OKX quote it
//! The premium is paid in the underlying coin: `V_inv = V_lin / F`. Its sensitivities
//! follow by the quotient rule, so the inverse delta is not the linear delta divided by F:
//! `Δ_inv = dV_inv/dF = Δ_lin/F − V_lin/F²`, `Γ_inv = Γ_lin/F − 2Δ_lin/F² + 2V_lin/F³`;
//! vega, theta, vanna (in its vol leg), volga are the linear ones divided by F
//! (vanna: `Vanna_lin/F − Vega_lin/F²`).
//! The inverse delta here is the true derivative of the coin premium (coin per 1 quote unit of
//! forward), needed for coin-denominated P&L. Deribit displays instead the "net transaction
//! delta" in coin per contract, `Δ_lin − V_lin/F = F·Δ_inv`, with gamma, vega (per vol point)
//! and theta (per day) in the quote currency: [`coin_greeks`] gives that convention.
//!
//! # Units of the inputs
//! Vol is a fraction of one (0.5 = 50 %) and is refused above [`MAX_VOL`] (5 = 500 %), where a
//! percentage typed by mistake would otherwise price silently.
//!
//! # Implied volatility
//! [`implied_vol`] uses Jäckel's "Let's Be Rational" (the maintained `implied-vol` crate), which
//! reaches the attainable precision everywhere the premium carries time value; a bracketed Newton
//! fallback covers inputs the rational method declines. Premiums outside
//! (discounted intrinsic, discounted forward or strike) are errors naming `price`.
//! [`implied_vol_inverse`] inverts a coin premium as `V_lin = V_inv·F`.
//!
//! # Batches and surfaces
//! [`price_greeks_batch`] and [`implied_vol_batch`] work on struct-of-arrays slices, validate
//! once up front (errors name index and field), write into caller-owned buffers and split
//! across rayon's pool above [`PARALLEL_THRESHOLD`] options. The Greeks formula is written once,
//! branch-free, on vectorisable `exp`/`ln`/`N(x)` (no libm calls, no FMA contraction), and the
//! batch loop is compiled again for AVX2 and AVX-512 and picked at run time; scalar
//! [`black76`] runs the same code, so a batch equals the scalar results bit for bit.
//! [`VolSurface`] interpolates quotes in total variance across expiries and warns about calendar
//! arbitrage.
#![deny(missing_docs)]

mod batch;
#[allow(clippy::excessive_precision)] // published erfc coefficients, kept digit for digit
mod black76;
#[allow(clippy::excessive_precision)] // Cody's erfc coefficients, kept digit for digit
mod fastmath;
mod implied;
mod surface;

pub use batch::{
    implied_vol_batch, implied_vol_batch_checked, price_delta_gamma_vega_batch, price_greeks_batch,
    BatchGreeks, BatchInputs, CHUNK, PARALLEL_THRESHOLD,
};
pub use black76::{
    black76, black76_inverse, black76_price, coin_greeks, coin_greeks_from_linear, norm_cdf,
    norm_pdf, CoinGreeks, Greeks, PricingError, DAYS_PER_YEAR, MAX_VOL,
};
pub use implied::{implied_vol, implied_vol_inverse};
pub use intermargin_model::OptionKind;
pub use surface::VolSurface;
