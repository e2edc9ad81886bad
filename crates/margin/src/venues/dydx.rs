//! dYdX v4 (dYdX Chain) cross-margined perpetuals, per subaccount.
//!
//! From `docs/pages/concepts/trading/margin.mdx` (dydxprotocol/v4-documentation):
//! * `IMR = Σ |S·P·IMF_effective|` (rounded up to the USDC quantum), `MMR = Σ |S·P·MMF|`;
//! * total account value (net collateral) `TNC = Q + Σ S·P`, `Q` the USDC quote balance, `P`
//!   the oracle price (the market's mark). The adapter stores the settled balance
//!   `Q + Σ S·entry` as collateral (`crates/venues/PARAMS.md`), so `TNC = collateral + Σ S·(P −
//!   entry)`, the venue-reported unrealised P&L standing in when the entry is unknown;
//! * open interest scales the initial fraction ([`effective_imf`]); maintenance never scales;
//! * collateralised for new risk iff `TNC ≥ IMR`; liquidatable iff `TNC < MMR` ([`Collateralisation`]).
//!
//! Liquidation price of a position, all else fixed (liquidations.mdx):
//! `p' = (e − s·p − MMR_others) / (|s|·MMF − s)`.
//!
//! Fractions come from `market.venue_params["dydx:MARKET"]` (the indexer's `perpetualMarkets`
//! entry: `initialMarginFraction`, `maintenanceMarginFraction`, `openInterest`,
//! `openInterestLowerCap`, `openInterestUpperCap`) before `params/dydx.toml`.

use std::collections::BTreeMap;

use intermargin_model::{Account, Asset, Market, Venue};
use serde::Deserialize;

use super::common::{
    balances, linear_liquidation_price, mark_price, pool, position_path, unrealised_pnl,
};

use super::params::{load, num_any, published, Provenance};
use crate::error::MarginError;
use crate::report::{MarginModel, PositionMargin, VenueMargin};

const FILE: &str = "params/dydx.toml";

/// One liquidity tier.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiquidityTier {
    /// Tier id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Base initial margin fraction.
    pub initial_margin_fraction: f64,
    /// Maintenance as a fraction of the initial fraction.
    pub maintenance_fraction: f64,
    /// Open notional where IMF scaling starts (USDC).
    pub open_interest_lower_cap: f64,
    /// Open notional where IMF reaches 100 % (USDC); 0 disables scaling.
    pub open_interest_upper_cap: f64,
}

/// The tiers table with its provenance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiquidityTiers {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Tiers.
    pub tiers: Vec<LiquidityTier>,
}

/// Market → tier mapping with its provenance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MarketTiers {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Liquidity tier id by market (`BTC-USD`).
    pub tier: BTreeMap<String, u32>,
}

/// dYdX's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DydxParams {
    /// Liquidity tiers.
    pub liquidity_tiers: LiquidityTiers,
    /// Market assignments.
    pub markets: MarketTiers,
}

impl DydxParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/dydx.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/dydx.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }
}

/// A market's margin fractions and open-interest inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketFractions {
    /// Base initial margin fraction.
    pub imf: f64,
    /// Maintenance margin fraction.
    pub mmf: f64,
    /// Open interest in base units, when known.
    pub open_interest: Option<f64>,
    /// OI lower cap (USDC notional).
    pub lower_cap: f64,
    /// OI upper cap (USDC notional); 0 disables scaling.
    pub upper_cap: f64,
}

/// Open-interest-scaled initial margin fraction, as `GetAdjustedInitialMarginPpm`
/// (v4-chain `x/perpetuals/types/liquidity_tier.go`) computes it, in whole ppm:
/// base IMF when scaling is disabled (`upper = 0`, the only switch), OI unknown or open
/// notional ≤ lower cap; 1 when open notional ≥ upper cap (so lower = upper > 0 jumps straight
/// to 100 %); between them `IMF + ⌊(1 − IMF)·(OI − lower)/(upper − lower)⌋` in ppm.
pub fn effective_imf(f: &MarketFractions, oracle_price: f64) -> f64 {
    let base_ppm = ppm(f.imf);
    let Some(oi) = f.open_interest else {
        return base_ppm / 1e6;
    };
    // Open notional in quote quantums (1e-6 USDC), truncated as `BaseToQuoteQuantums` does.
    let oi_q = quantums_trunc(oi.abs() * oracle_price);
    let lower = quantums_trunc(f.lower_cap);
    let upper = quantums_trunc(f.upper_cap);
    if upper == 0.0 || oi_q <= lower {
        return base_ppm / 1e6;
    }
    if oi_q >= upper {
        return 1.0;
    }
    let scaled = ((1e6 - base_ppm) * (oi_q - lower) / (upper - lower)).floor();
    (scaled + base_ppm) / 1e6
}

