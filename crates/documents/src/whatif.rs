//! The pre-trade what-if (`whatif --json`, `POST …/whatif`): each venue's margin, the unified
//! requirement and the first venue to liquidate, before and after hypothetical trades.
//!
//! One computation: the margin of the book as it is and of the book with the trades applied
//! (the model's one trade rule, `venues::trade::apply_trades`), compared venue by venue
//! (`margin::whatif::compare`), so a what-if always equals `margin` on the traded book.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use intermargin_margin::portfolio::{
    net_account, venue_margins_most_favourable_at, UnifiedMargin, UnifiedModel, UnifiedParams,
};
use intermargin_margin::venues::venue_margins_at;
use intermargin_margin::whatif::{compare, Side, WhatIf};
use intermargin_margin::{MarginError, VenueMargin};
use intermargin_model::{Account, Asset, Market, Portfolio, Snapshot, Venue};
use intermargin_venues::trade::{apply_trades, TradeError, TradeSpec};
use serde_json::{json, Value};

use crate::DocumentError;

/// Why a what-if has no answer: a trade that cannot be applied (the caller's input, naming the
/// trade and its part), or a book the engines cannot margin.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// A bad trade: `trades[i].venue|instrument|size|price`.
    #[error("{0}")]
    Trade(TradeError),
    /// The margin computation failed on the book before or after.
    #[error("{0}")]
    Engine(String),
}

/// The unified model over the bundled parameters, built once.
pub fn unified_model() -> Result<&'static UnifiedModel, String> {
    static MODEL: OnceLock<Result<UnifiedModel, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            UnifiedParams::bundled()
                .map(UnifiedModel::new)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The pre-trade what-if of `trades` on `account`: each venue's own margin and the unified
/// verdict on the book as it is and with the trades applied, compared venue by venue.
pub fn whatif(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    trades: &[TradeSpec],
) -> Result<WhatIf, WhatIfError> {
    // Bad trades are refused before any margin is computed.
    let traded = Traded::apply(account, assets, market.clone(), trades)?;
    let before = Before::compute(account, assets, market)?;
    traded.whatif(&before)
}

/// Each venue's figures on one side of a what-if, kept per venue so that the other side can
/// reuse the venues a trade leaves as they were.
#[derive(Debug, Clone)]
struct Margins {
    /// Each venue's own pools (`venue_margins`), by venue.
    venues: BTreeMap<Venue, Vec<VenueMargin>>,
    /// Each venue's pools on the netted book at the most favourable leverage
    /// (`venue_margins_most_favourable`), by venue: what the unified model compares with.
    favourable: BTreeMap<Venue, Vec<VenueMargin>>,
    /// The unified verdict.
    unified: UnifiedMargin,
}

impl Margins {
    /// The margin of `account`, taking from `reuse` every venue in `same` (venues whose slice of
    /// the book is identical to the one `reuse` was computed on, on the same market).
    fn compute(
        account: &Account,
        assets: &[Asset],
        market: &Market,
        reuse: Option<(&Margins, &BTreeSet<Venue>)>,
        when: &str,
    ) -> Result<Margins, WhatIfError> {
        let engine = |e: MarginError| WhatIfError::Engine(format!("{when} the trades: {e}"));
        let model = unified_model().map_err(WhatIfError::Engine)?;
        let kept = |v: Venue, of: fn(&Margins) -> &BTreeMap<Venue, Vec<VenueMargin>>| {
            reuse
                .filter(|(_, same)| same.contains(&v))
                .and_then(|(m, _)| of(m).get(&v).cloned())
        };
        // The same venues, in the same order, as `venue_margins` and
        // `venue_margins_most_favourable` visit them.
        let mut venues = BTreeMap::new();
        for v in account.venues() {
            let m = match kept(v, |m| &m.venues) {
                Some(m) => m,
                None => venue_margins_at(v, account, assets, market).map_err(engine)?,
            };
            venues.insert(v, m);
        }
        let netted = net_account(account).map_err(engine)?;
        let mut favourable = BTreeMap::new();
        for v in netted.venues() {
            let m = match kept(v, |m| &m.favourable) {
                Some(m) => m,
                None => {
                    venue_margins_most_favourable_at(v, &netted, assets, market).map_err(engine)?
                }
            };
            favourable.insert(v, m);
        }
        let known: BTreeMap<Venue, (Option<String>, Option<f64>)> = match reuse {
            Some((m, same)) => m
                .unified
                .venues
                .iter()
                .filter(|c| same.contains(&c.venue))
                .map(|c| {
                    (
                        c.venue,
                        (c.liquidation_underlying.clone(), c.liquidation_move),
                    )
                })
                .collect(),
            None => BTreeMap::new(),
        };
        let all: Vec<VenueMargin> = favourable.values().flatten().cloned().collect();
        let unified = model
            .margin_given_known(account, assets, market, &all, &[], &known)
            .map_err(engine)?;
        Ok(Margins {
            venues,
            favourable,
            unified,
        })
    }

    fn side(&self) -> (Vec<VenueMargin>, &UnifiedMargin) {
        (
            self.venues.values().flatten().cloned().collect(),
            &self.unified,
        )
    }
}

/// The margin of a book as it is, the "before" side of every what-if on it: computed once, it
/// serves any number of what-ifs on the same book, assets and market (the service keeps one per
/// account until the book or the prices change).
#[derive(Debug, Clone)]
pub struct Before {
    account: Account,
    margins: Margins,
}

