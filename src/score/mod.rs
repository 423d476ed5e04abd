//! Scoring: respondents, communities and streets with design-based uncertainty.

pub mod estimators;
pub mod rounds;
