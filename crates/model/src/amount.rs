use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;

/// An asset and the number of decimals of its base unit, so that amounts stay exact integers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Asset {
    /// Ticker, upper case (`BTC`, `USDT`).
    pub symbol: String,
    /// Number of decimals in one whole unit (BTC 8, ETH 18, USDC 6).
    pub decimals: u32,
}

impl Asset {
    /// Builds an asset from its ticker and decimals.
    pub fn new(symbol: impl Into<String>, decimals: u32) -> Self {
        Asset {
            symbol: symbol.into(),
            decimals,
        }
    }
}

/// Money that moves: a signed integer count of an asset's base units (e.g. satoshi).
///
/// Serialised as a decimal string (`"150000000"`) because JSON numbers lose digits
/// beyond 2^53 in most readers; plain JSON integers are accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub i128);

impl Amount {
    /// Zero base units.
    pub const ZERO: Amount = Amount(0);

    /// Exact conversion of a decimal quantity of whole units into base units.
    ///
    /// Digits finer than the asset's base unit are truncated toward zero
    /// (a balance is never overstated).
    pub fn from_decimal(value: Decimal, decimals: u32, field: &str) -> Result<Amount, ModelError> {
        let scaled = value
            .checked_mul(pow10_decimal(decimals, field)?)
            .ok_or_else(|| ModelError::Overflow {
                field: field.to_string(),
            })?
            .trunc();
        scaled
            .to_i128()
            .map(Amount)
            .ok_or_else(|| ModelError::Overflow {
                field: field.to_string(),
            })
    }

    /// The amount as an exact decimal of whole units.
    pub fn to_decimal(self, decimals: u32) -> Decimal {
        // i128 values beyond Decimal's 96-bit mantissa saturate; such balances do not exist.
        let mut d = Decimal::from_i128_with_scale(self.0.clamp(-(1i128 << 95), 1i128 << 95), 0);
        d.set_scale(decimals.min(28)).ok();
        d
    }

    /// Whole units as `f64`, for risk estimates only.
    pub fn to_f64(self, decimals: u32) -> f64 {
        self.0 as f64 / 10f64.powi(decimals as i32)
    }

    /// A requirement in whole units rounded *up* to base units (against the account).
    pub fn from_f64_requirement(
        value: f64,
        decimals: u32,
        field: &str,
    ) -> Result<Amount, ModelError> {
        Self::from_f64_rounded(value, decimals, field, f64::ceil)
    }

    /// Equity in whole units rounded *down* to base units (against the account).
    pub fn from_f64_equity(value: f64, decimals: u32, field: &str) -> Result<Amount, ModelError> {
        Self::from_f64_rounded(value, decimals, field, f64::floor)
    }

    fn from_f64_rounded(
        value: f64,
        decimals: u32,
        field: &str,
        round: fn(f64) -> f64,
    ) -> Result<Amount, ModelError> {
        crate::error::finite(field, value)?;
        let scaled = round(value * 10f64.powi(decimals as i32));
        if scaled.abs() >= 1.0e38 {
            return Err(ModelError::Overflow {
                field: field.to_string(),
            });
        }
        Ok(Amount(scaled as i128))
    }

    /// Checked addition that names what overflowed.
    pub fn checked_add(self, other: Amount, field: &str) -> Result<Amount, ModelError> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or_else(|| ModelError::Overflow {
                field: field.to_string(),
            })
    }

    /// Checked subtraction that names what overflowed.
    pub fn checked_sub(self, other: Amount, field: &str) -> Result<Amount, ModelError> {
        self.0
            .checked_sub(other.0)
            .map(Amount)
            .ok_or_else(|| ModelError::Overflow {
                field: field.to_string(),
            })
    }
}

fn pow10_decimal(decimals: u32, field: &str) -> Result<Decimal, ModelError> {
    let mut d = Decimal::ONE;
    for _ in 0..decimals {
        d = d
            .checked_mul(Decimal::TEN)
            .ok_or_else(|| ModelError::Overflow {
                field: field.to_string(),
            })?;
    }
    Ok(d)
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Amount {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<i128>().map(Amount).map_err(|e| {
            ModelError::Json(format!(
                "amount: expected an integer of base units, got {s:?} ({e})"
            ))
        })
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer number of base units, as a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Amount, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount(v as i128))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount(v as i128))
            }
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Amount, E> {
                Ok(Amount(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "expected an integer of base units, got the fraction {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> String {
        "Amount".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        use schemars::schema::{InstanceType, Metadata, SchemaObject, StringValidation};
        SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            string: Some(Box::new(StringValidation {
                pattern: Some("^-?[0-9]+$".to_string()),
                ..Default::default()
            })),
            metadata: Some(Box::new(Metadata {
                description: Some(
                    "Integer count of the asset's base units, as a decimal string".into(),
                ),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_convert_exactly_to_base_units() {
        let d = Decimal::from_str("1.23456789").unwrap();
        assert_eq!(
            Amount::from_decimal(d, 8, "x").unwrap(),
            Amount(123_456_789)
        );
        // finer than a satoshi truncates toward zero
        let d = Decimal::from_str("0.000000019").unwrap();
        assert_eq!(Amount::from_decimal(d, 8, "x").unwrap(), Amount(1));
        let d = Decimal::from_str("-2.5").unwrap();
        assert_eq!(Amount::from_decimal(d, 6, "x").unwrap(), Amount(-2_500_000));
    }

    #[test]
    fn requirement_rounds_up_and_equity_rounds_down() {
        assert_eq!(
            Amount::from_f64_requirement(1.000_000_001, 6, "im").unwrap(),
            Amount(1_000_001)
        );
        assert_eq!(
            Amount::from_f64_equity(1.000_000_9, 6, "eq").unwrap(),
            Amount(1_000_000)
        );
        assert!(Amount::from_f64_equity(f64::NAN, 6, "eq").is_err());
    }

    #[test]
    fn amounts_serialise_as_strings_and_read_integers_too() {
        let a = Amount(12345678901234567890);
        let s = serde_json::to_string(&a).unwrap();
        assert_eq!(s, "\"12345678901234567890\"");
        assert_eq!(serde_json::from_str::<Amount>(&s).unwrap(), a);
        assert_eq!(serde_json::from_str::<Amount>("42").unwrap(), Amount(42));
        assert!(serde_json::from_str::<Amount>("\"1.5\"").is_err());
    }

    #[test]
    fn checked_ops_report_overflow() {
        assert!(Amount(i128::MAX).checked_add(Amount(1), "sum").is_err());
        assert_eq!(Amount(5).checked_sub(Amount(7), "d").unwrap(), Amount(-2));
        assert_eq!(Amount(150).to_decimal(2).to_string(), "1.50");
    }
}
