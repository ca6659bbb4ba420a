//! The batch preview against the cases in `tests/data/preview/cases.json`, the consent rule of
//! `tests/data/preview/consent.json`, phone normalisation, samples, streaming, the
//! missing-variable policies, exact money, results that read back from their JSON, a property
//! test tying every recipient's count to the segment counter, and the `smsbatch preview` command
//! line.

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use smsbatch::{
    Amount, ErrorKind, ExclusionReason, MissingVariablePolicy, Preview, PreviewConfig, PriceTable,
    Purpose, RecipientPreview, Sample, SegmentConfig, Segmenter, Template,
};

use crate::support::data;

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    template: String,
    config: PreviewConfig,
    rows: Vec<Value>,
    expect: Vec<Value>,
    summary: Value,
}

/// True when every field of `expected` is in `actual` with the same value (recursively for
/// objects; arrays and scalars must be equal).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        _ => actual == expected,
    }
}

#[test]
fn cases_from_data() {
    let cases: Vec<Case> = serde_json::from_str(&data("preview/cases.json")).unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let template = Template::compile(&case.template).unwrap();
        let previewer = case.config.build(&template).unwrap();
        let preview = previewer.preview(&case.rows).unwrap();
        assert_eq!(preview.recipients.len(), case.expect.len(), "{}", case.name);
        for (i, (got, want)) in preview.recipients.iter().zip(&case.expect).enumerate() {
            let got = serde_json::to_value(got).unwrap();
            assert!(
                contains(&got, want),
                "{}: row {i}\n  got  {got}\n  want {want}",
                case.name
            );
        }
        let summary = serde_json::to_value(&preview.summary).unwrap();
        assert!(
            contains(&summary, &case.summary),
            "{}: summary\n  got  {summary}\n  want {}",
            case.name,
            case.summary
        );
        // Every row is counted once: included, excluded for one reason, or failed.
        let s = &preview.summary;
        assert_eq!(
            s.recipients + s.excluded.total() + s.errors,
            s.total,
            "{}",
            case.name
        );
        for reason in ExclusionReason::ALL {
            let n = preview
                .recipients
                .iter()
                .filter(|r| r.excluded().is_some_and(|e| e.reason == reason))
                .count() as u64;
            assert_eq!(s.excluded.get(reason), n, "{}: {reason:?}", case.name);
        }
        // Streaming gives the same results and summary.
        let mut stream = previewer.stream(&case.rows);
        let streamed: Vec<RecipientPreview> = stream.by_ref().map(Result::unwrap).collect();
        assert_eq!(streamed, preview.recipients, "{}", case.name);
        assert_eq!(stream.summary(), &preview.summary, "{}", case.name);
    }
}

fn previewer(template: &str, config: PreviewConfig) -> smsbatch::Previewer {
    config.build(&Template::compile(template).unwrap()).unwrap()
}

#[test]
fn missing_variable_exclude_or_fail() {
    let rows = [
        json!({"id": 1, "phone": "+447400123456", "first": "Ana", "city": "Porto", "opted_in": true}),
        json!({"id": "c-2", "phone": "+447400123457", "first": "Bea", "opted_in": true}),
        json!({"id": 3, "phone": "+447400123458", "first": "Cy", "city": null, "opted_in": true}),
    ];
    let exclude = previewer("Hi {{first}} from {{city}}", PreviewConfig::new());
    let preview = exclude.preview(&rows).unwrap();
    let excluded = preview.recipients[1].excluded().unwrap();
    assert_eq!(excluded.id, json!("c-2"));
    assert_eq!(excluded.reason, ExclusionReason::MissingVariable);
    assert_eq!(excluded.detail, "missing variable \"city\"");

    let fail = previewer(
        "Hi {{first}} from {{city}}",
        PreviewConfig::new().missing(MissingVariablePolicy::Fail),
    );
    let err = fail.preview(&rows).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::MissingVariable {
            id: Some(json!("c-2")),
            variable: "city".into()
        }
    );
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({"kind": "missingVariable", "message": "recipient \"c-2\": missing variable \"city\"",
               "id": "c-2", "variable": "city"})
    );
    // The stream yields the included first row, then the error, then nothing.
    let results: Vec<_> = fail.stream(&rows).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok() && results[1].is_err());
    // A missing variable inside a helper or a block is reported the same way.
    let err = previewer(
        "{{#if vip}}{{upper title}}{{/if}}",
        PreviewConfig::new().missing(MissingVariablePolicy::Fail),
    )
    .preview([json!({"id": 9, "phone": "+447400123456", "vip": true, "opted_in": true})])
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MissingVariable { id: Some(id), variable } if id == &json!(9) && variable == "title")
    );
}

