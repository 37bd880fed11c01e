-- drift_report over two queries, and drift monitors: stored reference profiles, runs, results
-- and alerts (schema pulse).

-- One column's test with drift_report's and the monitors' overrides: tests {"col": t} or
-- {"*": t}; thresholds {"col": x} wins over {"test": x}.
create function @extschema@._drift_column_test(
    column_name text, reference drift_profile, current drift_profile, tests jsonb, thresholds jsonb
) returns table (kind text, test text, statistic float8, p_value float8, threshold float8, drifted boolean)
language sql immutable parallel safe
as $$
    select * from @extschema@.drift_test(
        reference, current,
        coalesce(tests ->> column_name, tests ->> '*'),
        (thresholds ->> column_name)::float8,
        thresholds, column_name)
$$;
comment on function @extschema@._drift_column_test(text, drift_profile, drift_profile, jsonb, jsonb) is
'internal: drift_test with drift_report''s and the monitors'' per-column overrides';

create function @extschema@.drift_report(
    reference_sql text,
    current_sql text,
    columns text[] default null,
    tests jsonb default null,
    thresholds jsonb default null
) returns table (
    column_name text, kind text, test text, statistic float8, p_value float8, threshold float8, drifted boolean
)
language sql volatile
as $$
    with ref as materialized (
        select q.column_name, q.kind, q.profile, q.ord
        from @extschema@.drift_profile_query(reference_sql, columns) with ordinality q(column_name, kind, profile, ord)
    ),
    cur as materialized (
        -- the reference's columns, so a column missing from the current query is an error (42703)
        select q.column_name, q.profile
        from @extschema@.drift_profile_query(
            current_sql, (select array_agg(ref.column_name order by ref.ord) from ref)) q
    )
    select ref.column_name, t.kind, t.test, t.statistic, t.p_value, t.threshold, t.drifted
    from ref
    join cur using (column_name)
    cross join lateral @extschema@._drift_column_test(ref.column_name, ref.profile, cur.profile, tests, thresholds) t
    order by ref.ord
$$;
comment on function @extschema@.drift_report(text, text, text[], jsonb, jsonb) is
'Data drift of every column (or the listed ones) between two queries, like Evidently''s data-drift preset: each query is profiled in one scan (drift_profile_query), then drift_test picks the test per column (numeric with > 5 distinct values: ks when the reference has <= 1000 rows, else wasserstein normalised by the reference std; categorical: chi2, ztest when binary, js when the reference has > 1000 rows) with Evidently''s thresholds (p < 0.05; wasserstein, psi, js >= 0.1). tests: {"column": "psi"} or {"*": "psi"}; thresholds: {"column": 0.2} (wins) or by test name {"psi": 0.2}. Both queries run with the caller''s privileges.';

create table pulse.monitors (
    -- pg_cron job names are of type name (63 bytes): 'pulse-drift:' plus at most 51 bytes
    name text primary key check (name <> '' and octet_length(name) <= 51),
    reference_sql text not null,
    -- the current window, e.g. rows of the last day; run by drift_monitor_run
    current_sql text not null,
    -- NULL: every column drift profiles support, fixed when the reference is profiled
    columns text[],
    tests jsonb not null default '{}' check (jsonb_typeof(tests) = 'object'),
    thresholds jsonb not null default '{}' check (jsonb_typeof(thresholds) = 'object'),
    -- cron expression for pg_cron (job 'pulse-drift:<name>'); NULL: run on demand
    schedule text,
    created_at timestamptz not null default now(),
    created_by name not null default current_user,
    reference_at timestamptz,
    last_run_at timestamptz
);
comment on table pulse.monitors is 'drift monitors: a reference query profiled once, a current-window query profiled per run, tests and thresholds per column, and a pg_cron schedule (drift_monitor_create)';

create table pulse.drift_runs (
    run_id bigserial primary key,
    monitor text not null references pulse.monitors (name) on delete cascade,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    columns int,
    drifted int
);
create index drift_runs_monitor on pulse.drift_runs (monitor, started_at);
comment on table pulse.drift_runs is 'one row per drift_monitor_run: when, how many columns were tested and how many drifted';

create table pulse.drift_profiles (
    profile_id bigserial primary key,
    monitor text not null references pulse.monitors (name) on delete cascade,
    -- NULL for the reference, else the run that profiled the current window
    run_id bigint references pulse.drift_runs (run_id) on delete cascade,
    role text not null check (role in ('reference', 'current')),
    ordinal int not null,
    column_name text not null,
    kind text not null,
    profile drift_profile not null,
    computed_at timestamptz not null default clock_timestamp(),
    check ((role = 'reference') = (run_id is null))
);
create unique index drift_profiles_reference on pulse.drift_profiles (monitor, column_name) where role = 'reference';
create index drift_profiles_run on pulse.drift_profiles (run_id);
comment on table pulse.drift_profiles is 'stored drift profiles: each monitor''s reference (profiled once) and the current window of every run; roll them up with drift_profile_merge';

