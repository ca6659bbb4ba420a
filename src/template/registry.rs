//! Compiling templates with handlebars in strict mode, and rendering them.

use std::fmt;
use std::sync::{Arc, LazyLock};

use handlebars::template::{HelperTemplate, Parameter, TemplateElement, TemplateMapping};
use handlebars::{Context, Handlebars, RenderContext, RenderError, RenderErrorReason, Renderable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compiled::Compiled;
use super::helpers::{self, EACH_CHECK, Failure, HelperKind, Limit, STEP_HELPER, VALUE_HELPER};
use super::{nesting, vars};
use crate::error::{Error, ErrorKind, Result};
use crate::segment::{Encoding, Segmenter};

/// The one handlebars registry every template renders with: strict mode, no HTML escaping, this
/// crate's helpers. It holds no templates (each [`Template`] keeps its own syntax tree), so it is
/// built once and never changes.
static REGISTRY: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    // SMS is plain text: `&` must stay `&`.
    hb.register_escape_fn(handlebars::no_escape);
    helpers::register(&mut hb);
    hb
});

/// A message template, compiled once and rendered for many recipients.
///
/// The syntax is [Handlebars](https://handlebarsjs.com/guide/) with these rules for SMS:
///
/// - no HTML escaping: `&`, `<` and `"` are sent as written;
/// - strict: a variable that is absent from the data, or null, is an error
///   ([`ErrorKind::MissingVariable`]) rather than an empty string; `{{default name "there"}}`
///   gives an explicit fallback, used when the value is absent, null or blank;
/// - helpers: `default`, `upper`, `lower`, `capitalize` (first character only), `truncate value n
///   ["suffix"]` (counted in user-visible characters, the suffix included), `date value
///   ["%d/%m/%Y"]` (an ISO date or RFC 3339 timestamp, shown in UTC, strftime directives), and
///   handlebars' own `if`, `unless`, `each`, `with`, `lookup`, `eq`, `ne`, `gt`, `gte`, `lt`,
///   `lte`, `and`, `or`, `not`, `len`;
/// - partials, decorators and unknown helpers are syntax errors, reported with line and column.
///
/// Templates made only of text, variables and this crate's helpers render through a compiled fast
/// path that produces exactly what handlebars would, several times faster; the others render
/// with handlebars itself.
///
/// ```
/// use serde_json::json;
/// use smsbatch::Template;
///
/// let template = Template::compile("Hi {{default first_name \"there\"}} & welcome to {{upper city}}!")?;
/// assert_eq!(template.variables(), ["first_name", "city"]);
/// assert_eq!(
///     template.render(&json!({"first_name": "Ana", "city": "Porto"}))?,
///     "Hi Ana & welcome to PORTO!"
/// );
/// assert_eq!(
///     template.render(&json!({"first_name": null, "city": "Porto"}))?,
///     "Hi there & welcome to PORTO!"
/// );
/// let err = template.render(&json!({"first_name": "Ana"})).unwrap_err();
/// assert_eq!(err.to_string(), "missing variable \"city\"");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Template {
    inner: Arc<Inner>,
}

struct Inner {
    body: String,
    /// The syntax tree, with `{{name}}` expressions rewritten to the strict value writer.
    ast: handlebars::Template,
    variables: Vec<String>,
    static_text: String,
    compiled: Option<Compiled>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("body", &self.inner.body)
            .field("variables", &self.inner.variables)
            .field("fast_path", &self.inner.compiled.is_some())
            .finish()
    }
}

/// What a template needs and costs before any data is applied, for a template picker.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// The variables the template reads, as in [`Template::variables`].
    pub variables: Vec<String>,
    /// The text outside every tag and block, as in [`Template::static_text`].
    pub static_text: String,
    /// The static text's encoding: UCS-2 here means every message will be UCS-2.
    pub encoding: Encoding,
    /// Units of the static text.
    pub units: u32,
    /// Segments of the static text: no rendering of the template takes fewer.
    pub min_segments: u32,
}

impl Template {
    /// The longest body [`Template::compile`] accepts, in bytes: a hundred times the longest
    /// message a provider sends, and a bound on the work an untrusted template can cause.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// How deep blocks, subexpressions and array or object literals may nest.
    pub const MAX_NESTING: usize = 32;

    /// The longest output one message may render to, in bytes: rendering stops as soon as the
    /// output passes it ([`ErrorKind::RenderTooLong`]). 256 KiB is far above any sendable SMS
    /// (255 concatenated parts of 153 characters are under 40,000 characters), so it only stops
    /// templates and data that would make a preview or a batch run out of memory.
    pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

    /// The most render steps one message may take ([`ErrorKind::RenderBudget`]). A step is a
    /// piece of output written (text, a variable, a helper's result) or a block body rendered
    /// (each iteration of `each`, each branch of `if`), so nested loops over `@root` lists stop
    /// early instead of running for hours: 100,000 steps are a few milliseconds, and a message
    /// template with lists of a few hundred items needs a few thousand.
    pub const MAX_RENDER_STEPS: u32 = 100_000;

