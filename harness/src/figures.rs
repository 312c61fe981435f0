//! Figures, drawn only from the CSV files of a results directory, so anyone can redraw (or
//! re-plot differently) from the raw data. Every figure is written as PNG and SVG.

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use std::path::Path;

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Draw the points alone (a scatter of requests), not joined by a line.
    pub dots: bool,
    /// Dashed line (p99 beside a solid p50).
    pub dashed: bool,
    /// Fixed colour (a backend's, [`backend_color`]); otherwise one from a palette by position.
    pub color: Option<RGBColor>,
}

impl Series {
    /// Points joined by a line.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, dots: false, dashed: false, color: None }
    }

    /// Points alone.
    pub fn dots(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, dots: true, dashed: false, color: None }
    }

    /// The same, drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// The same, in `color`.
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = Some(color);
        self
    }
}

/// One colour per backend in every figure of the project (the paper's four, and a palette
/// colour for any other by its name).
pub fn backend_color(backend: &str) -> RGBColor {
    match backend {
        "s-spright" => RGBColor(31, 119, 180),
        "d-spright" => RGBColor(255, 127, 14),
        "grpc" => RGBColor(44, 160, 44),
        "knative" => RGBColor(214, 39, 40),
        other => {
            let h = other.bytes().fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            let c = Palette99::pick(4 + h % 90).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

/// An axis tick label people read: `1,000,000` not `1000000.0`, `2.5` not `2.500000`, and
/// `0.001` where values are that small.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        trim(v)
    }
}

/// The grid of a logarithmic axis from `lo` to `hi`: labelled lines at 1, 2 and 5 times each
/// power of ten where the axis spans at most three decades, at each power of ten where it spans
/// more (labels a decade apart already fill a short axis), or at every multiple of the decade
/// where fewer than two of those fall inside; unlabelled lines at the other multiples. Plotters'
/// own log grid labels only the decades of an axis of two to five decades, and nothing below
/// the first one.
pub fn log_grid(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let multiples = |mantissas: &[f64]| -> Vec<f64> {
        let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (first..=last)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let all = multiples(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let mut labelled = multiples(if (hi / lo).log10() <= 3.0 { &[1.0, 2.0, 5.0] } else { &[1.0] });
    if labelled.len() < 2 {
        labelled = all.clone();
    }
    let light = all.into_iter().filter(|v| !labelled.contains(v)).collect();
    (labelled, light)
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_y: bool,
    /// Logarithmic x axis (for rates that double from point to point).
    pub log_x: bool,
}

/// DejaVu Sans (Bitstream Vera licence, which allows redistribution: `assets/fonts/DejaVu-LICENSE`),
/// built into the binary: PNG text needs a TrueType font, and a machine without one installed
/// must still get its figures (regression, issue 12: a run was lost to a missing font).
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn ensure_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the built-in font is not valid TrueType"))
    }
}

/// Draw `panels` stacked vertically into `<stem>.png` and `<stem>.svg`.
pub fn draw(panels: &[Panel], stem: &Path) -> Result<()> {
    if panels.is_empty() {
        return Err(anyhow!("{}: no rows to draw", stem.display()));
    }
    ensure_font()?;
    let size = (1000, 380 * panels.len() as u32);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_on(&root, panels).with_context(|| format!("draw {}", png.display()))?;
        root.present().map_err(|e| anyhow!("write {}: {e:?}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_on(&root, panels).with_context(|| format!("draw {}", svg.display()))?;
        root.present().map_err(|e| anyhow!("write {}: {e:?}", svg.display()))?;
    }
    Ok(())
}

fn bounds(panel: &Panel) -> (f64, f64, f64, f64) {
    let pts = || panel.series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    let xmin = pts().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let xmax = pts().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let ymin = pts().filter(|p| !panel.log_y || p.1 > 0.0).map(|p| p.1).fold(f64::INFINITY, f64::min);
    let ymax = pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if !xmin.is_finite() || !ymax.is_finite() {
        return (0.0, 1.0, if panel.log_y { 1.0 } else { 0.0 }, 10.0);
    }
    let xmax = if xmax > xmin { xmax } else { xmin + 1.0 };
    let (xmin, xmax) = if panel.log_x { ((xmin / 1.2).max(1e-3), xmax * 1.2) } else { (xmin, xmax) };
    // Room above the highest point (a log axis keeps the headroom it had when the legend sat
    // there: plotters labels a short log range sparsely).
    if panel.log_y {
        let lo = if ymin.is_finite() { ymin / 1.5 } else { 1.0 };
        (xmin, xmax, lo.max(1e-3), (ymax * 6.0).max(lo * 10.0))
    } else {
        (xmin, xmax, 0.0, if ymax > 0.0 { ymax * 1.1 } else { 1.0 })
    }
}

macro_rules! plot_panel {
    ($area:expr, $panel:expr, $x:expr, $y:expr) => {{
        let panel: &Panel = $panel;
        let mut chart = ChartBuilder::on($area)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d($x, $y)
            .map_err(|e| anyhow!("{e:?}"))?;
        chart
            .configure_mesh()
            .x_desc(panel.x_label.as_str())
            .y_desc(panel.y_label.as_str())
            .label_style(("sans-serif", 14))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
        for (i, s) in panel.series.iter().enumerate() {
            let color = series_color(s, i);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| {
                    p.0.is_finite() && p.1.is_finite() && (!panel.log_y || p.1 > 0.0) && (!panel.log_x || p.0 > 0.0)
                })
                .collect();
            if s.dots {
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 2, color.filled())))
                    .map_err(|e| anyhow!("{e:?}"))?;
                continue;
            }
            if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(pts.clone(), 8, 5, color.stroke_width(2)))
                    .map_err(|e| anyhow!("{e:?}"))?;
            } else {
                // One path per segment: plotters joins the segments of a wide path with
                // unlimited miters, so a one-sample spike (0, x, 0) drew a miter far below the
                // axis. Separate segments have no joins.
                chart
                    .draw_series(pts.windows(2).map(|w| PathElement::new(vec![w[0], w[1]], color.stroke_width(2))))
                    .map_err(|e| anyhow!("{e:?}"))?;
            }
            // Markers where there are few enough points to tell apart.
            if pts.len() <= 40 {
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                    .map_err(|e| anyhow!("{e:?}"))?;
            }
        }
    }};
}

