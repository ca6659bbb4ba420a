//! The fake Twilio Messages API on its own, for a worker in another process or checks from
//! outside (curl, another language's Twilio client):
//!
//! ```text
//! cargo run --example twilio_server -- --port 0 --record /tmp/creates.jsonl \
//!     --server-error-one-in 23 --rate-limit-one-in 31
//! ```
//!
//! It prints `listening on http://127.0.0.1:PORT` on stdout once it accepts connections, then
//! serves until the process is stopped. Point the adapter at it with `--twilio-base-url` (or
//! `TwilioConfig::base_url`) and the account `AC00000000000000000000000000000001` with the auth
//! token `fake-twilio-auth-token` (both changeable, `--help` lists every option). Bad arguments
//! exit with status 2, a server that cannot start (port taken, record file unreadable) with 1.

use std::io::Write;

use smsbatch_twilio_testserver::{Config, Server, USAGE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("twilio_server: {e}");
            std::process::exit(2);
        }
    };
    let server = match Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("twilio_server: {e}");
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
