//! Each venue's own liquidation inside the cascade engine: a siloed pool at a venue with
//! `venues[].rule` is liquidated by that venue's rule in `intermargin_liquidation::venue_style`
//! (the one implementation, shared with the `liquidate` command), not by the engine's generic
//! closed form. This module only translates a pool (one linear leg, collateral in the quote
//! currency) into the rule's inputs and the rule's result back into the pool:
//!
//! * `deribit`: incremental rounds of `incremental_round_notional` at `incremental_rounds_per_second`
//!   over the step, stopping once maintenance is below equity; a liquidation still running when the
//!   rounds run out continues next step; a negative balance is paid by the fund, the rest socialised;
//! * `binance`: one IOC order when a partial close makes the account compliant, else the position
//!   goes to the insurance fund at its bankruptcy price, or to auto-deleveraging when the fund may
//!   not take it (notional above its cap, or a loss it cannot pay);
//! * `hyperliquid`: full-size market orders (20 % first above 100,000 USDC), the liquidator vault
//!   (the venue's fund here) taking the pool below 2/3 of maintenance, auto-deleveraging of what
//!   the vault may not lose: the engine passes as `fund` what the vault may still lose before
//!   its loss threshold (`liquidator_max_loss_fraction` of its starting capital), so a takeover
//!   beyond it is deleveraged, as Hyperliquid does since its liquidator vault was capped;
//! * `dydx`: the whole position closed at the fillable price, the fund paying or receiving the
//!   difference to the bankruptcy price, deleveraging when it cannot pay;
//! * `aave`: a long leg is collateral in the asset against a stablecoin debt (`q·p0 − collateral`),
//!   a short leg stablecoin collateral (`collateral + |q|·p0`) against a debt in the asset;
//!   liquidation thresholds `1 − mm_rate` and `1 / (1 + mm_rate)` make `HF < 1` the engine's own
//!   `equity < mm_rate × notional`; one `liquidationCall` (close factor, bonus, protocol fee, dust
//!   and deficit rules) against the venue's oracle price; a residual deficit is socialised.
//!
//! Orders fill at the rule's own expected price on the venue's book (its `depth` entry); the batch
//! of all liquidations of a round then moves the shared price as for every other venue.

use intermargin_liquidation::venue_style::{aave, binance, deribit, dydx, hyperliquid};
use intermargin_liquidation::{ImpactParams, LiquidationError, RuleBook};
use intermargin_model::Venue;
use serde::{Deserialize, Serialize};

use crate::population::Pool;

/// A venue's own liquidation procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueRule {
    /// Deribit's incremental auto-liquidation.
    Deribit,
    /// Binance's IOC, insurance-fund takeover and auto-deleveraging.
    Binance,
    /// Hyperliquid's market orders, liquidator vault and auto-deleveraging.
    Hyperliquid,
    /// dYdX v4's full-position liquidation and deleveraging.
    Dydx,
    /// Aave v3's `liquidationCall`.
    Aave,
}

/// The rules' parameters, read once from the liquidation crate's `params/venues.toml`.
#[derive(Debug, Clone)]
pub struct RuleParams {
    book: RuleBook,
    deribit: deribit::DeribitParams,
    binance: binance::BinanceParams,
    /// Seconds per step (Deribit's rounds per step).
    dt_seconds: f64,
}

impl RuleParams {
    /// The bundled rules.
    pub fn bundled(dt_seconds: f64) -> Result<RuleParams, LiquidationError> {
        let book = RuleBook::bundled()?;
        Ok(RuleParams {
            deribit: deribit::DeribitParams::from_rules(book.get(Venue::Deribit))?,
            binance: binance::BinanceParams::from_rules(book.get(Venue::Binance))?,
            book,
            dt_seconds,
        })
    }
}

impl RuleParams {
    /// Hyperliquid's liquidator vault: the largest loss, as a fraction of its starting capital,
    /// it takes before auto-deleveraging triggers (`params/venues.toml`; `None`: all of it).
    pub fn liquidator_max_loss_fraction(&self) -> Option<f64> {
        self.book
            .get(Venue::Hyperliquid)
            .liquidator_max_loss_fraction
    }
}

/// What the venue's rule does to one siloed pool in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStep {
    /// Signed base quantity closed (the leg's sign).
    pub closed: f64,
    /// Notional sent to the venue's book (0 for what auto-deleveraging matches off the book).
    pub market_notional: f64,
    /// The pool's collateral afterwards (its leg keeps its entry price).
    pub collateral_after: f64,
    /// Change of the venue's insurance fund (liquidator vault for Hyperliquid, treasury for
    /// Aave): fees in, losses paid out.
    pub fund_delta: f64,
    /// Loss beyond the pool's own margin.
    pub bad_debt: f64,
    /// The part of it the fund does not pay (auto-deleveraged or socialised).
    pub uncovered: f64,
    /// Auto-deleveraging asked: (base quantity, bankruptcy price).
    pub adl: Option<(f64, f64)>,
    /// The venue's liquidation is still running when the step ends (Deribit's rounds ran out).
    pub continues: bool,
}

