//! Field schemas: which fields a filter may name, their types, and which are searchable or sortable.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The type of a field, as the wire form names it. More types may come, so match with a
/// wildcard arm.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldType {
    /// Text (`text` in PostgreSQL).
    String,
    /// A number (`numeric`, `integer`, `bigint`, `real`... in PostgreSQL).
    Number,
    /// A calendar date, `YYYY-MM-DD` (`date` in PostgreSQL).
    Date,
    /// An instant, RFC 3339 (`timestamptz` in PostgreSQL).
    Timestamp,
    /// `true` or `false` (`boolean` in PostgreSQL).
    Boolean,
}

impl FieldType {
    /// The wire name: `"string"`, `"number"`, `"date"`, `"timestamp"` or `"boolean"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Date => "date",
            Self::Timestamp => "timestamp",
            Self::Boolean => "boolean",
        }
    }

    /// The PostgreSQL type the SQL back end casts parameters to.
    pub(crate) fn sql_cast(self) -> &'static str {
        match self {
            Self::String => "text",
            Self::Number => "numeric",
            Self::Date => "date",
            Self::Timestamp => "timestamptz",
            Self::Boolean => "boolean",
        }
    }
}

/// One field of a [`Schema`]; build one with [`Field::new`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Field {
    /// The column name, used verbatim in SQL and PostgREST (so it must be a plain identifier).
    pub name: String,
    /// The field's type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether free-text search looks in this field (string fields only).
    #[serde(default)]
    pub searchable: bool,
    /// Whether queries may sort (and page with a cursor) by this field.
    #[serde(default)]
    pub sortable: bool,
}

impl Field {
    /// A field that is neither searchable nor sortable.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Self {
            name: name.into(),
            ty,
            searchable: false,
            sortable: false,
        }
    }

    /// Sets whether free-text search looks in this field.
    pub fn searchable(mut self, yes: bool) -> Self {
        self.searchable = yes;
        self
    }

    /// Sets whether queries may sort by this field.
    pub fn sortable(mut self, yes: bool) -> Self {
        self.sortable = yes;
        self
    }
}

/// The fields filters may name: the default customer schema, or one of your own.
///
/// Every schema has an `id` field (number or string, sortable): it is the key the in-memory
/// evaluator reports and the tie-breaker that keeps sorted pages stable.
///
/// ```
/// use smsbatch::filter::{FieldType, Schema};
///
/// let schema = Schema::from_json(r#"{"fields": [
///     {"name": "id", "type": "number", "sortable": true},
///     {"name": "nickname", "type": "string", "searchable": true}
/// ]}"#)?;
/// assert_eq!(schema.field("nickname").map(|f| f.ty), Some(FieldType::String));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<Field>,
    index: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaWire {
    fields: Vec<Field>,
}

#[derive(Serialize)]
struct SchemaWireRef<'a> {
    fields: &'a [Field],
}

impl Serialize for Schema {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        SchemaWireRef {
            fields: &self.fields,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let wire = SchemaWire::deserialize(deserializer)?;
        Schema::new(wire.fields).map_err(serde::de::Error::custom)
    }
}

impl Default for Schema {
    fn default() -> Self {
        Self::customers()
    }
}

/// Words a column may not be called: PostgreSQL's reserved key words (a bare column name in SQL
/// would not parse) and the keys PostgREST reserves (`order=`, `limit=`... would not be filters).
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "columns",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "on_conflict",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Checks that `name` can be written bare in SQL and as a PostgREST key: `[a-z_][a-z0-9_]*`, at
/// most 63 bytes (PostgreSQL's identifier limit) and not a reserved word.
pub(crate) fn check_identifier(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "`{name}` is not a plain column name (lowercase ASCII letters, digits and `_`, not starting with a digit)"
        ));
    }
    if name.len() > 63 {
        return Err(format!(
            "`{name}` is longer than PostgreSQL's 63-byte identifier limit"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is a reserved word in SQL or PostgREST and cannot be used bare as a column name"
        ));
    }
    Ok(())
}

fn schema_error(path: String, message: String) -> Error {
    Error::new(ErrorKind::InvalidSchema { path, message })
}

impl Schema {
    /// Builds a schema from its fields, checking names (plain identifiers, unique), the `id`
    /// field, and that only string fields are searchable.
    pub fn new(fields: Vec<Field>) -> Result<Self> {
        let mut index = HashMap::with_capacity(fields.len());
        for (i, field) in fields.iter().enumerate() {
            check_identifier(&field.name)
                .map_err(|m| schema_error(format!("/fields/{i}/name"), m))?;
            if index.insert(field.name.clone(), i).is_some() {
                return Err(schema_error(
                    format!("/fields/{i}/name"),
                    format!("the field `{}` is listed twice", field.name),
                ));
            }
            if field.searchable && field.ty != FieldType::String {
                return Err(schema_error(
                    format!("/fields/{i}/searchable"),
                    format!(
                        "the field `{}` is a {} field; only string fields can be searchable",
                        field.name,
                        field.ty.as_str()
                    ),
                ));
            }
        }
        match index.get("id").map(|&i| &fields[i]) {
            None => {
                return Err(schema_error(
                    "/fields".into(),
                    "a schema needs an `id` field (the row key and the sort tie-breaker)".into(),
                ));
            }
            Some(id) if !matches!(id.ty, FieldType::Number | FieldType::String) => {
                return Err(schema_error(
                    format!("/fields/{}/type", index["id"]),
                    "the `id` field must be a number or a string".into(),
                ));
            }
            Some(id) if !id.sortable => {
                return Err(schema_error(
                    format!("/fields/{}/sortable", index["id"]),
                    "the `id` field must be sortable (it breaks ties between sorted rows)".into(),
                ));
            }
            Some(_) => {}
        }
        Ok(Self { fields, index })
    }

