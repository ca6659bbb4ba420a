//! What a parsed template reads from the data (its variables) and the text it always sends (its
//! static text), found by walking handlebars' syntax tree.

use handlebars::template::{BlockParam, HelperTemplate, Parameter, TemplateElement};
use handlebars::{Path, PathSeg};

use super::helpers::{BUILTIN_HELPERS, HelperKind};

/// Marks "any item of the list" in a variable path: `orders[].total`.
const ITEM: &str = "[]";

/// True for the names of helpers a template may call.
pub(crate) fn is_helper(name: &str) -> bool {
    BUILTIN_HELPERS.contains(&name) || HelperKind::from_name(name).is_some()
}

/// The special steps of a handlebars path (`@root`, `../`, `@index`), told apart by the parser
/// rule's name because handlebars does not export the rule type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Root,
    Up,
    Other,
}

fn step(seg: &PathSeg) -> Option<Step> {
    match seg {
        PathSeg::Named(_) => None,
        PathSeg::Ruled(rule) => Some(match format!("{rule:?}").as_str() {
            "path_root" => Step::Root,
            "path_up" => Step::Up,
            _ => Step::Other,
        }),
        // `PathSeg` is non-exhaustive; an unknown step makes the path unknowable.
        _ => Some(Step::Other),
    }
}

/// The named segments of a path made only of names (`a.b.[0]`), or `None` if it uses `this`-less
/// special steps such as `../`, `@root` or `@index`.
pub(crate) fn simple_segments(path: &Path) -> Option<Vec<String>> {
    match path {
        Path::Relative((segs, _)) => segs
            .iter()
            .map(|s| match s {
                PathSeg::Named(n) => Some(n.clone()),
                _ => None,
            })
            .collect(),
        Path::Local(_) => None,
    }
}

/// One context level of the walk: where `this` points, and the block parameters it defines.
#[derive(Clone, Debug)]
struct Scope {
    /// The data path of `this`; `None` when it is not a path of the data (a literal or a helper
    /// result), so relative variables inside cannot be named.
    this: Option<Vec<String>>,
    params: Vec<(String, Option<Vec<String>>)>,
}

/// Collects variables in first-use order, without repeats.
#[derive(Debug, Default)]
struct Collector {
    vars: Vec<String>,
}

impl Collector {
    fn add(&mut self, segs: &[String]) {
        if segs.is_empty() || segs.iter().all(|s| s == ITEM) {
            return;
        }
        let mut name = String::new();
        for seg in segs {
            if seg != ITEM && !name.is_empty() {
                name.push('.');
            }
            name.push_str(seg);
        }
        if !self.vars.contains(&name) {
            self.vars.push(name);
        }
    }
}

/// Resolves `path` against the scopes to a path from the data's root.
fn resolve(path: &Path, scopes: &[Scope]) -> Option<Vec<String>> {
    let Path::Relative((segs, _)) = path else {
        // `@index`, `@first`, `@key`...: values of the block, not of the data.
        return None;
    };
    let mut ups = 0;
    let mut rest = &segs[..];
    let mut base: Option<Vec<String>> = None;
    while let Some((first, tail)) = rest.split_first() {
        match step(first) {
            None => break,
            Some(Step::Root) => {
                base = Some(Vec::new());
                rest = tail;
                break;
            }
            Some(Step::Up) => {
                ups += 1;
                rest = tail;
            }
            Some(Step::Other) => return None,
        }
    }
    let scopes = &scopes[..scopes.len().saturating_sub(ups).max(1)];
    let mut base = match base {
        Some(root) => root,
        None => {
            // Block parameters are looked up from the innermost block out, as handlebars does.
            if let Some(PathSeg::Named(first)) = rest.first()
                && let Some(found) = scopes.iter().rev().find_map(|s| {
                    s.params
                        .iter()
                        .find(|(name, _)| name == first)
                        .map(|(_, p)| p.clone())
                })
            {
                rest = &rest[1..];
                found?
            } else {
                scopes.last()?.this.clone()?
            }
        }
    };
    for seg in rest {
        match seg {
            PathSeg::Named(n) => base.push(n.clone()),
            _ => return None,
        }
    }
    Some(base)
}

fn param_vars(p: &Parameter, scopes: &[Scope], out: &mut Collector) {
    match p {
        Parameter::Path(path) => {
            if let Some(segs) = resolve(path, scopes) {
                out.add(&segs);
            }
        }
        Parameter::Subexpression(sub) => {
            if let TemplateElement::Expression(ht) = sub.as_element() {
                call_vars(ht, scopes, out);
            }
        }
        _ => {}
    }
}

/// Variables read by the arguments of a helper call.
fn call_vars(ht: &HelperTemplate, scopes: &[Scope], out: &mut Collector) {
    for p in &ht.params {
        param_vars(p, scopes, out);
    }
    let mut hash: Vec<_> = ht.hash.iter().collect();
    crate::sort::sort_by(&mut hash, |a, b| a.0.cmp(b.0));
    for (_, p) in hash {
        param_vars(p, scopes, out);
    }
}

