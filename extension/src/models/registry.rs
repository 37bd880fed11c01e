//! `train_model` and `model_evaluate`: read the caller's query through SPI (with the caller's
//! privileges: these functions are not SECURITY DEFINER), train or score in `core`, and keep the
//! result in `pulse.models`. Deployment changes are plain SQL in `registry.sql`.
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgOid;
use serde_json::json;

use super::core::train::{evaluate_model, train, Column, ColumnData, Dataset, Params};
use super::core::{Algorithm, Input, Model};
use crate::error::{Kind, OrRaise, PulseError, Result};

extension_sql_file!("registry.sql", name = "models_catalog", requires = ["bootstrap"]);

/// Trains a new version of model `name` on the rows of `training_sql` and returns its number.
#[pg_extern(volatile, parallel_unsafe)]
fn train_model(
    name: &str,
    training_sql: &str,
    label: &str,
    algorithm: default!(&str, "'logistic_regression'"),
    params: default!(pgrx::JsonB, "'{}'"),
    test_fraction: default!(f64, 0.2),
) -> i32 {
    train_new_version(name, training_sql, label, algorithm, &params.0, test_fraction).or_raise("train_model")
}

fn train_new_version(
    name: &str,
    training_sql: &str,
    label: &str,
    algorithm: &str,
    params: &serde_json::Value,
    test_fraction: f64,
) -> Result<i32> {
    if !valid_name(name) {
        return Err(PulseError::invalid(format!("invalid model name \"{name}\""))
            .hint("Use lowercase letters, digits and underscores, starting with a letter (at most 63)."));
    }
    let algorithm = Algorithm::parse(algorithm)?;
    let params = Params::parse(algorithm, params)?;
    Spi::connect_mut(|client| {
        let shape = describe(client, training_sql)?;
        let label_type = shape.iter().find(|(n, _)| n == label).map(|(_, t)| *t).ok_or_else(|| {
            PulseError::new(Kind::UndefinedColumn, format!("label column \"{label}\" is not in the training query"))
                .detail(format!("Columns: {}.", names(&shape)))
        })?;
        let time = time_column(&shape, params.time_column.as_deref(), params.split)?;
        for e in &params.exclude {
            if !shape.iter().any(|(n, _)| n == e) {
                return Err(PulseError::new(
                    Kind::UndefinedColumn,
                    format!("excluded column \"{e}\" is not in the training query"),
                ));
            }
        }
        let mut columns = vec![];
        for (n, oid) in &shape {
            // Dates and timestamps are never inputs (a model must not learn "when").
            if n == label || is_time(*oid) || params.exclude.contains(n) {
                continue;
            }
            let kind = kind_of(*oid).ok_or_else(|| {
                PulseError::invalid(format!("column \"{n}\" has type {}, which a model cannot take", type_name(*oid)))
                    .hint("Cast it to a number or text in the query, or list it in params {\"exclude\": [...]}.")
            })?;
            columns.push((n.clone(), kind, *oid));
        }
        let data = read(client, training_sql, label, label_type, time.as_deref(), &columns)?;
        let trained = train(&data, label, &params, test_fraction)?;
        // The same lock as the deployment functions (_model_lock): one new version at a time.
        client
            .update("select pg_advisory_xact_lock(hashtext('pulse.model:' || $1))", None, &[name.into()])
            .map_err(spi)?;
        let version = client
            .select("select coalesce(max(version), 0) + 1 from pulse.models where name = $1", None, &[name.into()])
            .map_err(spi)?
            .first()
            .get_one::<i32>()
            .map_err(spi)?
            .unwrap_or(1);
        let metrics = trained.metrics.as_ref().map(|m| pgrx::JsonB(json!(m)));
        client
            .update(
                "insert into pulse.models (name, version, algorithm, params, label, inputs, threshold, metrics,
                                           training_rows, test_rows, data_fingerprint, training_sql, model)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, convert_to($13, 'UTF8'))",
                None,
                &[
                    name.into(),
                    version.into(),
                    algorithm.name().into(),
                    pgrx::JsonB(trained.params.clone()).into(),
                    label.into(),
                    pgrx::JsonB(json!(trained.model.inputs)).into(),
                    trained.model.threshold.into(),
                    metrics.into(),
                    (trained.train_rows as i64).into(),
                    (trained.test_rows as i64).into(),
                    data.fingerprint().into(),
                    training_sql.into(),
                    trained.model.to_json().into(),
                ],
            )
            .map_err(spi)?;
        Ok(version)
    })
}

/// Metrics of version `version` of model `name` on the labelled rows of `labelled_sql`.
#[pg_extern(stable, parallel_unsafe)]
fn model_evaluate(name: &str, version: i32, labelled_sql: &str) -> pgrx::JsonB {
    evaluate(name, version, labelled_sql).map(pgrx::JsonB).or_raise("model_evaluate")
}

