//! Who a store acts for: the service, an anonymous caller, or a user with JWT claims.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};

/// Who a store acts for. Row-level security decides what each may see and change (the same rules
/// in every store: the in-memory store applies them itself, the database ones through the policies
/// of the schema).
///
/// - [`Actor::Service`]: everything (the service role, or the database owner).
/// - [`Actor::User`]: its team's customers and templates, its own and shared saved filters, its
///   own batches with their messages, exclusions and logs; it writes only its own.
/// - [`Actor::Anonymous`]: nothing (every operation is [`ErrorKind::PermissionDenied`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Actor {
    /// The service: bypasses row-level security.
    #[default]
    Service,
    /// A caller without a user (PostgREST's `anon` role).
    Anonymous,
    /// A signed-in user (PostgREST's `authenticated` role) and the claims of its JWT.
    User(UserClaims),
}

impl Actor {
    /// A user with no team (a shortcut for `Actor::User(UserClaims::new(id))`).
    pub fn user(id: Uuid) -> Self {
        Self::User(UserClaims::new(id))
    }

    /// The actor a JWT stands for, read from its `role` claim: `service_role` is the service,
    /// `anon` is anonymous, and `authenticated` (or no role) a user whose `sub` is a UUID.
    ///
    /// The signature is not checked: a store that is given a token already holds credentials
    /// that bypass it (a database connection string, a service key); the token only narrows what
    /// the store does. Supabase itself checks the tokens it receives.
    pub fn from_jwt(token: &str) -> Result<Self> {
        let claims = decode_jwt_claims(token)?;
        match claims.get("role").and_then(Value::as_str) {
            Some("service_role") => Ok(Self::Service),
            Some("anon") => Ok(Self::Anonymous),
            Some("authenticated") | None => {
                UserClaims::from_claims(claims, Some(token.to_owned())).map(Self::User)
            }
            Some(other) => Err(jwt_error(format!(
                "the role {other:?} is not one smsbatch knows (anon, authenticated or service_role)"
            ))),
        }
    }

    /// The user's id, for a user.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::User(u) => Some(u.id()),
            _ => None,
        }
    }
}

/// A user's identity as the database sees it: the JWT claims (`sub`, `role`, the team in
/// `team_id` or `app_metadata.team_id`) and, when it came from one, the token itself (the Supabase
/// store sends it on).
///
/// ```
/// use smsbatch::store::{UserClaims, Uuid};
///
/// let id = Uuid::from_u128(7);
/// let user = UserClaims::new(id).team("team-a");
/// assert_eq!(user.team_id(), Some("team-a"));
/// assert_eq!(user.claims()["app_metadata"]["team_id"], "team-a");
/// assert_eq!(user.claims()["role"], "authenticated");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct UserClaims {
    id: Uuid,
    team: Option<String>,
    claims: Map<String, Value>,
    token: Option<String>,
}

impl UserClaims {
    /// The claims of user `id`, with no team: `{"sub": id, "role": "authenticated"}`.
    pub fn new(id: Uuid) -> Self {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(id.to_string()));
        claims.insert("role".into(), Value::String("authenticated".into()));
        Self {
            id,
            team: None,
            claims,
            token: None,
        }
    }

    /// Puts the user in `team` (as Supabase does, in `app_metadata.team_id`).
    pub fn team(mut self, team: impl Into<String>) -> Self {
        let team = team.into();
        let meta = self
            .claims
            .entry("app_metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        if let Value::Object(meta) = meta {
            meta.insert("team_id".into(), Value::String(team.clone()));
        }
        // A top-level claim wins over app_metadata (as in the schema's `sms_team_id()`).
        self.claims.remove("team_id");
        self.team = Some(team);
        self.token = None;
        self
    }

    /// The claims of a decoded JWT payload: `sub` must be a UUID; the team is the `team_id`
    /// claim, else `app_metadata.team_id` (a string, or a number read as its text).
    pub fn from_claims(claims: Map<String, Value>, token: Option<String>) -> Result<Self> {
        let id = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| jwt_error("the token has no `sub` claim (the user id)".into()))?;
        let id = Uuid::parse_str(id)
            .map_err(|_| jwt_error(format!("the `sub` claim {id:?} is not a UUID")))?;
        let team_text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let team = claims.get("team_id").and_then(team_text).or_else(|| {
            claims
                .get("app_metadata")
                .and_then(|m| m.get("team_id"))
                .and_then(team_text)
        });
        Ok(Self {
            id,
            team,
            claims,
            token,
        })
    }

    /// The user's id (`sub`).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The user's team, if the claims name one.
    pub fn team_id(&self) -> Option<&str> {
        self.team.as_deref()
    }

    /// Every claim, as the database receives them in `request.jwt.claims`.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The JWT these claims came from, if they came from one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

fn jwt_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput {
        message: format!("invalid JWT: {message}"),
    })
}

/// The payload of a JWT (`header.payload.signature`), as a JSON object. The signature is not
/// checked (see [`Actor::from_jwt`]).
pub fn decode_jwt_claims(token: &str) -> Result<Map<String, Value>> {
    let mut parts = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(jwt_error(
            "expected three base64url parts separated by `.`".into(),
        ));
    };
    let bytes = base64url_decode(payload)
        .ok_or_else(|| jwt_error("the payload is not base64url".into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(_) => Err(jwt_error("the payload is not a JSON object".into())),
        Err(e) => Err(jwt_error(format!("the payload is not JSON: {e}"))),
    }
}

/// Decodes unpadded (or padded) base64url, as JWTs use it.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone sixth bit group cannot end a valid encoding.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
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

    fn token(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            encode(br#"{"alg":"HS256"}"#),
            encode(payload.as_bytes())
        )
    }

    #[test]
    fn base64url_round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64url_decode(&encode(&bytes)).unwrap(), bytes);
        }
        assert!(base64url_decode("a+b").is_none());
        assert!(base64url_decode("a").is_none());
    }

    #[test]
    fn actors_from_tokens() {
        let id = "6f1c1f40-8a3e-4f6b-9c5d-3a2b1c0d9e8f";
        let user = Actor::from_jwt(&token(&format!(
            r#"{{"sub":"{id}","role":"authenticated","app_metadata":{{"team_id":"t1"}}}}"#
        )))
        .unwrap();
        let Actor::User(claims) = user else {
            panic!("not a user")
        };
        assert_eq!(claims.id().to_string(), id);
        assert_eq!(claims.team_id(), Some("t1"));
        assert!(claims.token().is_some());
        let top = Actor::from_jwt(&token(&format!(
            r#"{{"sub":"{id}","team_id":42,"app_metadata":{{"team_id":"t1"}}}}"#
        )))
        .unwrap();
        assert_eq!(
            match top {
                Actor::User(u) => u.team_id().map(str::to_owned),
                _ => None,
            },
            Some("42".to_owned())
        );
        assert_eq!(
            Actor::from_jwt(&token(r#"{"role":"anon"}"#)).unwrap(),
            Actor::Anonymous
        );
        assert_eq!(
            Actor::from_jwt(&token(r#"{"role":"service_role"}"#)).unwrap(),
            Actor::Service
        );
        for bad in [
            token(r#"{"role":"authenticated"}"#),
            token(r#"{"sub":"nope"}"#),
            token(r#"{"sub":"x","role":"admin"}"#),
            token("[1]"),
            "abc".to_owned(),
        ] {
            let err = Actor::from_jwt(&bad).unwrap_err();
            assert_eq!(err.kind().code(), "invalidInput", "{bad}");
            assert!(
                err.to_string().starts_with("invalid input: invalid JWT"),
                "{err}"
            );
        }
    }
}
