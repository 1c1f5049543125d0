//! The over-optimization curve of RLHF runs (Gao et al. 2022): the gold and the proxy reward of the PPO policy's
//! held-out continuations against sqrt(KL to the SFT policy), from the judgements PPO logs every
//! `ppo.eval_interval` iterations (`eval/gold_reward`, `eval/proxy_reward`, `eval/kl` in `ppo/progress.csv`), one
//! line per run, one colour per KL coefficient (several seeds of a coefficient share it); the best-of-n (triangle)
//! and DPO (cross) rows of the runs' `eval/summary.json` are drawn as points, each distinct one once.
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

/// One run's PPO judgements and best-of-n / DPO points.
struct Run {
    kl_coef: f64,
    points: Vec<(f64, f64, f64)>,
    extra: Vec<(String, f64, f64, f64)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    register_font()?;
    let colors = [BLUE, RED, RGBColor(0, 150, 0), MAGENTA, CYAN, BLACK];
    let runs: Vec<Run> = args
        .runs
        .iter()
        .map(|run| Ok(Run { kl_coef: kl_coef(run)?, points: ppo_points(run)?, extra: eval_points(run) }))
        .collect::<Result<_>>()?;
    // One colour per KL coefficient, one line per run (the seeds of a coefficient share its colour and label).
    let mut coefs: Vec<f64> = Vec::new();
    for run in &runs {
        if !coefs.contains(&run.kl_coef) {
            coefs.push(run.kl_coef);
        }
    }
    // Best-of-n and DPO points, each once: runs of one seed share their SFT model and so their best-of-n row.
    let mut extras: Vec<(String, f64, f64, f64)> = Vec::new();
    for point in runs.iter().flat_map(|r| &r.extra) {
        if !extras.iter().any(|e| e.0 == point.0 && e.1 == point.1 && e.2 == point.2) {
            extras.push(point.clone());
        }
    }
    let all_points = runs.iter().flat_map(|r| r.points.iter().map(|q| (q.0, q.1.min(q.2), q.1.max(q.2))));
    let all_points = all_points.chain(extras.iter().map(|q| (q.1, q.2.min(q.3), q.2.max(q.3))));
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
        let pick = |p: &(f64, f64, f64)| (p.0, if which == 1 { p.1 } else { p.2 });
        for (g, &coef) in coefs.iter().enumerate() {
            let color = colors[g % colors.len()];
            let members: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].kl_coef == coef).collect();
            let label = match members.as_slice() {
                [one] => format!("PPO kl_coef {coef} ({})", run_name(&args.runs[*one])),
                many => format!("PPO kl_coef {coef} ({} runs)", many.len()),
            };
            for (k, run) in members.iter().map(|&i| &runs[i]).enumerate() {
                // Segment by segment: a wide polyline's miter joins spike far out where the curve turns back.
                let segments = chart.draw_series(
                    run.points.windows(2).map(|w| PathElement::new([pick(&w[0]), pick(&w[1])], color.stroke_width(2))),
                )?;
                if k == 0 {
                    segments
                        .label(label.as_str())
                        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
                }
                chart.draw_series(run.points.iter().map(|p| Circle::new(pick(p), 3, color.filled())))?;
            }
        }
        // Best-of-n (triangles) and DPO (crosses) in grey shades, one legend entry per method.
        let mut labelled: Vec<&str> = Vec::new();
        for (name, x, gold, proxy) in &extras {
            let point = (*x, if which == 1 { *gold } else { *proxy });
            let count = extras.iter().filter(|e| &e.0 == name).count();
            let label = format!("{name} ({count} runs)");
            let first = !labelled.contains(&name.as_str());
            labelled.push(name);
            if name.starts_with("DPO") {
                let series = chart.draw_series(std::iter::once(Cross::new(point, 6, BLACK.stroke_width(2))))?;
                if first {
                    series.label(label).legend(|(x, y)| Cross::new((x + 10, y), 5, BLACK.stroke_width(2)));
                }
            } else {
                let grey = RGBColor(110, 110, 110);
                let series = chart.draw_series(std::iter::once(TriangleMarker::new(point, 6, grey.filled())))?;
                if first {
                    series.label(label).legend(move |(x, y)| TriangleMarker::new((x + 10, y), 5, grey.filled()));
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
