//! The template helpers (`default`, `upper`, `lower`, `capitalize`, `truncate`, `date`) and the
//! value writer that makes `{{name}}` strict about nulls.
//!
//! Each helper is one plain function over already evaluated arguments. Handlebars calls it through
//! [`Helper`] (a `HelperDef`), and the compiled fast path calls the very same function, so the two
//! renderers cannot drift apart in what a helper does.

use std::borrow::Cow;

use handlebars::{
    Context, Handlebars, HelperDef, JsonRender, Output, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

/// The name under which `{{name}}` expressions are rewritten to a call of the value writer. It
/// contains a space, so no template can name it.
pub(crate) const VALUE_HELPER: &str = "smsbatch value";

/// The name of the step counter placed at the start of every block body, so that each time
/// handlebars renders a body (each iteration of `each`) the output sees a step. Unnameable too.
pub(crate) const STEP_HELPER: &str = "smsbatch step";

/// The name of the check that `{{#each}}` without `{{else}}` gets as its `else` branch (which
/// handlebars renders for a value it cannot loop over): a number or a string is then an error
/// that says so, where handlebars' strict mode reports a missing variable. Unnameable too.
pub(crate) const EACH_CHECK: &str = "smsbatch each";

/// The helpers of handlebars itself that templates may use (`log` is removed: the core does no
/// I/O).
pub(crate) const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

/// This crate's helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HelperKind {
    /// `{{default value fallback...}}`: the first argument that is present, not null and not
    /// blank; the last one is used as is.
    Default,
    /// `{{upper value}}`: Unicode uppercase.
    Upper,
    /// `{{lower value}}`: Unicode lowercase.
    Lower,
    /// `{{capitalize value}}`: the first character uppercased, the rest unchanged.
    Capitalize,
    /// `{{truncate value n [suffix]}}`: at most `n` grapheme clusters, suffix included.
    Truncate,
    /// `{{date value [format]}}`: an ISO date or RFC 3339 timestamp formatted with strftime
    /// directives (default `%Y-%m-%d`); timestamps are shown in UTC.
    Date,
}

impl HelperKind {
    pub(crate) const ALL: [HelperKind; 6] = [
        HelperKind::Default,
        HelperKind::Upper,
        HelperKind::Lower,
        HelperKind::Capitalize,
        HelperKind::Truncate,
        HelperKind::Date,
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Upper => "upper",
            Self::Lower => "lower",
            Self::Capitalize => "capitalize",
            Self::Truncate => "truncate",
            Self::Date => "date",
        }
    }

    /// How many positional arguments the helper takes (minimum, maximum).
    pub(crate) const fn arity(self) -> (usize, usize) {
        match self {
            Self::Default => (2, usize::MAX),
            Self::Upper | Self::Lower | Self::Capitalize => (1, 1),
            Self::Truncate => (2, 3),
            Self::Date => (1, 2),
        }
    }

    /// How the helper is called, for error messages.
    pub(crate) const fn usage(self) -> &'static str {
        match self {
            Self::Default => "{{default value \"fallback\"}}",
            Self::Upper => "{{upper value}}",
            Self::Lower => "{{lower value}}",
            Self::Capitalize => "{{capitalize value}}",
            Self::Truncate => "{{truncate value 20 \"…\"}}",
            Self::Date => "{{date value \"%d/%m/%Y\"}}",
        }
    }
}

/// An evaluated helper argument.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arg<'a> {
    /// The value, `None` for a variable absent from the data.
    pub(crate) value: Option<&'a Value>,
    /// The variable's path as written; empty for literals and helper results.
    pub(crate) path: &'a str,
}

impl<'a> Arg<'a> {
    /// A literal or computed value.
    pub(crate) fn value(value: &'a Value) -> Self {
        Self {
            value: Some(value),
            path: "",
        }
    }

