-- Partition lifecycle of the raw landing tables (docs/partition-lifecycle.md): partitions made
-- ahead, expired partitions rolled up into 1-minute aggregates and dropped, one maintenance
-- function run by pg_cron when it is preloaded for this database and by pulse-ingest otherwise.

-- How long each raw table keeps its rows, and where they go before their partition is dropped.
create table if not exists raw.retention_policies (
  table_name       regclass    primary key,
  keep_days        integer     not null check (keep_days > 0),
  rollup_function  regprocedure,
  comment          text
);
comment on table raw.retention_policies is
  'retention of the day-partitioned raw tables: raw.run_maintenance() rolls up and drops partitions older than keep_days UTC days';
comment on column raw.retention_policies.keep_days is
  'UTC days of detail to keep: a partition is dropped once its upper bound is at or before the start of (today - keep_days)';
comment on column raw.retention_policies.rollup_function is
  'function(partition regclass) returns bigint run on a partition before it is dropped, returning how many rows it rolled up; null drops without rollup';

-- Refuses policies raw.run_maintenance() could not apply, when they are written rather than at 3 am.
create or replace function raw._check_retention_policy()
returns trigger
language plpgsql
as $$
begin
  if not exists (select 1 from pg_class where oid = new.table_name and relkind = 'p') then
    raise exception '% is not a partitioned table', new.table_name using errcode = '42809';
  end if;
  if new.rollup_function is not null and not exists (
       select 1 from pg_proc
        where oid = new.rollup_function and pronargs = 1
          and proargtypes[0] = 'regclass'::regtype and prorettype = 'bigint'::regtype) then
    raise exception 'rollup function % must take (regclass) and return bigint', new.rollup_function
      using errcode = '42P13',
            hint = 'The function receives the partition and returns how many of its rows it rolled up.';
  end if;
  return new;
end
$$;
comment on function raw._check_retention_policy() is
  'trigger on raw.retention_policies: the table is partitioned and the rollup function takes (regclass) and returns bigint';
drop trigger if exists retention_policies_check on raw.retention_policies;
create trigger retention_policies_check before insert or update on raw.retention_policies
  for each row execute function raw._check_retention_policy();

-- 1-minute rollups: the tiered copy of the raw rows, kept after their partitions are dropped.
-- Additive: rolling up a late partition adds to the minutes already there.
create table if not exists raw.orders_1m (
  minute    timestamptz not null,
  currency  text        not null,
  orders    bigint      not null,
  amount    numeric     not null,
  items     bigint      not null,
  primary key (minute, currency)
);
comment on table raw.orders_1m is
  'orders per UTC minute and currency (count, sum of amount, sum of items), rolled up from dropped raw.orders partitions';

create table if not exists raw.clickstream_1m (
  minute      timestamptz not null,
  event_type  text        not null,
  events      bigint      not null,
  primary key (minute, event_type)
);
comment on table raw.clickstream_1m is
  'storefront events per UTC minute and event type, rolled up from dropped raw.clickstream partitions';

create table if not exists raw.payments_1m (
  minute      timestamptz not null,
  event_type  text        not null,
  currency    text        not null,
  events      bigint      not null,
  amount      numeric     not null,
  primary key (minute, event_type, currency)
);
comment on table raw.payments_1m is
  'payment events per UTC minute, event type and currency (count, sum of amount), rolled up from dropped raw.payments partitions';

create table if not exists raw.inventory_1m (
  minute      timestamptz not null,
  product_id  text        not null,
  reason      text        not null,
  delta       bigint      not null,
  events      bigint      not null,
  primary key (minute, product_id, reason)
);
comment on table raw.inventory_1m is
  'stock changes per UTC minute, product and reason (sum of delta, count), rolled up from dropped raw.inventory partitions';

