-- Schema raw: landing tables written by pulse-ingest, partitioned by day (UTC).
create schema if not exists raw;
comment on schema raw is 'pulse landing tables: events as they arrive from Kafka, partitioned by day';

-- Creates the missing daily partitions of a range-partitioned table for [first_day, last_day].
-- Partition bounds are UTC days. Serialised with an advisory lock so concurrent ingesters
-- never race on CREATE TABLE. Returns the number of partitions created.
create or replace function raw.ensure_day_partitions(parent regclass, first_day date, last_day date)
returns integer
language plpgsql
as $$
declare
  sch text;
  tbl text;
  d date;
  part text;
  created integer := 0;
begin
  if first_day is null or last_day is null or last_day < first_day then
    raise exception 'invalid day range [%, %]', first_day, last_day using errcode = '22023';
  end if;
  if last_day - first_day > 400 then
    raise exception 'refusing to create % daily partitions at once', last_day - first_day + 1
      using errcode = '54000', hint = 'Create partitions for at most 401 days per call.';
  end if;
  select n.nspname, c.relname into sch, tbl
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.oid = parent and c.relkind = 'p';
  if not found then
    raise exception '% is not a partitioned table', parent using errcode = '42809';
  end if;
  perform pg_advisory_xact_lock(hashtext('raw.ensure_day_partitions'), parent::oid::integer);
  for d in select generate_series(first_day, last_day, interval '1 day')::date loop
    part := format('%s_%s', tbl, to_char(d, 'YYYYMMDD'));
    if to_regclass(format('%I.%I', sch, part)) is null then
      execute format('create table %I.%I partition of %I.%I for values from (%L) to (%L)',
                     sch, part, sch, tbl,
                     (d::timestamp at time zone 'UTC'), ((d + 1)::timestamp at time zone 'UTC'));
      created := created + 1;
    end if;
  end loop;
  return created;
end
$$;
comment on function raw.ensure_day_partitions(regclass, date, date) is
  'creates the missing UTC-day partitions of a range-partitioned table for [first_day, last_day]; returns how many it created';