#[test]
fn samples_first_and_seeded() {
    let rows: Vec<Value> = (0..500)
        .map(|i| json!({"id": i, "phone": format!("+4474001{i:05}"), "n": i, "opted_in": true}))
        .collect();
    let p = previewer("#{{n}}", PreviewConfig::new().parts(true));
    let first = p.sample(&rows, Sample::First(3)).unwrap();
    let ids: Vec<&Value> = first.recipients.iter().filter_map(|r| r.id()).collect();
    assert_eq!(ids, [&json!(0), &json!(1), &json!(2)]);
    assert_eq!(first.summary.total, 3);
    assert_eq!(
        first.recipients[2].included().unwrap().parts,
        Some(vec!["#2".to_owned()])
    );

    let seeded = |seed| {
        p.sample(&rows, Sample::Seeded { size: 10, seed })
            .unwrap()
            .recipients
            .iter()
            .map(RecipientPreview::index)
            .collect::<Vec<u64>>()
    };
    let a = seeded(42);
    assert_eq!(a.len(), 10);
    assert_eq!(a, seeded(42), "the same seed picks the same recipients");
    assert_ne!(a, seeded(43));
    assert!(a.windows(2).all(|w| w[0] < w[1]), "in input order: {a:?}");
    // Each result's index is its row's position, so ids and indexes agree here.
    let sample = p
        .sample(&rows, Sample::Seeded { size: 10, seed: 42 })
        .unwrap();
    for r in &sample.recipients {
        assert_eq!(r.id(), Some(&json!(r.index())));
    }
    // A sample larger than the audience is the whole audience.
    assert_eq!(
        p.sample(&rows[..4], Sample::Seeded { size: 10, seed: 1 })
            .unwrap()
            .recipients
            .len(),
        4
    );
}

/// Issue 10, item 10: a `--sample` preview marks the same recipients duplicate as the full run.
/// The sample used to preview only the picked rows, so a picked row whose number first appears in
/// an earlier row the sample left out was included.
#[test]
fn a_sample_marks_the_same_recipients_duplicate_as_the_full_run() {
    // Every third row repeats the number of the row before it; row 0 lacks `n` (excluded, so it
    // claims nothing: row 1, with the same number, is included).
    let rows: Vec<Value> = (0..300)
        .map(|i: u32| {
            let number = i - u32::from(i % 3 == 2);
            let mut row =
                json!({"id": i, "phone": format!("+4474001{number:05}"), "opted_in": true});
            if i > 0 {
                row["n"] = json!(i);
            }
            row
        })
        .collect();
    assert!(rows[0].get("n").is_none() && rows[1]["n"] == 1);
    let p = previewer("#{{n}}", PreviewConfig::new());
    let full = p.preview(&rows).unwrap();
    let reason = |r: &RecipientPreview| match r {
        RecipientPreview::Excluded(e) => Some(e.reason),
        _ => None,
    };
    assert_eq!(full.summary.excluded.duplicate_phone, 100);
    let mut duplicates_seen = 0;
    for seed in 0..20 {
        let sample = p.sample(&rows, Sample::Seeded { size: 30, seed }).unwrap();
        assert_eq!(sample.recipients.len(), 30);
        for r in &sample.recipients {
            let i = usize::try_from(r.index()).unwrap();
            assert_eq!(
                reason(r),
                reason(&full.recipients[i]),
                "seed {seed}, row {i}"
            );
            assert_eq!(r, &full.recipients[i], "seed {seed}, row {i}");
            duplicates_seen += usize::from(reason(r) == Some(ExclusionReason::DuplicatePhone));
        }
        let counted = sample.summary.excluded.duplicate_phone;
        assert_eq!(
            counted,
            sample
                .recipients
                .iter()
                .filter(|r| reason(r) == Some(ExclusionReason::DuplicatePhone))
                .count() as u64
        );
        assert_eq!(sample.summary.total, 30);
    }
    assert!(duplicates_seen > 0, "some samples pick a duplicate");
    // The first n are the full run's first n.
    let first = p.sample(&rows, Sample::First(9)).unwrap();
    assert_eq!(first.recipients, full.recipients[..9]);

    // Under `fail`, only a picked row's missing variable is an error.
    let fail = previewer(
        "#{{n}}",
        PreviewConfig::new().missing(MissingVariablePolicy::Fail),
    );
    assert!(fail.preview(&rows).is_err());
    for seed in 0..20 {
        let picks_row_0 = p
            .sample(&rows, Sample::Seeded { size: 30, seed })
            .unwrap()
            .recipients
            .iter()
            .any(|r| r.index() == 0);
        let sample = fail.sample(&rows, Sample::Seeded { size: 30, seed });
        assert_eq!(sample.is_err(), picks_row_0, "seed {seed}");
    }
    let err = fail.sample(&rows, Sample::First(2)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MissingVariable { .. }),
        "{err}"
    );
}

