//! manyi (满意): resident-satisfaction survey and street assessment engine.
//!
//! The pipeline, one module a stage: frame + rules → sample → ingest → flags → score →
//! evaluate → report. Each stage reads the previous stage's files in the workspace.
//! The layers and their import rule: docs/architecture.md (checked by
//! tests/test_architecture.rs).

pub mod accounts;
pub mod appeals;
pub mod callbacks;
pub mod cli;
pub mod demo;
pub mod error;
pub mod estimators;
pub mod evaluate;
pub mod flags;
pub mod frame;
pub mod fsutil;
pub mod ingest;
pub mod jobs;
pub mod journal;
pub mod lang;
pub mod lifecycle;
pub mod messages;
pub mod pii;
pub mod plan;
pub mod portal;
pub mod publish;
pub mod report;
pub mod round;
pub mod rows;
pub mod rules;
pub mod sample;
pub mod score;
pub mod simulate;
pub mod store;
pub mod timings;
pub mod workspace;

pub use error::{Error, Result};
