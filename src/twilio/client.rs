//! The adapter: [`TwilioConfig`] and [`TwilioSender`], a [`Sender`] over Twilio's Messages API.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::resource::{ErrorBody, MessagePage, MessageResource, parse_date};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{
    Accepted, Classification, CodeRule, Disposition, ErrorCategory, ErrorTable, FindQuery,
    LookupError, OutboundMessage, ProviderMessage, SendOutcome, Sender,
};
use crate::time::Timestamp;

/// Twilio's API host; [`TwilioConfig::base_url`] replaces it (a test server, a regional edge).
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The API version in every path.
const API: &str = "/2010-04-01";

/// How many pages of [`LIST_PAGE_SIZE`] [`TwilioSender::find`] reads before it gives up
/// (100,000 messages to one recipient from one sender).
const MAX_PAGES: usize = 100;

/// Messages per page of a list, Twilio's largest: the whole history of a recipient with one
/// sender is read, so fewer, larger pages.
const LIST_PAGE_SIZE: u32 = 1000;

/// The adapter's settings: the account and its credentials, where the API is, the status
/// callback, the timeouts and the error table.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::twilio::TwilioConfig;
///
/// let config = TwilioConfig::new("AC00000000000000000000000000000001", "auth-token")
///     .base_url("http://127.0.0.1:4010")?
///     .status_callback_url("https://hooks.example.com/twilio/status")?
///     .timeout(Duration::from_secs(20));
/// assert_eq!(
///     config.callback_for("42").as_deref(),
///     Some("https://hooks.example.com/twilio/status?mid=42")
/// );
/// // The token never shows in logs.
/// assert!(!format!("{config:?}").contains("auth-token"));
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone)]
pub struct TwilioConfig {
    account_sid: String,
    username: String,
    password: String,
    base_url: String,
    status_callback: Option<String>,
    connect_timeout: Duration,
    timeout: Duration,
    validity_period: Option<u32>,
    table: ErrorTable,
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("status_callback", &self.status_callback)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("validity_period", &self.validity_period)
            .finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_input(message)
}

/// The adapter's error table: Twilio's, plus 20404 on a create (the account in the path does not
/// exist for these credentials: every message would meet it).
fn adapter_table() -> ErrorTable {
    ErrorTable::twilio().with_rule(CodeRule::new(
        20404,
        ErrorCategory::Config,
        Disposition::HaltBatch,
        "The requested resource was not found (check the account SID and the base URL)",
    ))
}

