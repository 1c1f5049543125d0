//! `Env::render` against Gymnasium's `render()` in `rgb_array` mode (pygame 2.6), at seeded random states of every
//! classic-control env (recorded by `render_parity.py`).
//!
//! Both draw the same shapes at the same coordinates; only the rasterizers differ (pygame fills polygons on
//! integer coordinates and anti-aliases their outline, tiny-skia covers exact float edges), so frames agree up to
//! a one-pixel seam along edges. The test asserts that bound: almost every pixel equal, and every differing pixel
//! next to a shape's edge in Gymnasium's frame.

use rlx_envs::render::RgbFrame;
use rlx_envs::Env;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

#[derive(Deserialize)]
struct Rendered {
    height: usize,
    width: usize,
    states: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Summary {
    gymnasium: String,
    envs: BTreeMap<String, Rendered>,
}

const STATES: usize = 20;

/// Pixels whose colour differs by more than this in some channel count as different.
const TOLERANCE: u8 = 48;

fn gymnasium_frames() -> (PathBuf, Summary) {
    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render_parity");
    std::fs::create_dir_all(&out).unwrap();
    let script = format!("{}/tests/render_parity.py", env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(&python).arg(&script).arg(&out).arg(STATES.to_string()).status().unwrap();
    assert!(status.success(), "{script} failed: are gymnasium and pygame installed in {python}'s environment?");
    let summary = serde_json::from_str(&std::fs::read_to_string(out.join("states.json")).unwrap()).unwrap();
    (out, summary)
}

fn differs(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).any(|(&x, y)| x.abs_diff(y) > TOLERANCE)
}

/// Whether some pixel within one step of `(x, y)` in `frame` has another colour than `(x, y)`: an edge.
fn near_edge(frame: &RgbFrame, x: usize, y: usize) -> bool {
    let here = frame.pixel(x, y);
    let (x0, x1) = (x.saturating_sub(1), (x + 1).min(frame.width - 1));
    let (y0, y1) = (y.saturating_sub(1), (y + 1).min(frame.height - 1));
    (y0..=y1).any(|v| (x0..=x1).any(|u| differs(frame.pixel(u, v), here)))
}

#[test]
fn classic_frames_match_gymnasiums_rgb_array_up_to_edge_antialiasing() {
    let (dir, summary) = gymnasium_frames();
    assert_eq!(summary.envs.len(), 5);
    for (id, rendered) in &summary.envs {
        let bytes = std::fs::read(dir.join(format!("{id}.rgb"))).unwrap();
        let size = rendered.height * rendered.width * 3;
        assert_eq!(bytes.len(), size * STATES);
        let mut env = rlx_envs::make(id).unwrap();
        assert!(env.render().is_err(), "{id}: render before reset must be an error");
        env.reset(Some(0));
        let (mut worst, mut ink) = (0.0f64, 0usize);
        for (i, state) in rendered.states.iter().enumerate() {
            let theirs = RgbFrame::new(rendered.width, rendered.height, bytes[i * size..(i + 1) * size].to_vec());
            env.set_state(state).unwrap();
            let ours = env.render().unwrap();
            assert_eq!((ours.width, ours.height), (theirs.width, theirs.height), "{id}: frame size");
            let mut different = 0;
            for y in 0..ours.height {
                for x in 0..ours.width {
                    if differs(ours.pixel(x, y), theirs.pixel(x, y)) {
                        different += 1;
                        assert!(
                            near_edge(&theirs, x, y) || near_edge(&ours, x, y),
                            "{id} state {state:?}: pixel ({x}, {y}) is {:?} in rlx and {:?} in Gymnasium {}, away \
                             from any edge",
                            ours.pixel(x, y),
                            theirs.pixel(x, y),
                            summary.gymnasium
                        );
                    }
                    ink += usize::from(theirs.pixel(x, y) != [255, 255, 255]);
                }
            }
            worst = worst.max(different as f64 / (ours.width * ours.height) as f64);
        }
        assert!(ink > 0, "{id}: Gymnasium drew nothing");
        // Edges are a few hundred pixels of a 200,000-pixel frame (measured: at most 0.22%).
        assert!(worst < 0.005, "{id}: up to {:.3}% of the pixels differ", 100.0 * worst);
        eprintln!("{id}: at most {:.3}% of the pixels differ (all on edges)", 100.0 * worst);
    }
}

#[test]
fn atari_renders_the_rgb_screen_in_real_time() {
    let mut env = rlx_envs::atari::make_atari("PongNoFrameskip-v4").unwrap();
    env.reset(Some(0));
    let frame = env.render().unwrap();
    assert_eq!((frame.width, frame.height), (160, 210));
    // Pong's orange-brown playfield (ALE palette entry 0x44 = rgb(144, 72, 17)) fills most of the screen.
    let field =
        (0..210).flat_map(|y| (0..160).map(move |x| (x, y))).filter(|&(x, y)| frame.pixel(x, y) == [144, 72, 17]);
    assert!(field.count() > 160 * 150);
    assert_eq!(env.render_fps(), 15);
}
