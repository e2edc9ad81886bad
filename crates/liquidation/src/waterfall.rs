//! Money that moves: penalty split and the bad-debt waterfall, in integer base units.
//!
//! Conservation is exact by construction: every unit of bad debt is assigned to the insurance
//! fund, a deleveraged counterparty or the socialised pool (`settle_bad_debt` checks the sum).

use intermargin_model::Amount;
use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};
use crate::rules::WaterfallStep;

/// A penalty divided between the liquidator and the insurance fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSplit {
    /// Paid to whoever took over the position.
    pub liquidator: Amount,
    /// Paid to the insurance fund (Aave: the treasury).
    pub insurance: Amount,
}

/// Splits `fee` with `insurance_share` to the fund (rounded down), the rest to the liquidator.
///
/// The penalty charged is capped at the equity left after the close (dYdX charges
/// `min(fee, delta)`; Drift scales the IF fee down so the fee never causes bankruptcy).
pub fn split_fee(
    fee: Amount,
    equity_after_close: Amount,
    insurance_share: f64,
) -> Result<FeeSplit, LiquidationError> {
    if !(0.0..=1.0).contains(&insurance_share) {
        return Err(param(
            "insurance_share",
            format!("must be within [0, 1], got {insurance_share}"),
        ));
    }
    if fee.0 < 0 {
        return Err(param("fee", format!("must be >= 0, got {}", fee.0)));
    }
    let charged = fee.0.min(equity_after_close.0.max(0));
    let ppm = (insurance_share * 1_000_000.0).round() as i128;
    let insurance = charged
        .checked_mul(ppm)
        .ok_or_else(|| param("fee", "overflow"))?
        / 1_000_000;
    Ok(FeeSplit {
        liquidator: Amount(charged - insurance),
        insurance: Amount(insurance),
    })
}

/// An opposite-side position that auto-deleveraging may close against the bankrupt one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdlCandidate {
    /// Account id.
    pub account: String,
    /// Unrealised profit of the position, base units (only profit can be taken).
    pub profit: Amount,
    /// Leverage of the position: ties in profit go to the more leveraged one.
    pub leverage: f64,
}

/// Who paid a bankrupt account's bad debt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadDebtSettlement {
    /// Bad debt to cover (≥ 0).
    pub bad_debt: Amount,
    /// Paid by the insurance fund.
    pub from_fund: Amount,
    /// Insurance fund balance afterwards.
    pub fund_after: Amount,
    /// Taken from deleveraged counterparties, most profitable first.
    pub adl: Vec<(String, Amount)>,
    /// Spread over all holders.
    pub socialised: Amount,
    /// Each holder's share of `socialised` (pro rata, largest remainder: sums exactly).
    pub socialised_shares: Vec<(String, Amount)>,
}

impl BadDebtSettlement {
    /// Total taken from deleveraged counterparties.
    pub fn adl_total(&self) -> Amount {
        Amount(self.adl.iter().map(|(_, a)| a.0).sum())
    }
}

/// Pays `bad_debt` through `steps`, in order; any residual is socialised over `holders`
/// (id, weight) pro rata. `fund` is the insurance fund balance before.
pub fn settle_bad_debt(
    bad_debt: Amount,
    fund: Amount,
    steps: &[WaterfallStep],
    adl_candidates: &[AdlCandidate],
    holders: &[(String, Amount)],
) -> Result<BadDebtSettlement, LiquidationError> {
    if bad_debt.0 < 0 {
        return Err(param(
            "bad_debt",
            format!("must be >= 0, got {}", bad_debt.0),
        ));
    }
    if fund.0 < 0 {
        return Err(param(
            "insurance_fund",
            format!("must be >= 0, got {}", fund.0),
        ));
    }
    let mut left = bad_debt.0;
    let mut from_fund = 0i128;
    let mut adl = Vec::new();
    for step in steps {
        if left == 0 {
            break;
        }
        match step {
            WaterfallStep::InsuranceFund => {
                from_fund = left.min(fund.0);
                left -= from_fund;
            }
            WaterfallStep::Adl => {
                let mut ranked: Vec<&AdlCandidate> =
                    adl_candidates.iter().filter(|c| c.profit.0 > 0).collect();
                ranked.sort_by(|a, b| {
                    b.profit
                        .cmp(&a.profit)
                        .then(b.leverage.total_cmp(&a.leverage))
                        .then(a.account.cmp(&b.account))
                });
                for c in ranked {
                    if left == 0 {
                        break;
                    }
                    let take = left.min(c.profit.0);
                    left -= take;
                    adl.push((c.account.clone(), Amount(take)));
                }
            }
            WaterfallStep::Socialised => break,
        }
    }
    let socialised = left;
    let socialised_shares = pro_rata(socialised, holders)?;
    let out = BadDebtSettlement {
        bad_debt,
        from_fund: Amount(from_fund),
        fund_after: Amount(fund.0 - from_fund),
        adl,
        socialised: Amount(socialised),
        socialised_shares,
    };
    debug_assert_eq!(
        out.from_fund.0 + out.adl_total().0 + out.socialised.0,
        bad_debt.0
    );
    Ok(out)
}

