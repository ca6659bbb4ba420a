//! The glue exercised inside a real browser (headless Chromium) with wasm-bindgen-test:
//! `cargo test -p smsbatch-wasm --target wasm32-unknown-unknown`, run by the test script.

#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use smsbatch_wasm::{JsFilter, JsFlagEngine, JsPreviewer, JsRows, JsSegmenter, JsTemplate};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).expect("a readable property")
}

#[wasm_bindgen_test]
fn counts_in_the_browser() {
    let segmenter = JsSegmenter::new(JsValue::UNDEFINED).expect("default options");
    let count = segmenter.count("Hi 😀").expect("a count");
    assert_eq!(
        get(&count, "encoding").as_string().as_deref(),
        Some("UCS-2")
    );
    assert_eq!(get(&count, "units").as_f64(), Some(5.0));
    assert_eq!(get(&count, "segments").as_f64(), Some(1.0));
    let full = segmenter.segment(&"€".repeat(81)).expect("a segmentation");
    let units: js_sys::Array = get(&full, "segmentUnits").dyn_into().expect("an array");
    assert_eq!(
        units
            .to_vec()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect::<Vec<_>>(),
        vec![152.0, 10.0]
    );
}

#[wasm_bindgen_test]
fn errors_are_error_objects_with_a_kind() {
    let segmenter = JsSegmenter::new(JsValue::UNDEFINED).expect("default options");
    let err = segmenter
        .validate("")
        .expect_err("an empty body is refused");
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(
        get(&err, "name").as_string().as_deref(),
        Some("SmsbatchError")
    );
    assert_eq!(
        get(&err, "kind").as_string().as_deref(),
        Some("emptyMessage")
    );
    let options = js_sys::JSON::parse(r#"{"split": "words"}"#).unwrap();
    let err = JsSegmenter::new(options).expect_err("an unknown policy is refused");
    assert_eq!(
        get(&err, "kind").as_string().as_deref(),
        Some("invalidInput")
    );
}

/// A JavaScript value from JSON text, as a page would pass it.
fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).expect("valid JSON")
}

/// What a call returned, as JSON, to compare whole objects.
fn json(value: &JsValue) -> serde_json::Value {
    let text: String = js_sys::JSON::stringify(value).expect("serialisable").into();
    serde_json::from_str(&text).expect("JSON")
}

fn kind(err: &JsValue) -> Option<String> {
    get(err, "kind").as_string()
}

