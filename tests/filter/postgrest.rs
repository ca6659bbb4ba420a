//! The PostgREST strings emitted for each operator, checked against hand-derived expectations.
//! Each comment gives the grammar rule (see PostgREST's `QueryParams.hs`) the expectation follows.

use serde_json::{Value, json};
use smsbatch::filter::{Filter, FilterOptions, Schema};

fn compile(v: Value) -> Filter {
    let options = FilterOptions::new()
        .with_now_rfc3339("2024-03-10T12:00:00Z")
        .expect("now");
    Filter::from_value(&v, &Schema::customers(), &options).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// The raw pairs.
fn pairs(v: Value) -> Vec<(String, String)> {
    compile(v).postgrest().into_pairs()
}

fn one(k: &str, val: &str) -> Vec<(String, String)> {
    vec![(k.to_owned(), val.to_owned())]
}

fn query(v: Value) -> String {
    compile(v).postgrest().query_string()
}

#[test]
fn equality_at_top_level_is_raw() {
    // A top-level value is the rest of the parameter, verbatim: `,` `(` `)` `.` `:` and quotes
    // need no escaping there, and quotes would be literal characters.
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "equals", "value": "Smith, John"})),
        one("last_name", "eq.Smith, John")
    );
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "equals", "value": "say \"hi\" (x)"})),
        one("last_name", "eq.say \"hi\" (x)")
    );
    // `eq.` is the empty string.
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "equals", "value": ""})),
        one("last_name", "eq.")
    );
    // Spaces are kept; form encoding writes them as `+` and `,` as `%2C`.
    assert_eq!(
        query(json!({"field": "last_name", "op": "equals", "value": "  Smith, J  "})),
        "last_name=eq.++Smith%2C+J++"
    );
}

#[test]
fn negative_equality_keeps_nulls() {
    // `neq` is `<>`, which drops NULL rows; `isdistinct` (IS DISTINCT FROM) keeps them.
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "notEquals", "value": "Smith, John"})),
        one("last_name", "isdistinct.Smith, John")
    );
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "notEquals", "value": ""})),
        one("last_name", "isdistinct.")
    );
    assert_eq!(
        pairs(json!({"field": "opted_in", "op": "notEquals", "value": false})),
        one("opted_in", "isdistinct.false")
    );
    assert_eq!(
        pairs(json!({"field": "total_spent", "op": "notEquals", "value": 5})),
        one("total_spent", "isdistinct.5")
    );
}

#[test]
fn lists_quote_every_element() {
    // Unquoted list elements cannot hold `,` or `)` and lose leading spaces, so every element is
    // quoted, with `\` and `"` escaped by `\`.
    assert_eq!(
        pairs(
            json!({"field": "last_name", "op": "in", "value": ["Smith, John", "Seven(007)", "a\"b\\c", " x"]})
        ),
        one(
            "last_name",
            r#"in.("Smith, John","Seven(007)","a\"b\\c"," x")"#
        )
    );
    // `not.in` drops NULL rows, so the negation is `or(col.is.null, col.not.in...)`.
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "notIn", "value": ["a", "b"]})),
        one("or", r#"(last_name.is.null,last_name.not.in.("a","b"))"#)
    );
    // A one-element list is an equality (so `in [""]` is `eq.`, never `in.("")`, which PostgREST
    // turns into an empty array that matches nothing).
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "in", "value": [""]})),
        one("last_name", "eq.")
    );
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "notIn", "value": [""]})),
        one("last_name", "isdistinct.")
    );
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "in", "value": ["", "x"]})),
        one("last_name", r#"in.("","x")"#)
    );
    // `in []` matches nothing: `id=in.()` becomes `= ANY('{}')`. `notIn []` matches everything:
    // no parameter at all.
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "in", "value": []})),
        one("id", "in.()")
    );
    assert_eq!(
        pairs(json!({"field": "last_name", "op": "notIn", "value": []})),
        vec![]
    );
    assert_eq!(
        query(json!({"field": "total_spent", "op": "in", "value": [1, 2.5]})),
        "total_spent=in.%28%221%22%2C%222.5%22%29"
    );
}