    /// A variable absent from the data.
    #[cfg(test)]
    pub(crate) fn missing(path: &'a str) -> Self {
        Self { value: None, path }
    }

    /// The value if it is present and not null, else the missing-variable failure.
    fn require(self) -> Result<&'a Value, Failure> {
        match self.value {
            None | Some(Value::Null) => Err(Failure::Missing(if self.path.is_empty() {
                // A null literal (`{{upper null}}`) has no path; name it as written.
                "null".to_owned()
            } else {
                self.path.to_owned()
            })),
            Some(v) => Ok(v),
        }
    }
}

/// Why a helper (or the value writer) could not produce output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A variable is absent or null.
    Missing(String),
    /// Any other problem, as a sentence.
    Invalid(String),
    /// Rendering stopped at a limit on the work one message may cost.
    Limit(Limit),
}

/// The limits on rendering one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The output passed [`Template::MAX_OUTPUT_BYTES`](crate::Template::MAX_OUTPUT_BYTES).
    Output,
    /// Rendering took more than [`Template::MAX_RENDER_STEPS`](crate::Template::MAX_RENDER_STEPS).
    Steps,
}

/// A helper's result: one of its arguments as is (`default`), or text it appended to the output.
#[derive(Debug)]
pub(crate) enum Produced<'a> {
    Borrowed(&'a Value),
    Written,
}

impl Produced<'_> {
    /// Completes the output: appends a borrowed value (written text is already there); a list
    /// or an object is not text.
    pub(crate) fn write(self, out: &mut String) -> Result<(), Failure> {
        match self {
            Produced::Borrowed(v) => write_variable(
                Arg {
                    value: Some(v),
                    path: "the value",
                },
                out,
            ),
            Produced::Written => Ok(()),
        }
    }

    /// The result as a value, given the text `apply` appended to the (empty) `written`.
    pub(crate) fn into_value(self, written: String) -> Value {
        match self {
            Produced::Borrowed(v) => v.clone(),
            Produced::Written => Value::String(written),
        }
    }
}

/// Appends `v` as handlebars renders it (`JsonRender`): strings as they are, numbers and
/// booleans as JSON, null as nothing, arrays as `[a, b]`, objects as `[object]`.
pub(crate) fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.render()),
    }
}

/// The text of a present value (strings borrowed, anything else rendered).
fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.render()),
    }
}

/// The message for a path step that indexes a list with a name, shared by both renderers.
pub(crate) fn list_index_message(segment: &str) -> String {
    format!(
        "cannot read {} from a list: list items are read by number, as in items.[0]",
        crate::json::quote(segment)
    )
}

/// Appends the value of a `{{name}}` expression, refusing absent and null values, and lists and
/// objects, which have no text of their own (handlebars would send `[object]`).
pub(crate) fn write_variable(arg: Arg<'_>, out: &mut String) -> Result<(), Failure> {
    let value = arg.require()?;
    let what = match value {
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
        _ => {
            write_value(value, out);
            return Ok(());
        }
    };
    let path = if arg.path.is_empty() {
        "the value"
    } else {
        arg.path
    };
    Err(Failure::Invalid(format!(
        "{path} is {what}, not text: write one of its fields or items, as in {path}.name or \
         {path}.[0], or loop over it with {{{{#each {path}}}}}"
    )))
}

