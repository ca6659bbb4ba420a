//! smsbatch for JavaScript: the core crate compiled to WebAssembly, so the preview a person sees
//! while typing is byte for byte what the server renders, counts and bills.
//!
//! Glue only: every function converts its arguments, calls the core and converts the result.
//! Objects cross the boundary as plain JavaScript objects with camelCase fields (the core's serde
//! shapes); errors are thrown as `Error` objects named `SmsbatchError` carrying the core's
//! `kind` (a stable camelCase code), `message` and the kind's own fields.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use smsbatch::Error;
use wasm_bindgen::prelude::*;

mod analytics;
mod filter;
mod flags;
mod preview;
mod types;

pub use analytics::analyze;
pub use filter::{JsFilter, JsRows};
pub use flags::JsFlagEngine;
pub use preview::{JsPreviewer, JsTemplate};

/// Installs the panic hook so a bug shows a Rust backtrace in the console instead of
/// `unreachable`.
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}

/// Serialises `value` as a plain JavaScript value, through JSON text: the very JSON the server and
/// the command line write (map keys such as a histogram's segment counts become strings), and
/// `JSON.parse` builds large results faster than object-by-object conversion across the boundary.
fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(|e| {
        js_error(&Error::invalid_input(format!(
            "cannot convert the result: {e}"
        )))
    })?;
    js_sys::JSON::parse(&json)
}

/// Deserialises options or a document; `undefined` and `null` give `T::default()`.
fn from_js_or_default<T: DeserializeOwned + Default>(
    value: JsValue,
    what: &str,
) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    from_js(value, what)
}

/// Deserialises options or a document through JSON, so the rules are exactly the server's
/// (`deny_unknown_fields` included: a misspelt option is an error, not silently ignored).
///
/// The type is read from a [`Value`](serde_json::Value), not from the text, so the derived code
/// is instantiated once, for `Value`'s small deserializer, rather than again for the text
/// parser's (smaller code; see the CHANGELOG). Messages lose the line and column, which would
/// only point into `JSON.stringify`'s one-line output.
fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    let value = json_from_js(value, what)?;
    T::deserialize(&value)
        .map_err(|e| js_error(&Error::invalid_input(format!("invalid {what}: {e}"))))
}

/// A JavaScript value as JSON, through `JSON.stringify` (so `toJSON` methods apply, as on the
/// wire).
fn json_from_js(value: JsValue, what: &str) -> Result<serde_json::Value, JsValue> {
    let json: String = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            js_error(&Error::invalid_input(format!(
                "invalid {what}: not representable as JSON"
            )))
        })?;
    serde_json::from_str(&json)
        .map_err(|e| js_error(&Error::invalid_input(format!("invalid {what}: {e}"))))
}

/// Reads rows (an array of objects) as JSON values, through [`json_from_js`] like everything
/// else: one `JSON.stringify` and one parse cost less, in code and in time, than converting each
/// object across the boundary (serde-wasm-bindgen's way; the CHANGELOG has the figures).
fn rows_from_js(value: JsValue, what: &str) -> Result<Vec<serde_json::Value>, JsValue> {
    match json_from_js(value, what)? {
        serde_json::Value::Array(rows) => Ok(rows),
        _ => Err(js_error(&Error::invalid_input(format!(
            "invalid {what}: expected an array"
        )))),
    }
}

/// The core's error as a thrown JavaScript `Error` named `SmsbatchError`, with the fields of its
/// serde form (`kind`, `message` and the kind's own, such as `line`/`column` or `path`).
fn js_error(err: &Error) -> JsValue {
    let error = js_sys::Error::new(&err.to_string());
    error.set_name("SmsbatchError");
    if let Ok(details) = to_js(err)
        && let Ok(details) = details.dyn_into::<js_sys::Object>()
    {
        js_sys::Object::assign(&error, &details);
    }
    error.into()
}

trait OrThrow<T> {
    fn or_throw(self) -> Result<T, JsValue>;
}

impl<T> OrThrow<T> for Result<T, Error> {
    fn or_throw(self) -> Result<T, JsValue> {
        self.map_err(|e| js_error(&e))
    }
}

/// Counts and splits SMS text exactly as the server does (GSM-7 / UCS-2, greedy packing that
/// never splits an escape pair, a surrogate pair or, by default, a grapheme cluster).
#[wasm_bindgen(js_name = Segmenter)]
#[derive(Debug)]
pub struct JsSegmenter {
    inner: smsbatch::Segmenter,
}

#[wasm_bindgen(js_class = Segmenter)]
impl JsSegmenter {
    /// A segmenter with the given options (`SegmentOptions`; all optional).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SegmentOptions | undefined")] options: JsValue,
    ) -> Result<JsSegmenter, JsValue> {
        let config: smsbatch::SegmentConfig = from_js_or_default(options, "segment options")?;
        Ok(Self {
            inner: config.build(),
        })
    }

    /// Encoding, units and segments: the fast path.
    #[wasm_bindgen(unchecked_return_type = "SegmentCount")]
    pub fn count(&self, text: &str) -> Result<JsValue, JsValue> {
        to_js(&self.inner.count(text))
    }

    /// The full result: parts, units per part, capacity, graphemes, the characters that forced
    /// UCS-2 (UTF-16 indexes, as JavaScript strings index).
    #[wasm_bindgen(unchecked_return_type = "Segmentation")]
    pub fn segment(&self, text: &str) -> Result<JsValue, JsValue> {
        to_js(&self.inner.segment(text))
    }

    /// Counts `text` and throws `SmsbatchError` (`emptyMessage`, `tooManySegments`) if it cannot
    /// be sent.
    #[wasm_bindgen(unchecked_return_type = "SegmentCount")]
    pub fn validate(&self, text: &str) -> Result<JsValue, JsValue> {
        to_js(&self.inner.validate(text).or_throw()?)
    }

    /// The options this segmenter was built with, defaults filled in.
    #[wasm_bindgen(getter, unchecked_return_type = "Required<SegmentOptions>")]
    pub fn options(&self) -> Result<JsValue, JsValue> {
        to_js(self.inner.config())
    }
}