/// A fraction in whole parts per million, as the protocol stores it (`InitialMarginPpm`).
fn ppm(x: f64) -> f64 {
    (x * 1e6).round()
}

/// A USDC amount in quote quantums (1e-6), truncated toward zero as `BaseToQuoteQuantums`
/// truncates each position's notional; binary noise below a thousandth of a quantum is snapped
/// first so that an exact decimal input does not lose a quantum.
fn quantums_trunc(x: f64) -> f64 {
    let q = (x * 1e6 * 1e3).round() / 1e3;
    q.trunc()
}

/// `⌈value·ppm / 10⁶⌉` on quantums, the protocol's `BigMulPpm(…, roundUp = true)`.
fn mul_ppm_ceil(quantums: f64, ppm: f64) -> f64 {
    let v = quantums * ppm / 1e6;
    let snapped = (v * 1e3).round() / 1e3;
    snapped.ceil()
}

/// `(IMR, MMR)` of one position of `notional` USDC (absolute), in USDC, as
/// `GetMarginRequirementsInQuoteQuantums` (`x/perpetuals/lib/lib.go`): the notional truncated to
/// quantums; IMR `⌈notional·IMF_ppm(OI)⌉`; MMR `⌈⌈notional·IMF_ppm⌉·maintenance_fraction_ppm⌉`
/// (maintenance from the base, unscaled IMR).
pub fn position_requirements(f: &MarketFractions, notional: f64, oracle_price: f64) -> (f64, f64) {
    let q = quantums_trunc(notional.abs());
    let base_imr = mul_ppm_ceil(q, ppm(f.imf));
    let imr = mul_ppm_ceil(q, ppm(effective_imf(f, oracle_price)));
    let fraction_ppm = if f.imf > 0.0 { ppm(f.mmf / f.imf) } else { 0.0 };
    let mmr = mul_ppm_ceil(base_imr, fraction_ppm);
    (imr / 1e6, mmr / 1e6)
}

/// Net notional of a position in USDC, truncated toward zero to the quantum (signed).
pub fn net_notional(size_base: f64, oracle_price: f64) -> f64 {
    quantums_trunc(size_base * oracle_price) / 1e6
}

/// Refuses fractions the protocol's `LiquidityTier.Validate` would refuse: IMF outside [0, 1],
/// maintenance above initial, a lower open-interest cap above the upper one, negative values.
fn validated(f: MarketFractions, path: &str) -> Result<MarketFractions, MarginError> {
    let bad = |field: &str, reason: String| MarginError::Params {
        file: path.to_string(),
        field: field.to_string(),
        reason,
    };
    if !(f.imf.is_finite() && (0.0..=1.0).contains(&f.imf)) {
        return Err(bad(
            "initial_margin_fraction",
            format!("{} is outside [0, 1]", f.imf),
        ));
    }
    if !(f.mmf.is_finite() && f.mmf >= 0.0) {
        return Err(bad(
            "maintenance_margin_fraction",
            format!("{} is negative", f.mmf),
        ));
    }
    if f.mmf > f.imf {
        return Err(bad(
            "maintenance_margin_fraction",
            format!("{} exceeds the initial margin fraction {}", f.mmf, f.imf),
        ));
    }
    if !(f.lower_cap >= 0.0 && f.upper_cap >= 0.0) {
        return Err(bad(
            "open_interest_lower_cap",
            format!(
                "caps {} / {} must not be negative",
                f.lower_cap, f.upper_cap
            ),
        ));
    }
    if f.lower_cap > f.upper_cap {
        return Err(bad(
            "open_interest_lower_cap",
            format!(
                "lower cap {} exceeds the upper cap {} (LiquidityTier.Validate refuses it)",
                f.lower_cap, f.upper_cap
            ),
        ));
    }
    if let Some(oi) = f.open_interest {
        if !(oi.is_finite() && oi >= 0.0) {
            return Err(bad("open_interest", format!("{oi} is not ≥ 0")));
        }
    }
    Ok(f)
}

