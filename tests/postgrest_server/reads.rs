//! Reads: counts, `Content-Range` and statuses, `limit`/`offset`, the `Range` header, `HEAD`,
//! ordering, `select`, schemas by profile, single objects, and how values reach PostgreSQL.

use serde_json::json;

use super::support::{Api, Db, Resp};

const SETUP: &str = "
CREATE TABLE items (id int PRIMARY KEY, name text, qty int, data jsonb, born date);
INSERT INTO items SELECT i, 'item ' || i, CASE WHEN i % 4 = 0 THEN NULL ELSE i % 3 END,
  jsonb_build_object('n', i, 'tags', jsonb_build_array('t' || i)), date '2024-01-01' + i
FROM generate_series(1, 15) i;
INSERT INTO items VALUES (16, 'a+b plus', 9, NULL, NULL), (17, 'a b space', 9, NULL, NULL);
CREATE TABLE tagged (id int PRIMARY KEY, tags text[], doc tsvector, span int4range, name text);
INSERT INTO tagged VALUES
  (1, '{a,b}', to_tsvector('simple', 'quick brown fox'), '[1,5)', 'alpha'),
  (2, '{b,c}', to_tsvector('simple', 'lazy dog'), '[4,8)', 'beta'),
  (3, '{c}', to_tsvector('simple', 'quick dog'), '[10,12)', 'Gamma'),
  (4, NULL, NULL, NULL, NULL);
CREATE SCHEMA other;
CREATE TABLE other.things (id int PRIMARY KEY, label text);
INSERT INTO other.things VALUES (1, 'from other');
GRANT USAGE ON SCHEMA other TO anon;
GRANT SELECT ON ALL TABLES IN SCHEMA public, other TO anon;
";

fn ids(resp: &Resp) -> Vec<i64> {
    resp.json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", resp.body))
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}

fn setup() -> Option<(Db, smsbatch_postgrest_testserver::Server)> {
    let db = Db::create("reads")?;
    db.execute(SETUP);
    let server = smsbatch_postgrest_testserver::Server::start(
        smsbatch_postgrest_testserver::Config::new(&db.url).schemas(["public", "other"]),
    )
    .expect("the server starts");
    Some((db, server))
}

