-- The experiment registry, the exposure log and the per-variant report (schema pulse).

create table pulse.experiments (
    key text primary key check (key <> '' and length(key) <= 200),
    variants text[] not null check (cardinality(variants) >= 2 and array_position(variants, null) is null),
    -- one per variant, summing to 1 +- 0.01 (checked by ab_create_experiment)
    weights float8[] not null check (cardinality(weights) = cardinality(variants)),
    coverage float8 not null default 1 check (coverage between 0 and 1),
    -- hash seed; GrowthBook's default is the experiment key
    seed text not null,
    hash_version int not null default 2 check (hash_version in (1, 2)),
    -- GrowthBook namespace: the experiment takes units hashed into [namespace_start, namespace_end)
    namespace text,
    namespace_start float8,
    namespace_end float8,
    -- share of units held out of the experiment (they get NULL: the default experience)
    holdout float8 not null default 0 check (holdout >= 0 and holdout < 1),
    status text not null default 'running' check (status in ('draft', 'running', 'stopped')),
    start_at timestamptz,
    stop_at timestamptz,
    description text,
    created_at timestamptz not null default now(),
    created_by name not null default current_user,
    check ((namespace is null) = (namespace_start is null) and (namespace is null) = (namespace_end is null)),
    check (namespace_start >= 0 and namespace_end <= 1 and namespace_start <= namespace_end),
    check (stop_at > start_at)
);
comment on table pulse.experiments is 'A/B/n experiments: GrowthBook-compatible assignment settings, holdout and status (ab_create_experiment)';

create table pulse.exposures (
    experiment text not null references pulse.experiments (key) on delete cascade,
    unit_id text not null,
    variant text not null,
    exposed_at timestamptz not null default clock_timestamp(),
    primary key (experiment, unit_id)
);
comment on table pulse.exposures is 'the first exposure of each unit to each experiment, with the variant it saw (ab_expose)';

create function @extschema@.ab_create_experiment(
    key text,
    variants text[],
    weights float8[] default null,
    coverage float8 default 1,
    seed text default null,
    hash_version int default 2,
    namespace text default null,
    namespace_start float8 default 0,
    namespace_end float8 default 1,
    holdout float8 default 0,
    status text default 'running',
    start_at timestamptz default null,
    stop_at timestamptz default null,
    description text default null
) returns pulse.experiments
language plpgsql volatile
as $$
declare
    e pulse.experiments;
    w float8[] := coalesce(weights, @extschema@.ab_equal_weights(cardinality(variants)));
begin
    if key is null or key = '' then
        raise exception 'experiment key cannot be empty' using errcode = '22023',
            hint = 'Name the experiment, for example ''checkout-button''.';
    end if;
    if variants is null or cardinality(variants) < 2 or array_position(variants, null) is not null
       or (select count(distinct v) from unnest(variants) v) < cardinality(variants) then
        raise exception 'an experiment needs at least 2 distinct, non-NULL variants' using errcode = '22023',
            hint = 'For example array[''control'', ''treatment''].';
    end if;
    if cardinality(w) <> cardinality(variants) or array_position(w, null) is not null then
        raise exception 'got % weights for % variants', cardinality(w), cardinality(variants) using errcode = '22023',
            hint = 'Give one weight per variant, or NULL for equal weights.';
    end if;
    -- coverage, negative weights and hash_version errors, as ab_assign raises them
    perform @extschema@.ab_assign('', variants, w, '', coverage, hash_version);
    if abs((select sum(x) from unnest(w) x) - 1) > 0.01 then
        raise exception 'weights sum to %, not 1', (select sum(x) from unnest(w) x) using errcode = '22023',
            hint = 'GrowthBook SDKs would silently use equal weights instead; make them sum to 1.';
    end if;
    if namespace is not null then
        perform @extschema@.ab_in_namespace('', namespace, namespace_start, namespace_end);
    end if;
    if holdout is null or holdout < 0 or holdout >= 1 then
        raise exception 'holdout must be in [0, 1), got %', holdout using errcode = '22023',
            hint = 'holdout is the share of units kept out of the experiment, for example 0.05.';
    end if;
    if status is null or status not in ('draft', 'running', 'stopped') then
        raise exception 'unknown status "%"', status using errcode = '22023',
            hint = 'Use draft, running or stopped.';
    end if;
    if stop_at <= coalesce(start_at, now()) then
        raise exception 'stop_at must be after start_at' using errcode = '22023';
    end if;
    insert into pulse.experiments as x (key, variants, weights, coverage, seed, hash_version, namespace,
                                        namespace_start, namespace_end, holdout, status, start_at, stop_at, description)
    values (key, variants, w, coverage, coalesce(seed, key), hash_version, namespace,
            case when namespace is not null then namespace_start end,
            case when namespace is not null then namespace_end end,
            holdout, status, coalesce(start_at, case when status = 'running' then now() end), stop_at, description)
    returning x.* into e;
    return e;
