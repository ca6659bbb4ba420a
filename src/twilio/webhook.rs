//! Twilio's webhooks as library functions: the status callback and inbound messages, verified.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::resource::parse_price;
use super::signature::verify_signature;
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{ErrorTable, MessageStatus, ProviderStatus};
use crate::store::{Fence, Message, MessageStore, SuppressionStore, Transition};
use crate::time::Timestamp;

/// The answer to give Twilio for an inbound message: TwiML that sends no reply (Twilio's own
/// opt-out handling answers STOP and START; anything else gets no automatic text).
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// Keywords that add the sender to the suppression list (Twilio's standard opt-out keywords,
/// with REVOKE and OPTOUT that Twilio added in 2025), compared without case, surrounding spaces
/// or a trailing `.` or `!`.
pub const STOP_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];

/// Keywords that take the sender off the suppression list (Twilio's opt-in keywords).
pub const START_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];

/// A webhook request as it arrived: the full URL Twilio requested (scheme, host, path and query,
/// exactly as configured in Twilio: behind a proxy, the public URL), the `X-Twilio-Signature`
/// header, and the POST parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    url: String,
    signature: Option<String>,
    params: Vec<(String, String)>,
}

impl fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("url", &self.url)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl WebhookRequest {
    /// From the raw body (`application/x-www-form-urlencoded`, as Twilio posts it). Fails with
    /// [`ErrorKind::InvalidWebhook`] when the body is not a form in UTF-8.
    ///
    /// ```
    /// use smsbatch::twilio::WebhookRequest;
    ///
    /// let request = WebhookRequest::from_form(
    ///     "https://example.com/twilio/status?mid=42",
    ///     Some("c2lnbmF0dXJl"),
    ///     b"MessageSid=SM1&MessageStatus=delivered&To=%2B447700900123",
    /// )?;
    /// assert_eq!(request.param("To"), Some("+447700900123"));
    /// # Ok::<(), smsbatch::Error>(())
    /// ```
    pub fn from_form(url: impl Into<String>, signature: Option<&str>, body: &[u8]) -> Result<Self> {
        Ok(Self::from_params(url, signature, parse_form(body)?))
    }

