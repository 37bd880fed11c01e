//! The decision log. Scoring functions are STABLE and may run in read-only contexts, so they
//! cannot insert; instead each backend buffers its decisions and writes them with one INSERT
//! when the transaction commits (a pre-commit callback), and forgets them if it aborts — a
//! logged decision is one whose transaction committed (and whose savepoint was not rolled
//! back). The insert runs as the owner of `pulse.decisions`, so any role that may score is
//! audited without INSERT on the log. Parallel workers and read-only transactions do not log.
use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::{register_xact_callback, GucContext, GucFlags, GucRegistry, GucSetting, PgXactCallbackEvent};
use serde_json::Map;

use super::core::{Model, Value};
use super::serve::value_json;

pub static DECISION_LOG: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static SAMPLE_RATE: GucSetting<f64> = GucSetting::<f64>::new(1.0);
pub static MAX_ROWS: GucSetting<i32> = GucSetting::<i32>::new(100_000);
pub static SYNCHRONOUS: GucSetting<bool> = GucSetting::<bool>::new(false);

pub fn init_gucs() {
    // Rows of a rolled-back savepoint are dropped; the callback lives as long as the backend.
    unsafe { pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut()) };
    GucRegistry::define_bool_guc(
        c"pulse.decision_log",
        c"log scores to pulse.decisions",
        c"When on, score(), score_fraud() and their shadows are written to pulse.decisions at commit.",
        &DECISION_LOG,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"pulse.decision_sample_rate",
        c"share of scoring calls logged",
        c"Each call (its served score and its shadows together) is logged with this probability.",
        &SAMPLE_RATE,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pulse.decision_log_synchronous",
        c"wait for the WAL flush of transactions that only wrote decisions",
        c"Off: a scoring transaction whose only write is its decision log commits asynchronously (a crash can lose its last moments of log, never other data). On: it waits like any commit.",
        &SYNCHRONOUS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pulse.decision_log_max_rows",
        c"decisions buffered per transaction",
        c"Scoring calls after this many decisions in one transaction are not logged; a warning at commit says how many.",
        &MAX_ROWS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
}

pub struct Decision {
    at: i64,
    model: String,
    version: i32,
    route: &'static str,
    unit_key: Option<String>,
    /// What was scored (score_fraud: the order_id); None from score().
    entity_key: Option<String>,
    request_id: i64,
    score: Option<f64>,
    features: Option<String>,
    error: Option<String>,
    /// The subtransaction that made it: dropped if that savepoint is rolled back.
    subxact: u32,
}

impl Decision {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        version: i32,
        route: &'static str,
        unit_key: Option<&str>,
        entity_key: Option<&str>,
        score: Option<f64>,
        model: &Model,
        values: &[Value],
        error: Option<String>,
    ) -> Self {
        let features = (!values.is_empty()).then(|| {
            let m: Map<String, serde_json::Value> =
                model.inputs.iter().zip(values).map(|(i, v)| (i.name().to_string(), value_json(v))).collect();
            serde_json::Value::Object(m).to_string()
        });
        Decision {
            at: 0,
            model: name.to_string(),
            version,
            route,
            unit_key: unit_key.map(String::from),
            entity_key: entity_key.map(String::from),
            request_id: 0,
            score,
            features,
            error,
            subxact: 0,
        }
    }
}

#[derive(Default)]
struct Pending {
    /// The transaction the rows belong to (callbacks are registered once per transaction).
    lxid: Option<u32>,
    rows: Vec<Decision>,
    dropped: u64,
    requests: u32,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// One scoring call's decisions (served and shadows) share a request id.
pub struct Request {
    id: i64,
    at: i64,
}

/// A request to log, or None when logging is off, sampled out, or in a parallel worker.
pub fn start() -> Option<Request> {
    if !DECISION_LOG.get() || unsafe { pg_sys::ParallelWorkerNumber >= 0 || pg_sys::XactReadOnly } {
        return None;
    }
    let (lxid, at) = unsafe { ((*pg_sys::MyProc).lxid, pg_sys::GetCurrentStatementStartTimestamp()) };
    let id = PENDING.with_borrow_mut(|p| {
        if p.lxid != Some(lxid) {
            *p = Pending { lxid: Some(lxid), requests: p.requests, ..Pending::default() };
            register_xact_callback(PgXactCallbackEvent::PreCommit, flush);
            // PREPARE TRANSACTION: the log rows become part of the prepared transaction.
            register_xact_callback(PgXactCallbackEvent::PrePrepare, flush);
            register_xact_callback(PgXactCallbackEvent::Abort, || PENDING.with_borrow_mut(|p| p.rows.clear()));
        }
        // A full buffer: count the call and skip building its rows (batch scoring stays cheap).
        if p.rows.len() >= MAX_ROWS.get().max(0) as usize {
            p.dropped += 1;
            return None;
        }
        p.requests = p.requests.wrapping_add(1);
        Some(((unsafe { pg_sys::MyProcPid } as i64) << 32) | p.requests as i64)
    })?;
    let rate = SAMPLE_RATE.get();
    if rate < 1.0 {
        let h = xxhash_rust::xxh3::xxh3_64(&id.to_le_bytes()) as f64 / u64::MAX as f64;
        if h >= rate {
            return None;
        }
    }
    Some(Request { id, at })
}

impl Request {
    pub fn push(&self, mut d: Decision) {
        d.request_id = self.id;
        d.at = self.at;
        d.subxact = unsafe { pg_sys::GetCurrentSubTransactionId() };
        PENDING.with_borrow_mut(|p| {
            // A call's shadows may go past the cap by a few rows: the call is logged whole.
            p.rows.push(d);
        });
    }

