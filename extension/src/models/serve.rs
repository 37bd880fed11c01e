//! Scoring: which version serves (re-read once per statement, so a deployment reaches sessions
//! already connected at their next statement, and one statement never mixes two deployments),
//! models deserialised once per backend into a bounded cache, routing of unit keys to champion
//! or canary with `ab_hash`, shadows scored alongside, and decisions buffered in the backend and
//! written to `pulse.decisions` when the transaction commits.
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, JsonB, PgOid};
use serde_json::{json, Map, Value as Json};

use super::core::{Input, Model, Value};
use super::decisions::{self, Decision};
use super::registry::spi;
use crate::error::{Kind, OrRaise, PulseError, Result};

pub static MODEL_CACHE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(16);

pub fn init_gucs() {
    GucRegistry::define_int_guc(
        c"pulse.model_cache_size",
        c"models kept deserialised per backend",
        c"Model versions each backend keeps in memory for score(); the least recently loaded is dropped first.",
        &MODEL_CACHE_SIZE,
        1,
        10_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    decisions::init_gucs();
}

/// One deployed version, deserialised.
struct Loaded {
    version: i32,
    threshold: f64,
    model: Model,
}

/// What one model name routes to, as read at one statement.
struct Routing {
    statement: (u32, i64, u32),
    champion: Option<Rc<Loaded>>,
    canary: Option<(Rc<Loaded>, f64)>,
    shadows: Vec<Rc<Loaded>>,
}

/// A registered feature, for score_fraud.
struct FeatureRef {
    entity_type: String,
    entity_column: String,
    zero_when_empty: bool,
}

#[derive(Default)]
struct Cache {
    routing: HashMap<String, Rc<Routing>>,
    models: HashMap<(i64, i64), Rc<Loaded>>,
    loaded_order: VecDeque<(i64, i64)>,
    features: Option<((u32, i64, u32), Rc<HashMap<String, FeatureRef>>)>,
    deployments_stmt: Option<OwnedPreparedStatement>,
    online_stmt: Option<OwnedPreparedStatement>,
    registry_stmt: Option<OwnedPreparedStatement>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// (local transaction id, statement start, command id): changes with every top-level statement,
/// and after a write in the same transaction (statements of one multi-statement query string share
/// their start time, but a deploy between them advances the command id).
fn statement() -> (u32, i64, u32) {
    unsafe { ((*pg_sys::MyProc).lxid, pg_sys::GetCurrentStatementStartTimestamp(), pg_sys::GetCurrentCommandId(false)) }
}

fn routing(name: &str) -> Result<Rc<Routing>> {
    let now = statement();
    if let Some(r) = CACHE.with_borrow(|c| c.routing.get(name).filter(|r| r.statement == now).cloned()) {
        return Ok(r);
    }
    let rows: Vec<(String, i32, Option<f64>, (i64, i64))> = Spi::connect(|client| {
        let stmt = prepared(client, |c| &mut c.deployments_stmt, DEPLOYED_SQL, &[PgOid::from(pg_sys::TEXTOID)])?;
        let t = client.select(&stmt, None, &[name.into()]).map_err(spi)?;
        let mut rows = vec![];
        for row in t {
            let role = row.get::<String>(1).map_err(spi)?.unwrap_or_default();
            let key = (row.get(4).map_err(spi)?.unwrap_or(0), row.get(5).map_err(spi)?.unwrap_or(0));
            rows.push((role, row.get(2).map_err(spi)?.unwrap_or(0), row.get(3).map_err(spi)?, key));
        }
        CACHE.with_borrow_mut(|c| c.deployments_stmt = Some(stmt));
        Ok::<_, PulseError>(rows)
    })?;
    let mut r = Routing { statement: now, champion: None, canary: None, shadows: vec![] };
    for (role, version, traffic, id) in rows {
        let loaded = load(id, name, version)?;
        match role.as_str() {
            "champion" => r.champion = Some(loaded),
            "canary" => r.canary = Some((loaded, traffic.unwrap_or(0.0))),
            _ => r.shadows.push(loaded),
        }
    }
    if r.champion.is_none() {
        // A read-only query (no transaction id: this also runs on standbys and in parallel workers).
        let known = Spi::connect(|client| {
            client
                .select("select exists (select from pulse.models where name = $1)", None, &[name.into()])
                .and_then(|t| t.first().get_one::<bool>())
                .map_err(spi)
        })?
        .unwrap_or(false);
        return Err(if known {
            PulseError::new(Kind::UndefinedObject, format!("model \"{name}\" has no champion"))
                .hint(format!("Deploy a version: select model_deploy('{name}', <version>, 'champion')."))
        } else {
            PulseError::new(Kind::UndefinedObject, format!("unknown model \"{name}\""))
                .hint("Train it with train_model() and deploy it with model_deploy().")
        });
    }
    let r = Rc::new(r);
    CACHE.with_borrow_mut(|c| c.routing.insert(name.to_string(), r.clone()));
    Ok(r)
}

// The model's creation time joins its id in the cache key: ids restart after the extension is
// dropped and created again, and a pooled backend must not serve the old model for a new id.
const DEPLOYED_SQL: &str =
    "select d.role, d.version, d.traffic, m.id, (extract(epoch from m.created_at) * 1000000)::int8
                              from pulse.deployments d join pulse.models m on m.name = d.model and m.version = d.version
                             where d.model = $1 and d.retired_at is null";

/// A statement prepared once per backend and kept (plans follow DDL through the plan cache).
fn prepared(
    client: &SpiClient<'_>,
    slot: fn(&mut Cache) -> &mut Option<OwnedPreparedStatement>,
    sql: &str,
    args: &[PgOid],
) -> Result<OwnedPreparedStatement> {
    match CACHE.with_borrow_mut(|c| slot(c).take()) {
        Some(s) => Ok(s),
        None => Ok(client.prepare(sql, args).map_err(spi)?.keep()),
    }
}

/// A model version by (id, created_at): from the backend's cache, else read and deserialised once.
fn load(id: (i64, i64), name: &str, version: i32) -> Result<Rc<Loaded>> {
    if let Some(m) = CACHE.with_borrow(|c| c.models.get(&id).cloned()) {
        return Ok(m);
    }
    let model = Spi::connect(|client| super::registry::load_model(client, name, version))?;
    let loaded = Rc::new(Loaded { version, threshold: model.threshold, model });
    CACHE.with_borrow_mut(|c| {
        let cap = MODEL_CACHE_SIZE.get().max(1) as usize;
        while c.loaded_order.len() >= cap {
            if let Some(old) = c.loaded_order.pop_front() {
                c.models.remove(&old);
            }
        }
        c.models.insert(id, loaded.clone());
        c.loaded_order.push_back(id);
    });
    Ok(loaded)
}

/// Champion or canary for a unit key: the canary serves keys whose `ab_hash` bucket (seed
/// `pulse.canary:<model>`) is below its traffic; no key means the champion.
fn route<'a>(name: &str, r: &'a Routing, unit_key: Option<&str>) -> (&'a Rc<Loaded>, &'static str) {
    if let (Some((canary, traffic)), Some(key)) = (&r.canary, unit_key) {
        let bucket = crate::experiments::core::ab_hash(&format!("pulse.canary:{name}"), key, 2).unwrap_or(1.0);
        if bucket < *traffic {
            return (canary, "canary");
        }
    }
    (r.champion.as_ref().expect("checked in routing()"), "champion")
}

/// Input values of `model` from a jsonb object; `strict` refuses keys the model does not take.
fn values_from_json(
    model: &Model,
    features: &Map<String, Json>,
    strict: bool,
    lenient_numbers: bool,
) -> Result<Vec<Value>> {
    let missing: Vec<&str> = model.input_names().into_iter().filter(|n| !features.contains_key(*n)).collect();
    let extra: Vec<&str> = if strict {
        features.keys().map(String::as_str).filter(|k| !model.inputs.iter().any(|i| i.name() == *k)).collect()
    } else {
        vec![]
    };
    if !missing.is_empty() || !extra.is_empty() {
        let mut parts = vec![];
        if !missing.is_empty() {
            parts.push(format!("missing features: {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            parts.push(format!("unknown features: {}", extra.join(", ")));
        }
        return Err(PulseError::invalid(parts.join("; "))
            .detail(format!("The model takes: {}.", model.input_names().join(", "))));
    }
    model
        .inputs
        .iter()
        .map(|input| {
            let v = &features[input.name()];
            Ok(match (input, v) {
                (_, Json::Null) => Value::Null,
                (Input::Numeric { .. }, Json::Number(n)) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
                (Input::Numeric { .. }, Json::Bool(b)) => Value::Number(if *b { 1.0 } else { 0.0 }),
                (Input::Numeric { name, .. }, Json::String(s)) if lenient_numbers => {
                    Value::Number(s.trim().parse().map_err(|_| mistyped(name, "a number", v))?)
                }
                (Input::Categorical { .. }, Json::String(s)) => Value::Text(s.clone()),
                (Input::Numeric { name, .. }, _) => return Err(mistyped(name, "a number", v)),
                (Input::Categorical { name, .. }, _) => return Err(mistyped(name, "text", v)),
            })
        })
        .collect()
}

fn mistyped(name: &str, want: &str, got: &Json) -> PulseError {
    PulseError::invalid(format!("feature \"{name}\" must be {want}, got {got}"))
}

/// Scores one request: the served version's score, and the shadows' scores logged. `entity_key`
/// only goes to the log (what was scored, for joining decisions to it); routing uses `unit_key`.
fn decide(
    name: &str,
    unit_key: Option<&str>,
    entity_key: Option<&str>,
    inputs: impl Fn(&Model) -> Result<Vec<Value>>,
) -> Result<(f64, Rc<Loaded>, &'static str, Vec<Value>)> {
    let r = routing(name)?;
    let (served, route) = route(name, &r, unit_key);
    let values = inputs(&served.model)?;
    let mut z = Vec::with_capacity(served.model.columns());
    served.model.encode(&values, &mut z)?;
    let score = served.model.predict(&z);
    if let Some(log) = decisions::start() {
        // Every row of the request (served and shadows) carries the same keys.
        let row = |version, route, score, model: &Model, values: &[Value], error| {
            Decision::new(name, version, route, unit_key, entity_key, score, model, values, error)
        };
        log.push(row(served.version, route, Some(score), &served.model, &values, None));
        for shadow in &r.shadows {
            let scored = inputs(&shadow.model).and_then(|v| {
                shadow.model.encode(&v, &mut z)?;
                Ok((shadow.model.predict(&z), v))
            });
            log.push(match scored {
                Ok((s, v)) => row(shadow.version, "shadow", Some(s), &shadow.model, &v, None),
                Err(e) => row(shadow.version, "shadow", None, &shadow.model, &[], Some(e.message)),
            });
        }
        log.finish();
    }
    Ok((score, served.clone(), route, values))
}

/// A jsonb argument, received as its text: pgrx's own jsonb conversion raises an internal error
/// (XX000) on numbers beyond f64 and on deep nesting, which are user input here.
fn object(text: &str, what: &str) -> Result<Map<String, Json>> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(PulseError::invalid(format!("{what} must be a jsonb object"))),
        Err(e) => Err(PulseError::invalid(format!("{what} cannot be read: {e}"))
            .hint("Numbers must fit a float8 and nesting stay under 128 levels.")),
    }
}

/// The probability of the positive class from the served version of model `name` (behind the
/// SQL function score(text, jsonb, text)).
#[pg_extern(stable, parallel_safe, cost = 100)]
fn _score_json(name: &str, features: Option<&str>, unit_key: Option<&str>) -> Option<f64> {
    let map = object(features?, "features").or_raise("score");
    Some(decide(name, unit_key, None, |m| values_from_json(m, &map, true, false)).map(|d| d.0).or_raise("score"))
}

/// The same for numeric inputs given in the model's input order.
#[pg_extern(stable, parallel_safe, cost = 100, name = "score")]
fn score_array(
    name: &str,
    features: Option<Vec<Option<f64>>>,
    unit_key: default!(Option<&str>, "NULL"),
) -> Option<f64> {
    let features = features?;
    let scored = decide(name, unit_key, None, |m| {
        m.check_numbers(features.len())?;
        Ok(features.iter().map(|x| x.map_or(Value::Null, Value::Number)).collect())
    });
    Some(scored.map(|d| d.0).or_raise("score"))
}

/// The model score_fraud serves.
pub const FRAUD_MODEL: &str = "fraud";

fn fraud(order: &str) -> Result<(f64, Rc<Loaded>, &'static str, Vec<Value>)> {
    let order = &object(order, "order")?;
    let unit_key = ["customer_id", "order_id"].iter().find_map(|k| order.get(*k).and_then(json_key));
    let unit = unit_key.as_deref();
    let entity_key = order.get("order_id").and_then(json_key);
    let features = RefCell::new(None::<Map<String, Json>>);
    decide(FRAUD_MODEL, unit, entity_key.as_deref(), |model| {
        let mut all = features.borrow_mut();
        if all.is_none() {
            *all = Some(order_features(order, model)?);
        }
        let all = all.as_ref().expect("set above");
        // A shadow may take inputs the served model does not: look those up too.
        if model.input_names().iter().all(|n| all.contains_key(*n)) {
            values_from_json(model, all, false, true)
        } else {
            values_from_json(model, &order_features(order, model)?, false, true)
        }
    })
}

/// The order's fields plus the online features (registered in pulse.features) that `model`
/// takes, looked up by the entity ids the order carries.
fn order_features(order: &Map<String, Json>, model: &Model) -> Result<Map<String, Json>> {
    let registry = feature_registry()?;
    let mut out = order.clone();
    let mut wanted: Vec<(&str, &FeatureRef)> = vec![];
    for n in model.input_names() {
        if order.contains_key(n) {
            continue;
        }
        let f = registry.get(n).ok_or_else(|| {
            PulseError::invalid(format!("model input \"{n}\" is neither a field of the order nor a registered feature"))
                .hint("Pass it in the order, or define it with feature_define().")
        })?;
        wanted.push((n, f));
    }
    let mut types: Vec<String> = vec![];
    let mut ids: Vec<String> = vec![];
    for (_, f) in &wanted {
        if let Some(id) = order.get(&f.entity_column).and_then(json_key) {
            if !types.iter().zip(&ids).any(|(t, i)| *t == f.entity_type && *i == id) {
                types.push(f.entity_type.clone());
                ids.push(id);
            }
        }
    }
    let online: HashMap<String, Map<String, Json>> = if types.is_empty() {
        HashMap::new()
    } else {
        Spi::connect(|client| {
            let stmt = prepared(
                client,
                |c| &mut c.online_stmt,
                "select k.t, o.features from unnest($1::text[], $2::text[]) k(t, id)
                   join pulse.online_features o on o.entity_type = k.t and o.entity_id = k.id",
                &[PgOid::from(pg_sys::TEXTARRAYOID), PgOid::from(pg_sys::TEXTARRAYOID)],
            )?;
            let read =
                client.select(&stmt, None, &[types.clone().into(), ids.clone().into()]).map_err(spi).and_then(|t| {
                    let mut m = HashMap::new();
                    for row in t {
                        if let (Some(et), Some(JsonB(Json::Object(f)))) =
                            (row.get::<String>(1).map_err(spi)?, row.get::<JsonB>(2).map_err(spi)?)
                        {
                            m.insert(et, f);
                        }
                    }
                    Ok(m)
                });
            CACHE.with_borrow_mut(|c| c.online_stmt = Some(stmt));
            read
        })?
    };
    for (n, f) in wanted {
        let v = match online.get(&f.entity_type).and_then(|m| m.get(n)) {
            Some(v) => v.clone(),
            // An entity without events, or an order without the entity (no card), gets the empty
            // values, as feature_get and training sets give: 0 for counts and sums, else NULL.
            None if f.zero_when_empty => json!(0),
            None => Json::Null,
        };
        out.insert(n.to_string(), v);
    }
    Ok(out)
}

fn json_key(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn feature_registry() -> Result<Rc<HashMap<String, FeatureRef>>> {
    let now = statement();
    if let Some(r) = CACHE.with_borrow(|c| c.features.as_ref().filter(|(s, _)| *s == now).map(|(_, r)| r.clone())) {
        return Ok(r);
    }
    let zero = crate::features::plan::Aggregate::zero_when_empty();
    let map = Spi::connect(|client| {
        let stmt = prepared(
            client,
            |c| &mut c.registry_stmt,
            "select name, entity_type, entity_column::text, aggregate = any($1) from pulse.features",
            &[PgOid::from(pg_sys::TEXTARRAYOID)],
        )?;
        let t = client.select(&stmt, None, &[zero.into()]).map_err(spi);
        CACHE.with_borrow_mut(|c| c.registry_stmt = Some(stmt));
        let mut m = HashMap::new();
        for row in t? {
            let name: String = row.get(1).map_err(spi)?.unwrap_or_default();
            m.insert(
                name,
                FeatureRef {
                    entity_type: row.get(2).map_err(spi)?.unwrap_or_default(),
                    entity_column: row.get(3).map_err(spi)?.unwrap_or_default(),
                    zero_when_empty: row.get(4).map_err(spi)?.unwrap_or(false),
                },
            );
        }
        Ok::<_, PulseError>(m)
    })?;
    let r = Rc::new(map);
    CACHE.with_borrow_mut(|c| c.features = Some((now, r.clone())));
    Ok(r)
}

/// The fraud probability of an order (a jsonb object with raw.orders' fields, as text; behind
/// the SQL functions score_fraud(jsonb) and score_fraud(anyelement)).
#[pg_extern(stable, parallel_safe, cost = 10000)]
fn _score_fraud(order: Option<&str>) -> Option<f64> {
    Some(fraud(order?).map(|d| d.0).or_raise("score_fraud"))
}

/// The fraud score with the version and route that served it and the inputs that moved it most.
#[pg_extern(stable, parallel_safe, cost = 10000)]
fn _score_fraud_explain(order: Option<&str>, top: i32) -> Option<JsonB> {
    let (score, served, route, values) = fraud(order?).or_raise("score_fraud_explain");
    let model = &served.model;
    let mut z = vec![];
    model.encode(&values, &mut z).or_raise("score_fraud_explain");
    let contributions: Vec<Json> = model
        .contributions(&z)
        .into_iter()
        .take(top.max(0) as usize)
        .map(|(feature, c)| {
            let i = model.inputs.iter().position(|i| i.name() == feature).expect("an input");
            json!({"feature": feature, "value": value_json(&values[i]), "contribution": c})
        })
        .collect();
    Some(JsonB(json!({
        "model": FRAUD_MODEL, "version": served.version, "route": route, "score": score,
        "threshold": served.threshold, "flagged": score >= served.threshold,
        "contribution_unit": if model.linear.is_some() { "log_odds" } else { "probability" },
        "contributions": contributions,
    })))
}

pub(super) fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Number(x) => json!(x),
        Value::Text(s) => json!(s),
    }
}