/// The colour of series `i` of a panel: its own, or the palette's by position.
fn series_color(s: &Series, i: usize) -> RGBAColor {
    s.color.map_or_else(|| Palette99::pick(i).to_rgba(), |c| c.to_rgba())
}

/// The width of the legend column beside a panel: room for its longest name.
fn legend_width(panel: &Panel) -> u32 {
    let chars = panel.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as u32;
    (chars * 8 + 50).clamp(110, 280)
}

/// A panel's legend in a column of its own beside the plot, so it never covers the data: a
/// sample of each series' line (dashed, or a dot, as drawn) and its name, top to bottom.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let n = panel.series.len().max(1) as i32;
    let (_, height) = area.dim_in_pixel();
    // Rows of 20 px, tighter when there are many series (a Knative chain's sidecars).
    let row = ((height as i32 - 30) / n).clamp(9, 20);
    let font = ("sans-serif", (row - 3).min(14)).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let err = |e| anyhow!("{e:?}");
    for (i, s) in panel.series.iter().enumerate() {
        let (y, color) = (20 + i as i32 * row, series_color(s, i));
        let style = color.stroke_width(2);
        if s.dots {
            area.draw(&Circle::new((15, y), 4, color.filled())).map_err(err)?;
        } else if s.dashed {
            area.draw(&PathElement::new(vec![(5, y), (12, y)], style)).map_err(err)?;
            area.draw(&PathElement::new(vec![(17, y), (25, y)], style)).map_err(err)?;
        } else {
            area.draw(&PathElement::new(vec![(5, y), (25, y)], style)).map_err(err)?;
        }
        area.draw(&Text::new(s.name.as_str(), (32, y), font.clone())).map_err(err)?;
    }
    Ok(())
}

