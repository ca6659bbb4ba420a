//! The glue exercised inside a real browser (headless Chromium) with wasm-bindgen-test:
//! `cargo test -p smsbatch-wasm --target wasm32-unknown-unknown`, run by the test script.

#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use smsbatch_wasm::JsSegmenter;
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
