//! Saved filters: model, templates, import/export.

use serde_json::json;
use smsbatch::filter::{
    Filter, FilterOptions, FilterTemplate, SavedFilter, Schema, Visibility, export_saved,
    import_saved,
};

fn now() -> smsbatch::Timestamp {
    "2024-05-15T09:30:00Z".parse().expect("timestamp")
}

#[test]
fn every_template_compiles_against_the_default_schema() {
    let templates = [
        FilterTemplate::NewCustomers { days: 30 },
        FilterTemplate::NoPhone,
        FilterTemplate::NoEmail,
        FilterTemplate::OptedIn,
        FilterTemplate::Reachable,
        FilterTemplate::Inactive { days: 90 },
        FilterTemplate::BigSpenders { min_total: 250.0 },
        FilterTemplate::birthday_this_month(now(), 1930, 2010),
    ];
    let options = FilterOptions::new().now(now());
    for t in &templates {
        let doc = t.document().expect("document");
        Filter::from_document(&doc, &Schema::customers(), &options)
            .unwrap_or_else(|e| panic!("{t:?}: {e}"));
        // Templates are serde values too (for the browser's template picker).
        let back: FilterTemplate =
            serde_json::from_value(serde_json::to_value(t).expect("json")).expect("back");
        assert_eq!(&back, t);
    }
    assert_eq!(
        serde_json::to_value(FilterTemplate::BirthdayInMonth {
            month: 2,
            from_year: 2000,
            to_year: 2001
        })
        .expect("json"),
        json!({"template": "birthdayInMonth", "month": 2, "fromYear": 2000, "toYear": 2001})
    );
}

#[test]
fn birthday_in_month_is_an_or_of_year_ranges() {
    let doc = FilterTemplate::BirthdayInMonth {
        month: 2,
        from_year: 2000,
        to_year: 2001,
    }
    .document()
    .expect("doc");
    assert_eq!(
        doc.to_value(),
        json!({"version": 1, "where": {"or": [
            {"field": "birthday", "op": "between", "value": ["2000-02-01", "2000-02-29"]},
            {"field": "birthday", "op": "between", "value": ["2001-02-01", "2001-02-28"]}
        ]}})
    );
    let filter =
        Filter::from_document(&doc, &Schema::customers(), &FilterOptions::new()).expect("compiles");
    let rows = [
        json!({"id": 1, "birthday": "2000-02-29"}),
        json!({"id": 2, "birthday": "2001-03-01"}),
        json!({"id": 3, "birthday": null}),
        json!({"id": 4, "birthday": "2001-02-01"}),
    ];
    assert_eq!(filter.evaluator().filter(&rows).expect("rows"), vec![0, 3]);
    assert!(
        FilterTemplate::BirthdayInMonth {
            month: 13,
            from_year: 2000,
            to_year: 2001
        }
        .document()
        .is_err()
    );
    assert!(
        FilterTemplate::BirthdayInMonth {
            month: 1,
            from_year: 2001,
            to_year: 2000
        }
        .document()
        .is_err()
    );
    assert!(
        FilterTemplate::BirthdayInMonth {
            month: 1,
            from_year: 1000,
            to_year: 2000
        }
        .document()
        .is_err()
    );
    assert!(
        FilterTemplate::BigSpenders {
            min_total: f64::NAN
        }
        .document()
        .is_err()
    );
}

#[test]
fn export_import_round_trip_and_validation() {
    let mut a = SavedFilter::new(
        "a",
        "New this week",
        "alice",
        FilterTemplate::NewCustomers { days: 7 }
            .document()
            .expect("doc"),
        now(),
    );
    a.description = "Welcome campaign".into();
    let mut b = SavedFilter::new(
        "b",
        "Reachable",
        "bob",
        FilterTemplate::Reachable.document().expect("doc"),
        now(),
    );
    b.set_visibility(
        Visibility::Team,
        "2024-05-16T00:00:00Z".parse().expect("ts"),
    );
    let file = export_saved(&[a.clone(), b.clone()], now());
    assert_eq!(file["format"], "smsbatch.savedFilters");
    assert_eq!(file["version"], 1);
    assert_eq!(file["filters"][1]["visibility"], json!({"type": "team"}));
    assert_eq!(file["filters"][1]["updatedAt"], "2024-05-16T00:00:00Z");
    let back = import_saved(&file.to_string(), &Schema::customers()).expect("import");
    assert_eq!(back, vec![a, b]);

    let check = |mutate: &dyn Fn(&mut serde_json::Value), code: &str, path: &str| {
        let mut bad = file.clone();
        mutate(&mut bad);
        let e = import_saved(&bad.to_string(), &Schema::customers()).unwrap_err();
        assert_eq!(
            (e.kind().code(), e.kind().path()),
            (code, Some(path)),
            "{e}"
        );
    };
    check(
        &|f| f["version"] = json!(2),
        "invalidSavedFilter",
        "/version",
    );
    check(
        &|f| f["format"] = json!("other"),
        "invalidSavedFilter",
        "/format",
    );
    check(
        &|f| f["filters"][1]["id"] = json!("a"),
        "invalidSavedFilter",
        "/filters/1/id",
    );
    check(
        &|f| f["filters"][0]["name"] = json!(" "),
        "invalidSavedFilter",
        "/filters/0/name",
    );
    check(
        &|f| f["filters"][0]["createdAt"] = json!("2030-01-01T00:00:00Z"),
        "invalidSavedFilter",
        "/filters/0/updatedAt",
    );
    check(
        &|f| f["filters"][0]["visibility"] = json!({"type": "shared", "users": []}),
        "invalidSavedFilter",
        "/filters/0/visibility/users",
    );
    check(
        &|f| f["filters"][0]["visibility"] = json!({"type": "shared", "users": ["x", "x"]}),
        "invalidSavedFilter",
        "/filters/0/visibility/users/1",
    );
    check(
        &|f| f["filters"][0]["visibility"] = json!({"type": "public"}),
        "invalidSavedFilter",
        "/filters/0",
    );
    check(
        &|f| f["filters"][0]["filter"]["where"] = json!({"and": [{"field": "x", "op": "isEmpty"}]}),
        "unknownField",
        "/filters/0/filter/where/and/0",
    );
    check(
        &|f| {
            f["filters"][0]["filter"]["where"] =
                json!({"field": "birthday", "op": "contains", "value": "x"})
        },
        "invalidFilter",
        "/filters/0/filter/where",
    );
    check(
        &|f| f["filters"][1]["filter"]["version"] = json!(9),
        "invalidFilter",
        "/filters/1/filter/version",
    );
    check(
        &|f| f["filters"][0]["extra"] = json!(1),
        "invalidSavedFilter",
        "/filters/0",
    );
    assert!(import_saved("[]", &Schema::customers()).is_err());
}
