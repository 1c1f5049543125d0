//! Draws one run's learning curve from its `progress.csv`: the training return (mean of the last 20 episodes) and
//! the periodic evaluation's mean return (`eval/mean_return`), against env steps and against wall-clock hours.
//!
//! usage: plot_run RUN_DIR OUT.png [--title TEXT] [--start-hours H]

use anyhow::{Context, Result};
use clap::Parser;
use plotters::prelude::*;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    run_dir: PathBuf,
    out: PathBuf,
    #[arg(long, default_value = "learning curve")]
    title: String,
    /// Wall-clock hours already spent before this CSV's first row (a resumed run whose earlier CSV is elsewhere).
    #[arg(long, default_value_t = 0.0)]
    start_hours: f64,
}

/// (step, value, wall-clock seconds) of one tag, in file order.
fn series(rows: &[(u64, String, f64, f64)], tag: &str) -> Vec<(f64, f64, f64)> {
    rows.iter().filter(|r| r.1 == tag).map(|r| (r.0 as f64, r.2, r.3)).collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let path = args.run_dir.join("progress.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows: Vec<(u64, String, f64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.to_string(), f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
        })
        .collect();
    let start = rows.iter().map(|r| r.3).fold(f64::MAX, f64::min) - 3600.0 * args.start_hours;
    let episodes = series(&rows, "charts/episodic_return");
    let window = 20;
    let training: Vec<(f64, f64, f64)> = (0..episodes.len())
        .map(|i| {
            let from = i.saturating_sub(window - 1);
            let mean = episodes[from..=i].iter().map(|e| e.1).sum::<f64>() / (i + 1 - from) as f64;
            (episodes[i].0, mean, (episodes[i].2 - start) / 3600.0)
        })
        .collect();
    let evals: Vec<(f64, f64, f64)> =
        series(&rows, "eval/mean_return").into_iter().map(|(s, v, w)| (s, v, (w - start) / 3600.0)).collect();
    anyhow::ensure!(!training.is_empty(), "{} has no finished episodes yet", path.display());

    rlx_benchmarks::curves::register_font()?;
    let root = BitMapBackend::new(&args.out, (1280, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let all = training.iter().chain(&evals);
    let (lo, hi) = all.clone().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let pad = (hi - lo).max(1.0) * 0.05;
    let panels = [("environment steps", 0usize), ("wall-clock hours", 2usize)];
    for (area, (x_desc, x)) in root.split_evenly((1, 2)).iter().zip(panels) {
        let x_max = all.clone().map(|p| if x == 0 { p.0 } else { p.2 }).fold(0.0, f64::max).max(1e-9);
        let pick = |p: &(f64, f64, f64)| (if x == 0 { p.0 } else { p.2 }, p.1);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{}: return against {x_desc}", args.title), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..x_max, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("return")
            .x_label_formatter(&|v| if x == 0 { format!("{v:.0}") } else { format!("{v:.1}") })
            .label_style(("sans-serif", 14))
            .draw()?;
        chart
            .draw_series(LineSeries::new(training.iter().map(pick), BLUE.stroke_width(2)))?
            .label(format!("training (mean of the last {window} episodes)"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(evals.iter().map(pick), RED.stroke_width(2)))?
            .label("evaluation (Nature protocol)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart.draw_series(evals.iter().map(|p| Circle::new(pick(p), 4, RED.filled())))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    root.present()?;
    println!("wrote {}", args.out.display());
    Ok(())
}
