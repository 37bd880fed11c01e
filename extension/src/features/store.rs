//! The feature registry, the online store and point-in-time training sets (the SQL layer).
//!
//! `pulse.features` holds each definition once; [`super::plan`] turns it into the online refresh
//! and the offline training-set query. A statement trigger on every source table refreshes the
//! entities each insert (a COPY batch of pulse-ingest, or any other writer) touched, in the same
//! transaction, so `pulse.online_features` is never behind what has committed.
use super::plan::{self, Aggregate, Feature};
use crate::error::{Kind, OrRaise, PulseError, Result};
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{FromDatum, IntoDatum, JsonB};

extension_sql!(
    r#"
create table pulse.features (
  name          text        primary key,
  entity_type   text        not null,
  source        regclass    not null,
  entity_column name        not null,
  time_column   name        not null,
  aggregate     text        not null,
  value_sql     text,
  filter_sql    text,
  window_size   interval    not null,
  half_life     interval,
  description   text        not null default '',
  created_at    timestamptz not null default now(),
  created_by    name        not null default current_user
);
create index features_entity_type_idx on pulse.features (entity_type);
comment on table pulse.features is 'feature registry: one definition per feature, used by the online store (feature_get) and by training sets (feature_training_set), so serving and training compute the same thing; write it with feature_define()';

create table pulse.online_features (
  entity_type text        not null,
  entity_id   text        not null,
  features    jsonb       not null,
  as_of       timestamptz not null,
  updated_at  timestamptz not null default clock_timestamp(),
  primary key (entity_type, entity_id)
);
comment on table pulse.online_features is 'online feature values per entity, as of the entity''s latest event (as_of); kept fresh by a statement trigger on each feature source; read with feature_get()';

select pg_catalog.pg_extension_config_dump('pulse.features', '');
select pg_catalog.pg_extension_config_dump('pulse.online_features', '');

-- A statement trigger per source table: the rows one INSERT or COPY added, grouped per entity
-- type, refresh those entities in the same transaction.
create function _feature_refresh_trigger() returns trigger
language plpgsql as $$
declare
  r record;
begin
  for r in select distinct f.entity_type, f.entity_column, f.time_column
             from pulse.features f where f.source = tg_relid order by 1, 2, 3 loop
    execute format('select @extschema@._feature_refresh_rows(%L, array_agg(%I::text), array_agg(%I)) from pulse_new_rows where %I is not null',
                   r.entity_type, r.entity_column, r.time_column, r.entity_column);
  end loop;
  return null;
end
$$;
comment on function _feature_refresh_trigger() is 'statement trigger on feature sources: refreshes pulse.online_features for the entities the statement inserted (internal)';
"#,
    name = "feature_catalog",
    requires = ["bootstrap"]
);

/// Reads the definitions of the given entity types (all when `None`), ordered by name.
pub fn load_features(client: &SpiClient<'_>, entity_types: Option<Vec<String>>) -> Result<Vec<Feature>> {
    let rows = client
        .select(
            // Windows as hours: days added to a timestamptz follow the session's DST rules, and
            // the ingester's and an analyst's sessions may differ.
            "select name, entity_type, source::text, entity_column::text, time_column::text, aggregate,
                    value_sql, filter_sql, (extract(epoch from window_size) * interval '1 second')::text,
                    (extract(epoch from half_life) * interval '1 second')::text,
                    (select extnamespace::regnamespace::text from pg_extension where extname = 'pulse')
               from pulse.features where $1::text[] is null or entity_type = any($1) order by name",
            None,
            &[entity_types.into()],
        )
        .map_err(spi_error)?;
    let mut out = Vec::new();
    for row in rows {
        let get = |i: usize| row.get::<String>(i).ok().flatten();
        out.push(Feature {
            name: get(1).unwrap_or_default(),
            entity_type: get(2).unwrap_or_default(),
            source: get(3).unwrap_or_default(),
            entity_column: get(4).unwrap_or_default(),
            time_column: get(5).unwrap_or_default(),
            aggregate: Aggregate::parse(&get(6).unwrap_or_default())?,
            value_sql: get(7),
            filter_sql: get(8),
            window: get(9).unwrap_or_default(),
            half_life: get(10),
            schema: get(11).unwrap_or_else(|| "public".into()),
        });
    }
    Ok(out)
}

