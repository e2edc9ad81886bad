//! Accumulates what several payloads of one venue say into one canonical [`Snapshot`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use intermargin_model::{
    Account, Amount, Asset, Collateral, Greeks, Market, Order, Portfolio, Position, Reported,
    Snapshot, Venue,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::VenueError;

/// Currency every adapter reports market data in.
pub const QUOTE: &str = "USD";

#[derive(Deserialize)]
struct AssetTable {
    default_decimals: u32,
    assets: Vec<AssetRow>,
}

#[derive(Deserialize)]
struct AssetRow {
    symbol: String,
    decimals: u32,
}

fn asset_table() -> &'static AssetTable {
    static TABLE: OnceLock<AssetTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/assets.json")).unwrap_or(AssetTable {
            default_decimals: 8,
            assets: Vec::new(),
        })
    })
}

/// Decimals of an asset's base unit (from `data/assets.json`; unknown assets get the default).
pub fn asset_decimals(symbol: &str) -> u32 {
    let t = asset_table();
    t.assets
        .iter()
        .find(|a| a.symbol.eq_ignore_ascii_case(symbol))
        .map(|a| a.decimals)
        .unwrap_or(t.default_decimals)
}

/// Options shared by every adapter.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Canonical account id the positions and balances are filed under.
    pub account: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            account: "default".to_string(),
        }
    }
}

/// Collects positions, balances and market data; conflicting repeats are errors.
pub(crate) struct Builder {
    pub venue: Venue,
    account: String,
    assets: Vec<Asset>,
    collateral: Vec<(String, Collateral)>,
    positions: Vec<(String, Position)>,
    reported: Vec<Reported>,
    orders: Vec<Order>,
    market: Market,
    timestamp: Option<i64>,
}

fn fmt_f64(v: f64) -> String {
    format!("{v}")
}

impl Builder {
    pub fn new(venue: Venue, opts: &ImportOptions) -> Self {
        Builder {
            venue,
            account: opts.account.clone(),
            assets: Vec::new(),
            collateral: Vec::new(),
            positions: Vec::new(),
            reported: Vec::new(),
            orders: Vec::new(),
            market: Market::new(0, QUOTE),
            timestamp: None,
        }
    }

    fn conflict(&self, key: String, first: String, second: String) -> VenueError {
        VenueError::Conflict {
            venue: self.venue,
            key,
            first,
            second,
        }
    }

    /// Notes a payload timestamp (UTC ms); the snapshot takes the latest.
    pub fn observe_time(&mut self, ms: i64) {
        if ms > 0 {
            self.timestamp = Some(self.timestamp.map_or(ms, |t| t.max(ms)));
        }
    }

    fn set_price(
        &mut self,
        map: fn(&mut Market) -> &mut BTreeMap<String, f64>,
        name: &str,
        key: String,
        value: f64,
    ) -> Result<(), VenueError> {
        let existing = map(&mut self.market).get(&key).copied();
        match existing {
            Some(old) if old != value => Err(self.conflict(
                format!("market.{name}[{key:?}]"),
                fmt_f64(old),
                fmt_f64(value),
            )),
            _ => {
                map(&mut self.market).insert(key, value);
                Ok(())
            }
        }
    }

    /// Mark price of `symbol` on this venue (a zero mark means "none" and is skipped).
    pub fn mark(&mut self, symbol: &str, value: f64) -> Result<(), VenueError> {
        if value <= 0.0 {
            return Ok(());
        }
        let key = format!("{}:{symbol}", self.venue);
        self.set_price(|m| &mut m.mark_prices, "mark_prices", key, value)
    }

    /// Index price of `underlying` on this venue (zero is skipped).
    pub fn index(&mut self, underlying: &str, value: f64) -> Result<(), VenueError> {
        if value <= 0.0 {
            return Ok(());
        }
        let key = format!("{}:{}", self.venue, underlying.to_uppercase());
        self.set_price(|m| &mut m.index_prices, "index_prices", key, value)
    }

    /// Mark implied vol of `symbol` as a fraction (zero is skipped).
    pub fn mark_iv(&mut self, symbol: &str, value: f64) -> Result<(), VenueError> {
        if value <= 0.0 {
            return Ok(());
        }
        let key = format!("{}:{symbol}", self.venue);
        self.set_price(|m| &mut m.mark_ivs, "mark_ivs", key, value)
    }

    /// Venue-published Greeks of `symbol`.
    pub fn greeks(&mut self, symbol: &str, g: Greeks) -> Result<(), VenueError> {
        let key = format!("{}:{symbol}", self.venue);
        match self.market.greeks.get(&key) {
            Some(old) if *old != g => Err(self.conflict(
                format!("market.greeks[{key:?}]"),
                format!("{old:?}"),
                format!("{g:?}"),
            )),
            _ => {
                self.market.greeks.insert(key, g);
                Ok(())
            }
        }
    }