/// dYdX's collateralisation verdict for a subaccount (`Risk` in v4-chain's `lib/margin`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collateralisation {
    /// Net collateral (total account value).
    pub net_collateral: f64,
    /// Initial requirement.
    pub initial: f64,
    /// Maintenance requirement.
    pub maintenance: f64,
}

impl Collateralisation {
    /// May the subaccount open or increase risk (`TNC ≥ IMR`)?
    pub fn is_initial_collateralised(&self) -> bool {
        self.net_collateral >= self.initial
    }

    /// Is the subaccount liquidatable (`MMR > 0` and `TNC < MMR`)?
    pub fn is_liquidatable(&self) -> bool {
        self.maintenance > 0.0 && self.net_collateral < self.maintenance
    }
}

/// One priced position: (position index, signed size, oracle price, IMR, MMR, unrealised P&L).
type DydxRow = (usize, f64, f64, f64, f64, f64);

/// dYdX v4 rules.
#[derive(Debug, Clone)]
pub struct DydxV4 {
    params: DydxParams,
}

impl DydxV4 {
    /// Rules with explicit parameters (what-ifs: `intermargin params diff --snapshot`).
    pub fn with_params(params: DydxParams) -> Self {
        DydxV4 { params }
    }

    /// Rules with the embedded parameters.
    pub fn new() -> Result<Self, MarginError> {
        Ok(DydxV4 {
            params: DydxParams::embedded()?,
        })
    }

    /// Fractions for a market: the venue's published market first, then the tier files.
    pub fn fractions(&self, market: &Market, ticker: &str) -> Result<MarketFractions, MarginError> {
        let key = format!("dydx:{ticker}");
        if let Some(v) = published(market, &key) {
            let p = format!("market.venue_params[{key:?}]");
            let imf = num_any(v, &["initial_margin_fraction", "initialMarginFraction"], &p)?;
            let mmf = num_any(
                v,
                &["maintenance_margin_fraction", "maintenanceMarginFraction"],
                &p,
            )?;
            if let (Some(imf), Some(mmf)) = (imf, mmf) {
                return validated(
                    MarketFractions {
                        imf,
                        mmf,
                        open_interest: num_any(v, &["open_interest", "openInterest"], &p)?,
                        lower_cap: num_any(
                            v,
                            &["open_interest_lower_cap", "openInterestLowerCap"],
                            &p,
                        )?
                        .unwrap_or(0.0),
                        upper_cap: num_any(
                            v,
                            &["open_interest_upper_cap", "openInterestUpperCap"],
                            &p,
                        )?
                        .unwrap_or(0.0),
                    },
                    &p,
                );
            }
        }
        let id = *self
            .params
            .markets
            .tier
            .get(ticker)
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("markets.tier.{ticker:?}"),
                reason: format!(
                    "no liquidity tier for {ticker}; supply market.venue_params[\"dydx:{ticker}\"]"
                ),
            })?;
        let t = self
            .params
            .liquidity_tiers
            .tiers
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("liquidity_tiers.tiers[id={id}]"),
                reason: "tier not defined".into(),
            })?;
        if !(0.0..=1.0).contains(&t.maintenance_fraction) {
            return Err(MarginError::Params {
                file: FILE.into(),
                field: format!("liquidity_tiers.tiers[id={id}].maintenance_fraction"),
                reason: format!("{} is outside [0, 1]", t.maintenance_fraction),
            });
        }
        validated(
            MarketFractions {
                imf: t.initial_margin_fraction,
                mmf: t.initial_margin_fraction * t.maintenance_fraction,
                open_interest: None,
                lower_cap: t.open_interest_lower_cap,
                upper_cap: t.open_interest_upper_cap,
            },
            &format!("{FILE}: liquidity_tiers.tiers[id={id}]"),
        )
    }
}