#[test]
fn emptiness() {
    // Strings: NULL or ''. Top level has no OR, so it is an `or=` parameter; '' inside a tree is `""`.
    assert_eq!(
        pairs(json!({"field": "phone", "op": "isEmpty"})),
        one("or", r#"(phone.is.null,phone.eq."")"#)
    );
    // `neq.` (<> '') is false for '' and NULL for NULL: exactly the non-empty strings.
    assert_eq!(
        pairs(json!({"field": "phone", "op": "isNotEmpty"})),
        one("phone", "neq.")
    );
    // Other types: NULL only. `not.is.null`, never `is.not_null` (PostgREST 13+ only).
    assert_eq!(
        pairs(json!({"field": "birthday", "op": "isEmpty"})),
        one("birthday", "is.null")
    );
    assert_eq!(
        pairs(json!({"field": "birthday", "op": "isNotEmpty"})),
        one("birthday", "not.is.null")
    );
}

#[test]
fn patterns_escape_like_then_add_wildcards() {
    // LIKE escapes first (`\` `%` `_` get a `\`), then the `*` wildcards PostgREST turns into `%`.
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "contains", "value": "50%_off"})),
        one("first_name", r"ilike.*50\%\_off*")
    );
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "contains", "value": r"C:\path"})),
        one("first_name", r"ilike.*C:\\path*")
    );
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "startsWith", "value": "Jo"})),
        one("first_name", "ilike.Jo*")
    );
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "endsWith", "value": "x)"})),
        one("first_name", "ilike.*x)")
    );
    // ...then form encoding: `+` must travel as `%2B` or PostgREST reads a space.
    assert_eq!(
        query(json!({"field": "phone", "op": "startsWith", "value": "+44"})),
        "phone=ilike.%2B44*"
    );
    assert_eq!(
        query(json!({"field": "first_name", "op": "contains", "value": "50%_off"})),
        "first_name=ilike.*50%5C%25%5C_off*"
    );
    // Negated patterns drop NULL rows in PostgREST (`not.ilike` is SQL NOT), hence the `or`; inside
    // the tree the value is quoted, so the backslash is escaped twice: LIKE, then quoting.
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "notContains", "value": r"C:\path"})),
        one(
            "or",
            r#"(first_name.is.null,first_name.not.ilike."*C:\\\\path*")"#
        )
    );
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "notStartsWith", "value": "a,b"})),
        one("or", r#"(first_name.is.null,first_name.not.ilike."a,b*")"#)
    );
    // `contains ""` is every non-empty string, `notContains ""` is NULL or ''.
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "contains", "value": ""})),
        one("first_name", "neq.")
    );
}

#[test]
fn a_literal_star_uses_a_case_folding_regex() {
    // like/ilike cannot match a literal `*` (every `*` becomes `%`, and `\*` becomes `\%`), so a
    // value holding one is a regular expression with `match`: each letter a class of everything
    // that lowercases to it (ILIKE's rule; `imatch` differs on letters like the Kelvin sign),
    // ASCII punctuation escaped, `^`/`$` anchoring startsWith/endsWith.
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "contains", "value": "a*b.c"})),
        one("first_name", r"match.[aA]\*[bB]\.[cC]")
    );
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "startsWith", "value": "K*"})),
        one("first_name", "match.^[kK\u{212A}]\\*")
    );
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "endsWith", "value": "*"})),
        one("first_name", r"match.\*$")
    );
    // Negated: NULL-inclusive, and the regex's backslashes escaped again inside the quotes.
    assert_eq!(
        pairs(json!({"field": "first_name", "op": "notContains", "value": "a*b"})),
        one(
            "or",
            r#"(first_name.is.null,first_name.not.match."[aA]\\*[bB]")"#
        )
    );
    assert_eq!(
        query(json!({"field": "first_name", "op": "contains", "value": "1+1*"})),
        "first_name=match.1%5C%2B1%5C*"
    );
}

#[test]
fn comparisons_and_ranges() {
    // Numbers print without exponent or needless fraction, so integer columns accept them.
    assert_eq!(
        pairs(json!({"field": "total_spent", "op": "gt", "value": 5.0})),
        one("total_spent", "gt.5")
    );
    assert_eq!(
        pairs(json!({"field": "total_spent", "op": "gte", "value": 1e3})),
        one("total_spent", "gte.1000")
    );
    assert_eq!(
        pairs(json!({"field": "total_spent", "op": "lt", "value": 2.5})),
        one("total_spent", "lt.2.5")
    );
    assert_eq!(
        pairs(json!({"field": "birthday", "op": "lte", "value": "2000-01-31"})),
        one("birthday", "lte.2000-01-31")
    );
    // Top-level parameters are ANDed, so `between` is two of them on the same key.
    assert_eq!(
        pairs(json!({"field": "total_spent", "op": "between", "value": [1, 2]})),
        vec![
            ("total_spent".into(), "gte.1".into()),
            ("total_spent".into(), "lte.2".into())
        ]
    );
    // Outside the range or NULL.
    assert_eq!(
        pairs(json!({"field": "total_spent", "op": "notBetween", "value": [1, 2]})),
        one(
            "or",
            r#"(total_spent.is.null,total_spent.lt."1",total_spent.gt."2")"#
        )
    );
}

