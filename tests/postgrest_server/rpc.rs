//! RPC: named arguments from a JSON body or the query, overloads, the shapes of results
//! (scalar, set of scalars, one row, rows, void), filters on results, read-only calls, raised
//! errors, and concurrent claims with `FOR UPDATE SKIP LOCKED`.

use std::collections::BTreeSet;

use serde_json::json;

use super::support::{Api, Db};

const SETUP: &str = r#"
CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
INSERT INTO items SELECT i, 'item ' || i, i % 3 FROM generate_series(1, 10) i;
CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;
CREATE FUNCTION greet(name text DEFAULT 'world') RETURNS text LANGUAGE sql AS $$ SELECT 'hello ' || name $$;
CREATE FUNCTION items_over(min_qty int) RETURNS SETOF items LANGUAGE sql STABLE AS $$ SELECT * FROM items WHERE qty > min_qty $$;
CREATE FUNCTION item(item_id int) RETURNS items LANGUAGE sql STABLE AS $$ SELECT * FROM items WHERE id = item_id $$;
CREATE FUNCTION ids_upto(n int) RETURNS SETOF int LANGUAGE sql STABLE AS $$ SELECT generate_series(1, n) $$;
CREATE FUNCTION pairs(n int) RETURNS TABLE (k int, v text) LANGUAGE sql STABLE AS $$ SELECT i, 'v' || i FROM generate_series(1, n) i $$;
CREATE FUNCTION rename_item(item_id int, new_name text) RETURNS void LANGUAGE sql AS $$ UPDATE items SET name = new_name WHERE id = item_id $$;
CREATE FUNCTION echo(json) RETURNS json LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION over(a int) RETURNS text LANGUAGE sql AS $$ SELECT 'one' $$;
CREATE FUNCTION over(a int, b int) RETURNS text LANGUAGE sql AS $$ SELECT 'two' $$;
CREATE FUNCTION tags(VARIADIC t text[]) RETURNS int LANGUAGE sql AS $$ SELECT cardinality(t) $$;
CREATE FUNCTION pay() RETURNS void LANGUAGE plpgsql AS $$
BEGIN RAISE SQLSTATE 'PT402' USING message = 'Payment Required', detail = 'Quota exceeded', hint = 'Upgrade your plan'; END $$;
CREATE FUNCTION custom() RETURNS void LANGUAGE plpgsql AS $$
BEGIN RAISE SQLSTATE 'PGRST' USING
  message = '{"code":"123","message":"ABC","details":"DEF","hint":"XYZ"}',
  detail = '{"status":332,"headers":{"X-Powered-By":"Nerd Rage"}}'; END $$;
CREATE FUNCTION teapot() RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM set_config('response.status', '418', true);
      PERFORM set_config('response.headers', '[{"x-brew": "earl grey"}]', true); RETURN 1; END $$;
CREATE TABLE queue (id int PRIMARY KEY, claimed_by text);
INSERT INTO queue SELECT i, NULL FROM generate_series(1, 400) i;
CREATE FUNCTION claim(worker text, n int) RETURNS SETOF int LANGUAGE sql AS $$
  UPDATE queue SET claimed_by = worker
  WHERE id IN (SELECT id FROM queue WHERE claimed_by IS NULL ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED)
  RETURNING id $$;
GRANT SELECT, UPDATE ON items, queue TO anon;
"#;

