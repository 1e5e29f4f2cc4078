//! cassachange's engine: scripts and versions, the plan with its blocked-script rules,
//! what history rows mean, the lock algorithm and the run state machine — generic
//! over small traits for the session, the history store, the lock store and the run's
//! observers, so nothing here knows a driver, a TLS library or an HTTP client, and
//! every rule is unit-tested with fakes.

pub mod check;
pub mod clock;
pub mod error;
pub mod history;
pub mod par;
pub mod plan;
pub mod run;
pub mod scripts;
pub mod stop;
pub mod timefmt;
pub mod version;

#[cfg(test)]
mod testing;

pub(crate) use cassachange_cql as cql;

pub use error::DbError;
