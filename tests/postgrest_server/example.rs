//! The `postgrest_server` example as a process: it prints `listening on http://127.0.0.1:P`
//! with `--port 0`, answers, refuses bad arguments, and is killed by its guard.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use super::support::{Api, Db};

/// Kills and reaps the process when dropped, also when the test fails.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/examples/postgrest_server`, built when missing (`cargo test --test
/// integration` does not build examples; a plain `cargo test` does).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("postgrest_server{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--example",
            "postgrest_server",
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

#[test]
fn the_example_serves_and_stops() {
    let Some(db) = Db::create("example") else {
        return;
    };
    db.execute(
        "CREATE TABLE pings (id int PRIMARY KEY, note text);
         INSERT INTO pings VALUES (1, 'pong');
         GRANT SELECT ON pings TO anon;",
    );
    let child = Command::new(example_binary())
        .args([
            "--database-url",
            &db.url,
            "--schema",
            "public",
            "--port",
            "0",
        ])
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
    let line = line.trim_end();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected address {url:?}"));
    assert_ne!(port, 0, "--port 0 prints the real port");

    let r = Api::new(format!("{url}/rest/v1")).get("/pings", "select=note", &[]);
    assert_eq!((r.status, r.json()), (200, json!([{"note": "pong"}])));

    let pid = guard.0.id();
    drop(guard);
    // The process is gone: the port no longer answers.
    assert!(
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2)
        )
        .is_err(),
        "process {pid} still serves after being killed"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let output = Command::new(example_binary())
        .args(["--database-url", "postgres://127.0.0.1/x", "--port", "http"])
        .stdin(Stdio::null())
        .output()
        .expect("the example runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--port"), "{stderr}");
    let help = Command::new(example_binary())
        .arg("--help")
        .output()
        .expect("the example runs");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--jwt-secret"));
}