    pub fn finish(self) {}
}

fn flush() {
    let lxid = unsafe { (*pg_sys::MyProc).lxid };
    let (rows, dropped) = PENDING.with_borrow_mut(|p| (std::mem::take(&mut p.rows), std::mem::take(&mut p.dropped)));
    // A hook left over from a transaction that ended without commit or abort events (PREPARE
    // TRANSACTION) must not write that transaction's rows into this one.
    if PENDING.with_borrow(|p| p.lxid) != Some(lxid) {
        return;
    }
    if dropped > 0 {
        pgrx::warning!(
            "pulse: {dropped} scoring calls of this transaction were not logged (pulse.decision_log_max_rows)"
        );
    }
    if rows.is_empty() {
        return;
    }
    let at: Vec<i64> = rows.iter().map(|d| d.at).collect();
    let model: Vec<&str> = rows.iter().map(|d| d.model.as_str()).collect();
    let version: Vec<i32> = rows.iter().map(|d| d.version).collect();
    let route: Vec<&str> = rows.iter().map(|d| d.route).collect();
    let unit: Vec<Option<&str>> = rows.iter().map(|d| d.unit_key.as_deref()).collect();
    let entity: Vec<Option<&str>> = rows.iter().map(|d| d.entity_key.as_deref()).collect();
    let request: Vec<i64> = rows.iter().map(|d| d.request_id).collect();
    let score: Vec<Option<f64>> = rows.iter().map(|d| d.score).collect();
    let features: Vec<Option<&str>> = rows.iter().map(|d| d.features.as_deref()).collect();
    let error: Vec<Option<&str>> = rows.iter().map(|d| d.error.as_deref()).collect();
    // Pre-commit runs after the statement's snapshot is gone; the insert needs one. It runs as the
    // log's owner (an abort restores the user id, so an error needs no cleanup here).
    let (mut user, mut context) = (pg_sys::Oid::INVALID, 0);
    // No transaction id yet: the log is this transaction's only write. Waiting for its WAL flush
    // would make every scoring call a synchronous disk write (it triples p99 under load), so it
    // commits asynchronously unless pulse.decision_log_synchronous says otherwise.
    let only_the_log = unsafe { pg_sys::GetTopTransactionIdIfAny() } == pg_sys::InvalidTransactionId;
    // Both steps below run at every scoring commit, so they go through the GUC machinery and the
    // relation cache directly rather than through SQL.
    unsafe {
        if only_the_log && !SYNCHRONOUS.get() {
            pg_sys::set_config_option(
                c"synchronous_commit".as_ptr(),
                c"off".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_LOCAL,
                true,
                0,
                false,
            );
        }
        // Pre-commit runs after the statement's snapshot is gone; the insert needs one. It runs
        // as the log's owner (an abort restores the user id, so an error needs no cleanup here).
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        let owner = log_owner().unwrap_or(user);
        pg_sys::SetUserIdAndSecContext(
            owner,
            context | (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32,
        );
    }
    let written = Spi::run_with_args(
        "insert into pulse.decisions (decided_at, model, version, route, unit_key, entity_key, request_id, score, features, error)
         select timestamptz '2000-01-01 00:00:00+00' + t * interval '1 microsecond', m, v, r, u, k, q, s, f::jsonb, e
           from unnest($1::int8[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::float8[], $9::text[], $10::text[])
                as d(t, m, v, r, u, k, q, s, f, e)",
        &[
            at.into(),
            model.into(),
            version.into(),
            route.into(),
            unit.into(),
            entity.into(),
            request.into(),
            score.into(),
            features.into(),
            error.into(),
        ],
    );
    unsafe {
        pg_sys::PopActiveSnapshot();
        pg_sys::SetUserIdAndSecContext(user, context);
    }
    written.expect("writing pulse.decisions");
}

/// The owner of pulse.decisions, from the relation cache (None if the table is missing: the
/// insert then reports it).
fn log_owner() -> Option<pg_sys::Oid> {
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"pulse".as_ptr(), true);
        let relid = pg_sys::get_relname_relid(c"decisions".as_ptr(), schema);
        if relid == pg_sys::InvalidOid {
            return None;
        }
        let rel = pgrx::PgRelation::with_lock(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        Some((*rel.rd_rel).relowner)
    }
}

/// On rollback of a savepoint, forget the decisions made in it and in its children (their
/// subtransaction ids are the rolled-back one or later).
#[pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        PENDING.with_borrow_mut(|p| p.rows.retain(|d| d.subxact < my_subid));
    }
}