fn evaluate(name: &str, version: i32, labelled_sql: &str) -> Result<serde_json::Value> {
    Spi::connect(|client| {
        let model = load_model(client, name, version)?;
        let shape = describe(client, labelled_sql)?;
        let label_type = shape.iter().find(|(n, _)| *n == model.label).map(|(_, t)| *t).ok_or_else(|| {
            PulseError::new(Kind::UndefinedColumn, format!("label column \"{}\" is not in the query", model.label))
        })?;
        let missing: Vec<&str> =
            model.input_names().into_iter().filter(|i| !shape.iter().any(|(n, _)| n == i)).collect();
        if !missing.is_empty() {
            return Err(PulseError::invalid(format!("missing features: {}", missing.join(", ")))
                .detail(format!("The model takes: {}.", model.input_names().join(", "))));
        }
        let mut columns = vec![];
        for input in &model.inputs {
            let oid = shape.iter().find(|(n, _)| n == input.name()).expect("checked").1;
            let want = if matches!(input, Input::Numeric { .. }) { Kind2::Numeric } else { Kind2::Text };
            if kind_of(oid) != Some(want) {
                return Err(PulseError::invalid(format!(
                    "feature \"{}\" has type {}, the model takes {}",
                    input.name(),
                    type_name(oid),
                    if want == Kind2::Numeric { "a number" } else { "text" }
                )));
            }
            columns.push((input.name().to_string(), want, oid));
        }
        let data = read(client, labelled_sql, &model.label, label_type, None, &columns)?;
        let metrics = evaluate_model(&model, &data)?;
        let mut j = json!(metrics);
        j["model"] = json!(name);
        j["version"] = json!(version);
        j["data_fingerprint"] = json!(data.fingerprint());
        Ok(j)
    })
}