create table if not exists raw.exposures_1m (
  minute          timestamptz not null,
  experiment_key  text        not null,
  variant         text        not null,
  exposures       bigint      not null,
  primary key (minute, experiment_key, variant)
);
comment on table raw.exposures_1m is
  'experiment exposures per UTC minute, experiment and variant (every exposure, not distinct units), rolled up from dropped raw.exposures partitions';

create table if not exists raw.cdc_changes_1m (
  minute   timestamptz not null,
  entity   text        not null,
  op       text        not null,
  changes  bigint      not null,
  primary key (minute, entity, op)
);
comment on table raw.cdc_changes_1m is
  'CDC changes per UTC minute of source_ts, entity and op, rolled up from dropped raw.cdc_changes partitions';

-- Refuses to roll up anything but a partition of the expected table: rolling up the parent,
-- or a partition twice, would count rows twice.
create or replace function raw._check_partition_of(part regclass, parent regclass)
returns void
language plpgsql
stable
as $$
begin
  if part is null or not exists (select 1 from pg_inherits where inhrelid = part and inhparent = parent) then
    raise exception '% is not a partition of %', part, parent using errcode = '22023';
  end if;
end
$$;
comment on function raw._check_partition_of(regclass, regclass) is
  'raises 22023 unless part is a partition of parent';

create or replace function raw.rollup_orders(part regclass)
returns bigint
language plpgsql
as $$
declare
  n bigint;
begin
  perform raw._check_partition_of(part, 'raw.orders');
  execute format($q$
    with agg as (
      select date_bin('1 minute', created_at, timestamptz '2000-01-01 00:00:00+00') as minute, currency,
             count(*) as orders, sum(amount) as amount, sum(items) as items
        from %s
       group by 1, 2
    ), merged as (
      insert into raw.orders_1m as r (minute, currency, orders, amount, items)
      select minute, currency, orders, amount, items from agg
      on conflict (minute, currency) do update
        set orders = r.orders + excluded.orders, amount = r.amount + excluded.amount, items = r.items + excluded.items
    )
    select coalesce(sum(orders), 0)::bigint from agg$q$, part) into n;
  return n;
end
$$;
comment on function raw.rollup_orders(regclass) is
  'adds the rows of a raw.orders partition to raw.orders_1m; returns how many rows it rolled up';

create or replace function raw.rollup_clickstream(part regclass)
returns bigint
language plpgsql
as $$
declare
  n bigint;
begin
  perform raw._check_partition_of(part, 'raw.clickstream');
  execute format($q$
    with agg as (
      select date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00') as minute, event_type,
             count(*) as events
        from %s
       group by 1, 2
    ), merged as (
      insert into raw.clickstream_1m as r (minute, event_type, events)
      select minute, event_type, events from agg
      on conflict (minute, event_type) do update set events = r.events + excluded.events
    )
    select coalesce(sum(events), 0)::bigint from agg$q$, part) into n;
  return n;
end
$$;
comment on function raw.rollup_clickstream(regclass) is
  'adds the rows of a raw.clickstream partition to raw.clickstream_1m; returns how many rows it rolled up';

create or replace function raw.rollup_payments(part regclass)
returns bigint
language plpgsql
as $$
declare
  n bigint;
begin
  perform raw._check_partition_of(part, 'raw.payments');
  execute format($q$
    with agg as (
      select date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00') as minute, event_type, currency,
             count(*) as events, sum(amount) as amount
        from %s
       group by 1, 2, 3
    ), merged as (
      insert into raw.payments_1m as r (minute, event_type, currency, events, amount)
      select minute, event_type, currency, events, amount from agg
      on conflict (minute, event_type, currency) do update
        set events = r.events + excluded.events, amount = r.amount + excluded.amount
    )
    select coalesce(sum(events), 0)::bigint from agg$q$, part) into n;
  return n;
end
$$;
comment on function raw.rollup_payments(regclass) is
  'adds the rows of a raw.payments partition to raw.payments_1m; returns how many rows it rolled up';

