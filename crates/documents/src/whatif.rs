//! The pre-trade what-if (`whatif --json`, `POST …/whatif`): each venue's margin, the unified
//! requirement and the first venue to liquidate, before and after hypothetical trades.
//!
//! One computation: the margin of the book as it is and of the book with the trades applied
//! (the model's one trade rule, `venues::trade::apply_trades`), compared venue by venue
//! (`margin::whatif::compare`), so a what-if always equals `margin` on the traded book.

use std::sync::OnceLock;

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_margin::whatif::{compare, Side, WhatIf};
use intermargin_model::{Account, Asset, Market, Portfolio, Snapshot};
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
    let mut traded = Snapshot::new(
        Portfolio {
            assets: assets.to_vec(),
            accounts: vec![account.clone()],
        },
        market.clone(),
    );
    let venues = apply_trades(&mut traded, &account.id, trades).map_err(WhatIfError::Trade)?;
    let model = unified_model().map_err(WhatIfError::Engine)?;
    let side = |acc: &Account, assets: &[Asset], when: &str| {
        let v = intermargin_margin::venue_margins(acc, assets, market)
            .map_err(|e| WhatIfError::Engine(format!("{when} the trades: {e}")))?;
        let u = model
            .margin(acc, assets, market)
            .map_err(|e| WhatIfError::Engine(format!("{when} the trades: {e}")))?;
        Ok::<_, WhatIfError>((v, u))
    };
    let before = side(account, assets, "before")?;
    let after_account = traded
        .portfolio
        .accounts
        .first()
        .ok_or_else(|| WhatIfError::Engine("the traded book lost its account".into()))?;
    let after = side(after_account, &traded.portfolio.assets, "after")?;
    compare(
        &Side {
            venues: &before.0,
            unified: &before.1,
        },
        &Side {
            venues: &after.0,
            unified: &after.1,
        },
        &venues,
    )
    .map_err(|e| WhatIfError::Engine(e.to_string()))
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