/// Runs helper `kind` over its evaluated arguments, appending any text it makes to `out` (nothing
/// is appended when it fails).
pub(crate) fn apply<'a>(
    kind: HelperKind,
    args: &[Arg<'a>],
    out: &mut String,
) -> Result<Produced<'a>, Failure> {
    let (min, max) = kind.arity();
    if args.len() < min || args.len() > max {
        return Err(Failure::Invalid(format!(
            "{} takes {}, as in {}",
            kind.name(),
            arity_words(min, max),
            kind.usage()
        )));
    }
    match kind {
        HelperKind::Default => {
            let (last, firsts) = args.split_last().ok_or_else(|| {
                Failure::Invalid(format!("default needs arguments: {}", kind.usage()))
            })?;
            for arg in firsts {
                if let Some(v) = arg.value
                    && !is_blank(v)
                {
                    return Ok(Produced::Borrowed(v));
                }
            }
            Ok(Produced::Borrowed(last.require()?))
        }
        HelperKind::Upper => {
            upper(&text(args[0].require()?), out);
            Ok(Produced::Written)
        }
        HelperKind::Lower => {
            lower(&text(args[0].require()?), out);
            Ok(Produced::Written)
        }
        HelperKind::Capitalize => {
            capitalize(&text(args[0].require()?), out);
            Ok(Produced::Written)
        }
        HelperKind::Truncate => {
            let value = args[0].require()?;
            let n = args[1].require()?;
            let n = n.as_u64().ok_or_else(|| {
                Failure::Invalid(format!(
                    "truncate: the length must be a whole number, not {}",
                    n.render()
                ))
            })?;
            let suffix = match args.get(2) {
                Some(arg) => text(arg.require()?),
                None => Cow::Borrowed(""),
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            truncate(&text(value), n, &suffix, out);
            Ok(Produced::Written)
        }
        HelperKind::Date => {
            let value = args[0].require()?;
            let format = match args.get(1) {
                Some(arg) => text(arg.require()?),
                None => Cow::Borrowed("%Y-%m-%d"),
            };
            let Value::String(s) = value else {
                return Err(Failure::Invalid(format!(
                    "date: expected an ISO date string, not {}",
                    value.render()
                )));
            };
            out.push_str(&date(s, &format).map_err(Failure::Invalid)?);
            Ok(Produced::Written)
        }
    }
}

fn arity_words(min: usize, max: usize) -> String {
    let noun = |n: usize| if n == 1 { "argument" } else { "arguments" };
    if min == max {
        format!("{min} {}", noun(min))
    } else if max == usize::MAX {
        format!("at least {min} {}", noun(min))
    } else {
        format!("{min} to {max} {}", noun(max))
    }
}

/// Null, or a string of nothing but whitespace: what `default` replaces.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn upper(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.chars().map(|c| c.to_ascii_uppercase()));
    } else {
        out.push_str(&s.to_uppercase());
    }
}

fn lower(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        // `str::to_lowercase` knows the final sigma; a character at a time would not.
        out.push_str(&s.to_lowercase());
    }
}

/// The first character uppercased, the rest left alone: names such as "McDonald" or "van der
/// Berg" keep their own capitals.
fn capitalize(s: &str, out: &mut String) {
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// At most `n` grapheme clusters. When `s` is longer, the cut text ends with `suffix`, which
/// counts towards `n`; a suffix longer than `n` is left out.
fn truncate(s: &str, n: usize, suffix: &str, out: &mut String) {
    let boundary = |text: &str, keep: usize| -> Option<usize> {
        text.grapheme_indices(true).nth(keep).map(|(i, _)| i)
    };
    let Some(cut) = boundary(s, n) else {
        out.push_str(s);
        return;
    };
    let suffix_len = suffix.graphemes(true).count();
    if suffix_len > n {
        out.push_str(&s[..cut]);
        return;
    }
    let keep = boundary(s, n - suffix_len).unwrap_or(cut);
    out.push_str(&s[..keep]);
    out.push_str(suffix);
}

/// Formats an ISO 8601 date (`2024-03-05`), civil date-time (`2024-03-05T10:00:00`) or RFC 3339
/// timestamp (`2024-03-05T10:00:00Z`, shown in UTC) with strftime directives.
fn date(s: &str, format: &str) -> Result<String, String> {
    let s = s.trim();
    let Some(moment) = crate::time::Moment::parse(s) else {
        return Err(format!(
            "date: {} is not an ISO date (YYYY-MM-DD) or an RFC 3339 timestamp",
            crate::json::quote(s)
        ));
    };
    let mut out = String::new();
    moment.format(format, &mut out).map_err(|e| {
        format!(
            "date: cannot format {} with {}: {e}",
            crate::json::quote(s),
            crate::json::quote(format)
        )
    })?;
    Ok(out)
}

/// The handlebars face of a helper of this crate (or of the value writer when `kind` is `None`).
pub(crate) struct Helper(pub(crate) Option<HelperKind>);

/// Evaluated arguments of a handlebars helper call.
fn handlebars_args<'a>(
    h: &'a handlebars::Helper<'_>,
    name: &str,
) -> Result<Vec<Arg<'a>>, RenderError> {
    if !h.hash().is_empty() {
        return Err(RenderErrorReason::Other(format!("{name} takes no named arguments")).into());
    }
    Ok(h.params()
        .iter()
        .map(|p| Arg {
            value: (!p.is_value_missing()).then(|| p.value()),
            path: p.relative_path().map_or("", String::as_str),
        })
        .collect())
}