    /// Merges fields into the `venue_params` object at `key` (see PARAMS.md).
    pub fn params(&mut self, key: String, fields: Map<String, Value>) -> Result<(), VenueError> {
        let entry = self
            .market
            .venue_params
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let obj = match entry {
            Value::Object(o) => o,
            _ => return Err(VenueError::Unsupported(format!("venue_params[{key:?}]"))),
        };
        for (k, v) in fields {
            if k == "source" && obj.contains_key("source") {
                continue;
            }
            match obj.get(&k) {
                Some(old) if *old != v => {
                    let (a, b) = (old.to_string(), v.to_string());
                    return Err(self.conflict(format!("market.venue_params[{key:?}].{k}"), a, b));
                }
                _ => {
                    obj.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// True when `venue_params[key]` already has `field`.
    pub fn has_param(&self, key: &str, field: &str) -> bool {
        self.market
            .venue_params
            .get(key)
            .and_then(|v| v.get(field))
            .is_some()
    }

    /// Adds a balance of `asset` (whole units, exact) under `sub_account`.
    pub fn balance(
        &mut self,
        asset: &str,
        amount: Decimal,
        sub_account: Option<String>,
        chain_id: Option<u64>,
        field: &str,
    ) -> Result<(), VenueError> {
        let symbol = asset.trim().to_uppercase();
        if symbol.is_empty() {
            return Err(VenueError::Field {
                venue: self.venue,
                file: String::new(),
                path: field.to_string(),
                reason: "empty asset symbol".to_string(),
            });
        }
        let decimals = asset_decimals(&symbol);
        let amount = Amount::from_decimal(amount, decimals, field)
            .map_err(|e| VenueError::model(self.venue, e))?;
        self.balance_units(&symbol, decimals, amount, sub_account, chain_id)
    }

    /// Adds a balance already in base units of an asset with `decimals`.
    pub fn balance_units(
        &mut self,
        symbol: &str,
        decimals: u32,
        amount: Amount,
        sub_account: Option<String>,
        chain_id: Option<u64>,
    ) -> Result<(), VenueError> {
        match self.assets.iter().find(|a| a.symbol == symbol) {
            Some(a) if a.decimals != decimals => {
                return Err(self.conflict(
                    format!("portfolio.assets[{symbol:?}].decimals"),
                    a.decimals.to_string(),
                    decimals.to_string(),
                ))
            }
            Some(_) => {}
            None => self.assets.push(Asset::new(symbol, decimals)),
        }
        // Supplied and borrowed balances of one asset (Aave) are separate entries.
        let sign = if amount.0 < 0 { "debt" } else { "asset" };
        let key = format!("{symbol}/{}/{sign}", sub_account.as_deref().unwrap_or(""));
        if let Some((_, c)) = self.collateral.iter().find(|(k, _)| *k == key) {
            if c.amount != amount {
                return Err(self.conflict(
                    format!("collateral[{key:?}]"),
                    c.amount.to_string(),
                    amount.to_string(),
                ));
            }
            return Ok(());
        }
        self.collateral.push((
            key,
            Collateral {
                venue: self.venue,
                asset: symbol.to_string(),
                amount,
                sub_account,
                chain_id,
            },
        ));
        Ok(())
    }

    /// Adds a position; a repeat with the same `key` fills in missing fields, a different size conflicts.
    pub fn position(&mut self, key: String, p: Position) -> Result<(), VenueError> {
        if let Some(i) = self.positions.iter().position(|(k, _)| *k == key) {
            let venue = self.venue;
            let old = &mut self.positions[i].1;
            if old.size != p.size || old.instrument != p.instrument {
                return Err(VenueError::Conflict {
                    venue,
                    key: format!("position {key}"),
                    first: format!("size {}", old.size),
                    second: format!("size {}", p.size),
                });
            }
            old.entry_price = old.entry_price.or(p.entry_price);
            old.leverage = old.leverage.or(p.leverage);
            old.isolated = old.isolated || p.isolated;
            old.isolated_margin = old.isolated_margin.or(p.isolated_margin);
            old.unrealized_pnl = old.unrealized_pnl.or(p.unrealized_pnl);
            return Ok(());
        }
        self.positions.push((key, p));
        Ok(())
    }

    /// Adds an open order; the same order id read twice (two payloads) must agree.
    pub fn order(&mut self, o: Order) -> Result<(), VenueError> {
        if let Some(id) = &o.id {
            if let Some(old) = self.orders.iter().find(|x| x.id.as_ref() == Some(id)) {
                if *old != o {
                    return Err(self.conflict(
                        format!("orders[id={id:?}]"),
                        format!(
                            "{} {:?} {} left",
                            old.instrument.symbol, old.side, old.remaining
                        ),
                        format!("{} {:?} {} left", o.instrument.symbol, o.side, o.remaining),
                    ));
                }
                return Ok(());
            }
        }
        self.orders.push(o);
        Ok(())
    }

    /// Keeps a figure the venue reported (`symbol` names the position it belongs to); venues
    /// send `0` or `""` for "not applicable", so zero liquidation prices are skipped, and a repeat
    /// of the same figure from another payload is kept once.
    pub fn report(
        &mut self,
        pool: Option<String>,
        symbol: Option<&str>,
        currency: Option<&str>,
        field: &str,
        value: Option<f64>,
        source: &str,
    ) {
        let Some(value) = value.filter(|v| v.is_finite()) else {
            return;
        };
        if field == "liquidation_price" && value <= 0.0 {
            return;
        }
        let instrument = symbol.map(|s| format!("{}:{s}", self.venue));
        if self
            .reported
            .iter()
            .any(|r| r.pool == pool && r.instrument == instrument && r.field == field)
        {
            return;
        }
        self.reported.push(Reported {
            venue: self.venue,
            pool,
            instrument,
            currency: currency.map(str::to_string),
            field: field.to_string(),
            value,
            source: source.to_string(),
        });
    }

    /// The validated snapshot.
    pub fn finish(mut self) -> Result<Snapshot, VenueError> {
        self.market.timestamp_ms = self.timestamp.unwrap_or(0);
        let mut account = Account::new(self.account.clone());
        account.collateral = self.collateral.into_iter().map(|(_, c)| c).collect();
        account.positions = self.positions.into_iter().map(|(_, p)| p).collect();
        account.reported = self.reported;
        account.orders = self.orders;
        let portfolio = Portfolio {
            assets: self.assets,
            accounts: vec![account],
        };
        let snap = Snapshot::new(portfolio, self.market);
        snap.validate()
            .map_err(|e| VenueError::model(self.venue, e))?;
        Ok(snap)
    }
}
