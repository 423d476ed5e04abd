//! The language of people's messages (Chinese by default, English on request), in the
//! base layer so that every module, the error type included, can speak it. The texts
//! themselves are in `messages` (the catalogue) or beside the code that builds them.

use std::sync::OnceLock;

/// The language of people's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// 简体中文 (default).
    Zh,
    /// English.
    En,
}

static LANG: OnceLock<Lang> = OnceLock::new();

impl Lang {
    /// From `MANYI_LANG` (`en`, `en_US.UTF-8` … → English; anything else Chinese).
    pub fn from_env() -> Lang {
        match std::env::var("MANYI_LANG") {
            Ok(v) if v.to_ascii_lowercase().starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }
}

/// Sets the language for this process (once; the command line does it first thing).
pub fn set_lang(l: Lang) {
    // ok: a second call (tests that run many commands in one process) keeps the first.
    let _ = LANG.set(l);
}

/// The language in force: set by `set_lang`, else from `MANYI_LANG`, else Chinese.
pub fn lang() -> Lang {
    *LANG.get_or_init(Lang::from_env)
}

/// `format!` of the Chinese or the English template, whichever language is in force;
/// both templates capture the same names (`tr!("第 {round} 轮…", "round {round} …")`).
macro_rules! tr {
    ($zh:literal, $en:literal) => {
        match $crate::lang::lang() {
            $crate::lang::Lang::Zh => format!($zh),
            $crate::lang::Lang::En => format!($en),
        }
    };
}
pub(crate) use tr;

/// `zh` or `en`, whichever is in force.
pub fn t<'a>(zh: &'a str, en: &'a str) -> &'a str {
    match lang() {
        Lang::Zh => zh,
        Lang::En => en,
    }
}
