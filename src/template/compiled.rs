//! The compiled fast path: templates made only of text, variables and this crate's helpers,
//! rendered without handlebars' render machinery.
//!
//! Handlebars renders a `{{name}}` by building a render context, resolving the path through block
//! scopes, cloning the value into a `ScopedJson`, rendering it to a new `String` and copying that
//! into the output: about a microsecond per message, too slow for a million-recipient preview. Here
//! a template is a flat list of text and expressions; a variable is a chain of map lookups written
//! straight into the caller's buffer, and helpers are the same functions handlebars calls
//! (`helpers::apply`). Anything else (blocks, `../`, `@root`, handlebars' own helpers, named
//! arguments) leaves the template to handlebars. A property test holds both renderers to the same
//! output and the same errors.

use serde_json::Value;

use super::helpers::{self, Arg, Failure, HelperKind, Limit};
use super::registry::Template;
use super::vars::{is_helper, simple_segments};
use handlebars::template::{HelperTemplate, Parameter, TemplateElement};

/// A template the fast path can render.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(Box<str>),
    /// `{{a.b}}`: a variable written as is.
    Variable(Var),
    /// `{{helper args...}}`.
    Call(Call),
}

#[derive(Clone, Debug)]
struct Var {
    /// The path as written, for errors.
    raw: Box<str>,
    segments: Box<[Box<str>]>,
}

#[derive(Clone, Debug)]
struct Call {
    kind: HelperKind,
    args: Box<[Expr]>,
}

#[derive(Clone, Debug)]
enum Expr {
    Var(Var),
    Literal(Value),
    Call(Call),
}

/// An evaluated argument: borrowed from the data or the template, or produced by a helper.
enum Evaluated<'a> {
    Arg(Arg<'a>),
    Owned(Value),
}

impl Compiled {
    /// Compiles a parsed template, or `None` if it needs handlebars.
    pub(crate) fn new(elements: &[TemplateElement]) -> Option<Self> {
        let mut nodes = Vec::with_capacity(elements.len());
        for element in elements {
            match element {
                TemplateElement::RawString(s) if s.is_empty() => {}
                TemplateElement::RawString(s) => nodes.push(Node::Text(s.as_str().into())),
                TemplateElement::Comment(_) => {}
                TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                    nodes.push(expression(ht)?);
                }
                _ => return None,
            }
        }
        Some(Self { nodes })
    }

    /// Renders for `data`, appending to `out`.
    /// Stops once the output passes [`Template::MAX_OUTPUT_BYTES`]; a template of at most
    /// [`Template::MAX_BYTES`] has far fewer nodes than the step budget.
    pub(crate) fn render(&self, data: &Value, out: &mut String) -> Result<(), Failure> {
        let start = out.len();
        for node in &self.nodes {
            match node {
                Node::Text(s) => out.push_str(s),
                Node::Variable(var) => helpers::write_variable(var.lookup(data)?, out)?,
                Node::Call(call) => call.write(data, out)?,
            }
            if out.len() - start > Template::MAX_OUTPUT_BYTES {
                return Err(Failure::Limit(Limit::Output));
            }
        }
        Ok(())
    }
}

fn expression(ht: &HelperTemplate) -> Option<Node> {
    if !ht.hash.is_empty() || ht.block_param.is_some() {
        return None;
    }
    if ht.params.is_empty()
        && let Parameter::Path(path) = &ht.name
        && !is_helper(path_name(&ht.name))
    {
        return Some(Node::Variable(var(path)?));
    }
    call(ht).map(Node::Call)
}

fn path_name(p: &Parameter) -> &str {
    p.as_name().unwrap_or_default()
}

fn var(path: &handlebars::Path) -> Option<Var> {
    let segments = simple_segments(path)?;
    if segments.is_empty() {
        // `{{this}}`: the whole row, which renders as `[object]`; not worth a fast path.
        return None;
    }
    Some(Var {
        raw: path_name(&Parameter::Path(path.clone())).into(),
        segments: segments.into_iter().map(String::into_boxed_str).collect(),
    })
}

