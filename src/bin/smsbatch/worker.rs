//! `smsbatch worker`: prepares and drains every due batch through a provider, logging to
//! stderr (one JSON line per event); SIGTERM or SIGINT stop it gracefully.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use smsbatch::Error;
use smsbatch::queue::Sender;
use smsbatch::send::{RunnerConfig, Shutdown, Worker, WorkerEvent};
use smsbatch::testing::FakeConfig;
use smsbatch::twilio::TwilioConfig;

use crate::store::{StoreArgs, block_on};

/// The providers a worker can send through. Adding one (the Twilio adapter) is a variant here
/// and an arm in [`build_sender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProviderKind {
    /// The fake provider of `smsbatch::testing` (deterministic from --seed; with --fake-record
    /// it appends one JSON line per accepted message to a file several workers may share).
    Fake,
    /// Twilio's Messages API. Credentials from the environment: TWILIO_ACCOUNT_SID with
    /// TWILIO_AUTH_TOKEN, or with TWILIO_API_KEY and TWILIO_API_SECRET.
    Twilio,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Which provider sends the messages.
    #[arg(long, value_enum, default_value_t = ProviderKind::Fake)]
    provider: ProviderKind,
    /// The fake provider's record file (appended to; created if missing).
    #[arg(long, value_name = "FILE")]
    fake_record: Option<PathBuf>,
    /// The fake provider's latency per send, in milliseconds: `MIN-MAX` or `N`.
    #[arg(long, value_name = "MIN-MAX")]
    fake_latency_ms: Option<String>,
    /// With --provider twilio: the API root instead of https://api.twilio.com (Twilio's paths
    /// are kept), e.g. a test server.
    #[arg(long, value_name = "URL")]
    twilio_base_url: Option<String>,
    /// With --provider twilio: where Twilio posts status updates; each message's own URL gets
    /// `mid=<message id>` added to its query.
    #[arg(long, value_name = "URL")]
    status_callback_url: Option<String>,
    /// The seed of the fake provider's choices and of the backoff's jitter.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Exit 0 once every due batch is completed, paused or cancelled and nothing is in flight.
    #[arg(long)]
    until_idle: bool,
    /// How often to look for work, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    poll_ms: u64,
    /// How long a provider call may take before it is in doubt, in seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    send_timeout: u64,
    #[command(flatten)]
    store: StoreArgs,
}

/// A fake provider's latency, `MIN-MAX` or `N` milliseconds, as given to `flag`.
pub(crate) fn latency(flag: &str, text: &str) -> Result<(Duration, Duration), Error> {
    let bad = || {
        Error::invalid_input(format!(
            "{flag} {} is not MIN-MAX or N (milliseconds)",
            crate::io::quote(text)
        ))
    };
    let (min, max) = match text.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u64>(), b.trim().parse::<u64>()),
        None => (text.trim().parse::<u64>(), text.trim().parse::<u64>()),
    };
    let (min, max) = (min.map_err(|_| bad())?, max.map_err(|_| bad())?);
    if max < min {
        return Err(bad());
    }
    Ok((Duration::from_millis(min), Duration::from_millis(max)))
}

/// The sender the flags choose (Twilio's credentials from `env`).
fn build_sender(
    args: &Args,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Sender>, Error> {
    if args.provider != ProviderKind::Twilio {
        for (flag, given) in [
            ("--twilio-base-url", args.twilio_base_url.is_some()),
            ("--status-callback-url", args.status_callback_url.is_some()),
        ] {
            if given {
                return Err(Error::invalid_input(format!(
                    "{flag} needs --provider twilio"
                )));
            }
        }
    }
    if args.provider != ProviderKind::Fake {
        for (flag, given) in [
            ("--fake-record", args.fake_record.is_some()),
            ("--fake-latency-ms", args.fake_latency_ms.is_some()),
        ] {
            if given {
                return Err(Error::invalid_input(format!(
                    "{flag} needs --provider fake"
                )));
            }
        }
    }
    match args.provider {
        ProviderKind::Twilio => {
            let mut config = TwilioConfig::from_vars(env)?
                // The runner gives up on a call after --send-timeout (in doubt); the adapter's
                // own limit is the same, so its answer is the one classified.
                .timeout(Duration::from_secs(args.send_timeout.max(1)));
            if let Some(url) = &args.twilio_base_url {
                config = config.base_url(url)?;
            }
            if let Some(url) = &args.status_callback_url {
                config = config.status_callback_url(url)?;
            }
            Ok(Arc::new(config.build()?))
        }
        ProviderKind::Fake => {
            let mut config = FakeConfig::new().seed(args.seed);
            if let Some(text) = &args.fake_latency_ms {
                let (min, max) = latency("--fake-latency-ms", text)?;
                config = config.latency(min, max);
            }
            if let Some(path) = &args.fake_record {
                config = config.record_file(path);
            }
            Ok(Arc::new(config.build()?))
        }
    }
}

fn log(event: &WorkerEvent) {
    let line = match event {
        WorkerEvent::Prepared { batch, messages } => {
            json!({"event": "prepared", "batch": batch, "messages": messages})
        }
        WorkerEvent::State {
            batch,
            state,
            reason,
            message,
        } => json!({"event": "state", "batch": batch, "state": state, "pauseReason": reason,
                    "message": message}),
        WorkerEvent::Rescued { pending, in_doubt } => {
            json!({"event": "rescued", "pending": pending, "inDoubt": in_doubt})
        }
        WorkerEvent::Error { batch, error } => {
            json!({"event": "error", "batch": batch, "error": error})
        }
        other => json!({"event": format!("{other:?}")}),
    };
    eprintln!("{line}");
}

pub(crate) fn run(args: Args) -> ExitCode {
    block_on(async move {
        let sender = build_sender(&args, |name| std::env::var(name).ok())?;
        let store = args.store.store().await?;
        let shutdown = Shutdown::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!(
                "{}",
                json!({"event": "shutdown", "message": "stopping: finishing the sends under way"})
            );
            signal.trigger();
        });
        let config = RunnerConfig::new()
            .poll(Duration::from_millis(args.poll_ms.max(1)))
            .send_timeout(Duration::from_secs(args.send_timeout.max(1)))
            .seed(args.seed);
        let worker = Worker::new(store, sender)
            .config(config)
            .shutdown(shutdown)
            .events(Arc::new(log));
        let report = if args.until_idle {
            worker.run_until_idle().await?
        } else {
            worker.run().await?
        };
        eprintln!("{}", json!({"event": "stopped", "report": report}));
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
