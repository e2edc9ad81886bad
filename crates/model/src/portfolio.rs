use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::amount::{Amount, Asset};
use crate::error::{finite, positive, ModelError};
use crate::instrument::{Instrument, Venue};
use crate::order::Order;

/// A signed holding of one instrument on one venue sub-account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Position {
    /// The contract held.
    pub instrument: Instrument,
    /// Signed number of contracts (long > 0, short < 0).
    pub size: f64,
    /// Average entry price in the instrument's quote currency, when the venue reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_price: Option<f64>,
    /// Venue sub-account or subaccount number, when the venue has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_account: Option<String>,
    /// Leverage the user selected (Binance, OKX, Bybit, Hyperliquid), which sets initial margin there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<f64>,
    /// True when the position is isolated-margin rather than cross.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
    /// Margin posted to an isolated position, in the settle currency (risk figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated_margin: Option<f64>,
    /// Unrealised P&L the venue reports, in the settle currency (risk figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrealized_pnl: Option<f64>,
}

impl Position {
    /// A cross-margined position with no venue extras.
    pub fn new(instrument: Instrument, size: f64) -> Self {
        Position {
            instrument,
            size,
            entry_price: None,
            sub_account: None,
            leverage: None,
            isolated: false,
            isolated_margin: None,
            unrealized_pnl: None,
        }
    }

    fn validate(&self, path: &str, now_ms: Option<i64>) -> Result<(), ModelError> {
        self.instrument
            .validate(&format!("{path}.instrument"), now_ms)?;
        let f = format!("{path}.size");
        finite(&f, self.size)?;
        if self.size == 0.0 {
            return Err(ModelError::ZeroSize { field: f });
        }
        if let Some(p) = self.entry_price {
            finite(&format!("{path}.entry_price"), p)?;
        }
        if let Some(l) = self.leverage {
            positive(&format!("{path}.leverage"), l)?;
        }
        if let Some(m) = self.isolated_margin {
            finite(&format!("{path}.isolated_margin"), m)?;
        }
        if let Some(u) = self.unrealized_pnl {
            finite(&format!("{path}.unrealized_pnl"), u)?;
        }
        Ok(())
    }
}

/// A balance of one asset held at one venue (or chain): exact base units; negative means borrowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Collateral {
    /// Where the balance sits.
    pub venue: Venue,
    /// Asset symbol, declared in `portfolio.assets`.
    pub asset: String,
    /// Signed base units (debt is negative).
    pub amount: Amount,
    /// Venue sub-account, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_account: Option<String>,
    /// EVM chain id for on-chain balances (Aave on chain 1, a spoke's chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<u64>,
}

/// A figure a venue itself reported for the account (its own margin, liquidation price, health
/// factor…), kept beside the book so that `reconcile` can set intermargin's figure against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reported {
    /// Venue that reported it.
    pub venue: Venue,
    /// Margin pool: `cross`, `isolated:<instrument id>:<long|short>`, `subaccount:<n>`, or
    /// absent for the venue's whole account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Instrument id (`venue:symbol`) when the figure is one position's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    /// Settlement currency of the figure (prices are in the instrument's quote currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `initial_margin`, `maintenance_margin`, `liquidation_price`, `equity`,
    /// `free_collateral`, `health_factor` or `margin_used`.
    pub field: String,
    /// The venue's number.
    pub value: f64,
    /// The payload field it was read from (`liqPx`, `maintMargin`…).
    pub source: String,
}

/// One owner's book across venues: the unit that unified margin covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    /// Stable account identifier.
    pub id: String,
    /// Balances at every venue and chain.
    #[serde(default)]
    pub collateral: Vec<Collateral>,
    /// Positions at every venue.
    #[serde(default)]
    pub positions: Vec<Position>,
    /// Figures the venues reported in the payloads the account was imported from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<Reported>,
    /// Open (resting) orders at every venue; venues reserve initial margin for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<Order>,
}

impl Account {
    /// An empty account.
    pub fn new(id: impl Into<String>) -> Self {
        Account {
            id: id.into(),
            collateral: Vec::new(),
            positions: Vec::new(),
            reported: Vec::new(),
            orders: Vec::new(),
        }
    }