#[test]
fn pushed_lists_are_bounded_but_counted() {
    let rows: Vec<Value> = (0..50)
        .map(|i| json!({"id": i, "phone": format!("+4474001{i:05}"), "name": "Zoë", "opted_in": true}))
        .collect();
    let p = previewer("Hi {{name}}", PreviewConfig::new().list_limit(5));
    let s = p.preview(&rows).unwrap().summary;
    assert_eq!(s.pushed_to_ucs2.count, 50);
    assert_eq!(
        s.pushed_to_ucs2.ids,
        (0..5).map(|i| json!(i)).collect::<Vec<_>>()
    );
    let included = p.preview(&rows[..1]).unwrap();
    let r = included.recipients[0].included().unwrap();
    assert!(r.pushed_to_ucs2);
    assert_eq!(r.non_gsm.len(), 1);
    assert_eq!((r.non_gsm[0].ch, r.non_gsm[0].index), ('ë', 5));
}

#[test]
fn smart_encoding_previews_the_text_sent() {
    let p = previewer(
        "{{quote}}",
        PreviewConfig::new().segments(SegmentConfig::new().smart_encoding(true)),
    );
    let preview = p
        .preview([
            json!({"id": 1, "phone": "+447400123456", "quote": "“Hi” — ok…", "opted_in": true}),
        ])
        .unwrap();
    let r = preview.recipients[0].included().unwrap();
    assert_eq!(r.text, "\"Hi\" - ok...");
    assert_eq!(r.encoding, smsbatch::Encoding::Gsm7);
    assert!(!r.pushed_to_ucs2);
}

#[test]
fn suppression_list_entries_must_be_valid() {
    let err = PreviewConfig::new()
        .suppress(["+447400123456", "not a number"])
        .build(&Template::compile("x").unwrap())
        .unwrap_err();
    assert_eq!(err.kind().code(), "invalidPhone");
    assert!(
        err.to_string().contains("suppression list entry 2"),
        "{err}"
    );
}