create or replace function raw.rollup_inventory(part regclass)
returns bigint
language plpgsql
as $$
declare
  n bigint;
begin
  perform raw._check_partition_of(part, 'raw.inventory');
  execute format($q$
    with agg as (
      select date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00') as minute, product_id, reason,
             sum(delta) as delta, count(*) as events
        from %s
       group by 1, 2, 3
    ), merged as (
      insert into raw.inventory_1m as r (minute, product_id, reason, delta, events)
      select minute, product_id, reason, delta, events from agg
      on conflict (minute, product_id, reason) do update
        set delta = r.delta + excluded.delta, events = r.events + excluded.events
    )
    select coalesce(sum(events), 0)::bigint from agg$q$, part) into n;
  return n;
end
$$;
comment on function raw.rollup_inventory(regclass) is
  'adds the rows of a raw.inventory partition to raw.inventory_1m; returns how many rows it rolled up';

create or replace function raw.rollup_exposures(part regclass)
returns bigint
language plpgsql
as $$
declare
  n bigint;
begin
  perform raw._check_partition_of(part, 'raw.exposures');
  execute format($q$
    with agg as (
      select date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00') as minute, experiment_key, variant,
             count(*) as exposures
        from %s
       group by 1, 2, 3
    ), merged as (
      insert into raw.exposures_1m as r (minute, experiment_key, variant, exposures)
      select minute, experiment_key, variant, exposures from agg
      on conflict (minute, experiment_key, variant) do update set exposures = r.exposures + excluded.exposures
    )
    select coalesce(sum(exposures), 0)::bigint from agg$q$, part) into n;
  return n;
end
$$;
comment on function raw.rollup_exposures(regclass) is
  'adds the rows of a raw.exposures partition to raw.exposures_1m; returns how many rows it rolled up';

create or replace function raw.rollup_cdc_changes(part regclass)
returns bigint
language plpgsql
as $$
declare
  n bigint;
begin
  perform raw._check_partition_of(part, 'raw.cdc_changes');
  execute format($q$
    with agg as (
      select date_bin('1 minute', source_ts, timestamptz '2000-01-01 00:00:00+00') as minute, entity, op,
             count(*) as changes
        from %s
       group by 1, 2, 3
    ), merged as (
      insert into raw.cdc_changes_1m as r (minute, entity, op, changes)
      select minute, entity, op, changes from agg
      on conflict (minute, entity, op) do update set changes = r.changes + excluded.changes
    )
    select coalesce(sum(changes), 0)::bigint from agg$q$, part) into n;
  return n;
end
$$;
comment on function raw.rollup_cdc_changes(regclass) is
  'adds the rows of a raw.cdc_changes partition to raw.cdc_changes_1m; returns how many rows it rolled up';

-- Defaults. A policy someone changed is left as it is when this runs again.
-- Orders and payments keep 400 days: chargebacks arrive up to 60 days after the order, and
-- model training needs more than a year of history.
insert into raw.retention_policies (table_name, keep_days, rollup_function, comment) values
  ('raw.clickstream', 30, 'raw.rollup_clickstream(regclass)', 'high volume; funnels older than a month come from raw.clickstream_1m'),
  ('raw.exposures', 90, 'raw.rollup_exposures(regclass)', 'experiments run for weeks; first exposures per unit are needed while one runs'),
  ('raw.inventory', 90, 'raw.rollup_inventory(regclass)', 'stock history for a quarter; stock levels live in raw.inventory_1m beyond that'),
  ('raw.payments', 400, 'raw.rollup_payments(regclass)', 'chargebacks (the fraud label) arrive up to 60 days later; training needs more than a year'),
  ('raw.orders', 400, 'raw.rollup_orders(regclass)', 'training and chargeback labelling need more than a year of orders'),
  ('raw.cdc_changes', 400, 'raw.rollup_cdc_changes(regclass)', 'change history for audits; the mirror tables keep the current state')
