//! The numeric profile's transition function, hand-written (V1 calling convention): through
//! `#[pg_extern]`, converting `internal` and `Option<f64>` cost about as much per row as the
//! profile's own work (hash insert and Welford step), and this function runs once per value.
use crate::aggregate::new_state;
use crate::drift::core::{MergeState, NumericState};
use pgrx::prelude::*;

// The float8 argument is read from the datum itself, which needs by-value float8 (64-bit builds).
const _: () = assert!(pg_sys::FLOAT8PASSBYVAL == 1);

#[doc(hidden)]
#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo__drift_profile_trans() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `_drift_profile_trans(internal, float8) returns internal` (declared in `sql.rs`).
///
/// # Safety
/// Called by Postgres through fmgr as an aggregate transition function with those two
/// arguments: argument 0 is NULL or the `MergeState` this function allocated.
#[pg_guard]
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn _drift_profile_trans(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let args = (*fcinfo).args.as_slice(2);
    let state = if args[0].isnull {
        match new_state(fcinfo, MergeState::Numeric(NumericState::default())).unwrap() {
            Some(datum) => datum,
            None => error!("drift_profile: could not allocate the aggregate state"),
        }
    } else {
        args[0].value
    };
    // SAFETY: the state datum points at the MergeState allocated above in the aggregate context.
    if let Some(MergeState::Numeric(s)) = (state.cast_mut_ptr::<MergeState>()).as_mut() {
        if args[1].isnull {
            s.add_null();
        } else {
            s.add(f64::from_bits(args[1].value.value() as u64));
        }
    }
    (*fcinfo).isnull = false;
    state
}
