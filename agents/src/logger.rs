//! Run logging shared by every algorithm: TensorBoard scalars (CleanRL's tags), the same scalars in a CSV file
//! (`progress.csv`: `step,tag,value,wall_time`), and a progress bar with steps, SPS and mean episode return.

use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tensorboard_rs::summary_writer::SummaryWriter;

pub const CSV_NAME: &str = "progress.csv";

/// Writes scalars to TensorBoard and CSV under a run folder (or nowhere, for tests), and drives the progress bar.
pub struct Logger {
    tensorboard: Option<SummaryWriter>,
    csv: Option<BufWriter<File>>,
    progress: Option<ProgressBar>,
    /// Raw returns of the last 100 finished episodes, for the progress bar and summaries.
    pub recent_returns: VecDeque<f64>,
    started: Instant,
}

impl Logger {
    /// Logs into `run_dir` (TensorBoard event file + `progress.csv`). When `resume_step` is given, CSV rows logged
    /// after that step by the interrupted run are dropped, so the resumed run continues the file seamlessly.
    pub fn new(
        run_dir: Option<&Path>,
        total_steps: u64,
        show_progress: bool,
        resume_step: Option<u64>,
    ) -> std::io::Result<Self> {
        let (tensorboard, csv) = match run_dir {
            None => (None, None),
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let csv_path = dir.join(CSV_NAME);
                if let Some(step) = resume_step {
                    truncate_csv_after(&csv_path, step)?;
                }
                let fresh = !csv_path.exists();
                let mut csv = BufWriter::new(std::fs::OpenOptions::new().create(true).append(true).open(&csv_path)?);
                if fresh {
                    writeln!(csv, "step,tag,value,wall_time")?;
                }
                (Some(SummaryWriter::new(dir)), Some(csv))
            }
        };
        let progress = show_progress.then(|| {
            let bar = ProgressBar::new(total_steps);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {elapsed_precise} (eta {eta})  {msg}")
                    .expect("valid template"),
            );
            bar
        });
        Ok(Logger { tensorboard, csv, progress, recent_returns: VecDeque::new(), started: Instant::now() })
    }

    /// A logger that writes nothing (tests, evaluation).
    pub fn disabled() -> Self {
        Logger::new(None, 0, false, None).expect("no I/O")
    }

    pub fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        if let Some(tb) = &mut self.tensorboard {
            tb.add_scalar(tag, value as f32, step as usize);
        }
        if let Some(csv) = &mut self.csv {
            let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(csv, "{step},{tag},{value},{wall:.3}");
        }
    }

    /// Records a finished episode's raw return and length (`charts/episodic_return`, `charts/episodic_length`).
    pub fn episode(&mut self, ret: f64, len: u64, step: u64) {
        self.scalar("charts/episodic_return", ret, step);
        self.scalar("charts/episodic_length", len as f64, step);
        if self.recent_returns.len() == 100 {
            self.recent_returns.pop_front();
        }
        self.recent_returns.push_back(ret);
    }

    pub fn mean_recent_return(&self) -> Option<f64> {
        (!self.recent_returns.is_empty())
            .then(|| self.recent_returns.iter().sum::<f64>() / self.recent_returns.len() as f64)
    }

    /// Updates the progress bar and flushes the files (so a killed run keeps what it logged).
    pub fn progress(&mut self, step: u64, sps: f64) {
        let ret = self.mean_recent_return().map_or("-".to_string(), |r| format!("{r:.1}"));
        self.progress_with(step, format!("{sps:.0} SPS  mean return (last 100) {ret}"));
    }

    /// Updates the progress bar with a message of the caller's (supervised training: its loss) and flushes.
    pub fn progress_with(&mut self, step: u64, message: String) {
        if let Some(bar) = &self.progress {
            bar.set_position(step);
            bar.set_message(message);
        }
        self.flush();
    }

    pub fn flush(&mut self) {
        if let Some(csv) = &mut self.csv {
            let _ = csv.flush();
        }
        if let Some(tb) = &mut self.tensorboard {
            tb.flush();
        }
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Finishes the bar; dropping the logger closes the TensorBoard file.
    pub fn finish(&mut self) {
        self.flush();
        if let Some(bar) = self.progress.take() {
            bar.finish();
        }
    }
}

/// Rewrites `path` without the rows whose step is above `step` (atomically: temp file + rename).
fn truncate_csv_after(path: &Path, step: u64) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let tmp: PathBuf = path.with_extension("csv.tmp");
    {
        let mut out = BufWriter::new(File::create(&tmp)?);
        for (i, line) in BufReader::new(File::open(path)?).lines().enumerate() {
            let line = line?;
            let keep = i == 0 || line.split(',').next().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= step);
            if keep {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
    }
    std::fs::rename(tmp, path)
}
