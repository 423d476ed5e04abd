//! Scoring: respondents, communities and streets with design-based uncertainty.
//! The formulas are pure functions in `crate::estimators` (shared with ingest's
//! quality flags, which must not depend on this stage); re-exported here.

pub use crate::estimators;
pub mod rounds;
mod tally;
mod write;
