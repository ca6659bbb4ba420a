//! Templates: plain-text rendering, strictness, helpers, syntax errors, variables, metadata and
//! search, through the public API.

use serde_json::json;
use smsbatch::{Encoding, ErrorKind, Segmenter, Template, TemplateRecord, search_templates};

#[test]
fn html_characters_pass_through_unescaped() {
    let t = Template::compile("{{name}} & <{{company}}> \"{{{quote}}}\" 'ok'").unwrap();
    let out = t
        .render(&json!({"name": "Ana & Bo", "company": "<Acme>", "quote": "\"yes\" & 'no'"}))
        .unwrap();
    assert_eq!(out, "Ana & Bo & <<Acme>> \"\"yes\" & 'no'\" 'ok'");
}

#[test]
fn missing_and_null_variables_are_errors() {
    let t = Template::compile("Hi {{first_name}}, {{order.total}}").unwrap();
    for (data, variable) in [
        (json!({"order": {"total": 5}}), "first_name"),
        (
            json!({"first_name": null, "order": {"total": 5}}),
            "first_name",
        ),
        (json!({"first_name": "Ana", "order": {}}), "order.total"),
        (json!({"first_name": "Ana", "order": null}), "order.total"),
    ] {
        let err = t.render(&data).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::MissingVariable {
                id: None,
                variable: variable.into()
            },
            "{data}"
        );
        assert!(err.is_missing_variable());
    }
    assert_eq!(
        t.render(&json!({"first_name": "Ana", "order": {"total": 5}}))
            .unwrap(),
        "Hi Ana, 5"
    );
}

#[test]
fn default_fallback() {
    let t = Template::compile("Hi {{default first_name \"there\"}}!").unwrap();
    for (data, out) in [
        (json!({"first_name": "Ana"}), "Hi Ana!"),
        (json!({}), "Hi there!"),
        (json!({"first_name": null}), "Hi there!"),
        (json!({"first_name": ""}), "Hi there!"),
        (json!({"first_name": 0}), "Hi 0!"),
    ] {
        assert_eq!(t.render(&data).unwrap(), out, "{data}");
    }
    // A chain of fallbacks, and a variable as the last one.
    let t = Template::compile("{{default nickname first_name}}").unwrap();
    assert_eq!(t.render(&json!({"first_name": "Ana"})).unwrap(), "Ana");
    assert!(t.render(&json!({})).unwrap_err().is_missing_variable());
}

#[test]
fn helpers() {
    let t = Template::compile(
        "{{upper city}} {{lower code}} {{capitalize name}} {{truncate note 8 \"…\"}} {{date day \"%d/%m/%Y\"}}",
    )
    .unwrap();
    assert!(t.is_compiled());
    let out = t
        .render(&json!({"city": "São Paulo", "code": "ÀBC", "name": "élodie", "note": "See you 👋🏽 soon!", "day": "2025-07-04"}))
        .unwrap();
    assert_eq!(out, "SÃO PAULO àbc Élodie See you… 04/07/2025");
    let t = Template::compile("{{truncate note 9}}").unwrap();
    assert_eq!(
        t.render(&json!({"note": "See you 👋🏽 soon!"})).unwrap(),
        "See you 👋🏽",
        "the emoji with its skin tone is one character"
    );
}

#[test]
fn syntax_errors_report_line_and_column() {
    let err = Template::compile("Hello {{name}},\n\nyour code: {{#if code}}{{code}}").unwrap_err();
    assert!(err.is_template_syntax());
    let ErrorKind::TemplateSyntax { line, column, .. } = err.kind() else {
        unreachable!()
    };
    assert_eq!((*line, *column), (3, 32));
    let err = Template::compile("Hi {{shout name}}").unwrap_err();
    let ErrorKind::TemplateSyntax {
        line,
        column,
        message,
    } = err.kind()
    else {
        unreachable!()
    };
    assert_eq!((*line, *column), (1, 4));
    assert!(message.contains("unknown helper \"shout\""), "{message}");
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(json["kind"], "templateSyntax");
    assert_eq!(
        (json["line"].clone(), json["column"].clone()),
        (json!(1), json!(4))
    );
}

#[test]
fn variables_include_helpers_and_blocks() {
    let t = Template::compile(
        "{{#if vip}}Dear {{upper title}} {{/if}}{{default first_name \"there\"}}, \
         {{#each orders}}{{id}}: {{truncate name 10}} {{/each}}{{#with address}}{{city}}{{/with}}",
    )
    .unwrap();
    assert_eq!(
        t.variables(),
        [
            "vip",
            "title",
            "first_name",
            "orders",
            "orders[].id",
            "orders[].name",
            "address",
            "address.city"
        ]
    );
    assert!(!t.is_compiled(), "blocks render with handlebars");
}

#[test]
fn metadata_and_search() {
    let at = "2025-01-10T09:00:00Z".parse().unwrap();
    let record = |id: &str, name: &str, body: &str| TemplateRecord::new(id, name, body, at);
    let long = record(
        "long",
        "Newsletter",
        &format!("{{{{name}}}} {}", "x".repeat(200)),
    );
    let meta = long.metadata(&Segmenter::default()).unwrap();
    assert_eq!(meta.variables, ["name"]);
    assert_eq!((meta.encoding, meta.min_segments), (Encoding::Gsm7, 2));
    let greek = record("el", "Καλημέρα", "Καλημέρα {{name}}");
    let meta = greek.metadata(&Segmenter::default()).unwrap();
    assert_eq!(meta.encoding, Encoding::Ucs2);
    let broken = record("bad", "Broken", "{{#if}}");
    assert!(broken.metadata(&Segmenter::default()).is_err());

    let all = [long, greek, broken];
    let found: Vec<&str> = search_templates(&all, "καλημερα")
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(found, ["el"], "case- and accent-insensitive");
    assert_eq!(search_templates(&all, "NEWS").len(), 1);
    assert_eq!(search_templates(&all, "{{name}}").len(), 2);
}
