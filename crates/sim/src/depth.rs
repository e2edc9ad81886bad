//! Published order-book depth per venue and asset (`params/depth.toml`), fitted to the engine's
//! impact law `move = k · (notional / depth)^alpha` so configs can name a venue's book instead of
//! writing illustrative numbers.

use serde::Deserialize;

use crate::error::{cfg, SimError};

const DEPTH_TOML: &str = include_str!("../params/depth.toml");
const FILE: &str = "params/depth.toml";

/// One published book as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBook {
    venue: String,
    asset: String,
    source: String,
    as_of: String,
    #[allow(dead_code)]
    confirmed: bool,
    points: Vec<[f64; 2]>,
    #[serde(default)]
    alpha: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    book: Vec<RawBook>,
}

/// A venue's book fitted to the impact law.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    /// Venue name.
    pub venue: String,
    /// Asset name.
    pub asset: String,
    /// Fractional move at `depth`.
    pub k: f64,
    /// Impact exponent.
    pub alpha: f64,
    /// Notional that moves the price by `k`.
    pub depth: f64,
    /// Where the figures were published.
    pub source: String,
    /// Date of the figures.
    pub as_of: String,
}

/// All published books.
#[derive(Debug, Clone)]
pub struct DepthData {
    books: Vec<Book>,
}

impl DepthData {
    /// The bundled `params/depth.toml`.
    pub fn bundled() -> Result<DepthData, SimError> {
        DepthData::from_toml(DEPTH_TOML, FILE)
    }

    /// Parses and fits a depth file; errors name the file and the book.
    pub fn from_toml(text: &str, file: &str) -> Result<DepthData, SimError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| cfg(file, format!("unreadable: {e}")))?;
        let mut books = Vec::with_capacity(raw.book.len());
        for (i, b) in raw.book.into_iter().enumerate() {
            let key = |f: &str| format!("{file}: book[{i}].{f}");
            if b.source.trim().is_empty() || b.as_of.trim().is_empty() {
                return Err(cfg(key("source"), "each book cites its source and as_of"));
            }
            let mut pts = b.points.clone();
            if pts.is_empty() || pts.len() > 2 {
                return Err(cfg(
                    key("points"),
                    "give one or two [fraction, notional] points",
                ));
            }
            if pts
                .iter()
                .any(|p| !(p[0].is_finite() && p[0] > 0.0 && p[1].is_finite() && p[1] > 0.0))
            {
                return Err(cfg(key("points"), "fractions and notionals must be > 0"));
            }
            pts.sort_by(|a, c| a[0].total_cmp(&c[0]));
            let widest = pts[pts.len() - 1];
            let alpha = match (pts.len(), b.alpha) {
                (2, None) => {
                    let (f1, n1, f2, n2) = (pts[0][0], pts[0][1], pts[1][0], pts[1][1]);
                    if !(f2 > f1 && n2 > n1) {
                        return Err(cfg(key("points"), "a wider band must hold more notional"));
                    }
                    (f2 / f1).ln() / (n2 / n1).ln()
                }
                (1, Some(a)) if a.is_finite() && a > 0.0 => a,
                (1, _) => {
                    return Err(cfg(
                        key("alpha"),
                        "one point fixes k and depth only: give alpha (> 0)",
                    ))
                }
                _ => {
                    return Err(cfg(
                        key("alpha"),
                        "two points fit alpha: do not give it as well",
                    ))
                }
            };
            books.push(Book {
                venue: b.venue,
                asset: b.asset,
                k: widest[0],
                alpha,
                depth: widest[1],
                source: b.source,
                as_of: b.as_of,
            });
        }
        Ok(DepthData { books })
    }

    /// The book of `venue` for `asset`.
    pub fn get(&self, venue: &str, asset: &str) -> Option<&Book> {
        self.books
            .iter()
            .find(|b| b.venue == venue && b.asset == asset)
    }

    /// Every book.
    pub fn books(&self) -> &[Book] {
        &self.books
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_points_fit_the_exponent_and_reproduce_both_points() {
        let d = DepthData::bundled().unwrap();
        let b = d.get("binance", "BTC").unwrap();
        // Through both published points: 10 bps at 3.5M, 100 bps at 16.53M.
        let mv = |n: f64| b.k * (n / b.depth).powf(b.alpha);
        assert!((mv(16.53e6) - 0.01).abs() < 1e-12);
        assert!((mv(3.5e6) - 0.001).abs() < 1e-12);
        // Amberdata: a $10M order moves the price "more than 50 bps"; the fit is within 10 % of it.
        assert!((mv(10e6) - 0.005).abs() < 0.0005, "{}", mv(10e6));
    }

    #[test]
    fn a_book_without_its_source_or_exponent_is_refused_naming_it() {
        let e = DepthData::from_toml(
            "[[book]]\nvenue='x'\nasset='BTC'\nsource='s'\nas_of='d'\nconfirmed=false\npoints=[[0.01, 1e6]]\n",
            "d.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("book[0].alpha"), "{e}");
        let e = DepthData::from_toml(
            "[[book]]\nvenue='x'\nasset='BTC'\nsource=''\nas_of='d'\nconfirmed=false\npoints=[[0.01, 1e6]]\nalpha=1.0\n",
            "d.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("book[0].source"), "{e}");
    }
}