impl Before {
    /// The margin of `account` as it is.
    pub fn compute(
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Self, WhatIfError> {
        Ok(Before {
            account: account.clone(),
            margins: Margins::compute(account, assets, market, None, "before")?,
        })
    }

    /// The book this is the margin of.
    pub fn account(&self) -> &Account {
        &self.account
    }
}

/// A book with the trades of a what-if applied (the model's one trade rule,
/// `venues::trade::apply_trades`): the "after" side before its margin is computed.
pub struct Traded {
    snapshot: Snapshot,
    venues: Vec<Venue>,
}

impl Traded {
    /// Applies `trades` to a copy of `account` on `market`; a bad trade is refused naming it.
    pub fn apply(
        account: &Account,
        assets: &[Asset],
        market: Market,
        trades: &[TradeSpec],
    ) -> Result<Self, WhatIfError> {
        let mut snapshot = Snapshot::new(
            Portfolio {
                assets: assets.to_vec(),
                accounts: vec![account.clone()],
            },
            market,
        );
        let venues =
            apply_trades(&mut snapshot, &account.id, trades).map_err(WhatIfError::Trade)?;
        Ok(Traded { snapshot, venues })
    }

    /// The market the trades were applied on (the one `before` must be computed on).
    pub fn market(&self) -> &Market {
        &self.snapshot.market
    }

    /// The what-if against `before`, the margin of the same book on the same assets and market
    /// before the trades (`Before::compute`). Venues whose slice of the book the trades leave
    /// unchanged keep their figures from `before`: their rules read only their own slice.
    pub fn whatif(&self, before: &Before) -> Result<WhatIf, WhatIfError> {
        let after_account = self
            .snapshot
            .portfolio
            .accounts
            .first()
            .ok_or_else(|| WhatIfError::Engine("the traded book lost its account".into()))?;
        let same = unchanged_venues(&before.account, after_account);
        let after = Margins::compute(
            after_account,
            &self.snapshot.portfolio.assets,
            &self.snapshot.market,
            Some((&before.margins, &same)),
            "after",
        )?;
        let (bv, bu) = before.margins.side();
        let (av, au) = after.side();
        compare(
            &Side {
                venues: &bv,
                unified: bu,
            },
            &Side {
                venues: &av,
                unified: au,
            },
            &self.venues,
        )
        .map_err(|e| WhatIfError::Engine(e.to_string()))
    }
}

/// Venues whose positions, balances and orders are the same in both books (same entries, same
/// order).
fn unchanged_venues(a: &Account, b: &Account) -> BTreeSet<Venue> {
    let mut all = a.venues();
    all.extend(b.venues());
    all.into_iter()
        .filter(|&v| {
            a.positions
                .iter()
                .filter(|p| p.instrument.venue == v)
                .eq(b.positions.iter().filter(|p| p.instrument.venue == v))
                && a.collateral
                    .iter()
                    .filter(|c| c.venue == v)
                    .eq(b.collateral.iter().filter(|c| c.venue == v))
                && a.orders
                    .iter()
                    .filter(|o| o.instrument.venue == v)
                    .eq(b.orders.iter().filter(|o| o.instrument.venue == v))
        })
        .collect()
}

/// The what-if document of `trades` on an account of the snapshot (`account` names it; the
/// only one when `None`): `{"account", "quote", "venues", "unified", "liquidates_first"}`. A
/// bad trade is an input error naming `trades[i].<part>`.
pub fn whatif_document(
    snap: &Snapshot,
    account: Option<&str>,
    trades: &[TradeSpec],
) -> Result<Value, DocumentError> {
    let acc = crate::pick_account(snap, account)?;
    let w = whatif(acc, &snap.portfolio.assets, &snap.market, trades).map_err(|e| match e {
        WhatIfError::Trade(t) => {
            DocumentError::input(format!("trades[{}].{}", t.index, t.part), t.message)
        }
        WhatIfError::Engine(m) => DocumentError::Engine(m),
    })?;
    Ok(document(&acc.id, &snap.market.quote, &w))
}

/// The JSON of a what-if on `account`, figures in `quote`: `{"account", "quote", "venues",
/// "unified", "liquidates_first"}`.
pub fn document(account: &str, quote: &str, w: &WhatIf) -> Value {
    json!({
        "account": account,
        "quote": quote,
        "venues": w.venues,
        "unified": w.unified,
        "liquidates_first": w.liquidates_first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hedged() -> Snapshot {
        Snapshot::from_json(include_str!("../../../examples/hedged-book/snapshot.json")).unwrap()
    }

    #[test]
    fn a_bad_trade_is_named_by_its_index_and_part() {
        let snap = hedged();
        let good = TradeSpec::parse("binance:BTCUSDT:0.1", 0).unwrap();
        let mut bad = good.clone();
        bad.size = f64::NAN;
        match whatif_document(&snap, None, &[good, bad]).unwrap_err() {
            DocumentError::Input { field, .. } => assert_eq!(field, "trades[1].size"),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn the_unified_figures_before_are_the_models_on_the_book_as_it_is() {
        let snap = hedged();
        let t = TradeSpec::parse("binance:BTCUSDT:0.1", 0).unwrap();
        let d = whatif_document(&snap, None, &[t]).unwrap();
        let acc = &snap.portfolio.accounts[0];
        let u = unified_model()
            .unwrap()
            .margin(acc, &snap.portfolio.assets, &snap.market)
            .unwrap();
        assert_eq!(
            d["unified"]["before"]["initial_margin"].as_f64().unwrap(),
            u.initial_margin
        );
        assert_eq!(d["unified"]["before"]["saving"].as_f64().unwrap(), u.saving);
        assert_eq!(d["account"], acc.id.as_str());
    }
}