fn to_render_error(failure: Failure) -> RenderError {
    match failure {
        Failure::Missing(path) => RenderErrorReason::MissingVariable(Some(path)).into(),
        Failure::Invalid(message) => RenderErrorReason::Other(message).into(),
        // Only the outputs fail with a limit, and they say so themselves.
        Failure::Limit(_) => RenderErrorReason::Other("render limit".to_owned()).into(),
    }
}

impl HelperDef for Helper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let Some(kind) = self.0 else {
            return Err(RenderErrorReason::Other(
                "the value writer cannot be used as a subexpression".to_owned(),
            )
            .into());
        };
        let args = handlebars_args(h, kind.name())?;
        let mut written = String::new();
        let produced = apply(kind, &args, &mut written).map_err(to_render_error)?;
        Ok(ScopedJson::Derived(produced.into_value(written)))
    }

    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> Result<(), RenderError> {
        let mut buf = String::new();
        match self.0 {
            None => {
                let args = handlebars_args(h, "a variable")?;
                let [arg] = args[..] else {
                    return Err(RenderErrorReason::Other(
                        "the value writer takes one argument".to_owned(),
                    )
                    .into());
                };
                write_variable(arg, &mut buf).map_err(to_render_error)?;
            }
            Some(kind) => {
                let args = handlebars_args(h, kind.name())?;
                apply(kind, &args, &mut buf)
                    .and_then(|produced| produced.write(&mut buf))
                    .map_err(to_render_error)?;
            }
        }
        out.write(&buf)?;
        Ok(())
    }
}

/// Registers this crate's helpers and the value writer on `hb`, and removes `log`.
pub(crate) fn register(hb: &mut Handlebars<'static>) {
    hb.unregister_helper("log");
    // In place of handlebars' own: a failed lookup names what was looked up.
    hb.register_helper("lookup", Box::new(Lookup));
    hb.register_helper(EACH_CHECK, Box::new(EachCheck));
    for kind in HelperKind::ALL {
        hb.register_helper(kind.name(), Box::new(Helper(Some(kind))));
    }
    hb.register_helper(VALUE_HELPER, Box::new(Helper(None)));
    hb.register_helper(STEP_HELPER, Box::new(Step));
}

/// How a helper argument is named in messages: its path as written, else its value (a literal
/// or a subexpression's result), shortened.
fn arg_name(p: &handlebars::PathAndJson<'_>) -> String {
    match p.relative_path() {
        Some(path) => path.clone(),
        None => crate::json::clip(&text(p.value())),
    }
}

/// `{{lookup list index}}` and `{{lookup object "key"}}`, as handlebars' own helper does, except
/// that what fails names what was looked up: `missing variable "list.[5]"` rather than an empty
/// name, and a value that has no items or fields says what it is.
struct Lookup;