impl TwilioConfig {
    /// Authenticates with the account SID (`AC...`) and its auth token; api.twilio.com, no
    /// status callback, 10 s to connect, 30 s per request. Checked by [`TwilioConfig::build`].
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        let account_sid = account_sid.into();
        Self {
            username: account_sid.clone(),
            account_sid,
            password: auth_token.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            status_callback: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            validity_period: None,
            table: adapter_table(),
        }
    }

    /// Authenticates with an API key (`SK...`) and its secret, for the account `account_sid`
    /// (Twilio's recommended credentials for production: revocable one by one).
    pub fn with_api_key(
        account_sid: impl Into<String>,
        key_sid: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        let mut config = Self::new(account_sid, secret);
        config.username = key_sid.into();
        config
    }

    /// From the environment: `TWILIO_ACCOUNT_SID`, and `TWILIO_API_KEY` with `TWILIO_API_SECRET`
    /// when both are set, otherwise `TWILIO_AUTH_TOKEN`.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`TwilioConfig::from_env`] reading the variables through `var` (a test's map, a secret
    /// store). Empty values count as missing; the error names what is missing.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let account = get("TWILIO_ACCOUNT_SID")
            .ok_or_else(|| invalid("TWILIO_ACCOUNT_SID is not set (the account SID, AC...)"))?;
        match (get("TWILIO_API_KEY"), get("TWILIO_API_SECRET")) {
            (Some(key), Some(secret)) => Ok(Self::with_api_key(account, key, secret)),
            (Some(_), None) => Err(invalid(
                "TWILIO_API_KEY is set but TWILIO_API_SECRET is not (set both, or neither and TWILIO_AUTH_TOKEN)",
            )),
            (None, Some(_)) => Err(invalid(
                "TWILIO_API_SECRET is set but TWILIO_API_KEY is not (set both, or neither and TWILIO_AUTH_TOKEN)",
            )),
            (None, None) => {
                let token = get("TWILIO_AUTH_TOKEN").ok_or_else(|| {
                    invalid(
                        "TWILIO_AUTH_TOKEN is not set (or TWILIO_API_KEY and TWILIO_API_SECRET)",
                    )
                })?;
                Ok(Self::new(account, token))
            }
        }
    }

    /// Sends to this root instead of `https://api.twilio.com` (Twilio's paths are kept: the
    /// root is what comes before `/2010-04-01`). `http://` is accepted for local test servers.
    pub fn base_url(mut self, url: impl AsRef<str>) -> Result<Self> {
        let url = url.as_ref().trim().trim_end_matches('/');
        check_http_url(url, "the Twilio base URL")?;
        if url.contains(['?', '#']) {
            return Err(invalid(format!(
                "the Twilio base URL {url:?} must not have a query or a fragment"
            )));
        }
        self.base_url = url.to_owned();
        Ok(self)
    }

    /// Asks Twilio to post status updates to this URL, with `mid=<message id>` added to its
    /// query so an update maps back to its message even when the create's answer was lost.
    pub fn status_callback_url(mut self, url: impl AsRef<str>) -> Result<Self> {
        let url = url.as_ref().trim();
        check_http_url(url, "the status callback URL")?;
        if url.contains('#') {
            return Err(invalid(format!(
                "the status callback URL {url:?} must not have a fragment (mid is added to its query)"
            )));
        }
        self.status_callback = Some(url.to_owned());
        Ok(self)
    }

    /// How long connecting may take (default 10 s). A connection that fails is retried: the
    /// request never left.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole request may take (default 30 s; Twilio's own limit is about 15 s). A
    /// create that times out is in doubt: Twilio may have created the message.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Twilio's `ValidityPeriod`: how long a message may wait in Twilio's queue (1 to 36,000
    /// seconds) before it fails with 30036 instead of going out late.
    pub fn validity_period(mut self, seconds: u32) -> Result<Self> {
        if !(1..=36_000).contains(&seconds) {
            return Err(invalid(format!(
                "the validity period must be 1 to 36000 seconds, not {seconds}"
            )));
        }
        self.validity_period = Some(seconds);
        Ok(self)
    }

    /// Classifies failures with this table instead of Twilio's ([`ErrorTable::twilio`] plus
    /// 20404 on a create halting the batch).
    pub fn error_table(mut self, table: ErrorTable) -> Self {
        self.table = table;
        self
    }

    /// The account SID.
    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The API root in use.
    pub fn api_base_url(&self) -> &str {
        &self.base_url
    }

    /// The status callback URL for message `id`: the configured URL with `mid=<id>` added (the
    /// id percent-encoded), or `None` without one.
    pub fn callback_for(&self, id: &str) -> Option<String> {
        let base = self.status_callback.as_deref()?;
        let separator = match base.split_once('?') {
            None => "?",
            Some((_, "")) => "",
            Some((_, q)) if q.ends_with('&') => "",
            Some(_) => "&",
        };
        let encoded: String = form_urlencoded_value(id);
        Some(format!("{base}{separator}mid={encoded}"))
    }

    /// Checks the settings and makes the sender (its HTTP client: rustls, no redirects, the
    /// timeouts).
    pub fn build(self) -> Result<TwilioSender> {
        let sid_like = |s: &str, prefix: &str| {
            s.len() == 34
                && s.starts_with(prefix)
                && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !sid_like(&self.account_sid, "AC") {
            return Err(invalid(format!(
                "the Twilio account SID {:?} is not AC followed by 32 letters and digits",
                self.account_sid
            )));
        }
        if self.username != self.account_sid && !sid_like(&self.username, "SK") {
            return Err(invalid(format!(
                "the Twilio API key {:?} is not SK followed by 32 letters and digits",
                self.username
            )));
        }
        if self.password.is_empty() {
            return Err(invalid(
                "the Twilio auth token (or API key secret) is empty",
            ));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(invalid("the Twilio timeouts must be longer than zero"));
        }
        let client = reqwest::Client::builder()
            // A create redirected elsewhere is a configuration mistake, and following a 301/302
            // would turn the POST into a GET: answer it as it is.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(concat!("smsbatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Io {
                    message: format!("cannot make the HTTP client for Twilio: {e}"),
                })
            })?;
        let messages_url = format!(
            "{}{API}/Accounts/{}/Messages",
            self.base_url, self.account_sid
        );
        Ok(TwilioSender {
            client,
            config: self,
            messages_url,
        })
    }
}

fn check_http_url(url: &str, what: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with(['/', '?', '#']) => {
            if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(invalid(format!("{what} {url:?} contains spaces")))
            } else {
                Ok(())
            }
        }
        _ => Err(invalid(format!(
            "{what} {url:?} is not an http:// or https:// URL with a host"
        ))),
    }
}

