//! Twilio (feature `twilio`): the provider adapter and its webhooks.
//!
//! - [`TwilioSender`] is a [`Sender`](crate::queue::Sender) over Twilio's Messages API, made from
//!   a [`TwilioConfig`] (account SID with its auth token or an API key pair, from the
//!   environment with [`TwilioConfig::from_env`]; the API root, replaceable for tests; the status
//!   callback URL, to which it adds `mid=<message id>`; timeouts). It creates each message once
//!   and classifies Twilio's answers with [`ErrorTable::twilio`](crate::queue::ErrorTable::twilio):
//!   a 500 after a create is **in doubt**, never retried blindly, and
//!   [`Sender::find`](crate::queue::Sender::find) lists the recipient's messages (`To`, `From`;
//!   not `DateSent`, empty while Twilio still queues a message) to reconcile it.
//! - [`Webhooks`] are the handlers a web service calls: the status callback (verified with
//!   `X-Twilio-Signature`, moving a message's status forward only, recording price and error
//!   code) and inbound messages (STOP and the other opt-out keywords add the sender to the
//!   suppression list, START removes it, anything else goes to a reply log).
//! - [`signature`] and [`verify_signature`] are Twilio's webhook signature on their own.
//!
//! HTTPS goes through reqwest with rustls: no OpenSSL in the build.
//!
//! ```no_run
//! use std::sync::Arc;
//! use smsbatch::queue::{OutboundMessage, SendOutcome, Sender};
//! use smsbatch::twilio::TwilioConfig;
//!
//! # async fn run() -> Result<(), smsbatch::Error> {
//! let sender: Arc<dyn Sender> = Arc::new(
//!     TwilioConfig::from_env()?
//!         .status_callback_url("https://hooks.example.com/twilio/status")?
//!         .build()?,
//! );
//! let message = OutboundMessage::new(42_i64, "+447700900123", "+15005550006", "Your code is 1234");
//! match sender.send(&message).await {
//!     SendOutcome::Accepted(a) => println!("queued as {}", a.provider_id),
//!     other => println!("not sent: {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod resource;
mod signature;
mod webhook;

pub use self::client::{DEFAULT_BASE_URL, TwilioConfig, TwilioSender};
pub use self::signature::{signature, verify_signature};
pub use self::webhook::{
    EMPTY_TWIML, Inbound, InboundMessage, START_KEYWORDS, STOP_KEYWORDS, StatusUpdate,
    WebhookRequest, Webhooks, http_status, opt_keyword,
};
