//! The schema cache: the tables, views and functions of the served schemas, read from the
//! catalogs at start and on [`crate::Server::reload_schema`]. Every identifier a request names is
//! checked against it before any SQL is built.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;

/// A column of a table, a view or a function's result.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// `format_type(atttypid, atttypmod)`: what `json_to_recordset` converts a body value to.
    pub(crate) type_sql: String,
    /// The base type's name (`tsvector`, `json`, `jsonb`, ...), domains resolved.
    pub(crate) base_type: String,
    /// `pg_get_expr(adbin)`: the default, for `Prefer: missing=default`.
    pub(crate) default: Option<String>,
}

/// A table, view, materialised view or foreign table.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) primary_key: Vec<String>,
}

impl Table {
    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A function argument.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    /// Empty for an unnamed argument.
    pub(crate) name: String,
    /// The type to cast a value to (`character` widened to `character varying`, as PostgREST
    /// does, so a value is not padded or cut).
    pub(crate) type_sql: String,
    pub(crate) required: bool,
    pub(crate) variadic: bool,
}

/// What a function returns, as PostgREST tells results apart.
#[derive(Clone, Debug)]
pub(crate) enum Returns {
    /// A base type, a domain, a pseudo-type such as `record`; `void` included.
    Scalar { set: bool, void: bool },
    /// A row type or OUT/TABLE parameters; the columns when they are known.
    Composite { set: bool, columns: Vec<Column> },
}

#[derive(Clone, Debug)]
pub(crate) struct Function {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) params: Vec<Param>,
    pub(crate) returns: Returns,
    /// `v`, `s` or `i` (`provolatile`): a volatile function called by POST may write.
    pub(crate) volatile: bool,
}

impl Function {
    /// `name(arg => type, ...)` for error messages.
    pub(crate) fn signature(&self) -> String {
        let args: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{} => {}", p.name, p.type_sql))
            .collect();
        format!("{}.{}({})", self.schema, self.name, args.join(", "))
    }
}

/// One schema's tables and functions.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schema {
    pub(crate) tables: BTreeMap<String, Table>,
    pub(crate) functions: BTreeMap<String, Vec<Function>>,
}

/// The function a call resolves to.
pub(crate) enum Resolved<'a> {
    /// Named arguments: pass the given ones.
    Named(&'a Function),
    /// One unnamed `json`/`jsonb` argument: pass the whole body.
    SingleUnnamed(&'a Function),
}

impl Schema {
    /// PostgREST's `findProc`: the overload whose parameters fit the argument names (every
    /// required one given, no unknown one), else the one with a single unnamed `json`/`jsonb`
    /// parameter when the call is a POST with a JSON body. `Err` holds the candidates when
    /// several fit, and is empty when none does.
    pub(crate) fn find_function(
        &self,
        name: &str,
        keys: &std::collections::BTreeSet<String>,
        post_json: bool,
    ) -> Result<Resolved<'_>, Vec<&Function>> {
        let candidates = self.functions.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let matches_params = |f: &Function| {
            if f.params.is_empty() {
                return keys.is_empty();
            }
            let required: std::collections::BTreeSet<&str> = f
                .params
                .iter()
                .filter(|p| p.required)
                .map(|p| p.name.as_str())
                .collect();
            let optional: std::collections::BTreeSet<&str> = f
                .params
                .iter()
                .filter(|p| !p.required)
                .map(|p| p.name.as_str())
                .collect();
            let given: std::collections::BTreeSet<&str> = keys.iter().map(String::as_str).collect();
            if optional.is_empty() {
                given == required
            } else if required.is_empty() {
                given.is_subset(&optional)
            } else {
                given
                    .difference(&optional)
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>()
                    == required
            }
        };
        let single_unnamed = |f: &Function| {
            post_json
                && f.params.len() == 1
                && f.params[0].name.is_empty()
                && matches!(f.params[0].type_sql.as_str(), "json" | "jsonb")
        };
        let named: Vec<&Function> = candidates.iter().filter(|f| matches_params(f)).collect();
        let fallback: Vec<&Function> = candidates
            .iter()
            .filter(|f| !matches_params(f) && single_unnamed(f))
            .collect();
        match (named.as_slice(), fallback.as_slice()) {
            ([f], _) => Ok(Resolved::Named(f)),
            ([], [f]) => Ok(Resolved::SingleUnnamed(f)),
            ([], []) => Err(Vec::new()),
            ([], many) => Err(many.to_vec()),
            (many, _) => Err(many.to_vec()),
        }
    }
}

/// The served schemas, by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct SchemaCache {
    pub(crate) schemas: BTreeMap<String, Schema>,
}

const TABLES_SQL: &str = "
SELECT n.nspname::text, c.relname::text, a.attname::text,
       format_type(a.atttypid, a.atttypmod),
       coalesce(bt.typname, t.typname)::text,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition
ORDER BY n.nspname, c.relname, a.attnum";