    /// Venues this account touches, through positions or collateral.
    pub fn venues(&self) -> BTreeSet<Venue> {
        self.positions
            .iter()
            .map(|p| p.instrument.venue)
            .chain(self.collateral.iter().map(|c| c.venue))
            .chain(self.orders.iter().map(|o| o.instrument.venue))
            .collect()
    }
}

/// Every account of a snapshot and the assets they use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Portfolio {
    /// Declared assets with their decimals; every balance must name one of them.
    #[serde(default)]
    pub assets: Vec<Asset>,
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<Account>,
}

impl Portfolio {
    /// Decimals of a declared asset.
    pub fn asset(&self, symbol: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.symbol == symbol)
    }

    /// Adds an asset if not yet declared; a conflicting decimals value is an error.
    pub fn declare_asset(&mut self, asset: Asset) -> Result<(), ModelError> {
        match self.asset(&asset.symbol) {
            Some(a) if a.decimals != asset.decimals => Err(ModelError::invalid(
                format!("portfolio.assets[{:?}].decimals", asset.symbol),
                format!(
                    "declared with {} and {} decimals",
                    a.decimals, asset.decimals
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.assets.push(asset);
                Ok(())
            }
        }
    }

    /// Account by id, created empty if absent.
    pub fn account_mut(&mut self, id: &str) -> &mut Account {
        if let Some(i) = self.accounts.iter().position(|a| a.id == id) {
            &mut self.accounts[i]
        } else {
            self.accounts.push(Account::new(id));
            let last = self.accounts.len() - 1;
            &mut self.accounts[last]
        }
    }

    /// Merges another portfolio: assets unioned, accounts with the same id concatenated.
    pub fn merge(&mut self, other: &Portfolio) -> Result<(), ModelError> {
        for a in &other.assets {
            self.declare_asset(a.clone())?;
        }
        for acc in &other.accounts {
            let mine = self.account_mut(&acc.id);
            mine.collateral.extend(acc.collateral.iter().cloned());
            mine.positions.extend(acc.positions.iter().cloned());
            mine.reported.extend(acc.reported.iter().cloned());
            mine.orders.extend(acc.orders.iter().cloned());
        }
        Ok(())
    }

    /// Validates every account; `now_ms` rejects expired instruments when given.
    pub fn validate(&self, now_ms: Option<i64>) -> Result<(), ModelError> {
        let mut symbols = BTreeSet::new();
        for (i, a) in self.assets.iter().enumerate() {
            if a.symbol.trim().is_empty() {
                return Err(ModelError::invalid(
                    format!("portfolio.assets[{i}].symbol"),
                    "must not be empty",
                ));
            }
            if a.decimals > 30 {
                return Err(ModelError::invalid(
                    format!("portfolio.assets[{i}].decimals"),
                    format!("{} decimals exceeds the supported 30", a.decimals),
                ));
            }
            if !symbols.insert(a.symbol.as_str()) {
                return Err(ModelError::invalid(
                    format!("portfolio.assets[{i}].symbol"),
                    "declared twice",
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for (ai, acc) in self.accounts.iter().enumerate() {
            let path = format!("portfolio.accounts[{ai}]");
            if acc.id.trim().is_empty() {
                return Err(ModelError::invalid(
                    format!("{path}.id"),
                    "must not be empty",
                ));
            }
            if !ids.insert(acc.id.as_str()) {
                return Err(ModelError::invalid(
                    format!("{path}.id"),
                    format!("duplicate account id {:?}", acc.id),
                ));
            }
            for (ci, c) in acc.collateral.iter().enumerate() {
                if !symbols.contains(c.asset.as_str()) {
                    return Err(ModelError::UnknownAsset {
                        field: format!("{path}.collateral[{ci}].asset"),
                        asset: c.asset.clone(),
                    });
                }
            }
            for (pi, p) in acc.positions.iter().enumerate() {
                p.validate(&format!("{path}.positions[{pi}]"), now_ms)?;
            }
            for (oi, o) in acc.orders.iter().enumerate() {
                o.validate(&format!("{path}.orders[{oi}]"), now_ms)?;
            }
            for (ri, r) in acc.reported.iter().enumerate() {
                finite(&format!("{path}.reported[{ri}].value"), r.value)?;
                if r.field.trim().is_empty() {
                    return Err(ModelError::invalid(
                        format!("{path}.reported[{ri}].field"),
                        "must not be empty",
                    ));
                }
            }
        }
        Ok(())
    }
}
