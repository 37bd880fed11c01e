//! Feature definitions and the SQL both paths run, pure Rust (no pgrx).
//!
//! One definition (`pulse.features`) is compiled into two queries that use the same aggregates:
//! - offline, [`training_set_sql`]: labels and events are sorted together per entity and every
//!   feature is a moving-window aggregate over `(label time - window, label time]`; one sort per
//!   entity type, O(1) per row thanks to the inverse transition functions;
//! - online, [`refresh_sql`]: for the entities a batch touched, the same aggregates over the same
//!   window ending at the entity's latest event, read through the (entity, time) index.
//!
//! Both windows include events stamped exactly at the label time and nothing after it.
use crate::error::{PulseError, Result};
use std::collections::BTreeMap;
use std::fmt::Write;

/// How a feature summarises the events in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Mean,
    Stddev,
    Distinct,
    DecayedSum,
    Ewma,
}

/// Every aggregate with its name in `pulse.features.aggregate`.
const AGGREGATES: [(&str, Aggregate); 7] = [
    ("count", Aggregate::Count),
    ("sum", Aggregate::Sum),
    ("mean", Aggregate::Mean),
    ("stddev", Aggregate::Stddev),
    ("distinct", Aggregate::Distinct),
    ("decayed_sum", Aggregate::DecayedSum),
    ("ewma", Aggregate::Ewma),
];

impl Aggregate {
    pub fn parse(s: &str) -> Result<Self> {
        AGGREGATES.iter().find(|(name, _)| *name == s).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<&str> = AGGREGATES.iter().map(|(name, _)| *name).collect();
            PulseError::invalid(format!("unknown feature aggregate \"{s}\""))
                .hint(format!("Use one of: {}.", names.join(", ")))
        })
    }

    /// Names of the aggregates whose empty window is 0 (the others give NULL).
    pub fn zero_when_empty() -> Vec<String> {
        AGGREGATES.iter().filter(|(_, a)| a.empty_value().is_some()).map(|(name, _)| name.to_string()).collect()
    }

    pub fn needs_half_life(self) -> bool {
        matches!(self, Self::DecayedSum | Self::Ewma)
    }

    pub fn needs_value(self) -> bool {
        !matches!(self, Self::Count)
    }

    /// The value of the feature over an empty window: 0 for counts and sums, otherwise NULL.
    pub fn empty_value(self) -> Option<f64> {
        match self {
            Self::Count | Self::Sum | Self::DecayedSum | Self::Distinct => Some(0.0),
            Self::Mean | Self::Stddev | Self::Ewma => None,
        }
    }
}

/// One row of `pulse.features`, with identifiers and interval literals as Postgres prints them.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub entity_type: String,
    /// `regclass::text`: already quoted and schema-qualified where needed.
    pub source: String,
    pub entity_column: String,
    pub time_column: String,
    pub aggregate: Aggregate,
    pub value_sql: Option<String>,
    pub filter_sql: Option<String>,
    /// `interval::text`, e.g. `00:10:00` or `30 days`.
    pub window: String,
    pub half_life: Option<String>,
    /// The extension's schema (`regnamespace::text`): calls are qualified so that neither the
    /// inserting role's search_path nor a same-named function earlier on it changes them.
    pub schema: String,
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn interval(s: &str) -> String {
    format!("{}::interval", quote_literal(s))
}

/// A RANGE frame's offset includes its lower edge; windows are (as_of - W, as_of], so the frame
/// reaches back one microsecond (timestamptz resolution) less.
fn exclusive(s: &str) -> String {
    format!("({} - '1 microsecond'::interval)", interval(s))
}

/// Feature and entity type names become SQL column names and jsonb keys: keep them plain.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PulseError::invalid(format!("invalid {what} name \"{name}\""))
            .detail("Names are 1 to 63 characters: lowercase letters, digits and underscores, starting with a letter.")
            .hint("Use a name like card_orders_10m."))
    }
}

