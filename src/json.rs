//! Small helpers over `serde_json` values shared by the modules that read JSON from outside.

use serde_json::Value;

/// The kind of a JSON value with its article, for error messages: "a string", "null"...
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The most characters of a value an error message repeats (see [`clip`]).
pub(crate) const CLIP_CHARS: usize = 64;

/// Shortens user text echoed in an error message to [`CLIP_CHARS`] characters and `…`: a 5,000
/// character value must not make a 5,000 character error line.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(CLIP_CHARS) {
        None => s.to_owned(),
        Some((end, _)) => {
            let mut out = String::with_capacity(end + 3);
            out.push_str(&s[..end]);
            out.push('…');
            out
        }
    }
}

/// User text for an error message: shortened ([`clip`]) and quoted as a JSON string, so every
/// subcommand shows it alike: control characters read as JSON escapes (`\t`), anything else is
/// itself (a no-break space stays one), never a Rust escape such as `\u{a0}`.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(&clip(s)).unwrap_or_else(|_| format!("\"{}\"", clip(s)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn clip_and_quote() {
        assert_eq!(super::clip("short"), "short");
        let long = "é".repeat(5000);
        let clipped = super::clip(&long);
        assert_eq!(clipped.chars().count(), super::CLIP_CHARS + 1);
        assert!(clipped.ends_with('…'));
        // A no-break space stays itself inside the quotes; a quote and a tab are escaped.
        assert_eq!(super::quote("a\u{a0}b\"c"), "\"a\u{a0}b\\\"c\"");
        assert_eq!(super::quote("tab\t"), r#""tab\t""#);
    }

    #[test]
    fn kinds() {
        let kinds: Vec<_> = [
            json!(null),
            json!(true),
            json!(1),
            json!("x"),
            json!([]),
            json!({}),
        ]
        .iter()
        .map(super::kind_of)
        .collect();
        assert_eq!(
            kinds,
            [
                "null",
                "a boolean",
                "a number",
                "a string",
                "an array",
                "an object"
            ]
        );
    }
}