extension_sql!(
    r#"
-- jsonb arguments reach Rust as text (see object() in serve.rs); these SQL functions inline.
create function score(name text, features jsonb, unit_key text default null) returns float8
language sql stable parallel safe cost 100
as $$ select @extschema@._score_json(name, features::text, unit_key) $$;
create function score_fraud("order" jsonb) returns float8
language sql stable parallel safe cost 10000
as $$ select @extschema@._score_fraud("order"::text) $$;
create function score_fraud(o anyelement) returns float8
language sql stable parallel safe cost 10000
as $$ select @extschema@._score_fraud(to_jsonb(o)::text) $$;
create function score_fraud_explain("order" jsonb, top int default 5) returns jsonb
language sql stable parallel safe cost 10000
as $$ select @extschema@._score_fraud_explain("order"::text, top) $$;
comment on function _score_json(text, text, text) is 'score(text, jsonb, text) with the features as text (internal)';
comment on function _score_fraud(text) is 'score_fraud(jsonb) with the order as text (internal)';
comment on function _score_fraud_explain(text, int) is 'score_fraud_explain(jsonb, int) with the order as text (internal)';
comment on function score(text, jsonb, text) is
'the probability of the positive class from model name for features (NULL gives NULL; a jsonb object with exactly the model''s inputs; NULL values are imputed). unit_key routes to the canary when its ab_hash bucket (seed pulse.canary:<name>) is below the canary''s traffic, else to the champion; shadows are scored and logged, never returned. STABLE: deployments are read once per statement. Decisions go to pulse.decisions at commit (not from parallel workers).';
comment on function score(text, float8[], text) is
'score() for a model whose inputs are all numeric, given in the order of its inputs (model_export(name, version)->''inputs''); NULL elements are imputed';
comment on function score_fraud(jsonb) is
'the fraud probability of an order from the deployed model "fraud". order: a jsonb object with raw.orders'' fields (order_id, customer_id, card_fingerprint, amount, payment_method, device, email_domain, ip_country, billing_country, shipping_country, items, ...); model inputs not in it are read from the online feature store (pulse.online_features, as of each entity''s latest event) by the entity ids in the order. The unit key for canary routing is customer_id (else order_id).';
comment on function score_fraud(anyelement) is
'score_fraud(to_jsonb(o)): e.g. select score_fraud(o) from raw.orders o';
comment on function score_fraud_explain(jsonb, int) is
'score_fraud with its reasons: model, version, route, score, threshold, flagged and the top inputs by contribution (logistic regression: the input''s share of the log-odds; trees: the change in probability when the input is set to its training mean). Logged as a decision like score_fraud.';
"#,
    name = "models_serve_sql",
    requires = [_score_json, score_array, _score_fraud, _score_fraud_explain]
);