#[test]
fn counts_ranges_and_statuses() {
    let Some((_db, server)) = setup() else { return };
    let api = Api::new(server.rest_url());
    let count = [("Prefer", "count=exact")];
    let q = "id=lte.15&order=id";

    // Everything, counted: 200 and the whole range.
    let r = api.get("/items", q, &count);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-range"), Some("0-14/15"));
    assert_eq!(r.header("preference-applied"), Some("count=exact"));
    // Not counted: the total is `*`.
    let r = api.get("/items", q, &[]);
    assert_eq!((r.status, r.header("content-range")), (200, Some("0-14/*")));

    // A page: 206 when counted, 200 when not.
    let r = api.get("/items", &format!("{q}&limit=2&offset=3"), &count);
    assert_eq!((r.status, r.header("content-range")), (206, Some("3-4/15")));
    assert_eq!(ids(&r), [4, 5]);
    let r = api.get("/items", &format!("{q}&limit=2"), &[]);
    assert_eq!((r.status, r.header("content-range")), (200, Some("0-1/*")));

    // The Range header, intersected with limit/offset.
    let r = api.get("/items", q, &[("Range", "2-4"), ("Range-Unit", "items")]);
    assert_eq!(ids(&r), [3, 4, 5]);
    // limit=2 is rows 0-1; with Range 1-10 only row 1 is in both.
    let r = api.get("/items", &format!("{q}&limit=2"), &[("Range", "1-10")]);
    assert_eq!(ids(&r), [2]);
    let r = api.get("/items", q, &[("Range", "10-"), ("Prefer", "count=exact")]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (206, Some("10-14/15"))
    );

    // Past the end: 416 with PostgREST's body.
    let r = api.get("/items", &format!("{q}&offset=20"), &count);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("*/15"));
    assert_eq!(
        r.json(),
        json!({"code": "PGRST103", "message": "Requested range not satisfiable", "hint": null,
               "details": "An offset of 20 was requested, but there are only 15 rows."})
    );
    // Offset exactly at the end is an empty page, not an error.
    let r = api.get("/items", &format!("{q}&offset=15"), &count);
    assert_eq!(
        (r.status, r.header("content-range"), r.body.as_str()),
        (206, Some("*/15"), "[]")
    );
    // A negative limit and an upside-down Range are 416 too.
    let r = api.get("/items", "limit=-1", &[]);
    assert_eq!((r.status, r.code()), (416, "PGRST103".to_owned()));
    assert_eq!(
        r.json()["details"],
        "Limit should be greater than or equal to zero."
    );
    let r = api.get("/items", "", &[("Range", "5-3")]);
    assert_eq!(r.status, 416);
    assert_eq!(
        r.json()["details"],
        "The lower boundary must be lower than or equal to the upper boundary in the Range header."
    );

    // limit=0: no rows, the count alone; HEAD gives it without a body.
    let r = api.get("/items", &format!("{q}&limit=0"), &count);
    assert_eq!(
        (r.status, r.header("content-range"), r.body.as_str()),
        (206, Some("*/15"), "[]")
    );
    let r = api.get("/items", &format!("{q}&limit=0"), &[]);
    assert_eq!((r.status, r.header("content-range")), (200, Some("*/*")));
    let r = api.send("HEAD", "/items", &format!("{q}&limit=0"), &count, None);
    assert_eq!((r.status, r.header("content-range")), (206, Some("*/15")));
    // HEAD ignores the Range header (only GET uses it).
    let r = api.send(
        "HEAD",
        "/items",
        q,
        &[("Range", "0-1"), ("Prefer", "count=exact")],
        None,
    );
    assert_eq!(
        (r.status, r.header("content-range")),
        (200, Some("0-14/15"))
    );
    // An empty result counted: `*/0`.
    let r = api.get("/items", "id=gt.100", &count);
    assert_eq!(
        (r.status, r.header("content-range"), r.body.as_str()),
        (200, Some("*/0"), "[]")
    );
    // A negative offset is no offset; `limit=0` with an offset is PostgREST's empty range, 416.
    let r = api.get("/items", &format!("{q}&offset=-4"), &[]);
    assert_eq!((r.status, r.header("content-range")), (200, Some("0-14/*")));
    let r = api.get("/items", &format!("{q}&limit=0&offset=5"), &[]);
    assert_eq!((r.status, r.code()), (416, "PGRST103".to_owned()));
    // `count=estimated` counts exactly here.
    let r = api.get(
        "/items",
        &format!("{q}&limit=1"),
        &[("Prefer", "count=estimated")],
    );
    assert_eq!(r.header("content-range"), Some("0-0/15"));
}