impl Feature {
    /// The per-row input of the aggregate, over source row alias `e`; NULL where the filter is false.
    pub fn input_expr(&self) -> String {
        let value = match self.aggregate {
            Aggregate::Count => "1::float8".to_string(),
            Aggregate::Distinct => format!("({})::text", self.value_sql.as_deref().unwrap_or("null")),
            _ => format!("({})::float8", self.value_sql.as_deref().unwrap_or("null")),
        };
        match &self.filter_sql {
            Some(f) => format!("case when ({f}) then {value} end"),
            None => value,
        }
    }

    /// Column type of the input in a UNION branch that has no value for it.
    fn input_type(&self) -> &'static str {
        if self.aggregate == Aggregate::Distinct {
            "text"
        } else {
            "float8"
        }
    }

    /// The aggregate call over input column `v`, time column `ts`, evaluated at `as_of`.
    fn call(&self, v: &str, ts: &str, as_of: &str) -> String {
        let hl = self.half_life.as_deref().map(interval).unwrap_or_default();
        let schema = &self.schema;
        match self.aggregate {
            Aggregate::Count => format!("{schema}.feature_count({v})"),
            Aggregate::Sum => format!("{schema}.feature_sum({v})"),
            Aggregate::Mean => format!("{schema}.feature_mean({v})"),
            Aggregate::Stddev => format!("{schema}.feature_stddev({v})"),
            Aggregate::Distinct => format!("{schema}.feature_approx_distinct({v})"),
            Aggregate::DecayedSum => format!("{schema}.feature_decayed_sum({v}, {ts}, {hl}, {as_of})"),
            Aggregate::Ewma => format!("{schema}.feature_ewma({v}, {ts}, {hl})"),
        }
    }

    /// Wraps an aggregate result so an empty window gives the feature's empty value.
    fn finish(&self, expr: &str) -> String {
        match self.aggregate {
            Aggregate::Count | Aggregate::Distinct => format!("({expr})::float8"),
            Aggregate::Sum | Aggregate::DecayedSum => format!("coalesce({expr}, 0)"),
            _ => expr.to_string(),
        }
    }
}

/// Features of one entity type grouped by source table, in a stable order.
fn by_source(features: &[Feature]) -> BTreeMap<(&str, &str, &str), Vec<&Feature>> {
    let mut m: BTreeMap<(&str, &str, &str), Vec<&Feature>> = BTreeMap::new();
    for f in features {
        m.entry((f.source.as_str(), f.entity_column.as_str(), f.time_column.as_str())).or_default().push(f);
    }
    m
}

/// Distinct windows in first-seen order, so each feature can name its window clause.
fn windows(features: &[&Feature]) -> Vec<String> {
    let mut w: Vec<String> = Vec::new();
    for f in features {
        if !w.contains(&f.window) {
            w.push(f.window.clone());
        }
    }
    w
}

