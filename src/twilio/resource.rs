//! Twilio's JSON: the Message resource, a page of the list, the error body; its dates.

use serde::Deserialize;
use serde_json::Value;

use crate::batch::Amount;
use crate::queue::{Price, ProviderMessage, ProviderStatus};
use crate::time::{Date, Timestamp};

/// The fields of Twilio's Message resource the adapter reads (it has more).
#[derive(Debug, Deserialize)]
pub(crate) struct MessageResource {
    pub(crate) sid: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) to: Option<String>,
    #[serde(default)]
    pub(crate) from: Option<String>,
    #[serde(default)]
    pub(crate) messaging_service_sid: Option<String>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) date_created: Option<String>,
    /// A number as text (`"1"`); `"0"` while a Messaging Service has not picked a sender.
    #[serde(default)]
    pub(crate) num_segments: Option<Value>,
    /// A negative decimal as text (`"-0.00750"`), `null` until Twilio knows it.
    #[serde(default)]
    pub(crate) price: Option<Value>,
    #[serde(default)]
    pub(crate) price_unit: Option<String>,
    /// A number, or `null`.
    #[serde(default)]
    pub(crate) error_code: Option<Value>,
    #[serde(default)]
    pub(crate) error_message: Option<String>,
}

impl MessageResource {
    /// The status as the queue knows it.
    pub(crate) fn provider_status(&self) -> ProviderStatus {
        ProviderStatus::from_provider(&self.status)
    }

    /// Segments Twilio counted, when it has (not `0`, not missing).
    pub(crate) fn segments(&self) -> Option<u32> {
        self.num_segments
            .as_ref()
            .and_then(number_text)
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0)
    }

    /// What Twilio charged: the amount without its sign, in `price_unit`.
    pub(crate) fn charged(&self) -> Option<Price> {
        let text = self.price.as_ref().and_then(number_text)?;
        let currency = self.price_unit.clone().unwrap_or_else(|| "USD".into());
        parse_price(&text).map(|amount| Price::new(amount, currency.to_ascii_uppercase()))
    }

    /// The error code as text (`"30003"`).
    pub(crate) fn error_code(&self) -> Option<String> {
        self.error_code.as_ref().and_then(number_text)
    }

    /// The message as a look-up answers it. `sender` replaces `from` when the message went out
    /// through a Messaging Service and the caller knows it by the service's SID.
    pub(crate) fn into_provider_message(self, by_service: bool) -> ProviderMessage {
        let mut m = ProviderMessage::new(&self.sid, self.provider_status());
        m.segments = self.segments();
        m.price = self.charged();
        m.created_at = self.date_created.as_deref().and_then(parse_date);
        if let Some(code) = self.error_code() {
            m.error_code = Some(code);
            m.error_message = self.error_message.clone();
        }
        m.to = self.to;
        m.from = if by_service {
            self.messaging_service_sid
        } else {
            self.from
        };
        m.body = self.body;
        m
    }
}