#[test]
fn ordering_selecting_and_values() {
    let Some((_db, server)) = setup() else { return };
    let api = Api::new(server.url());

    // Nulls placement and direction; qty is NULL for 4, 8, 12.
    let r = api.get("/items", "id=lte.12&order=qty.desc.nullsfirst,id.asc", &[]);
    assert_eq!(ids(&r), [4, 8, 12, 2, 5, 11, 1, 7, 10, 3, 6, 9]);
    let r = api.get(
        "/items",
        "id=lte.12&order=qty.asc.nullslast,id.desc&limit=5",
        &[],
    );
    assert_eq!(ids(&r), [9, 6, 3, 10, 7]);
    // Only the first `order` counts.
    let r = api.get("/items", "id=lte.3&order=id.desc&order=id.asc", &[]);
    assert_eq!(ids(&r), [3, 2, 1]);
    // Typos are 400.
    for bad in ["id.descc", "id.nullslasttt", "id.ac", "id,"] {
        let r = api.get("/items", &format!("order={bad}"), &[]);
        assert_eq!((r.status, r.code()), (400, "PGRST100".to_owned()), "{bad}");
    }
    // Ordering by a JSON path.
    let r = api.get("/items", "id=lte.3&order=data->>n.desc", &[]);
    assert_eq!(ids(&r), [3, 2, 1]);

    // select: columns, aliases, casts, JSON paths (named after their last key).
    let r = api.get(
        "/items",
        "id=eq.2&select=id,label:name,qty::text,data->tags->0,n:data->>n",
        &[],
    );
    assert_eq!(
        r.json(),
        json!([{"id": 2, "label": "item 2", "qty": "2", "tags": "t2", "n": "2"}])
    );
    // JSON path filters, on jsonb and through to_jsonb on other types.
    let r = api.get("/items", "data->>n=eq.7&select=id", &[]);
    assert_eq!(r.json(), json!([{"id": 7}]));
    let r = api.get("/items", "data->tags->>0=eq.t8&select=id", &[]);
    assert_eq!(r.json(), json!([{"id": 8}]));
    // `+` is a space; `%2B` is a plus.
    let r = api.get("/items", "name=eq.a+b+plus&select=id", &[]);
    assert_eq!(r.json(), json!([]));
    let r = api.get("/items", "name=eq.a%2Bb+plus&select=id", &[]);
    assert_eq!(r.json(), json!([{"id": 16}]));
    let r = api.get("/items", "name=eq.a+b+space&select=id", &[]);
    assert_eq!(r.json(), json!([{"id": 17}]));
    // Dates compare as dates: the value is cast to the column's type.
    let r = api.get("/items", "born=gte.2024-01-14&select=id&order=id", &[]);
    assert_eq!(ids(&r), [13, 14, 15]);
    // The same key twice is ANDed; or= trees too.
    let r = api.get(
        "/items",
        "id=gte.3&id=lte.4&or=(qty.is.null,qty.eq.0)&select=id",
        &[],
    );
    assert_eq!(ids(&r), [3, 4]);
}