fn draw_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, panels: &[Panel]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let areas = root.split_evenly((panels.len(), 1));
    for (whole, panel) in areas.iter().zip(panels) {
        // The title spans plot and legend, so a long one is not cut at the plot's edges.
        let whole = whole.titled(&panel.title, ("sans-serif", 20)).map_err(|e| anyhow!("{e:?}"))?;
        let (width, _) = whole.dim_in_pixel();
        let (area, legend) = whole.split_horizontally(width.saturating_sub(legend_width(panel)));
        draw_legend(&legend, panel)?;
        let area = &area;
        let (x0, x1, y0, y1) = bounds(panel);
        // A log axis gets its grid from [`log_grid`].
        let log = |lo: f64, hi: f64| {
            let (labelled, light) = log_grid(lo, hi);
            (lo..hi).log_scale().with_key_points(labelled).with_light_points(light)
        };
        match (panel.log_x, panel.log_y) {
            (false, false) => plot_panel!(area, panel, x0..x1, y0..y1),
            (false, true) => plot_panel!(area, panel, x0..x1, log(y0, y1)),
            (true, false) => plot_panel!(area, panel, log(x0, x1), y0..y1),
            (true, true) => plot_panel!(area, panel, log(x0, x1), log(y0, y1)),
        }
    }
    Ok(())
}

/// Rows of a CSV file as column -> value maps.
pub fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("read {}", path.display()))?;
    let headers = r.headers()?.clone();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        rows.push(headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect());
    }
    Ok(rows)
}

fn num(row: &BTreeMap<String, String>, col: &str) -> Option<f64> {
    row.get(col)?.parse().ok()
}

/// %CPU over time of a run's processes (`cpu.csv`), summed per group (`group` maps a role to
/// its group, `None` leaves it out) at each sample
/// tick. A group with no process at a tick (every instance scaled to zero) is 0 there, not a
/// line drawn across the gap.
pub fn cpu_by_group(dir: &Path, group: impl Fn(&str) -> Option<String>) -> Result<BTreeMap<String, Vec<(f64, f64)>>> {
    let mut by: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut ticks = std::collections::BTreeSet::new();
    for r in read_csv(&dir.join("cpu.csv"))? {
        let (Some(t), Some(p), Some(role)) = (num(&r, "t_s"), num(&r, "cpu_pct"), r.get("role")) else { continue };
        // Samples of one tick share a timestamp to the millisecond.
        let tick = (t * 1000.0).round() as u64;
        ticks.insert(tick);
        if let Some(g) = group(role) {
            *by.entry(g).or_default().entry(tick).or_default() += p;
        }
    }
    Ok(by
        .into_iter()
        .map(|(g, pts)| {
            let series = ticks.iter().map(|t| (*t as f64 / 1000.0, pts.get(t).copied().unwrap_or(0.0))).collect();
            (g, series)
        })
        .collect())
}

/// `timeline.{png,svg}` and `cpu.{png,svg}` of one run directory, from its CSV files.
pub fn run_figures(dir: &Path) -> Result<()> {
    let s = crate::results::read_summaries(&dir.join("summary.csv"))?;
    let s = s.first().with_context(|| format!("{}: no row", dir.join("summary.csv").display()))?;
    let title = format!("{} on {}", s.chain, s.backend);
    let ts = read_csv(&dir.join("timeseries.csv"))?;
    let col = |c: &str| -> Vec<(f64, f64)> {
        ts.iter().filter_map(|r| Some((num(r, "second")? + 0.5, num(r, c)?))).collect()
    };
    draw(
        &[
            Panel {
                title: format!("{title}: throughput"),
                x_label: "time (s)".into(),
                y_label: "requests/s".into(),
                series: vec![Series::line("ok", col("ok")), Series::line("errors", col("errors"))],
                log_y: false,
                log_x: false,
            },
            Panel {
                title: format!("{title}: latency"),
                x_label: "time (s)".into(),
                y_label: "latency (us)".into(),
                series: ["p50_us", "p90_us", "p99_us", "max_us"]
                    .iter()
                    .map(|c| {
                        let s = Series::line(c.trim_end_matches("_us"), col(c));
                        if *c == "p99_us" {
                            s.dashed()
                        } else {
                            s
                        }
                    })
                    .collect(),
                log_y: true,
                log_x: false,
            },
        ],
        &dir.join("timeline"),
    )?;
    let by_role = cpu_by_group(dir, |role| Some(role.to_string()))?;
    let role_series = |keep: &dyn Fn(&str) -> bool| -> Vec<Series> {
        by_role
            .iter()
            .filter(|(role, _)| keep(role))
            .map(|(role, pts)| Series::line(role.clone(), pts.clone()))
            .collect()
    };
    draw(
        &[Panel {
            title: format!("{title}: CPU by role (100% = one core)"),
            x_label: "time since load start (s)".into(),
            y_label: "%CPU".into(),
            series: role_series(&|_| true),
            log_y: false,
            log_x: false,
        }],
        &dir.join("cpu"),
    )?;
    if dir.join("requests.csv").is_file() {
        requests_figure(dir, &title, role_series(&|r| r == "function" || r == "sidecar"))?;
    }
    Ok(())
}

