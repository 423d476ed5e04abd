//! The library's one error type: every variant carries what a person needs to fix the
//! input (file, line, column, value, what was expected).

use std::path::PathBuf;

/// Errors of the manyi library. `main` maps every one of them to exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{file}: rules key `{key}`: {message}")]
    Rules {
        file: String,
        key: String,
        message: String,
    },

    /// A fault in a CSV-like input at a known line (1-based, counting the header).
    #[error("{file}, line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
    Input {
        file: String,
        line: u64,
        column: Option<String>,
        message: String,
    },

    /// A whole file is unusable (unreadable encoding, no header, missing column).
    #[error("{file}: {message}")]
    File { file: String, message: String },

    #[error("workspace {dir}: {message}")]
    Workspace { dir: PathBuf, message: String },

    #[error("{0}")]
    Invalid(String),

    /// A broken invariant of the engine itself (never the input's fault): nothing is
    /// stored, and the fuzz target treats it as a failure.
    #[error("internal error (please report it): {0}")]
    Internal(String),

    #[error("parquet store {path}: {source}")]
    Polars {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn rules(
        file: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Rules {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn input(
        file: impl Into<String>,
        line: u64,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Error::Input {
            file: file.into(),
            line,
            column: column.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::File {
            file: file.into(),
            message: message.into(),
        }
    }
}