on conflict (table_name) do nothing;

-- The lifecycle step, idempotent: premakes partitions, then rolls up and drops expired ones.
create or replace function raw.run_maintenance(as_of timestamptz default now(), premake_days integer default 7)
returns table (table_name text, action text, partition_name text, rows bigint)
language plpgsql
volatile
as $$
declare
  today date;
  pol record;
  part record;
  d date;
  cutoff timestamptz;
  sch text;
  tbl text;
  rollup_sql text;
  n bigint;
  rolled bigint;
  locked boolean;
begin
  if as_of is null then
    raise exception 'as_of must not be null' using errcode = '22023';
  end if;
  if as_of > now() + interval '1 day' then
    raise exception 'as_of % is more than 1 day in the future', as_of
      using errcode = '22023',
            hint = 'Maintenance as of a future day would drop partitions that are still within their retention.';
  end if;
  if premake_days is null or premake_days < 0 or premake_days > 365 then
    raise exception 'premake_days must be between 0 and 365, got %', premake_days using errcode = '22023';
  end if;
  -- One run at a time, whoever runs it (pg_cron, pulse-ingest, a person): the second waits and
  -- then finds nothing left to do.
  perform pg_advisory_xact_lock(hashtext('raw.run_maintenance'), 0);
  today := (as_of at time zone 'UTC')::date;

  for pol in
    select p.table_name::oid as parent, p.keep_days, p.rollup_function, n.nspname, c.relname
      from raw.retention_policies p
      join pg_class c on c.oid = p.table_name   -- a policy whose table was dropped has nothing to do
      join pg_namespace n on n.oid = c.relnamespace
     order by n.nspname, c.relname
  loop
    sch := pol.nspname;
    tbl := pol.relname;

    -- Premake [today - 1, today + premake_days]; the ingester still creates any other day on demand.
    for d in select generate_series(today - 1, today + premake_days, interval '1 day')::date loop
      if to_regclass(format('%I.%I', sch, tbl || '_' || to_char(d, 'YYYYMMDD'))) is null
         and raw.ensure_day_partitions(pol.parent::regclass, d, d) = 1 then
        table_name := format('%I.%I', sch, tbl);
        action := 'created';
        partition_name := format('%I.%I', sch, tbl || '_' || to_char(d, 'YYYYMMDD'));
        rows := 0;
        return next;
      end if;
    end loop;

    -- Expired: our own day partitions (named <table>_YYYYMMDD, bounded by that UTC day) whose
    -- upper bound is at or before the start of (today - keep_days).
    cutoff := (today - pol.keep_days)::timestamp at time zone 'UTC';
    rollup_sql := null;
    if pol.rollup_function is not null then
      select format('select %I.%I($1)', pn.nspname, pp.proname) into rollup_sql
        from pg_proc pp join pg_namespace pn on pn.oid = pp.pronamespace
       where pp.oid = pol.rollup_function;
      if rollup_sql is null then
        raise exception 'rollup function % of the retention policy for %.% does not exist',
                        pol.rollup_function::oid, sch, tbl
          using errcode = '42883',
                hint = 'Create it again, or set rollup_function to null in raw.retention_policies to drop without rollup.';
      end if;
    end if;
    locked := false;
    for part in
      select b.child, b.relname
        from (
          select i.inhrelid::regclass as child, c.relname,
                 (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                               '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$'))::timestamptz[] as bound
            from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where i.inhparent = pol.parent
             and left(c.relname, length(tbl) + 1) = tbl || '_'
             and substr(c.relname, length(tbl) + 2) ~ '^[0-9]{8}$'
        ) b
       where to_char(b.bound[1] at time zone 'UTC', 'YYYYMMDD') = right(b.relname, 8)
         and b.bound[1] = date_trunc('day', b.bound[1] at time zone 'UTC') at time zone 'UTC'
         and b.bound[2] = (b.bound[1] at time zone 'UTC' + interval '1 day') at time zone 'UTC'
         and b.bound[2] <= cutoff
       order by b.relname
    loop
      if not locked then
        -- Writers wait from here to commit, so no row lands in a partition between its rollup
        -- and its drop; DROP needs this lock on the parent anyway.
        execute format('lock table %I.%I in access exclusive mode', sch, tbl);
        locked := true;
      end if;
      execute format('select count(*) from %s', part.child) into n;
      table_name := format('%I.%I', sch, tbl);
      partition_name := format('%I.%I', sch, part.relname);
      if rollup_sql is not null then
        execute rollup_sql into rolled using part.child;
        if rolled is distinct from n then
          raise exception 'rollup function % rolled up % of the % rows of %', pol.rollup_function, rolled, n, part.child
            using errcode = '55000',
                  detail = 'The partition was not dropped: a partial rollup would lose rows.';
        end if;
        action := 'rolled_up';
        rows := rolled;
        return next;
      end if;
      execute format('drop table %s', part.child);
      action := 'dropped';
      rows := n;
      return next;
    end loop;
  end loop;