#[test]
fn calls_and_results() {
    let Some(db) = Db::create("rpc") else { return };
    db.execute(SETUP);
    let server = db.server("public");
    let api = Api::new(server.rest_url());

    // A scalar, by POST (JSON object) and by GET (query).
    let r = api.post("/rpc/add", "", &[], r#"{"a": 1, "b": 2}"#);
    assert_eq!((r.status, r.body.as_str()), (200, "3"));
    assert_eq!(r.header("content-range"), Some("0-0/*"));
    let r = api.get("/rpc/add", "a=40&b=2", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, "42"));
    // Defaults, and no body at all.
    assert_eq!(
        api.post("/rpc/greet", "", &[], "").json(),
        json!("hello world")
    );
    assert_eq!(
        api.post("/rpc/greet", "", &[], r#"{"name": "you"}"#).json(),
        json!("hello you")
    );
    // Rows, filtered, ordered, limited and counted like a table.
    let r = api.post(
        "/rpc/items_over",
        "select=id,name&id=gt.3&order=id.desc&limit=1",
        &[("Prefer", "count=exact")],
        r#"{"min_qty": 1}"#,
    );
    // qty > 1 is ids 2, 5, 8; id > 3 leaves 5 and 8; the count is after the filters.
    assert_eq!(r.status, 206, "{}", r.body);
    assert_eq!(r.json(), json!([{"id": 8, "name": "item 8"}]));
    assert_eq!(r.header("content-range"), Some("0-0/2"));
    let r = api.get("/rpc/items_over", "min_qty=1&nope=eq.1", &[]);
    assert_eq!((r.status, r.code()), (400, "42703".to_owned()));
    // One row: an object; a set of scalars: an array; a TABLE: rows.
    assert_eq!(
        api.get("/rpc/item", "item_id=4", &[]).json(),
        json!({"id": 4, "name": "item 4", "qty": 1})
    );
    // A SQL function returning one row gives a row of NULLs when nothing matches; PostgREST
    // shows it as it is.
    assert_eq!(
        api.get("/rpc/item", "item_id=99", &[]).json(),
        json!({"id": null, "name": null, "qty": null})
    );
    assert_eq!(
        api.get("/rpc/ids_upto", "n=3", &[]).json(),
        json!([1, 2, 3])
    );
    assert_eq!(
        api.get("/rpc/pairs", "n=3&k=gte.2", &[]).json(),
        json!([{"k": 2, "v": "v2"}, {"k": 3, "v": "v3"}])
    );
    // Void: 204, and the change is committed.
    let r = api.post(
        "/rpc/rename_item",
        "",
        &[],
        r#"{"item_id": 1, "new_name": "renamed"}"#,
    );
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(
        api.get("/items", "id=eq.1&select=name", &[]).json(),
        json!([{"name": "renamed"}])
    );
    // GET runs read-only: a writing function is refused (405, PostgreSQL's 25006).
    let r = api.get("/rpc/rename_item", "item_id=1&new_name=nope", &[]);
    assert_eq!((r.status, r.code()), (405, "25006".to_owned()));
    // One unnamed json argument takes the whole body.
    assert_eq!(
        api.post("/rpc/echo", "", &[], r#"{"any": [1, "x"]}"#)
            .json(),
        json!({"any": [1, "x"]})
    );
    // Overloads are told apart by argument names.
    assert_eq!(
        api.post("/rpc/over", "", &[], r#"{"a": 1}"#).json(),
        json!("one")
    );
    assert_eq!(
        api.post("/rpc/over", "", &[], r#"{"a": 1, "b": 2}"#).json(),
        json!("two")
    );
    // Variadic arguments: an array in JSON, repeated in the query.
    assert_eq!(
        api.post("/rpc/tags", "", &[], r#"{"t": ["a", "b", "c"]}"#)
            .json(),
        json!(3)
    );
    assert_eq!(api.get("/rpc/tags", "t=a&t=b", &[]).json(), json!(2));
    // No such function, or no such arguments.
    let r = api.post("/rpc/add", "", &[], r#"{"a": 1}"#);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"code": "PGRST202", "hint": null,
               "message": "Could not find the function public.add(a) in the schema cache",
               "details": "Searched for the function public.add with parameter a or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."})
    );
    let r = api.post("/rpc/nothing", "", &[], "{}");
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (
            404,
            json!(
                "Could not find the function public.nothing without parameters in the schema cache"
            )
        )
    );
    // Bad argument values are PostgreSQL's errors.
    let r = api.post("/rpc/add", "", &[], r#"{"a": "x", "b": 1}"#);
    assert_eq!((r.status, r.code()), (400, "22P02".to_owned()));
    // Raised errors choose the answer.
    let r = api.post("/rpc/pay", "", &[], "{}");
    assert_eq!(r.status, 402);
    assert_eq!(
        r.json(),
        json!({"code": "PT402", "details": "Quota exceeded", "hint": "Upgrade your plan", "message": "Payment Required"})
    );
    let r = api.post("/rpc/custom", "", &[], "{}");
    assert_eq!(r.status, 332);
    assert_eq!(
        r.json(),
        json!({"code": "123", "details": "DEF", "hint": "XYZ", "message": "ABC"})
    );
    assert_eq!(r.header("x-powered-by"), Some("Nerd Rage"));
    // SQL sets the status and headers.
    let r = api.post("/rpc/teapot", "", &[], "{}");
    assert_eq!((r.status, r.header("x-brew")), (418, Some("earl grey")));
}

#[test]
fn concurrent_claims_never_overlap() {
    let Some(db) = Db::create("claims") else {
        return;
    };
    db.execute(SETUP);
    let server = db.server("public");
    let url = server.rest_url();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let api = Api::new(url);
                let mut mine = Vec::new();
                // Bounded: 400 rows, at least 7 per call, so 60 calls always suffice.
                for _ in 0..60 {
                    let r = api.post(
                        "/rpc/claim",
                        "",
                        &[],
                        &format!(r#"{{"worker": "w{w}", "n": 7}}"#),
                    );
                    assert_eq!(r.status, 200, "{}", r.body);
                    let got: Vec<i64> = serde_json::from_str(&r.body).expect("ids");
                    if got.is_empty() {
                        break;
                    }
                    mine.extend(got);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.join().expect("worker"));
    }
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a row was claimed twice");
    assert_eq!(unique, (1..=400).collect::<BTreeSet<i64>>());
}