/// Percent-encodes a query value (`application/x-www-form-urlencoded` without `+`).
fn form_urlencoded_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Messaging Service SID (`MG` + 32): sent as `MessagingServiceSid`, not `From`.
fn is_service_sid(from: &str) -> bool {
    from.len() == 34
        && from.starts_with("MG")
        && from[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `Retry-After`: delay-seconds, or an HTTP date (its distance from now; a date in the past is
/// no wait).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_date(text)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let now = Timestamp::from_unix_seconds(i64::try_from(now).ok()?)?;
    Some(if at > now {
        at.duration_since(now)
    } else {
        Duration::ZERO
    })
}

/// Twilio's Messages API as a [`Sender`] (feature `twilio`).
///
/// - `send` creates the message (`POST .../Messages.json` with `To`, `From` or
///   `MessagingServiceSid` for a sender `MG...`, `Body`, `StatusCallback` with `mid=<id>`,
///   `ValidityPeriod`), once, and classifies the answer: 201 is accepted (SID, status, segments,
///   price when known); an error body's code and the HTTP status go through the
///   [`ErrorTable`] (429 and 503 retry with `Retry-After` as the floor, 500 and other 5xx are in
///   doubt because a create is not idempotent, 401 halts the batch...); a connection that
///   could not be made retries; a timeout or a connection lost after the request went out is in
///   doubt; a 201 whose body cannot be read is in doubt too.
/// - `lookup` fetches a message by SID (`GET .../Messages/{Sid}.json`).
/// - `find` lists the messages by `To` and `From` (no `DateSent` filter: Twilio leaves
///   `date_sent` empty while a message is queued or accepted, so such a filter would hide
///   exactly the in-doubt create that is still waiting in Twilio's queue), following
///   `next_page_uri` to the end, and keeps those [`FindQuery::matches`] accepts (same text,
///   created within the window): how an in-doubt message is reconciled without resending it.
///
/// It never retries by itself: the queue owns retries.
pub struct TwilioSender {
    client: reqwest::Client,
    config: TwilioConfig,
    messages_url: String,
}

impl fmt::Debug for TwilioSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a request got no HTTP answer, for the outcome.
fn network_outcome(e: &reqwest::Error) -> SendOutcome {
    let message = describe(e);
    if e.is_builder() {
        return Classification::new(ErrorCategory::Config, Disposition::HaltBatch).outcome(
            None,
            None,
            format!("cannot build the request to Twilio: {message}"),
            None,
        );
    }
    if e.is_connect() {
        // Never connected (refused, DNS, TLS handshake, connect timeout): nothing reached
        // Twilio.
        return Classification::NETWORK_BEFORE_SEND.outcome(
            None,
            None,
            format!("could not connect to Twilio: {message}"),
            None,
        );
    }
    // The request may have been written: a read timeout, a reset while waiting, a body cut
    // short. Twilio may have created the message.
    Classification::NETWORK_AFTER_SEND.outcome(
        None,
        None,
        format!("no answer from Twilio after sending: {message}"),
        None,
    )
}

/// The error with its causes (reqwest's `Display` alone says little: "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn unavailable(message: impl Into<String>, retry_after: Option<Duration>) -> LookupError {
    LookupError::Unavailable {
        message: message.into(),
        retry_after,
    }
}

impl TwilioSender {
    /// The settings it was built with.
    pub fn config(&self) -> &TwilioConfig {
        &self.config
    }

    /// The form fields of the create request for `message`.
    pub fn create_form(&self, message: &OutboundMessage) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", message.to.clone())];
        if is_service_sid(&message.from) {
            form.push(("MessagingServiceSid", message.from.clone()));
        } else {
            form.push(("From", message.from.clone()));
        }
        form.push(("Body", message.body.clone()));
        let callback = message
            .status_callback
            .clone()
            .or_else(|| self.config.callback_for(message.id.as_str()));
        if let Some(callback) = callback {
            form.push(("StatusCallback", callback));
        }
        if let Some(seconds) = self.config.validity_period {
            form.push(("ValidityPeriod", seconds.to_string()));
        }
        form
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client
            .get(url)
            .basic_auth(&self.config.username, Some(&self.config.password))
    }

    /// A GET answered with JSON: the parsed body, or why not.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> std::result::Result<T, LookupError> {
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(format!("Twilio did not answer: {}", describe(&e)), None))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| {
            unavailable(
                format!("Twilio's answer was cut short: {}", describe(&e)),
                None,
            )
        })?;
        if status == 404 {
            return Err(LookupError::NotFound);
        }
        if !(200..300).contains(&status) {
            let (code, text) = ErrorBody::read(status, &body);
            let code = code.map_or_else(String::new, |c| format!(" (code {c})"));
            return Err(unavailable(
                format!("Twilio answered HTTP {status}{code}: {text}"),
                wait,
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            unavailable(
                format!("Twilio's answer is not the expected JSON: {e}"),
                None,
            )
        })
    }
}

