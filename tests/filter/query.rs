//! Queries: search, sort, offset and keyset pagination, counts, in every back end.

use serde_json::{Value, json};
use smsbatch::filter::{Cursor, FilterOptions, Query, Schema, SortKey};

fn compile(q: Value) -> smsbatch::filter::CompiledQuery {
    let query: Query = serde_json::from_value(q).expect("query JSON");
    query
        .compile(&Schema::customers(), &FilterOptions::new())
        .expect("compiles")
}

#[test]
fn default_sort_and_pagination_strings() {
    let q = compile(json!({"limit": 50, "offset": 100, "count": true}));
    assert_eq!(
        q.postgrest_order(),
        "date_create.desc.nullslast,id.asc.nullslast"
    );
    let req = q.postgrest();
    assert_eq!(
        req.query_string(),
        "order=date_create.desc.nullslast%2Cid.asc.nullslast&limit=50&offset=100"
    );
    assert_eq!(req.prefer(), Some("count=exact"));
    // The JSON shape the browser package hands to JavaScript.
    assert_eq!(
        serde_json::to_value(&req).expect("json"),
        json!({
            "params": [["order", "date_create.desc.nullslast,id.asc.nullslast"], ["limit", "50"], ["offset", "100"]],
            "prefer": "count=exact",
            "head": false
        })
    );
    let page = q.run(&[json!({"id": 1})]).expect("run");
    assert_eq!(
        serde_json::to_value(&page).expect("json"),
        json!({"rows": [], "total": 1, "next": null})
    );
    let sql = q
        .sql_query("public.customers", &["id", "first_name"])
        .expect("sql");
    assert_eq!(
        sql.select(),
        "SELECT id, first_name FROM public.customers WHERE TRUE ORDER BY date_create DESC NULLS LAST, id ASC NULLS LAST LIMIT $1::bigint OFFSET $2::bigint"
    );
    assert_eq!(sql.select_statement().text_params(), vec!["50", "100"]);
    assert_eq!(
        sql.count_statement().text(),
        "SELECT count(*) FROM public.customers WHERE TRUE"
    );
    let count = q.postgrest_count();
    assert!(count.head());
    assert_eq!(count.query_string(), "limit=0");
}

#[test]
fn search_is_and_of_terms_or_of_fields() {
    let schema = Schema::from_json(
        r#"{"fields": [{"name": "id", "type": "number", "sortable": true},
                       {"name": "a", "type": "string", "searchable": true},
                       {"name": "b", "type": "string", "searchable": true}]}"#,
    )
    .expect("schema");
    let query = Query {
        search: Some("  jo  50%  ".into()),
        ..Query::default()
    };
    let q = query
        .compile(&schema, &FilterOptions::new())
        .expect("compiles");
    // No date_create in this schema: `id` alone orders.
    assert_eq!(q.postgrest_order(), "id.asc.nullslast");
    assert_eq!(
        q.page_filter().postgrest().into_pairs(),
        vec![
            (
                "or".to_string(),
                r#"(a.ilike."*jo*",b.ilike."*jo*")"#.to_string()
            ),
            (
                "or".to_string(),
                r#"(a.ilike."*50\\%*",b.ilike."*50\\%*")"#.to_string()
            ),
        ]
    );
    let rows = vec![
        json!({"id": 1, "a": "John", "b": "50% off"}),
        json!({"id": 2, "a": "John", "b": "500"}),
        json!({"id": 3, "a": null, "b": "JO 50%"}),
    ];
    assert_eq!(q.run(&rows).expect("run").rows, vec![0, 2]);
    let no_search_fields =
        Schema::from_json(r#"{"fields": [{"name": "id", "type": "number", "sortable": true}]}"#)
            .expect("schema");
    let err = query
        .compile(&no_search_fields, &FilterOptions::new())
        .unwrap_err();
    assert_eq!(err.kind().code(), "invalidQuery");
    assert_eq!(err.kind().path(), Some("/search"));
}

#[test]
fn keyset_pages_cover_every_row_once() {
    let rows: Vec<Value> = (1..=23)
        .map(|i| {
            json!({
                "id": i,
                "last_name": if i % 4 == 0 { Value::Null } else { json!(format!("n{}", i % 5)) },
                "date_create": if i % 3 == 0 { Value::Null } else { json!(format!("2024-01-{:02}T00:00:00Z", 1 + i % 4)) }
            })
        })
        .collect();
    for sort in [
        vec![],
        vec![SortKey::asc("last_name")],
        vec![
            SortKey {
                nulls: smsbatch::filter::Nulls::First,
                ..SortKey::desc("last_name")
            },
            SortKey::asc("date_create"),
        ],
    ] {
        let query = Query {
            sort: sort.clone(),
            limit: Some(4),
            count: true,
            ..Query::default()
        };
        let schema = Schema::customers();
        let all = Query {
            sort: sort.clone(),
            ..Query::default()
        }
        .compile(&schema, &FilterOptions::new())
        .expect("compiles")
        .run(&rows)
        .expect("run")
        .rows;
        let mut q = query
            .compile(&schema, &FilterOptions::new())
            .expect("compiles");
        let mut seen: Vec<usize> = Vec::new();
        loop {
            let page = q.run(&rows).expect("run");
            assert_eq!(page.total, Some(23));
            seen.extend(&page.rows);
            match page.next {
                Some(cursor) => q = q.with_after(cursor, &schema).expect("cursor"),
                None => break,
            }
        }
        assert_eq!(seen, all, "sort {sort:?}");
    }
}

#[test]
fn bad_queries_name_the_member() {
    let schema = Schema::customers();
    let options = FilterOptions::new();
    let err = |q: Value| {
        let query: Query = serde_json::from_value(q).expect("query JSON");
        query.compile(&schema, &options).unwrap_err()
    };
    let e = err(json!({"sort": [{"field": "nope"}]}));
    assert_eq!(
        (e.kind().code(), e.kind().path()),
        ("invalidQuery", Some("/sort/0"))
    );
    let e = err(json!({"sort": [{"field": "id"}, {"field": "id"}]}));
    assert_eq!(e.kind().path(), Some("/sort/1"));
    let e = err(json!({"offset": 1, "after": ["2024-01-01T00:00:00Z", 1]}));
    assert_eq!(e.kind().path(), Some("/after"));
    let e = err(json!({"after": [1]}));
    assert!(e.to_string().contains("needs 2"), "{e}");
    let e = err(json!({"after": ["yesterday", 1]}));
    assert_eq!(e.kind().path(), Some("/after/0"));
    let e = err(json!({"where": {"and": [{"field": "x", "op": "isEmpty"}]}}));
    assert_eq!(
        (e.kind().code(), e.kind().path()),
        ("unknownField", Some("/where/and/0"))
    );
    let compiled = Query::default()
        .compile(&schema, &options)
        .expect("compiles");
    assert!(compiled.sql_query("customers; DROP TABLE x", &[]).is_err());
    assert!(compiled.sql_query("customers", &["id; --"]).is_err());
    // A cursor is JSON: the sort values then the id.
    let c: Cursor = serde_json::from_value(json!([null, 5])).expect("cursor");
    assert_eq!(c.0.len(), 2);
}