#[wasm_bindgen_test]
fn templates_render_plain_text_and_report_syntax_errors() {
    let template =
        JsTemplate::new("Hi {{first_name}} & <{{default city \"you\"}}> \"ok\"").expect("compiles");
    assert_eq!(
        json(&template.variables().unwrap()),
        serde_json::json!(["first_name", "city"])
    );
    let text = template
        .render(js(r#"{"first_name": "Zoë", "city": null}"#))
        .expect("renders");
    assert_eq!(text, "Hi Zoë & <you> \"ok\"");
    let err = template
        .render(js("{}"))
        .expect_err("first_name is missing");
    assert_eq!(kind(&err).as_deref(), Some("missingVariable"));

    let err = JsTemplate::new("line one\n{{#if x}}open").expect_err("an unclosed block");
    assert_eq!(kind(&err).as_deref(), Some("templateSyntax"));
    assert_eq!(get(&err, "line").as_f64(), Some(2.0));
    assert!(get(&err, "column").as_f64().is_some());
}

#[wasm_bindgen_test]
fn previews_count_cost_and_exclude_in_the_browser() {
    let template = JsTemplate::new("Hello {{first_name}}").expect("compiles");
    let options = js(r#"{"prices": {"currency": "USD",
        "default": {"GSM-7": 0.01, "UCS-2": 0.02},
        "byCountry": {"44": {"GSM-7": 0.04, "UCS-2": 0.05}}}}"#);
    let previewer = JsPreviewer::new(&template, options).expect("a previewer");
    let rows = js(r#"[
        {"id": 1, "phone": "+14155550100", "first_name": "Ann", "opted_in": true},
        {"id": 2, "phone": "+447700900123", "first_name": "Zoë 😀", "opted_in": true},
        {"id": 3, "phone": "+14155550100", "first_name": "Dup", "opted_in": true},
        {"id": 4, "first_name": "NoPhone", "opted_in": true},
        {"id": 5, "phone": "+14155550101", "opted_in": true},
        {"id": 6, "phone": "+14155550102", "first_name": "Eve", "opted_in": null},
        {"id": 7, "phone": "+14155550103", "first_name": "Fay", "opted_in": true, "opted_out": true}
    ]"#);
    let preview = json(&previewer.preview(rows).expect("a preview"));
    let recipients = preview["recipients"].as_array().expect("recipients");
    assert_eq!(recipients[0]["text"], "Hello Ann");
    assert_eq!(recipients[0]["encoding"], "GSM-7");
    assert_eq!(recipients[1]["encoding"], "UCS-2");
    assert_eq!(recipients[1]["cost"], "0.05");
    assert_eq!(recipients[2]["excluded"], "duplicatePhone");
    assert_eq!(recipients[3]["excluded"], "noPhone");
    assert_eq!(recipients[4]["excluded"], "missingVariable");
    assert_eq!(recipients[5]["excluded"], "noConsent");
    assert_eq!(recipients[6]["excluded"], "optedOut");
    let summary = &preview["summary"];
    assert_eq!(summary["total"], 7);
    assert_eq!(summary["recipients"], 2);
    assert_eq!(summary["segments"], 2);
    assert_eq!(summary["currency"], "USD");
    assert_eq!(summary["cost"], "0.06", "exact, as a decimal string");
    assert_eq!(summary["histogram"], serde_json::json!({"1": 2}));
}

#[wasm_bindgen_test]
fn filters_match_count_and_compile_in_the_browser() {
    let rows = JsRows::new(
        js(r#"[
            {"id": 1, "first_name": "Anna", "city": "Paris"},
            {"id": 2, "first_name": null, "city": "Lyon"},
            {"id": 3, "first_name": "", "city": "Paris"},
            {"id": 4, "first_name": "Joanna", "city": null}
        ]"#),
        JsValue::UNDEFINED,
    )
    .expect("rows");
    // A negative filter keeps NULL and empty values.
    let filter = JsFilter::new(
        js(r#"{"field": "first_name", "op": "notContains", "value": "anna"}"#),
        JsValue::UNDEFINED,
    )
    .expect("a filter");
    assert_eq!(filter.count(&rows).unwrap(), 2);
    assert_eq!(
        json(&filter.select(&rows).unwrap()),
        serde_json::json!([1, 2])
    );
    assert_eq!(
        json(&filter.postgrest().unwrap()),
        serde_json::json!([["or", "(first_name.is.null,first_name.not.ilike.\"*anna*\")"]])
    );

    let err = JsFilter::new(
        js(r#"{"and": [{"field": "nope", "op": "equals", "value": 1}]}"#),
        JsValue::UNDEFINED,
    )
    .expect_err("an unknown field");
    assert_eq!(get(&err, "path").as_string().as_deref(), Some("/and/0"));
}

#[wasm_bindgen_test]
fn flags_evaluate_with_details_and_report_missing_flags() {
    let engine = JsFlagEngine::new(js(r#"{"version": 1, "features": [
        {"name": "batch-v2", "enabled": true, "strategies": [
            {"name": "userWithId", "parameters": {"userIds": "u1,u2"}}]}
    ]}"#))
    .expect("a state");
    let on = js(r#"{"userId": "u2"}"#);
    assert!(
        engine
            .is_enabled("batch-v2", on.clone(), JsValue::UNDEFINED)
            .unwrap()
    );
    assert!(
        !engine
            .is_enabled("batch-v2", js(r#"{"userId": "u3"}"#), JsValue::UNDEFINED)
            .unwrap()
    );
    let details = json(
        &engine
            .evaluate("batch-v2", false, on, JsValue::UNDEFINED)
            .unwrap(),
    );
    assert_eq!(details["value"], true);
    assert_eq!(details["reason"], "targetingMatch");

    let seen = js_sys::Array::new();
    let record = js_sys::Function::new_with_args("key", "this.push(key)").bind0(&seen);
    engine.on_missing(Some(record));
    let details = json(
        &engine
            .evaluate("not-there", true, JsValue::UNDEFINED, JsValue::UNDEFINED)
            .unwrap(),
    );
    assert_eq!(details["value"], true);
    assert_eq!(details["errorCode"], "flagNotFound");
    assert_eq!(json(&seen), serde_json::json!(["not-there"]));

    let err = JsFlagEngine::new(js(r#"{"version": 1}"#)).expect_err("no features");
    assert_eq!(kind(&err).as_deref(), Some("invalidFlagState"));
}