const PRIMARY_KEYS_SQL: &str = "
SELECT n.nspname::text, c.relname::text, a.attname::text
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE i.indisprimary AND n.nspname = ANY($1)
ORDER BY n.nspname, c.relname, array_position(i.indkey::int2[], a.attnum)";

/// Functions (not procedures, aggregates or trigger functions) with their argument lists and
/// result columns, one row each.
const FUNCTIONS_SQL: &str = "
SELECT n.nspname::text, p.proname::text,
       coalesce(p.proargnames, '{}'::text[]),
       coalesce(p.proargmodes::text[], '{}'::text[]),
       ARRAY(SELECT format_type(x.t, NULL) FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS x(t, i) ORDER BY x.i),
       p.pronargs::int, p.pronargdefaults::int,
       p.proretset, p.prorettype = 'void'::regtype,
       rt.typtype = 'c' OR coalesce(p.proargmodes::text[] && '{t,b,o}', false),
       coalesce(ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = rt.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum), '{}'),
       coalesce(ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = rt.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum), '{}'),
       p.provolatile = 'v'
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type rt ON rt.oid = p.prorettype
WHERE n.nspname = ANY($1) AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
ORDER BY n.nspname, p.proname, p.oid";

/// PostgREST's `ppTypeMaxLength`: fixed-length types take any length in arguments.
fn widen(type_sql: &str) -> String {
    match type_sql {
        "character" => "character varying".to_owned(),
        "character[]" => "character varying[]".to_owned(),
        "bit" => "bit varying".to_owned(),
        "bit[]" => "bit varying[]".to_owned(),
        other => other.to_owned(),
    }
}

impl SchemaCache {
    /// Reads the catalogs for `schemas`.
    pub(crate) async fn load(
        client: &impl GenericClient,
        schemas: &[String],
    ) -> Result<SchemaCache, tokio_postgres::Error> {
        let mut cache = SchemaCache {
            schemas: schemas
                .iter()
                .map(|s| (s.clone(), Schema::default()))
                .collect(),
        };
        for row in client.query(TABLES_SQL, &[&schemas]).await? {
            let (schema, table): (String, String) = (row.get(0), row.get(1));
            let Some(s) = cache.schemas.get_mut(&schema) else {
                continue;
            };
            let entry = s.tables.entry(table.clone()).or_insert_with(|| Table {
                schema: schema.clone(),
                name: table,
                columns: Vec::new(),
                primary_key: Vec::new(),
            });
            entry.columns.push(Column {
                name: row.get(2),
                type_sql: row.get(3),
                base_type: row.get(4),
                default: row.get(5),
            });
        }
        for row in client.query(PRIMARY_KEYS_SQL, &[&schemas]).await? {
            let (schema, table, column): (String, String, String) =
                (row.get(0), row.get(1), row.get(2));
            if let Some(t) = cache
                .schemas
                .get_mut(&schema)
                .and_then(|s| s.tables.get_mut(&table))
            {
                t.primary_key.push(column);
            }
        }
        for row in client.query(FUNCTIONS_SQL, &[&schemas]).await? {
            let schema: String = row.get(0);
            let f = function_from_row(&row);
            if let Some(s) = cache.schemas.get_mut(&schema) {
                s.functions.entry(f.name.clone()).or_default().push(f);
            }
        }
        Ok(cache)
    }
}

fn function_from_row(row: &tokio_postgres::Row) -> Function {
    let names: Vec<String> = row.get(2);
    let modes: Vec<String> = row.get(3);
    let types: Vec<String> = row.get(4);
    let nargs: i32 = row.get(5);
    let ndefaults: i32 = row.get(6);
    let set: bool = row.get(7);
    let void: bool = row.get(8);
    let composite: bool = row.get(9);
    let attr_names: Vec<String> = row.get(10);
    let attr_types: Vec<String> = row.get(11);
    let volatile: bool = row.get(12);

    let mut params = Vec::new();
    let mut out_columns = Vec::new();
    for (i, type_sql) in types.iter().enumerate() {
        let mode = modes.get(i).map_or("i", String::as_str);
        let name = names.get(i).cloned().unwrap_or_default();
        if matches!(mode, "i" | "b" | "v") {
            let index = i32::try_from(params.len()).unwrap_or(i32::MAX);
            params.push(Param {
                name: name.clone(),
                type_sql: widen(type_sql),
                required: index < nargs - ndefaults,
                variadic: mode == "v",
            });
        }
        if matches!(mode, "o" | "b" | "t") {
            out_columns.push(Column {
                name,
                type_sql: type_sql.clone(),
                base_type: type_sql.clone(),
                default: None,
            });
        }
    }
    let returns = if composite {
        let columns = if out_columns.is_empty() {
            attr_names
                .into_iter()
                .zip(attr_types)
                .map(|(name, type_sql)| Column {
                    name,
                    base_type: type_sql.clone(),
                    type_sql,
                    default: None,
                })
                .collect()
        } else {
            out_columns
        };
        Returns::Composite { set, columns }
    } else {
        Returns::Scalar { set, void }
    };
    Function {
        schema: row.get(0),
        name: row.get(1),
        params,
        returns,
        volatile,
    }
}
