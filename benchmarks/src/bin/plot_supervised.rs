//! Plots of a supervised run (`rlx supervised`): its training curve from `progress.csv` (training loss per logging
//! window and held-out loss per epoch against optimizer steps; held-out accuracy per epoch), and, when the run
//! folder has one (`rlx supervised eval RUN_DIR` writes it), its confusion matrix.
//!
//! usage: plot_supervised RUN_DIR OUT_CURVE.png [--confusion OUT.png] [--labels a,b,...] [--title TEXT]

use anyhow::{Context, Result};
use clap::Parser;
use plotters::prelude::*;
use rlx_benchmarks::curves::register_font;
use std::path::{Path, PathBuf};

#[derive(Parser)]
struct Args {
    run_dir: PathBuf,
    curve: PathBuf,
    /// Also draw RUN_DIR/confusion.csv into this PNG.
    #[arg(long)]
    confusion: Option<PathBuf>,
    /// Class names for the confusion matrix, comma-separated (default: 0..9).
    #[arg(long)]
    labels: Option<String>,
    #[arg(long, default_value = "training curve")]
    title: String,
}

/// (step, value) of one tag.
fn series(rows: &[(f64, String, f64)], tag: &str) -> Vec<(f64, f64)> {
    rows.iter().filter(|r| r.1 == tag).map(|r| (r.0, r.2)).collect()
}

fn curve(args: &Args) -> Result<()> {
    let path = args.run_dir.join("progress.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows: Vec<(f64, String, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect();
    let (train, val, accuracy) =
        (series(&rows, "train/loss"), series(&rows, "val/loss"), series(&rows, "val/accuracy"));
    let steps = rows.iter().map(|r| r.0).fold(1.0, f64::max);
    let root = BitMapBackend::new(&args.curve, (1280, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(640);
    let top = train.iter().chain(&val).map(|p| p.1).fold(0.0, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&left)
        .caption(format!("{}: loss", args.title), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..steps, 0.0..top.max(1e-3))?;
    chart
        .configure_mesh()
        .x_desc("optimizer steps")
        .y_desc("cross-entropy (nats)")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(train.iter().copied(), BLUE.stroke_width(2)))?
        .label("training (per logging window)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(val.iter().copied(), RED.stroke_width(2)))?
        .label("held-out (per epoch)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    let low = accuracy.iter().map(|p| p.1).fold(1.0, f64::min);
    let mut chart = ChartBuilder::on(&right)
        .caption(format!("{}: held-out accuracy", args.title), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..steps, (100.0 * low - 1.0).max(0.0)..100.0)?;
    chart.configure_mesh().x_desc("optimizer steps").y_desc("accuracy (%)").label_style(("sans-serif", 14)).draw()?;
    chart.draw_series(LineSeries::new(accuracy.iter().map(|p| (p.0, 100.0 * p.1)), RED.stroke_width(2)))?;
    chart.draw_series(accuracy.iter().map(|p| Circle::new((p.0, 100.0 * p.1), 3, RED.filled())))?;
    root.present()?;
    Ok(())
}

fn confusion(run_dir: &Path, out: &Path, labels: &[String], title: &str) -> Result<()> {
    let path = run_dir.join("confusion.csv");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read {} (rlx supervised eval {} writes it)", path.display(), run_dir.display())
    })?;
    let counts: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split(',').map(|c| c.trim().parse::<f64>().context("a count is not a number")).collect())
        .collect::<Result<_>>()?;
    let n = counts.len();
    let (cell, margin_left, margin_top) = (60i32, 130i32, 70i32);
    let size = (margin_left as u32 + cell as u32 * n as u32 + 20, margin_top as u32 + cell as u32 * n as u32 + 110);
    let root = BitMapBackend::new(out, size).into_drawing_area();
    root.fill(&WHITE)?;
    let text_style = |px: u32| ("sans-serif", px).into_font().color(&BLACK);
    root.draw(&Text::new(
        format!("{title}: confusion matrix (rows: true class, columns: predicted)"),
        (10, 15),
        text_style(18),
    ))?;
    for (t, row) in counts.iter().enumerate() {
        let total = row.iter().sum::<f64>().max(1.0);
        for (p, &c) in row.iter().enumerate() {
            let share = c / total;
            // White (0) to dark blue (all of the row).
            let shade = |full: u8| (255.0 - share * (255.0 - full as f64)) as u8;
            let color = RGBColor(shade(8), shade(48), shade(107));
            let (x, y) = (margin_left + p as i32 * cell, margin_top + t as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], color.filled()))?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.mix(0.2)))?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            root.draw(&Text::new(
                format!("{c}"),
                (x + 8, y + cell / 2 - 8),
                ("sans-serif", 15).into_font().color(&ink),
            ))?;
        }
        let label = labels.get(t).cloned().unwrap_or_else(|| t.to_string());
        root.draw(&Text::new(label, (8, margin_top + t as i32 * cell + cell / 2 - 8), text_style(14)))?;
    }
    for p in 0..n {
        let label = labels.get(p).cloned().unwrap_or_else(|| p.to_string());
        let short: String = label.chars().take(7).collect();
        root.draw(&Text::new(
            short,
            (margin_left + p as i32 * cell + 4, margin_top + n as i32 * cell + 8),
            text_style(13),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    register_font()?;
    curve(&args)?;
    if let Some(out) = &args.confusion {
        let labels: Vec<String> =
            args.labels.as_deref().map(|l| l.split(',').map(str::to_string).collect()).unwrap_or_default();
        confusion(&args.run_dir, out, &labels, &args.title)?;
    }
    Ok(())
}
