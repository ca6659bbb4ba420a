//! The Twilio adapter against the fake Twilio server (`twiliotest/`): the create request, every
//! error shape, 429s, in-doubt creates reconciled through the list, look-ups; the webhooks
//! (signatures, status callbacks, STOP/START) through the in-memory store.

mod adapter;
#[cfg(feature = "cli")]
mod cli;
#[cfg(all(feature = "cli", feature = "postgres"))]
mod crash;
mod example;
mod webhooks;

use std::time::Duration;

use smsbatch::twilio::{TwilioConfig, TwilioSender};
use smsbatch_twilio_testserver::{Config, Server};

/// A sender pointed at `server`, with a status callback and a short timeout.
pub fn sender_for(server: &Server) -> TwilioSender {
    config_for(server).build().unwrap()
}

/// The configuration of [`sender_for`].
pub fn config_for(server: &Server) -> TwilioConfig {
    TwilioConfig::new(server.account_sid(), server.auth_token())
        .base_url(server.url())
        .unwrap()
        .status_callback_url("https://hooks.example.com/twilio/status")
        .unwrap()
        .timeout(Duration::from_secs(10))
}

/// A fake with the defaults.
pub fn start(config: Config) -> Server {
    Server::start(config).unwrap()
}