impl HelperDef for Lookup {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        // The arity is checked when the template compiles.
        let (Some(collection), Some(index)) = (h.param(0), h.param(1)) else {
            return Err(RenderErrorReason::Other(
                "lookup takes a list or an object, and an index or a key".to_owned(),
            )
            .into());
        };
        let name = arg_name(collection);
        let found = match collection.value() {
            _ if collection.is_value_missing() => {
                return Err(to_render_error(Failure::Missing(name)));
            }
            Value::Null => return Err(to_render_error(Failure::Missing(name))),
            Value::Array(items) => index
                .value()
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| items.get(i)),
            Value::Object(fields) => index.value().as_str().and_then(|k| fields.get(k)),
            other => {
                return Err(to_render_error(Failure::Invalid(format!(
                    "lookup needs a list or an object, but {name} is {}",
                    crate::json::kind_of(other)
                ))));
            }
        };
        match found {
            Some(value) => Ok(ScopedJson::Derived(value.clone())),
            None => Err(to_render_error(Failure::Missing(format!(
                "{name}.[{}]",
                crate::json::clip(&text(index.value()))
            )))),
        }
    }
}

/// The `else` branch given to `{{#each value}}` blocks written without one: handlebars renders
/// it for a value it cannot loop over. Missing and null stay missing variables; a number, a
/// string or a boolean is an error naming what it is. An empty list or object renders nothing,
/// as without the branch.
struct EachCheck;

impl HelperDef for EachCheck {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> Result<(), RenderError> {
        let Some(param) = h.param(0) else {
            return Ok(());
        };
        let name = arg_name(param);
        match param.value() {
            _ if param.is_value_missing() => Err(to_render_error(Failure::Missing(name))),
            Value::Null => Err(to_render_error(Failure::Missing(name))),
            Value::Array(_) | Value::Object(_) => {
                out.write("")?;
                Ok(())
            }
            other => Err(to_render_error(Failure::Invalid(format!(
                "{{{{#each {name}}}}} needs a list or an object to loop over, but {name} is {}",
                crate::json::kind_of(other)
            )))),
        }
    }
}

/// The step counter: writes nothing, which the output counts as a step.
struct Step;

impl HelperDef for Step {
    fn call<'reg: 'rc, 'rc>(
        &self,
        _: &handlebars::Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> Result<(), RenderError> {
        out.write("")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: HelperKind, args: &[Value]) -> Result<String, Failure> {
        let args: Vec<Arg<'_>> = args.iter().map(Arg::value).collect();
        let mut out = String::new();
        apply(kind, &args, &mut out)?.write(&mut out)?;
        Ok(out)
    }

    #[test]
    fn default_skips_null_empty_and_blank() {
        let d = HelperKind::Default;
        assert_eq!(run(d, &[json!("Ana"), json!("there")]).unwrap(), "Ana");
        assert_eq!(run(d, &[json!(""), json!("there")]).unwrap(), "there");
        assert_eq!(run(d, &[json!("  "), json!("there")]).unwrap(), "there");
        assert_eq!(run(d, &[json!(null), json!("there")]).unwrap(), "there");
        assert_eq!(run(d, &[json!(0), json!("there")]).unwrap(), "0");
        assert_eq!(
            run(d, &[json!(null), json!(""), json!("x")]).unwrap(),
            "x",
            "the first usable of several"
        );
        let there = json!("there");
        let missing = [Arg::missing("nick"), Arg::value(&there)];
        let mut out = String::new();
        apply(d, &missing, &mut out)
            .unwrap()
            .write(&mut out)
            .unwrap();
        assert_eq!(out, "there");
        assert_eq!(
            apply(
                d,
                &[Arg::missing("a"), Arg::missing("b")],
                &mut String::new()
            )
            .unwrap_err(),
            Failure::Missing("b".into())
        );
    }

