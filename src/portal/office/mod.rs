//! The office's pages (考核办, and the admin): the desk, the draw, coverage, flags and
//! decisions, jobs, results and publication, indicators, the journal. Handlers ask the
//! library and render; one file a page, `common.rs` for what they share.

mod callbacks;
mod common;
mod desk;
mod flags;
mod indicators;
mod jobs;
mod journal;
mod results;
mod round_desk;

pub use callbacks::{
    callbacks, draw_callbacks, list as callback_list, upload_results as callback_results,
};
pub use desk::{desk, draw, sample};
pub use flags::{decide, flags, flags_xlsx};
pub use indicators::{indicators, upload_indicators};
pub use jobs::{job, jobs, submit_job};
pub use journal::{journal, journal_csv, verify};
pub use results::{publish, result_file, results, unpublish};
pub use round_desk::{SortQuery, assign, round};