#[cfg(feature = "phone")]
#[test]
fn phones_are_normalised_with_the_region() {
    // A transactional message: no opted_in needed.
    let transactional = || PreviewConfig::new().purpose(Purpose::Transactional);
    let p = previewer("hi", transactional().region("GB"));
    let rows = [
        json!({"id": 1, "phone": "07400 123456"}),
        json!({"id": 2, "phone": "+44 (0)7400 123457"}),
        json!({"id": 3, "phone": "0044 7400 123458"}),
        json!({"id": 4, "phone": "+1 212-555-0123"}),
        json!({"id": 5, "phone": "+44 7400 123456"}),
        json!({"id": 6, "phone": "07700 900123"}),
        json!({"id": 7, "phone": 447400123459u64}),
        json!({"id": 8, "phone": "call me"}),
    ];
    let preview = p.preview(&rows).unwrap();
    let phones: Vec<String> = preview
        .recipients
        .iter()
        .map(|r| match r {
            RecipientPreview::Included(r) => r.phone.clone(),
            RecipientPreview::Excluded(r) => format!("{:?}", r.reason),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        phones,
        [
            "+447400123456",
            "+447400123457",
            "+447400123458",
            "+12125550123",
            "DuplicatePhone",
            "InvalidPhone",
            "+447400123459",
            "InvalidPhone",
        ]
    );
    // Without a region, a national number cannot be valid.
    let p = previewer("hi", transactional());
    let r = p
        .preview([json!({"id": 1, "phone": "07400 123456"})])
        .unwrap();
    let detail = &r.recipients[0].excluded().unwrap().detail;
    assert!(detail.contains("no default region"), "{detail}");
    // The suppression list is normalised the same way.
    let p = previewer(
        "hi",
        transactional().region("GB").suppress(["07400 123456"]),
    );
    let r = p
        .preview([json!({"id": 1, "phone": "+447400123456"})])
        .unwrap();
    assert_eq!(
        r.recipients[0].excluded().unwrap().reason,
        ExclusionReason::OptedOut
    );
}

#[test]
fn e164_only_accepts_e164_syntax_only() {
    let p = previewer(
        "hi",
        PreviewConfig::new()
            .purpose(Purpose::Transactional)
            .e164_only(true),
    );
    let r = p
        .preview([
            json!({"id": 1, "phone": "+447400123456"}),
            json!({"id": 2, "phone": "+44 7400 123457"}),
            json!({"id": 3, "phone": "447400123458"}),
        ])
        .unwrap();
    assert!(r.recipients[0].included().is_some());
    let detail = &r.recipients[1].excluded().unwrap().detail;
    assert!(detail.contains("only digits may follow the +"), "{detail}");
    let detail = &r.recipients[2].excluded().unwrap().detail;
    assert!(detail.contains("must start with +"), "{detail}");
}

#[derive(Debug, Deserialize)]
struct ConsentCases {
    template: String,
    suppress: Vec<String>,
    rows: Vec<Value>,
    expect: std::collections::BTreeMap<String, Vec<String>>,
}

/// What a result says in `consent.json`'s words: `"included"` or the exclusion reason.
fn outcome(r: &RecipientPreview) -> String {
    match r {
        RecipientPreview::Included(_) => "included".to_owned(),
        RecipientPreview::Excluded(e) => e.reason.code().to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn consent_for_every_combination_and_purpose() {
    let cases: ConsentCases = serde_json::from_str(&data("preview/consent.json")).unwrap();
    assert_eq!(cases.rows.len(), 32);
    let template = Template::compile(&cases.template).unwrap();
    for (name, purpose) in [
        ("marketing", Purpose::Marketing),
        ("transactional", Purpose::Transactional),
    ] {
        let previewer = PreviewConfig::new()
            .purpose(purpose)
            .suppress(&cases.suppress)
            .e164_only(true)
            .build(&template)
            .unwrap();
        let preview = previewer.preview(&cases.rows).unwrap();
        let got: Vec<String> = preview.recipients.iter().map(outcome).collect();
        for (i, (got, want)) in got.iter().zip(&cases.expect[name]).enumerate() {
            assert_eq!(got, want, "{name}: row {}", cases.rows[i]);
        }
        let s = &preview.summary;
        let count = |what: &str| cases.expect[name].iter().filter(|w| *w == what).count() as u64;
        assert_eq!(
            (s.recipients, s.excluded.opted_out, s.excluded.no_consent),
            (count("included"), count("optedOut"), count("noConsent")),
            "{name}"
        );
    }
    // Marketing is the default.
    let default = PreviewConfig::new()
        .e164_only(true)
        .build(&template)
        .unwrap();
    let got: Vec<String> = default
        .preview(&cases.rows)
        .unwrap()
        .recipients
        .iter()
        .map(outcome)
        .collect();
    // Without the suppression list, the second half of the rows is like the first.
    let unsuppressed: Vec<String> = (0..32)
        .map(|i| cases.expect["marketing"][i % 16].clone())
        .collect();
    assert_eq!(got, unsuppressed);
}

#[test]
fn consent_details_and_field_names() {
    let rows = [
        json!({"customer_id": "a", "mobile": "+447400123456", "sms_ok": "yes", "stop": ""}),
        json!({"customer_id": "b", "mobile": "+447400123457", "sms_ok": "no"}),
        json!({"customer_id": "c", "mobile": "+447400123458", "sms_ok": true, "stop": "Y"}),
        json!({"customer_id": "d", "mobile": "+447400123459", "sms_ok": "maybe"}),
        json!({"customer_id": "e", "mobile": "+447400123460", "sms_ok": true, "stop": 2}),
        json!({"id": "f", "mobile": "+447400123461", "sms_ok": true}),
        json!({"customer_id": "g", "phone": "+447400123462", "sms_ok": true}),
    ];
    let previewer = PreviewConfig::new()
        .id_field("customer_id")
        .phone_field("mobile")
        .opted_in_field("sms_ok")
        .opted_out_field("stop")
        .e164_only(true)
        .build(&Template::compile("Hi").unwrap())
        .unwrap();
    let preview = previewer.preview(&rows).unwrap();
    let detail = |i: usize| preview.recipients[i].excluded().unwrap().detail.clone();
    assert_eq!(preview.recipients[0].id(), Some(&json!("a")));
    assert!(preview.recipients[0].included().is_some());
    assert_eq!(
        detail(1),
        "a marketing message needs sms_ok true, and it is false"
    );
    assert_eq!(detail(2), "stop is true");
    assert_eq!(
        detail(3),
        "a marketing message needs sms_ok true; sms_ok is \"maybe\", which is neither true nor false"
    );
    assert_eq!(
        detail(4),
        "stop is 2, which is neither true nor false; treated as opted out"
    );
    assert_eq!(
        preview.recipients[4].excluded().unwrap().reason,
        ExclusionReason::OptedOut
    );
    let RecipientPreview::Failed(failed) = &preview.recipients[5] else {
        panic!("{:?}", preview.recipients[5]);
    };
    assert_eq!(
        failed.error.to_string(),
        "invalid input: row 6 has no customer_id"
    );
    assert_eq!(detail(6), "the row has no mobile");
    assert_eq!(
        preview.recipients[6].excluded().unwrap().reason,
        ExclusionReason::NoPhone
    );
}

#[test]
fn consent_comes_after_the_phone_checks_and_before_the_message() {
    let previewer = previewer(
        "{{name}}",
        PreviewConfig::new()
            .e164_only(true)
            .segments(SegmentConfig::new().max_segments(1)),
    );
    let long = "x".repeat(200);
    let rows = [
        json!({"id": 1, "phone": "", "opted_out": true}),
        json!({"id": 2, "phone": "07400", "opted_out": true}),
        json!({"id": 3, "phone": "+447400123456", "name": "a", "opted_in": true}),
        json!({"id": 4, "phone": "+447400123456", "opted_out": true}),
        json!({"id": 5, "phone": "+447400123457", "opted_out": true, "opted_in": false}),
        json!({"id": 6, "phone": "+447400123458"}),
        json!({"id": 7, "phone": "+447400123459", "name": " "}),
        json!({"id": 8, "phone": "+447400123460", "name": long}),
        json!({"id": 9, "phone": "+447400123461", "opted_in": true}),
        json!({"id": 10, "phone": "+447400123462", "name": " ", "opted_in": true}),
        json!({"id": 11, "phone": "+447400123463", "name": long, "opted_in": true}),
    ];
    let got: Vec<String> = previewer
        .preview(&rows)
        .unwrap()
        .recipients
        .iter()
        .map(outcome)
        .collect();
    assert_eq!(
        got,
        [
            "noPhone",
            "invalidPhone",
            "included",
            "duplicatePhone",
            "optedOut",
            "noConsent",
            "noConsent",
            "noConsent",
            "missingVariable",
            "emptyBody",
            "tooManySegments",
        ]
    );
}

/// The preview's JSON reads back into the same values: what a store keeps in a JSONB column.
#[test]
fn results_read_back_from_their_json() {
    let previewer = previewer(
        "Hi {{name}} {{date visit \"%d\"}}",
        PreviewConfig::new()
            .purpose(Purpose::Transactional)
            .parts(true)
            .prices(
                PriceTable::from_json(
                    r#"{"currency": "EUR", "default": {"GSM-7": "0.0079", "UCS-2": 0.01}}"#,
                )
                .unwrap(),
            ),
    );
    let rows = [
        json!({"id": 1, "phone": "+447400123456", "name": "Zoë 🎉", "visit": "2025-03-14"}),
        json!({"id": "two", "phone": "+447400123457", "name": "Bo", "visit": "2025-03-14"}),
        json!({"id": 3, "phone": "+447400123457", "name": "Cy", "visit": "2025-03-14"}),
        json!({"id": 4, "phone": "+447400123458", "visit": "2025-03-14"}),
        json!({"id": 5, "phone": "+447400123459", "name": "Di", "visit": "soon"}),
        json!({"phone": "+447400123460"}),
        json!([1, 2]),
    ];
    let preview = previewer.preview(&rows).unwrap();
    let json = serde_json::to_string(&preview).unwrap();
    let back: Preview = serde_json::from_str(&json).unwrap();
    assert_eq!(back, preview);
    let value = serde_json::to_value(&preview).unwrap();
    assert_eq!(
        serde_json::from_value::<Preview>(value.clone()).unwrap(),
        preview
    );
    assert_eq!(value["summary"]["cost"], json!("0.0179"));
    assert_eq!(value["recipients"][0]["cost"], json!("0.01"));
    assert!(matches!(back.recipients[4], RecipientPreview::Failed(_)));
    // Each part on its own, too.
    for r in &preview.recipients {
        let v = serde_json::to_value(r).unwrap();
        assert_eq!(&serde_json::from_value::<RecipientPreview>(v).unwrap(), r);
    }
    let err = serde_json::from_value::<RecipientPreview>(
        json!({"index": 0, "id": 1, "excluded": "bored", "detail": ""}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("bored"), "{err}");
    assert!(serde_json::from_value::<RecipientPreview>(json!(7)).is_err());
}

/// Money is exact at any size: a price of `u64::MAX` per segment sums exactly, and a total past
/// the largest amount is an error, never a float or a saturated number.
#[test]
fn huge_prices_give_exact_totals_or_an_overflow_error() {
    let rows: Vec<Value> = (0..3)
        .map(|i| json!({"id": i, "phone": format!("+4474001{i:05}"), "body": "x".repeat(200)}))
        .collect();
    let config = |price: &str| {
        PreviewConfig::new()
            .purpose(Purpose::Transactional)
            .e164_only(true)
            .prices(
                PriceTable::from_json(&format!(
                    r#"{{"currency": "XTS", "default": {{"GSM-7": {price}, "UCS-2": {price}}}}}"#
                ))
                .unwrap(),
            )
    };
    // 3 recipients × 2 segments × (2^64 − 1).
    let preview = previewer("{{body}}", config("18446744073709551615"))
        .preview(&rows)
        .unwrap();
    assert_eq!(preview.summary.segments, 6);
    assert_eq!(preview.summary.cost.to_string(), "110680464442257309690");
    assert_eq!(
        serde_json::to_value(&preview.summary).unwrap()["cost"],
        json!("110680464442257309690")
    );
    assert_eq!(
        preview.recipients[0].included().unwrap().cost,
        "36893488147419103230".parse::<Amount>().unwrap()
    );
    // A price near the largest amount: one recipient's two segments already pass it.
    let err = previewer("{{body}}", config("\"200000000000000000000000000000\""))
        .preview(&rows)
        .unwrap_err();
    assert_eq!(err.kind().code(), "amountOverflow");
    assert!(
        err.to_string()
            .contains("recipient 0: 2 segments at 200000000000000000000000000000 each"),
        "{err}"
    );
    // One segment each: the second recipient's cost fits, the batch's total does not.
    let short: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["body"] = json!("hi");
            r
        })
        .collect();
    let previewer = previewer("{{body}}", config("\"200000000000000000000000000000\""));
    let mut run = previewer.start();
    run.push(&short[0]).unwrap();
    let err = run.push(&short[1]).unwrap_err();
    assert_eq!(err.kind().code(), "amountOverflow");
    assert!(err.to_string().contains("the batch's cost"), "{err}");
    // The row that failed is not counted: the summary is still exact.
    assert_eq!(run.summary().recipients, 1);
    assert_eq!(
        run.summary().cost.to_string(),
        "200000000000000000000000000000"
    );
    // A stream yields the error and ends.
    let results: Vec<_> = previewer.stream(&short).collect();
    assert_eq!(results.len(), 2);
    assert!(results[1].is_err());
}

/// Templates for the property test: text with GSM, extension and non-GSM characters around
/// variables and helpers.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 .,!?€^\\[\\]é😀👍🏽\\n]{0,40}").unwrap()
}

fn template() -> impl Strategy<Value = String> {
    let tag = prop_oneof![
        Just("{{a}}"),
        Just("{{b}}"),
        Just("{{upper a}}"),
        Just("{{default b \"there\"}}"),
        Just("{{truncate a 5 \"…\"}}"),
        Just("{{#if c}}{{b}}{{else}}-{{/if}}"),
    ];
    prop::collection::vec((text(), tag), 0..4).prop_flat_map(move |parts| {
        text().prop_map(move |tail| {
            let mut s: String = parts.iter().map(|(t, g)| format!("{t}{g}")).collect();
            s.push_str(&tail);
            s
        })
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::string::string_regex("[a-z €{}~😀ç]{0,200}")
            .unwrap()
            .prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        Just(Value::Null),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// For every included recipient, the preview's encoding, units and segments are the segment
    /// counter's on the rendered text, and the text is what the template renders.
    #[test]
    fn preview_counts_equal_the_segment_counter(
        src in template(),
        rows in prop::collection::vec((value(), value(), any::<bool>()), 1..8),
        max in 1u32..12,
    ) {
        let template = Template::compile(&src).unwrap();
        let segmenter = SegmentConfig::new().max_segments(max).build();
        let previewer = PreviewConfig::new()
            .segments(SegmentConfig::new().max_segments(max))
            .e164_only(true)
            .build(&template)
            .unwrap();
        let rows: Vec<Value> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (a, b, c))| json!({"id": i, "phone": format!("+4474001{i:05}"), "a": a, "b": b, "c": c, "opted_in": true}))
            .collect();
        let preview = previewer.preview(&rows).unwrap();
        for (row, result) in rows.iter().zip(&preview.recipients) {
            match result {
                RecipientPreview::Included(r) => {
                    let rendered = template.render(row).unwrap();
                    prop_assert_eq!(&r.text, &rendered);
                    let count = segmenter.count(&rendered);
                    prop_assert_eq!((r.encoding, r.units, r.segments), (count.encoding, count.units, count.segments));
                    prop_assert_eq!(r.graphemes, Segmenter::default().segment(&rendered).graphemes);
                    prop_assert!(r.segments <= max);
                }
                RecipientPreview::Excluded(r) => match r.reason {
                    ExclusionReason::MissingVariable => prop_assert!(template.render(row).is_err()),
                    ExclusionReason::TooManySegments => {
                        prop_assert!(segmenter.count(&template.render(row).unwrap()).segments > max)
                    }
                    ExclusionReason::EmptyBody => {
                        prop_assert!(template.render(row).unwrap().trim().is_empty())
                    }
                    other => prop_assert!(false, "unexpected exclusion {:?}", other),
                },
                other => prop_assert!(false, "unexpected result {:?}", other),
            }
        }
        prop_assert_eq!(
            preview.summary.segments,
            preview.recipients.iter().filter_map(|r| r.included()).map(|r| u64::from(r.segments)).sum::<u64>()
        );
    }
}

#[cfg(feature = "cli")]
mod cli {
    use serde_json::{Value, json};

    use crate::support::{CliRun, TempFile, cli, data_path};

    fn smsbatch(args: &[&str]) -> CliRun {
        cli(args, "")
    }

    fn lines(out: &CliRun) -> Vec<Value> {
        out.lines()
    }

    fn path(rel: &str) -> String {
        data_path(rel).display().to_string()
    }

    fn preview(extra: &[&str]) -> (Vec<Value>, i32) {
        let mut args = vec!["preview"];
        args.extend_from_slice(extra);
        let out = smsbatch(&args);
        (lines(&out), out.code)
    }

    #[test]
    fn jsonl_with_prices_region_and_suppression() {
        let (lines, status) = preview(&[
            "--template",
            &path("preview/welcome.hbs"),
            "--customers",
            &path("preview/customers.jsonl"),
            "--region",
            "GB",
            "--price",
            &path("preview/prices.json"),
            "--suppress",
            &path("preview/suppress.txt"),
            // Order updates: transactional, so customers without opted_in get them.
            "--purpose",
            "transactional",
        ]);
        assert_eq!(status, 0);
        let expected: Vec<Value> =
            serde_json::from_str(&crate::support::data("preview/customers.expected.json")).unwrap();
        assert_eq!(lines.len(), expected.len(), "{lines:#?}");
        for (got, want) in lines.iter().zip(&expected) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn csv_and_json_give_the_same_lines() {
        let run = |file: &str| {
            preview(&[
                "--body",
                "Hi {{default first_name \"there\"}}, {{upper city}}",
                "--customers",
                &path(file),
                "--region",
                "GB",
            ])
        };
        let (csv, status) = run("preview/customers.csv");
        assert_eq!(status, 0);
        let (json, status) = run("preview/customers.json");
        assert_eq!(status, 0);
        // CSV values are strings: the ids differ in type, nothing else.
        assert_eq!(csv.len(), json.len());
        for (c, j) in csv.iter().zip(&json) {
            let mut c = c.clone();
            let mut j = j.clone();
            if let (Some(ci), Some(ji)) = (c.get_mut("id"), j.get_mut("id")) {
                assert_eq!(ci.as_str().unwrap(), ji.to_string());
                *ci = Value::Null;
                *ji = Value::Null;
            }
            assert_eq!(c, j);
        }
        assert_eq!(
            json[0],
            json!({"id": 1, "phone": "+447400123456", "text": "Hi Ana, PORTO", "encoding": "GSM-7",
                   "segments": 1, "units": 13, "graphemes": 13, "cost": "1"})
        );
        // An empty CSV cell is an empty string, not a missing value; `default` replaces it.
        assert_eq!(json[1]["text"], "Hi Bea, ");
        assert_eq!(json[2]["text"], "Hi there, LISBOA");
        assert_eq!(json[3]["excluded"], "invalidPhone");
        let summary = &json.last().unwrap()["summary"];
        assert_eq!(summary["total"], 4);
        assert_eq!(summary["currency"], "credits");
    }

    /// `preview` over `customers.jsonl` (order updates, so transactional) with region GB and
    /// `extra` arguments.
    fn jsonl(extra: &[&str]) -> (Vec<Value>, i32) {
        let customers = path("preview/customers.jsonl");
        let mut args = vec![
            "--customers",
            customers.as_str(),
            "--region",
            "GB",
            "--purpose",
            "transactional",
        ];
        args.extend_from_slice(extra);
        preview(&args)
    }

    #[test]
    fn summary_only_and_samples() {
        let (all, status) = jsonl(&["--body", "Hi {{first_name}}"]);
        assert_eq!(status, 0);
        let (lines, status) = jsonl(&["--body", "Hi {{first_name}}", "--summary"]);
        assert_eq!(status, 0);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0], *all.last().unwrap(), "the same summary line");
        assert_eq!(lines[0]["summary"]["total"], 12);

        let (lines, status) = jsonl(&["--body", "Hi {{first_name}}", "--sample", "2"]);
        assert_eq!(status, 0);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[..2], all[..2], "the first two customers");
        assert_eq!(lines[2]["summary"]["total"], 2);

        let seeded = |seed: &str| jsonl(&["--body", "Hi", "--sample", "3", "--seed", seed]).0;
        let picked = seeded("7");
        assert_eq!(picked.len(), 4);
        assert_eq!(
            picked,
            seeded("7"),
            "the same seed picks the same customers"
        );
        assert_eq!(picked[3]["summary"]["total"], 3);
    }

    #[test]
    fn missing_fail_prints_one_error_line_and_exits_2() {
        let (lines, status) = preview(&[
            "--body",
            "Hi {{first_name}}{{#if city}} in {{upper city}}{{/if}}",
            "--customers",
            &path("preview/customers.jsonl"),
            "--region",
            "GB",
            "--purpose",
            "transactional",
            "--missing",
            "fail",
        ]);
        assert_eq!(status, 2);
        // Rows before it were fine (and a duplicate before it never renders), but nothing else
        // is printed: `first_name` is null for "c-105".
        assert_eq!(
            lines,
            [json!({"error": {"kind": "missingVariable",
                "message": "recipient \"c-105\": missing variable \"first_name\"", "id": "c-105",
                "variable": "first_name"}})]
        );
    }

    #[test]
    fn syntax_error_exits_2_with_line_and_column() {
        let (lines, status) = preview(&[
            "--body",
            "Hi {{first_name}},\nsee {{#if x}}you{{/each}}",
            "--customers",
            &path("preview/customers.json"),
        ]);
        assert_eq!(status, 2);
        assert_eq!(lines.len(), 1);
        let error = &lines[0]["error"];
        assert_eq!(error["kind"], "templateSyntax");
        assert_eq!(
            (error["line"].clone(), error["column"].clone()),
            (json!(2), json!(17))
        );
    }

    #[test]
    fn bad_inputs_are_fatal() {
        let cases: [(&[&str], &str); 4] = [
            (
                &["--body", "x", "--customers", "/nonexistent/c.json"],
                "invalidInput",
            ),
            (
                &[
                    "--body",
                    "x",
                    "--customers",
                    &path("preview/prices.json"),
                    "--price",
                    &path("preview/customers.json"),
                ],
                "invalidPrice",
            ),
            (
                &[
                    "--body",
                    "x",
                    "--customers",
                    &path("preview/customers.json"),
                    "--region",
                    "ZZ",
                ],
                "invalidRegion",
            ),
            (
                &["--body", "x", "--customers", &path("preview/welcome.hbs")],
                "invalidInput",
            ),
        ];
        for (args, kind) in cases {
            let (lines, status) = preview(args);
            assert_eq!(status, 2, "{args:?}");
            assert_eq!(lines.len(), 1, "{args:?}");
            assert_eq!(lines[0]["error"]["kind"], kind, "{args:?}: {lines:?}");
        }
    }

    /// The consent rule through the command line: `consent.json`'s rows for both purposes
    /// (marketing by default), and the same lines as the library's.
    #[test]
    fn purpose_and_consent() {
        let cases: Value =
            serde_json::from_str(&crate::support::data("preview/consent.json")).unwrap();
        let customers = TempFile::new(
            "consent-customers",
            "json",
            &serde_json::to_string(&cases["rows"]).unwrap(),
        );
        let suppress = TempFile::new(
            "consent-suppress",
            "txt",
            &cases["suppress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| format!("{}\n", p.as_str().unwrap()))
                .collect::<String>(),
        );
        let template = cases["template"].as_str().unwrap();
        let run = |purpose: Option<&str>| {
            let mut args = vec![
                "--body",
                template,
                "--customers",
                customers.arg(),
                "--suppress",
                suppress.arg(),
            ];
            if let Some(p) = purpose {
                args.extend(["--purpose", p]);
            }
            let (lines, status) = preview(&args);
            assert_eq!(status, 0, "{lines:?}");
            lines
        };
        for purpose in ["marketing", "transactional"] {
            let lines = run(Some(purpose));
            let want = cases["expect"][purpose].as_array().unwrap();
            assert_eq!(lines.len(), want.len() + 1);
            for (line, want) in lines.iter().zip(want) {
                let got = line.get("excluded").cloned().unwrap_or(json!("included"));
                assert_eq!(&got, want, "{purpose}: {line}");
            }
            let summary = &lines.last().unwrap()["summary"];
            let count = |w: &str| want.iter().filter(|x| *x == w).count();
            assert_eq!(summary["recipients"], count("included"), "{purpose}");
            assert_eq!(
                summary["excluded"]["noConsent"],
                count("noConsent"),
                "{purpose}"
            );
            assert_eq!(
                summary["excluded"]["optedOut"],
                count("optedOut"),
                "{purpose}"
            );
            if purpose == "marketing" {
                assert_eq!(run(None), lines, "marketing is the default");
            }
        }
        let (lines, status) = preview(&[
            "--body",
            "x",
            "--customers",
            customers.arg(),
            "--purpose",
            "promotional",
        ]);
        assert_eq!(status, 2, "{lines:?}");
    }
}