    #[test]
    fn case_helpers() {
        assert_eq!(run(HelperKind::Upper, &[json!("ana é")]).unwrap(), "ANA É");
        assert_eq!(run(HelperKind::Lower, &[json!("ÅSA")]).unwrap(), "åsa");
        assert_eq!(
            run(HelperKind::Upper, &[json!("straße")]).unwrap(),
            "STRASSE"
        );
        assert_eq!(
            run(HelperKind::Capitalize, &[json!("mcDonald")]).unwrap(),
            "McDonald"
        );
        assert_eq!(
            run(HelperKind::Capitalize, &[json!("élan")]).unwrap(),
            "Élan"
        );
        assert_eq!(run(HelperKind::Capitalize, &[json!("")]).unwrap(), "");
        assert_eq!(run(HelperKind::Upper, &[json!(12)]).unwrap(), "12");
        assert_eq!(
            apply(
                HelperKind::Upper,
                &[Arg::value(&json!(null))],
                &mut String::new()
            )
            .unwrap_err(),
            Failure::Missing("null".into())
        );
    }

    #[test]
    fn truncate_counts_graphemes() {
        let t = HelperKind::Truncate;
        assert_eq!(run(t, &[json!("Alexandra"), json!(4)]).unwrap(), "Alex");
        assert_eq!(run(t, &[json!("Ana"), json!(4)]).unwrap(), "Ana");
        assert_eq!(run(t, &[json!("Ana"), json!(3)]).unwrap(), "Ana");
        assert_eq!(
            run(t, &[json!("Alexandra"), json!(5), json!("…")]).unwrap(),
            "Alex…"
        );
        // A family emoji is one grapheme of 7 code points; a flag is one of 2.
        let family = "👨‍👩‍👧‍👦";
        let text = format!("{family}🇬🇧ab");
        assert_eq!(
            run(t, &[json!(text), json!(2)]).unwrap(),
            format!("{family}🇬🇧")
        );
        assert_eq!(
            run(t, &[json!("abc"), json!(1), json!("...")]).unwrap(),
            "a"
        );
        assert_eq!(run(t, &[json!("abc"), json!(0)]).unwrap(), "");
        let err = run(t, &[json!("abc"), json!("x")]).unwrap_err();
        assert!(matches!(err, Failure::Invalid(m) if m.contains("whole number")));
        let err = run(t, &[json!("abc"), json!(-1)]).unwrap_err();
        assert!(matches!(err, Failure::Invalid(_)));
    }

    #[test]
    fn date_formats_iso_dates_and_timestamps() {
        let d = HelperKind::Date;
        assert_eq!(run(d, &[json!("2024-03-05")]).unwrap(), "2024-03-05");
        assert_eq!(
            run(d, &[json!("2024-03-05"), json!("%d/%m/%Y")]).unwrap(),
            "05/03/2024"
        );
        assert_eq!(
            run(d, &[json!("2024-03-05"), json!("%A %-d %B")]).unwrap(),
            "Tuesday 5 March"
        );
        assert_eq!(
            run(
                d,
                &[
                    json!("2024-03-05T23:30:00-05:00"),
                    json!("%Y-%m-%d %H:%M %Z")
                ]
            )
            .unwrap(),
            "2024-03-06 04:30 UTC",
            "timestamps are shown in UTC"
        );
        assert_eq!(
            run(d, &[json!("2024-03-05T10:15:00"), json!("%H:%M")]).unwrap(),
            "10:15"
        );
        let err = run(d, &[json!("05/03/2024")]).unwrap_err();
        assert!(matches!(err, Failure::Invalid(m) if m.contains("not an ISO date")));
        let err = run(d, &[json!(20240305)]).unwrap_err();
        assert!(matches!(err, Failure::Invalid(_)));
        let err = run(d, &[json!("2024-03-05"), json!("%Z")]).unwrap_err();
        assert!(matches!(err, Failure::Invalid(m) if m.contains("cannot format")));
    }