    /// From parameters a web framework already decoded (in any order).
    pub fn from_params(
        url: impl Into<String>,
        signature: Option<&str>,
        params: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self {
            url: url.into(),
            signature: signature.map(str::to_owned),
            params: params.into_iter().collect(),
        }
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first value of a POST parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that is there and not blank.
    fn present(&self, name: &str) -> Option<&str> {
        self.param(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The first value of a parameter of the URL's query.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.url.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or("");
        parse_form(query.as_bytes())
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn refused(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidWebhook {
        message: message.into(),
    })
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte), strictly: a bad
/// escape or bytes that are not UTF-8 are refused.
fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>> {
    let decode = |part: &[u8]| -> Result<String> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| refused("the form body has a bad % escape"))?;
                    out.push(hex);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).map_err(|_| refused("the form body is not UTF-8"))
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// What a status callback did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
#[non_exhaustive]
pub enum StatusUpdate {
    /// The message moved forward.
    Applied {
        /// Our id.
        message_id: i64,
        /// Its status before.
        from: MessageStatus,
        /// Its status now.
        to: MessageStatus,
    },
    /// Nothing to do: the message is already there or further on (callbacks arrive out of
    /// order; status only moves forward), or pending again for a retry.
    Unchanged {
        /// Our id.
        message_id: i64,
        /// Its status, which stays.
        status: MessageStatus,
    },
    /// A worker holds the message (its create's answer is being recorded); the worker's own
    /// update, then the verification pass, record what this callback said.
    Held {
        /// Our id.
        message_id: i64,
    },
    /// No message of ours has this id or SID (another application's message on the same
    /// account, or a message of a deleted batch).
    Unknown {
        /// Twilio's SID.
        provider_id: String,
    },
    /// Our message has another SID: Twilio created a second message for it. Recorded nowhere
    /// by this call: alert someone.
    Conflict {
        /// Our id.
        message_id: i64,
        /// The SID we recorded.
        ours: String,
        /// The SID of this callback.
        theirs: String,
    },
}

/// What an inbound message did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
#[non_exhaustive]
pub enum Inbound {
    /// An opt-out keyword: the sender is on the suppression list.
    OptedOut {
        /// The sender's number.
        phone: String,
        /// The keyword (upper case).
        keyword: String,
        /// False when the number was on the list already.
        added: bool,
    },
    /// An opt-in keyword: the sender is off the suppression list.
    OptedIn {
        /// The sender's number.
        phone: String,
        /// The keyword (upper case).
        keyword: String,
        /// False when the number was not on the list.
        removed: bool,
    },
    /// Anything else: handed to the reply log ([`Webhooks::on_reply`]).
    Reply(InboundMessage),
}

/// An inbound text that is not a keyword.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InboundMessage {
    /// The sender (`From`).
    pub from: String,
    /// Our number it was sent to (`To`).
    pub to: String,
    /// The text.
    pub body: String,
    /// Twilio's SID of it (`MessageSid`).
    pub provider_id: Option<String>,
}

/// Whether an inbound text is a keyword: [`STOP_KEYWORDS`] and [`START_KEYWORDS`], or Twilio's
/// `OptOutType` parameter (sent when Advanced Opt-Out is on, for its custom keywords too).
/// Returns the keyword in upper case and whether it stops.
///
/// ```
/// use smsbatch::twilio::opt_keyword;
///
/// assert_eq!(opt_keyword(" Stop. ", None), Some(("STOP".into(), true)));
/// assert_eq!(opt_keyword("unstop", None), Some(("UNSTOP".into(), false)));
/// assert_eq!(opt_keyword("please stop texting me", None), None);
/// assert_eq!(opt_keyword("arrêt", Some("STOP")), Some(("ARRÊT".into(), true)));
/// ```
pub fn opt_keyword(body: &str, opt_out_type: Option<&str>) -> Option<(String, bool)> {
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .trim()
        .to_uppercase();
    match opt_out_type
        .map(|t| t.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("STOP") => return Some((word, true)),
        Some("START") => return Some((word, false)),
        _ => {}
    }
    if STOP_KEYWORDS.contains(&word.as_str()) {
        Some((word, true))
    } else if START_KEYWORDS.contains(&word.as_str()) {
        Some((word, false))
    } else {
        None
    }
}

type ReplyLog = Arc<dyn Fn(&InboundMessage) + Send + Sync>;

/// The webhook handlers a web service calls (the web app mounts them): each verifies the
/// `X-Twilio-Signature` with the account's auth token and the exact URL, then acts through the
/// store traits.
///
/// Answer Twilio with HTTP 200 on `Ok` (with [`EMPTY_TWIML`] for inbound messages) and with
/// [`http_status`] of the error otherwise: 403 for a refused signature.
///
/// ```
/// use smsbatch::store::{Actor, Backend, MemoryStore};
/// use smsbatch::twilio::{Inbound, WebhookRequest, Webhooks, signature};
/// use smsbatch::Timestamp;
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// # runtime.block_on(async {
/// let store = MemoryStore::new().store(Actor::Service)?;
/// let hooks = Webhooks::new("auth-token");
/// let url = "https://hooks.example.com/twilio/inbound";
/// let params = [("From", "+447700900123"), ("To", "+15005550006"), ("Body", "STOP")];
/// let request = WebhookRequest::from_params(
///     url,
///     Some(&signature("auth-token", url, &params)),
///     params.map(|(k, v)| (k.to_owned(), v.to_owned())),
/// );
/// let now = Timestamp::UNIX_EPOCH;
/// let outcome = hooks.inbound(store.suppressions.as_ref(), &request, now).await?;
/// assert!(matches!(outcome, Inbound::OptedOut { added: true, .. }));
/// assert!(store.suppressions.contains("+447700900123").await?);
/// # Ok::<(), smsbatch::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Webhooks {
    auth_token: String,
    table: ErrorTable,
    on_reply: Option<ReplyLog>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("auth_token", &"<redacted>")
            .field("on_reply", &self.on_reply.is_some())
            .finish_non_exhaustive()
    }
}

/// The HTTP status to answer Twilio with for a handler's error: 403 for a refused request
/// (signature), 400 for input the handler cannot use, 500 for a store that failed (Twilio logs
/// it; the verification pass catches up).
pub fn http_status(error: &Error) -> u16 {
    match error.kind() {
        ErrorKind::InvalidWebhook { .. } => 403,
        ErrorKind::InvalidInput { .. } => 400,
        _ => 500,
    }
}

impl Webhooks {
    /// Handlers verifying with this auth token (the account's: API key secrets do not sign
    /// webhooks), classifying error codes with [`ErrorTable::twilio`].
    pub fn new(auth_token: impl Into<String>) -> Self {
        Self {
            auth_token: auth_token.into(),
            table: ErrorTable::twilio(),
            on_reply: None,
        }
    }