/// `requests.{png,svg}` (the paper's Figs. 11 and 12): the response time of every request over
/// time, those that waited for a cold start marked, above the %CPU of the functions and their
/// queue-proxies.
fn requests_figure(dir: &Path, title: &str, cpu: Vec<Series>) -> Result<()> {
    let rows = read_csv(&dir.join("requests.csv"))?;
    let point = |r: &BTreeMap<String, String>| Some((num(r, "sent_s")?, num(r, "latency_us")? / 1e3));
    let pick = |cold: &str| {
        rows.iter().filter(|r| r.get("cold").map(String::as_str) == Some(cold)).filter_map(point).collect()
    };
    draw(
        &[
            Panel {
                title: format!("{title}: response time of every request (open loop)"),
                x_label: "time since load start (s)".into(),
                y_label: "response time (ms)".into(),
                series: vec![Series::dots("warm", pick("0")), Series::dots("waited for a cold start", pick("1"))],
                log_y: true,
                log_x: false,
            },
            Panel {
                title: format!("{title}: CPU of functions and queue-proxies (100% = one core)"),
                x_label: "time since load start (s)".into(),
                y_label: "%CPU".into(),
                series: cpu,
                log_y: false,
                log_x: false,
            },
        ],
        &dir.join("requests"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written out by hand: 1, 2 and 5 of each decade labelled on up to three decades, the
    /// decades only on more, every multiple where fewer than two would be labelled; the other
    /// multiples unlabelled.
    #[test]
    fn a_log_axis_is_labelled_at_one_two_and_five() {
        assert_eq!(
            log_grid(150.0, 60_000.0),
            (
                vec![200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0, 50_000.0],
                vec![
                    300.0, 400.0, 600.0, 700.0, 800.0, 900.0, 3000.0, 4000.0, 6000.0, 7000.0, 8000.0, 9000.0, 30_000.0,
                    40_000.0, 60_000.0
                ]
            )
        );
        let (labelled, light) = log_grid(200.0, 5e6);
        assert_eq!(labelled, [1000.0, 10_000.0, 100_000.0, 1e6]);
        assert_eq!((light.len(), light[0], light[light.len() - 1]), (36, 200.0, 5e6));
        assert_eq!(log_grid(4200.0, 9100.0), (vec![5000.0, 6000.0, 7000.0, 8000.0, 9000.0], vec![]));
        assert_eq!(log_grid(0.0, 10.0), (vec![], vec![]));
        assert_eq!(log_grid(10.0, 10.0), (vec![], vec![]));
    }

    /// A figure of nothing (a comparison without rows) is refused by name and writes no file;
    /// plotters said "Zero height not allowed".
    #[test]
    fn a_figure_without_panels_says_so() {
        let dir = std::env::temp_dir().join(format!("sb-figure-{}", std::process::id()));
        let e = draw(&[], &dir.join("empty")).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: no rows to draw", dir.join("empty").display()));
        assert!(!dir.exists());
    }
}
