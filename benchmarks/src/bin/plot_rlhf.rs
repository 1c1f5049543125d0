//! The over-optimization curve of RLHF runs (Gao et al. 2022): the gold and the proxy reward of the PPO policy's
//! held-out continuations against sqrt(KL to the SFT policy), from the judgements PPO logs every
//! `ppo.eval_interval` iterations (`eval/gold_reward`, `eval/proxy_reward`, `eval/kl` in `ppo/progress.csv`), one
//! line per run; the best-of-n (triangle) and DPO (cross) rows of a run's `eval/summary.json` are drawn as points.
//!
//! usage: plot_rlhf OUT.png RUN_DIR [RUN_DIR ...] [--title TEXT]

use anyhow::Result;
use clap::Parser;
use plotters::prelude::*;
use rlx_benchmarks::curves::{progress_table, register_font};
use std::path::{Path, PathBuf};

#[derive(Parser)]
struct Args {
    out: PathBuf,
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    #[arg(long, default_value = "RLHF on Shakespeare: over-optimization")]
    title: String,
}

/// (sqrt KL, gold, proxy) of each held-out judgement of a run's PPO stage, in order.
fn ppo_points(run: &Path) -> Result<Vec<(f64, f64, f64)>> {
    let rows = progress_table::<4>(&run.join("ppo"), &["eval/kl", "eval/gold_reward", "eval/proxy_reward"])?;
    Ok(rows.iter().map(|[_, kl, gold, proxy]| (kl.max(0.0).sqrt(), *gold, *proxy)).collect())
}

/// The run folder's name, to tell runs apart in the legend.
fn run_name(run: &Path) -> String {
    run.file_name().map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The run's PPO KL coefficient, from its config.toml.
fn kl_coef(run: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(run.join("config.toml"))?;
    let table: toml::Table = toml::from_str(&text)?;
    Ok(table.get("ppo").and_then(|p| p.get("kl_coef")).and_then(|k| k.as_float()).unwrap_or(0.05))
}

/// (label, sqrt KL, gold, proxy) of the best-of-n and DPO rows of a run's eval summary, if it has one.
fn eval_points(run: &Path) -> Vec<(String, f64, f64, f64)> {
    let Ok(text) = std::fs::read_to_string(run.join("eval/summary.json")) else { return Vec::new() };
    let Ok(summary) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    let rows = summary["policies"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .filter_map(|r| {
            let name = r["policy"].as_str()?;
            (name.starts_with("best-of") || name.starts_with("DPO")).then(|| {
                let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
                (name.to_string(), f("kl").max(0.0).sqrt(), f("gold_reward"), f("proxy_reward"))
            })
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    register_font()?;
    let colors = [BLUE, RED, RGBColor(0, 150, 0), MAGENTA, CYAN, BLACK];
    let mut lines = Vec::new();
    for run in &args.runs {
        lines.push((format!("PPO kl_coef {} ({})", kl_coef(run)?, run_name(run)), ppo_points(run)?, eval_points(run)));
    }
    let all_points = lines.iter().flat_map(|(_, p, e)| {
        p.iter().map(|q| (q.0, q.1.min(q.2), q.1.max(q.2))).chain(e.iter().map(|q| (q.1, q.2.min(q.3), q.2.max(q.3))))
    });
    let (x_max, lo, hi) = all_points.fold((0.5f64, f64::MAX, f64::MIN), |(x, lo, hi), p| {
        (x.max(p.0), if p.1.is_finite() { lo.min(p.1) } else { lo }, if p.2.is_finite() { hi.max(p.2) } else { hi })
    });
    let pad = (hi - lo).max(0.5) * 0.08;
    let root = BitMapBackend::new(&args.out, (1280, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title_area, body) = root.split_vertically(36);
    title_area.titled(&args.title, ("sans-serif", 22))?;
    for (panel, (which, name)) in body.split_evenly((1, 2)).iter().zip([(1usize, "gold reward"), (2, "proxy reward")]) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{name} of held-out continuations"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max * 1.08, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("sqrt(KL to SFT), nats^0.5")
            .y_desc(name)
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, (label, points, extra)) in lines.iter().enumerate() {
            let color = colors[i % colors.len()];
            let pick = |p: &(f64, f64, f64)| (p.0, if which == 1 { p.1 } else { p.2 });
            // Segment by segment: a wide polyline's miter joins spike far out where the curve turns back on itself.
            chart
                .draw_series(
                    points.windows(2).map(|w| PathElement::new([pick(&w[0]), pick(&w[1])], color.stroke_width(2))),
                )?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|p| Circle::new(pick(p), 3, color.filled())))?;
            // Best-of-n from the same SFT model shows once, however many runs share it.
            let first_time = |name: &String| !lines[..i].iter().any(|(_, _, e)| e.iter().any(|q| &q.0 == name));
            for (name, x, gold, proxy) in extra.iter().filter(|q| first_time(&q.0)) {
                let point = (*x, if which == 1 { *gold } else { *proxy });
                let label = format!("{name} ({})", run_name(&args.runs[i]));
                if name.starts_with("DPO") {
                    chart
                        .draw_series(std::iter::once(Cross::new(point, 6, color.stroke_width(2))))?
                        .label(label)
                        .legend(move |(x, y)| Cross::new((x + 10, y), 5, color.stroke_width(2)));
                } else {
                    chart
                        .draw_series(std::iter::once(TriangleMarker::new(point, 6, color.filled())))?
                        .label(label)
                        .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 5, color.filled()));
                }
            }
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
    println!("wrote {}", args.out.display());
    Ok(())
}
