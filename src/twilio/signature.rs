//! `X-Twilio-Signature`: how Twilio signs the webhooks it sends.
//!
//! Twilio takes the full URL it requested (scheme, host, port if any, path, query), appends each
//! POST parameter's name and value, sorted by name, computes HMAC-SHA1 of that text with the
//! account's auth token as the key, and sends the Base64 of the result. A request whose
//! signature matches came from someone who knows the auth token, for exactly this URL and these
//! parameters.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::error::{Error, ErrorKind, Result};

/// The signature Twilio sends for a request to `url` with these POST parameters (form fields;
/// none for a GET, whose parameters are in the URL).
///
/// ```
/// use smsbatch::twilio::signature;
///
/// // Twilio's documented example (twilio.com/docs/usage/security).
/// let params = [
///     ("CallSid", "CA1234567890ABCDE"),
///     ("Caller", "+14158675310"),
///     ("Digits", "1234"),
///     ("From", "+14158675310"),
///     ("To", "+18005551212"),
/// ];
/// let sig = signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params);
/// assert_eq!(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
/// ```
pub fn signature<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &str,
    url: &str,
    params: &[(K, V)],
) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    // By name, then by value for repeated names (as Twilio's own validators do).
    sorted.sort_unstable();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a webhook's `X-Twilio-Signature` against the URL it was sent to and its POST
/// parameters, in constant time.
///
/// Twilio signs the URL as it requested it. A URL with the scheme's default port (`:443` on
/// https) and the same URL without it are both tried, as Twilio's own libraries do, since
/// proxies add or drop it. Fails with [`ErrorKind::InvalidWebhook`] when the header is missing,
/// is not Base64, or matches neither.
///
/// ```
/// use smsbatch::twilio::{signature, verify_signature};
///
/// let url = "https://example.com/twilio/status?mid=42";
/// let params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
/// let sig = signature("token", url, &params);
/// assert!(verify_signature("token", url, &params, Some(&sig)).is_ok());
/// let tampered = [("MessageSid", "SM1"), ("MessageStatus", "undelivered")];
/// assert!(verify_signature("token", url, &tampered, Some(&sig)).is_err());
/// ```
pub fn verify_signature<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &str,
    url: &str,
    params: &[(K, V)],
    header: Option<&str>,
) -> Result<()> {
    let refused = |why: &str| {
        Err(Error::new(ErrorKind::InvalidWebhook {
            message: why.to_owned(),
        }))
    };
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return refused("the request has no X-Twilio-Signature header");
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(header) else {
        return refused("the X-Twilio-Signature header is not Base64");
    };
    for candidate in url_variants(url) {
        let expected = signature(auth_token, &candidate, params);
        let expected = base64::engine::general_purpose::STANDARD
            .decode(expected)
            .unwrap_or_default();
        if constant_time_eq(&expected, &given) {
            return Ok(());
        }
    }
    refused("the X-Twilio-Signature does not match this URL and these parameters")
}

/// The URL as given, and with the scheme's default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let (scheme, port) = if let Some(rest) = url.strip_prefix("https://") {
        ("https://", (rest, ":443"))
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http://", (rest, ":80"))
    } else {
        return out;
    };
    let (rest, default_port) = port;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // Userinfo (`user:pass@`) stays as it is; the port is whatever follows the host.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let (userinfo, hostport) = authority.split_at(host_start);
    let other = if let Some(host) = hostport.strip_suffix(default_port) {
        format!("{scheme}{userinfo}{host}{tail}")
    } else if hostport.ends_with(']') || !hostport.contains(':') {
        format!("{scheme}{userinfo}{hostport}{default_port}{tail}")
    } else {
        return out;
    };
    out.push(other);
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's documented examples: the current one and the older one (another caller number,
    /// another signature), from twilio.com/docs/usage/security and Twilio's code samples.
    #[test]
    fn documented_examples() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = |caller: &'static str| {
            [
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", caller),
                ("Digits", "1234"),
                ("From", caller),
                ("To", "+18005551212"),
            ]
        };
        assert_eq!(
            signature("12345", url, &params("+14158675310")),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        assert_eq!(
            signature("12345", url, &params("+14158675309")),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        // Order of the given parameters does not matter; the documented signature verifies.
        let mut shuffled = params("+14158675310");
        shuffled.reverse();
        verify_signature(
            "12345",
            url,
            &shuffled,
            Some("GvWf1cFY/Q7PnoempGyD5oXAezc="),
        )
        .unwrap();
    }

    #[test]
    fn tampering_is_refused() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = [("Digits", "1234"), ("To", "+18005551212")];
        let sig = signature("12345", url, &good);
        let refuse = |token: &str, url: &str, params: &[(&str, &str)], header: Option<&str>| {
            let err = verify_signature(token, url, params, header).unwrap_err();
            assert_eq!(err.kind().code(), "invalidWebhook");
            err.to_string()
        };
        refuse(
            "12345",
            url,
            &[("Digits", "1235"), ("To", "+18005551212")],
            Some(&sig),
        );
        refuse(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &good,
            Some(&sig),
        );
        refuse("54321", url, &good, Some(&sig));
        refuse("12345", url, &[("Digits", "1234")], Some(&sig));
        assert!(refuse("12345", url, &good, None).contains("no X-Twilio-Signature"));
        assert!(refuse("12345", url, &good, Some("%%%")).contains("not Base64"));
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        refuse(
            "12345",
            url,
            &good,
            Some(std::str::from_utf8(&flipped).unwrap()),
        );
    }

    #[test]
    fn default_ports_are_equivalent() {
        let params = [("MessageSid", "SM1")];
        let signed_with_port = signature("t", "https://example.com:443/cb?mid=1", &params);
        verify_signature(
            "t",
            "https://example.com/cb?mid=1",
            &params,
            Some(&signed_with_port),
        )
        .unwrap();
        let signed_without = signature("t", "http://example.com/cb", &params);
        verify_signature(
            "t",
            "http://example.com:80/cb",
            &params,
            Some(&signed_without),
        )
        .unwrap();
        // Another port is another URL.
        let other = signature("t", "https://example.com:8443/cb", &params);
        assert!(verify_signature("t", "https://example.com/cb", &params, Some(&other)).is_err());
        assert_eq!(
            url_variants("https://u:p@example.com/x"),
            ["https://u:p@example.com/x", "https://u:p@example.com:443/x"]
        );
    }
}