/// Builds one jsonb object from (key, expression) pairs; jsonb_build_object takes at most 100 arguments.
fn jsonb_object(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "'{}'::jsonb".to_string();
    }
    pairs
        .chunks(40)
        .map(|c| {
            let args: Vec<String> = c.iter().map(|(k, v)| format!("{}, {v}", quote_literal(k))).collect();
            format!("jsonb_build_object({})", args.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

/// The query behind `_feature_refresh_rows`: `$1 text[]` entity ids and `$2 timestamptz[]` their
/// new event times (both may repeat an id). It returns `(entity_id, as_of, features)` with `as_of`
/// the entity's latest event time (new or already stored) and every feature over the window
/// ending there. `features` must all belong to one entity type.
pub fn refresh_sql(entity_type: &str, features: &[Feature]) -> String {
    let mut sql = String::new();
    let _ = write!(
        sql,
        "with _ids as (select _id, max(_ts) as _ts from unnest($1::text[], $2::timestamptz[]) as _t(_id, _ts) \
         where _id is not null and _ts is not null group by _id), \
         _target as (select i._id, greatest(i._ts, o.as_of) as _as_of from _ids i \
         left join pulse.online_features o on o.entity_type = {et} and o.entity_id = i._id) \
         select t._id, t._as_of, ",
        et = quote_literal(entity_type)
    );
    let groups = by_source(features);
    let mut pairs = Vec::new();
    let mut joins = String::new();
    for (i, ((source, entity_col, time_col), feats)) in groups.iter().enumerate() {
        let (ent, ts) = (format!("e.{}", quote_ident(entity_col)), format!("e.{}", quote_ident(time_col)));
        let widest = feats.iter().map(|f| interval(&f.window)).collect::<Vec<_>>().join(", ");
        let mut cols = Vec::new();
        for f in feats {
            let v = format!("case when {ts} > t._as_of - {} then {} end", interval(&f.window), f.input_expr());
            cols.push(format!("{} as {}", f.call(&v, &ts, "t._as_of"), quote_ident(&f.name)));
            pairs.push((f.name.clone(), f.finish(&format!("s{i}.{}", quote_ident(&f.name)))));
        }
        let _ = write!(
            joins,
            " left join lateral (select {cols} from {source} e where {ent}::text = t._id \
             and {ts} > t._as_of - greatest({widest}) and {ts} <= t._as_of) s{i} on true",
            cols = cols.join(", ")
        );
    }
    let _ = write!(sql, "{} as _features from _target t{joins}", jsonb_object(&pairs));
    sql
}

/// The latest event time of each entity of one type, for a refresh from scratch: `$1 text[]`
/// restricts to those ids, NULL means every entity in the sources.
pub fn latest_events_sql(features: &[Feature]) -> String {
    let parts: Vec<String> = by_source(features)
        .keys()
        .map(|(source, ent, ts)| {
            let (ent, ts) = (quote_ident(ent), quote_ident(ts));
            format!(
                "select {ent}::text as _id, max({ts}) as _ts from {source} \
                 where {ent} is not null and ($1::text[] is null or {ent}::text = any($1::text[])) group by 1"
            )
        })
        .collect();
    format!("select array_agg(_id), array_agg(_ts) from ({}) _l", parts.join(" union all "))
}

/// Options of a training set: which column of the label query holds the label time, and how long
/// an entity may go without events before its features are NULL (serving would have nothing fresh).
#[derive(Debug, Clone, Default)]
pub struct TrainingSetOptions {
    pub time_column: String,
    pub ttl: Option<String>,
}

/// A point-in-time correct training set: every row of `label_sql` with each feature computed over
/// the window ending at the row's label time. `entity_types` maps each entity type to the label
/// column holding its id; `label_columns` are the label query's columns, passed through in order.
pub fn training_set_sql(
    label_sql: &str,
    label_columns: &[String],
    entity_types: &[(String, String)],
    features: &[Feature],
    opts: &TrainingSetOptions,
) -> String {
    let t = quote_ident(&opts.time_column);
    let mut sql = format!(
        "with _labels as materialized (select row_number() over () as _label_row, _l.* from (\n{label_sql}\n) _l)"
    );
    let mut select: Vec<String> = label_columns.iter().map(|c| format!("_l.{}", quote_ident(c))).collect();
    let mut joins = String::new();
    for (p, (entity_type, label_col)) in entity_types.iter().enumerate() {
        let feats: Vec<&Feature> = features.iter().filter(|f| &f.entity_type == entity_type).collect();
        if feats.is_empty() {
            continue;
        }
        let owned: Vec<Feature> = feats.iter().map(|f| (*f).clone()).collect();
        let groups = by_source(&owned);
        let wins = windows(&feats);
        // One UNION branch per source and one for the labels; column k is feature k's input.
        let mut branches = Vec::new();
        let widest = wins.iter().chain(opts.ttl.iter()).map(|w| interval(w)).collect::<Vec<_>>().join(", ");
        for ((source, ent, ts), group) in &groups {
            let (ent, ts) = (format!("e.{}", quote_ident(ent)), format!("e.{}", quote_ident(ts)));
            let inputs: Vec<String> = feats
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    if group.iter().any(|g| g.name == f.name) {
                        format!("{} as _v{k}", f.input_expr())
                    } else {
                        format!("null::{} as _v{k}", f.input_type())
                    }
                })
                .collect();
            branches.push(format!(
                "select {ent}::text collate \"C\" as _entity, {ts} as _ts, null::bigint as _label_row, {inputs} from {source} e \
                 where {ent} is not null and {ts} <= (select max({t}) from _labels) \
                 and {ts} > (select min({t}) from _labels) - greatest({widest})",
                inputs = inputs.join(", ")
            ));
        }
        // Label rows carry no value, except 0 for decayed sums so that they see the label time.
        let label_inputs: Vec<String> = feats
            .iter()
            .enumerate()
            .map(|(k, f)| match f.aggregate {
                Aggregate::DecayedSum => format!("0::float8 as _v{k}"),
                _ => format!("null::{} as _v{k}", f.input_type()),
            })
            .collect();
        branches.push(format!(
            "select l.{lc}::text, l.{t}, l._label_row, {inputs} from _labels l where l.{lc} is not null and l.{t} is not null",
            lc = quote_ident(label_col),
            inputs = label_inputs.join(", ")
        ));
        let mut cols = Vec::new();
        for (k, f) in feats.iter().enumerate() {
            let w = wins.iter().position(|w| w == &f.window).unwrap_or(0);
            cols.push(format!("{} over _w{w} as {}", f.call(&format!("_v{k}"), "_ts", "_ts"), quote_ident(&f.name)));
        }
        let mut window_clauses: Vec<String> = wins
            .iter()
            .enumerate()
            .map(|(w, win)| {
                format!(
                    "_w{w} as (partition by _entity order by _ts range between {} preceding and current row)",
                    exclusive(win)
                )
            })
            .collect();
        if let Some(ttl) = &opts.ttl {
            // Events seen within the TTL before the label: the label row itself has no _v, so count _ts of events.
            cols.push("count(case when _label_row is null then 1 end) over _wttl as _fresh".to_string());
            window_clauses.push(format!(
                "_wttl as (partition by _entity order by _ts range between {} preceding and current row)",
                exclusive(ttl)
            ));
        }
        let _ = write!(
            sql,
            ", _p{p} as (select * from (select _label_row, {cols} from ({branches}) _u window {wc}) _x \
             where _label_row is not null)",
            cols = cols.join(", "),
            branches = branches.join(" union all "),
            wc = window_clauses.join(", ")
        );
        for f in &feats {
            let value = f.finish(&format!("_p{p}.{}", quote_ident(&f.name)));
            let value = match opts.ttl {
                Some(_) => format!("case when _p{p}._fresh > 0 then {value} end"),
                None => match f.aggregate.empty_value() {
                    // A label whose entity is NULL has no pass row: give it the empty value too.
                    Some(_) => format!("coalesce({value}, 0)"),
                    None => value,
                },
            };
            select.push(format!("{value} as {}", quote_ident(&f.name)));
        }
        let _ = write!(joins, " left join _p{p} on _p{p}._label_row = _l._label_row");
    }
    let _ = write!(sql, " select {} from _labels _l{joins} order by _l._label_row", select.join(", "));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, aggregate: Aggregate, window: &str) -> Feature {
        Feature {
            name: name.into(),
            entity_type: "card".into(),
            source: "raw.orders".into(),
            entity_column: "card_fingerprint".into(),
            time_column: "created_at".into(),
            aggregate,
            value_sql: Some("amount".into()),
            filter_sql: None,
            window: window.into(),
            half_life: aggregate.needs_half_life().then(|| "1 day".into()),
            schema: "public".into(),
        }
    }

    #[test]
    fn names_are_plain_identifiers() {
        assert!(check_name("feature", "card_orders_10m").is_ok());
        for bad in ["", "Card", "1card", "card-orders", "card orders", &"x".repeat(64)] {
            let e = check_name("feature", bad).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::InvalidParameter, "{bad}");
        }
    }

    #[test]
    fn aggregates_parse_and_unknown_is_refused() {
        assert_eq!(Aggregate::parse("decayed_sum").unwrap(), Aggregate::DecayedSum);
        assert_eq!(Aggregate::zero_when_empty(), ["count", "sum", "distinct", "decayed_sum"]);
        let e = Aggregate::parse("median").unwrap_err();
        assert_eq!(e.message, "unknown feature aggregate \"median\"");
        assert!(e.hint.unwrap().contains("decayed_sum"));
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn filter_makes_the_input_null() {
        let mut f = feature("c", Aggregate::Count, "00:10:00");
        f.filter_sql = Some("e.amount > 100".into());
        assert_eq!(f.input_expr(), "case when (e.amount > 100) then 1::float8 end");
    }

    #[test]
    fn training_set_sorts_once_per_entity_and_bounds_each_window() {
        let fs = vec![
            feature("a", Aggregate::Count, "00:10:00"),
            feature("b", Aggregate::Sum, "30 days"),
            feature("c", Aggregate::Mean, "00:10:00"),
        ];
        let sql = training_set_sql(
            "select 1",
            &["card".into(), "as_of".into()],
            &[("card".into(), "card".into())],
            &fs,
            &TrainingSetOptions { time_column: "as_of".into(), ttl: None },
        );
        // Two distinct windows, both ending at the current row (label time), ordered by time.
        assert_eq!(sql.matches("range between").count(), 2, "{sql}");
        assert!(
            sql.contains("range between ('00:10:00'::interval - '1 microsecond'::interval) preceding and current row")
        );
        assert!(sql.contains("public.feature_mean(_v2) over _w0"));
        assert!(sql.contains("public.feature_sum(_v1) over _w1"));
        // Events after the newest label are never read.
        assert!(sql.contains("e.\"created_at\" <= (select max(\"as_of\") from _labels)"));
        assert!(sql.ends_with("order by _l._label_row"));
    }

    #[test]
    fn decayed_sum_label_rows_carry_the_label_time() {
        let fs = vec![feature("d", Aggregate::DecayedSum, "7 days")];
        let sql = training_set_sql(
            "select 1",
            &[],
            &[("card".into(), "card".into())],
            &fs,
            &TrainingSetOptions { time_column: "as_of".into(), ttl: None },
        );
        assert!(sql.contains("0::float8 as _v0 from _labels"), "{sql}");
        assert!(sql.contains("public.feature_decayed_sum(_v0, _ts, '1 day'::interval, _ts) over _w0"));
    }

    #[test]
    fn refresh_reads_only_the_widest_window_up_to_as_of() {
        let fs = vec![feature("a", Aggregate::Count, "00:10:00"), feature("b", Aggregate::Sum, "30 days")];
        let sql = refresh_sql("card", &fs);
        assert_eq!(sql.matches("left join lateral").count(), 1);
        assert!(sql.contains("greatest('00:10:00'::interval, '30 days'::interval)"), "{sql}");
        assert!(sql.contains("e.\"created_at\" <= t._as_of"));
        assert!(sql.contains("'a', (s0.\"a\")::float8"), "{sql}");
        assert!(sql.contains("'b', coalesce(s0.\"b\", 0)"), "{sql}");
    }

    #[test]
    fn jsonb_object_chunks_past_the_argument_limit() {
        let pairs: Vec<(String, String)> = (0..90).map(|i| (format!("f{i}"), "1".to_string())).collect();
        let s = jsonb_object(&pairs);
        assert_eq!(s.matches("jsonb_build_object(").count(), 3);
    }
}
