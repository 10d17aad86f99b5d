//! The chart of the main ratios (an SVG written beside the JSON), drawn with `plotters` and
//! only its SVG backend: per echo configuration, wasio's CPU time per round trip and its
//! round trips per second as ratios to the rival and the floor of each world, with the
//! targets' lines (1.0 and 1.1).

use std::path::Path;

use plotters::prelude::*;

use crate::table::{Med, med};
use crate::{Report, World};

/// One bar series: a label and, per configuration, a ratio if both sides were measured.
struct Series {
    label: &'static str,
    color: RGBColor,
    values: Vec<Option<f64>>,
}

/// Writes the chart to `path`.
pub fn draw(r: &Report, path: &Path) -> Result<(), String> {
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for c in r.echo.iter().filter(|c| c.config.idle == 0) {
        let key = (c.config.conns, c.config.size);
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    let find = |world: World, role: &str, key: (usize, usize)| -> Option<Med> {
        r.echo
            .iter()
            .find(|c| {
                c.contender.world == world
                    && c.contender.role == role
                    && c.config.idle == 0
                    && (c.config.conns, c.config.size) == key
            })
            .and_then(|c| med(c).ok())
    };
    let ratio = |world: World, role: &str, get: fn(&Med) -> f64| -> Vec<Option<f64>> {
        groups
            .iter()
            .map(|&k| {
                let s = find(world, "subject", k)?;
                let o = find(world, role, k)?;
                let v = get(&s) / get(&o);
                v.is_finite().then_some(v)
            })
            .collect()
    };
    let cpu = |m: &Med| m.cpu_us;
    let rate = |m: &Med| m.rt_per_sec;
    let panels = [
        (
            "wasio's server CPU time per round trip, as a ratio (lower is better; target ≤ 1.0 vs tokio, ≤ 1.1 vs floors)",
            vec![
                Series {
                    label: "native: wasio / tokio",
                    color: RGBColor(31, 119, 180),
                    values: ratio(World::Native, "rival", cpu),
                },
                Series {
                    label: "native: wasio / raw mio",
                    color: RGBColor(174, 199, 232),
                    values: ratio(World::Native, "floor", cpu),
                },
                Series {
                    label: "wasmtime: wasio / wstd",
                    color: RGBColor(255, 127, 14),
                    values: ratio(World::Wasm, "rival", cpu),
                },
                Series {
                    label: "wasmtime: wasio / raw poll loop",
                    color: RGBColor(255, 187, 120),
                    values: ratio(World::Wasm, "floor", cpu),
                },
            ],
        ),
        (
            "wasio's round trips per second, as a ratio (higher is better; target ≥ 1.0 vs the raw poll loop)",
            vec![
                Series {
                    label: "native: wasio / tokio",
                    color: RGBColor(31, 119, 180),
                    values: ratio(World::Native, "rival", rate),
                },
                Series {
                    label: "native: wasio / raw mio",
                    color: RGBColor(174, 199, 232),
                    values: ratio(World::Native, "floor", rate),
                },
                Series {
                    label: "wasmtime: wasio / wstd",
                    color: RGBColor(255, 127, 14),
                    values: ratio(World::Wasm, "rival", rate),
                },
                Series {
                    label: "wasmtime: wasio / raw poll loop",
                    color: RGBColor(255, 187, 120),
                    values: ratio(World::Wasm, "floor", rate),
                },
            ],
        ),
    ];
    let err = |e: DrawingAreaErrorKind<std::io::Error>| format!("chart {}: {e}", path.display());
    let root = SVGBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "wasio benchmarks {} — {} ({} cores)",
        r.date, r.cpu, r.cores
    );
    let root = root.titled(&title, ("sans-serif", 22)).map_err(err)?;
    let areas = root.split_evenly((2, 1));
    let n = groups.len() as f64;
    for ((caption, series), area) in panels.iter().zip(areas.iter()) {
        let top = series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(1.2f64, |a, &b| a.max(b))
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(*caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(10)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..n, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("ratio")
            .draw()
            .map_err(err)?;
        let width = 0.8 / series.len() as f64;
        for (k, s) in series.iter().enumerate() {
            let color = s.color;
            chart
                .draw_series(s.values.iter().enumerate().filter_map(|(g, v)| {
                    let v = (*v)?;
                    let x0 = g as f64 + 0.1 + k as f64 * width;
                    Some(Rectangle::new(
                        [(x0, 0.0), (x0 + width * 0.9, v)],
                        color.filled(),
                    ))
                }))
                .map_err(err)?
                .label(s.label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        for (level, style) in [(1.0, BLACK.stroke_width(1)), (1.1, RED.stroke_width(1))] {
            chart
                .draw_series(LineSeries::new([(0.0, level), (n, level)], style))
                .map_err(err)?;
        }
        chart
            .draw_series(groups.iter().enumerate().map(|(g, (c, s))| {
                let size = if *s >= 1024 {
                    format!("{} KiB", s / 1024)
                } else {
                    format!("{s} B")
                };
                Text::new(
                    format!("C={c} {size}"),
                    (g as f64 + 0.1, top * 0.97),
                    ("sans-serif", 13),
                )
            }))
            .map_err(err)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