#[async_trait]
impl Sender for TwilioSender {
    fn name(&self) -> &str {
        "twilio"
    }

    async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        let form = self.create_form(message);
        let response = self
            .client
            .post(format!("{}.json", self.messages_url))
            .basic_auth(&self.config.username, Some(&self.config.password))
            .form(&form)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return network_outcome(&e),
        };
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) if (200..300).contains(&status) => {
                return Classification::NETWORK_AFTER_SEND.outcome(
                    None,
                    Some(status),
                    format!(
                        "Twilio answered HTTP {status} but the body was cut short: {}",
                        describe(&e)
                    ),
                    None,
                );
            }
            // The status is enough to classify a failure.
            Err(_) => Default::default(),
        };
        if (200..300).contains(&status) {
            return match serde_json::from_slice::<MessageResource>(&body) {
                Ok(m) => {
                    let mut accepted = Accepted::new(&m.sid).status(m.provider_status());
                    accepted.segments = m.segments();
                    accepted.price = m.charged();
                    SendOutcome::Accepted(accepted)
                }
                // Created, most likely, but without its SID: reconcile rather than resend.
                Err(e) => Classification::NETWORK_AFTER_SEND.outcome(
                    None,
                    Some(status),
                    format!("Twilio answered HTTP {status} with a body that is not a message: {e}"),
                    None,
                ),
            };
        }
        if (300..400).contains(&status) {
            return Classification::new(ErrorCategory::Config, Disposition::HaltBatch).outcome(
                None,
                Some(status),
                format!(
                    "Twilio's create was redirected (HTTP {status}); check the base URL {}",
                    self.config.base_url
                ),
                None,
            );
        }
        let (code, text) = ErrorBody::read(status, &body);
        self.config
            .table
            .outcome(code.as_deref(), Some(status), text, wait)
    }

    async fn lookup(&self, provider_id: &str) -> std::result::Result<ProviderMessage, LookupError> {
        // A SID is letters and digits; anything else cannot name a message (and must not
        // change the path).
        if provider_id.is_empty() || !provider_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(LookupError::NotFound);
        }
        let url = format!("{}/{provider_id}.json", self.messages_url);
        let m: MessageResource = self.get_json(self.get(&url)).await?;
        Ok(m.into_provider_message(false))
    }

    fn can_find(&self) -> bool {
        true
    }

    async fn find(
        &self,
        query: &FindQuery,
    ) -> std::result::Result<Vec<ProviderMessage>, LookupError> {
        let by_service = is_service_sid(&query.from);
        let mut params: Vec<(&str, String)> = vec![("To", query.to.clone())];
        if !by_service {
            params.push(("From", query.from.clone()));
        }
        // No `DateSent` filter: a message still queued (or accepted by a Messaging Service)
        // has no date sent yet, and Twilio's date filters leave it out; that is the very
        // message an in-doubt create may be. The window is applied to `date_created` here
        // instead ([`FindQuery::matches`]). Twilio documents the list as sorted by `DateSent`,
        // most recent first, but not where messages without one go, so there is no safe point
        // to stop early: every page is read (a recipient's messages from one sender are few).
        params.push(("PageSize", LIST_PAGE_SIZE.to_string()));
        let mut request = self
            .get(&format!("{}.json", self.messages_url))
            .query(&params);
        let mut found = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: MessagePage = match self.get_json(request).await {
                Ok(p) => p,
                // The list itself exists; a 404 here is a wrong account or base URL.
                Err(LookupError::NotFound) => {
                    return Err(unavailable(
                        "Twilio answered 404 to the message list (check the account SID and the base URL)",
                        None,
                    ));
                }
                Err(e) => return Err(e),
            };
            found.extend(
                page.messages
                    .into_iter()
                    .map(|m| m.into_provider_message(by_service))
                    .filter(|m| query.matches(m)),
            );
            match page.next_page_uri.filter(|u| !u.is_empty()) {
                Some(next) if next.starts_with('/') => {
                    request = self.get(&format!("{}{next}", self.config.base_url));
                }
                Some(next) => {
                    return Err(unavailable(
                        format!("Twilio's next page {next:?} is not a path on the API"),
                        None,
                    ));
                }
                None => return Ok(found),
            }
        }
        Err(unavailable(
            format!(
                "more than {MAX_PAGES} pages of messages to {}; reconcile by hand",
                query.to
            ),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC00000000000000000000000000000001";

    #[test]
    fn configuration_from_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = TwilioConfig::from_vars(vars(&[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok"),
        ]))
        .unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), (SID, "tok"));
        let c = TwilioConfig::from_vars(vars(&[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_API_KEY", "SK00000000000000000000000000000002"),
            ("TWILIO_API_SECRET", "sec"),
        ]))
        .unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("SK00000000000000000000000000000002", "sec")
        );
        c.build().unwrap();
        for (vars, says) in [
            (vars(&[("TWILIO_AUTH_TOKEN", "tok")]), "TWILIO_ACCOUNT_SID"),
            (vars(&[("TWILIO_ACCOUNT_SID", SID)]), "TWILIO_AUTH_TOKEN"),
            (
                vars(&[("TWILIO_ACCOUNT_SID", SID), ("TWILIO_API_KEY", "SK1")]),
                "TWILIO_API_SECRET is not",
            ),
            (
                vars(&[("TWILIO_ACCOUNT_SID", SID), ("TWILIO_AUTH_TOKEN", " ")]),
                "TWILIO_AUTH_TOKEN is not set",
            ),
        ] {
            let err = TwilioConfig::from_vars(vars).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let err = |r: Result<TwilioConfig>| r.unwrap_err().to_string();
        let c = || TwilioConfig::new(SID, "tok");
        assert!(err(c().base_url("ftp://x")).contains("not an http:// or https:// URL"));
        assert!(err(c().base_url("http://")).contains("with a host"));
        assert!(err(c().base_url("http://x/?a=1")).contains("query"));
        assert!(err(c().status_callback_url("https://x/cb#f")).contains("fragment"));
        assert!(err(c().status_callback_url("https://x/c b")).contains("spaces"));
        assert!(err(c().validity_period(0)).contains("1 to 36000"));
        let build = |c: TwilioConfig| c.build().unwrap_err().to_string();
        assert!(build(TwilioConfig::new("AC1", "t")).contains("account SID \"AC1\""));
        assert!(build(TwilioConfig::new(SID, "")).contains("empty"));
        assert!(build(TwilioConfig::with_api_key(SID, "XX1", "s")).contains("API key"));
        assert!(build(c().timeout(Duration::ZERO)).contains("zero"));
        assert_eq!(
            c().base_url("http://127.0.0.1:9/").unwrap().api_base_url(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn callback_urls_get_the_message_id() {
        let with = |url: &str| {
            TwilioConfig::new(SID, "t")
                .status_callback_url(url)
                .unwrap()
                .callback_for("a b&7")
                .unwrap()
        };
        assert_eq!(with("https://h/cb"), "https://h/cb?mid=a%20b%267");
        assert_eq!(with("https://h/cb?x=1"), "https://h/cb?x=1&mid=a%20b%267");
        assert_eq!(with("https://h/cb?"), "https://h/cb?mid=a%20b%267");
        assert_eq!(with("https://h/cb?x=1&"), "https://h/cb?x=1&mid=a%20b%267");
        assert_eq!(TwilioConfig::new(SID, "t").callback_for("1"), None);
    }

    #[test]
    fn create_form_fields() {
        let sender = TwilioConfig::new(SID, "t")
            .status_callback_url("https://h/cb")
            .unwrap()
            .validity_period(600)
            .unwrap()
            .build()
            .unwrap();
        let m = OutboundMessage::new(7_i64, "+447700900123", "+15005550006", "Hi");
        assert_eq!(
            sender.create_form(&m),
            [
                ("To", "+447700900123".to_owned()),
                ("From", "+15005550006".to_owned()),
                ("Body", "Hi".to_owned()),
                ("StatusCallback", "https://h/cb?mid=7".to_owned()),
                ("ValidityPeriod", "600".to_owned()),
            ]
        );
        let service = "MG00000000000000000000000000000001";
        let m = OutboundMessage::new(8_i64, "+447700900123", service, "Hi")
            .status_callback("https://own/cb");
        let form = sender.create_form(&m);
        assert_eq!(form[1], ("MessagingServiceSid", service.to_owned()));
        assert_eq!(form[3], ("StatusCallback", "https://own/cb".to_owned()));
        // An alphanumeric sender id that merely starts with MG is a From.
        assert!(!is_service_sid("MGACME"));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past");
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Fri, 01 Jan 2100 00:00:00 GMT".parse().unwrap(),
        );
        assert!(retry_after(&h).unwrap() > Duration::from_secs(86_400 * 365));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