pub(super) fn spi_error(e: pgrx::spi::SpiError) -> PulseError {
    PulseError::new(Kind::InvalidParameter, format!("feature query failed: {e}"))
}

/// The first column of the first row of a query, NULL (or no row) as `None`.
pub(super) fn select_one<T: FromDatum + IntoDatum>(
    client: &SpiClient<'_>,
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Result<Option<T>> {
    Ok(client.select(sql, None, args).map_err(spi_error)?.first().get_one::<T>().ok().flatten())
}

fn unknown_entity_type(entity_type: &str) -> PulseError {
    PulseError::new(Kind::UndefinedObject, format!("unknown entity type \"{entity_type}\""))
        .hint("Define its features with feature_define() or list them in pulse.features.")
}

/// Windows, half-lives and TTLs are fixed lengths: positive, and without months (which have none).
pub(super) fn is_fixed_positive(i: &Interval) -> bool {
    i.months() == 0 && i.days() >= 0 && i.micros() >= 0 && (i.days() > 0 || i.micros() > 0)
}

fn check_fixed_interval(what: &str, i: &Interval) -> Result<()> {
    if i.months() != 0 {
        return Err(PulseError::invalid(format!("{what} must not have a months part"))
            .detail("Months have no fixed length.")
            .hint("Use days instead, e.g. interval '30 days'."));
    }
    if !is_fixed_positive(i) {
        return Err(PulseError::invalid(format!("{what} must be positive")));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn feature_define(
    name: &str,
    entity_type: &str,
    source: &str,
    entity_column: &str,
    time_column: &str,
    aggregate: &str,
    window_size: Interval,
    value_sql: default!(Option<&str>, "NULL"),
    filter_sql: default!(Option<&str>, "NULL"),
    half_life: default!(Option<Interval>, "NULL"),
    description: default!(&str, "''"),
) {
    let define = || -> Result<()> {
        plan::check_name("feature", name)?;
        plan::check_name("entity type", entity_type)?;
        let agg = Aggregate::parse(aggregate)?;
        check_fixed_interval("window_size", &window_size)?;
        match (&half_life, agg.needs_half_life()) {
            (Some(h), true) => check_fixed_interval("half_life", h)?,
            (None, true) => {
                return Err(PulseError::invalid(format!("aggregate {aggregate} needs a half_life"))
                    .hint("Pass half_life => interval '1 day', for example."))
            }
            (Some(_), false) => return Err(PulseError::invalid(format!("aggregate {aggregate} takes no half_life"))),
            (None, false) => {}
        }
        if agg.needs_value() && value_sql.is_none() {
            return Err(PulseError::invalid(format!("aggregate {aggregate} needs a value_sql expression"))
                .hint("Pass value_sql => 'amount', an expression over the source row e."));
        }
        Spi::connect_mut(|client| {
            let oid = select_one::<pg_sys::Oid>(client, "select to_regclass($1)::oid", &[source.into()])?;
            let Some(source) = oid else {
                return Err(PulseError::new(Kind::UndefinedTable, format!("relation \"{source}\" does not exist")));
            };
            let column_type = |col: &str| -> Result<Option<String>> {
                let t = client
                    .select(
                        "select format_type(atttypid, null) from pg_attribute
                          where attrelid = $1 and attname = $2 and attnum > 0 and not attisdropped",
                        None,
                        &[source.into(), col.into()],
                    )
                    .map_err(spi_error)?;
                Ok(t.first().get_one::<String>().ok().flatten())
            };
            let table =
                select_one::<String>(client, "select $1::regclass::text", &[source.into()])?.unwrap_or_default();
            if column_type(entity_column)?.is_none() {
                return Err(PulseError::new(
                    Kind::UndefinedColumn,
                    format!("column \"{entity_column}\" of {table} does not exist"),
                ));
            }
            match column_type(time_column)?.as_deref() {
                Some("timestamp with time zone") => {}
                Some(other) => {
                    return Err(PulseError::invalid(format!(
                        "time column \"{time_column}\" is {other}, not timestamptz"
                    )))
                }
                None => {
                    return Err(PulseError::new(
                        Kind::UndefinedColumn,
                        format!("column \"{time_column}\" of {table} does not exist"),
                    ))
                }
            }
            let draft = Feature {
                name: name.into(),
                entity_type: entity_type.into(),
                source: table.clone(),
                entity_column: entity_column.into(),
                time_column: time_column.into(),
                aggregate: agg,
                value_sql: value_sql.map(str::to_string),
                filter_sql: filter_sql.map(str::to_string),
                window: String::new(),
                half_life: None,
                schema: String::new(),
            };
            // Compiles the expressions now (an error here carries Postgres's own SQLSTATE), not at ingest time.
            client
                .select(&format!("select {} from {table} e limit 0", draft.input_expr()), None, &[])
                .map_err(spi_error)?;
            client
                .update(
                    "insert into pulse.features (name, entity_type, source, entity_column, time_column, aggregate,
                                                 value_sql, filter_sql, window_size, half_life, description)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     on conflict (name) do update set entity_type = excluded.entity_type, source = excluded.source,
                       entity_column = excluded.entity_column, time_column = excluded.time_column,
                       aggregate = excluded.aggregate, value_sql = excluded.value_sql, filter_sql = excluded.filter_sql,
                       window_size = excluded.window_size, half_life = excluded.half_life,
                       description = excluded.description, created_at = now(), created_by = current_user",
                    None,
                    &[
                        name.into(),
                        entity_type.into(),
                        source.into(),
                        entity_column.into(),
                        time_column.into(),
                        aggregate.into(),
                        value_sql.into(),
                        filter_sql.into(),
                        window_size.into(),
                        half_life.into(),
                        description.into(),
                    ],
                )
                .map_err(spi_error)?;
            ensure_index_and_trigger(client, source, &table, entity_column, time_column)
        })?;
        // Plans the refresh with the new definition now, so an expression that only fails inside an
        // aggregate (count(*), a set-returning function) is refused here and not at the next insert.
        refresh_rows(entity_type, Vec::new(), Vec::new()).map(|_| ())
    };
    define().or_raise("feature_define")
}

/// The refresh reads each entity's window through an (entity, time) index; the trigger keeps the
/// online store fresh. Both are created once per source.
fn ensure_index_and_trigger(
    client: &mut SpiClient<'_>,
    source: pg_sys::Oid,
    table: &str,
    entity_column: &str,
    time_column: &str,
) -> Result<()> {
    let indexed = select_one::<bool>(client, "select exists (select 1 from pg_index i
                             where i.indrelid = $1 and i.indnatts >= 2
                               and i.indkey[0] = (select attnum from pg_attribute where attrelid = $1 and attname = $2)
                               and i.indkey[1] = (select attnum from pg_attribute where attrelid = $1 and attname = $3))", &[source.into(), entity_column.into(), time_column.into()])?
        .unwrap_or(false);
    if !indexed {
        client
            .update(
                &format!(
                    "create index on {table} ({}, {})",
                    plan::quote_ident(entity_column),
                    plan::quote_ident(time_column)
                ),
                None,
                &[],
            )
            .map_err(spi_error)?;
    }
    let has_trigger = select_one::<bool>(
        client,
        "select exists (select 1 from pg_trigger where tgrelid = $1 and tgname = 'pulse_online_features')",
        &[source.into()],
    )?
    .unwrap_or(false);
    if !has_trigger {
        let function = select_one::<String>(client, "select extnamespace::regnamespace::text || '._feature_refresh_trigger' from pg_extension where extname = 'pulse'", &[])?
            .unwrap_or_default();
        client
            .update(
                &format!(
                    "create trigger pulse_online_features after insert on {table} \
                     referencing new table as pulse_new_rows for each statement execute function {function}()"
                ),
                None,
                &[],
            )
            .map_err(spi_error)?;
    }
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn feature_drop(name: &str) {
    Spi::connect_mut(|client| -> Result<()> {
        let gone = client
            .update("delete from pulse.features where name = $1 returning entity_type, source", None, &[name.into()])
            .map_err(spi_error)?;
        let Some(entity_type) = gone.first().get::<String>(1).ok().flatten() else {
            return Err(PulseError::new(Kind::UndefinedObject, format!("unknown feature \"{name}\"")));
        };
        client
            .update(
                "update pulse.online_features set features = features - $2 where entity_type = $1",
                None,
                &[entity_type.into(), name.into()],
            )
            .map_err(spi_error)?;
        Ok(())
    })
    .or_raise("feature_drop")
}

/// Recomputes the online values of `entity_ids` of one type as of their latest event; `event_times`
/// are the new events' times (the trigger passes the inserted rows).
#[pg_extern(volatile, parallel_unsafe)]
fn _feature_refresh_rows(
    entity_type: &str,
    entity_ids: Option<Vec<Option<String>>>,
    event_times: Option<Vec<Option<TimestampWithTimeZone>>>,
) -> i64 {
    let (Some(ids), Some(times)) = (entity_ids, event_times) else { return 0 };
    refresh_rows(entity_type, ids, times).or_raise("_feature_refresh_rows")
}

fn refresh_rows(entity_type: &str, ids: Vec<Option<String>>, times: Vec<Option<TimestampWithTimeZone>>) -> Result<i64> {
    Spi::connect_mut(|client| {
        let features = load_features(client, Some(vec![entity_type.to_string()]))?;
        refresh_with(client, entity_type, &features, ids, times)
    })
}

/// Writes the online values of `ids` (all of `entity_type`, whose `features` are given).
fn refresh_with(
    client: &mut SpiClient<'_>,
    entity_type: &str,
    features: &[Feature],
    ids: Vec<Option<String>>,
    times: Vec<Option<TimestampWithTimeZone>>,
) -> Result<i64> {
    if features.is_empty() {
        return Ok(0);
    }
    // Entities are locked (256 buckets per entity type, so the lock table stays small, taken in
    // bucket order) so that two writers refreshing the same entity serialise and the second
    // computes from a snapshot that sees the first one's rows.
    client
        .update(
            "select pg_advisory_xact_lock(hashtext('pulse.features.' || $1), bucket)
               from (select distinct hashtext(id) & 255 as bucket from unnest($2::text[]) id
                      where id is not null order by 1) b",
            None,
            &[entity_type.into(), ids.clone().into()],
        )
        .map_err(spi_error)?;
    let sql = format!(
        "insert into pulse.online_features as o (entity_type, entity_id, as_of, features, updated_at)
         select $3, _id, _as_of, _features, clock_timestamp() from ({}) r
         on conflict (entity_type, entity_id) do update
           set as_of = excluded.as_of, features = excluded.features, updated_at = excluded.updated_at",
        plan::refresh_sql(entity_type, features)
    );
    let done = client.update(&sql, None, &[ids.into(), times.into(), entity_type.into()]).map_err(spi_error)?;
    Ok(done.len() as i64)
}

#[pg_extern(volatile, parallel_unsafe)]
fn feature_refresh(entity_type: &str, entity_ids: default!(Option<Vec<Option<String>>>, "NULL")) -> i64 {
    Spi::connect_mut(|client| -> Result<i64> {
        let features = load_features(client, Some(vec![entity_type.to_string()]))?;
        if features.is_empty() {
            return Err(unknown_entity_type(entity_type));
        }
        let row = client.select(&plan::latest_events_sql(&features), None, &[entity_ids.into()]).map_err(spi_error)?;
        let row = row.first();
        let ids = row.get::<Vec<Option<String>>>(1).ok().flatten().unwrap_or_default();
        let times = row.get::<Vec<Option<TimestampWithTimeZone>>>(2).ok().flatten().unwrap_or_default();
        refresh_with(client, entity_type, &features, ids, times)
    })
    .or_raise("feature_refresh")
}

/// The online values of one entity (O(1): a primary-key read), with `_as_of`, the time they are
/// exact for. An entity without events gets every feature's empty value and `_as_of` NULL.
#[pg_extern(stable, parallel_safe)]
fn feature_get(
    entity_type: &str,
    entity_id: Option<&str>,
    names: default!(Option<Vec<Option<String>>>, "NULL"),
) -> Option<JsonB> {
    // No entity (an order paid without a card): NULL, like a strict function.
    let entity_id = entity_id?;
    Some(super::training::no_nulls("names", names).and_then(|n| get(entity_type, entity_id, n)).or_raise("feature_get"))
}

fn get(entity_type: &str, entity_id: &str, names: Option<Vec<String>>) -> Result<JsonB> {
    Spi::connect(|client| {
        let row = client
            .select(
                "with defined as (
                   select name, aggregate from pulse.features
                    where entity_type = $1 and ($3::text[] is null or name = any($3))),
                 online as (select features, as_of from pulse.online_features where entity_type = $1 and entity_id = $2)
                 select (select count(*) from defined),
                        (select array_agg(n) from unnest($3::text[]) n where n not in (select name from defined)),
                        (select jsonb_object_agg(d.name, coalesce((select features from online) -> d.name,
                                  case when d.aggregate = any($4) then '0'::jsonb else 'null'::jsonb end))
                           from defined d)
                        || jsonb_build_object('_as_of', (select as_of from online))",
                None,
                &[entity_type.into(), entity_id.into(), names.into(), Aggregate::zero_when_empty().into()],
            )
            .map_err(spi_error)?;
        let row = row.first();
        let missing = row.get::<Vec<String>>(2).ok().flatten().unwrap_or_default();
        if let Some(m) = missing.first() {
            return Err(PulseError::new(
                Kind::UndefinedObject,
                format!("unknown feature \"{m}\" of entity type \"{entity_type}\""),
            )
            .hint("List the features in pulse.features."));
        }
        if row.get::<i64>(1).ok().flatten().unwrap_or(0) == 0 {
            return Err(unknown_entity_type(entity_type));
        }
        Ok(row.get::<JsonB>(3).ok().flatten().unwrap_or(JsonB(serde_json::json!({}))))
    })
}

extension_sql!(
    r#"
comment on function feature_define(text, text, text, text, text, text, interval, text, text, interval, text) is
'registers (or replaces) feature name of entity_type in pulse.features: aggregate (count, sum, mean, stddev, distinct, decayed_sum, ewma) of value_sql over the rows of source whose entity_column is the entity and whose time_column lies in (as_of - window_size, as_of], optionally only where filter_sql holds; decayed_sum and ewma take half_life. Expressions see the source row as e. Creates the (entity_column, time_column) index and the refresh trigger on source if missing. Run feature_refresh(entity_type) to recompute online values of events already landed.';
comment on function feature_drop(text) is
'removes feature name from pulse.features and from the online values of its entity type';
comment on function _feature_refresh_rows(text, text[], timestamptz[]) is
'recomputes the online values of entity_ids (of entity_type) as of their latest event, given the times of their new events (internal; called by the refresh trigger)';
comment on function feature_refresh(text, text[]) is
'recomputes pulse.online_features for entity_ids of entity_type (every entity in its sources when NULL) as of each entity''s latest event; returns the number of entities written';
comment on function feature_get(text, text, text[]) is
'the online feature values of one entity as jsonb (all features of entity_type, or only names), read by primary key; _as_of is the time they are exact for (the entity''s latest event). An entity without events gets 0 for counts and sums, NULL otherwise, and _as_of NULL; a NULL entity_id gives NULL';
"#,
    name = "feature_store_comments",
    requires = [feature_define, feature_drop, _feature_refresh_rows, feature_refresh, feature_get, "feature_catalog"]
);