create table pulse.drift_results (
    run_id bigint not null references pulse.drift_runs (run_id) on delete cascade,
    ordinal int not null,
    column_name text not null,
    kind text not null,
    test text not null,
    statistic float8 not null,
    p_value float8,
    threshold float8 not null,
    drifted boolean not null,
    primary key (run_id, column_name)
);
comment on table pulse.drift_results is 'every column''s test in every monitor run (drift_test on the stored reference and the run''s current profile)';

create table pulse.drift_alerts (
    alert_id bigserial primary key,
    run_id bigint not null references pulse.drift_runs (run_id) on delete cascade,
    monitor text not null,
    column_name text not null,
    test text not null,
    statistic float8 not null,
    p_value float8,
    threshold float8 not null,
    raised_at timestamptz not null default clock_timestamp()
);
create index drift_alerts_time on pulse.drift_alerts (raised_at);
comment on table pulse.drift_alerts is 'one row per drifted column per monitor run; what dashboards and notifications read';

create view pulse.drift_alert_history as
select date_trunc('day', r.started_at) as day,
       r.monitor,
       res.column_name,
       res.test,
       count(*) as runs,
       count(*) filter (where res.drifted) as alerts,
       max(res.statistic) as max_statistic,
       min(res.p_value) as min_p_value
from pulse.drift_runs r
join pulse.drift_results res using (run_id)
group by 1, 2, 3, 4;
comment on view pulse.drift_alert_history is 'drift per monitor, column and day: runs, alerts (drifted runs), the largest statistic and smallest p-value; for the BI layer';

create function @extschema@._drift_monitor(monitor_name text) returns pulse.monitors
language plpgsql volatile
as $$
declare
    m pulse.monitors;
begin
    -- locked: one run, refresh or drop of a monitor at a time, and they read what they lock
    select * into m from pulse.monitors where name = monitor_name for update;
    if not found then
        raise exception 'unknown drift monitor "%"', monitor_name
            using errcode = '42704', hint = 'Create it with drift_monitor_create(); pulse.monitors lists them.';
    end if;
    return m;
end
$$;
comment on function @extschema@._drift_monitor(text) is 'internal: the monitor''s row, locked for update, or 42704';

create function @extschema@.drift_monitor_refresh_reference(monitor_name text) returns int
language plpgsql volatile
as $$
declare
    m pulse.monitors := @extschema@._drift_monitor(monitor_name);
    n int;
begin
    delete from pulse.drift_profiles where monitor = monitor_name and role = 'reference';
    insert into pulse.drift_profiles (monitor, role, ordinal, column_name, kind, profile)
    select monitor_name, 'reference', q.ord, q.column_name, q.kind, q.profile
    from @extschema@.drift_profile_query(m.reference_sql, m.columns) with ordinality q(column_name, kind, profile, ord);
    get diagnostics n = row_count;
    update pulse.monitors set reference_at = now() where name = monitor_name;
    return n;
end
$$;
comment on function @extschema@.drift_monitor_refresh_reference(text) is
'Profiles the monitor''s reference query again and replaces its stored reference profiles; returns the number of columns. Later runs compare against the new reference.';

create function @extschema@.drift_monitor_create(
    name text,
    reference_sql text,
    current_sql text,
    columns text[] default null,
    schedule text default null,
    tests jsonb default '{}',
    thresholds jsonb default '{}'
) returns int
language plpgsql volatile
as $$
declare
    n int;
begin
    if name is null or reference_sql is null or current_sql is null then
        raise exception 'name, reference_sql and current_sql must not be NULL' using errcode = '22004';
    end if;
    if name = '' or octet_length(name) > 51 then
        raise exception 'a drift monitor name must have 1 to 51 bytes, not %', octet_length(name)
            using errcode = '22023', hint = 'Its pg_cron job is named ''pulse-drift:'' || name, and job names hold 63 bytes.';
    end if;
    if exists (select 1 from pulse.monitors m where m.name = drift_monitor_create.name) then
        raise exception 'drift monitor "%" already exists', name
            using errcode = '42710', hint = 'Drop it with drift_monitor_drop() first, or refresh its reference.';
    end if;
    begin
        insert into pulse.monitors (name, reference_sql, current_sql, columns, tests, thresholds, schedule)
        values (name, reference_sql, current_sql, columns, coalesce(tests, '{}'), coalesce(thresholds, '{}'), schedule);
    exception when unique_violation then
        -- created concurrently since the check above
        raise exception 'drift monitor "%" already exists', name using errcode = '42710';
    end;
    n := @extschema@.drift_monitor_refresh_reference(name);
    if schedule is not null then
        if exists (select 1 from pg_extension where extname = 'pg_cron') then
            execute format('select cron.schedule(%L, %L, %L)', 'pulse-drift:' || name, schedule,
                format('select count(*) from %s.drift_monitor_run(%L)', '@extschema@', name));
        else
            raise notice 'pg_cron is not installed, so monitor "%" will not run by itself', name
                using hint = format('Run "select * from drift_monitor_run(%L)" from cron, a systemd timer or your orchestrator at the schedule.', name);
        end if;
    end if;
    return n;