fn call(ht: &HelperTemplate) -> Option<Call> {
    let kind = HelperKind::from_name(path_name(&ht.name))?;
    if !ht.hash.is_empty() {
        return None;
    }
    let args = ht
        .params
        .iter()
        .map(|p| match p {
            Parameter::Path(path) => var(path).map(Expr::Var),
            Parameter::Literal(v) => Some(Expr::Literal(v.clone())),
            Parameter::Subexpression(sub) => match sub.as_element() {
                TemplateElement::Expression(inner) => call(inner).map(Expr::Call),
                _ => None,
            },
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(Call { kind, args })
}

impl Var {
    /// Follows the path the way handlebars does: maps by key, lists by a number (a name on a
    /// list is an error), anything else has no fields.
    fn lookup<'a>(&'a self, data: &'a Value) -> Result<Arg<'a>, Failure> {
        let mut current = Some(data);
        for seg in &self.segments {
            current = match current {
                Some(Value::Object(map)) => map.get(&**seg),
                Some(Value::Array(list)) => match seg.parse::<usize>() {
                    Ok(i) => list.get(i),
                    Err(_) => return Err(Failure::Invalid(helpers::list_index_message(seg))),
                },
                _ => None,
            };
        }
        Ok(Arg {
            value: current,
            path: &self.raw,
        })
    }
}

/// Calls with at most this many arguments evaluate them on the stack.
const INLINE_ARGS: usize = 4;

/// What to do with a call's evaluated arguments (dynamic, so nested calls do not instantiate
/// one function per nesting level).
type WithArgs<'f> = dyn FnMut(&[Arg<'_>]) -> Result<(), Failure> + 'f;

impl Call {
    fn write(&self, data: &Value, out: &mut String) -> Result<(), Failure> {
        let kind = self.kind;
        self.with_args(data, &mut |args| {
            helpers::apply(kind, args, out)?.write(out)?;
            Ok(())
        })
    }

    /// The helper's result as a value, for a subexpression.
    fn value(&self, data: &Value) -> Result<Value, Failure> {
        let kind = self.kind;
        let mut result = Value::Null;
        self.with_args(data, &mut |args| {
            let mut written = String::new();
            result = helpers::apply(kind, args, &mut written)?.into_value(written);
            Ok(())
        })?;
        Ok(result)
    }

