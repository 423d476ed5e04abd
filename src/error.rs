//! The library's one error type: every variant carries what a person needs to fix the
//! input (file, line, column, value, what was expected).

use std::path::PathBuf;

/// Errors of the manyi library. `main` maps every one of them to exit code 1. Their
/// framing ("file, line 3, column x: …") is in the language in force (`lang`); the
/// message inside is whatever the code that failed wrote, in that language too.
#[derive(Debug)]
pub enum Error {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    Rules {
        file: String,
        key: String,
        message: String,
    },

    /// A fault in a CSV-like input at a known line (1-based, counting the header).
    Input {
        file: String,
        line: u64,
        column: Option<String>,
        message: String,
    },

    /// A whole file is unusable (unreadable encoding, no header, missing column).
    File {
        file: String,
        message: String,
    },

    Workspace {
        dir: PathBuf,
        message: String,
    },

    Invalid(String),

    /// What was asked for is not there, or not the caller's to see (the portal answers
    /// 404 either way, so nobody learns what exists beyond their own).
    NotFound(String),

    /// A broken invariant of the engine itself (never the input's fault): nothing is
    /// stored, and the fuzz target treats it as a failure.
    Internal(String),

    Polars {
        path: PathBuf,
        source: polars::error::PolarsError,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::lang::tr;
        let text = match self {
            Error::Io { path, source } => {
                let path = path.display();
                tr!("{path}：{source}", "{path}: {source}")
            }
            Error::Rules { file, key, message } => tr!(
                "{file}：规则项 `{key}`：{message}",
                "{file}: rules key `{key}`: {message}"
            ),
            Error::Input {
                file,
                line,
                column: Some(column),
                message,
            } => tr!(
                "{file} 第 {line} 行，列 {column}：{message}",
                "{file}, line {line}, column {column}: {message}"
            ),
            Error::Input {
                file,
                line,
                column: None,
                message,
            } => tr!(
                "{file} 第 {line} 行：{message}",
                "{file}, line {line}: {message}"
            ),
            Error::File { file, message } => tr!("{file}：{message}", "{file}: {message}"),
            Error::Workspace { dir, message } => {
                let dir = dir.display();
                tr!("工作区 {dir}：{message}", "workspace {dir}: {message}")
            }
            Error::Invalid(m) | Error::NotFound(m) => m.clone(),
            Error::Internal(m) => tr!(
                "内部错误（请报告给维护者）：{m}",
                "internal error (please report it): {m}"
            ),
            Error::Polars { path, source } => {
                let path = path.display();
                tr!(
                    "数据文件 {path}：{source}",
                    "parquet store {path}: {source}"
                )
            }
        };
        f.write_str(&text)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Polars { source, .. } => Some(source),
            _ => None,
        }
    }
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