#[test]
fn single_objects_profiles_and_request_errors() {
    let Some((_db, server)) = setup() else { return };
    let api = Api::new(server.rest_url());
    let single = [("Accept", "application/vnd.pgrst.object+json")];

    let r = api.get("/items", "id=eq.3&select=id,name", &single);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"id": 3, "name": "item 3"}));
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.pgrst.object+json; charset=utf-8")
    );
    let r = api.get("/items", "id=lt.3", &single);
    assert_eq!(r.status, 406);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST116", "message": "Cannot coerce the result to a single JSON object",
               "details": "The result contains 2 rows", "hint": null})
    );
    let r = api.get("/items", "id=eq.99", &single);
    assert_eq!(
        (r.status, r.json()["details"].clone()),
        (406, json!("The result contains 0 rows"))
    );
    let r = api.get("/items", "", &[("Accept", "text/csv")]);
    assert_eq!((r.status, r.code()), (406, "PGRST107".to_owned()));

    // Several schemas: the first by default, another by Accept-Profile; the answer says which.
    let r = api.get("/things", "", &[("Accept-Profile", "other")]);
    assert_eq!(r.json(), json!([{"id": 1, "label": "from other"}]));
    assert_eq!(r.header("content-profile"), Some("other"));
    let r = api.get("/items", "id=eq.1&select=id", &[]);
    assert_eq!(r.header("content-profile"), Some("public"));
    let r = api.get("/things", "", &[]);
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"code": "PGRST205", "details": null, "hint": null,
                   "message": "Could not find the table 'public.things' in the schema cache"})
        )
    );
    let r = api.get("/items", "", &[("Accept-Profile", "secret")]);
    assert_eq!(r.status, 406);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST106", "details": null, "message": "Invalid schema: secret",
               "hint": "Only the following schemas are exposed: public, other"})
    );

    // Values PostgreSQL rejects are its errors; unknown columns never reach it.
    let r = api.get("/items", "id=eq.abc", &[]);
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code": "22P02", "details": null, "hint": null,
                   "message": "invalid input syntax for type integer: \"abc\""})
        )
    );
    let r = api.get("/items", "nope=eq.1", &[]);
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code": "42703", "details": null, "hint": null,
                   "message": "column items.nope does not exist"})
        )
    );
    let r = api.get("/items", "select=id,nope", &[]);
    assert_eq!((r.status, r.code()), (400, "42703".to_owned()));
    let r = api.get("/items", "id=ilike.*1*", &[]);
    assert_eq!((r.status, r.code()), (404, "42883".to_owned()));
    // Embedding and aggregates are refused clearly.
    let r = api.get("/items", "select=id,owner(*)", &[]);
    assert_eq!((r.status, r.code()), (400, "PGRST127".to_owned()));
    let r = api.get("/items", "select=count()", &[]);
    assert_eq!((r.status, r.code()), (400, "PGRST123".to_owned()));
    let r = api.get("/items", "owner.id=eq.1", &[]);
    assert_eq!((r.status, r.code()), (400, "PGRST108".to_owned()));
    // Paths and methods.
    let r = api.get("/a/b/c", "", &[]);
    assert_eq!((r.status, r.code()), (404, "PGRST125".to_owned()));
    let r = api.send("TRACE", "/items", "", &[], None);
    assert_eq!((r.status, r.code()), (405, "PGRST117".to_owned()));
    let r = api.send("DELETE", "/rpc/anything", "", &[], None);
    assert_eq!((r.status, r.code()), (405, "PGRST101".to_owned()));
    let r = api.send("OPTIONS", "/items", "", &[], None);
    assert_eq!(r.status, 200);
    assert!(r.header("allow").is_some_and(|a| a.contains("PATCH")));
    // Unknown preferences: ignored, or 400 with handling=strict.
    let r = api.get("/items", "id=eq.1", &[("Prefer", "bogus=1")]);
    assert_eq!(r.status, 200);
    let r = api.get(
        "/items",
        "id=eq.1",
        &[("Prefer", "handling=strict, bogus=1")],
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code": "PGRST122", "hint": null,
                   "message": "Invalid preferences given with handling=strict",
                   "details": "Invalid preferences: bogus=1"})
        )
    );
    // Every error answer names its code in Proxy-Status.
    assert_eq!(r.header("proxy-status"), Some("PostgREST; error=PGRST122"));
}

/// Array, range, full-text and regular-expression operators, each with its positive and
/// negated form (PostgREST's spec cases have only some negated ones); NULLs match neither.
#[test]
fn containment_overlap_full_text_and_patterns() {
    let Some((_db, server)) = setup() else { return };
    let api = Api::new(server.rest_url());
    let cases: [(&str, &[i64]); 14] = [
        ("tags=cs.%7Bb%7D", &[1, 2]),
        ("tags=not.cs.%7Bb%7D", &[3]),
        ("tags=cd.%7Ba,b,c%7D", &[1, 2, 3]),
        ("tags=cd.%7Bb,c%7D", &[2, 3]),
        ("tags=ov.%7Ba,x%7D", &[1]),
        ("tags=not.ov.%7Ba,x%7D", &[2, 3]),
        ("span=ov.%5B3,6)", &[1, 2]),
        ("span=cs.%5B2,3%5D", &[1]),
        ("span=cd.%5B0,20)", &[1, 2, 3]),
        ("doc=fts(simple).quick", &[1, 3]),
        ("doc=not.fts(simple).dog", &[1]),
        ("name=match.%5Eg", &[]),
        ("name=imatch.%5Eg", &[3]),
        ("name=match.a$", &[1, 2, 3]),
    ];
    for (filter, expected) in cases {
        let r = api.get("/tagged", &format!("{filter}&order=id&select=id"), &[]);
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(ids(&r), expected, "{filter}");
    }
}