fn deficit_split(loss: f64, fund: f64) -> (f64, f64) {
    let loss = loss.max(0.0);
    let paid = loss.min(fund.max(0.0));
    (paid, loss - paid)
}

/// USDC to dYdX quote quantums.
fn quantums(x: f64, field: &str) -> Result<i128, LiquidationError> {
    let q = (x * dydx::QUANTUMS_PER_USDC).round();
    if !(q.is_finite() && q.abs() < 1e30) {
        return Err(LiquidationError::Param {
            field: field.into(),
            reason: format!("{x} is out of range"),
        });
    }
    Ok(q as i128)
}

/// Decimals of the asset and of the stablecoin in the Aave translation.
pub const AAVE_ASSET_DECIMALS: u8 = 18;
/// Decimals of the stablecoin side.
pub const AAVE_STABLE_DECIMALS: u8 = 6;

/// The Aave call's inputs for a pool at `mark` (the venue's oracle), with its health factor;
/// `None` when the pool has no debt.
pub fn aave_inputs(
    pool: &Pool,
    mark: f64,
    mm_rate: f64,
    params: &RuleParams,
) -> Option<(aave::AaveCallInputs, f64)> {
    let l = pool.legs.first()?;
    let rules = params.book.get(Venue::Aave);
    let price8 = |p: f64| (p * 1e8).round().max(0.0) as u128;
    let units = |x: f64, d: u8| (x * 10f64.powi(d as i32)).round().max(0.0) as u128;
    let (
        coll_units,
        coll_dec,
        coll_price,
        coll_value,
        lt,
        debt_units,
        debt_dec,
        debt_price,
        debt_value,
    );
    if l.q > 0.0 {
        let debt = l.q * l.p0 - pool.collateral;
        if debt <= 0.0 {
            return None;
        }
        (coll_units, coll_dec, coll_price, coll_value) = (
            units(l.q, AAVE_ASSET_DECIMALS),
            AAVE_ASSET_DECIMALS,
            price8(mark),
            l.q * mark,
        );
        lt = 1.0 - mm_rate;
        (debt_units, debt_dec, debt_price, debt_value) = (
            units(debt, AAVE_STABLE_DECIMALS),
            AAVE_STABLE_DECIMALS,
            100_000_000u128,
            debt,
        );
    } else {
        let coll = pool.collateral + l.q.abs() * l.p0;
        (coll_units, coll_dec, coll_price, coll_value) = (
            units(coll, AAVE_STABLE_DECIMALS),
            AAVE_STABLE_DECIMALS,
            100_000_000u128,
            coll,
        );
        lt = 1.0 / (1.0 + mm_rate);
        (debt_units, debt_dec, debt_price, debt_value) = (
            units(l.q.abs(), AAVE_ASSET_DECIMALS),
            AAVE_ASSET_DECIMALS,
            price8(mark),
            l.q.abs() * mark,
        );
    }
    let hf = coll_value * lt / debt_value;
    let base = |u: u128, d: u8, p: u128| {
        let unit = 10u128.pow(d as u32);
        (u / unit) * p + (u % unit) * p / unit
    };
    Some((
        aave::AaveCallInputs {
            total_collateral_base: base(coll_units, coll_dec, coll_price),
            total_debt_base: base(debt_units, debt_dec, debt_price),
            health_factor_wad: (hf.max(0.0) * 1e18).floor().min(u128::MAX as f64) as u128,
            collateral: aave::AaveReserve {
                symbol: "collateral".into(),
                balance: coll_units,
                price: coll_price,
                decimals: coll_dec,
            },
            debt: aave::AaveReserve {
                symbol: "debt".into(),
                balance: debt_units,
                price: debt_price,
                decimals: debt_dec,
            },
            liquidation_bonus_bps: ((1.0 + rules.liquidation_fee) * 10_000.0).round() as u32,
            protocol_fee_bps: (rules.insurance_share * 10_000.0).round() as u32,
            debt_to_cover: u128::MAX,
        },
        hf,
    ))
}

