//! Shared printing helpers: JSON to stdout, or an aligned text table.

use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows as a left-aligned table with a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<w$}", c, w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(header.iter().map(|s| s.to_string()).collect()));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for r in rows {
        println!("{}", line(r.clone()));
    }
}

/// Reads a file to a string, naming the path on failure.
pub fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read file: {e}", path.display()))
}

/// Groups the integer part of a plain decimal string in thousands (`1234567.5` → `1,234,567.5`).
pub fn group_thousands(plain: &str) -> String {
    let (sign, rest) = match plain.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", plain),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return plain.to_string();
    }
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A money figure a person reads: two decimals, thousands grouped, its currency after it.
pub fn money(v: f64, currency: &str) -> String {
    if !v.is_finite() {
        return format!("{v} {currency}");
    }
    // Round first so -0.004 does not print as "-0.00".
    let r = (v * 100.0).round() / 100.0;
    let r = if r == 0.0 { 0.0 } else { r };
    format!("{} {currency}", group_thousands(&format!("{r:.2}")))
}

/// A risk figure in a margin pool's currency: 2 decimals for dollar pools (`USD`, `USDT`, `USDC`,
/// …), 6 for coins, with the symbol.
pub fn pool_amount(v: f64, currency: &str) -> String {
    if is_dollar(currency) {
        money(v, currency)
    } else if v.is_finite() {
        let r = if v.abs() < 5e-7 { 0.0 } else { v };
        format!("{} {currency}", group_thousands(&format!("{r:.6}")))
    } else {
        format!("{v} {currency}")
    }
}

/// Whether a currency is the dollar or a dollar stablecoin (figures shown with 2 decimals).
pub fn is_dollar(currency: &str) -> bool {
    matches!(
        currency.to_ascii_uppercase().as_str(),
        "USD" | "USDT" | "USDC" | "DAI" | "FDUSD" | "USDE" | "PYUSD" | "BUSD" | "TUSD"
    )
}

/// An exact base-unit amount as a decimal in the asset's units (`113852667364`, 8 → `1,138.52667364`).
pub fn base_units(amount: intermargin_model::Amount, decimals: u32, symbol: &str) -> String {
    let d = amount.to_decimal(decimals).to_string();
    format!("{} {symbol}", group_thousands(&trim_decimals(&d, 2)))
}

/// Trims trailing zeros of a decimal string but keeps at least `keep` places.
fn trim_decimals(s: &str, keep: usize) -> String {
    let Some((int, frac)) = s.split_once('.') else {
        return if keep == 0 {
            s.to_string()
        } else {
            format!("{s}.{}", "0".repeat(keep))
        };
    };
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < keep {
        frac.push('0');
    }
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// A ratio as a percentage with two decimals (`0.0403` → `4.03 %`); `∞` when not finite.
pub fn percent(r: f64) -> String {
    if r.is_finite() {
        format!("{} %", group_thousands(&format!("{:.2}", r * 100.0)))
    } else {
        "∞".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intermargin_model::Amount;

    #[test]
    fn base_units_print_in_the_assets_units_with_the_symbol() {
        assert_eq!(
            base_units(Amount(113_852_667_364), 8, "BTC"),
            "1,138.52667364 BTC"
        );
        assert_eq!(
            base_units(Amount(200_000_000_000), 6, "USDC"),
            "200,000.00 USDC"
        );
        assert_eq!(base_units(Amount(-5), 0, "USD"), "-5.00 USD");
    }

    #[test]
    fn money_and_percent_carry_their_unit() {
        assert_eq!(money(1_234_567.891, "USD"), "1,234,567.89 USD");
        assert_eq!(money(-0.004, "USD"), "0.00 USD");
        assert_eq!(money(-12.5, "USDT"), "-12.50 USDT");
        assert_eq!(percent(0.0403), "4.03 %");
        assert_eq!(percent(f64::INFINITY), "∞");
        assert_eq!(pool_amount(0.5, "BTC"), "0.500000 BTC");
        assert_eq!(pool_amount(133_652.091_2, "USDT"), "133,652.09 USDT");
        assert_eq!(group_thousands("-1234.5"), "-1,234.5");
    }
}
