//! One error type for the whole extension and its SQLSTATE mapping.
//!
//! `core.rs` modules return `PulseError` (plain Rust, no pgrx calls), so their rules are testable
//! with `#[test]`; the `sql.rs` layers raise it with [`PulseError::raise`]. Messages are lowercase
//! without a trailing period; detail and hint are full sentences.
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// What kind of mistake it is; each maps to one SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 22023: an argument is out of its domain (negative half-life, latitude 91, ...).
    InvalidParameter,
    /// 22004: a NULL where a value is required (an element of a list of names).
    NullValue,
    /// 22P02: text that does not parse (a feature definition, a serialised state).
    InvalidText,
    /// 42704: a named object (feature, entity type, model, experiment) does not exist.
    UndefinedObject,
    /// 42P01: a named table does not exist.
    UndefinedTable,
    /// 42703: a named column does not exist.
    UndefinedColumn,
    /// 42710: a named object already exists.
    DuplicateObject,
    /// 42601: user-supplied SQL (a label query) is not usable.
    SyntaxError,
    /// 54000: a configured limit would be exceeded.
    LimitExceeded,
    /// XX000: a bug in pulse, never a user mistake.
    Internal,
}

impl Kind {
    fn sqlstate(self) -> PgSqlErrorCode {
        match self {
            Kind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            Kind::NullValue => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Kind::InvalidText => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            Kind::UndefinedObject => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            Kind::UndefinedTable => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            Kind::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            Kind::DuplicateObject => PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
            Kind::SyntaxError => PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            Kind::LimitExceeded => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            Kind::Internal => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PulseError {
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

pub type Result<T> = std::result::Result<T, PulseError>;

impl PulseError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), detail: None, hint: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidParameter, message)
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Raise as a Postgres ERROR with this error's SQLSTATE; does not return.
    pub fn raise(self, function: &'static str) -> ! {
        let mut report = ErrorReport::new(self.kind.sqlstate(), self.message, function);
        if let Some(d) = self.detail {
            report = report.set_detail(d);
        }
        if let Some(h) = self.hint {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }
}

impl std::fmt::Display for PulseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// `result.or_raise("function_name")`: the value, or the error raised with its SQLSTATE.
pub trait OrRaise<T> {
    fn or_raise(self, function: &'static str) -> T;
}

impl<T> OrRaise<T> for Result<T> {
    fn or_raise(self, function: &'static str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.raise(function),
        }
    }
}