/// Splits `total` over weights pro rata; remainders go to the largest fractional parts
/// (ties by order), so the shares sum to `total` exactly.
fn pro_rata(
    total: i128,
    holders: &[(String, Amount)],
) -> Result<Vec<(String, Amount)>, LiquidationError> {
    let w: i128 = holders.iter().map(|(_, a)| a.0.max(0)).sum();
    if total == 0 || w == 0 {
        return Ok(Vec::new());
    }
    let mut shares = Vec::with_capacity(holders.len());
    let mut rems = Vec::with_capacity(holders.len());
    let mut given = 0i128;
    for (i, (id, a)) in holders.iter().enumerate() {
        let num = total
            .checked_mul(a.0.max(0))
            .ok_or_else(|| param("socialised", "overflow in pro-rata split"))?;
        let s = num / w;
        given += s;
        shares.push((id.clone(), Amount(s)));
        rems.push((num % w, i));
    }
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = total - given;
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        shares[i].1 .0 += 1;
        left -= 1;
    }
    Ok(shares)
}

/// Aave v3 `liquidationCall` sizing for one debt / collateral pair, in base-currency units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaveLiquidation {
    /// Debt repaid by the liquidator.
    pub debt_repaid: Amount,
    /// Collateral taken from the borrower (debt × bonus, capped at the balance).
    pub collateral_seized: Amount,
    /// Part of the bonus sent to the treasury.
    pub protocol_fee: Amount,
}