    /// Classifies the error codes of failed messages with this table.
    pub fn error_table(mut self, table: ErrorTable) -> Self {
        self.table = table;
        self
    }

    /// Calls `log` with every inbound text that is not a keyword (a reply to a campaign: store
    /// it, forward it, count it).
    pub fn on_reply(mut self, log: impl Fn(&InboundMessage) + Send + Sync + 'static) -> Self {
        self.on_reply = Some(Arc::new(log));
        self
    }

    /// Verifies the request's signature ([`verify_signature`]).
    pub fn verify(&self, request: &WebhookRequest) -> Result<()> {
        verify_signature(
            &self.auth_token,
            &request.url,
            &request.params,
            request.signature.as_deref(),
        )
    }

    /// A status callback (`MessageSid`, `MessageStatus`, and for failures `ErrorCode`; `Price`
    /// and `PriceUnit` when Twilio sends them): verified, mapped to our message by the `mid` of
    /// the callback URL (the adapter puts it there) or else by the SID, and applied only if it
    /// moves the message forward (`sent` → `delivered`, `in_doubt` → `sent`...), fenced on the
    /// status read, recording the SID, Twilio's status word, the error code with its category,
    /// and the price.
    pub async fn status_callback(
        &self,
        messages: &dyn MessageStore,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<StatusUpdate> {
        self.verify(request)?;
        let sid = request
            .present("MessageSid")
            .or_else(|| request.present("SmsSid"))
            .ok_or_else(|| Error::invalid_input("the status callback has no MessageSid"))?
            .to_owned();
        let word = request
            .present("MessageStatus")
            .or_else(|| request.present("SmsStatus"))
            .ok_or_else(|| Error::invalid_input("the status callback has no MessageStatus"))?
            .to_ascii_lowercase();
        let target = ProviderStatus::from_provider(&word).message_status();

        let mut change = Transition::to(target)
            .provider_id(&sid)
            .provider_status(&word);
        if let Some(segments) = request
            .present("NumSegments")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0)
        {
            change = change.provider_segments(segments);
        }
        if let Some(amount) = request.present("Price").and_then(parse_price) {
            let currency = request.present("PriceUnit").unwrap_or("USD");
            change = change.price(amount, currency.to_ascii_uppercase());
        }
        if matches!(target, MessageStatus::Failed | MessageStatus::Undelivered) {
            let code = request.present("ErrorCode");
            change = change.category(self.table.classify(code, None).category);
            if let Some(code) = code {
                change = change.error_code(code);
                let text = request
                    .present("ErrorMessage")
                    .map(str::to_owned)
                    .or_else(|| {
                        code.parse::<u32>()
                            .ok()
                            .and_then(|n| self.table.rule(n))
                            .map(|r| r.meaning.to_owned())
                    });
                if let Some(text) = text {
                    change = change.error_message(text);
                }
            }
        }

        let Some(mut message) = self.find_message(messages, request, &sid).await? else {
            return Ok(StatusUpdate::Unknown { provider_id: sid });
        };
        if let Some(ours) = message.provider_id.as_deref()
            && ours != sid
        {
            return Ok(StatusUpdate::Conflict {
                message_id: message.id,
                ours: ours.to_owned(),
                theirs: sid,
            });
        }
        // A concurrent change (the worker recording the create, another callback) makes the
        // fenced update change nothing: read again and decide again, a few times.
        for _ in 0..3 {
            let current = message.status;
            if current == MessageStatus::Processing {
                return Ok(StatusUpdate::Held {
                    message_id: message.id,
                });
            }
            if !current.can_become(target) || current == MessageStatus::Pending {
                return Ok(StatusUpdate::Unchanged {
                    message_id: message.id,
                    status: current,
                });
            }
            match messages
                .transition(message.id, Fence::Status(current), &change, now)
                .await
            {
                Ok(moved) => {
                    crate::analytics::observe::messages_moved(
                        Some(moved.batch_id),
                        moved.status,
                        1,
                    );
                    return Ok(StatusUpdate::Applied {
                        message_id: moved.id,
                        from: current,
                        to: moved.status,
                    });
                }
                Err(e) if e.is_lease_lost() => match messages.get(message.id).await? {
                    Some(again) => message = again,
                    None => return Ok(StatusUpdate::Unknown { provider_id: sid }),
                },
                Err(e) => return Err(e),
            }
        }
        Ok(StatusUpdate::Unchanged {
            message_id: message.id,
            status: message.status,
        })
    }