    /// Evaluates the arguments left to right, as handlebars does (so the first failure is the
    /// same), and hands them to `f`. Without nested calls the arguments borrow from the data and
    /// the template and live on the stack.
    fn with_args(&self, data: &Value, f: &mut WithArgs<'_>) -> Result<(), Failure> {
        let n = self.args.len();
        if n <= INLINE_ARGS && !self.args.iter().any(|a| matches!(a, Expr::Call(_))) {
            let null = Value::Null;
            let mut args = [Arg::value(&null); INLINE_ARGS];
            for (slot, arg) in args.iter_mut().zip(self.args.iter()) {
                *slot = match arg {
                    Expr::Var(var) => var.lookup(data)?,
                    Expr::Literal(v) => Arg::value(v),
                    // Excluded by the condition above.
                    Expr::Call(_) => Arg::value(&null),
                };
            }
            return f(&args[..n]);
        }
        let mut evaluated = Vec::with_capacity(n);
        for arg in self.args.iter() {
            evaluated.push(match arg {
                Expr::Var(var) => Evaluated::Arg(var.lookup(data)?),
                Expr::Literal(v) => Evaluated::Arg(Arg::value(v)),
                Expr::Call(call) => Evaluated::Owned(call.value(data)?),
            });
        }
        let args: Vec<Arg<'_>> = evaluated
            .iter()
            .map(|e| match e {
                Evaluated::Arg(a) => *a,
                Evaluated::Owned(v) => Arg::value(v),
            })
            .collect();
        f(&args)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::template::Template;

    /// Text between tags: anything but braces and backslashes (which would start tags or
    /// escapes), including characters HTML would escape, non-GSM letters and emoji.
    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z &<>\"'=/\\n é€😀Ω-]{0,8}").unwrap()
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("c".to_owned()),
            Just("o.k".to_owned()),
            Just("o.[0]".to_owned()),
            Just("l.[0]".to_owned()),
            Just("l.[2]".to_owned()),
            Just("l.x".to_owned()),
            Just("this.a".to_owned()),
            Just("[a b]".to_owned()),
        ]
    }

    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("\"\"".to_owned()),
            Just("\"x&y\"".to_owned()),
            Just("\"%d/%m\"".to_owned()),
            Just("\"…\"".to_owned()),
            Just("3".to_owned()),
            Just("0".to_owned()),
            Just("-1".to_owned()),
            Just("1.5".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
        ]
    }

    /// A helper call with its arguments (possibly nested calls), right arity or not: wrong ones
    /// are compile errors, which the test skips.
    fn call() -> impl Strategy<Value = String> {
        let arg = prop_oneof![path(), literal()];
        let leaf = (
            prop::sample::select(vec![
                "default",
                "upper",
                "lower",
                "capitalize",
                "truncate",
                "date",
            ]),
            prop::collection::vec(arg, 1..3),
        )
            .prop_map(|(name, args)| format!("{name} {}", args.join(" ")));
        leaf.prop_recursive(2, 8, 3, |inner| {
            (
                prop::sample::select(vec!["default", "upper", "lower", "capitalize", "truncate"]),
                prop::collection::vec(
                    prop_oneof![path(), literal(), inner.prop_map(|c| format!("({c})"))],
                    1..4,
                ),
            )
                .prop_map(|(name, args)| format!("{name} {}", args.join(" ")))
        })
    }

    fn tag() -> impl Strategy<Value = String> {
        (
            prop_oneof![1 => path(), 3 => call()],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(inner, triple, left, right)| {
                let (l, r) = (if left { "~" } else { "" }, if right { "~" } else { "" });
                if triple {
                    format!("{{{{{{{l}{inner}{r}}}}}}}")
                } else {
                    format!("{{{{{l}{inner}{r}}}}}")
                }
            })
    }

    fn template() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (text(), prop_oneof![tag(), Just("{{! note }}".to_owned())]),
            0..5,
        )
        .prop_flat_map(|parts| {
            text().prop_map(move |tail| {
                let mut s: String = parts.iter().map(|(t, g)| format!("{t}{g}")).collect();
                s.push_str(&tail);
                s
            })
        })
    }

    fn value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(json!(""))),
            Just(Some(json!("  "))),
            text().prop_map(|s| Some(json!(s))),
            Just(Some(json!("2024-02-29"))),
            Just(Some(json!("2024-02-29T23:30:00-02:00"))),
            any::<i32>().prop_map(|n| Some(json!(n))),
            Just(Some(json!(2.25))),
            any::<bool>().prop_map(|b| Some(json!(b))),
            Just(Some(json!(["x", null, 3]))),
            Just(Some(json!({"k": "v", "0": "zero"}))),
        ]
    }

    fn row() -> impl Strategy<Value = Value> {
        prop::collection::vec(value(), 6).prop_map(|vals| {
            let mut map = serde_json::Map::new();
            for (key, v) in ["a", "b", "c", "o", "l", "a b"].into_iter().zip(vals) {
                if let Some(v) = v {
                    map.insert(key.to_owned(), v);
                }
            }
            Value::Object(map)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The compiled fast path renders exactly what handlebars renders, and fails with the
        /// same failure, for every template it accepts.
        #[test]
        fn fast_path_is_handlebars(src in template(), rows in prop::collection::vec(row(), 1..4)) {
            // Wrong arities and the like are compile errors: nothing to render.
            let Ok(t) = Template::compile(&src) else { return Ok(()) };
            let compiled = t.inner_compiled();
            prop_assert!(compiled.is_some(), "not compiled: {src:?}");
            let compiled = compiled.unwrap();
            for data in &rows {
                let mut fast = String::new();
                let fast = compiled.render(data, &mut fast).map(|()| fast);
                let mut slow = String::new();
                let slow = t.render_handlebars(data, &mut slow).map(|()| slow);
                prop_assert_eq!(&fast, &slow, "template {:?} data {}", src, data);
            }
        }
    }
}
