//! HS256 JSON Web Tokens: the check a server makes before it lets a database store act for the
//! user a token names (the store itself trusts any token it is given).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, ErrorKind, Result};
use crate::store::Actor;
use crate::time::Timestamp;

/// Verifies HS256 tokens signed with a shared secret (Supabase's JWT secret, or any HS256
/// issuer's) and turns them into the [`Actor`] they stand for.
///
/// The signature must match, `alg` must be `HS256`, and `exp` (when present) must be in the
/// future; `nbf` (when present) must be past.
///
/// ```
/// use smsbatch::web::JwtVerifier;
/// use smsbatch::store::Actor;
///
/// let verifier = JwtVerifier::new("a secret of at least 32 characters!!")?;
/// let token = verifier.sign(&serde_json::json!({
///     "sub": "6f1c1f40-8a3e-4f6b-9c5d-3a2b1c0d9e8f", "role": "authenticated",
/// }))?;
/// let now = "2026-01-01T00:00:00Z".parse()?;
/// assert!(matches!(verifier.verify(&token, now)?, Actor::User(_)));
/// let forged = format!("{}x", &token[..token.len() - 1]);
/// assert!(verifier.verify(&forged, now).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    secret: Vec<u8>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

/// The shortest secret accepted: HS256 keys shorter than the hash (32 bytes) are weak (RFC 7518
/// §3.2), and Supabase's are longer.
pub const MIN_SECRET_LEN: usize = 32;

fn unauthorized(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::PermissionDenied {
        message: message.into(),
    })
}

impl JwtVerifier {
    /// A verifier for tokens signed with `secret` (at least [`MIN_SECRET_LEN`] bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::invalid_input(format!(
                "the JWT secret must be at least {MIN_SECRET_LEN} bytes long"
            )));
        }
        Ok(Self {
            secret: secret.to_vec(),
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // OK because HMAC takes keys of any length; the error case cannot happen.
        #[allow(clippy::expect_used)]
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts any key length")
    }

    /// Signs `claims` (a JSON object) as an HS256 token: what tests and tools use to make the
    /// tokens this verifier accepts.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String> {
        if !claims.is_object() {
            return Err(Error::invalid_input("JWT claims must be a JSON object"));
        }
        let header = encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = encode(claims.to_string().as_bytes());
        let mut mac = self.mac();
        mac.update(format!("{header}.{payload}").as_bytes());
        let signature = encode(&mac.finalize().into_bytes());
        Ok(format!("{header}.{payload}.{signature}"))
    }

    /// The actor of a verified token, at time `now` (for `exp` and `nbf`);
    /// [`ErrorKind::PermissionDenied`] saying what is wrong otherwise.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Actor> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unauthorized(
                "the token is not a JWT (three base64url parts separated by `.`)",
            ));
        };
        let header: serde_json::Value = decode(header)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| unauthorized("the token's header is not base64url JSON"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(unauthorized("the token is not signed with HS256"));
        }
        let signature = decode(signature)
            .ok_or_else(|| unauthorized("the token's signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(format!("{}.{payload}", token_head(token)).as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| unauthorized("the token's signature does not match"))?;
        let claims = crate::store::decode_jwt_claims(token)?;
        let seconds = now.as_unix_seconds();
        if let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_i64)
            && seconds >= exp
        {
            return Err(unauthorized("the token has expired"));
        }
        if let Some(nbf) = claims.get("nbf").and_then(serde_json::Value::as_i64)
            && seconds < nbf
        {
            return Err(unauthorized("the token is not valid yet"));
        }
        Actor::from_jwt(token)
    }
}

/// The `header` part of `header.payload.signature`.
fn token_head(token: &str) -> &str {
    token.split('.').next().unwrap_or_default()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Unpadded (or padded) base64url.
fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == b)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    #[test]
    fn base64url_round_trips() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 53 + 7) as u8).collect();
            assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn tokens_are_checked() {
        let v = JwtVerifier::new(SECRET).unwrap();
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let sub = "6f1c1f40-8a3e-4f6b-9c5d-3a2b1c0d9e8f";
        let ok = v
            .sign(&json!({"sub": sub, "role": "authenticated", "exp": 1_900_000_000}))
            .unwrap();
        assert_eq!(
            v.verify(&ok, now).unwrap().user_id().unwrap().to_string(),
            sub
        );
        let expired = v.sign(&json!({"sub": sub, "exp": 1_000})).unwrap();
        assert!(
            v.verify(&expired, now)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        let early = v.sign(&json!({"sub": sub, "nbf": 1_900_000_000})).unwrap();
        assert!(
            v.verify(&early, now)
                .unwrap_err()
                .to_string()
                .contains("not valid yet")
        );
        let other = JwtVerifier::new(format!("{SECRET}!")).unwrap();
        let err = other.verify(&ok, now).unwrap_err();
        assert!(
            err.is_permission_denied() && err.to_string().contains("signature"),
            "{err}"
        );
        // `alg: none` and garbage are refused.
        let none = format!(
            "{}.{}.",
            encode(br#"{"alg":"none"}"#),
            encode(br#"{"sub":"x"}"#)
        );
        assert!(v.verify(&none, now).is_err());
        assert!(v.verify("abc", now).is_err());
        assert!(JwtVerifier::new("short").is_err());
    }
}