fn walk(elements: &[TemplateElement], scopes: &mut Vec<Scope>, out: &mut Collector) {
    for element in elements {
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                let helper_name = ht.name.as_name().filter(|n| is_helper(n));
                if ht.params.is_empty() && ht.hash.is_empty() && helper_name.is_none() {
                    param_vars(&ht.name, scopes, out);
                } else {
                    call_vars(ht, scopes, out);
                }
            }
            TemplateElement::HelperBlock(ht) => block_vars(ht, scopes, out),
            _ => {}
        }
    }
}

fn block_vars(ht: &HelperTemplate, scopes: &mut Vec<Scope>, out: &mut Collector) {
    call_vars(ht, scopes, out);
    let name = ht.name.as_name().unwrap_or_default();
    let target = match ht.params.first() {
        Some(Parameter::Path(path)) => resolve(path, scopes),
        _ => None,
    };
    let inner = match name {
        "each" => Some(target.map(|mut t| {
            t.push(ITEM.to_owned());
            t
        })),
        "with" => Some(target),
        _ => None,
    };
    if let Some(template) = &ht.template {
        match inner {
            Some(this) => {
                let mut params = Vec::new();
                match &ht.block_param {
                    Some(BlockParam::Single(Parameter::Name(n))) => {
                        params.push((n.clone(), this.clone()));
                    }
                    Some(BlockParam::Pair((Parameter::Name(n), Parameter::Name(index)))) => {
                        params.push((n.clone(), this.clone()));
                        // The second parameter is the item's index or key: not data.
                        params.push((index.clone(), None));
                    }
                    _ => {}
                }
                scopes.push(Scope { this, params });
                walk(&template.elements, scopes, out);
                scopes.pop();
            }
            None => walk(&template.elements, scopes, out),
        }
    }
    // `{{else}}` renders in the enclosing context.
    if let Some(inverse) = &ht.inverse {
        walk(&inverse.elements, scopes, out);
    }
}

/// The variables `elements` read, as paths from the data's root in first-use order: `first_name`,
/// `order.total`, `items[].name` for a field of every item of a list.
pub(crate) fn variables(elements: &[TemplateElement]) -> Vec<String> {
    let mut scopes = vec![Scope {
        this: Some(Vec::new()),
        params: Vec::new(),
    }];
    let mut out = Collector::default();
    walk(elements, &mut scopes, &mut out);
    out.vars
}

/// The text outside every tag and block: what every rendering of the template contains.
pub(crate) fn static_text(elements: &[TemplateElement]) -> String {
    elements
        .iter()
        .filter_map(|e| match e {
            TemplateElement::RawString(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(src: &str) -> Vec<String> {
        let t = handlebars::Template::compile(src).unwrap();
        variables(&t.elements)
    }

    #[test]
    fn plain_and_nested_paths() {
        assert_eq!(
            vars("Hi {{first_name}}, {{order.total}} {{a/b}} {{this.c}} {{[last name]}}"),
            ["first_name", "order.total", "a.b", "c", "last name"]
        );
        assert_eq!(vars("{{x}} {{x}} {{y}}"), ["x", "y"], "no repeats");
        assert_eq!(vars("no variables"), Vec::<String>::new());
    }

    #[test]
    fn inside_helpers_and_subexpressions() {
        assert_eq!(
            vars(r#"{{default nick first_name "there"}} {{upper (truncate city n)}}"#),
            ["nick", "first_name", "city", "n"]
        );
        assert_eq!(vars("{{upper}}"), Vec::<String>::new());
    }

    #[test]
    fn inside_blocks() {
        assert_eq!(
            vars("{{#if vip}}Dear {{title}} {{else}}Hi{{/if}} {{name}}"),
            ["vip", "title", "name"]
        );
        assert_eq!(
            vars("{{#unless opted}}{{a}}{{/unless}}{{#if x}}{{else if y}}{{b}}{{/if}}"),
            ["opted", "a", "x", "y", "b"]
        );
        assert_eq!(
            vars("{{#with address}}{{city}} {{../name}} {{@root.id}}{{/with}}"),
            ["address", "address.city", "name", "id"]
        );
        assert_eq!(
            vars("{{#each items}}{{name}} {{@index}} {{this}}{{/each}}"),
            ["items", "items[].name", "items[]"]
        );
        assert_eq!(
            vars("{{#each items as |item i|}}{{item.sku}} {{i}} {{../total}}{{/each}}"),
            ["items", "items[].sku", "total"]
        );
        assert_eq!(
            vars("{{#with customer as |c|}}{{c.name}}{{/with}}"),
            ["customer", "customer.name"]
        );
    }

    #[test]
    fn static_text_skips_tags_and_blocks() {
        let t = handlebars::Template::compile("Hi {{name}}, {{#if x}}maybe{{/if}}bye").unwrap();
        assert_eq!(static_text(&t.elements), "Hi , bye");
    }
}
