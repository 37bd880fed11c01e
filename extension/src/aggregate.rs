//! Plumbing shared by the aggregates with an `internal` state (features, experiments).
//!
//! pgrx's `Aggregate` trait gets serial/deserial wrong for `internal` states (pgrx #2351), so the
//! aggregates are hand-written: support functions on `internal` plus `CREATE AGGREGATE`. Each
//! state is a Rust value boxed in the aggregate memory context (dropped when Postgres resets it).
use pgrx::{pg_sys, Internal, PgMemoryContexts};

/// The aggregate's memory context (falls back to the current one outside an aggregate call,
/// which cannot happen from SQL since these functions take `internal`).
pub(crate) fn aggregate_context(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::MemoryContext {
    let mut context: pg_sys::MemoryContext = std::ptr::null_mut();
    // SAFETY: fcinfo is the live call info Postgres passed to this function.
    let in_aggregate = unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut context) } != 0;
    if in_aggregate && !context.is_null() {
        context
    } else {
        // SAFETY: reading the backend's current memory context.
        unsafe { pg_sys::CurrentMemoryContext }
    }
}

/// A new state owned by the aggregate memory context.
pub(crate) fn new_state<T>(fcinfo: pg_sys::FunctionCallInfo, value: T) -> Internal {
    let ptr = PgMemoryContexts::For(aggregate_context(fcinfo)).leak_and_drop_on_delete(value);
    Internal::from(Some(pg_sys::Datum::from(ptr)))
}

/// The state behind `internal`, allocating `T::default()` on the first call.
pub(crate) fn ensure_state<T: Default>(state: Internal, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    if state.initialized() {
        state
    } else {
        new_state(fcinfo, T::default())
    }
}

/// `f` applied to the state of type `T` behind an initialised `internal`.
pub(crate) fn with_state<T, R>(state: &mut Internal, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    // SAFETY: every `internal` handed to the functions of one aggregate holds that aggregate's
    // state type; the CREATE AGGREGATE statements below pair them.
    unsafe { state.get_mut::<T>() }.map(f)
}

pub(crate) fn read_state<T, R>(state: Option<Internal>, f: impl FnOnce(&T) -> R) -> Option<R> {
    // SAFETY: as in `with_state`.
    state.and_then(|s| unsafe { s.get::<T>() }.map(f))
}

/// Parallel combine: merge `b` into `a`; when `a` is empty, copy `b` into the aggregate context
/// (a deserialised `b` lives in a short-lived context).
pub(crate) fn combine<T: Clone>(
    a: Option<Internal>,
    b: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
    merge: impl FnOnce(&mut T, &T),
) -> Internal {
    let a = a.filter(Internal::initialized);
    let b = b.filter(Internal::initialized);
    match (a, b) {
        (a, None) => a.unwrap_or_default(),
        (None, Some(b)) => {
            // SAFETY: as in `with_state`.
            match unsafe { b.get::<T>() } {
                Some(v) => new_state(fcinfo, v.clone()),
                None => Internal::default(),
            }
        }
        (Some(mut a), Some(b)) => {
            // SAFETY: as in `with_state`.
            if let (Some(x), Some(y)) = (unsafe { a.get_mut::<T>() }, unsafe { b.get::<T>() }) {
                merge(x, y);
            }
            a
        }
    }
}