#[test]
fn timestamps_are_utc_and_days_are_ranges() {
    // Instants are written in UTC with `Z`: no `+` offset to encode, no session time zone.
    assert_eq!(
        pairs(
            json!({"field": "date_create", "op": "equals", "value": "2024-06-30T08:00:00+02:00"})
        ),
        one("date_create", "eq.2024-06-30T06:00:00Z")
    );
    assert_eq!(
        query(json!({"field": "date_create", "op": "gt", "value": "2024-06-30T08:00:00.5+02:00"})),
        "date_create=gt.2024-06-30T06%3A00%3A00.5Z"
    );
    // A date-only value is the whole UTC day: [start, next day's start).
    assert_eq!(
        pairs(json!({"field": "date_create", "op": "equals", "value": "2024-02-29"})),
        vec![
            ("date_create".into(), "gte.2024-02-29T00:00:00Z".into()),
            ("date_create".into(), "lt.2024-03-01T00:00:00Z".into())
        ]
    );
    assert_eq!(
        pairs(json!({"field": "date_create", "op": "lte", "value": "2024-02-29"})),
        one("date_create", "lt.2024-03-01T00:00:00Z")
    );
    assert_eq!(
        pairs(json!({"field": "date_create", "op": "notEquals", "value": "2024-02-29"})),
        one(
            "or",
            r#"(date_create.is.null,date_create.lt."2024-02-29T00:00:00Z",date_create.gte."2024-03-01T00:00:00Z")"#
        )
    );
    // withinLastDays: now - N×24h to now (timestamps), today - N to today (dates).
    assert_eq!(
        pairs(json!({"field": "birthday", "op": "withinLastDays", "value": 7})),
        vec![
            ("birthday".into(), "gte.2024-03-03".into()),
            ("birthday".into(), "lte.2024-03-10".into())
        ]
    );
    assert_eq!(
        pairs(json!({"field": "date_create", "op": "notWithinLastDays", "value": 1})),
        one(
            "or",
            r#"(date_create.is.null,date_create.lt."2024-03-09T12:00:00Z",date_create.gt."2024-03-10T12:00:00Z")"#
        )
    );
}

#[test]
fn booleans_use_is() {
    // `IS` never yields NULL, so `not.is.true` is false-or-NULL, as `isNotTrue` means.
    assert_eq!(
        pairs(json!({"field": "opted_in", "op": "isTrue"})),
        one("opted_in", "is.true")
    );
    assert_eq!(
        pairs(json!({"field": "opted_in", "op": "isFalse"})),
        one("opted_in", "is.false")
    );
    assert_eq!(
        pairs(json!({"field": "opted_in", "op": "isNotTrue"})),
        one("opted_in", "not.is.true")
    );
    assert_eq!(
        pairs(json!({"field": "opted_in", "op": "isNotFalse"})),
        one("opted_in", "not.is.false")
    );
    assert_eq!(
        pairs(json!({"field": "opted_in", "op": "equals", "value": true})),
        one("opted_in", "eq.true")
    );
}

#[test]
fn groups_and_negation() {
    // Inside `or=(..)` every value is quoted: an unquoted `)` would silently truncate the value.
    assert_eq!(
        pairs(json!({"or": [
            {"field": "city", "op": "equals", "value": "Seven(007)"},
            {"field": "first_name", "op": "contains", "value": "a,b"}
        ]})),
        one("or", r#"(city.eq."Seven(007)",first_name.ilike."*a,b*")"#)
    );
    // A root `and` is one parameter per child (parameters are ANDed); nested groups are
    // `and(..)`/`or(..)` inside the tree.
    assert_eq!(
        pairs(json!({"and": [
            {"field": "city", "op": "equals", "value": "Lyon"},
            {"or": [
                {"and": [{"field": "opted_in", "op": "isTrue"}, {"field": "total_spent", "op": "gt", "value": 10}]},
                {"field": "phone", "op": "isEmpty"}
            ]},
            {"or": [{"field": "gender", "op": "equals", "value": "f"}, {"field": "gender", "op": "isEmpty"}]}
        ]})),
        vec![
            ("city".into(), "eq.Lyon".into()),
            (
                "or".into(),
                r#"(and(opted_in.is.true,total_spent.gt."10"),phone.is.null,phone.eq."")"#.into()
            ),
            (
                "or".into(),
                r#"(gender.eq."f",gender.is.null,gender.eq."")"#.into()
            ),
        ]
    );
    // `not` is pushed to the leaves (De Morgan), each leaf negated NULL-inclusively: PostgREST's
    // `not.and(..)` would be SQL NOT and drop rows where a comparison is NULL.
    assert_eq!(
        pairs(json!({"not": {"and": [
            {"field": "city", "op": "equals", "value": "Lyon"},
            {"field": "total_spent", "op": "gt", "value": 10}
        ]}})),
        one(
            "or",
            r#"(city.isdistinct."Lyon",total_spent.is.null,total_spent.lte."10")"#
        )
    );
    // An empty `or` matches nothing, an empty `and` everything.
    assert_eq!(pairs(json!({"or": []})), one("id", "in.()"));
    assert_eq!(pairs(json!({"and": []})), vec![]);
}