    /// Parses a schema from its JSON form `{"fields": [{"name", "type", "searchable", "sortable"}]}`.
    pub fn from_json(json: &str) -> Result<Self> {
        let wire: SchemaWire = serde_json::from_str(json).map_err(|e| {
            schema_error(
                String::new(),
                format!("the schema is not valid JSON of the expected shape: {e}"),
            )
        })?;
        Self::new(wire.fields)
    }

    /// Parses a schema from an already parsed JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<Self> {
        let wire = SchemaWire::deserialize(value).map_err(|e| {
            schema_error(
                String::new(),
                format!("the schema is not of the expected shape: {e}"),
            )
        })?;
        Self::new(wire.fields)
    }

    /// The default customer schema.
    ///
    /// | field | type | searchable | sortable |
    /// |---|---|---|---|
    /// | `id` | number | | yes |
    /// | `first_name`, `last_name`, `email`, `phone` | string | yes | yes |
    /// | `city`, `country` | string | yes | yes |
    /// | `language`, `gender` | string | | yes |
    /// | `date_create`, `last_order_at` | timestamp | | yes |
    /// | `birthday` | date | | yes |
    /// | `total_spent`, `orders_count` | number | | yes |
    /// | `opted_in`, `opted_out` | boolean | | yes |
    ///
    /// `opted_in` is the customer's consent to marketing messages (null: never asked);
    /// `opted_out` says the customer asked to stop (replied STOP), null counting as false. The
    /// preview's [`Purpose`](crate::Purpose) reads both, and [`AudiencePreset`] has filters for
    /// them.
    ///
    /// [`AudiencePreset`]: super::AudiencePreset
    pub fn customers() -> Self {
        use FieldType::*;
        let f = |name: &str, ty, searchable, sortable| Field {
            name: name.to_owned(),
            ty,
            searchable,
            sortable,
        };
        let fields = vec![
            f("id", Number, false, true),
            f("first_name", String, true, true),
            f("last_name", String, true, true),
            f("phone", String, true, true),
            f("email", String, true, true),
            f("city", String, true, true),
            f("country", String, true, true),
            f("language", String, false, true),
            f("gender", String, false, true),
            f("date_create", Timestamp, false, true),
            f("last_order_at", Timestamp, false, true),
            f("birthday", Date, false, true),
            f("total_spent", Number, false, true),
            f("orders_count", Number, false, true),
            f("opted_in", Boolean, false, true),
            f("opted_out", Boolean, false, true),
        ];
        // OK because the default fields are fixed and valid; a unit test builds them through `new`.
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        Self { fields, index }
    }

    /// The fields, in declaration order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.index.get(name).map(|&i| &self.fields[i])
    }

    /// The position of the `id` field (present in every schema).
    pub(crate) fn id_position(&self) -> usize {
        self.index.get("id").copied().unwrap_or(0)
    }

    /// Positions of the searchable fields.
    pub(crate) fn searchable(&self) -> impl Iterator<Item = usize> + '_ {
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.searchable)
            .map(|(i, _)| i)
    }

    /// The JSON form of the schema.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_passes_its_own_checks() {
        let built = Schema::new(Schema::customers().fields().to_vec()).unwrap();
        assert_eq!(built, Schema::customers());
        let round = Schema::from_json(&Schema::customers().to_json()).unwrap();
        assert_eq!(round, Schema::customers());
    }

    #[test]
    fn rejects_bad_names_duplicates_and_missing_id() {
        let err = |json: &str| Schema::from_json(json).unwrap_err();
        let e = err(
            r#"{"fields":[{"name":"id","type":"number","sortable":true},{"name":"First Name","type":"string"}]}"#,
        );
        assert_eq!(e.kind().code(), "invalidSchema");
        assert!(
            matches!(e.kind(), ErrorKind::InvalidSchema { path, .. } if path == "/fields/1/name")
        );
        let e = err(
            r#"{"fields":[{"name":"id","type":"number","sortable":true},{"name":"order","type":"string"}]}"#,
        );
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = err(
            r#"{"fields":[{"name":"id","type":"number","sortable":true},{"name":"id","type":"string"}]}"#,
        );
        assert!(e.to_string().contains("twice"), "{e}");
        let e = err(r#"{"fields":[{"name":"name","type":"string"}]}"#);
        assert!(e.to_string().contains("`id`"), "{e}");
        let e = err(r#"{"fields":[{"name":"id","type":"number"}]}"#);
        assert!(e.to_string().contains("sortable"), "{e}");
        let e = err(
            r#"{"fields":[{"name":"id","type":"number","sortable":true},{"name":"n","type":"number","searchable":true}]}"#,
        );
        assert!(e.to_string().contains("only string fields"), "{e}");
        let e = err(r#"{"fields":[{"name":"id","type":"uuid","sortable":true}]}"#);
        assert!(e.to_string().contains("uuid"), "{e}");
        let e = err(r#"{"fields":[{"name":"id","type":"number","sortable":true,"extra":1}]}"#);
        assert!(e.to_string().contains("extra"), "{e}");
        assert!(check_identifier(&"a".repeat(64)).is_err());
        assert!(check_identifier("_a1").is_ok());
        assert!(check_identifier("1a").is_err());
    }
}