end
$$;
comment on function @extschema@.drift_monitor_create(text, text, text, text[], text, jsonb, jsonb) is
'Creates a drift monitor and profiles its reference now (returns the number of columns). current_sql is the window each run profiles (e.g. the last day); columns NULL means every supported column of the reference query. tests and thresholds as in drift_report. schedule: a cron expression; with pg_cron installed the monitor runs as cron job ''pulse-drift:<name>'', without it a NOTICE says to call drift_monitor_run from an external scheduler.';

create function @extschema@.drift_monitor_run(monitor_name text) returns table (
    column_name text, kind text, test text, statistic float8, p_value float8, threshold float8, drifted boolean
)
language plpgsql volatile
as $$
declare
    m pulse.monitors := @extschema@._drift_monitor(monitor_name);
    rid bigint;
begin
    insert into pulse.drift_runs (monitor) values (monitor_name) returning run_id into rid;
    insert into pulse.drift_profiles (monitor, run_id, role, ordinal, column_name, kind, profile)
    select monitor_name, rid, 'current', q.ord, q.column_name, q.kind, q.profile
    from @extschema@.drift_profile_query(m.current_sql, (
        select array_agg(p.column_name order by p.ordinal) from pulse.drift_profiles p
        where p.monitor = monitor_name and p.role = 'reference')) with ordinality q(column_name, kind, profile, ord);
    insert into pulse.drift_results (run_id, ordinal, column_name, kind, test, statistic, p_value, threshold, drifted)
    select rid, r.ordinal, r.column_name, t.kind, t.test, t.statistic, t.p_value, t.threshold, t.drifted
    from pulse.drift_profiles r
    join pulse.drift_profiles c on c.run_id = rid and c.column_name = r.column_name
    cross join lateral @extschema@._drift_column_test(r.column_name, r.profile, c.profile, m.tests, m.thresholds) t
    where r.monitor = monitor_name and r.role = 'reference';
    insert into pulse.drift_alerts (run_id, monitor, column_name, test, statistic, p_value, threshold)
    select rid, monitor_name, res.column_name, res.test, res.statistic, res.p_value, res.threshold
    from pulse.drift_results res where res.run_id = rid and res.drifted
    order by res.ordinal;
    update pulse.drift_runs
    set finished_at = clock_timestamp(),
        columns = (select count(*) from pulse.drift_results res where res.run_id = rid),
        drifted = (select count(*) from pulse.drift_results res where res.run_id = rid and res.drifted)
    where run_id = rid;
    update pulse.monitors set last_run_at = now() where name = monitor_name;
    return query
    select res.column_name, res.kind, res.test, res.statistic, res.p_value, res.threshold, res.drifted
    from pulse.drift_results res where res.run_id = rid order by res.ordinal;
end
$$;
comment on function @extschema@.drift_monitor_run(text) is
'Runs a drift monitor: profiles its current window in one scan, stores those profiles (pulse.drift_profiles, role current), tests every column against the stored reference profiles (drift_test with the monitor''s tests and thresholds) into pulse.drift_results, raises pulse.drift_alerts for the drifted ones, and returns the results. Unknown monitor: 42704; an empty current window: 22023 and nothing is written.';

create function @extschema@.drift_monitor_drop(monitor_name text) returns boolean
language plpgsql volatile
as $$
declare
    m pulse.monitors := @extschema@._drift_monitor(monitor_name);
begin
    if m.schedule is not null and exists (select 1 from pg_extension where extname = 'pg_cron') then
        execute 'select cron.unschedule(jobid) from cron.job where jobname = $1' using 'pulse-drift:' || monitor_name;
    end if;
    delete from pulse.monitors where name = monitor_name;
    return true;
end
$$;
comment on function @extschema@.drift_monitor_drop(text) is
'Drops a drift monitor with its stored profiles, runs, results and alerts, and its pg_cron job if any. Unknown monitor: 42704.';
