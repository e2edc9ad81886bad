//! Builders shared by the liquidation tests (test-only testkit).
#![allow(dead_code)]

use std::collections::BTreeMap;

use intermargin_liquidation::*;
use intermargin_model::*;

pub fn perp(venue: Venue, symbol: &str, underlying: &str) -> Instrument {
    Instrument {
        venue,
        symbol: symbol.into(),
        kind: InstrumentKind::Perpetual,
        underlying: underlying.into(),
        quote: "USD".into(),
        settle: "USD".into(),
        settlement: Settlement::Linear,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

pub fn account(collateral_usd: f64, legs: &[(Instrument, f64, f64)]) -> Account {
    let mut a = Account::new("acct");
    a.collateral.push(Collateral {
        venue: legs.first().map(|l| l.0.venue).unwrap_or(Venue::Dydx),
        asset: "USD".into(),
        amount: Amount((collateral_usd * 1e6).round() as i128),
        sub_account: None,
        chain_id: None,
    });
    for (i, size, entry) in legs {
        let mut p = Position::new(i.clone(), *size);
        p.entry_price = Some(*entry);
        a.positions.push(p);
    }
    a
}

pub fn market(marks: &[(&str, f64)]) -> Market {
    let mut m = Market::new(1_700_000_000_000, "USD");
    for (id, p) in marks {
        m.mark_prices.insert(id.to_string(), *p);
        let (venue, sym) = id.split_once(':').unwrap();
        let und = sym.split('-').next().unwrap();
        m.index_prices.insert(format!("{venue}:{und}"), *p);
    }
    m
}

pub fn rates(imf: f64, mmf: f64) -> RateRequirement {
    let mut decimals = BTreeMap::new();
    decimals.insert("USD".to_string(), 6);
    RateRequirement {
        rates: BTreeMap::new(),
        default: Rates { imf, mmf },
        decimals,
    }
}

/// Rules with one fee for every venue and full closes allowed.
pub fn flat_rules(fee: f64) -> RuleBook {
    RuleBook::from_toml(
        &format!(
            "[default]\nsource = \"https://example.test/rules\"\nliquidation_fee = {fee}\ninsurance_share = 0.5\nmax_close_fraction = 1.0\nbankruptcy = [\"insurance_fund\", \"adl\", \"socialised\"]\n"
        ),
        "test.toml",
    )
    .unwrap()
}

pub fn no_impact() -> DepthBook {
    DepthBook {
        default: ImpactParams {
            k: 0.0,
            alpha: 1.0,
            depth: 1.0,
        },
        instruments: BTreeMap::new(),
    }
}

/// A netting model: maintenance = mmf × |Σ signed notional| per underlying; a short hedge
/// against a long lowers the requirement, so closing the hedge would raise it.
pub struct NetDelta {
    pub inner: RateRequirement,
}

impl RequirementFn for NetDelta {
    fn requirement(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Requirement, LiquidationError> {
        let gross = self.inner.requirement(account, market)?;
        let mut net: BTreeMap<String, f64> = BTreeMap::new();
        for p in &account.positions {
            let v = leg_value(p, market)?;
            *net.entry(p.instrument.underlying.clone()).or_default() +=
                p.size * v.notional_per_contract;
        }
        let n: f64 = net.values().map(|x| x.abs()).sum();
        Ok(Requirement {
            figures: Figures {
                equity: gross.figures.equity,
                initial: n * self.inner.default.imf,
                maintenance: n * self.inner.default.mmf,
            },
            driver: gross.driver,
            pools: Vec::new(),
        })
    }
}
