//! The PostgREST-compatible test server on its own, for checks from outside (curl, a Supabase
//! client, another language's tests):
//!
//! ```text
//! cargo run --release --example postgrest_server -- \
//!     --database-url postgres://postgres@127.0.0.1:5432/app --schema public --port 3000 \
//!     [--jwt-secret SECRET]
//! ```
//!
//! It prints `listening on http://127.0.0.1:PORT` on stdout once it accepts connections
//! (`--port 0` picks a free port and prints it) and serves until the process is stopped.
//! `--help` lists every option. Bad arguments exit with status 2, a server that cannot start
//! (database unreachable, port taken) with status 1.

use std::io::Write;

use smsbatch_postgrest_testserver::{Config, Server, USAGE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("postgrest_server: {e}");
            std::process::exit(2);
        }
    };
    let server = match Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("postgrest_server: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", server.url());
    // Whoever reads the line waits for it: flush now, not at exit.
    let _ = std::io::stdout().flush();
    // Serve until the process is stopped; the server runs on its own thread.
    loop {
        std::thread::park();
    }
}
