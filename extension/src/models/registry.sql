-- The model registry, deployments and the decision log (schema pulse).

create table pulse.models (
    id bigint generated always as identity primary key,
    name text not null check (name ~ '^[a-z_][a-z0-9_]{0,62}$'),
    version int not null check (version > 0),
    algorithm text not null,
    -- every parameter used, defaults included (seed, split, alpha or tree sizes, threshold)
    params jsonb not null,
    label text not null,
    -- inputs in order: name, kind (numeric|categorical) and the preprocessing learnt from the
    -- training rows (mean and scale, or the one-hot levels)
    inputs jsonb not null,
    threshold float8 not null,
    -- hold-out metrics: roc_auc, pr_auc, log_loss, precision, recall, f1, confusion (NULL if no hold-out)
    metrics jsonb,
    training_rows bigint not null,
    test_rows bigint not null,
    data_fingerprint text not null,
    training_sql text not null,
    created_at timestamptz not null default now(),
    created_by name not null default current_user,
    -- the model as model_export returns it (JSON, format 1)
    model bytea not null,
    unique (name, version)
);
comment on table pulse.models is 'every trained model version (train_model); rows are never updated';

create table pulse.deployments (
    id bigint generated always as identity primary key,
    model text not null,
    version int not null,
    role text not null check (role in ('champion', 'canary', 'shadow')),
    -- canary only: the share of unit keys routed to it
    traffic float8 check ((role = 'canary') = (traffic is not null) and traffic between 0 and 1),
    action text not null check (action in ('deploy', 'rollback')),
    -- a champion deployment undone by model_rollback (never restored by a later rollback)
    rolled_back boolean not null default false,
    deployed_at timestamptz not null default clock_timestamp(),
    deployed_by name not null default current_user,
    retired_at timestamptz,
    foreign key (model, version) references pulse.models (name, version)
);
create unique index deployments_one_champion on pulse.deployments (model) where role = 'champion' and retired_at is null;
create unique index deployments_one_canary on pulse.deployments (model) where role = 'canary' and retired_at is null;
create unique index deployments_one_role on pulse.deployments (model, version) where retired_at is null;
comment on table pulse.deployments is 'deployment history: a row per role taken by a model version; active while retired_at is null';

create table pulse.decisions (
    decided_at timestamptz not null,
    model text not null,
    version int not null,
    route text not null check (route in ('champion', 'canary', 'shadow')),
    unit_key text,
    -- what was scored, so a decision joins to it (no index: the log is read by decided_at)
    entity_key text,
    -- pairs a shadow decision with the served one of the same call (with decided_at)
    request_id bigint not null,
    score float8,
    -- the inputs as scored (shadows log their own), or why a shadow could not score
    features jsonb,
    error text
);
create index decisions_model_time on pulse.decisions (model, decided_at);
comment on table pulse.decisions is 'decision log: one row per score served and per shadow score, written at commit of the scoring transaction (pulse.decision_log, pulse.decision_sample_rate)';
comment on column pulse.decisions.entity_key is 'the scored entity''s key: score_fraud logs the order''s order_id; NULL from score()';

create view pulse.active_deployments as
select d.model, d.version, d.role, d.traffic, d.deployed_at, d.deployed_by, m.id as model_id, m.metrics
  from pulse.deployments d
  join pulse.models m on m.name = d.model and m.version = d.version
 where d.retired_at is null;
comment on view pulse.active_deployments is 'what score() routes to now: the champion, a canary with its traffic, shadows';

