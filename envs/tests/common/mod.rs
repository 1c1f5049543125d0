//! What the Gymnasium parity tests share: running a recording script with the project's venv python and reading
//! its JSON.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::PathBuf;
use std::process::Command;

/// A script's recording: the peer versions and, per env id, its episodes.
#[derive(Deserialize)]
#[serde(bound = "E: DeserializeOwned")]
pub struct Recording<E> {
    pub gymnasium: String,
    pub numpy: String,
    pub envs: std::collections::BTreeMap<String, Vec<E>>,
}

/// Runs `tests/<script>.py OUT.json args...` with `RLX_PYTHON` (set by `scripts/test`) and reads what it wrote.
pub fn record<E: DeserializeOwned>(script: &str, args: &[String]) -> Recording<E> {
    let python = std::env::var("RLX_PYTHON").expect(
        "RLX_PYTHON is unset: run the tests through scripts/test (it bootstraps the venv with Gymnasium), \
         or point RLX_PYTHON at a python that has gymnasium installed",
    );
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{script}.json"));
    let path = format!("{}/tests/{script}.py", env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(&python).arg(&path).arg(&out).args(args).status().expect("cannot run RLX_PYTHON");
    assert!(status.success(), "{path} failed: is gymnasium installed in {python}'s environment?");
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}
