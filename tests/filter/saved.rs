//! Saved filters: model, audience presets, import/export.

use serde_json::json;
use smsbatch::Purpose;
use smsbatch::filter::{
    AudiencePreset, Filter, FilterOptions, SavedFilter, Schema, Visibility, export_saved,
    import_saved,
};

fn now() -> smsbatch::Timestamp {
    "2024-05-15T09:30:00Z".parse().expect("timestamp")
}

#[test]
fn every_preset_compiles_against_the_default_schema() {
    let presets = [
        AudiencePreset::NewCustomers { days: 30 },
        AudiencePreset::NoPhone,
        AudiencePreset::NoEmail,
        AudiencePreset::OptedIn,
        AudiencePreset::OptedOut,
        AudiencePreset::Reachable {
            purpose: Purpose::Marketing,
        },
        AudiencePreset::Reachable {
            purpose: Purpose::Transactional,
        },
        AudiencePreset::Inactive { days: 90 },
        AudiencePreset::BigSpenders { min_total: 250.0 },
        AudiencePreset::birthday_this_month(now(), 1930, 2010),
    ];
    let options = FilterOptions::new().with_now(now());
    for p in &presets {
        let doc = p.document().expect("document");
        Filter::from_document(&doc, &Schema::customers(), &options)
            .unwrap_or_else(|e| panic!("{p:?}: {e}"));
        // Presets are serde values too (for the browser's preset picker).
        let json = serde_json::to_value(p).expect("json");
        assert_eq!(json["preset"], p.key());
        let back: AudiencePreset = serde_json::from_value(json).expect("back");
        assert_eq!(&back, p);
    }
    assert_eq!(
        serde_json::from_value::<AudiencePreset>(json!({"preset": "reachable"})).expect("json"),
        AudiencePreset::Reachable {
            purpose: Purpose::Marketing
        },
        "marketing unless the purpose is given"
    );
    assert_eq!(
        serde_json::to_value(AudiencePreset::BirthdayInMonth {
            month: 2,
            from_year: 2000,
            to_year: 2001
        })
        .expect("json"),
        json!({"preset": "birthdayInMonth", "month": 2, "fromYear": 2000, "toYear": 2001})
    );
}

/// The consent presets select what the preview's rule sends, over every combination of
/// `opted_in` and `opted_out` (absent, null, true, false) with and without a phone.
#[test]
fn consent_presets_agree_with_the_preview_rule() {
    let values = [
        None,
        Some(json!(null)),
        Some(json!(true)),
        Some(json!(false)),
    ];
    let mut rows = Vec::new();
    for phone in [json!("+447400123456"), json!(null)] {
        for opted_in in &values {
            for opted_out in &values {
                let mut row = json!({"id": rows.len(), "phone": phone});
                if let Some(v) = opted_in {
                    row["opted_in"] = v.clone();
                }
                if let Some(v) = opted_out {
                    row["opted_out"] = v.clone();
                }
                rows.push(row);
            }
        }
    }
    let select = |preset: AudiencePreset| -> Vec<usize> {
        let doc = preset.document().expect("doc");
        Filter::from_document(&doc, &Schema::customers(), &FilterOptions::new())
            .expect("compiles")
            .evaluator()
            .filter(&rows)
            .expect("rows")
    };
    let expected = |pick: &dyn Fn(&serde_json::Value) -> bool| -> Vec<usize> {
        (0..rows.len()).filter(|&i| pick(&rows[i])).collect()
    };
    let opted_out = |r: &serde_json::Value| r["opted_out"] == json!(true);
    let opted_in = |r: &serde_json::Value| r["opted_in"] == json!(true);
    let phone = |r: &serde_json::Value| r["phone"].is_string();
    assert_eq!(select(AudiencePreset::OptedOut), expected(&opted_out));
    assert_eq!(
        select(AudiencePreset::OptedIn),
        expected(&|r| opted_in(r) && !opted_out(r))
    );
    assert_eq!(
        select(AudiencePreset::Reachable {
            purpose: Purpose::Marketing
        }),
        expected(&|r| phone(r) && opted_in(r) && !opted_out(r))
    );
    assert_eq!(
        select(AudiencePreset::Reachable {
            purpose: Purpose::Transactional
        }),
        expected(&|r| phone(r) && !opted_out(r))
    );
    // The same rows through the preview: exactly the reachable ones are included.
    for purpose in [Purpose::Marketing, Purpose::Transactional] {
        let template = smsbatch::Template::compile("Hi").expect("template");
        let previewer = smsbatch::PreviewConfig::new()
            .purpose(purpose)
            .e164_only(true)
            .build(&template)
            .expect("previewer");
        // One phone each, so duplicates do not hide the rule.
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if r["phone"].is_string() {
                    r["phone"] = json!(format!("+4474001{:05}", r["id"].as_u64().expect("id")));
                }
                r
            })
            .collect();
        let included: Vec<usize> = previewer
            .preview(&rows)
            .expect("preview")
            .recipients
            .iter()
            .filter(|r| r.included().is_some())
            .map(|r| r.index() as usize)
            .collect();
        assert_eq!(
            included,
            select(AudiencePreset::Reachable { purpose }),
            "{purpose:?}"
        );
    }
}

#[test]
fn birthday_in_month_is_an_or_of_year_ranges() {
    let doc = AudiencePreset::BirthdayInMonth {
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
        AudiencePreset::BirthdayInMonth {
            month: 13,
            from_year: 2000,
            to_year: 2001
        }
        .document()
        .is_err()
    );
    assert!(
        AudiencePreset::BirthdayInMonth {
            month: 1,
            from_year: 2001,
            to_year: 2000
        }
        .document()
        .is_err()
    );
    assert!(
        AudiencePreset::BirthdayInMonth {
            month: 1,
            from_year: 1000,
            to_year: 2000
        }
        .document()
        .is_err()
    );
    assert!(
        AudiencePreset::BigSpenders {
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
        AudiencePreset::NewCustomers { days: 7 }
            .document()
            .expect("doc"),
        now(),
    );
    a.description = "Welcome campaign".into();
    let mut b = SavedFilter::new(
        "b",
        "Reachable",
        "bob",
        AudiencePreset::Reachable {
            purpose: Purpose::Marketing,
        }
        .document()
        .expect("doc"),
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