-- Champion against canary and shadows, per model and hour: volume, score distribution, the
-- share flagged at each version's threshold, and for shadows the agreement with the score
-- served for the same request.
create view pulse.model_comparison as
with d as (
    -- The served score of each request sits next to its shadows' (a window, not a self-join:
    -- the log is large and its statistics are often stale).
    select d.model, date_trunc('hour', d.decided_at) as hour, d.route, d.version, d.score, m.threshold,
           max(d.score) filter (where d.route <> 'shadow') over request as served_score,
           max(m.threshold) filter (where d.route <> 'shadow') over request as served_threshold
      from pulse.decisions d
      join pulse.models m on m.name = d.model and m.version = d.version
    window request as (partition by d.model, d.decided_at, d.request_id)
)
select model, hour, route, version,
       count(*) as decisions,
       count(*) filter (where score is null) as errors,
       avg(score) as mean_score,
       percentile_cont(0.5) within group (order by score) as p50_score,
       percentile_cont(0.9) within group (order by score) as p90_score,
       avg((score >= threshold)::int) as flagged_rate,
       avg(((score >= threshold) = (served_score >= served_threshold))::int) filter (where route = 'shadow') as agreement,
       avg(abs(score - served_score)) filter (where route = 'shadow') as mean_abs_diff
  from d
 group by 1, 2, 3, 4;
comment on view pulse.model_comparison is 'per model and hour: decisions, score distribution and flagged rate of the champion, canary and shadows; for shadows, agreement (same flag at each version''s threshold) and mean absolute score difference with the score served for the same request';

create function model_export(name text, version int) returns jsonb
language plpgsql stable strict as $$
declare
    exported jsonb;
begin
    select convert_from(m.model, 'UTF8')::jsonb into exported
      from pulse.models m where m.name = model_export.name and m.version = model_export.version;
    if exported is null then
        raise exception 'unknown model "%" version %', name, version using errcode = '42704',
            hint = 'List the versions in pulse.models.';
    end if;
    return exported;
end $$;
comment on function model_export(text, int) is
'the model as JSON (format 1): inputs with their preprocessing (numeric: z = (x - mean) / scale, NULL -> 0; categorical: one 0/1 column per level, NULL or unseen -> zeros), then "linear" (p = 1 / (1 + exp(-(intercept + weights . z)))) or "trees" (node arrays; z[feature] <= threshold goes left; a forest averages its trees'' leaf values). Enough to score outside the database.';

-- One deployment change at a time per model: concurrent deploys serialise here.
create function _model_lock(name text) returns void language sql volatile as $$
    select pg_advisory_xact_lock(hashtext('pulse.model:' || name))
$$;
comment on function _model_lock(text) is 'serialises deployment changes of one model (internal)';

create function model_deploy(name text, version int, role text, traffic float8 default null) returns jsonb
language plpgsql volatile as $$
declare
    current_role_of text;
begin
    if name is null or version is null or role is null then
        raise exception 'name, version and role must not be null' using errcode = '22004';
    end if;
    perform @extschema@._model_lock(name);
    if not exists (select from pulse.models m where m.name = model_deploy.name and m.version = model_deploy.version) then
        raise exception 'unknown model "%" version %', name, version using errcode = '42704',
            hint = case when exists (select from pulse.models m where m.name = model_deploy.name)
                        then 'List the versions in pulse.models.'
                        else 'Train it first with train_model().' end;
    end if;
    if role not in ('champion', 'canary', 'shadow') then
        raise exception 'unknown role "%"', role using errcode = '22023', hint = 'Use champion, canary or shadow.';
    end if;
    if role = 'canary' and (traffic is null or not traffic between 0 and 1) then
        raise exception 'a canary needs traffic between 0 and 1, got %', coalesce(traffic::text, 'NULL')
            using errcode = '22023', hint = 'E.g. model_deploy(name, version, ''canary'', 0.1) routes 10 % of unit keys to it.';
    end if;
    if role <> 'canary' and traffic is not null then
        raise exception 'traffic is only for a canary' using errcode = '22023',
            hint = 'A champion serves every unit key the canary does not; a shadow serves none.';
    end if;
    select d.role into current_role_of from pulse.deployments d
     where d.model = model_deploy.name and d.version = model_deploy.version and d.retired_at is null;
    if current_role_of = role and role <> 'canary' then
        return @extschema@.model_deployments(name);  -- already so: nothing to change
    end if;
    if current_role_of = 'champion' then
        raise exception 'version % is the champion of model "%"', version, name using errcode = '22023',
            hint = 'Deploy another version as champion first; a model without a champion cannot score.';
    end if;
    -- A version plays one role at a time; the role's previous holder (if any) steps down.
    update pulse.deployments d set retired_at = clock_timestamp()
     where d.model = model_deploy.name and d.retired_at is null
       and (d.version = model_deploy.version or (d.role = model_deploy.role and model_deploy.role <> 'shadow'));
    insert into pulse.deployments (model, version, role, traffic, action)
    values (name, version, role, traffic, 'deploy');
    return @extschema@.model_deployments(name);
