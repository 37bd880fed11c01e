//! `ab_assign(unit_id, variants, ...)`: a hand-written V1 function instead of `#[pg_extern]`.
//!
//! It runs once per row over millions of units and must cost about what the built-in
//! `hashtext` bucketing costs. Through `#[pg_extern]`, converting the `text[]` and `float8[]`
//! arguments and the `String` result took three quarters of the time, so this reads the text
//! arguments in place, parses the arrays once per call site (cached in `fn_extra`, keyed on
//! their bytes, so a different array is always re-read) and builds the result from the cached
//! variant. The maths stays in `core::assign`.
use super::super::core as assignment;
use crate::error::{Kind, OrRaise, PulseError};
use pgrx::prelude::*;
use pgrx::{pg_sys, varlena, Array, FromDatum, PgMemoryContexts};

/// Parsed array arguments of one call site.
///
/// The arrays are compared by bytes on every call, never trusted to stay put: PL/pgSQL keeps a
/// simple expression's state (and so `fn_extra`) across calls whose parameters change, so even an
/// argument `get_fn_expr_arg_stable` calls stable (a Param) can differ between calls.
#[derive(Default)]
struct CallSite {
    variants_raw: Vec<u8>,
    variants: Vec<Box<[u8]>>,
    weights_raw: Option<Vec<u8>>,
    weights: Option<Vec<f64>>,
}

/// The bytes of a text datum, detoasting only compressed or external values.
///
/// # Safety
/// `datum` must be a non-NULL text (or other varlena) datum.
unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    let mut ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
    if !(varlena::varatt_is_4b_u(ptr) || (varlena::varatt_is_1b(ptr) && !varlena::varatt_is_1b_e(ptr))) {
        ptr = pg_sys::pg_detoast_datum_packed(ptr);
    }
    std::slice::from_raw_parts(varlena::vardata_any(ptr) as *const u8, varlena::varsize_any_exhdr(ptr))
}

/// The text of an argument; the server encoding must be UTF-8 (as pgrx assumes everywhere), so
/// that characters hash by the same code points as in the SDKs.
fn utf8(bytes: &[u8]) -> &str {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8 (and the check is cheaper than from_utf8's).
        return unsafe { std::str::from_utf8_unchecked(bytes) };
    }
    std::str::from_utf8(bytes)
        .unwrap_or_else(|_| PulseError::new(Kind::InvalidText, "unit_id is not valid UTF-8").raise("ab_assign"))
}

fn null_elements(what: &str) -> ! {
    PulseError::new(Kind::NullValue, format!("{what} cannot contain NULL"))
        .hint("Name every variant and give one weight per variant, or NULL weights for equal ones.")
        .raise("ab_assign")
}

impl CallSite {
    /// Re-reads the arrays when their bytes differ from the last call's.
    ///
    /// # Safety
    /// The datums must be a non-NULL text[] and, when given, a float8[].
    unsafe fn refresh(&mut self, variants: pg_sys::Datum, weights: Option<pg_sys::Datum>) {
        let raw = varlena_bytes(variants);
        if raw != self.variants_raw.as_slice() {
            one_dimensional(raw, "variants");
            let array = Array::<&str>::from_polymorphic_datum(variants, false, pg_sys::TEXTARRAYOID)
                .unwrap_or_else(|| null_elements("variants"));
            if array.contains_nulls() {
                null_elements("variants");
            }
            assignment::check_variant_count(array.len()).or_raise("ab_assign");
            self.variants = array.iter().flatten().map(|v| Box::from(v.as_bytes())).collect();
            self.variants_raw = raw.to_vec();
        }
        match weights {
            None => {
                self.weights_raw = None;
                self.weights = None;
            }
            Some(w) => {
                let raw = varlena_bytes(w);
                if self.weights_raw.as_deref() != Some(raw) {
                    one_dimensional(raw, "weights");
                    let array = Array::<f64>::from_polymorphic_datum(w, false, pg_sys::FLOAT8ARRAYOID)
                        .unwrap_or_else(|| null_elements("weights"));
                    let slice = array.as_slice().unwrap_or_else(|_| null_elements("weights"));
                    self.weights = Some(slice.to_vec());
                    self.weights_raw = Some(raw.to_vec());
                }
            }
        }
    }
}

/// Refuses a multi-dimensional array (the first field after the varlena header is `ndim`).
fn one_dimensional(raw: &[u8], what: &str) {
    let ndim = raw.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    if ndim > 1 {
        PulseError::invalid(format!("{what} must be a one-dimensional array, got {ndim} dimensions"))
            .hint("Pass array['control', 'treatment'] and one weight per variant.")
            .raise("ab_assign");
    }
}

/// The argument `i` of the call, or `None` when it is NULL.
///
/// # Safety
/// `fcinfo` must be the live call info and `i` below its argument count.
unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, i: usize) -> Option<pg_sys::Datum> {
    let args = (*fcinfo).args.as_slice(i + 1);
    (!args[i].isnull).then_some(args[i].value)
}

#[doc(hidden)]
#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_ab_assign_fast() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `ab_assign(unit_id text, variants text[], weights float8[], seed text, coverage float8,
/// hash_version int) returns text`, declared in `sql.rs`.
///
/// # Safety
/// Called by Postgres through fmgr with the six arguments of that declaration.
#[pg_guard]
#[doc(hidden)]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ab_assign_fast(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let null = |fcinfo: pg_sys::FunctionCallInfo| {
        (*fcinfo).isnull = true;
        pg_sys::Datum::from(0)
    };
    if (*fcinfo).nargs != 6 {
        PulseError::new(Kind::Internal, "ab_assign called with the wrong number of arguments").raise("ab_assign");
    }
    let (Some(unit), Some(variants), Some(seed), Some(coverage), Some(version)) =
        (arg(fcinfo, 0), arg(fcinfo, 1), arg(fcinfo, 3), arg(fcinfo, 4), arg(fcinfo, 5))
    else {
        return null(fcinfo);
    };
    let weights = arg(fcinfo, 2);

    let flinfo = (*fcinfo).flinfo;
    if (*flinfo).fn_extra.is_null() {
        let site = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(CallSite::default());
        (*flinfo).fn_extra = site.cast();
    }
    let site = &mut *((*flinfo).fn_extra as *mut CallSite);
    site.refresh(variants, weights);

    let unit_id = utf8(varlena_bytes(unit));
    let seed = utf8(varlena_bytes(seed));
    let coverage = f64::from_datum(coverage, false).unwrap_or(f64::NAN);
    let version = i32::from_datum(version, false).unwrap_or(0);
    let index = assignment::assign(unit_id, site.variants.len(), site.weights.as_deref(), seed, coverage, version)
        .or_raise("ab_assign");
    match index {
        Some(i) => {
            let name = &site.variants[i];
            let total = name.len() + pg_sys::VARHDRSZ;
            let out = pg_sys::palloc(total) as *mut u8;
            // SET_VARSIZE for a 4-byte header (little- and big-endian layouts differ).
            varlena::set_varsize_4b(out as *mut pg_sys::varlena, total as i32);
            std::ptr::copy_nonoverlapping(name.as_ptr(), out.add(pg_sys::VARHDRSZ), name.len());
            pg_sys::Datum::from(out)
        }
        None => null(fcinfo),
    }
}