/// Aave v3: repay `close_factor × debt`, seize `repaid × bonus` of collateral (capped at the
/// balance, then `repaid = balance / bonus`), protocol fee = `fee_share × bonus part`.
/// `bonus_bps` as Aave stores it (10500 = 105%).
pub fn aave_liquidation(
    debt: Amount,
    collateral: Amount,
    close_factor: f64,
    bonus_bps: u32,
    protocol_fee_share: f64,
) -> Result<AaveLiquidation, LiquidationError> {
    if !(0.0..=1.0).contains(&close_factor) {
        return Err(param(
            "close_factor",
            format!("must be within [0, 1], got {close_factor}"),
        ));
    }
    if bonus_bps < 10_000 {
        return Err(param(
            "liquidation_bonus",
            format!("must be >= 10000 bps, got {bonus_bps}"),
        ));
    }
    let cf_bps = (close_factor * 10_000.0).round() as i128;
    let mut repaid = debt.0.max(0) * cf_bps / 10_000;
    let mut seized = repaid * bonus_bps as i128 / 10_000;
    if seized > collateral.0 {
        seized = collateral.0.max(0);
        repaid = seized * 10_000 / bonus_bps as i128;
    }
    let bonus_part = seized - repaid;
    let fee = (bonus_part as f64 * protocol_fee_share).floor() as i128;
    Ok(AaveLiquidation {
        debt_repaid: Amount(repaid),
        collateral_seized: Amount(seized),
        protocol_fee: Amount(fee),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, p: i128, lev: f64) -> AdlCandidate {
        AdlCandidate {
            account: id.into(),
            profit: Amount(p),
            leverage: lev,
        }
    }

    #[test]
    fn fund_pays_first_then_most_profitable_counterparties_then_everyone() {
        use WaterfallStep::*;
        let s = settle_bad_debt(
            Amount(1_000),
            Amount(300),
            &[InsuranceFund, Adl, Socialised],
            &[cand("a", 200, 2.0), cand("b", 350, 1.0), cand("c", 0, 9.0)],
            &[("x".into(), Amount(1)), ("y".into(), Amount(2))],
        )
        .unwrap();
        // 1000 = 300 (fund) + 350 (b) + 200 (a) + 150 socialised (50 to x, 100 to y).
        assert_eq!(s.from_fund, Amount(300));
        assert_eq!(s.fund_after, Amount(0));
        assert_eq!(
            s.adl,
            vec![("b".into(), Amount(350)), ("a".into(), Amount(200))]
        );
        assert_eq!(s.socialised, Amount(150));
        assert_eq!(
            s.socialised_shares,
            vec![("x".into(), Amount(50)), ("y".into(), Amount(100))]
        );
    }

    #[test]
    fn a_fund_large_enough_leaves_nothing_to_deleverage() {
        use WaterfallStep::*;
        let s = settle_bad_debt(
            Amount(10),
            Amount(300),
            &[InsuranceFund, Adl],
            &[cand("a", 9, 1.0)],
            &[],
        )
        .unwrap();
        assert_eq!(
            (s.from_fund, s.fund_after, s.adl.len(), s.socialised),
            (Amount(10), Amount(290), 0, Amount(0))
        );
    }

    #[test]
    fn pro_rata_remainders_go_to_the_largest_fractions() {
        // 10 over weights 1,1,1: 3,3,3 and one unit left, to the first (equal fractions, by order).
        let h: Vec<(String, Amount)> = ["a", "b", "c"]
            .iter()
            .map(|s| (s.to_string(), Amount(1)))
            .collect();
        let s = pro_rata(10, &h).unwrap();
        assert_eq!(s.iter().map(|x| x.1 .0).collect::<Vec<_>>(), vec![4, 3, 3]);
    }

    #[test]
    fn fee_split_is_capped_at_remaining_equity() {
        let f = split_fee(Amount(1_000), Amount(400), 0.5).unwrap();
        assert_eq!((f.liquidator, f.insurance), (Amount(200), Amount(200)));
        let f = split_fee(Amount(1_000), Amount(-5), 0.5).unwrap();
        assert_eq!((f.liquidator, f.insurance), (Amount(0), Amount(0)));
        assert!(split_fee(Amount(1), Amount(1), 1.5)
            .unwrap_err()
            .to_string()
            .contains("insurance_share"));
    }

    #[test]
    fn aave_documented_example_repays_half_and_seizes_with_5pct_bonus() {
        // Reference §7 worked example: collateral 1,000 USD, debt 900 USD, bonus 5%, 50% close:
        // repay 450, receive 472.5 of collateral. Base currency USD with 8 decimals.
        let usd = |x: f64| Amount((x * 1e8) as i128);
        let l = aave_liquidation(usd(900.0), usd(1_000.0), 0.5, 10_500, 0.0).unwrap();
        assert_eq!(l.debt_repaid, usd(450.0));
        assert_eq!(l.collateral_seized, usd(472.5));
        // Protocol fee 10% of the bonus: bonus 1.10 → liquidator keeps 1.09 × repaid.
        let l = aave_liquidation(usd(100.0), usd(1_000.0), 1.0, 11_000, 0.1).unwrap();
        assert_eq!(l.collateral_seized.0 - l.protocol_fee.0, usd(109.0).0);
    }

    #[test]
    fn aave_seizure_is_capped_at_the_collateral_balance() {
        let l = aave_liquidation(Amount(1_000), Amount(525), 1.0, 10_500, 0.0).unwrap();
        assert_eq!(l.collateral_seized, Amount(525));
        assert_eq!(l.debt_repaid, Amount(500));
    }
}
