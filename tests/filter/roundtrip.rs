//! Property tests: the AST prints back to the JSON it was parsed from, and compilation never
//! panics on arbitrary (possibly invalid) input.

use proptest::prelude::*;
use serde_json::{Value, json};
use smsbatch::filter::{Filter, FilterOptions, Node, Op, Schema};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(Value::Array)
    })
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            Schema::customers()
                .fields()
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
        ),
        "[a-z~/]{1,6}",
    ]
}

fn node_json() -> impl Strategy<Value = Value> {
    let cond = (
        field(),
        prop::sample::select(Op::ALL.to_vec()),
        json_value(),
    )
        .prop_map(|(f, op, v)| {
            if op.value_shape() == smsbatch::filter::ValueShape::None {
                json!({"field": f, "op": op.as_str()})
            } else {
                json!({"field": f, "op": op.as_str(), "value": v})
            }
        });
    cond.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "and": v })),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "or": v })),
            inner.prop_map(|n| json!({ "not": n })),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_parse_round_trip(v in node_json()) {
        let node = Node::from_value(&v).expect("well-shaped");
        prop_assert_eq!(node.to_value(), v.clone());
        let again = Node::from_value(&serde_json::to_value(&node).expect("serialize")).expect("parse");
        prop_assert_eq!(again, node);
    }

    #[test]
    fn compile_never_panics_and_errors_name_a_real_node(v in node_json()) {
        let options = FilterOptions::new().with_now_rfc3339("2024-01-01T00:00:00Z").expect("now");
        match Filter::from_value(&v, &Schema::customers(), &options) {
            Ok(f) => {
                let _ = f.postgrest().query_string();
                let _ = f.sql_where();
            }
            Err(e) => {
                let path = e.kind().path().expect("filter errors carry a path");
                prop_assert!(v.pointer(path).is_some(), "{} does not point into {}", path, v);
                prop_assert!(e.is_filter_error());
            }
        }
    }
}