    /// Parses and checks `body`.
    ///
    /// Errors are [`ErrorKind::TemplateSyntax`] with the line and column (from 1) of the problem:
    /// handlebars syntax errors, unknown helpers, helpers called with the wrong number of
    /// arguments, partials and decorators, blocks or subexpressions nested deeper than
    /// [`MAX_NESTING`](Self::MAX_NESTING); and [`ErrorKind::TemplateTooLarge`] for a body longer
    /// than [`MAX_BYTES`](Self::MAX_BYTES).
    ///
    /// ```
    /// use smsbatch::{ErrorKind, Template};
    ///
    /// let err = Template::compile("Hi {{first_name}},\nyour code is {{code}").unwrap_err();
    /// let ErrorKind::TemplateSyntax { line, column, .. } = err.kind() else { panic!() };
    /// assert_eq!((*line, *column), (2, 20));
    /// ```
    pub fn compile(body: &str) -> Result<Self> {
        if body.len() > Self::MAX_BYTES {
            return Err(Error::new(ErrorKind::TemplateTooLarge {
                bytes: u32::try_from(body.len()).unwrap_or(u32::MAX),
                max: Self::MAX_BYTES as u32,
            }));
        }
        nesting::check(body)?;
        let mut ast = handlebars::Template::compile(body).map_err(|e| {
            let (line, column) = e.pos().unwrap_or((1, 1));
            let message = match e.reason() {
                handlebars::TemplateErrorReason::InvalidSyntax(expected) => {
                    syntax_sentence(expected)
                }
                other => other.to_string(),
            };
            syntax_error((line, column), message)
        })?;
        check(&ast.elements, &ast.mapping, (1, 1), 0)?;
        let variables = vars::variables(&ast.elements);
        let static_text = vars::static_text(&ast.elements);
        let compiled = Compiled::new(&ast.elements);
        rewrite(&mut ast.elements);
        Ok(Self {
            inner: Arc::new(Inner {
                body: body.to_owned(),
                ast,
                variables,
                static_text,
                compiled,
            }),
        })
    }

    /// The template as written.
    pub fn body(&self) -> &str {
        &self.inner.body
    }

    /// The variables the template reads, in first-use order, including those inside helpers and
    /// blocks: paths from the data's root such as `first_name`, `order.total`, or `items[].name`
    /// for a field of each item of a list.
    pub fn variables(&self) -> &[String] {
        &self.inner.variables
    }

    /// The text outside every tag and block: what every message contains whatever the data.
    ///
    /// ```
    /// let t = smsbatch::Template::compile("Hi {{name}}!{{#if vip}} Enjoy 10% off.{{/if}}")?;
    /// assert_eq!(t.static_text(), "Hi !");
    /// # Ok::<(), smsbatch::Error>(())
    /// ```
    pub fn static_text(&self) -> &str {
        &self.inner.static_text
    }

    /// Variables, static text, and its encoding and segments under `segmenter`.
    pub fn metadata(&self, segmenter: &Segmenter) -> TemplateMetadata {
        let count = segmenter.count(&self.inner.static_text);
        TemplateMetadata {
            variables: self.inner.variables.clone(),
            static_text: self.inner.static_text.clone(),
            encoding: count.encoding,
            units: count.units,
            min_segments: count.segments,
        }
    }

    /// True when the template renders through the compiled fast path (it uses only text,
    /// variables and this crate's helpers), false when it renders with handlebars.
    pub fn is_compiled(&self) -> bool {
        self.inner.compiled.is_some()
    }

    /// Renders the template for `data` (usually a JSON object).
    ///
    /// Errors: [`ErrorKind::MissingVariable`] for a variable that is absent or null,
    /// [`ErrorKind::TemplateRender`] when a helper rejects its input (a malformed date...),
    /// [`ErrorKind::RenderTooLong`] when the output passes [`MAX_OUTPUT_BYTES`](Self::MAX_OUTPUT_BYTES)
    /// and [`ErrorKind::RenderBudget`] past [`MAX_RENDER_STEPS`](Self::MAX_RENDER_STEPS).
    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        self.render_into(data, &mut out)?;
        Ok(out)
    }

    /// Renders the template for `data`, appending to `out` (which lets a caller reuse one
    /// buffer). On error `out` may hold part of the message.
    pub fn render_into(&self, data: &Value, out: &mut String) -> Result<()> {
        self.render_failure(data, out)
            .map_err(|f| failure_error(f, None))
    }

    /// Renders, reporting a failure without an id (the preview adds the recipient's).
    pub(crate) fn render_failure(
        &self,
        data: &Value,
        out: &mut String,
    ) -> std::result::Result<(), Failure> {
        match &self.inner.compiled {
            Some(compiled) => compiled.render(data, out),
            None => self.render_handlebars(data, out),
        }
        .inspect_err(|_| {
            // Never keep a huge partial message around.
            if out.len() > Self::MAX_OUTPUT_BYTES {
                out.truncate(out.floor_char_boundary(Self::MAX_OUTPUT_BYTES));
            }
        })
    }

    /// The compiled fast path, if the template has one.
    #[cfg(test)]
    pub(crate) fn inner_compiled(&self) -> Option<&Compiled> {
        self.inner.compiled.as_ref()
    }

    /// Renders with handlebars, whatever the template (the fast path's reference).
    pub(crate) fn render_handlebars(
        &self,
        data: &Value,
        out: &mut String,
    ) -> std::result::Result<(), Failure> {
        let registry: &'static Handlebars<'static> = &REGISTRY;
        let ctx = Context::from(data.clone());
        let mut rc = RenderContext::new(None);
        let mut output = StringOutput {
            start: out.len(),
            out,
            steps: 0,
            stopped: None,
        };
        let result = self.inner.ast.render(registry, &ctx, &mut rc, &mut output);
        match (result, output.stopped) {
            (_, Some(limit)) => Err(Failure::Limit(limit)),
            (Ok(()), None) => Ok(()),
            (Err(e), None) => Err(render_failure(&e)),
        }
    }
}