/// A page of `GET /Messages.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessagePage {
    pub(crate) messages: Vec<MessageResource>,
    #[serde(default)]
    pub(crate) next_page_uri: Option<String>,
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}` (the 401 adds `detail`).
/// Every field is optional: a proxy's answer may carry none of them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) code: Option<Value>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) detail: Option<String>,
    #[serde(default)]
    pub(crate) more_info: Option<String>,
}

impl ErrorBody {
    /// Reads an error answer: Twilio's JSON body, or whatever came (an HTML page, nothing),
    /// described by its start.
    pub(crate) fn read(status: u16, body: &[u8]) -> (Option<String>, String) {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(e) if e.code.is_some() || e.message.is_some() => {
                let code = e.code.as_ref().and_then(number_text);
                let mut text = e.message.unwrap_or_else(|| format!("HTTP {status}"));
                if let Some(detail) = e.detail.filter(|d| !d.is_empty()) {
                    text = format!("{text}: {detail}");
                }
                if let Some(more) = e.more_info.filter(|m| !m.is_empty()) {
                    text = format!("{text} ({more})");
                }
                (code, text)
            }
            _ => {
                let raw = String::from_utf8_lossy(body);
                let raw = raw.trim();
                let text = if raw.is_empty() {
                    format!("HTTP {status} with an empty body")
                } else {
                    let start: String = raw.chars().take(200).collect();
                    format!("HTTP {status}: {start}")
                };
                (None, text)
            }
        }
    }
}

/// A JSON number or string as text (Twilio writes some numbers as strings).
fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// `"-0.00750"` → 0.0075 (Twilio reports charges as negative numbers).
pub(crate) fn parse_price(text: &str) -> Option<Amount> {
    let t = text.trim();
    let t = t.strip_prefix('-').unwrap_or(t);
    t.parse().ok()
}

/// Reads Twilio's dates (RFC 2822: `Thu, 24 Aug 2023 05:01:45 +0000`) and HTTP dates (IMF
/// fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`), with or without the weekday.
pub(crate) fn parse_date(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let text = match text.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => text,
    };
    let mut parts = text.split_ascii_whitespace();
    let day: u8 = parts.next()?.parse().ok()?;
    let month = match parts.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year: i16 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next().map_or(Some(0), |s| s.parse().ok())?;
    if clock.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = match parts.next().unwrap_or("+0000") {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        zone => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let date = Date::new(year, month, day)?;
    let seconds = date.start().as_unix_seconds() + hour * 3600 + minute * 60 + second - offset;
    Timestamp::from_unix_seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_and_http_dates() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            parse_date("Thu, 24 Aug 2023 05:01:45 +0000"),
            Some(at("2023-08-24T05:01:45Z"))
        );
        assert_eq!(
            parse_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at("1994-11-06T08:49:37Z"))
        );
        assert_eq!(
            parse_date("24 Aug 2023 07:01:45 +0200"),
            Some(at("2023-08-24T05:01:45Z"))
        );
        for bad in [
            "",
            "yesterday",
            "Thu, 32 Aug 2023 05:01:45 +0000",
            "Thu, 24 Foo 2023 05:01:45 +0000",
            "Thu, 24 Aug 2023 25:01:45 +0000",
            "Thu, 24 Aug 2023 05:01:45 +00",
            "Thu, 24 Aug 2023 05:01:45 +0000 extra",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn message_resource_fields() {
        let json = r#"{
            "account_sid": "AC00000000000000000000000000000001", "api_version": "2010-04-01",
            "body": "Hi", "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": null,
            "direction": "outbound-api", "error_code": 30003, "error_message": "Unreachable",
            "from": "+15005550006", "messaging_service_sid": "MG00000000000000000000000000000001",
            "num_media": "0", "num_segments": "2", "price": "-0.01580", "price_unit": "usd",
            "sid": "SM00000000000000000000000000000001", "status": "undelivered",
            "subresource_uris": {}, "to": "+447700900123", "uri": "/x"
        }"#;
        let m: MessageResource = serde_json::from_str(json).unwrap();
        assert_eq!(m.segments(), Some(2));
        let price = m.charged().unwrap();
        assert_eq!(
            (price.amount.to_string(), price.currency.as_str()),
            ("0.0158".into(), "USD")
        );
        let p = m.into_provider_message(true);
        assert_eq!(p.status, ProviderStatus::Undelivered);
        assert_eq!(p.error_code.as_deref(), Some("30003"));
        assert_eq!(
            p.from.as_deref(),
            Some("MG00000000000000000000000000000001")
        );
        assert!(p.created_at.is_some());
        let queued: MessageResource = serde_json::from_str(
            r#"{"sid": "SM1", "status": "accepted", "num_segments": "0", "price": null}"#,
        )
        .unwrap();
        assert_eq!((queued.segments(), queued.charged()), (None, None));
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let (code, text) = ErrorBody::read(
            400,
            br#"{"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
        );
        assert_eq!(code.as_deref(), Some("21211"));
        assert!(text.contains("not a valid phone number") && text.contains("docs/errors/21211"));
        let (code, text) = ErrorBody::read(
            401,
            br#"{"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#,
        );
        assert_eq!(code.as_deref(), Some("20003"));
        assert!(text.starts_with("Authenticate: Your AccountSid"));
        let (code, text) = ErrorBody::read(502, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(code, None);
        assert_eq!(text, "HTTP 502: <html><body>Bad Gateway</body></html>");
        let (code, text) = ErrorBody::read(503, b"");
        assert_eq!((code, text.as_str()), (None, "HTTP 503 with an empty body"));
        let (code, _) = ErrorBody::read(400, br#"{"code": "21610", "message": "x"}"#);
        assert_eq!(code.as_deref(), Some("21610"));
    }
}