exception when unique_violation then
    raise exception 'experiment "%" already exists', key using errcode = '42710',
        hint = 'Pick another key, or change its status with ab_set_experiment_status().';
end
$$;
comment on function @extschema@.ab_create_experiment(text, text[], float8[], float8, text, int, text, float8, float8, float8, text, timestamptz, timestamptz, text) is
'Registers an experiment in pulse.experiments and returns it. weights NULL means equal; otherwise one per variant summing to 1 +- 0.01 (stricter than the SDKs, which silently fall back). seed defaults to the key, as in GrowthBook. namespace with [namespace_start, namespace_end) and holdout (share of units kept out) are optional. Errors: 22023 for invalid settings, 42710 when the key exists.';

create function @extschema@.ab_set_experiment_status(key text, status text) returns pulse.experiments
language plpgsql volatile
as $$
declare
    e pulse.experiments;
begin
    if status is null or status not in ('draft', 'running', 'stopped') then
        raise exception 'unknown status "%"', status using errcode = '22023',
            hint = 'Use draft, running or stopped.';
    end if;
    update pulse.experiments x
       set status = ab_set_experiment_status.status,
           start_at = case when ab_set_experiment_status.status = 'running' then coalesce(x.start_at, now()) else x.start_at end,
           -- stopping early moves a planned stop_at to now (kept after start_at)
           stop_at = case when ab_set_experiment_status.status = 'stopped'
                          then greatest(least(coalesce(x.stop_at, now()), now()), x.start_at + interval '1 microsecond')
                          when ab_set_experiment_status.status = 'running' and x.stop_at <= now() then null
                          else x.stop_at end
     where x.key = ab_set_experiment_status.key
    returning x.* into e;
    if not found then
        raise exception 'unknown experiment "%"', key using errcode = '42704',
            hint = 'Create it with ab_create_experiment() or list experiments in pulse.experiments.';
    end if;
    return e;
end
$$;
comment on function @extschema@.ab_set_experiment_status(text, text) is
'Sets an experiment''s status: draft, running (sets start_at if unset, clears a stop_at in the past) or stopped (sets stop_at to now if unset). Only running experiments between start_at and stop_at assign units. 42704 for an unknown experiment.';

create function @extschema@.ab_assign(experiment text, unit_id text) returns text
language plpgsql stable strict parallel safe
as $$
declare
    e pulse.experiments;
begin
    select * into e from pulse.experiments x where x.key = experiment;
    if not found then
        raise exception 'unknown experiment "%"', experiment using errcode = '42704',
            hint = 'Create it with ab_create_experiment() or list experiments in pulse.experiments.';
    end if;
    if e.status <> 'running' or now() < e.start_at or now() >= e.stop_at then
        return null;
    end if;
    if e.namespace is not null
       and not @extschema@.ab_in_namespace(unit_id, e.namespace, e.namespace_start, e.namespace_end) then
        return null;
    end if;
    if e.holdout > 0 and @extschema@.ab_hash('pulse.holdout:' || e.seed, unit_id, 2) < e.holdout then
        return null;
    end if;
    return @extschema@.ab_assign(unit_id, e.variants, e.weights, e.seed, e.coverage, e.hash_version);
