//! Plots (SVG and PNG) with `plotters`; text uses the bundled DejaVu Sans through `ab_glyph`,
//! so no system font library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::config::Margining;
use crate::engine::TimelinePoint;
use crate::error::SimError;
use crate::run::{Frontier, RunOutput};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static INIT: Once = Once::new();

fn init_font() {
    INIT.call_once(|| {
        // The bundled font is valid; a failure would only leave text unrendered.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

type Draw<'a> = dyn Fn(&DrawingArea<SVGBackend, Shift>) -> Result<(), String> + 'a;
type DrawPng<'a> = dyn Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String> + 'a;

fn write_both(base: &Path, svg: &Draw, png: &DrawPng) -> Result<Vec<PathBuf>, SimError> {
    init_font();
    let s = base.with_extension("svg");
    let p = base.with_extension("png");
    let perr = |f: &Path, e: String| SimError::Plot {
        file: f.display().to_string(),
        reason: e,
    };
    {
        let root = SVGBackend::new(&s, (1000, 700)).into_drawing_area();
        svg(&root).map_err(|e| perr(&s, e))?;
        root.present().map_err(|e| perr(&s, e.to_string()))?;
    }
    {
        let root = BitMapBackend::new(&p, (1000, 700)).into_drawing_area();
        png(&root).map_err(|e| perr(&p, e))?;
        root.present().map_err(|e| perr(&p, e.to_string()))?;
    }
    Ok(vec![s, p])
}

fn se<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn exceedance(sample: &[f64]) -> Vec<(f64, f64)> {
    let mut s: Vec<f64> = sample.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    s.iter()
        .enumerate()
        .map(|(i, x)| (*x, ((n - i as f64) / n).max(1.0 / n)))
        .collect()
}

fn draw_loss<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: &[f64],
    b: Option<&[f64]>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(se)?;
    let ea = exceedance(a);
    let eb = b.map(exceedance);
    let xmax = ea
        .iter()
        .chain(eb.iter().flatten())
        .map(|p| p.0)
        .fold(1.0, f64::max)
        * 1.05;
    let ymin = 1.0 / (a.len().max(1) as f64) * 0.5;
    let mut chart = ChartBuilder::on(root)
        .caption("Bad debt: probability of exceeding x", ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..xmax, (ymin..1.0).log_scale())
        .map_err(se)?;
    chart
        .configure_mesh()
        .x_desc("bad debt (USD, the configs' quote currency)")
        .y_desc("P(bad debt > x)")
        .draw()
        .map_err(se)?;
    chart
        .draw_series(LineSeries::new(ea, RED.stroke_width(2)))
        .map_err(se)?
        .label("without breakers")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    if let Some(eb) = eb {
        chart
            .draw_series(LineSeries::new(eb, BLUE.stroke_width(2)))
            .map_err(se)?
            .label("with breakers")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(se)?;
    Ok(())
}

/// Exceedance curve of bad debt per path, without and with breakers.
pub fn loss_distribution(
    base: &Path,
    a: &[f64],
    b: Option<&[f64]>,
) -> Result<Vec<PathBuf>, SimError> {
    write_both(base, &|r| draw_loss(r, a, b), &|r| draw_loss(r, a, b))
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: &[TimelinePoint],
    b: Option<&[TimelinePoint]>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(se)?;
    let (top, bottom) = root.split_vertically(380);
    let n = a.len().max(1) as f64;
    let pmin = a
        .iter()
        .chain(b.iter().copied().flatten())
        .map(|p| p.prices[0])
        .fold(f64::INFINITY, f64::min);
    let pmax = a
        .iter()
        .chain(b.iter().copied().flatten())
        .map(|p| p.prices[0])
        .fold(0.0, f64::max);
    let mut c1 = ChartBuilder::on(&top)
        .caption(
            "Cascade timeline (worst path): price of the first asset",
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n, (pmin * 0.98)..(pmax * 1.02).max(pmin * 0.98 + 1e-9))
        .map_err(se)?;
    c1.configure_mesh()
        .y_desc("price (USD)")
        .draw()
        .map_err(se)?;
    c1.draw_series(LineSeries::new(
        a.iter().map(|p| (p.step as f64, p.prices[0])),
        RED.stroke_width(2),
    ))
    .map_err(se)?
    .label("without breakers")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    if let Some(b) = b {
        c1.draw_series(LineSeries::new(
            b.iter().map(|p| (p.step as f64, p.prices[0])),
            BLUE.stroke_width(2),
        ))
        .map_err(se)?
        .label("with breakers")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    }
    c1.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(se)?;
    let lmax = a
        .iter()
        .chain(b.iter().copied().flatten())
        .map(|p| p.liquidated)
        .fold(1.0, f64::max);
    let mut c2 = ChartBuilder::on(&bottom)
        .caption("Liquidated notional per step", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n, 0.0..lmax * 1.05)
        .map_err(se)?;
    c2.configure_mesh()
        .x_desc("step (one step = the config's dt_seconds)")
        .y_desc("liquidated notional (USD)")
        .draw()
        .map_err(se)?;
    c2.draw_series(AreaSeries::new(
        a.iter().map(|p| (p.step as f64, p.liquidated)),
        0.0,
        RED.mix(0.4),
    ))
    .map_err(se)?;
    if let Some(b) = b {
        c2.draw_series(LineSeries::new(
            b.iter().map(|p| (p.step as f64, p.liquidated)),
            BLUE.stroke_width(1),
        ))
        .map_err(se)?;
    }
    Ok(())
}

/// Price and liquidations per step of one path, without and with breakers.
pub fn cascade_timeline(
    base: &Path,
    a: &[TimelinePoint],
    b: Option<&[TimelinePoint]>,
) -> Result<Vec<PathBuf>, SimError> {
    write_both(base, &|r| draw_timeline(r, a, b), &|r| {
        draw_timeline(r, a, b)
    })
}

fn draw_frontier<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    f: &Frontier,
) -> Result<(), String> {
    use crate::run::FrontierPoint;
    root.fill(&WHITE).map_err(se)?;
    let paths = f.points.first().map(|p| p.paths).unwrap_or(0);
    let (top, bottom) = root.split_vertically(60);
    let target = match f.target_prob_bad_debt {
        Some(t) => {
            let said: Vec<String> = f
                .target_multipliers
                .iter()
                .map(|m| {
                    let name = if m.margining == Margining::Siloed {
                        "siloed"
                    } else {
                        "unified"
                    };
                    match (m.im_multiplier, m.capital_efficiency) {
                        (Some(x), Some(e)) => format!("{name} from x{x} ({e:.1}x leverage)"),
                        _ => format!("{name}: no swept multiplier"),
                    }
                })
                .collect();
            format!(
                "P(bad debt) < {:.1} % (upper 95 % bound): {}",
                t * 100.0,
                said.join("; ")
            )
        }
        None => "no P(bad debt) target set (frontier.target_prob_bad_debt)".to_string(),
    };
    top.draw(&Text::new(
        format!("Solvency-efficiency frontier, {paths} paths per point, 95 % intervals as bars"),
        (20, 8),
        ("sans-serif", 20),
    ))
    .map_err(se)?;
    top.draw(&Text::new(target, (20, 34), ("sans-serif", 16)))
        .map_err(se)?;
    let (left, right) = bottom.split_horizontally(500);
    let xmax = f
        .points
        .iter()
        .map(|p| p.capital_efficiency)
        .fold(1.0, f64::max)
        * 1.1;
    type Get = fn(&FrontierPoint) -> (f64, f64, f64);
    let prob: Get = |p| {
        (
            p.prob_bad_debt,
            p.prob_bad_debt_ci[0],
            p.prob_bad_debt_ci[1],
        )
    };
    let mean: Get = |p| {
        (
            p.mean_bad_debt,
            p.mean_bad_debt_ci[0],
            p.mean_bad_debt_ci[1],
        )
    };
    for (area, title, get, is_prob) in [
        (&left, "P(bad debt > 0 on a path) vs leverage", prob, true),
        (
            &right,
            "Expected bad debt per path vs leverage",
            mean,
            false,
        ),
    ] {
        let mut ymax = f.points.iter().map(|p| get(p).2).fold(0.0, f64::max);
        if is_prob {
            ymax = ymax.max(f.target_prob_bad_debt.unwrap_or(0.0));
        }
        let ymax = ymax.max(1e-9) * 1.1;
        let mut c = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..xmax, 0.0..ymax)
            .map_err(se)?;
        c.configure_mesh()
            .x_desc("capital efficiency: notional / collateral (x)")
            .y_desc(if is_prob {
                "probability (per 1-day path)"
            } else {
                "bad debt per path (USD)"
            })
            .draw()
            .map_err(se)?;
        if let (true, Some(t)) = (is_prob, f.target_prob_bad_debt) {
            c.draw_series(LineSeries::new(
                vec![(0.0, t), (xmax, t)],
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(se)?
            .label(format!("target {:.1} %", t * 100.0))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        for (mode, color) in [(Margining::Siloed, RED), (Margining::Unified, BLUE)] {
            let mut pts: Vec<&FrontierPoint> =
                f.points.iter().filter(|p| p.margining == mode).collect();
            pts.sort_by(|a, b| a.capital_efficiency.total_cmp(&b.capital_efficiency));
            let line: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.capital_efficiency, get(p).0))
                .collect();
            c.draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(se)?
                .label(if mode == Margining::Siloed {
                    "siloed"
                } else {
                    "unified"
                })
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            c.draw_series(pts.iter().map(|p| {
                let (v, lo, hi) = get(p);
                ErrorBar::new_vertical(p.capital_efficiency, lo, v, hi, color.stroke_width(1), 8)
            }))
            .map_err(se)?;
            c.draw_series(pts.iter().map(|p| {
                let x = (p.capital_efficiency, get(p).0);
                let default = (p.im_multiplier - f.default_multiplier).abs() < 1e-12;
                EmptyElement::at(x)
                    + Circle::new((0, 0), if default { 7 } else { 4 }, color.filled())
                    + Text::new(
                        if default {
                            format!("x{} (default)", p.im_multiplier)
                        } else {
                            format!("x{}", p.im_multiplier)
                        },
                        // Siloed labels above their points, unified below, so the two curves'
                        // labels at nearby efficiencies do not overprint.
                        if mode == Margining::Siloed {
                            (6, -16)
                        } else {
                            (6, 6)
                        },
                        ("sans-serif", 12),
                    )
            }))
            .map_err(se)?;
            if is_prob {
                let chosen = f
                    .target_multipliers
                    .iter()
                    .find(|m| m.margining == mode)
                    .and_then(|m| m.im_multiplier);
                if let Some(p) = pts.iter().find(|p| Some(p.im_multiplier) == chosen) {
                    let x = (p.capital_efficiency, get(p).0);
                    c.draw_series(std::iter::once(
                        EmptyElement::at(x)
                            + Rectangle::new([(-9, -9), (9, 9)], color.stroke_width(2))
                            + Text::new(
                                "meets target",
                                if mode == Margining::Siloed {
                                    (-84, -30)
                                } else {
                                    (12, -30)
                                },
                                ("sans-serif", 12),
                            ),
                    ))
                    .map_err(se)?;
                }
            }
        }
        c.configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
            .map_err(se)?;
    }
    Ok(())
}

/// Every plot of one simulation run: `dir/{prefix}loss_distribution` and
/// `dir/{prefix}cascade_timeline`, each as SVG and PNG; returns the files written.
pub fn run_plots(dir: &Path, prefix: &str, out: &RunOutput) -> Result<Vec<PathBuf>, SimError> {
    let mut files = loss_distribution(
        &dir.join(format!("{prefix}loss_distribution")),
        &out.bad_debt,
        out.bad_debt_breakers.as_deref(),
    )?;
    files.extend(cascade_timeline(
        &dir.join(format!("{prefix}cascade_timeline")),
        &out.timeline,
        out.timeline_breakers.as_deref(),
    )?);
    Ok(files)
}

/// The solvency–efficiency frontier, siloed vs unified.
pub fn frontier(base: &Path, f: &Frontier) -> Result<Vec<PathBuf>, SimError> {
    write_both(base, &|r| draw_frontier(r, f), &|r| draw_frontier(r, f))
}
