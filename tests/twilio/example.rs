//! The `twilio_server` example as a process: it prints its address, answers the adapter,
//! injects its faults, appends every create to the record file, and is killed by its guard.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use smsbatch::queue::{OutboundMessage, SendOutcome, Sender};
use smsbatch::twilio::TwilioConfig;
use smsbatch_twilio_testserver::{DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, read_record};

/// Kills and reaps the process when dropped, also when the test fails.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A file name under the temporary directory, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh name (process id, a counter, the time).
    pub fn new(stem: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Self(std::env::temp_dir().join(format!(
            "smsbatch-{stem}-{}-{}-{nanos}.jsonl",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `target/<profile>/examples/twilio_server`, built when missing (`cargo test --test
/// integration` does not build examples; a plain `cargo test` does).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("twilio_server{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--example",
            "twilio_server",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the example failed");
    }
    bin
}

#[tokio::test]
async fn the_example_serves_records_and_stops() {
    let record = TempFile::new("twilio-example");
    let child = Command::new(example_binary())
        .args([
            "--port",
            "0",
            "--rate-limit-one-in",
            "3",
            "--server-error-one-in",
            "2",
        ])
        .arg("--record")
        .arg(&record.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut guard = ChildGuard(child);
    let stdout = guard.0.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the example prints its address within a minute");
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected address {url:?}"));

    let sender = TwilioConfig::new(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
        .base_url(&url)
        .unwrap()
        .build()
        .unwrap();
    let m = |id: i64| OutboundMessage::new(id, format!("+4477009001{id:02}"), "+15005550006", "Hi");
    // Creates 1, 2 and 3: accepted; created then 500 (in doubt); 429 (not created).
    assert!(sender.send(&m(1)).await.is_accepted());
    assert!(matches!(sender.send(&m(2)).await, SendOutcome::InDoubt(_)));
    assert!(matches!(
        sender.send(&m(3)).await,
        SendOutcome::Retry { .. }
    ));
    let created = read_record(&record.0).unwrap();
    let to: Vec<&str> = created.iter().map(|c| c.to.as_str()).collect();
    assert_eq!(to, ["+447700900101", "+447700900102"]);
    assert_eq!((created[0].answered, created[1].answered), (201, 500));
    let looked_up = sender.lookup(&created[1].sid).await.unwrap();
    assert_eq!(looked_up.to.as_deref(), Some("+447700900102"));

    drop(guard);
    assert!(
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2)
        )
        .is_err(),
        "the example still serves after being killed"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let output = Command::new(example_binary())
        .args(["--port", "http"])
        .stdin(Stdio::null())
        .output()
        .expect("the example runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--port"));
    let help = Command::new(example_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--server-error-one-in"));
}
