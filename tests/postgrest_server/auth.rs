//! Roles from JWTs and real row-level security: `anon` sees nothing, `authenticated` sees and
//! writes its own rows (`auth.uid()` from the `sub` claim) and its team's (`app_metadata`),
//! `service_role` bypasses the policies; bad tokens are 401 with PostgREST's bodies.

use serde_json::json;
use smsbatch_postgrest_testserver::{DEFAULT_JWT_SECRET, sign_jwt};

use super::support::{Api, Db};

const ALICE: &str = "00000000-0000-4000-8000-00000000000a";
const BOB: &str = "00000000-0000-4000-8000-00000000000b";

/// What the stores' migrations provide on plain PostgreSQL, in small: `auth.uid()` reading the
/// claims PostgREST sets, and a table whose policies use it.
const SETUP: &str = r#"
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')::uuid $$;
CREATE FUNCTION auth.team() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'app_metadata' ->> 'team_id' $$;
CREATE TABLE notes (
  id bigserial PRIMARY KEY,
  owner uuid NOT NULL DEFAULT auth.uid(),
  team text,
  body text
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_own_or_team ON notes FOR SELECT TO authenticated
  USING (owner = auth.uid() OR team = auth.team());
CREATE POLICY write_own ON notes FOR INSERT TO authenticated WITH CHECK (owner = auth.uid());
CREATE POLICY update_own ON notes FOR UPDATE TO authenticated
  USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
CREATE POLICY delete_own ON notes FOR DELETE TO authenticated USING (owner = auth.uid());
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT SELECT ON notes TO anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO authenticated, service_role;
GRANT USAGE ON SEQUENCE notes_id_seq TO authenticated, service_role;
CREATE FUNCTION whoami() RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('role', current_user, 'uid', auth.uid(),
    'method', current_setting('request.method', true), 'path', current_setting('request.path', true),
    'agent', current_setting('request.headers', true)::json ->> 'x-test') $$;
CREATE TABLE secrets (id int PRIMARY KEY);
"#;

fn seed(db: &Db) {
    db.execute(&format!(
        "INSERT INTO notes (owner, team, body) VALUES
           ('{ALICE}', 'red', 'alice 1'), ('{ALICE}', NULL, 'alice 2'),
           ('{BOB}', 'red', 'bob red'), ('{BOB}', 'blue', 'bob blue');"
    ));
}

fn bodies(api: &Api, token: Option<&str>) -> Vec<String> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    let r = api.get("/notes", "select=body&order=id", &headers);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn row_level_security_follows_the_token() {
    let Some(db) = Db::create("rls") else { return };
    db.execute(SETUP);
    seed(&db);
    let server = db.server("public");
    let api = Api::new(server.rest_url());
    let alice = server.user_token(ALICE, &json!({"app_metadata": {"team_id": "blue"}}));
    let bob = server.user_token(BOB, &json!({}));
    let service = server.service_role_key();

    // anon may SELECT the table, but no policy lets it see a row.
    assert_eq!(bodies(&api, None), Vec::<String>::new());
    assert_eq!(bodies(&api, Some(&server.anon_key())), Vec::<String>::new());
    // A user sees their own rows and their team's.
    assert_eq!(
        bodies(&api, Some(&alice)),
        ["alice 1", "alice 2", "bob blue"]
    );
    assert_eq!(bodies(&api, Some(&bob)), ["bob red", "bob blue"]);
    // The service role bypasses row-level security.
    assert_eq!(bodies(&api, Some(&service)).len(), 4);
    // `apikey` alone counts when there is no Authorization header.
    let r = api.get("/notes", "select=body", &[("apikey", &service)]);
    assert_eq!(r.json().as_array().map(Vec::len), Some(4));
    // ... and Authorization wins over it.
    let alice_bearer = format!("Bearer {alice}");
    let r = api.get(
        "/notes",
        "select=body",
        &[("apikey", &service), ("Authorization", &alice_bearer)],
    );
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));

    let as_alice = [
        ("Authorization", alice_bearer.as_str()),
        ("Prefer", "return=representation"),
    ];
    // Writing one's own row works; the default owner is auth.uid().
    let r = api.post(
        "/notes",
        "select=owner,body",
        &as_alice,
        r#"{"body": "alice 3"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json(), json!([{"owner": ALICE, "body": "alice 3"}]));
    // Writing someone else's row violates the policy: 403 with PostgreSQL's message.
    let r = api.post(
        "/notes",
        "",
        &as_alice,
        &format!(r#"{{"owner": "{BOB}", "body": "forged"}}"#),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"code": "42501", "details": null, "hint": null,
               "message": "new row violates row-level security policy for table \"notes\""})
    );
    // Updating or deleting another user's row touches nothing.
    let r = api.send(
        "PATCH",
        "/notes",
        "body=eq.bob red",
        &as_alice,
        Some(r#"{"body": "hacked"}"#),
    );
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = api.send("DELETE", "/notes", "body=eq.bob blue", &as_alice, None);
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(bodies(&api, Some(&bob)), ["bob red", "bob blue"]);
    // Giving one's row away is refused too.
    let r = api.send(
        "PATCH",
        "/notes",
        "body=eq.alice 1",
        &as_alice,
        Some(&format!(r#"{{"owner": "{BOB}"}}"#)),
    );
    assert_eq!((r.status, r.code()), (403, "42501".to_owned()));
    // anon has no INSERT privilege: 401 (anonymous), with WWW-Authenticate.
    let r = api.post("/notes", "", &[], r#"{"body": "anon"}"#);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.code(), "42501");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // ... while a signed-in user without a privilege gets 403.
    let r = api.get("/secrets", "", &[("Authorization", &alice_bearer)]);
    assert_eq!(
        (r.status, r.json()),
        (
            403,
            json!({"code": "42501", "details": null, "hint": null,
                   "message": "permission denied for table secrets"})
        )
    );

    // Functions run as the role, with the claims and the request's settings.
    let r = api.get(
        "/rpc/whoami",
        "",
        &[("Authorization", &alice_bearer), ("X-Test", "probe")],
    );
    assert_eq!(
        r.json(),
        json!({"role": "authenticated", "uid": ALICE, "method": "GET", "path": "/rpc/whoami", "agent": "probe"})
    );
    let r = api.get("/rpc/whoami", "", &[]);
    assert_eq!(r.json()["role"], "anon");
    assert_eq!(r.json()["uid"], json!(null));
}

#[test]
fn bad_tokens_are_refused() {
    let Some(db) = Db::create("jwt") else { return };
    db.execute(SETUP);
    let server = db.server("public");
    let api = Api::new(server.url());
    let get = |token: &str| {
        api.get(
            "/notes",
            "",
            &[("Authorization", &format!("Bearer {token}"))],
        )
    };

    let wrong = sign_jwt(
        "a-different-secret-of-at-least-32-chars",
        &json!({"role": "service_role"}),
    );
    let r = get(&wrong);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST301", "details": "None of the keys was able to decode the JWT",
               "hint": null, "message": "No suitable key or wrong key type"})
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            "Bearer error=\"invalid_token\", error_description=\"No suitable key or wrong key type\""
        )
    );
    let expired = sign_jwt(
        DEFAULT_JWT_SECRET,
        &json!({"role": "authenticated", "exp": 1_000_000_000}),
    );
    let r = get(&expired);
    assert_eq!(
        (r.status, r.json()),
        (
            401,
            json!({"code": "PGRST303", "details": null, "hint": null, "message": "JWT expired"})
        )
    );
    let r = get("not-a-jwt");
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (401, json!("Expected 3 parts in JWT; got 1"))
    );
    let r = api.get("/notes", "", &[("Authorization", "Bearer")]);
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (401, json!("Empty JWT is sent in Authorization header"))
    );
    // A role that does not exist: PostgreSQL's error, answered 401.
    let ghost = server.sign(&json!({"role": "no_such_role"}));
    let r = get(&ghost);
    assert_eq!(
        (r.status, r.json()),
        (
            401,
            json!({"code": "22023", "details": null, "hint": null,
                     "message": "role \"no_such_role\" does not exist"})
        )
    );
    // A server without an anonymous role refuses requests without a token.
    let strict = smsbatch_postgrest_testserver::Server::start(
        smsbatch_postgrest_testserver::Config::new(&db.url).anon_role(None),
    )
    .expect("the server starts");
    let r = Api::new(strict.url()).get("/notes", "", &[]);
    assert_eq!(
        (
            r.status,
            r.json()["code"].clone(),
            r.header("www-authenticate")
        ),
        (401, json!("PGRST302"), Some("Bearer"))
    );
}
