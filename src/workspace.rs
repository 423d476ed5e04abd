//! Where things live in a workspace (the folder an office keeps for its district):
//! `manyi.toml`, `scoring-rules/`, `surveys/` (frame, samples, store), `reports/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::round::RoundId;
use crate::rules::Rules;

/// The shipped Panlong frame and its source note, embedded for `init`.
pub const SHIPPED_FRAME: &str = include_str!("../surveys/frame.csv");
pub const SHIPPED_FRAME_SOURCE: &str = include_str!("../surveys/FRAME-SOURCE.md");

/// The indicator template `init` writes into `surveys/indicators/`.
pub const INDICATOR_TEMPLATE: &str = "TEMPLATE.csv";

/// `manyi.toml`: which scheme and frame the workspace uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub scheme: String,
    /// Rules file, relative to the workspace.
    pub rules: String,
    /// Frame file, relative to the workspace.
    pub frame: String,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
}

impl Workspace {
    /// `p` relative to the workspace's root, as messages show it (never the server's
    /// full path); a path outside the workspace as given.
    pub fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .display()
            .to_string()
    }

    /// Opens the workspace at `dir` (it must hold `manyi.toml`).
    pub fn open(dir: &Path) -> Result<Workspace> {
        let cfg_path = dir.join("manyi.toml");
        if !cfg_path.is_file() {
            return Err(Error::Workspace {
                dir: dir.to_path_buf(),
                message: crate::messages::t(
                    "这里没有 manyi.toml；请用 manyi init DIR 建立工作区，或用 -w DIR 指定工作区",
                    "no manyi.toml here; create a workspace with `manyi init DIR` or pass -w DIR",
                )
                .into(),
            });
        }
        let text = crate::fsutil::read_text(&cfg_path)?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            Error::rules(
                cfg_path.display().to_string(),
                "manyi.toml",
                e.message().to_string(),
            )
        })?;
        // Reports name respondents, interviewers and exclusion reasons: readable by
        // the service's user only (a workspace made before this is closed here, once).
        let reports = dir.join("reports");
        if !reports.is_dir() || !crate::fsutil::is_private(&reports) {
            crate::fsutil::make_private_tree(&reports)?;
        }
        Ok(Workspace {
            root: dir.to_path_buf(),
            config,
        })
    }

    /// Creates a workspace with the shipped rules of `scheme` and the shipped Panlong
    /// frame, or the frame at `frame` (validated first). Refuses to overwrite one.
    pub fn init(dir: &Path, scheme: &str, frame: Option<&Path>) -> Result<Workspace> {
        let rules_text = Rules::shipped(scheme).ok_or_else(|| {
            let known: Vec<_> = crate::rules::SHIPPED.iter().map(|(s, _)| *s).collect();
            let known = known.join(", ");
            Error::Invalid(crate::messages::tr!(
                "没有方案 {scheme:?}；随附的方案有：{known}",
                "unknown scheme {scheme:?}; shipped schemes: {known}"
            ))
        })?;
        if dir.join("manyi.toml").exists() {
            return Err(Error::Workspace {
                dir: dir.to_path_buf(),
                message: crate::messages::t(
                    "这里已是工作区（已有 manyi.toml），不会覆盖",
                    "already a workspace (manyi.toml exists); refusing to overwrite",
                )
                .into(),
            });
        }
        let (frame_bytes, frame_source) = match frame {
            Some(p) => {
                let bytes = crate::fsutil::read(p)?;
                Frame::parse(&bytes, &p.display().to_string())?;
                let note = format!(
                    "# surveys/frame.csv\n\nCopied from `{}` by `manyi init` (sha256 {}).\n",
                    p.display(),
                    crate::fsutil::sha256_hex(&bytes)
                );
                (bytes, note)
            }
            None => (
                SHIPPED_FRAME.as_bytes().to_vec(),
                SHIPPED_FRAME_SOURCE.to_string(),
            ),
        };
        let config = Config {
            scheme: scheme.to_string(),
            rules: format!("scoring-rules/{scheme}.toml"),
            frame: "surveys/frame.csv".into(),
        };
        let ws = Workspace {
            root: dir.to_path_buf(),
            config,
        };
        crate::fsutil::write_atomic(&ws.rules_path(), rules_text.as_bytes())?;
        crate::fsutil::write_atomic(&ws.frame_path(), &frame_bytes)?;
        crate::fsutil::write_atomic(
            &ws.root.join("surveys/FRAME-SOURCE.md"),
            frame_source.as_bytes(),
        )?;
        for d in [ws.samples_dir(), ws.indicators_dir()] {
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        // Reports name respondents, interviewers and why questionnaires were
        // excluded: readable by the service's user only.
        crate::fsutil::make_private_dir(&ws.reports_dir())?;
        // The streets' indicator reports go in surveys/indicators/<period>.csv: a
        // template with every street and indicator of the scheme shows the shape.
        let rules = Rules::parse(&rules_text, &ws.rules_path().display().to_string())?;
        let frame = Frame::parse(&frame_bytes, &ws.frame_path().display().to_string())?;
        crate::fsutil::write_atomic(
            &ws.indicators_dir().join(INDICATOR_TEMPLATE),
            &crate::rules::indicator_template(&rules, &frame)?,
        )?;
        let cfg = toml::to_string(&ws.config).map_err(|e| Error::Invalid(e.to_string()))?;
        // manyi.toml last: a workspace is complete once it exists.
        crate::fsutil::write_atomic(&ws.root.join("manyi.toml"), cfg.as_bytes())?;
        Ok(ws)
    }

    pub fn rules_path(&self) -> PathBuf {
        self.root.join(&self.config.rules)
    }

    pub fn frame_path(&self) -> PathBuf {
        self.root.join(&self.config.frame)
    }

    pub fn rules(&self) -> Result<Rules> {
        let rules = Rules::load(&self.rules_path())?;
        if rules.scheme != self.config.scheme {
            return Err(Error::rules(
                self.rules_path().display().to_string(),
                "scheme",
                format!(
                    "the rules file is scheme {:?} but manyi.toml says {:?}",
                    rules.scheme, self.config.scheme
                ),
            ));
        }
        Ok(rules)
    }

    pub fn frame(&self) -> Result<Frame> {
        Frame::load(&self.frame_path())
    }

    pub fn samples_dir(&self) -> PathBuf {
        self.root.join("surveys/samples")
    }

    pub fn sample_path(&self, round: &RoundId) -> PathBuf {
        self.samples_dir().join(format!("{round}.csv"))
    }

    pub fn manifest_path(&self, round: &RoundId) -> PathBuf {
        self.samples_dir().join(format!("{round}.manifest.json"))
    }

    /// The response store (Parquet) and delivery index.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("surveys/store")
    }

    pub fn indicators_dir(&self) -> PathBuf {
        self.root.join("surveys/indicators")
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.root.join("reports")
    }
}
