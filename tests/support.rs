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

/// What a run of the `smsbatch` binary printed, and its exit code.
#[cfg(feature = "cli")]
#[derive(Debug)]
pub struct CliRun {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

#[cfg(feature = "cli")]
impl CliRun {
    /// Each line of stdout, parsed as JSON.
    #[allow(dead_code)]
    pub fn lines(&self) -> Vec<serde_json::Value> {
        json_lines(&self.stdout)
    }
}

/// Runs the `smsbatch` binary with `args`, feeding `stdin`.
#[cfg(feature = "cli")]
#[allow(dead_code)]
pub fn cli(args: &[&str], stdin: &str) -> CliRun {
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
    // Write from another thread so a large output cannot deadlock against a full stdin pipe; a
    // run that fails before reading stdin closes the pipe, which is not an error here.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("the smsbatch binary runs");
    writer.join().expect("the stdin writer finishes");
    CliRun {
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

/// Runs the `smsbatch` binary; returns stdout and the exit code.
#[cfg(feature = "cli")]
#[allow(dead_code)]
pub fn run_cli(args: &[&str], stdin: &str) -> (String, i32) {
    let run = cli(args, stdin);
    (run.stdout, run.code)
}

/// Parses each line of `out` as JSON.
#[allow(dead_code)]
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A file in the system's temporary directory with the given contents, removed when dropped.
#[allow(dead_code)]
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A file named after the process, `tag` and `extension`.
    #[allow(dead_code)]
    pub fn new(tag: &str, extension: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "smsbatch-test-{}-{tag}.{extension}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("the temporary file is written");
        Self(path)
    }

    /// Its path as text, for command-line arguments.
    #[allow(dead_code)]
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("temporary paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