pub(crate) fn load_model(client: &SpiClient<'_>, name: &str, version: i32) -> Result<Model> {
    let text = client
        .select(
            "select convert_from(model, 'UTF8') from pulse.models where name = $1 and version = $2",
            None,
            &[name.into(), version.into()],
        )
        .map_err(spi)?
        .first()
        .get_one::<String>()
        .ok()
        .flatten()
        .ok_or_else(|| {
            PulseError::new(Kind::UndefinedObject, format!("unknown model \"{name}\" version {version}"))
                .hint("List the versions in pulse.models.")
        })?;
    Model::from_json(&text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind2 {
    Numeric,
    Text,
}

fn kind_of(oid: pg_sys::Oid) -> Option<Kind2> {
    use pg_sys::BuiltinOid as B;
    match PgOid::from(oid) {
        PgOid::BuiltIn(
            B::BOOLOID | B::INT2OID | B::INT4OID | B::INT8OID | B::FLOAT4OID | B::FLOAT8OID | B::NUMERICOID,
        ) => Some(Kind2::Numeric),
        PgOid::BuiltIn(B::TEXTOID | B::VARCHAROID | B::BPCHAROID | B::NAMEOID) => Some(Kind2::Text),
        _ => None,
    }
}

fn is_time(oid: pg_sys::Oid) -> bool {
    use pg_sys::BuiltinOid as B;
    matches!(PgOid::from(oid), PgOid::BuiltIn(B::TIMESTAMPTZOID | B::TIMESTAMPOID | B::DATEOID))
}

fn type_name(oid: pg_sys::Oid) -> String {
    Spi::get_one_with_args::<String>("select format_type($1, null)", &[oid.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("oid {}", oid.to_u32()))
}

/// The time column of a time split: `time_column`, else the query's only date/timestamp column.
fn time_column(
    shape: &[(String, pg_sys::Oid)],
    named: Option<&str>,
    split: Option<super::core::train::Split>,
) -> Result<Option<String>> {
    use super::core::train::Split;
    if let Some(n) = named {
        return match shape.iter().find(|(c, _)| c == n) {
            Some((_, oid)) if is_time(*oid) => Ok(Some(n.to_string())),
            Some((_, oid)) => Err(PulseError::invalid(format!(
                "time column \"{n}\" has type {}, not a date or timestamp",
                type_name(*oid)
            ))),
            None => {
                Err(PulseError::new(Kind::UndefinedColumn, format!("time column \"{n}\" is not in the training query")))
            }
        };
    }
    let times: Vec<&String> = shape.iter().filter(|(_, o)| is_time(*o)).map(|(n, _)| n).collect();
    match (times.as_slice(), split) {
        (_, Some(Split::Stratified)) => Ok(None),
        ([one], _) => Ok(Some((*one).clone())),
        ([], Some(Split::Time)) => Err(PulseError::invalid("a time split needs a date or timestamp column")
            .hint("Add one to the query, or use params {\"split\": \"stratified\"}.")),
        ([], None) => Ok(None),
        (_, _) => Err(PulseError::invalid(format!(
            "the training query has several time columns ({})",
            times.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .hint("Name the one to split on with params {\"time_column\": \"...\"}.")),
    }
}

/// Column names and types of a query, without running it.
fn describe(client: &SpiClient<'_>, sql: &str) -> Result<Vec<(String, pg_sys::Oid)>> {
    let t = client.select(&format!("select * from ({sql}) _pulse_q limit 0"), None, &[]).map_err(spi)?;
    let n = t.columns().map_err(spi)?;
    let mut out = Vec::with_capacity(n);
    for i in 1..=n {
        out.push((t.column_name(i).map_err(spi)?, t.column_type_oid(i).map_err(spi)?.value()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((dup, _)) = out.iter().find(|(n, _)| !seen.insert(n.clone())) {
        return Err(PulseError::invalid(format!("column \"{dup}\" appears twice in the query")));
    }
    Ok(out)
}

fn read(
    client: &SpiClient<'_>,
    sql: &str,
    label: &str,
    label_type: pg_sys::Oid,
    time: Option<&str>,
    columns: &[(String, Kind2, pg_sys::Oid)],
) -> Result<Dataset> {
    let quote = crate::features::plan::quote_ident;
    // Booleans have no direct cast to float8.
    let number = |n: &str, oid: pg_sys::Oid| {
        if oid == pg_sys::BOOLOID {
            format!("{}::int::float8", quote(n))
        } else {
            format!("{}::float8", quote(n))
        }
    };
    if kind_of(label_type) != Some(Kind2::Numeric) {
        return Err(PulseError::invalid(format!(
            "label column \"{label}\" has type {}; it must be boolean or 0/1",
            type_name(label_type)
        )));
    }
    let time_expr =
        time.map_or("null::int8".to_string(), |t| format!("(extract(epoch from {}) * 1000000)::int8", quote(t)));
    let mut select = vec![number(label, label_type), time_expr];
    for (n, k, oid) in columns {
        select.push(match k {
            Kind2::Numeric => number(n, *oid),
            Kind2::Text => format!("{}::text", quote(n)),
        });
    }
    let rows = client.select(&format!("select {} from ({sql}) _pulse_q", select.join(", ")), None, &[]).map_err(spi)?;
    let mut data = Dataset {
        columns: columns
            .iter()
            .map(|(n, k, _)| Column {
                name: n.clone(),
                data: match k {
                    Kind2::Numeric => ColumnData::Numeric(Vec::with_capacity(rows.len())),
                    Kind2::Text => ColumnData::Categorical(Vec::with_capacity(rows.len())),
                },
            })
            .collect(),
        labels: Vec::with_capacity(rows.len()),
        times: time.map(|_| Vec::with_capacity(rows.len())),
    };
    for row in rows {
        let l = row.get::<f64>(1).map_err(spi)?;
        data.labels.push(match l {
            Some(x) if x == 1.0 => true,
            Some(x) if x == 0.0 => false,
            Some(x) => {
                return Err(PulseError::invalid(format!("label \"{label}\" has value {x}; it must be boolean or 0/1")))
            }
            None => {
                return Err(PulseError::new(Kind::NullValue, format!("label \"{label}\" is NULL in some rows"))
                    .hint("Filter out unlabelled rows, or coalesce them to false."))
            }
        });
        if let Some(times) = data.times.as_mut() {
            times.push(row.get::<i64>(2).map_err(spi)?.unwrap_or(i64::MIN));
        }
        for (i, c) in data.columns.iter_mut().enumerate() {
            match &mut c.data {
                ColumnData::Numeric(v) => v.push(row.get::<f64>(i + 3).map_err(spi)?),
                ColumnData::Categorical(v) => v.push(row.get::<String>(i + 3).map_err(spi)?),
            }
        }
    }
    Ok(data)
}

fn names(shape: &[(String, pg_sys::Oid)]) -> String {
    shape.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && name.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

pub(crate) fn spi(e: pgrx::spi::SpiError) -> PulseError {
    PulseError::new(Kind::Internal, format!("model query failed: {e}"))
}

extension_sql!(
    r#"
comment on function train_model(text, text, text, text, jsonb, float8) is
'trains a new version of model name on the rows of training_sql (run with the caller''s privileges) and returns its version. label: a boolean or 0/1 column. Every other column is an input: numbers and booleans are standardised (NULL -> training mean), text is one-hot encoded (the max_categories most frequent levels; NULL and others -> zeros); date/timestamp columns are not inputs. Split: by time (the latest test_fraction of rows by the query''s date/timestamp column, or params time_column, cut at a time so ties stay together) when there is one, else stratified by label (a seeded hash of each row''s content). Rows are canonically ordered first, so the result does not depend on the query''s row order. algorithm: logistic_regression (params alpha, L2), decision_tree or random_forest (max_depth, min_samples_leaf, min_samples_split; n_trees, max_features) with smartcore. Common params: seed (42), threshold (0.5), split, time_column, exclude, max_categories (20). Hold-out metrics (roc_auc, pr_auc, log_loss, precision, recall, f1, confusion at threshold) are stored in pulse.models.';
comment on function model_evaluate(text, int, text) is
'metrics of version of model name on the rows of labelled_sql (the model''s label column and inputs by name, run with the caller''s privileges): rows, positives, roc_auc, pr_auc, log_loss, precision, recall, f1 and confusion at the model''s threshold, and the data fingerprint';
"#,
    name = "models_registry_comments",
    requires = [train_model, model_evaluate, "models_catalog"]
);