impl MarginModel for DydxV4 {
    fn venue(&self) -> Venue {
        Venue::Dydx
    }

    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        // Subaccounts are separate margin pools; collateral without a sub-account is subaccount 0.
        let mut subs: BTreeMap<String, (f64, Vec<DydxRow>)> = BTreeMap::new();
        for c in account.collateral.iter().filter(|c| c.venue == Venue::Dydx) {
            subs.entry(c.sub_account.clone().unwrap_or_else(|| "0".into()))
                .or_default();
        }
        let mut quote: BTreeMap<String, f64> = BTreeMap::new();
        for c in account.collateral.iter().filter(|c| c.venue == Venue::Dydx) {
            let single = Account {
                id: account.id.clone(),
                collateral: vec![c.clone()],
                positions: vec![],
                reported: vec![],
                orders: vec![],
            };
            let b = balances(&single, assets, Venue::Dydx)?;
            let sub = c.sub_account.clone().unwrap_or_else(|| "0".into());
            for (asset, units) in b {
                if asset != "USDC" {
                    return Err(MarginError::Unsupported {
                        field: format!("account[{:?}].collateral (asset {asset})", account.id),
                        reason: "dYdX v4 subaccounts hold USDC only".into(),
                    });
                }
                *quote.entry(sub.clone()).or_insert(0.0) += units;
            }
        }
        for (i, p) in account.positions.iter().enumerate() {
            let ins = &p.instrument;
            if ins.venue != Venue::Dydx {
                continue;
            }
            let id = ins.id();
            let price = mark_price(market, &id)?;
            let f = self.fractions(market, &ins.symbol).map_err(|e| match e {
                MarginError::Params {
                    file,
                    field,
                    reason,
                } => MarginError::Params {
                    file,
                    field,
                    reason: format!("{reason} (at {})", position_path(account, i)),
                },
                other => other,
            })?;
            let s = ins.base_quantity(p.size, price);
            let (imr, mmr) = position_requirements(&f, s * price, price);
            // TNC = Q + Σ net notional (each truncated to the quantum); the collateral holds
            // Q + Σ S·entry, so each position adds its truncated notional less S·entry.
            let upnl = unrealised_pnl(p, price);
            let settled = s * price - upnl;
            let sub = p.sub_account.clone().unwrap_or_else(|| "0".into());
            subs.entry(sub).or_default().1.push((
                i,
                s,
                price,
                imr,
                mmr,
                net_notional(s, price) - settled,
            ));
        }
        let mut out = Vec::new();
        for (sub, (_, rows)) in subs {
            let q = quote.get(&sub).copied().unwrap_or(0.0);
            let tnc = q + rows.iter().map(|r| r.5).sum::<f64>();
            let imr: f64 = rows.iter().map(|r| r.3).sum();
            let mmr: f64 = rows.iter().map(|r| r.4).sum();
            let positions = rows
                .iter()
                .map(|&(i, s, price, im, mm, _)| {
                    let mmf = if s * price != 0.0 {
                        mm / (s * price).abs()
                    } else {
                        0.0
                    };
                    PositionMargin {
                        instrument: account.positions[i].instrument.id(),
                        initial_margin: im,
                        maintenance_margin: mm,
                        liquidation_price: linear_liquidation_price(price, s, mmf, tnc - mmr),
                    }
                })
                .collect();
            out.push(pool(
                Venue::Dydx,
                "USDC",
                &format!("subaccount:{sub}"),
                (tnc, imr, mmr),
                positions,
                market,
            )?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_scales_linearly_between_the_open_interest_caps() {
        // Small-cap tier: IMF 10 %, caps 20M / 50M. OI 35M notional → halfway:
        // 0.10 + 0.5 × (1 − 0.10) = 0.55.
        let f = MarketFractions {
            imf: 0.10,
            mmf: 0.05,
            open_interest: Some(35_000_000.0),
            lower_cap: 20e6,
            upper_cap: 50e6,
        };
        assert!((effective_imf(&f, 1.0) - 0.55).abs() < 1e-12);
        assert_eq!(
            effective_imf(
                &MarketFractions {
                    open_interest: Some(60e6),
                    ..f
                },
                1.0
            ),
            1.0
        );
        assert_eq!(
            effective_imf(
                &MarketFractions {
                    open_interest: Some(10e6),
                    ..f
                },
                1.0
            ),
            0.10
        );
        assert_eq!(
            effective_imf(
                &MarketFractions {
                    upper_cap: 0.0,
                    ..f
                },
                1.0
            ),
            0.10
        );
    }

    #[test]
    fn imr_rounds_up_to_the_usdc_quantum() {
        // v4-chain liquidity_tier_test.go: IMF 56.7243 %, 123,456 quantums → 70,030 (70,029.55 up).
        let f = MarketFractions {
            imf: 0.567243,
            mmf: 0.567243,
            open_interest: None,
            lower_cap: 0.0,
            upper_cap: 0.0,
        };
        let (imr, _) = position_requirements(&f, 0.123456, 1.0);
        assert!((imr - 0.070030).abs() < 1e-12, "{imr}");
    }
}