/// Runs the venue's rule on a siloed pool (one leg) at `mark`, the venue's oracle price, with
/// `fund` the venue's fund; `None` when the venue does not liquidate it now.
pub fn venue_step(
    rule: VenueRule,
    params: &RuleParams,
    pool: &Pool,
    mark: f64,
    mm_rate: f64,
    impact: ImpactParams,
    fund: f64,
) -> Result<Option<RuleStep>, LiquidationError> {
    let Some(l) = pool.legs.first().copied() else {
        return Ok(None);
    };
    let q = l.q;
    let equity = pool.collateral + q * (mark - l.p0);
    let maintenance = mm_rate * q.abs() * mark;
    let id = "pool".to_string();
    match rule {
        VenueRule::Deribit => {
            let pos = deribit::DeribitPosition {
                instrument: id,
                size: q,
                mark,
                mm_base: mm_rate,
                mm_increase: 0.0,
                impact,
            };
            let rounds = params.deribit.rounds_in(params.dt_seconds);
            let r = deribit::liquidate_incremental(equity, &pos, &params.deribit, rounds)?;
            if !r.liquidatable || r.rounds.is_empty() {
                return Ok(None);
            }
            let closed = q - r.size_after;
            let market_notional = r.rounds.iter().map(|x| x.size * x.price).sum();
            let fees_in = r.fees * params.book.get(Venue::Deribit).insurance_share;
            let (mut collateral_after, mut bad, mut paid, mut uncovered) =
                (r.equity_after - r.size_after * (mark - l.p0), 0.0, 0.0, 0.0);
            if r.size_after == 0.0 && r.equity_after < 0.0 {
                bad = -r.equity_after;
                (paid, uncovered) = deficit_split(bad, fund + fees_in);
                collateral_after = 0.0;
            }
            Ok(Some(RuleStep {
                closed,
                market_notional,
                collateral_after,
                fund_delta: fees_in - paid,
                bad_debt: bad,
                uncovered,
                adl: None,
                continues: r.continues,
            }))
        }
        VenueRule::Binance => {
            let pos = binance::BinancePosition {
                instrument: id,
                size: q,
                mark,
                maintenance,
                impact,
            };
            let r = binance::liquidate_position(equity, &pos, fund, &params.binance)?;
            if !r.liquidatable {
                return Ok(None);
            }
            if let Some(o) = &r.ioc {
                let closed = q * o.fraction;
                return Ok(Some(RuleStep {
                    closed,
                    market_notional: o.size * o.price,
                    collateral_after: pool.collateral + closed * (o.price - l.p0) - o.fee,
                    fund_delta: r.fund_delta,
                    bad_debt: 0.0,
                    uncovered: 0.0,
                    adl: None,
                    continues: false,
                }));
            }
            let Some(t) = &r.takeover else {
                return Ok(None);
            };
            Ok(Some(match t.offload_price {
                Some(offload) => RuleStep {
                    closed: q,
                    market_notional: t.size * offload,
                    collateral_after: 0.0,
                    fund_delta: r.fund_delta,
                    bad_debt: (-r.fund_delta).max(0.0),
                    uncovered: 0.0,
                    adl: None,
                    continues: false,
                },
                None => RuleStep {
                    closed: q,
                    market_notional: 0.0,
                    collateral_after: 0.0,
                    fund_delta: 0.0,
                    bad_debt: (-equity).max(0.0),
                    uncovered: (-equity).max(0.0),
                    adl: Some((t.size, t.bankruptcy_price)),
                    continues: false,
                },
            }))
        }
        VenueRule::Hyperliquid => {
            let pos = hyperliquid::HlPosition {
                instrument: id,
                size: q,
                mark,
                maintenance,
                impact,
            };
            let r = hyperliquid::liquidate_pool(
                equity,
                std::slice::from_ref(&pos),
                params.book.get(Venue::Hyperliquid),
            )?;
            if !r.liquidatable || r.steps.is_empty() {
                return Ok(None);
            }
            let mut size = q;
            let mut eq = equity;
            let mut market_notional = 0.0;
            let mut last: Option<(f64, f64)> = None; // (base sold, price)
            for s in &r.steps {
                if s.method == "backstop" {
                    // The vault takes the rest of the pool and its margin and offloads it.
                    let offload = impact.expected_price(mark, size.abs() * mark, size > 0.0);
                    let vault = eq + size * (offload - mark);
                    if vault < 0.0 && fund + vault < 0.0 {
                        let bp = mark - eq / size;
                        return Ok(Some(RuleStep {
                            closed: q,
                            market_notional,
                            collateral_after: 0.0,
                            fund_delta: 0.0,
                            bad_debt: (-eq).max(0.0),
                            uncovered: (-eq).max(0.0),
                            adl: Some((size.abs(), bp)),
                            continues: false,
                        }));
                    }
                    return Ok(Some(RuleStep {
                        closed: q,
                        market_notional: market_notional + size.abs() * offload,
                        collateral_after: 0.0,
                        fund_delta: vault,
                        bad_debt: (-vault).max(0.0),
                        uncovered: 0.0,
                        adl: None,
                        continues: false,
                    }));
                }
                for o in &s.orders {
                    market_notional += o.size * o.expected_price;
                    size -= size.signum() * o.size.min(size.abs());
                    last = Some((o.size, o.expected_price));
                }
                eq = s.equity_after;
            }
            let closed = q - size;
            if r.auto_deleveraged > 0.0 {
                // Value left negative: deleveraged at the last order's bankruptcy price.
                let (qty, px) = last.unwrap_or((q.abs(), mark));
                let bp = px + q.signum() * r.auto_deleveraged / qty.max(f64::MIN_POSITIVE);
                return Ok(Some(RuleStep {
                    closed,
                    market_notional,
                    collateral_after: 0.0,
                    fund_delta: 0.0,
                    bad_debt: r.auto_deleveraged,
                    uncovered: r.auto_deleveraged,
                    adl: Some((qty, bp)),
                    continues: false,
                }));
            }
            Ok(Some(RuleStep {
                closed,
                market_notional,
                collateral_after: eq - size * (mark - l.p0),
                fund_delta: 0.0,
                bad_debt: 0.0,
                uncovered: 0.0,
                adl: None,
                continues: false,
            }))
        }
        VenueRule::Dydx => {
            let pos = dydx::DydxPosition {
                instrument: id,
                size: q,
                net_notional: quantums(q * mark, "dydx.net_notional")?,
                maintenance: quantums(maintenance, "dydx.maintenance")?,
            };
            if pos.net_notional == 0 || (q > 0.0) != (pos.net_notional > 0) {
                return Ok(None);
            }
            let r = dydx::liquidate_subaccount(
                std::slice::from_ref(&pos),
                quantums(equity, "dydx.net_collateral")?,
                quantums(fund.max(0.0), "dydx.insurance_fund")?,
                &dydx::DydxConfig::default(),
            )?;
            let Some(c) = r.closes.first() else {
                return Ok(None);
            };
            if c.method == "deleveraging" {
                return Ok(Some(RuleStep {
                    closed: q,
                    market_notional: 0.0,
                    collateral_after: 0.0,
                    fund_delta: 0.0,
                    bad_debt: (-equity).max(0.0),
                    uncovered: (-equity).max(0.0),
                    adl: Some((q.abs(), c.bankruptcy_price)),
                    continues: false,
                }));
            }
            Ok(Some(RuleStep {
                closed: q,
                market_notional: c.quote.abs(),
                collateral_after: c.net_collateral_after.max(0.0),
                fund_delta: c.insurance_fund_delta,
                bad_debt: (-c.insurance_fund_delta).max(0.0),
                uncovered: 0.0,
                adl: None,
                continues: false,
            }))
        }
        VenueRule::Aave => {
            let Some((inputs, hf)) = aave_inputs(pool, mark, mm_rate, params) else {
                return Ok(None);
            };
            if hf >= 1.0 {
                return Ok(None);
            }
            // A call that reverts (MUST_NOT_LEAVE_DUST) is not a liquidation.
            let Ok(call) = aave::liquidation_call(&inputs) else {
                return Ok(None);
            };
            let seized = (call.collateral_to_liquidator + call.protocol_fee) as f64;
            let cu = 10f64.powi(inputs.collateral.decimals as i32);
            let du = 10f64.powi(inputs.debt.decimals as i32);
            let repaid = call.debt_repaid as f64 / du;
            let deficit = call.deficit as f64 / du;
            let fee_value = call.protocol_fee as f64 / cu * inputs.collateral.price as f64 / 1e8;
            let (closed, market_notional, collateral_after) = if q > 0.0 {
                // Collateral in the asset: the liquidator sells what it seized.
                let sold = seized / cu;
                let q_after = (q - sold).max(0.0);
                let debt_after = (q * l.p0 - pool.collateral - repaid - deficit).max(0.0);
                (q - q_after, sold * mark, q_after * l.p0 - debt_after)
            } else {
                // Debt in the asset: the liquidator buys what it repays.
                let coll_after = pool.collateral + q.abs() * l.p0 - seized / cu;
                let q_after = (q.abs() - repaid - deficit).max(0.0);
                (
                    -(q.abs() - q_after),
                    repaid * mark,
                    coll_after - q_after * l.p0,
                )
            };
            let deficit_value = deficit * inputs.debt.price as f64 / 1e8;
            Ok(Some(RuleStep {
                closed,
                market_notional,
                collateral_after,
                fund_delta: fee_value,
                bad_debt: deficit_value,
                uncovered: deficit_value,
                adl: None,
                continues: false,
            }))
        }
    }
}
