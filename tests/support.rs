//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// Path of a file under `tests/data/`.
#[allow(dead_code)]
pub fn data_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Contents of a file under `tests/data/`.
#[allow(dead_code)]
pub fn data(rel: &str) -> String {
    let path = data_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs the `smsbatch` binary with `args`, feeding `stdin`; returns stdout and the exit code.
#[cfg(feature = "cli")]
#[allow(dead_code)]
pub fn run_cli(args: &[&str], stdin: &str) -> (String, i32) {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_smsbatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the smsbatch binary starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_owned();
    // Write from another thread so a large output cannot deadlock against a full stdin pipe.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("the smsbatch binary runs");
    writer.join().expect("the stdin writer finishes");
    (
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        output.status.code().unwrap_or(-1),
    )
}

/// Parses each line of `out` as JSON.
#[allow(dead_code)]
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}
