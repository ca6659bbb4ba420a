//! Roles from JSON Web Tokens, as PostgREST decides them (`Auth/Jwt.hs`): HS256/384/512 tokens
//! signed with the server's secret; no token means the anonymous role, a token's `role` claim
//! any other; `exp`, `nbf` and `iat` checked with 30 seconds of clock skew; the errors and their
//! wording are PostgREST's.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Sha256, Sha384, Sha512};

use crate::error::ApiError;

/// The secret a [`crate::Config`] uses unless told otherwise: the one Supabase's local
/// development stack documents, so tokens made for it work here. Test use only.
pub const DEFAULT_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// PostgREST refuses shorter secrets.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// URL-safe base64; padding accepted but not required on input, never written on output.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Clock skew PostgREST allows on `exp`, `nbf` and `iat`.
const SKEW_SECONDS: i64 = 30;

#[derive(Clone, Copy)]
enum Alg {
    Hs256,
    Hs384,
    Hs512,
}

fn mac(alg: Alg, secret: &[u8], input: &[u8]) -> Vec<u8> {
    // `new_from_slice` takes keys of any length for HMAC; it cannot fail here.
    fn run<M: Mac + KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
        match <M as KeyInit>::new_from_slice(secret) {
            Ok(mut m) => {
                m.update(input);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match alg {
        Alg::Hs256 => run::<Hmac<Sha256>>(secret, input),
        Alg::Hs384 => run::<Hmac<Sha384>>(secret, input),
        Alg::Hs512 => run::<Hmac<Sha512>>(secret, input),
    }
}

fn verify(alg: Alg, secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
    fn run<M: Mac + KeyInit>(secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
        match <M as KeyInit>::new_from_slice(secret) {
            Ok(mut m) => {
                m.update(input);
                // Constant-time comparison.
                m.verify_slice(signature).is_ok()
            }
            Err(_) => false,
        }
    }
    match alg {
        Alg::Hs256 => run::<Hmac<Sha256>>(secret, input, signature),
        Alg::Hs384 => run::<Hmac<Sha384>>(secret, input, signature),
        Alg::Hs512 => run::<Hmac<Sha512>>(secret, input, signature),
    }
}

/// Signs `claims` (a JSON object) as an HS256 token with `secret`.
///
/// ```
/// use smsbatch_postgrest_testserver::{DEFAULT_JWT_SECRET, sign_jwt};
///
/// let token = sign_jwt(
///     DEFAULT_JWT_SECRET,
///     &serde_json::json!({"role": "authenticated", "sub": "5b4e2a0c-0000-4000-8000-000000000001"}),
/// );
/// assert_eq!(token.split('.').count(), 3);
/// ```
pub fn sign_jwt(secret: &str, claims: &Value) -> String {
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64.encode(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let signature = B64.encode(mac(Alg::Hs256, secret.as_bytes(), input.as_bytes()));
    format!("{input}.{signature}")
}

/// Who a request runs as.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Auth {
    pub(crate) role: String,
    /// The token's claims with `role` set to the role used (`request.jwt.claims`).
    pub(crate) claims: Map<String, Value>,
}

/// The role and claims for a request carrying `token` (none: the anonymous role).
pub(crate) fn authenticate(
    secret: &str,
    anon_role: Option<&str>,
    token: Option<&str>,
    now_unix: i64,
) -> Result<Auth, ApiError> {
    let mut claims = match token {
        None => Map::new(),
        Some(t) => decode(secret, t)?,
    };
    check_times(&claims, now_unix)?;
    let role = match claims.get("role") {
        Some(Value::String(r)) => r.clone(),
        Some(other) => other.to_string(),
        None => match anon_role {
            Some(r) => r.to_owned(),
            None => return Err(ApiError::jwt_required()),
        },
    };
    claims.insert("role".to_owned(), Value::String(role.clone()));
    Ok(Auth { role, claims })
}

fn decode(secret: &str, token: &str) -> Result<Map<String, Value>, ApiError> {
    if token.is_empty() {
        return Err(ApiError::jwt_decode(
            "Empty JWT is sent in Authorization header",
            None,
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(ApiError::jwt_decode(
            &format!("Expected 3 parts in JWT; got {}", parts.len()),
            None,
        ));
    };
    let crypto = || ApiError::jwt_decode("JWT cryptographic operation failed", None);
    let header: Value = B64
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(crypto)?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => Alg::Hs256,
        Some("HS384") => Alg::Hs384,
        Some("HS512") => Alg::Hs512,
        Some("none") => {
            return Err(ApiError::jwt_decode(
                "Wrong or unsupported encoding algorithm",
                Some("JWT is unsecured but expected 'alg' was not 'none'"),
            ));
        }
        Some(_) => {
            return Err(ApiError::jwt_decode(
                "No suitable key or wrong key type",
                Some("None of the keys was able to decode the JWT"),
            ));
        }
        None => return Err(crypto()),
    };
    let signature = B64.decode(signature).map_err(|_| crypto())?;
    let signed = &token[..token.len() - parts[2].len() - 1];
    if !verify(alg, secret.as_bytes(), signed.as_bytes(), &signature) {
        return Err(ApiError::jwt_decode(
            "No suitable key or wrong key type",
            Some("None of the keys was able to decode the JWT"),
        ));
    }
    let claims = B64
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .ok_or_else(crypto)?;
    match claims {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::jwt_claims("Parsing claims failed")),
    }
}

/// `exp`, `nbf`, `iat` (whole seconds; a fraction counts as 0, as `toBoundedInteger` does) and
/// the shape of `aud`.
fn check_times(claims: &Map<String, Value>, now: i64) -> Result<(), ApiError> {
    let seconds = |key: &str, not_number: &'static str| -> Result<Option<i64>, ApiError> {
        match claims.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.as_i64().unwrap_or(0))),
            Some(_) => Err(ApiError::jwt_claims(not_number)),
        }
    };
    if seconds("exp", "The JWT 'exp' claim must be a number")?
        .is_some_and(|exp| now - SKEW_SECONDS > exp)
    {
        return Err(ApiError::jwt_claims("JWT expired"));
    }
    if seconds("nbf", "The JWT 'nbf' claim must be a number")?
        .is_some_and(|nbf| now + SKEW_SECONDS < nbf)
    {
        return Err(ApiError::jwt_claims("JWT not yet valid"));
    }
    if seconds("iat", "The JWT 'iat' claim must be a number")?
        .is_some_and(|iat| now + SKEW_SECONDS < iat)
    {
        return Err(ApiError::jwt_claims("JWT issued at future"));
    }
    match claims.get("aud") {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(ApiError::jwt_claims(
            "The JWT 'aud' claim must be a string or an array of strings",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn auth(token: Option<&str>) -> Result<Auth, (u16, String, String)> {
        authenticate(DEFAULT_JWT_SECRET, Some("anon"), token, NOW)
            .map_err(|e| (e.status, e.code.clone(), e.message.clone()))
    }

    #[test]
    fn no_token_is_the_anonymous_role() {
        let a = auth(None).expect("anon");
        assert_eq!(a.role, "anon");
        assert_eq!(Value::Object(a.claims), json!({"role": "anon"}));
        assert_eq!(
            authenticate(DEFAULT_JWT_SECRET, None, None, NOW).map_err(|e| e.code.clone()),
            Err("PGRST302".to_owned())
        );
    }

    #[test]
    fn signed_tokens_give_their_role_and_claims() {
        let t = sign_jwt(
            DEFAULT_JWT_SECRET,
            &json!({"role": "authenticated", "sub": "u1", "exp": NOW + 60}),
        );
        let a = auth(Some(&t)).expect("valid");
        assert_eq!(a.role, "authenticated");
        assert_eq!(a.claims["sub"], "u1");
        // No role claim: anonymous, with the other claims kept.
        let t = sign_jwt(DEFAULT_JWT_SECRET, &json!({"sub": "u1"}));
        assert_eq!(auth(Some(&t)).expect("valid").role, "anon");
    }

    #[test]
    fn postgrest_reference_token_verifies() {
        // From PostgREST's AuthSpec, signed with its test secret.
        let t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoicG9zdGdyZXN0X3Rlc3RfYXV0aG9yIiwiaWQiOiJqZG9lIn0.B-lReuGNDwAlU1GOC476MlO0vAt9JNoHIlxg2vwMaO0";
        let a = authenticate(
            "reallyreallyreallyreallyverysafe",
            Some("anon"),
            Some(t),
            NOW,
        )
        .expect("valid");
        assert_eq!(a.role, "postgrest_test_author");
    }

    #[test]
    fn bad_tokens_are_401_with_postgrest_messages() {
        let wrong = sign_jwt(
            "another-secret-that-is-at-least-32-chars",
            &json!({"role": "x"}),
        );
        assert_eq!(
            auth(Some(&wrong)),
            Err((
                401,
                "PGRST301".into(),
                "No suitable key or wrong key type".into()
            ))
        );
        let expired = sign_jwt(DEFAULT_JWT_SECRET, &json!({"exp": NOW - 35}));
        assert_eq!(
            auth(Some(&expired)),
            Err((401, "PGRST303".into(), "JWT expired".into()))
        );
        let skewed = sign_jwt(DEFAULT_JWT_SECRET, &json!({"exp": NOW - 25}));
        assert!(auth(Some(&skewed)).is_ok());
        let future = sign_jwt(DEFAULT_JWT_SECRET, &json!({"nbf": NOW + 35}));
        assert_eq!(
            auth(Some(&future)),
            Err((401, "PGRST303".into(), "JWT not yet valid".into()))
        );
        let iat = sign_jwt(DEFAULT_JWT_SECRET, &json!({"iat": NOW + 35}));
        assert_eq!(
            auth(Some(&iat)),
            Err((401, "PGRST303".into(), "JWT issued at future".into()))
        );
        assert_eq!(
            auth(Some("")),
            Err((
                401,
                "PGRST301".into(),
                "Empty JWT is sent in Authorization header".into()
            ))
        );
        assert_eq!(
            auth(Some("a.b")),
            Err((
                401,
                "PGRST301".into(),
                "Expected 3 parts in JWT; got 2".into()
            ))
        );
        assert_eq!(
            auth(Some("quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah")),
            Err((
                401,
                "PGRST301".into(),
                "JWT cryptographic operation failed".into()
            ))
        );
        assert_eq!(
            auth(Some(
                "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.yOBhlOIqn56T-4NvyEXCjfi3UmyQZ-BzXtePMO2NgRI"
            )),
            Err((
                401,
                "PGRST301".into(),
                "Wrong or unsupported encoding algorithm".into()
            ))
        );
        // A payload that is valid JSON but no object.
        let header = B64.encode(br#"{"alg":"HS256"}"#);
        let payload = B64.encode(b"[1]");
        let input = format!("{header}.{payload}");
        let sig = B64.encode(mac(
            Alg::Hs256,
            DEFAULT_JWT_SECRET.as_bytes(),
            input.as_bytes(),
        ));
        assert_eq!(
            auth(Some(&format!("{input}.{sig}"))),
            Err((401, "PGRST303".into(), "Parsing claims failed".into()))
        );
    }
}
