//! The `tokenizer.json` rlx trains and writes is the one Hugging Face's Python `tokenizers` 0.22.2 (what
//! `transformers`' `PreTrainedTokenizerFast` runs on) loads: the same ids for the same texts, the same decoding,
//! the same end-of-text token (script `tokenizer_json.py`, run with `RLX_PYTHON`, set by `scripts/test`).

use rlx_models::{Bpe, END_OF_TEXT};
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn python_tokenizers_reads_what_rlx_trains() {
    let corpus = "HAMLET.\nTo be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n\
                  The slings and arrows of outrageous fortune,\n";
    let bpe = Bpe::train(corpus.repeat(30).split_inclusive('\n'), 400).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    bpe.save(&path).unwrap();

    let texts = [
        "To be, or not to be",
        "  the question:\n\nOPHELIA.\n",
        "caf\u{e9} na\u{ef}ve \u{2014} bytes outside the corpus",
        &format!("The end.{END_OF_TEXT}The start"),
    ];
    let python = std::env::var("RLX_PYTHON").expect("RLX_PYTHON is unset: run the tests through scripts/test");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tokenizer_json.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&texts).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Python tokenizers script failed");
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs["end_of_text"], bpe.end_of_text());
    for (i, text) in texts.iter().enumerate() {
        let ours = bpe.encode(text);
        let want: Vec<i64> = serde_json::from_value(theirs["ids"][i].clone()).unwrap();
        assert_eq!(ours, want, "{text:?}");
        assert_eq!(bpe.decode(&ours), *text);
        assert_eq!(theirs["decoded"][i], *text);
    }
    assert!(bpe.encode(texts[3]).contains(&bpe.end_of_text()));
}
