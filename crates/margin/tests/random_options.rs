//! OKX and Bybit standard option margin on random books, against calculators written here from
//! the venues' help pages (not from the rules under test):
//!
//! * OKX "Option Margin" (https://www.okx.com/help/ii-option-margin), coin-margined BTCUSD /
//!   ETHUSD: seller IMR per coin = max(0.1, 0.15 − OTM/F) × MF + mark, MMR = 0.03 (BTC) or 0.05
//!   (ETH) × MF + mark for calls, max(c, c × mark) × MF + mark for puts; buyers none; option
//!   value in equity. Contracts are 0.01 BTC / 0.1 ETH.
//! * Bybit "Initial and Maintenance Margin Calculation (Options)": MM = [max(3 % I, 3 % mark) +
//!   mark + 0.2 % I] × |size|; IM = max{[max(15 % I − OTM, 10 % I) + max(entry, mark)] × |size|,
//!   MM}; options outside the margin balance.
mod venue_support;

use intermargin_margin::venues::bybit::BybitRiskLimit;
use intermargin_margin::venues::okx::OkxTiered;
use intermargin_margin::MarginModel;
use intermargin_model::{Instrument, InstrumentKind, OptionKind, Settlement, SizeUnit, Venue};
use proptest::prelude::*;
use venue_support::*;

fn option(
    venue: Venue,
    symbol: &str,
    coin: &str,
    settle: &str,
    strike: f64,
    call: bool,
    cs: f64,
) -> Instrument {
    Instrument {
        venue,
        symbol: symbol.into(),
        kind: InstrumentKind::Option {
            expiry_ms: 4_102_444_800_000,
            strike,
            option_kind: if call {
                OptionKind::Call
            } else {
                OptionKind::Put
            },
        },
        underlying: coin.into(),
        quote: if settle == coin {
            "USD".into()
        } else {
            settle.into()
        },
        settle: settle.into(),
        settlement: if settle == coin {
            Settlement::Inverse
        } else {
            Settlement::Linear
        },
        contract_size: cs,
        size_unit: SizeUnit::Base,
    }
}

fn rel(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

/// One random option leg: (call?, strike as a fraction of the index, signed contracts, mark as a
/// fraction of the index, entry as a fraction of the index).
fn leg() -> impl Strategy<Value = (bool, f64, i64, f64, f64)> {
    (
        any::<bool>(),
        0.3f64..2.0,
        prop_oneof![(1i64..500), (-500i64..-1)],
        0.0001f64..0.5,
        0.0001f64..0.5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn okx_coin_margined_options(
        eth in any::<bool>(),
        index in 1_000.0f64..150_000.0,
        forward_premium in -0.05f64..0.05,
        balance in 0.0f64..50.0,
        legs in prop::collection::vec(leg(), 1..6),
    ) {
        let (coin, cs, c) = if eth { ("ETH", 0.1, 0.05) } else { ("BTC", 0.01, 0.03) };
        let forward = index * (1.0 + forward_premium);
        let mut m = market();
        m.index_prices.insert(format!("okx:{coin}"), index);
        m.mark_prices.insert(format!("okx:{coin}-USD-991231"), forward);
        let mut positions = Vec::new();
        let (mut im, mut mm, mut value) = (0.0, 0.0, 0.0);
        for (k, (call, kf, n, markf, _)) in legs.iter().enumerate() {
            let strike = (index * kf).round();
            let sym = format!("{coin}-USD-991231-{strike}-{}{k}", if *call { "C" } else { "P" });
            let ins = option(Venue::Okx, &sym, coin, coin, strike, *call, cs);
            // Coin-margined marks are in coin per coin.
            let mark = markf * 0.2;
            m.mark_prices.insert(ins.id(), mark);
            positions.push(pos(ins, *n as f64, None));
            let q = *n as f64 * cs;
            value += q * mark;
            if *n < 0 {
                let otm = if *call { (strike - forward).max(0.0) } else { (forward - strike).max(0.0) };
                let imr = f64::max(0.1, 0.15 - otm / forward) + mark;
                let mmr = if *call { c + mark } else { f64::max(c, c * mark) + mark };
                im += imr * q.abs();
                mm += mmr * q.abs();
            }
        }
        // The k suffix keeps legs of one strike distinct; the rules read only the family
        // (first two fields) and the expiry (third) from the symbol.
        let decimals = if eth { 18 } else { 8 };
        let acc = account(vec![coll(Venue::Okx, coin, balance, decimals)], positions);
        let out = OkxTiered::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let pool = out.iter().find(|p| p.pool == "cross" && p.settlement == coin).unwrap();
        rel(pool.initial_margin, im, "IMR");
        rel(pool.maintenance_margin, mm, "MMR");
        let held = (balance * 10f64.powi(decimals as i32)).round() / 10f64.powi(decimals as i32);
        rel(pool.equity, held + value, "equity");
    }

    #[test]
    fn bybit_usdc_options(
        index in 1_000.0f64..150_000.0,
        balance in 0.0f64..1_000_000.0,
        legs in prop::collection::vec(leg(), 1..6),
    ) {
        let mut m = market();
        m.index_prices.insert("bybit:BTC".into(), index);
        let mut positions = Vec::new();
        let (mut im, mut mm) = (0.0, 0.0);
        for (k, (call, kf, n, markf, entryf)) in legs.iter().enumerate() {
            let strike = (index * kf).round() + k as f64;
            let sym = format!("BTC-31DEC99-{strike}-{}", if *call { "C" } else { "P" });
            let ins = option(Venue::Bybit, &sym, "BTC", "USDC", strike, *call, 1.0);
            let mark = markf * index;
            let entry = entryf * index;
            m.mark_prices.insert(ins.id(), mark);
            let q = *n as f64 / 100.0;
            positions.push(pos(ins, q, Some(entry)));
            if *n < 0 {
                let otm = if *call { (strike - index).max(0.0) } else { (index - strike).max(0.0) };
                let pmm = (f64::max(0.03 * index, 0.03 * mark) + mark + 0.002 * index) * q.abs();
                let pim = ((0.15 * index - otm).max(0.10 * index) + entry.max(mark)) * q.abs();
                im += pim.max(pmm);
                mm += pmm;
            }
        }
        let acc = account(vec![coll(Venue::Bybit, "USDC", balance, 6)], positions);
        let out = BybitRiskLimit::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let pool = out.iter().find(|p| p.pool == "cross" && p.settlement == "USDC").unwrap();
        rel(pool.initial_margin, im, "IM");
        rel(pool.maintenance_margin, mm, "MM");
        rel(pool.equity, (balance * 1e6).round() / 1e6, "margin balance");
    }
}
