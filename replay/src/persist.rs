//! A replay buffer in one file, for resume: a JSON header (format version, layout, counters), the raw arrays of
//! every stream, the priorities, and a trailing FNV-1a checksum of everything before it. Written to a temporary
//! file, synced and renamed, so a crash mid-write leaves the previous file intact; a truncated, corrupt or foreign
//! file (another layout or element type, a newer format) is refused with one line naming it.

use crate::checksum::Fnv1a;
use crate::error::{ReplayError, Result};
use crate::replay::{Padding, ReplayBuffer, ReplayConfig};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"RLXRPLY1";
const FORMAT_VERSION: u32 = 1;

/// Observation elements a buffer can store and save: little-endian bytes on disk.
pub trait Element: Copy + Default + Send + Sync + 'static {
    const NAME: &'static str;
    fn write_le(values: &[Self], out: &mut Vec<u8>);
    fn read_le(bytes: &[u8]) -> Vec<Self>;
}

impl Element for u8 {
    const NAME: &'static str = "u8";
    fn write_le(values: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(values);
    }
    fn read_le(bytes: &[u8]) -> Vec<u8> {
        bytes.to_vec()
    }
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    fn write_le(values: &[f32], out: &mut Vec<u8>) {
        values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    fn read_le(bytes: &[u8]) -> Vec<f32> {
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct Header {
    format_version: u32,
    element: String,
    capacity: usize,
    n_envs: usize,
    frame_len: usize,
    stack: usize,
    padding: Padding,
    n_step: usize,
    gamma: f64,
    priority_alpha: Option<f64>,
    max_priority: f64,
    added: u64,
    /// Frames written per stream.
    written: Vec<u64>,
}

/// Writes the checksummed body to `out`, chunk by chunk, so a 7 GB buffer needs no second copy in memory.
struct Body<W: Write> {
    out: W,
    hash: Fnv1a,
}

impl<W: Write> Body<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }
}

impl<T: Element> ReplayBuffer<T> {
    /// Saves the buffer to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let fail = |e: std::io::Error| ReplayError::Write { path: path.display().to_string(), reason: e.to_string() };
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp).map_err(fail)?;
        let mut body = Body { out: BufWriter::with_capacity(1 << 20, file), hash: Fnv1a::new() };
        let c = self.config();
        let header = Header {
            format_version: FORMAT_VERSION,
            element: T::NAME.into(),
            capacity: c.capacity,
            n_envs: c.n_envs,
            frame_len: c.frame_len,
            stack: c.stack,
            padding: c.padding,
            n_step: c.n_step,
            gamma: c.gamma,
            priority_alpha: c.priority_alpha,
            max_priority: self.max_priority,
            added: self.added,
            written: self.streams.iter().map(|s| s.written).collect(),
        };
        let json = serde_json::to_vec(&header).expect("header serializes");
        (|| -> std::io::Result<()> {
            body.put(MAGIC)?;
            body.put(&(json.len() as u64).to_le_bytes())?;
            body.put(&json)?;
            let mut chunk = Vec::new();
            for s in &self.streams {
                for frames in s.frames.chunks(1 << 20) {
                    chunk.clear();
                    T::write_le(frames, &mut chunk);
                    body.put(&chunk)?;
                }
                chunk.clear();
                s.actions.iter().for_each(|a| chunk.extend_from_slice(&a.to_le_bytes()));
                s.rewards.iter().for_each(|r| chunk.extend_from_slice(&r.to_le_bytes()));
                chunk.extend_from_slice(&s.flags);
                body.put(&chunk)?;
            }
            if let Some(tree) = &self.tree {
                chunk.clear();
                (0..self.cap * c.n_envs).for_each(|i| chunk.extend_from_slice(&tree.get(i).to_le_bytes()));
                body.put(&chunk)?;
            }
            let sum = body.hash.finish();
            body.out.write_all(&sum.to_le_bytes())?;
            let file = body.out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        })()
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e)
        })?;
        std::fs::rename(&tmp, path).map_err(fail)
    }

    /// Loads a buffer saved by [`ReplayBuffer::save`]; its layout must be `config`'s (the run's).
    pub fn load(path: &Path, config: &ReplayConfig) -> Result<Self> {
        let bad = |reason: String| ReplayError::Load { path: path.display().to_string(), reason };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(bad("not an rlx replay file".into()));
        }
        let (body, trailer) = bytes.split_at(bytes.len() - 8);
        let mut hash = Fnv1a::new();
        hash.update(body);
        let json_len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")) as usize;
        let header: Header = body
            .get(16..16 + json_len)
            .and_then(|j| serde_json::from_slice(j).ok())
            .ok_or_else(|| bad("truncated or corrupt header".into()))?;
        if header.format_version > FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is newer than this rlx reads ({FORMAT_VERSION})",
                header.format_version
            )));
        }
        let mut buffer = ReplayBuffer::<T>::new(config.clone())?;
        let ours = (T::NAME, config.capacity, config.n_envs, config.frame_len, config.stack, config.padding);
        let theirs =
            (header.element.as_str(), header.capacity, header.n_envs, header.frame_len, header.stack, header.padding);
        let same_targets = (config.n_step, config.gamma, config.priority_alpha)
            == (header.n_step, header.gamma, header.priority_alpha);
        if ours != theirs || !same_targets || header.written.len() != config.n_envs {
            return Err(bad(format!(
                "it holds another buffer layout ({} x {} frames of {} elements, stack {}, {}-step, alpha {:?}) than \
                 this run's",
                header.element, header.capacity, header.frame_len, header.stack, header.n_step, header.priority_alpha
            )));
        }
        let cap = buffer.cap;
        let frame_bytes = cap * config.frame_len * std::mem::size_of::<T>();
        let stream_bytes = frame_bytes + cap * 9;
        let tree_bytes = if config.priority_alpha.is_some() { cap * config.n_envs * 8 } else { 0 };
        let payload = &body[16 + json_len..];
        if payload.len() != stream_bytes * config.n_envs + tree_bytes {
            return Err(bad(format!(
                "truncated: {} bytes of data, expected {}",
                payload.len(),
                stream_bytes * config.n_envs + tree_bytes
            )));
        }
        if hash.finish().to_le_bytes() != trailer {
            return Err(bad("checksum mismatch: the file is corrupt".into()));
        }
        for (env, s) in buffer.streams.iter_mut().enumerate() {
            let data = &payload[env * stream_bytes..(env + 1) * stream_bytes];
            s.frames = T::read_le(&data[..frame_bytes]);
            let rest = &data[frame_bytes..];
            s.actions = rest[..4 * cap].chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect();
            s.rewards =
                rest[4 * cap..8 * cap].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            s.flags = rest[8 * cap..9 * cap].to_vec();
            s.written = header.written[env];
        }
        if let Some(tree) = &mut buffer.tree {
            let leaves = &payload[stream_bytes * config.n_envs..];
            for (i, b) in leaves.chunks_exact(8).enumerate() {
                tree.set(i, f64::from_le_bytes(b.try_into().unwrap()));
            }
        }
        buffer.max_priority = header.max_priority;
        buffer.added = header.added;
        Ok(buffer)
    }
}
