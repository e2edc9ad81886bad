//! Builders shared by the venue-rule tests (test-only).
#![allow(dead_code)]

use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, OptionKind, Position,
    Settlement, SizeUnit, Venue,
};

/// A perpetual on `venue`.
pub fn perp(
    venue: Venue,
    symbol: &str,
    underlying: &str,
    settle: &str,
    settlement: Settlement,
    cs: f64,
    unit: SizeUnit,
) -> Instrument {
    Instrument {
        venue,
        symbol: symbol.into(),
        kind: InstrumentKind::Perpetual,
        underlying: underlying.into(),
        quote: if settlement == Settlement::Inverse {
            "USD".into()
        } else {
            settle.into()
        },
        settle: settle.into(),
        settlement,
        contract_size: cs,
        size_unit: unit,
    }
}

/// A linear perpetual with 1 base unit per contract.
pub fn linear_perp(venue: Venue, symbol: &str, underlying: &str, settle: &str) -> Instrument {
    perp(
        venue,
        symbol,
        underlying,
        settle,
        Settlement::Linear,
        1.0,
        SizeUnit::Base,
    )
}

/// An inverse (coin-settled) option on 1 coin.
pub fn inverse_option(symbol: &str, underlying: &str, strike: f64, kind: OptionKind) -> Instrument {
    Instrument {
        venue: Venue::Deribit,
        symbol: symbol.into(),
        kind: InstrumentKind::Option {
            expiry_ms: 4_102_444_800_000,
            strike,
            option_kind: kind,
        },
        underlying: underlying.into(),
        quote: "USD".into(),
        settle: underlying.into(),
        settlement: Settlement::Inverse,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

/// A position with an entry price.
pub fn pos(instrument: Instrument, size: f64, entry: Option<f64>) -> Position {
    let mut p = Position::new(instrument, size);
    p.entry_price = entry;
    p
}

/// A balance of `units` whole units of `asset` (with `decimals`) at `venue`.
pub fn coll(venue: Venue, asset: &str, units: f64, decimals: u32) -> Collateral {
    Collateral {
        venue,
        asset: asset.into(),
        amount: Amount((units * 10f64.powi(decimals as i32)).round() as i128),
        sub_account: None,
        chain_id: None,
    }
}

/// The usual asset table.
pub fn assets() -> Vec<Asset> {
    vec![
        Asset::new("BTC", 8),
        Asset::new("ETH", 18),
        Asset::new("SOL", 9),
        Asset::new("USDT", 6),
        Asset::new("USDC", 6),
        Asset::new("WETH", 18),
        Asset::new("WBTC", 8),
    ]
}

/// An account with the given balances and positions.
pub fn account(collateral: Vec<Collateral>, positions: Vec<Position>) -> Account {
    Account {
        id: "acct".into(),
        collateral,
        positions,
        reported: Vec::new(),
        orders: Vec::new(),
    }
}

/// A USD-quoted market.
pub fn market() -> Market {
    let mut m = Market::new(1_700_000_000_000, "USD");
    for (k, v) in [("USDT", 1.0), ("USDC", 1.0)] {
        m.fx.insert(k.into(), v);
    }
    m
}

/// Asserts equality to a tolerance with a readable message.
pub fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (±{tol})"
    );
}