/// Appends handlebars' output to a caller's buffer, counting steps and bytes: past a limit it
/// fails, which ends the render at once.
struct StringOutput<'a> {
    out: &'a mut String,
    /// The buffer's length before this message.
    start: usize,
    steps: u32,
    stopped: Option<Limit>,
}

impl handlebars::Output for StringOutput<'_> {
    fn write(&mut self, seg: &str) -> std::io::Result<()> {
        self.steps += 1;
        let limit = if self.steps > Template::MAX_RENDER_STEPS {
            Limit::Steps
        } else if self.out.len() - self.start + seg.len() > Template::MAX_OUTPUT_BYTES {
            Limit::Output
        } else {
            self.out.push_str(seg);
            return Ok(());
        };
        self.stopped = Some(limit);
        Err(std::io::Error::other("render limit"))
    }
}

/// The failure behind a handlebars render error.
fn render_failure(e: &RenderError) -> Failure {
    match e.reason() {
        RenderErrorReason::MissingVariable(path) => {
            Failure::Missing(path.clone().unwrap_or_default())
        }
        RenderErrorReason::InvalidJsonIndex(segment) => {
            Failure::Invalid(helpers::list_index_message(segment))
        }
        RenderErrorReason::Other(message) => Failure::Invalid(message.clone()),
        other => Failure::Invalid(other.to_string()),
    }
}

/// The crate error for a render failure of the recipient `id`.
pub(crate) fn failure_error(failure: Failure, id: Option<&Value>) -> Error {
    let id = id.cloned();
    Error::new(match failure {
        Failure::Missing(variable) => ErrorKind::MissingVariable { id, variable },
        Failure::Invalid(message) => ErrorKind::TemplateRender { id, message },
        Failure::Limit(Limit::Output) => ErrorKind::RenderTooLong {
            id,
            max_bytes: Template::MAX_OUTPUT_BYTES as u64,
        },
        Failure::Limit(Limit::Steps) => ErrorKind::RenderBudget {
            id,
            max_steps: u64::from(Template::MAX_RENDER_STEPS),
        },
    })
}

pub(super) fn syntax_error((line, column): (usize, usize), message: String) -> Error {
    Error::new(ErrorKind::TemplateSyntax {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        message,
    })
}