end
$$;
comment on function raw.run_maintenance(timestamptz, integer) is
  'premakes the UTC-day partitions [as_of - 1 day, as_of + premake_days] of every table in raw.retention_policies, then rolls up and drops its partitions older than keep_days; returns what it did (nothing when there is nothing to do)';

-- pg_cron: the job name, shared by the two functions below and the docs.
create or replace function raw.maintenance_scheduled_by_pg_cron()
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  scheduled boolean;
begin
  -- pg_cron runs jobs only when preloaded, and only in cron.database_name (a setting that exists
  -- only while it is loaded); the extension may stay installed after it is no longer preloaded.
  if current_setting('cron.database_name', true) is distinct from current_database()
     or not exists (select 1 from pg_extension where extname = 'pg_cron') then
    return false;
  end if;
  execute 'select exists (select 1 from cron.job where jobname = $1 and database = current_database() and active)'
    into scheduled using 'pulse-raw-maintenance';
  return scheduled;
end
$$;
comment on function raw.maintenance_scheduled_by_pg_cron() is
  'true when an active pg_cron job pulse-raw-maintenance runs raw.run_maintenance() in this database; pulse-ingest runs it itself otherwise';

create or replace function raw.schedule_maintenance_with_pg_cron()
returns boolean
language plpgsql
volatile
as $$
declare
  scheduled boolean;
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron')
     or not coalesce(current_setting('shared_preload_libraries', true), '') ~ '(^|,)\s*"?pg_cron"?\s*(,|$)'
     or current_database() is distinct from current_setting('cron.database_name', true) then
    return false;
  end if;
  if not exists (select 1 from pg_extension where extname = 'pg_cron') then
    if not (select rolsuper from pg_roles where rolname = current_user) then
      return false;   -- only a superuser may create pg_cron; pulse-ingest runs maintenance meanwhile
    end if;
    create extension if not exists pg_cron;
  end if;
  -- cron.schedule with a name would reset a schedule or command someone changed: only add a
  -- missing job. A job someone deactivated stays inactive (and pulse-ingest runs maintenance).
  execute 'select exists (select 1 from cron.job where jobname = $1 and database = current_database())'
    into scheduled using 'pulse-raw-maintenance';
  if not scheduled then
    execute 'select cron.schedule($1, $2, $3)'
      using 'pulse-raw-maintenance', '*/10 * * * *', 'select raw.run_maintenance()';
  end if;
  return raw.maintenance_scheduled_by_pg_cron();
end
$$;
comment on function raw.schedule_maintenance_with_pg_cron() is
  'schedules raw.run_maintenance() every 10 minutes as pg_cron job pulse-raw-maintenance when pg_cron is preloaded for this database; returns whether pg_cron runs it';

select raw.schedule_maintenance_with_pg_cron();
