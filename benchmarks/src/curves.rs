//! What the learning benchmarks share: rlx's release binary, a run's training-episode curve from its
//! `progress.csv`, binning a curve by steps, statistics over seeds, and a plot of curves with their spread.

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The `rlx` binary beside the running benchmark binary (both in the release target dir).
pub fn rlx_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let rlx = exe.with_file_name("rlx");
    if !rlx.exists() {
        bail!("{} not found: build it with `cargo build --release -p rlx`", rlx.display());
    }
    Ok(rlx)
}

/// (step, tag, value) of every row of a run folder's `progress.csv` (rlx's CSV log), in file order; rows that do
/// not parse (the header) are skipped.
pub fn progress_rows(dir: &Path) -> Result<Vec<(u64, String, f64)>> {
    let path = dir.join("progress.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect())
}

/// Rows `[step, value of tags[0], value of tags[1], ...]` of a run folder's `progress.csv`, in step order, one per
/// logged step that has every tag. `W` is `tags.len() + 1`.
pub fn progress_table<const W: usize>(dir: &Path, tags: &[&str]) -> Result<Vec<[f64; W]>> {
    assert_eq!(tags.len() + 1, W, "one column per tag after the step");
    let mut rows: std::collections::BTreeMap<u64, [f64; W]> = Default::default();
    for (step, tag, value) in progress_rows(dir)? {
        let Some(k) = tags.iter().position(|t| *t == tag) else { continue };
        let row = rows.entry(step).or_insert_with(|| {
            let mut row = [f64::NAN; W];
            row[0] = step as f64;
            row
        });
        row[k + 1] = value;
    }
    Ok(rows.into_values().filter(|r| r.iter().all(|x| x.is_finite())).collect())
}

/// (timestep, raw return) of every training episode of an rlx run (`charts/episodic_return` in `progress.csv`).
pub fn rlx_episode_curve(run_dir: &Path) -> Result<Vec<(f64, f64)>> {
    let rows = progress_rows(run_dir)?;
    Ok(rows.into_iter().filter(|r| r.1 == "charts/episodic_return").map(|r| (r.0 as f64, r.2)).collect())
}

/// (timestep, return) pairs of a peer's JSON `curve` field.
pub fn json_curve(value: &serde_json::Value) -> Result<Vec<(f64, f64)>> {
    value
        .as_array()
        .context("no curve")?
        .iter()
        .map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
        .collect::<Option<_>>()
        .context("a curve point is not [timestep, return]")
}

/// Mean and population standard deviation (0, 0 for none).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    (m, (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt())
}

/// Mean return of one run's episodes ending in each of `bins` equal step intervals of `(0, total]`
/// (`None` where none ended).
pub fn bin_curve(curve: &[(f64, f64)], total: f64, bins: usize) -> Vec<Option<f64>> {
    (0..bins)
        .map(|b| {
            let (lo, hi) = (total * b as f64 / bins as f64, total * (b + 1) as f64 / bins as f64);
            let xs: Vec<f64> = curve.iter().filter(|(t, _)| *t > lo && *t <= hi).map(|(_, r)| *r).collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        })
        .collect()
}

/// Per bin (centre step, mean over seeds, min over seeds, max over seeds), of the seeds that have that bin.
pub fn seed_band(curves: &[&[(f64, f64)]], total: f64, bins: usize) -> Vec<(f64, f64, f64, f64)> {
    let binned: Vec<Vec<Option<f64>>> = curves.iter().map(|c| bin_curve(c, total, bins)).collect();
    (0..bins)
        .filter_map(|b| {
            let xs: Vec<f64> = binned.iter().filter_map(|seed| seed[b]).collect();
            if xs.is_empty() {
                return None;
            }
            let centre = total * (b as f64 + 0.5) / bins as f64;
            let (lo, hi) = xs.iter().fold((f64::MAX, f64::MIN), |(a, z), &x| (a.min(x), z.max(x)));
            Some((centre, mean_std(&xs).0, lo, hi))
        })
        .collect()
}

/// One framework's line in a panel: its mean curve and, optionally, the band of its seeds.
pub struct Series {
    pub label: String,
    pub color: RGBColor,
    /// (step, mean, lowest seed, highest seed).
    pub points: Vec<(f64, f64, f64, f64)>,
    pub band: bool,
}

/// One plot panel: a title, the step budget and its series.
pub struct Panel {
    pub title: String,
    pub total: f64,
    pub series: Vec<Series>,
}

/// Registers DejaVu Sans as plotters' "sans-serif", which every plot's text uses (Debian's fonts-dejavu-core).
pub fn register_font() -> Result<()> {
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .context("the plot needs the DejaVu Sans font (Debian: apt-get install fonts-dejavu-core)")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| anyhow::anyhow!("cannot load the DejaVu Sans font"))
}

/// Draws the panels side by side into a PNG: each series' mean line, with the range of its seeds shaded.
pub fn plot_panels(path: &Path, panels: &[Panel]) -> Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (640 * panels.len() as u32, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let ys = panel.series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]));
        let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        let pad = (hi - lo).max(1.0) * 0.05;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..panel.total, (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("environment steps").y_desc("return").label_style(("sans-serif", 14)).draw()?;
        for s in &panel.series {
            if s.band && s.points.len() > 1 {
                let outline: Vec<(f64, f64)> =
                    s.points.iter().map(|p| (p.0, p.3)).chain(s.points.iter().rev().map(|p| (p.0, p.2))).collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, s.color.mix(0.18).filled())))?;
            }
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_average_the_episodes_ending_in_them_and_bands_span_the_seeds() {
        let a = [(10.0, 1.0), (40.0, 3.0), (60.0, 5.0)];
        let b = [(30.0, 2.0), (90.0, 8.0)];
        assert_eq!(bin_curve(&a, 100.0, 2), vec![Some(2.0), Some(5.0)]);
        // Bin 0: a = 2, b = 2; bin 1: a = 5, b = 8.
        assert_eq!(seed_band(&[&a, &b], 100.0, 2), vec![(25.0, 2.0, 2.0, 2.0), (75.0, 6.5, 5.0, 8.0)]);
        assert_eq!(bin_curve(&b, 100.0, 4), vec![None, Some(2.0), None, Some(8.0)]);
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
    }
}
