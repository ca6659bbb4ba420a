//! Writes: inserts (objects, arrays, `columns`, defaults), upserts, updates and deletes, with
//! `return=representation|minimal|headers-only`, counts, single objects and their errors.

use serde_json::{Value, json};

use super::support::{Api, Db};

const SETUP: &str = "
CREATE TABLE items (
  id int PRIMARY KEY,
  code text UNIQUE,
  name text NOT NULL,
  qty int DEFAULT 5,
  tags text[],
  price numeric(10,2),
  at timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO anon;
";

fn rows(api: &Api, query: &str) -> Value {
    let r = api.get("/items", query, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn inserts() {
    let Some(db) = Db::create("inserts") else {
        return;
    };
    db.execute(SETUP);
    let server = db.server("public");
    let api = Api::new(server.rest_url());
    let rep = [("Prefer", "return=representation")];

    // One object, returned as stored (PostgreSQL converts the JSON values to the column types;
    // a column the object leaves out gets its default).
    let r = api.post(
        "/items",
        "",
        &rep,
        r#"{"id": 1, "code": "a", "name": "one", "tags": ["x", "y,z"], "price": "1.5", "at": "2024-01-01T01:00:00+01:00"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json(),
        json!([{"id": 1, "code": "a", "name": "one", "qty": 5, "tags": ["x", "y,z"],
                "price": 1.50, "at": "2024-01-01T00:00:00+00:00"}])
    );
    assert_eq!(r.header("content-range"), Some("*/*"));
    assert_eq!(
        r.header("preference-applied"),
        Some("return=representation")
    );
    // An array, minimal return (the default): 201, no body; with a count: `*/2`.
    let r = api.post(
        "/items",
        "",
        &[("Prefer", "count=exact")],
        r#"[{"id": 2, "name": "two"}, {"id": 3, "name": "three"}]"#,
    );
    assert_eq!((r.status, r.body.as_str()), (201, ""));
    assert_eq!(r.header("content-range"), Some("*/2"));
    // `select` shapes what comes back.
    let r = api.post(
        "/items",
        "select=id,name",
        &rep,
        r#"{"id": 4, "name": "four"}"#,
    );
    assert_eq!(r.json(), json!([{"id": 4, "name": "four"}]));
    // A single object on request.
    let r = api.post(
        "/items",
        "select=id",
        &[
            ("Prefer", "return=representation"),
            ("Accept", "application/vnd.pgrst.object+json"),
        ],
        r#"{"id": 5, "name": "five"}"#,
    );
    assert_eq!((r.status, r.json()), (201, json!({"id": 5})));

    // `columns=`: only those, missing keys NULL or, with missing=default, the default.
    let r = api.post(
        "/items",
        "columns=id,name,qty",
        &rep,
        r#"[{"id": 6, "name": "six", "ignored": 1}, {"id": 7, "name": "seven", "qty": 2}]"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()[0]["qty"], Value::Null);
    let r = api.post(
        "/items",
        "columns=id,name,qty&select=id,qty",
        &[("Prefer", "return=representation,missing=default")],
        r#"[{"id": 8, "name": "eight"}, {"id": 9, "name": "nine", "qty": 1}]"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json(), json!([{"id": 8, "qty": 5}, {"id": 9, "qty": 1}]));
    assert_eq!(
        r.header("preference-applied"),
        Some("missing=default, return=representation")
    );
    // Without columns, an omitted column gets its default.
    let r = api.post("/items", "select=qty", &rep, r#"{"id": 10, "name": "ten"}"#);
    assert_eq!(r.json(), json!([{"qty": 5}]));
    // headers-only: the Location of the new row.
    let r = api.post(
        "/items",
        "",
        &[("Prefer", "return=headers-only")],
        r#"{"id": 11, "name": "x y"}"#,
    );
    assert_eq!((r.status, r.body.as_str()), (201, ""));
    assert_eq!(r.header("location"), Some("/items?id=eq.11"));

    // Errors.
    let r = api.post(
        "/items",
        "",
        &[],
        r#"[{"id": 20, "name": "a"}, {"id": 21}]"#,
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code": "PGRST102", "message": "All object keys must match", "details": null, "hint": null})
        )
    );
    let r = api.post("/items", "", &[], "not json");
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (400, json!("Empty or invalid json"))
    );
    let r = api.post("/items", "", &[], r#"{"id": 20, "name": "a", "nope": 1}"#);
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code": "PGRST204", "details": null, "hint": null,
                     "message": "Could not find the 'nope' column of 'items' in the schema cache"})
        )
    );
    let r = api.post("/items", "", &[], r#"{"id": 1, "name": "again"}"#);
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "23505");
    assert_eq!(
        r.json()["message"],
        "duplicate key value violates unique constraint \"items_pkey\""
    );
    assert_eq!(r.json()["details"], "Key (id)=(1) already exists.");
    let r = api.post("/items", "", &[], r#"{"id": 20}"#);
    assert_eq!((r.status, r.code()), (400, "23502".to_owned()));
    let r = api.post("/items", "", &[], r#"{"id": "x", "name": "a"}"#);
    assert_eq!((r.status, r.code()), (400, "22P02".to_owned()));
    // A failed single-object insert is rolled back.
    let r = api.post(
        "/items",
        "",
        &[("Accept", "application/vnd.pgrst.object+json")],
        r#"[{"id": 30, "name": "a"}, {"id": 31, "name": "b"}]"#,
    );
    assert_eq!((r.status, r.code()), (406, "PGRST116".to_owned()));
    assert_eq!(rows(&api, "id=in.(30,31)"), json!([]));
    // An empty array inserts nothing.
    let r = api.post("/items", "", &[("Prefer", "count=exact")], "[]");
    assert_eq!((r.status, r.header("content-range")), (201, Some("*/0")));
}

#[test]
fn upserts() {
    let Some(db) = Db::create("upserts") else {
        return;
    };
    db.execute(SETUP);
    db.execute(
        "INSERT INTO items (id, code, name, qty) VALUES (1, 'a', 'one', 1), (2, 'b', 'two', 2)",
    );
    let server = db.server("public");
    let api = Api::new(server.url());
    let merge = [(
        "Prefer",
        "resolution=merge-duplicates,return=representation",
    )];

    // Every row exists: 200, updated.
    let r = api.post(
        "/items",
        "select=id,name",
        &merge,
        r#"[{"id": 1, "name": "ONE"}, {"id": 2, "name": "TWO"}]"#,
    );
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!([{"id": 1, "name": "ONE"}, {"id": 2, "name": "TWO"}])
        )
    );
    assert_eq!(
        r.header("preference-applied"),
        Some("resolution=merge-duplicates, return=representation")
    );
    // One new: 201. Columns not in the body are left alone on the updated row.
    let r = api.post(
        "/items",
        "select=id,name,qty&order=id",
        &merge,
        r#"[{"id": 2, "name": "two"}, {"id": 3, "name": "three"}]"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json(),
        json!([{"id": 2, "name": "two", "qty": 2}, {"id": 3, "name": "three", "qty": 5}])
    );
    // on_conflict on another unique column.
    let r = api.post(
        "/items",
        "on_conflict=code&select=id,code,name",
        &merge,
        r#"{"id": 99, "code": "a", "name": "by code"}"#,
    );
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"id": 99, "code": "a", "name": "by code"}]))
    );
    // ignore-duplicates keeps the existing row.
    let r = api.post(
        "/items",
        "",
        &[(
            "Prefer",
            "resolution=ignore-duplicates,return=representation",
        )],
        r#"[{"id": 2, "name": "ignored"}, {"id": 4, "name": "four"}]"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    assert_eq!(rows(&api, "id=eq.2&select=name"), json!([{"name": "two"}]));
    // Without a resolution, a duplicate is a conflict.
    let r = api.post("/items", "", &[], r#"{"id": 4, "name": "dup"}"#);
    assert_eq!(r.status, 409);
    // An unknown on_conflict column is refused.
    let r = api.post(
        "/items",
        "on_conflict=nope",
        &merge,
        r#"{"id": 5, "name": "x"}"#,
    );
    assert_eq!((r.status, r.code()), (400, "42703".to_owned()));
}

#[test]
fn updates_and_deletes() {
    let Some(db) = Db::create("updates") else {
        return;
    };
    db.execute(SETUP);
    db.execute(
        "INSERT INTO items (id, name, qty) SELECT i, 'n' || i, i FROM generate_series(1, 10) i",
    );
    let server = db.server("public");
    let api = Api::new(server.url());
    let rep = [("Prefer", "return=representation")];

    // PATCH the filtered rows; the representation shows them after the change.
    let r = api.send(
        "PATCH",
        "/items",
        "qty=lte.2&select=id,name&order=id",
        &rep,
        Some(r#"{"name": "low"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!([{"id": 1, "name": "low"}, {"id": 2, "name": "low"}])
    );
    assert_eq!(r.header("content-range"), Some("0-1/*"));
    // Minimal: 204 with the count.
    let r = api.send(
        "PATCH",
        "/items",
        "id=in.(3,4,5)",
        &[("Prefer", "count=exact")],
        Some(r#"{"qty": 0}"#),
    );
    assert_eq!(
        (r.status, r.header("content-range"), r.body.as_str()),
        (204, Some("0-2/3"), "")
    );
    assert_eq!(
        rows(&api, "qty=eq.0&select=id&order=id"),
        json!([{"id": 3}, {"id": 4}, {"id": 5}])
    );
    // Nothing matched.
    let r = api.send(
        "PATCH",
        "/items",
        "id=eq.999",
        &[("Prefer", "count=exact")],
        Some(r#"{"qty": 1}"#),
    );
    assert_eq!((r.status, r.header("content-range")), (204, Some("*/0")));
    // An empty object changes nothing.
    let r = api.send("PATCH", "/items", "id=eq.6", &rep, Some("{}"));
    assert_eq!((r.status, r.json()), (200, json!([])));
    // Logic trees work on writes too.
    let r = api.send(
        "PATCH",
        "/items",
        "or=(id.eq.7,id.eq.8)&select=id&order=id",
        &rep,
        Some(r#"{"qty": 70}"#),
    );
    assert_eq!(r.json(), json!([{"id": 7}, {"id": 8}]));
    // max-affected with handling=strict rolls back past the limit.
    let r = api.send(
        "PATCH",
        "/items",
        "id=lte.5",
        &[("Prefer", "handling=strict, max-affected=2")],
        Some(r#"{"qty": 100}"#),
    );
    assert_eq!((r.status, r.code()), (400, "PGRST124".to_owned()));
    assert_eq!(rows(&api, "qty=eq.100"), json!([]));
    // A bad value is PostgreSQL's error.
    let r = api.send(
        "PATCH",
        "/items",
        "id=eq.1",
        &[],
        Some(r#"{"qty": "many"}"#),
    );
    assert_eq!((r.status, r.code()), (400, "22P02".to_owned()));

    // DELETE with representation and a count.
    let r = api.send(
        "DELETE",
        "/items",
        "id=gte.9&select=id&order=id.desc",
        &[("Prefer", "return=representation, count=exact")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([{"id": 10}, {"id": 9}]));
    assert_eq!(r.header("content-range"), Some("*/2"));
    let r = api.send("DELETE", "/items", "id=eq.1", &[], None);
    assert_eq!((r.status, r.header("content-range")), (204, Some("*/*")));
    assert_eq!(rows(&api, "id=eq.1"), json!([]));
    let r = api.send(
        "DELETE",
        "/items",
        "id=eq.1",
        &[("Accept", "application/vnd.pgrst.object+json")],
        None,
    );
    assert_eq!((r.status, r.code()), (406, "PGRST116".to_owned()));
    // Hostile values stay values.
    let evil = "x')%3B DROP TABLE items%3B --";
    let r = api.send("DELETE", "/items", &format!("name=eq.{evil}"), &[], None);
    assert_eq!(r.status, 204);
    assert_eq!(
        rows(&api, "select=id&limit=1").as_array().map(Vec::len),
        Some(1)
    );
}
