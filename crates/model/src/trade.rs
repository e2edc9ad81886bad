//! Applying a fill to a book: the one place a hypothetical (or real) trade changes positions,
//! entry prices and cash, so that a what-if and the margin of the traded book cannot disagree.
//!
//! Conventions (the venues' own, for futures-style and premium-style contracts):
//! * futures, perpetuals and spot margin positions: a fill in the position's direction averages
//!   the entry ([`Instrument::average_entry`]); a fill against it closes that many contracts and
//!   moves their P&L at the fill price ([`Instrument::pnl`]) into the settle-currency balance at
//!   the venue; a fill larger than the position closes it and opens the rest at the fill price;
//! * options: the premium `size × price × contract_size` (settle currency; coin for inverse
//!   options) leaves the balance on a buy and arrives on a sell, since equity counts options at
//!   market value; the entry is averaged for display only;
//! * a position whose entry is unknown is first given the entry its reported unrealised P&L
//!   implies at the mark ([`Instrument::entry_for_pnl`]; the mark when none is reported), so its
//!   P&L at the mark is unchanged; the reported figure is then stale and dropped;
//! * cash deltas are converted to base units rounding against the account
//!   ([`Amount::from_f64_equity`]).

use crate::amount::Amount;
use crate::error::{finite, positive, ModelError};
use crate::instrument::Instrument;
use crate::portfolio::{Collateral, Position};
use crate::snapshot::Snapshot;

/// A fill: `size` contracts (signed: buy > 0, sell < 0, in the venue's size unit) of
/// `instrument` at `price` (the instrument's quote currency; the premium for options).
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    /// The contract traded.
    pub instrument: Instrument,
    /// Signed contracts.
    pub size: f64,
    /// Fill price.
    pub price: f64,
}