end
$$;
comment on function @extschema@.ab_assign(text, text) is
'The variant of unit_id in a registered experiment, or NULL when the unit is not in it: the experiment is not running (status, start_at, stop_at, compared with now(), the start of the transaction), the unit is outside its namespace range, in its holdout (ab_hash(''pulse.holdout:'' || seed, unit_id, 2) < holdout) or outside coverage. STABLE: reads pulse.experiments. 42704 for an unknown experiment.';

create function @extschema@.ab_expose(experiment text, unit_id text) returns text
language plpgsql volatile strict
as $$
#variable_conflict use_column
declare
    v text;
begin
    select variant into v from pulse.exposures x
     where x.experiment = ab_expose.experiment and x.unit_id = ab_expose.unit_id;
    if found then
        return v;
    end if;
    v := @extschema@.ab_assign(ab_expose.experiment, ab_expose.unit_id);
    if v is null then
        return null;
    end if;
    -- A concurrent first exposure of the same unit waits here for the other transaction and then
    -- does nothing: the primary key keeps one row per unit.
    insert into pulse.exposures (experiment, unit_id, variant)
    values (ab_expose.experiment, ab_expose.unit_id, v)
    on conflict do nothing;
    if not found then
        select variant into v from pulse.exposures x
         where x.experiment = ab_expose.experiment and x.unit_id = ab_expose.unit_id;
    end if;
    return v;
end
$$;
comment on function @extschema@.ab_expose(text, text) is
'Assigns unit_id (as ab_assign(experiment, unit_id)) and records its first exposure in pulse.exposures; later calls return the recorded variant and write nothing. Idempotent and safe under concurrency (one row per unit, by primary key; under REPEATABLE READ a concurrent first exposure of the same unit raises 40001, retry it). NULL, and nothing recorded, when the unit is not in the experiment. 42704 for an unknown experiment.';

create function @extschema@.ab_report(
    experiment text,
    metric_sql text,
    alpha float8 default 0.05,
    method text default 'welch',
    exposures_sql text default null,
    control text default null
) returns table (
    variant text, is_control boolean, units bigint, mean float8, lift float8, ci_low float8,
    ci_high float8, relative_lift float8, relative_ci_low float8, relative_ci_high float8,
    p_value float8, p_value_holm float8, prob_beat_control float8, srm_p_value float8, srm_flag boolean
)
language plpgsql stable
as $$
#variable_conflict use_column
declare
    e pulse.experiments;
    ctl text;
    names text[];
    summaries @extschema@.ab_stats[];
    counts bigint[];
    cmp @extschema@.ab_comparison[];
    holm float8[];
    p float8[];
    srm float8;
    agg text := case when method = 'cuped'
                     then '@extschema@.ab_stats(coalesce(m.value, 0), coalesce(m.covariate, 0))'
                     else '@extschema@.ab_stats(coalesce(m.value, 0))' end;
    i int;