/// Rejects what the SMS templates do not support, with the position of the offending tag.
/// `at` is the position of the enclosing block, for elements without a mapping of their own.
fn check(
    elements: &[TemplateElement],
    mapping: &[TemplateMapping],
    at: (usize, usize),
    depth: usize,
) -> Result<()> {
    if depth > Template::MAX_NESTING {
        return Err(too_deep(at));
    }
    for (i, element) in elements.iter().enumerate() {
        let pos = mapping.get(i).map_or(at, |m| (m.0, m.1));
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                check_call(ht, pos, false, depth)?;
            }
            TemplateElement::HelperBlock(ht) => {
                check_call(ht, pos, true, depth)?;
                for t in [&ht.template, &ht.inverse].into_iter().flatten() {
                    check(&t.elements, &t.mapping, pos, depth + 1)?;
                }
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                return Err(syntax_error(
                    pos,
                    "partials ({{> name}}) are not supported in message templates".to_owned(),
                ));
            }
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                return Err(syntax_error(
                    pos,
                    "decorators ({{* name}}) are not supported in message templates".to_owned(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn too_deep(pos: (usize, usize)) -> Error {
    syntax_error(
        pos,
        format!(
            "blocks, subexpressions and literals are nested more than {} deep",
            Template::MAX_NESTING
        ),
    )
}

/// Checks a helper call (or a plain variable) and its subexpressions.
fn check_call(ht: &HelperTemplate, pos: (usize, usize), block: bool, depth: usize) -> Result<()> {
    if depth > Template::MAX_NESTING {
        return Err(too_deep(pos));
    }
    let name = ht.name.as_name();
    let is_call = block || !ht.params.is_empty() || !ht.hash.is_empty();
    if let Some(name) = name {
        if is_call && !vars::is_helper(name) {
            return Err(syntax_error(pos, unknown_helper(name)));
        }
        if let Some(kind) = HelperKind::from_name(name) {
            if block {
                return Err(syntax_error(
                    pos,
                    format!(
                        "{name} is not a block helper: write {} without #",
                        kind.usage()
                    ),
                ));
            }
            let (min, max) = kind.arity();
            if ht.params.len() < min || ht.params.len() > max || !ht.hash.is_empty() {
                return Err(syntax_error(
                    pos,
                    format!("wrong arguments for {name}: write {}", kind.usage()),
                ));
            }
        }
        // Handlebars' own helpers check their arguments only when they run, which would fail
        // every recipient alike: check them here, once.
        if let Some((min, max, usage)) = builtin_arity(name)
            && !(min..=max).contains(&ht.params.len())
        {
            return Err(syntax_error(
                pos,
                format!(
                    "{name} needs {}: write {usage}",
                    match (min, max) {
                        (1, 1) => "one argument".to_owned(),
                        (2, 2) => "two arguments".to_owned(),
                        (min, _) => format!("at least {min} argument(s)"),
                    }
                ),
            ));
        }
    }
    for p in ht.params.iter().chain(ht.hash.values()) {
        if let Parameter::Subexpression(sub) = p
            && let TemplateElement::Expression(inner) = sub.as_element()
        {
            let name = inner.name.as_name().unwrap_or_default();
            if !vars::is_helper(name) {
                return Err(syntax_error(pos, unknown_helper(name)));
            }
            check_call(inner, pos, false, depth + 1)?;
        }
    }
    Ok(())
}

/// A sentence for handlebars' parse error, which lists the grammar rules it expected
/// (`expected escape, expression, html_expression, decorator_expression, ...`): the same
/// expectations in handlebars' own terms, each once.
fn syntax_sentence(expected: &str) -> String {
    let rules = expected
        .trim()
        .trim_start_matches("unexpected ")
        .trim_start_matches("expected ")
        .split([',', ' '])
        .filter(|w| !w.is_empty() && *w != "or");
    let mut terms: Vec<&str> = Vec::new();
    for rule in rules {
        let term = match rule {
            "escape"
            | "raw_text"
            | "raw_block_text"
            | "template"
            | "expression"
            | "html_expression"
            | "decorator_expression"
            | "partial_expression"
            | "hbs_comment"
            | "hbs_comment_compact"
            | "helper_block_start"
            | "decorator_block_start"
            | "partial_block_start"
            | "raw_block_start"
            | "invert_tag"
            | "invert_chain_tag" => "text or a complete tag such as {{name}}",
            "helper_block_end" | "decorator_block_end" | "partial_block_end" | "raw_block_end" => {
                "the closing tag of the open block, such as {{/if}}"
            }
            "identifier"
            | "reference"
            | "name"
            | "path_id"
            | "path_raw_id"
            | "path_key"
            | "path_root"
            | "path_up"
            | "path_local"
            | "opt_identifier"
            | "partial_identifier"
            | "path_inline"
            | "path"
            | "path_item"
            | "path_current"
            | "path_sep"
            | "exp_line"
            | "partial_exp_line"
            | "opt_partial_identifier" => "a variable or helper name",
            "helper_parameter" | "literal" | "string_literal" | "number_literal"
            | "null_literal" | "boolean_literal" | "array_literal" | "object_literal" | "hash"
            | "subexpression" => {
                "an argument (a variable, a \"string\", a number or a (subexpression))"
            }
            "trailing_tilde_to_omit_whitespace" | "leading_tilde_to_omit_whitespace" => {
                "the closing }}"
            }
            "block_param" => "block parameters, as in {{#each list as |item|}}",
            "invert_tag_item" => "else",
            "json_char_double_quote"
            | "json_char_single_quote"
            | "string_inner_double_quote"
            | "string_inner_single_quote" => "the rest of the string and its closing quote",
            "EOI" => "the end of the template",
            _ => return format!("the template is not valid handlebars ({expected})"),
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    match terms.split_last() {
        None => "the template is not valid handlebars".to_owned(),
        Some((last, [])) => format!("expected {last}"),
        Some((last, rest)) => format!("expected {} or {last}", rest.join(", ")),
    }
}

/// How many positional arguments handlebars' own helpers take, and how they are written.
fn builtin_arity(name: &str) -> Option<(usize, usize, &'static str)> {
    Some(match name {
        "if" => (1, 1, "{{#if value}}...{{/if}}"),
        "unless" => (1, 1, "{{#unless value}}...{{/unless}}"),
        "each" => (1, 1, "{{#each list}}...{{/each}}"),
        "with" => (1, 1, "{{#with object}}...{{/with}}"),
        "lookup" => (2, 2, "{{lookup list index}}"),
        "eq" | "ne" | "gt" | "gte" | "lt" | "lte" => (2, 2, "{{#if (eq a b)}}...{{/if}}"),
        "and" | "or" => (1, usize::MAX, "{{#if (and a b)}}...{{/if}}"),
        "not" => (1, 1, "{{#if (not a)}}...{{/if}}"),
        "len" => (1, 1, "{{len list}}"),
        _ => return None,
    })
}

fn unknown_helper(name: &str) -> String {
    let mine: Vec<&str> = HelperKind::ALL.iter().map(|k| k.name()).collect();
    format!(
        "unknown helper {name:?}: the helpers are {} and {}",
        mine.join(", "),
        helpers::BUILTIN_HELPERS.join(", ")
    )
}

/// Turns every `{{name}}` into a call of the strict value writer, so a null value is an error
/// like an absent one (handlebars' strict mode only catches absent ones).
fn rewrite(elements: &mut Vec<TemplateElement>) {
    for element in elements {
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                let is_variable = ht.params.is_empty()
                    && ht.hash.is_empty()
                    && matches!(&ht.name, Parameter::Path(_))
                    && !ht.name.as_name().is_some_and(vars::is_helper);
                if is_variable {
                    let path =
                        std::mem::replace(&mut ht.name, Parameter::Name(VALUE_HELPER.to_owned()));
                    ht.params.push(path);
                }
            }
            TemplateElement::HelperBlock(ht) => {
                // `{{#each value}}` without `{{else}}`: handlebars renders the `else` branch for
                // a value it cannot loop over, so the check given as one says what it is.
                if ht.inverse.is_none()
                    && ht.name.as_name() == Some("each")
                    && let Some(value) = ht.params.first()
                    && let Some(check) = helper_expression(EACH_CHECK, vec![value.clone()])
                {
                    let mut inverse = handlebars::Template::new();
                    inverse.elements.push(check);
                    if let Some(at) = ht.template.as_ref().and_then(|t| t.mapping.first()) {
                        inverse.mapping.push(at.clone());
                    }
                    ht.inverse = Some(inverse);
                }
                for t in [&mut ht.template, &mut ht.inverse].into_iter().flatten() {
                    rewrite(&mut t.elements);
                    // Every time the body renders, a step (see `Template::MAX_RENDER_STEPS`).
                    if let Some(step) = step_expression() {
                        t.elements.insert(0, step);
                        if let Some(first) = t.mapping.first().cloned() {
                            t.mapping.insert(0, first);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// `{{smsbatch step}}`, which no template can write (the name has a space).
fn step_expression() -> Option<TemplateElement> {
    helper_expression(STEP_HELPER, Vec::new())
}

/// A call of helper `name` with `params`.
fn helper_expression(name: &str, params: Vec<Parameter>) -> Option<TemplateElement> {
    let spec = handlebars::template::ExpressionSpecBuilder::default()
        .name(Parameter::Name(name.to_owned()))
        .params(params)
        .hash(Default::default())
        .omit_pre_ws(false)
        .omit_pro_ws(false)
        .build()
        .ok()?;
    Some(TemplateElement::Expression(Box::new(HelperTemplate::new(
        spec, false, false,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, data: Value) -> Result<String> {
        Template::compile(src)?.render(&data)
    }

    fn both(src: &str, data: &Value) -> std::result::Result<String, Failure> {
        let t = Template::compile(src).unwrap();
        let mut generic = String::new();
        let generic = t.render_handlebars(data, &mut generic).map(|()| generic);
        if let Some(compiled) = &t.inner.compiled {
            let mut fast = String::new();
            let fast = compiled.render(data, &mut fast).map(|()| fast);
            assert_eq!(fast, generic, "fast path and handlebars differ on {src:?}");
        }
        generic
    }

    #[test]
    fn no_html_escaping() {
        let data = json!({"name": "A&B <Ltd> \"quoted\" 'x'"});
        assert_eq!(
            render("{{name}} & {{{name}}} <b>", data).unwrap(),
            "A&B <Ltd> \"quoted\" 'x' & A&B <Ltd> \"quoted\" 'x' <b>"
        );
    }

    #[test]
    fn null_and_absent_are_missing() {
        for data in [json!({}), json!({"name": null})] {
            let err = render("Hi {{name}}", data).unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::MissingVariable {
                    id: None,
                    variable: "name".into()
                }
            );
        }
        // Also inside blocks, where handlebars renders itself.
        let err = render(
            "{{#if x}}{{y.z}}{{/if}}",
            json!({"x": true, "y": {"z": null}}),
        )
        .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MissingVariable { variable, .. } if variable == "y.z")
        );
        // `if` on an absent value is a plain "no".
        assert_eq!(
            render("{{#if x}}y{{else}}n{{/if}}", json!({})).unwrap(),
            "n"
        );
    }

    #[test]
    fn empty_string_is_present() {
        assert_eq!(render("[{{name}}]", json!({"name": ""})).unwrap(), "[]");
    }

    #[test]
    fn blocks_render_with_handlebars() {
        let t = Template::compile(
            "{{#each items}}{{@index}}:{{upper name}}{{#unless @last}}, {{/unless}}{{/each}}",
        )
        .unwrap();
        assert!(!t.is_compiled());
        assert_eq!(
            t.render(&json!({"items": [{"name": "a"}, {"name": "b"}]}))
                .unwrap(),
            "0:A, 1:B"
        );
    }

    /// Regression: deeply nested bodies of a few kilobytes overflowed the stack inside handlebars'
    /// parser (and broke the WebAssembly module) before the nesting limit was checked.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let n = 1500;
        let bodies = [
            format!("{{{{upper {}x{}}}}}", "(lower ".repeat(n), ")".repeat(n)),
            format!("{}x{}", "{{#if a}}".repeat(n), "{{/if}}".repeat(n)),
            format!("{{{{#if a}}}}x{}{{{{/if}}}}", "{{else if b}}y".repeat(n)),
            format!("{}x", "{{^a}}".repeat(n)),
        ];
        for body in bodies {
            let len = body.len();
            // A 2 MiB stack, as spawned threads and async runtimes' workers have.
            let result = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    Template::compile(&body)
                        .map(|_| ())
                        .map_err(|e| e.into_kind())
                })
                .unwrap()
                .join()
                .expect("compiling must not overflow the stack");
            match result {
                Err(ErrorKind::TemplateSyntax { message, .. }) => {
                    assert!(message.contains("nested more than 32"), "{message}");
                }
                other => panic!("{len} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn nesting_up_to_the_limit_is_fine() {
        let n = Template::MAX_NESTING;
        let parens = format!(
            "{{{{upper {}x{}}}}}",
            "(lower ".repeat(n - 1),
            ")".repeat(n - 1)
        );
        assert!(Template::compile(&parens).is_ok(), "{parens}");
        let blocks = format!("{}x{}", "{{#if a}}".repeat(n), "{{/if}}".repeat(n));
        assert!(Template::compile(&blocks).is_ok());
        // Parentheses and braces inside strings and comments are text.
        let literal = format!(
            "{{{{default a \"{}\"}}}} {{{{!-- {} --}}}}",
            "(".repeat(100),
            "{{#if".repeat(100)
        );
        assert!(Template::compile(&literal).is_ok(), "{literal}");
        let chain = format!(
            "{{{{#if a}}}}x{}{{{{/if}}}}",
            "{{else if b}}y".repeat(n - 2)
        );
        assert!(Template::compile(&chain).is_ok());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let cases = [
            ("Hi {{name}", (1, 10)),
            ("Olá €😀 {{name}", (1, 14)),
            ("line one\n  {{#if a}}x{{/each}}", (2, 13)),
            ("{{#if a}}\n  {{foo bar}}\n{{/if}}", (2, 3)),
            ("ok {{> footer}}", (1, 4)),
            ("{{upper a b}}", (1, 1)),
            ("{{upper (shout a)}}", (1, 1)),
            ("x {{#upper a}}y{{/upper}}", (1, 3)),
        ];
        for (src, pos) in cases {
            let err = Template::compile(src).unwrap_err();
            let ErrorKind::TemplateSyntax {
                line,
                column,
                message,
            } = err.kind()
            else {
                panic!("{src:?}: {err:?}");
            };
            assert_eq!(
                (*line as usize, *column as usize),
                pos,
                "{src:?}: {message}"
            );
        }
        let err = Template::compile("{{foo bar}}").unwrap_err();
        assert!(err.to_string().contains("unknown helper \"foo\""), "{err}");
    }

    #[test]
    fn untrusted_input_is_bounded() {
        let err = Template::compile(&"x".repeat(Template::MAX_BYTES + 1)).unwrap_err();
        assert_eq!(err.kind().code(), "templateTooLarge");
        let nested = |n: usize| format!("{}x{}", "{{#if a}}".repeat(n), "{{/if}}".repeat(n));
        assert!(Template::compile(&nested(Template::MAX_NESTING)).is_ok());
        let err = Template::compile(&nested(Template::MAX_NESTING + 1)).unwrap_err();
        assert!(
            err.to_string().contains("nested more than 32 deep"),
            "{err}"
        );
        let sub = |n: usize| format!("{{{{upper {}x{}}}}}", "(lower ".repeat(n), ")".repeat(n));
        assert!(Template::compile(&sub(Template::MAX_NESTING)).is_ok());
        assert!(Template::compile(&sub(Template::MAX_NESTING + 1)).is_err());
    }

    /// Issue 10, item 10: a syntax error reads like a sentence, gives its position once and
    /// names what was expected in handlebars' terms, not the grammar's rule names.
    #[test]
    fn syntax_errors_read_like_sentences() {
        for (src, expected) in [
            ("Hi {{first_name}} {{#if vip}}x", "closing tag"),
            ("Hi {{first_name", "closing }}"),
            ("Hi {{first_name}} your code {{code}", "closing }}"),
            ("{{upper (}}", "name"),
        ] {
            let err = Template::compile(src).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected), "{src}: {text}");
            assert_eq!(text.matches("line").count(), 1, "{src}: {text}");
            for rule in [
                "html_expression",
                "decorator_expression",
                "escape",
                "EOI",
                "_",
            ] {
                assert!(!text.contains(rule), "{src}: {text}");
            }
        }
        // Helpers of handlebars called without their arguments fail here, not per recipient.
        for src in [
            "{{lookup}}",
            "{{eq}}",
            "{{#if}}x{{/if}}",
            "{{#each}}x{{/each}}",
            "{{len}}",
            "{{#if (eq a)}}x{{/if}}",
        ] {
            let err = Template::compile(src).unwrap_err();
            assert_eq!(err.kind().code(), "templateSyntax", "{src}");
            assert!(err.to_string().contains("needs"), "{src}: {err}");
        }
    }

    #[test]
    fn render_errors_from_helpers() {
        let err = render("{{date d}}", json!({"d": "soon"})).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::TemplateRender { message, .. } if message.contains("not an ISO date"))
        );
        let err = render("{{tags.name}}", json!({"tags": ["a"]})).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::TemplateRender { message, .. } if message.contains("from a list"))
        );
    }

    #[test]
    fn fast_path_matches_handlebars_on_examples() {
        let data = json!({
            "first": "ana", "last": null, "n": 3, "f": 1.5, "b": true, "empty": "",
            "list": [1, "x", null], "obj": {"k": "v", "0": "zero"}, "d": "2024-02-29",
            "with space": "s",
        });
        let cases = [
            "Hi {{first}}!",
            "{{first}}{{n}}{{f}}{{b}}{{list}}{{obj}}{{obj.k}}{{obj.[0]}}{{list.[1]}}{{[with space]}}",
            "{{upper first}} {{lower \"ÀB\"}} {{capitalize first}}",
            "{{default last first}} {{default empty \"x\"}} {{default last \"\"}}",
            "{{truncate first 2 \".\"}} {{truncate first n}}",
            "{{date d \"%d %B %Y\"}} {{date d}}",
            "{{upper (default last (capitalize first))}}",
            "{{last}}",
            "{{nope}}",
            "{{obj.nope}}",
            "{{list.[7]}}",
            "{{list.x}}",
            "{{default last nope}}",
            "{{upper nope}}",
            "{{date first}}",
            "{{truncate first \"x\"}}",
            "  {{~first~}}  !",
            "{{! a comment }}{{first}}{{!-- another --}}",
        ];
        for src in cases {
            assert!(Template::compile(src).unwrap().is_compiled(), "{src}");
            let _ = both(src, &data);
        }
        // A list or an object is not text (issue 10, item 10).
        for src in ["{{list}}", "{{obj}}", "x {{default nope obj}}"] {
            let err = both(src, &data).unwrap_err();
            assert!(
                matches!(&err, Failure::Invalid(m) if m.contains("not text")),
                "{src}: {err:?}"
            );
        }
        assert_eq!(both("  {{~first~}}  !", &data).unwrap(), "ana!");
    }

    #[test]
    fn metadata_of_static_text() {
        let t = Template::compile("Olá {{name}}, até já").unwrap();
        let m = t.metadata(&Segmenter::default());
        assert_eq!(m.variables, ["name"]);
        assert_eq!(m.static_text, "Olá , até já");
        assert_eq!(m.encoding, Encoding::Ucs2);
        assert_eq!(m.min_segments, 1);
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::json;

    use super::Template;

    /// Template-like noise: tags, blocks, whitespace control, comments, quotes, paths.
    fn noise() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "{{", "}}", "{{{", "}}}", "{{#", "{{/", "{{^", "{{~", "~}}", "{{!", "{{!--", "--}}",
            "{{>", "{{*", "else", "if", "each", "with", "upper", "default", "date", "truncate",
            "as |x i|", "(", ")", "\"", "'", "x", "a.b", "../", "@root", "@index", "this", " ",
            "\n", "=", "[", "]", "\\", "3", "€", "😀", "}", "{",
        ]);
        prop::collection::vec(token, 0..24).prop_map(|t| t.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever the text, compiling and rendering return a result: no panic.
        #[test]
        fn compile_and_render_never_panic(src in noise()) {
            if let Ok(t) = Template::compile(&src) {
                let _ = t.render(&json!({"x": [1, {"y": "z"}], "a": {"b": null}}));
                let _ = t.variables();
            }
        }
    }
}

/// Issue 10, item 1: hostile nesting, from every lexical form of handlebars, on a small stack.
#[cfg(test)]
mod hostile_nesting {
    use proptest::prelude::*;
    use serde_json::json;

    use super::Template;
    use crate::error::ErrorKind;

    /// Compiles and renders `body` on a thread with a 256 KiB stack; panics (failing the test)
    /// if the thread dies, as it does on a stack overflow.
    /// Returns the variables the template reads.
    fn compile_on_small_stack(body: String) -> Result<String, ErrorKind> {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let t = Template::compile(&body).map_err(|e| e.into_kind())?;
                let data = json!({"a": [1, 2], "b": true, "name": "Ana", "x": {"y": "z"}});
                let _ = t.render(&data);
                let _ = t.variables();
                let text = t.variables().join(" ");
                drop(t);
                Ok(text)
            })
            .expect("spawn")
            .join()
            .expect("compiling and rendering must not overflow a 256 KiB stack")
    }

    fn assert_too_deep(body: String) {
        match compile_on_small_stack(body) {
            Err(ErrorKind::TemplateSyntax { message, .. }) => {
                assert!(message.contains("nested more than 32"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_quote_in_a_bracketed_segment_does_not_hide_nesting() {
        let n = 8000;
        assert_too_deep(format!(
            "{{{{default [a\"] {}name{}}}}}",
            "(upper ".repeat(n),
            ")".repeat(n)
        ));
    }

    #[test]
    fn an_unclosed_long_comment_ends_at_the_first_braces() {
        let n = 8000;
        assert_too_deep(format!(
            "{{{{!-- x }}}} {{{{default a {}name{}}}}}",
            "(upper ".repeat(n),
            ")".repeat(n)
        ));
        // The page's case: 3,000 levels.
        assert_too_deep(format!(
            "{{{{upper {}name{}}}}}",
            "(upper ".repeat(3000),
            ")".repeat(3000)
        ));
    }

    #[test]
    fn literals_count_as_levels() {
        assert_too_deep(format!(
            "{{{{default a {}1{}}}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        ));
        assert_too_deep(format!("{{{{default a {}}}}}", "[".repeat(5000)));
        assert_too_deep(format!(
            "{{{{default a {}1{}}}}}",
            "{\"k\":".repeat(5000),
            "}".repeat(5000)
        ));
        // Within the limit they are fine (and a path segment is not a literal).
        assert!(Template::compile("{{default a [1, [2, {\"k\": [3]}]]}}").is_ok());
        assert!(Template::compile("{{default [a\"] \"x\"}}").is_ok());
    }

    #[test]
    fn escapes_and_raw_blocks_follow_handlebars() {
        // Escaped tags are text, so their parentheses are not counted...
        let text = format!("\\{{{{upper {}", "(".repeat(100));
        assert!(Template::compile(&text).is_ok(), "{text}");
        // ...but two backslashes do not escape.
        assert_too_deep(format!(
            "\\\\{{{{upper {}a{}}}}}",
            "(upper ".repeat(3000),
            ")".repeat(3000)
        ));
        // A raw block's text is text; after it, tags count again.
        let raw = format!(
            "{{{{{{{{raw}}}}}}}}{}{{{{{{{{/raw}}}}}}}}",
            "{{#if a}}".repeat(100)
        );
        assert!(Template::compile(&raw).is_ok(), "{raw}");
        assert_too_deep(format!(
            "{{{{{{{{raw}}}}}}}} x {{{{{{{{/raw}}}}}}}}{{{{upper {}a{}}}}}",
            "(upper ".repeat(3000),
            ")".repeat(3000)
        ));
    }

    /// A nesting of `n` levels in one of the forms handlebars recurses on; each reads the
    /// variable `deep`, so a template whose variables lack it did not parse the nesting.
    fn nest(form: u8, n: usize) -> String {
        match form {
            0 => format!("{{{{upper {}deep{}}}}}", "(lower ".repeat(n), ")".repeat(n)),
            1 => format!("{}x{}", "{{#if deep}}".repeat(n), "{{/if}}".repeat(n)),
            2 => format!(
                "{{{{#if deep}}}}x{}{{{{/if}}}}",
                "{{else if deep}}y".repeat(n)
            ),
            3 => format!("{{{{default deep {}1{}}}}}", "[".repeat(n), "]".repeat(n)),
            4 => format!(
                "{{{{default deep {}1{}}}}}",
                "{\"k\":".repeat(n),
                "}".repeat(n)
            ),
            5 => format!("{}x{}", "{{#each deep}}".repeat(n), "{{/each}}".repeat(n)),
            6 => format!("{{{{upper {}deep", "(lower ".repeat(n)),
            _ => format!("{}x", "{{#if deep}}".repeat(n)),
        }
    }

    /// Text in one lexical form of handlebars, placed before the nesting: strings with
    /// parentheses and braces, bracketed segments with quotes, both comment forms (closed and
    /// not), raw blocks, escapes.
    fn prefix() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "",
            "Hi ",
            "{{default [a\"] \"x\"}}",
            "{{default [a'] 'x'}}",
            "{{default a \"(((\"}}",
            "{{default a \"}}\"}}",
            "{{default a \"\\\"((\"}}",
            "{{default a 'it''s'}}",
            "{{!-- x }}",
            "{{!-- x --}}",
            "{{!-- }} --}}",
            "{{! x }}",
            "{{! (((( }}",
            "{{{{raw}}}}{{#if a}}(((({{{{/raw}}}}",
            "{{{{raw}}}}x",
            "\\{{",
            "\\{{{{",
            "\\\\",
            "\\\\{{x}}",
            "{{x.[a b]}}",
            "{{x.[\"]}}",
            "{{default 1.[\"]\", \"x\"] \"y\"}}",
            "{{default [\"]\", \"((\"] a}}",
            "{{{name}}}",
            "{{&name}}",
            "{{~name~}}",
            "{{else}}",
            "{{> p}}",
            "{{> 'p'}}",
            "[",
            "\"",
            "(",
        ])
        .prop_map(str::to_owned)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the lexical forms around it, a nesting is either refused (past the limit) or
        /// compiles and renders, on a 256 KiB stack.
        #[test]
        fn nesting_in_every_lexical_form_is_bounded(
            before in prefix(),
            form in 0u8..8,
            n in prop_oneof![0usize..40, 40usize..3000],
            after in prefix(),
        ) {
            let body = format!("{before}{}{after}", nest(form, n));
            let result = compile_on_small_stack(body.clone());
            // Accepted past the limit only where the text around made the nesting text (an
            // escape, a comment, a raw block), so no variable of it was read.
            if n > Template::MAX_NESTING + 2 && let Ok(variables) = result {
                prop_assert!(!variables.split(' ').any(|v| v == "deep"), "accepted {} levels: {:?}", n, &body[..body.len().min(200)]);
            }
        }
    }
}

/// Issue 10, item 2: rendering one message is bounded in output and in work.
#[cfg(test)]
mod bounded_rendering {
    use serde_json::json;

    use super::Template;
    use crate::error::ErrorKind;

    #[test]
    fn output_stops_at_the_cap() {
        let big = "x".repeat(1 << 20);
        // The fast path and handlebars (a block makes the template use it).
        for body in [
            "{{x}}".repeat(10_000),
            format!("{{{{#if x}}}}{}{{{{/if}}}}", "{{x}}".repeat(10_000)),
        ] {
            let t = Template::compile(&body).unwrap();
            let err = t.render(&json!({"x": big})).unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::RenderTooLong {
                    id: None,
                    max_bytes: Template::MAX_OUTPUT_BYTES as u64
                }
            );
            assert!(err.to_string().contains("262144 bytes"), "{err}");
        }
        // Just under the cap is fine.
        let t = Template::compile("{{x}}{{x}}").unwrap();
        let half = "y".repeat(Template::MAX_OUTPUT_BYTES / 2);
        assert_eq!(
            t.render(&json!({"x": half})).unwrap().len(),
            Template::MAX_OUTPUT_BYTES
        );
    }

    #[test]
    fn nested_loops_over_root_stop_on_the_step_budget() {
        let list: Vec<u32> = (0..100).collect();
        let data = json!({"a": list});
        for depth in [4, 5] {
            let body = format!(
                "{}{}",
                "{{#each @root.a}}".repeat(depth),
                "{{/each}}".repeat(depth)
            );
            let t = Template::compile(&body).unwrap();
            let err = t.render(&data).unwrap_err();
            // The budget is the reason (not the output, which stays empty, nor a clock).
            assert_eq!(
                err.kind(),
                &ErrorKind::RenderBudget {
                    id: None,
                    max_steps: u64::from(Template::MAX_RENDER_STEPS)
                },
                "{depth}"
            );
        }
        // Two levels (10,000 bodies) are well within the budget.
        let t = Template::compile("{{#each @root.a}}{{#each @root.a}}{{/each}}{{/each}}.").unwrap();
        assert_eq!(t.render(&data).unwrap(), ".");
    }
}