impl Snapshot {
    /// Applies a fill to account `account`'s position in the fill's instrument (venue and
    /// symbol), creating, increasing, reducing, closing or flipping it, and moves the cash it
    /// realises into the balance at the venue (see the module conventions). Errors name the part
    /// of the trade at fault (`trade.instrument`, `trade.size`, `trade.price`).
    pub fn apply_fill(&mut self, account: &str, fill: &Fill) -> Result<(), ModelError> {
        finite("trade.size", fill.size)?;
        if fill.size == 0.0 {
            return Err(ModelError::ZeroSize {
                field: "trade.size".into(),
            });
        }
        positive("trade.price", fill.price)?;
        let ins = &fill.instrument;
        let id = ins.id();
        let mark = self.market.mark_prices.get(&id).copied();
        let acc = self
            .portfolio
            .accounts
            .iter_mut()
            .find(|a| a.id == account)
            .ok_or_else(|| ModelError::invalid("account", format!("no account {account:?}")))?;
        let held: Vec<usize> = acc
            .positions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.instrument.venue == ins.venue && p.instrument.symbol == ins.symbol)
            .map(|(i, _)| i)
            .collect();
        if held.len() > 1 {
            return Err(ModelError::invalid(
                "trade.instrument",
                format!(
                    "{id} is held in {} positions (isolated sides or sub-accounts); the trade cannot say which",
                    held.len()
                ),
            ));
        }
        let (t, price, cs) = (fill.size, fill.price, ins.contract_size);
        let option = ins.is_option();
        let mut cash = if option { -t * price * cs } else { 0.0 };
        let sub_account;
        match held.first().copied() {
            None => {
                let mut p = Position::new(ins.clone(), t);
                p.entry_price = Some(price);
                sub_account = None;
                acc.positions.push(p);
            }
            Some(i) => {
                let p = &mut acc.positions[i];
                sub_account = p.sub_account.clone();
                let q = p.size;
                let entry = match p.entry_price.filter(|e| *e > 0.0) {
                    Some(e) => e,
                    None => {
                        let at = mark.ok_or_else(|| {
                            ModelError::invalid(
                                "trade.instrument",
                                format!("{id} has no entry price and no mark (market.mark_prices) to imply one"),
                            )
                        })?;
                        match (option, p.unrealized_pnl) {
                            (false, Some(upl)) => p.instrument.entry_for_pnl(q, upl, at),
                            _ => at,
                        }
                    }
                };
                if !(entry.is_finite() && entry > 0.0) {
                    return Err(ModelError::invalid(
                        "trade.instrument",
                        format!("{id}: the reported unrealised P&L implies no positive entry price ({entry})"),
                    ));
                }
                let after = q + t;
                if q.signum() == t.signum() {
                    p.entry_price = Some(p.instrument.average_entry(q, entry, t, price));
                } else {
                    // Closes min(|t|, |q|) contracts at the fill price.
                    let closed = if t.abs() >= q.abs() { q } else { -t };
                    if !option {
                        cash += p.instrument.pnl(closed, entry, price);
                    }
                    p.entry_price = Some(if t.abs() > q.abs() { price } else { entry });
                }
                p.unrealized_pnl = None;
                // A close within rounding of the position's size leaves nothing open.
                if after == 0.0 || after.abs() <= q.abs().max(t.abs()) * 1e-12 {
                    acc.positions.remove(i);
                } else {
                    acc.positions[i].size = after;
                }
            }
        }
        finite("trade.price", cash)?;
        if cash != 0.0 {
            let decimals = self
                .portfolio
                .assets
                .iter()
                .find(|a| a.symbol == ins.settle)
                .map(|a| a.decimals)
                .ok_or_else(|| ModelError::UnknownAsset {
                    field: "trade.instrument".into(),
                    asset: ins.settle.clone(),
                })?;
            let delta = Amount::from_f64_equity(cash, decimals, "trade.size")?;
            let acc = self
                .portfolio
                .accounts
                .iter_mut()
                .find(|a| a.id == account)
                .ok_or_else(|| ModelError::invalid("account", format!("no account {account:?}")))?;
            match acc.collateral.iter_mut().find(|c| {
                c.venue == ins.venue && c.asset == ins.settle && c.sub_account == sub_account
            }) {
                Some(c) => c.amount = c.amount.checked_add(delta, "trade.size")?,
                None => acc.collateral.push(Collateral {
                    venue: ins.venue,
                    asset: ins.settle.clone(),
                    amount: delta,
                    sub_account,
                    chain_id: None,
                }),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Account, Asset, InstrumentKind, Market, Portfolio, Settlement, SizeUnit, Venue};

    fn perp(
        venue: Venue,
        symbol: &str,
        settlement: Settlement,
        unit: SizeUnit,
        cs: f64,
    ) -> Instrument {
        let settle = if settlement == Settlement::Inverse {
            "BTC"
        } else {
            "USDT"
        };
        Instrument {
            venue,
            symbol: symbol.into(),
            kind: InstrumentKind::Perpetual,
            underlying: "BTC".into(),
            quote: if settlement == Settlement::Inverse {
                "USD".into()
            } else {
                "USDT".into()
            },
            settle: settle.into(),
            settlement,
            contract_size: cs,
            size_unit: unit,
        }
    }

    fn book(p: Option<Position>, mark: (&str, f64)) -> Snapshot {
        let mut acc = Account::new("a");
        acc.positions.extend(p);
        let mut market = Market::new(0, "USD");
        market.mark_prices.insert(mark.0.into(), mark.1);
        Snapshot::new(
            Portfolio {
                assets: vec![Asset::new("USDT", 6), Asset::new("BTC", 8)],
                accounts: vec![acc],
            },
            market,
        )
    }

    fn cash(s: &Snapshot, asset: &str) -> i128 {
        s.portfolio.accounts[0]
            .collateral
            .iter()
            .filter(|c| c.asset == asset)
            .map(|c| c.amount.0)
            .sum()
    }

    #[test]
    fn linear_add_averages_and_a_partial_close_realises_at_the_fill() {
        let ins = perp(
            Venue::Binance,
            "BTCUSDT",
            Settlement::Linear,
            SizeUnit::Base,
            1.0,
        );
        let mut p = Position::new(ins.clone(), 2.0);
        p.entry_price = Some(50_000.0);
        let mut s = book(Some(p), ("binance:BTCUSDT", 60_000.0));
        let fill = |size, price| Fill {
            instrument: ins.clone(),
            size,
            price,
        };
        s.apply_fill("a", &fill(1.0, 53_000.0)).unwrap();
        let p = &s.portfolio.accounts[0].positions[0];
        // Hand: (2·50,000 + 1·53,000) / 3 = 51,000.
        assert_eq!(p.size, 3.0);
        assert!((p.entry_price.unwrap() - 51_000.0).abs() < 1e-9);
        s.apply_fill("a", &fill(-1.5, 55_000.0)).unwrap();
        // Hand: 1.5 · (55,000 − 51,000) = 6,000 USDT realised; entry unchanged.
        assert_eq!(cash(&s, "USDT"), 6_000_000_000);
        let p = &s.portfolio.accounts[0].positions[0];
        assert_eq!((p.size, p.entry_price), (1.5, Some(51_000.0)));
        // Flip: sell 2.5 at 50,000 closes 1.5 (−1,500) and opens −1 at 50,000.
        s.apply_fill("a", &fill(-2.5, 50_000.0)).unwrap();
        assert_eq!(cash(&s, "USDT"), 4_500_000_000);
        let p = &s.portfolio.accounts[0].positions[0];
        assert_eq!((p.size, p.entry_price), (-1.0, Some(50_000.0)));
        // Close exactly: nothing left.
        s.apply_fill("a", &fill(1.0, 49_000.0)).unwrap();
        assert!(s.portfolio.accounts[0].positions.is_empty());
        assert_eq!(cash(&s, "USDT"), 5_500_000_000);
    }

    #[test]
    fn inverse_usd_contracts_average_harmonically_and_realise_in_coin() {
        // Deribit BTC-PERPETUAL: 10 USD contracts, coin-settled.
        let ins = perp(
            Venue::Deribit,
            "BTC-PERPETUAL",
            Settlement::Inverse,
            SizeUnit::Quote,
            10.0,
        );
        let mut p = Position::new(ins.clone(), 1_000.0); // 10,000 USD
        p.entry_price = Some(50_000.0);
        let mut s = book(Some(p), ("deribit:BTC-PERPETUAL", 60_000.0));
        s.apply_fill(
            "a",
            &Fill {
                instrument: ins.clone(),
                size: 1_000.0,
                price: 40_000.0,
            },
        )
        .unwrap();
        // Hand: 20,000 USD / (10,000/50,000 + 10,000/40,000) = 20,000 / 0.45 = 44,444.44…
        let e = s.portfolio.accounts[0].positions[0].entry_price.unwrap();
        assert!((e - 20_000.0 / 0.45).abs() < 1e-6, "{e}");
        s.apply_fill(
            "a",
            &Fill {
                instrument: ins,
                size: -1_000.0,
                price: 50_000.0,
            },
        )
        .unwrap();
        // Hand: 10,000 · (1/44,444.44 − 1/50,000) = 0.225 − 0.2 = 0.025 BTC, rounded down to
        // satoshis (the f64 lands a hair under 0.025, so one satoshi less is also right).
        assert!(
            (2_499_999..=2_500_000).contains(&cash(&s, "BTC")),
            "{}",
            cash(&s, "BTC")
        );
    }

    #[test]
    fn an_option_buy_pays_the_premium_and_an_unknown_entry_is_implied_at_the_mark() {
        let mut ins = perp(
            Venue::Deribit,
            "BTC-27DEC24-60000-C",
            Settlement::Inverse,
            SizeUnit::Base,
            1.0,
        );
        ins.kind = InstrumentKind::Option {
            expiry_ms: 1,
            strike: 60_000.0,
            option_kind: crate::OptionKind::Call,
        };
        let mut s = book(None, ("deribit:BTC-27DEC24-60000-C", 0.05));
        s.apply_fill(
            "a",
            &Fill {
                instrument: ins.clone(),
                size: 2.0,
                price: 0.05,
            },
        )
        .unwrap();
        assert_eq!(cash(&s, "BTC"), -10_000_000);
        s.apply_fill(
            "a",
            &Fill {
                instrument: ins,
                size: -3.0,
                price: 0.06,
            },
        )
        .unwrap();
        // Hand: −0.1 + 3 · 0.06 = +0.08 BTC; short 1 at 0.06.
        assert_eq!(cash(&s, "BTC"), 8_000_000);
        let p = &s.portfolio.accounts[0].positions[0];
        assert_eq!((p.size, p.entry_price), (-1.0, Some(0.06)));

        // A perp with only a reported P&L: its implied entry keeps the P&L at the mark.
        let ins = perp(
            Venue::Binance,
            "BTCUSDT",
            Settlement::Linear,
            SizeUnit::Base,
            1.0,
        );
        let mut p = Position::new(ins.clone(), 2.0);
        p.unrealized_pnl = Some(1_000.0);
        let mut s = book(Some(p), ("binance:BTCUSDT", 60_000.0));
        s.apply_fill(
            "a",
            &Fill {
                instrument: ins,
                size: -2.0,
                price: 60_000.0,
            },
        )
        .unwrap();
        assert_eq!(cash(&s, "USDT"), 1_000_000_000);
    }

    #[test]
    fn bad_parts_are_named() {
        let ins = perp(
            Venue::Binance,
            "BTCUSDT",
            Settlement::Linear,
            SizeUnit::Base,
            1.0,
        );
        let mut s = book(None, ("binance:BTCUSDT", 60_000.0));
        let f = |size, price| Fill {
            instrument: ins.clone(),
            size,
            price,
        };
        let e = s.apply_fill("a", &f(0.0, 1.0)).unwrap_err().to_string();
        assert!(e.starts_with("trade.size"), "{e}");
        let e = s
            .apply_fill("a", &f(f64::NAN, 1.0))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("trade.size"), "{e}");
        let e = s.apply_fill("a", &f(1.0, -1.0)).unwrap_err().to_string();
        assert!(e.starts_with("trade.price"), "{e}");
        let e = s.apply_fill("zz", &f(1.0, 1.0)).unwrap_err().to_string();
        assert!(e.starts_with("account"), "{e}");
    }
}