    /// The `date` directives people put in messages, with the output jiff's `strtime` gave when it
    /// backed the helper (recorded before the switch to the in-house formatter, which must agree).
    #[test]
    fn date_directives_and_flags() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "2024-03-05",
                "%Y %y %m %d %e %H %M %S %I %p %j %B %b %A %a %F %T %%",
                "2024 24 03 05  5 00 00 00 12 AM 065 March Mar Tuesday Tue 2024-03-05 00:00:00 %",
            ),
            (
                "2024-03-05T23:30:00-05:00",
                "%Y %y %m %d %e %H %M %S %I %p %j %B %b %A %a %F %T %%",
                "2024 24 03 06  6 04 30 00 04 AM 066 March Mar Wednesday Wed 2024-03-06 04:30:00 %",
            ),
            (
                "2024-12-31T00:07:09Z",
                "%Y %y %m %d %e %H %M %S %I %p %j %B %b %A %a %F %T %%",
                "2024 24 12 31 31 00 07 09 12 AM 366 December Dec Tuesday Tue 2024-12-31 00:07:09 %",
            ),
            (
                "1999-01-01T12:00:00Z",
                "%Y %y %m %d %e %H %M %S %I %p %j %B %b %A %a %F %T %%",
                "1999 99 01 01  1 12 00 00 12 PM 001 January Jan Friday Fri 1999-01-01 12:00:00 %",
            ),
            (
                "0987-06-07T13:59:59.5",
                "%Y %y %m %d %e %H %M %S %I %p %j %B %b %A %a %F %T %%",
                "0987 87 06 07  7 13 59 59 01 PM 158 June Jun Thursday Thu 0987-06-07 13:59:59 %",
            ),
            ("2024-03-05", "%-d/%-m/%Y %-I:%M%P", "5/3/2024 12:00am"),
            (
                "2005-07-04T00:05:00",
                "%-d/%-m/%Y %-I:%M%P",
                "4/7/2005 12:05am",
            ),
            (
                "1999-01-01T12:00:00Z",
                "%-d/%-m/%Y %-I:%M%P",
                "1/1/1999 12:00pm",
            ),
            (
                "0987-06-07T13:59:59.5",
                "%-d/%-m/%Y %-I:%M%P",
                "7/6/0987 1:59pm",
            ),
            (
                "2024-03-05",
                "%_m|%0e|%^B|%^a|%#p|%5Y|%10d|%-j|%3e",
                " 3|05|MARCH|TUE|am|02024|0000000005|65|  5",
            ),
            (
                "2024-03-05T23:30:00-05:00",
                "%^p %^P %#P %#B %_5H %-5H %025s",
                "AM AM am March     4 4 00000000001709699400",
            ),
            (
                "2024-03-05",
                "%D %R %h %C %u %w %k %l",
                "03/05/24 00:00 Mar 20 2 2  0 12",
            ),
            (
                "0987-06-07T13:59:59.5",
                "%D %R %h %C %u %w %k %l",
                "06/07/87 13:59 Jun 9 4 4 13  1",
            ),
            ("2024-03-05", "%U %W %V %G %g %q", "09 10 10 2024 24 1"),
            (
                "2021-01-03T08:00:00Z",
                "%U %W %V %G %g %q",
                "01 00 53 2020 20 1",
            ),
            (
                "1969-12-31T23:59:59Z",
                "%U %W %V %G %g %q",
                "52 52 01 1970 70 4",
            ),
            ("2024-12-31T00:07:09Z", "%V", "01"),
            ("1999-01-01T12:00:00Z", "%V", "53"),
            ("2024-03-05", "%3q %5u %-C %_C %04C", "001     2 20 20 0020"),
            (
                "2024-03-05T23:30:00-05:00",
                "%s|%-s|%12s|%012s|%z|%:z|%::z|%:::z|%-5:z|%Z|%#Z",
                "1709699400|1709699400|  1709699400|001709699400|+0000|+00:00|+00:00:00|+00|+00:00|UTC|utc",
            ),
            (
                "1969-12-31T23:59:59Z",
                "%-s|%12s|%012s",
                "-1|          -1|-00000000001",
            ),
            (
                "2024-03-05",
                "%%%%|%_%|%^%|%n|%t|é%Y→",
                "%%|%|%|\n|\t|é2024→",
            ),
            // The inputs the helper reads: trimmed ISO dates, date-times with or without seconds,
            // `T` or a space, offsets in any case and with or without minutes, leap seconds.
            ("  2024-03-05  ", "%F %T", "2024-03-05 00:00:00"),
            ("2024-03-05T10:15", "%F %T", "2024-03-05 10:15:00"),
            ("2024-03-05 10:15:00", "%F %T", "2024-03-05 10:15:00"),
            ("2024-03-05T10:15:00z", "%F %T", "2024-03-05 10:15:00"),
            ("2024-03-05t10:15:00+01", "%F %T", "2024-03-05 09:15:00"),
            ("2024-03-05T10:15:60Z", "%F %T", "2024-03-05 10:15:59"),
            (
                "2024-03-05T10:15:00.123456789Z",
                "%F %T",
                "2024-03-05 10:15:00",
            ),
        ];
        for &(input, format, expected) in cases {
            assert_eq!(
                run(HelperKind::Date, &[json!(input), json!(format)]),
                Ok(expected.to_owned()),
                "{input} with {format}"
            );
        }
    }

    #[test]
    fn date_errors_are_failures_not_panics() {
        let cannot_format: &[(&str, &str)] = &[
            ("2024-03-05", "%z"),
            ("2024-03-05", "%:z"),
            ("2024-03-05T10:00:00", "%Z"),
            ("2024-03-05", "%s"),
            ("2024-03-05T10:00:00Z", "%K"),
            ("2024-03-05T10:00:00Z", "50%"),
            ("2024-03-05T10:00:00Z", "%-"),
            ("2024-03-05T10:00:00Z", "%2"),
            ("2024-03-05T10:00:00Z", "%:"),
            ("2024-03-05T10:00:00Z", "%::::z"),
            ("2024-03-05T10:00:00Z", "%é"),
            ("2024-03-05T10:00:00Z", "1 % 2"),
            ("2024-03-05T10:00:00Z", "%E"),
            ("2024-03-05T10:00:00Z", "%999d"),
        ];
        for &(input, format) in cannot_format {
            let err = run(HelperKind::Date, &[json!(input), json!(format)]).unwrap_err();
            assert!(
                matches!(&err, Failure::Invalid(m) if m.contains("cannot format")),
                "{input} with {format}: {err:?}"
            );
        }
        for input in ["2024-3-5", "2024-02-30", "2024-03-05T25:00:00Z", "soon", ""] {
            let err = run(HelperKind::Date, &[json!(input)]).unwrap_err();
            assert!(
                matches!(&err, Failure::Invalid(m) if m.contains("not an ISO date")),
                "{input}: {err:?}"
            );
        }
    }

    #[test]
    fn arity_is_checked() {
        let err = run(HelperKind::Upper, &[json!("a"), json!("b")]).unwrap_err();
        assert_eq!(
            err,
            Failure::Invalid("upper takes 1 argument, as in {{upper value}}".into())
        );
        let err = run(HelperKind::Default, &[json!("a")]).unwrap_err();
        assert!(matches!(err, Failure::Invalid(m) if m.contains("at least 2")));
    }

    #[test]
    fn values_render_like_handlebars() {
        for v in [
            json!("x"),
            json!(1.5),
            json!(true),
            json!(null),
            json!([1, "a", null]),
            json!({"a": 1}),
        ] {
            let mut out = String::new();
            write_value(&v, &mut out);
            assert_eq!(out, v.render());
        }
    }
}