    async fn find_message(
        &self,
        messages: &dyn MessageStore,
        request: &WebhookRequest,
        sid: &str,
    ) -> Result<Option<Message>> {
        if let Some(id) = request
            .query_param("mid")
            .and_then(|m| m.trim().parse::<i64>().ok())
            && let Some(message) = messages.get(id).await?
        {
            return Ok(Some(message));
        }
        messages.find_by_provider_id(sid).await
    }

    /// An inbound message (`From`, `To`, `Body`, and `OptOutType` with Advanced Opt-Out):
    /// verified; an opt-out keyword ([`STOP_KEYWORDS`]) adds `From` to the suppression list, an
    /// opt-in keyword ([`START_KEYWORDS`]) removes it (a store acting as the service is needed
    /// for that), and anything else goes to the reply log ([`Webhooks::on_reply`]).
    pub async fn inbound(
        &self,
        suppressions: &dyn SuppressionStore,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<Inbound> {
        self.verify(request)?;
        let from = request
            .present("From")
            .ok_or_else(|| Error::invalid_input("the inbound message has no From"))?
            .to_owned();
        let body = request.param("Body").unwrap_or("");
        match opt_keyword(body, request.present("OptOutType")) {
            Some((keyword, true)) => {
                let reason = format!("{keyword} reply");
                let changes = suppressions
                    .add(&[(from.clone(), Some(reason))], now)
                    .await?;
                Ok(Inbound::OptedOut {
                    phone: from,
                    keyword,
                    added: !changes.created.is_empty(),
                })
            }
            Some((keyword, false)) => {
                let removed = suppressions.remove(std::slice::from_ref(&from)).await?;
                Ok(Inbound::OptedIn {
                    phone: from,
                    keyword,
                    removed: !removed.is_empty(),
                })
            }
            None => {
                let message = InboundMessage {
                    from,
                    to: request.param("To").unwrap_or("").to_owned(),
                    body: body.to_owned(),
                    provider_id: request.present("MessageSid").map(str::to_owned),
                };
                if let Some(log) = &self.on_reply {
                    log(&message);
                }
                Ok(Inbound::Reply(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_strictly() {
        assert_eq!(
            parse_form(b"To=%2B4477&Body=Hi+there%21&Empty=&Flag").unwrap(),
            [
                ("To".to_owned(), "+4477".to_owned()),
                ("Body".to_owned(), "Hi there!".to_owned()),
                ("Empty".to_owned(), String::new()),
                ("Flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(
            parse_form("Body=caf%C3%A9".as_bytes()).unwrap()[0].1,
            "café"
        );
        for bad in [&b"Body=%zz"[..], b"Body=%4", b"Body=%FF"] {
            let err = parse_form(bad).unwrap_err();
            assert_eq!(http_status(&err), 403);
        }
        assert!(parse_form(b"").unwrap().is_empty());
    }

    #[test]
    fn keywords() {
        for stop in [
            "STOP",
            "stop",
            " Stop! ",
            "StopAll",
            "unsubscribe",
            "cancel",
            "END",
            "quit",
            "revoke",
            "optout",
        ] {
            assert!(matches!(opt_keyword(stop, None), Some((_, true))), "{stop}");
        }
        for start in ["START", "yes", "Unstop."] {
            assert!(
                matches!(opt_keyword(start, None), Some((_, false))),
                "{start}"
            );
        }
        for other in ["", "HELP", "stop it", "yes please", "STOPP"] {
            assert_eq!(opt_keyword(other, None), None, "{other}");
        }
        assert_eq!(
            opt_keyword("halt", Some("stop")),
            Some(("HALT".into(), true))
        );
        assert_eq!(opt_keyword("go", Some("START")), Some(("GO".into(), false)));
        assert_eq!(opt_keyword("help", Some("HELP")), None);
    }

    #[test]
    fn query_parameters_of_the_url() {
        let r = WebhookRequest::from_params("https://h/cb?a=1&mid=4%32#x", None, []);
        assert_eq!(r.query_param("mid").as_deref(), Some("42"));
        assert_eq!(r.query_param("b"), None);
        assert_eq!(
            WebhookRequest::from_params("https://h/cb", None, []).query_param("mid"),
            None
        );
    }
}