end $$;
comment on function model_deploy(text, int, text, float8) is
'makes version of model name its champion (serves every unit key not routed to the canary), its canary (serves the share traffic of unit keys, chosen by ab_hash) or a shadow (scored and logged, never returned). The previous holder of the role steps down; sessions already connected use the change from their next statement. Returns model_deployments(name).';

create function model_undeploy(name text, version int) returns jsonb
language plpgsql volatile as $$
begin
    perform @extschema@._model_lock(name);
    update pulse.deployments d set retired_at = clock_timestamp()
     where d.model = model_undeploy.name and d.version = model_undeploy.version and d.retired_at is null;
    if not found then
        raise exception 'model "%" version % is not deployed', name, version using errcode = '42704',
            hint = 'See pulse.active_deployments.';
    end if;
    return @extschema@.model_deployments(name);
end $$;
comment on function model_undeploy(text, int) is
'retires the active role of version of model name (a canary or shadow typically; retiring the champion leaves the model without one). Returns model_deployments(name).';

create function model_rollback(name text) returns jsonb
language plpgsql volatile as $$
declare
    top bigint;
    previous int;
begin
    perform @extschema@._model_lock(name);
    -- Champion deployments form a stack: deploy pushes, rollback pops. A popped entry is marked
    -- rolled_back and never comes back, so two rollbacks in a row go two steps back instead of
    -- flip-flopping between two versions.
    select d.id into top from pulse.deployments d
     where d.model = model_rollback.name and d.role = 'champion' and d.action = 'deploy' and not d.rolled_back
     order by d.id desc limit 1;
    select d.version into previous from pulse.deployments d
     where d.model = model_rollback.name and d.role = 'champion' and d.action = 'deploy' and not d.rolled_back
       and d.id < top
     order by d.id desc limit 1;
    if previous is null then
        raise exception 'model "%" has no previous champion to roll back to', name using errcode = '22023',
            hint = 'See its history in pulse.deployments.';
    end if;
    update pulse.deployments d set rolled_back = true where d.id = top;
    update pulse.deployments d set retired_at = clock_timestamp()
     where d.model = model_rollback.name and d.retired_at is null and (d.role = 'champion' or d.version = previous);
    insert into pulse.deployments (model, version, role, action) values (name, previous, 'champion', 'rollback');
    return @extschema@.model_deployments(name);
end $$;
comment on function model_rollback(text) is
'restores the champion deployed before the current one; a second rollback goes one further step back (a rolled-back deployment is never restored by rollback). Raises 22023 when there is none. Returns model_deployments(name).';

create function model_deployments(name text) returns jsonb
language sql stable strict as $$
    select jsonb_build_object(
        'model', name,
        'champion', (select version from pulse.deployments where model = name and role = 'champion' and retired_at is null),
        'canary', (select jsonb_build_object('version', version, 'traffic', traffic)
                     from pulse.deployments where model = name and role = 'canary' and retired_at is null),
        'shadows', coalesce((select jsonb_agg(version order by version)
                               from pulse.deployments where model = name and role = 'shadow' and retired_at is null), '[]'))
$$;
comment on function model_deployments(text) is 'the active deployment of model name: {"model", "champion", "canary": {"version", "traffic"}, "shadows": [...]}';
