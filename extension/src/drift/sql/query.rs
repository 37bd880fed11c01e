//! `drift_profile_query`: every column of a query profiled in one (parallel) scan.
use super::drift_profile;
use crate::error::{Kind, OrRaise, PulseError, Result};
use crate::features::plan::quote_ident;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

#[derive(Clone, Copy, PartialEq)]
enum ColumnKind {
    Numeric,
    Categorical,
}

impl ColumnKind {
    fn name(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
        }
    }
}

fn spi(e: pgrx::spi::SpiError) -> PulseError {
    PulseError::new(Kind::Internal, format!("drift profile query failed: {e}"))
}

/// Name, kind (None: unsupported) and type name of each output column, without running the query.
fn describe(client: &SpiClient<'_>, sql: &str) -> Result<Vec<(String, Option<ColumnKind>, String)>> {
    // The newline ends a trailing "-- comment" in the user's SQL.
    let t = client.select(&format!("select * from ({sql}\n) _pulse_q limit 0"), None, &[]).map_err(spi)?;
    let mut out = Vec::new();
    for i in 1..=t.columns().map_err(spi)? {
        let (name, declared) = (t.column_name(i).map_err(spi)?, t.column_type_oid(i).map_err(spi)?.value());
        // A domain is profiled as its base type (information_schema's cardinal_number as an integer).
        // SAFETY: a catalog lookup of a type oid the parser just resolved.
        let oid = unsafe { pg_sys::getBaseType(declared) };
        let kind = match oid {
            pg_sys::INT2OID
            | pg_sys::INT4OID
            | pg_sys::INT8OID
            | pg_sys::FLOAT4OID
            | pg_sys::FLOAT8OID
            | pg_sys::NUMERICOID => Some(ColumnKind::Numeric),
            _ => None,
        };
        // Strings, booleans, enums and uuids are labels; dates, json, arrays and the rest are not
        // profiled unless the query casts them.
        // SAFETY: syscache lookups of the same resolved type oid; format_type_be pallocs a C string.
        let (category, type_name) = unsafe {
            let name = pg_sys::format_type_be(oid);
            (pg_sys::TypeCategory(oid) as u8, std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned())
        };
        let label = matches!(category, b'S' | b'B' | b'E') || oid == pg_sys::UUIDOID;
        let kind = kind.or(label.then_some(ColumnKind::Categorical));
        out.push((name, kind, type_name));
    }
    Ok(out)
}

/// The columns to profile: the listed ones in their order, else every supported column.
fn choose(
    shape: Vec<(String, Option<ColumnKind>, String)>,
    columns: Option<Vec<Option<String>>>,
) -> Result<Vec<(String, ColumnKind)>> {
    let Some(listed) = columns else {
        let chosen: Vec<(String, ColumnKind)> = shape.into_iter().filter_map(|(n, k, _)| k.map(|k| (n, k))).collect();
        if chosen.is_empty() {
            return Err(PulseError::invalid("the query has no column drift profiles support").hint(
                "Numbers are profiled as numeric, text, booleans, enums and uuids as categorical; cast others.",
            ));
        }
        return Ok(chosen);
    };
    let mut out: Vec<(String, ColumnKind)> = Vec::with_capacity(listed.len());
    for name in listed {
        let name = name.ok_or_else(|| PulseError::new(Kind::NullValue, "columns must not contain NULL"))?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(PulseError::invalid(format!("column \"{name}\" is listed twice")));
        }
        match shape.iter().find(|(n, _, _)| *n == name) {
            None => {
                return Err(PulseError::new(Kind::UndefinedColumn, format!("column \"{name}\" is not in the query"))
                    .hint(format!(
                        "The query returns: {}.",
                        shape.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", ")
                    )))
            }
            Some((_, None, type_name)) => {
                return Err(PulseError::invalid(format!(
                    "column \"{name}\" has type {type_name}, which drift profiles do not support"
                ))
                .hint("Cast it in the query: to float8 for a numeric profile, to text for a categorical one."))
            }
            Some((_, Some(kind), _)) => out.push((name, *kind)),
        }
    }
    if out.is_empty() {
        return Err(PulseError::invalid("columns is empty"));
    }
    Ok(out)
}

/// Profiles of the query's columns, computed in one scan that Postgres may run in parallel.
#[pg_extern(volatile, parallel_unsafe)]
fn drift_profile_query(
    sql: &str,
    columns: default!(Option<Vec<Option<String>>>, "NULL"),
) -> TableIterator<'static, (name!(column_name, String), name!(kind, String), name!(profile, drift_profile))> {
    let rows = Spi::connect(|client| profile_query(&client, sql, columns)).or_raise("drift_profile_query");
    TableIterator::new(rows)
}

fn profile_query(
    client: &SpiClient<'_>,
    sql: &str,
    columns: Option<Vec<Option<String>>>,
) -> Result<Vec<(String, String, drift_profile)>> {
    let chosen = choose(describe(client, sql)?, columns)?;
    let schema = client
        .select("select extnamespace::regnamespace::text from pg_extension where extname = 'pulse'", None, &[])
        .map_err(spi)?
        .first()
        .get_one::<String>()
        .map_err(spi)?
        .unwrap_or_else(|| "public".into());
    let calls: Vec<String> = chosen
        .iter()
        .map(|(name, kind)| {
            let cast = if *kind == ColumnKind::Numeric { "float8" } else { "text" };
            format!("{schema}.drift_profile(_pulse_q.{}::{cast})", quote_ident(name))
        })
        .collect();
    let query = format!("select {} from ({sql}\n) _pulse_q", calls.join(", "));
    let table = client.select(&query, None, &[]).map_err(spi)?;
    let row = table.first();
    let mut out = Vec::with_capacity(chosen.len());
    for (i, (name, kind)) in chosen.into_iter().enumerate() {
        let profile = row
            .get::<drift_profile>(i + 1)
            .map_err(spi)?
            .ok_or_else(|| PulseError::new(Kind::Internal, "drift_profile returned NULL"))?;
        out.push((name, kind.name().to_owned(), profile));
    }
    Ok(out)
}

extension_sql!(
    r#"
comment on function drift_profile_query(text, text[]) is
'Profiles the columns of a query in one scan (parallel when the planner chooses): (column_name, kind, profile). Integers, floats and numerics get numeric profiles (cast to float8); text, varchar, char, booleans, enums and uuids categorical ones (cast to text). columns NULL: every supported column in query order (dates, timestamps, json and arrays skipped); a listed column that is missing: 42703, of another type: 22023. The query runs with the caller''s privileges.';
"#,
    name = "drift_profile_query_comment",
    requires = [drift_profile_query]
);