begin
    select * into e from pulse.experiments x where x.key = experiment;
    if not found then
        raise exception 'unknown experiment "%"', experiment using errcode = '42704',
            hint = 'Create it with ab_create_experiment() or list experiments in pulse.experiments.';
    end if;
    if metric_sql is null then
        raise exception 'metric_sql cannot be NULL' using errcode = '22004',
            hint = 'Pass a query returning unit_id and value (and covariate for cuped).';
    end if;
    if method is null or method not in ('welch', 'ztest', 'cuped', 'sequential') then
        raise exception 'unknown method "%"', method using errcode = '22023',
            hint = 'Use welch, ztest (0/1 metrics), cuped (metric_sql returns a covariate) or sequential.';
    end if;
    if alpha is null or not (alpha > 0 and alpha < 1) then
        raise exception 'alpha must be between 0 and 1 (exclusive), got %', coalesce(alpha::text, 'NULL') using errcode = '22023',
            hint = 'alpha is the significance level: 0.05 gives 95 % intervals.';
    end if;
    ctl := coalesce(control, e.variants[1]);
    if array_position(e.variants, ctl) is null then
        raise exception '"%" is not a variant of experiment "%"', ctl, e.key using errcode = '22023',
            hint = format('The variants are %s.', array_to_string(e.variants, ', '));
    end if;
    -- Units seen in more than one variant are left out (a broken assignment or a changed
    -- experiment); units without a metric row count as 0.
    execute format($q$
        with exposed as (
            select u.unit_id::text as unit_id, min(u.variant::text) as variant
              from (%s
                   ) u
             where u.unit_id is not null
             group by 1
            having count(distinct u.variant) = 1
        ), metric as (
            select m.unit_id::text as unit_id, sum(m.value)::float8 as value %s
              from (%s
                   ) m
             group by 1
        ), per_variant as (
            select x.variant, %s as s, count(*) as units
              from exposed x left join metric m using (unit_id)
             group by x.variant
        )
        select array_agg(v.name order by v.i), array_agg(pv.s order by v.i), array_agg(coalesce(pv.units, 0) order by v.i)
          from unnest($1) with ordinality v(name, i) left join per_variant pv on pv.variant = v.name$q$,
        coalesce(exposures_sql, format('select unit_id, variant from pulse.exposures where experiment = %L', e.key)),
        case when method = 'cuped' then ', sum(m.covariate)::float8 as covariate' else '' end,
        metric_sql, agg)
    into names, summaries, counts
    using e.variants;

    cmp := array_fill(null::@extschema@.ab_comparison, array[cardinality(names)]);
    p := array_fill(null::float8, array[cardinality(names)]);
    for i in 1 .. cardinality(names) loop
        if names[i] <> ctl and counts[i] >= 2 and counts[array_position(names, ctl)] >= 2 then
            cmp[i] := @extschema@.ab_compare(summaries[array_position(names, ctl)], summaries[i], alpha, method);
            p[i] := (cmp[i]).p_value;
        end if;
    end loop;
    holm := @extschema@.ab_p_adjust_holm(p);
    -- The SRM check covers the variants with a positive weight (a weight of 0 ramps a variant down).
    select @extschema@.ab_srm(array_agg(c order by i), array_agg(w order by i)) into srm
      from unnest(counts, e.weights) with ordinality v(c, w, i)
     where w > 0
    having count(*) >= 2 and sum(c) > 0;
    return query
        select names[i], names[i] = ctl, counts[i],
               (select s.mean from @extschema@.ab_stats_summary(summaries[i]) s),
               (cmp[i]).lift, (cmp[i]).ci_low, (cmp[i]).ci_high, (cmp[i]).relative_lift,
               (cmp[i]).relative_ci_low, (cmp[i]).relative_ci_high, (cmp[i]).p_value, holm[i],
               (cmp[i]).prob_beat_control, srm, srm < 0.001
          from generate_series(1, cardinality(names)) i
         order by i;
end
$$;
comment on function @extschema@.ab_report(text, text, float8, text, text, text) is
'One row per variant of a registered experiment: units, mean, and for each treatment against control (default: the first variant) its lift, interval, relative lift and interval, p-value, Holm-adjusted p-value across the treatments, probability to beat control (ab_compare with alpha and method), plus the SRM p-value (ab_srm against the experiment''s weights) and srm_flag (p < 0.001). Units: exposures_sql (unit_id, variant; default pulse.exposures of the experiment), units in two variants, NULL unit ids and variants the experiment does not have left out. metric_sql returns unit_id and value (and covariate for cuped); rows are summed per unit and units without one count as 0. Runs with the caller''s privileges. Errors: 42704 unknown experiment, 22023 unknown control or invalid alpha/method.';
