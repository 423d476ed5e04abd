//! Drawing and verifying a round's sample of communities (抽样), stratified by street.
//!
//! Each community gets a key, SHA-256 of (algorithm tag, seed, round, street code,
//! community code); a street's sample is its `n_h` eligible communities with the
//! smallest keys. Keys are independent uniform draws, so this is simple random sampling
//! without replacement within each street, and a street's draw depends only on its own
//! communities. `docs/sampling.md` specifies it for auditors.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{Community, Frame};
use crate::fsutil::{read, sha256_hex, write_new_atomic};
use crate::round::RoundId;
use crate::rules::{Rules, SamplingMethod};
use crate::workspace::Workspace;

/// Identifies the draw algorithm; a manifest with another id cannot be re-drawn.
pub const ALGORITHM: &str = "manyi-sha256-order-v1";

/// Tolerance when taking ceil(rate × N): 0.3 × 10 is 3.0000000000000004 in floating point.
const CEIL_TOLERANCE: f64 = 1e-9;

/// The key of one community: hex SHA-256 of the UTF-8 text
/// `manyi-sha256-order-v1\n{seed}\n{round}\n{street_code}\n{community_code}`.
pub fn community_key(
    seed: &str,
    round: &RoundId,
    street_code: &str,
    community_code: &str,
) -> String {
    let msg = format!("{ALGORITHM}\n{seed}\n{round}\n{street_code}\n{community_code}");
    sha256_hex(msg.as_bytes())
}

/// ceil(rate × n) with a tolerance for floating-point error.
pub fn ceil_rate(rate: f64, n: usize) -> usize {
    ((rate * n as f64) - CEIL_TOLERANCE).ceil().max(0.0) as usize
}

/// One street's draw (stratum h).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StratumDraw {
    pub street_code: String,
    pub street_name: String,
    /// N_h: communities of the street in the frame.
    pub population: usize,
    /// Communities the round could draw from (not surveyed earlier in the year).
    pub eligible: usize,
    /// n_h: communities drawn.
    pub sampled: usize,
    #[serde(skip)]
    pub selected: Vec<Community>,
}

impl StratumDraw {
    /// Probability that a community of the street is in this round's sample, n_h / N_h
    /// (under rotation this is the unconditional probability: by symmetry every
    /// community is equally likely to fall in each round).
    pub fn selection_prob(&self) -> f64 {
        self.sampled as f64 / self.population as f64
    }
}

/// A round's draw over all streets.
#[derive(Debug, Clone)]
pub struct Draw {
    pub round: RoundId,
    pub seed: String,
    pub strata: Vec<StratumDraw>,
}

/// Sample sizes n_h per street code for the round, given each street's eligible count.
fn sizes(
    rules: &Rules,
    round: &RoundId,
    frame: &Frame,
    eligible: &BTreeMap<String, usize>,
) -> BTreeMap<String, usize> {
    let s = &rules.sampling;
    match s.method {
        SamplingMethod::CeilRate => frame
            .streets
            .iter()
            .map(|(code, st)| (code.clone(), ceil_rate(s.rate, st.communities.len())))
            .collect(),
        SamplingMethod::Rotation => {
            let rounds_left = (s.rounds_per_year - round.number + 1) as usize;
            eligible
                .iter()
                .map(|(code, left)| (code.clone(), left.div_ceil(rounds_left)))
                .collect()
        }
        SamplingMethod::Proportional => {
            let total_n: usize = frame.len();
            let n = ceil_rate(s.rate, total_n);
            let mut alloc: BTreeMap<String, usize> = BTreeMap::new();
            let mut rema: Vec<(f64, String)> = Vec::new();
            for (code, st) in &frame.streets {
                let quota = n as f64 * st.communities.len() as f64 / total_n as f64;
                let base = (quota + CEIL_TOLERANCE).floor() as usize;
                alloc.insert(code.clone(), base);
                rema.push((quota - base as f64, code.clone()));
            }
            let given: usize = alloc.values().sum();
            // Largest remainder; ties go to the smaller street code (stable order).
            rema.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            for (_, code) in rema.iter().take(n.saturating_sub(given)) {
                *alloc.entry(code.clone()).or_default() += 1;
            }
            for (code, v) in alloc.iter_mut() {
                let cap = frame.streets[code].communities.len();
                *v = (*v).max(1).min(cap);
            }
            alloc
        }
    }
}

/// Per street, the communities a round can draw from: all, or under rotation those not
/// `surveyed` earlier in the year.
fn eligible_communities<'a>(
    frame: &'a Frame,
    rules: &Rules,
    surveyed: &BTreeSet<String>,
) -> BTreeMap<String, Vec<&'a Community>> {
    let rotation = rules.sampling.method == SamplingMethod::Rotation;
    frame
        .streets
        .iter()
        .map(|(code, st)| {
            let el = st
                .communities
                .iter()
                .filter(|c| !rotation || !surveyed.contains(&c.code))
                .collect();
            (code.clone(), el)
        })
        .collect()
}

/// Draws a round's sample. `surveyed` holds the codes of communities sampled in earlier
/// rounds of the same year (used only under rotation).
pub fn draw(
    frame: &Frame,
    rules: &Rules,
    round: &RoundId,
    seed: &str,
    surveyed: &BTreeSet<String>,
) -> Result<Draw> {
    if seed.is_empty() || seed.contains('\n') || seed.contains('\r') {
        return Err(Error::Invalid(
            crate::messages::t(
                "种子须为一行非空文字",
                "the seed must be non-empty text on one line",
            )
            .into(),
        ));
    }
    if round.number > rules.sampling.rounds_per_year {
        let (scheme, per_year) = (&rules.scheme, rules.sampling.rounds_per_year);
        return Err(Error::Invalid(crate::messages::tr!(
            "没有第 {round} 轮：方案 {scheme} 每年只有 {per_year} 轮",
            "round {round}: scheme {scheme} has {per_year} round(s) a year"
        )));
    }
    let eligible_sets = eligible_communities(frame, rules, surveyed);
    let eligible: BTreeMap<String, usize> = eligible_sets
        .iter()
        .map(|(k, v)| (k.clone(), v.len()))
        .collect();
    let n = sizes(rules, round, frame, &eligible);
    let mut strata = Vec::new();
    for (code, st) in &frame.streets {
        let mut keyed: Vec<(String, &Community)> = eligible_sets[code]
            .iter()
            .map(|c| (community_key(seed, round, code, &c.code), *c))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.code.cmp(&b.1.code)));
        let n_h = n[code].min(keyed.len());
        let mut selected: Vec<Community> = keyed
            .into_iter()
            .take(n_h)
            .map(|(_, c)| c.clone())
            .collect();
        selected.sort_by(|a, b| a.code.cmp(&b.code));
        strata.push(StratumDraw {
            street_code: code.clone(),
            street_name: st.name.clone(),
            population: st.communities.len(),
            eligible: eligible[code],
            sampled: n_h,
            selected,
        });
    }
    Ok(Draw {
        round: *round,
        seed: seed.to_string(),
        strata,
    })
}

impl Draw {
    /// The sample file's bytes: one row per selected community, sorted by street and code.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut rows = Vec::new();
        for s in &self.strata {
            let p = s.selection_prob();
            let weight = s.population as f64 / s.sampled as f64;
            for c in &s.selected {
                rows.push([
                    self.round.to_string(),
                    s.street_code.clone(),
                    s.street_name.clone(),
                    c.code.clone(),
                    c.name.clone(),
                    p.to_string(),
                    weight.to_string(),
                ]);
            }
        }
        crate::fsutil::csv_bytes(
            [
                "round",
                "street_code",
                "street_name",
                "community_code",
                "community_name",
                "selection_prob",
                "weight",
            ],
            rows,
            false,
        )
    }

    pub fn total(&self) -> usize {
        self.strata.iter().map(|s| s.sampled).sum()
    }
}

/// An earlier round of the same year whose sample this round's draw excluded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreviousRound {
    pub round: String,
    pub sample_sha256: String,
}

/// `<round>.manifest.json`: everything needed to re-draw and check a sample.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub algorithm: String,
    pub engine_version: String,
    pub scheme: String,
    pub round: String,
    pub seed: String,
    pub frame_file: String,
    pub frame_sha256: String,
    pub rules_file: String,
    pub rules_sha256: String,
    pub sample_file: String,
    pub sample_sha256: String,
    pub previous_rounds: Vec<PreviousRound>,
    pub total_sampled: usize,
    pub strata: Vec<StratumDraw>,
    /// Present for a sample drawn outside manyi and imported: verify-sample checks its
    /// hash (there is no draw to repeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// Where an imported sample came from, and why it was imported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Imported {
    /// The file as given to `--import`.
    pub file: String,
    pub reason: String,
    pub actor: String,
    pub at: String,
    /// Streets whose number of sampled communities differs from the rules' sizes.
    pub warnings: Vec<String>,
}

/// The algorithm id of an imported sample's manifest.
pub const IMPORTED: &str = "imported";

/// Loads a round's sample file, returning its community codes and sha256.
pub fn load_sample_codes(ws: &Workspace, round: &RoundId) -> Result<(BTreeSet<String>, String)> {
    let path = ws.sample_path(round);
    if !path.is_file() {
        return Err(Error::Invalid(crate::messages::tr!(
            "第 {round} 轮还没有抽样；请先抽取本轮样本（轮换抽样时，一年的各轮按顺序抽取）",
            "round {round} has no sample; draw it with `manyi sample --round {round}` (under rotation the year's rounds are drawn in order)"
        )));
    }
    if !ws.manifest_path(round).is_file() {
        let (sample, manifest) = (ws.rel(&path), ws.rel(&ws.manifest_path(round)));
        return Err(Error::Invalid(crate::messages::tr!(
            "第 {round} 轮的样本 {sample} 没有抽样记录（{manifest}），无从得知它是怎样抽取的；若是在系统之外抽取的，请由考核办说明理由后导入",
            "round {round}'s sample {sample} has no manifest ({manifest}): nothing records how it was drawn. If it was drawn outside manyi, import it: `manyi sample --round {round} --import FILE --reason TEXT` (move the file out of surveys/samples first)"
        )));
    }
    let bytes = read(&path)?;
    let rows = read_sample_rows(&bytes, &path.display().to_string())?;
    Ok((
        rows.into_iter().map(|r| r.community_code).collect(),
        sha256_hex(&bytes),
    ))
}

/// A row of a sample file.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// Line of the row in its file (1-based, the header is line 1).
    pub line: u64,
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub selection_prob: String,
    pub weight: String,
}

/// Parses a sample CSV (the engine's own, or a hand-made one with at least round,
/// street_code, community_code).
pub fn read_sample_rows(bytes: &[u8], file: &str) -> Result<Vec<SampleRow>> {
    let csv = crate::fsutil::CsvRecords::parse(bytes, file)?;
    let need = |n: &str| csv.require(n, "column");
    let (ci_round, ci_sc, ci_cc) = (
        need("round")?,
        need("street_code")?,
        need("community_code")?,
    );
    let (ci_sn, ci_cn, ci_p, ci_w) = (
        csv.column("street_name"),
        csv.column("community_name"),
        csv.column("selection_prob"),
        csv.column("weight"),
    );
    let mut out = Vec::new();
    for (line, rec) in &csv.rows {
        let get = |i: Option<usize>| i.map_or("", |i| crate::fsutil::cell(rec, i)).to_string();
        out.push(SampleRow {
            line: *line,
            round: get(Some(ci_round)),
            street_code: get(Some(ci_sc)),
            street_name: get(ci_sn),
            community_code: get(Some(ci_cc)),
            community_name: get(ci_cn),
            selection_prob: get(ci_p),
            weight: get(ci_w),
        });
    }
    Ok(out)
}

/// Codes of communities sampled in the rounds of `round`'s year before it, with those
/// samples' hashes (rotation needs them; other methods ignore them).
fn previous_rounds(
    ws: &Workspace,
    rules: &Rules,
    round: &RoundId,
) -> Result<(BTreeSet<String>, Vec<PreviousRound>)> {
    let mut surveyed = BTreeSet::new();
    let mut prev = Vec::new();
    if rules.sampling.method == SamplingMethod::Rotation {
        for r in 1..round.number {
            let id = RoundId {
                year: round.year,
                number: r,
            };
            let (codes, sha) = load_sample_codes(ws, &id)?;
            surveyed.extend(codes);
            prev.push(PreviousRound {
                round: id.to_string(),
                sample_sha256: sha,
            });
        }
    }
    Ok((surveyed, prev))
}

/// `manyi sample`: draws the round, writes the sample and its manifest (refusing to
/// overwrite an existing sample of the round) and returns the draw.
pub fn run_sample(
    ws: &Workspace,
    round: &RoundId,
    seed: &str,
    actor: &str,
) -> Result<(Draw, Manifest)> {
    let sample_path = ws.sample_path(round);
    // One draw of a workspace at a time: the check below and both writes happen under
    // the workspace's lock, so two draws of one round cannot pair one run's sample with
    // the other's manifest (the second waits, then finds the sample and refuses).
    let mut w = lock_for_new_sample(ws, round, actor)?;
    crate::fsutil::test_pause("MANYI_TEST_PAUSE_SAMPLE_MS");
    let rules = ws.rules()?;
    let frame_bytes = read(&ws.frame_path())?;
    let frame = Frame::parse(&frame_bytes, &ws.frame_path().display().to_string())?;
    let rules_bytes = read(&ws.rules_path())?;
    let (surveyed, prev) = previous_rounds(ws, &rules, round)?;
    let d = draw(&frame, &rules, round, seed, &surveyed)?;
    let csv = d.to_csv()?;
    let manifest = Manifest {
        algorithm: ALGORITHM.into(),
        engine_version: env!("CARGO_PKG_VERSION").into(),
        scheme: rules.scheme.clone(),
        round: round.to_string(),
        seed: seed.into(),
        frame_file: ws.config.frame.clone(),
        frame_sha256: sha256_hex(&frame_bytes),
        rules_file: ws.config.rules.clone(),
        rules_sha256: sha256_hex(&rules_bytes),
        sample_file: ws.rel(&sample_path),
        sample_sha256: sha256_hex(&csv),
        previous_rounds: prev,
        total_sampled: d.total(),
        strata: d.strata.clone(),
        imported: None,
    };
    let draft = crate::journal::Draft::new("sample")
        .round(round)
        .detail("seed", seed)
        .detail("communities", d.total());
    commit_sample(ws, &mut w, round, &manifest, &csv, draft)?;
    Ok((d, manifest))
}

/// Takes the workspace's lock for a new sample of `round`, refusing when it has one:
/// the check and the writes after it happen under the lock, so two draws of one round
/// cannot pair one run's sample with the other's manifest.
fn lock_for_new_sample(
    ws: &Workspace,
    round: &RoundId,
    actor: &str,
) -> Result<crate::journal::Writer> {
    let w = crate::journal::Writer::begin(crate::store::Store::new(ws), actor)?;
    let sample_path = ws.sample_path(round);
    if sample_path.exists() {
        return Err(Error::file(
            ws.rel(&sample_path),
            crate::messages::tr!(
                "第 {round} 轮已经抽过样本，不能重抽或覆盖（每轮的抽样一经抽出即为最终结果）",
                "round {round} already has a sample; refusing to overwrite it (the draw of a round is final)"
            ),
        ));
    }
    Ok(w)
}

/// Writes a round's manifest and sample and journals them (with the frame and rules
/// they rest on). Manifest first, sample last: a sample file only ever exists beside
/// its manifest (a manifest left alone by a killed run is replaced by the next one);
/// the sample is renamed into place only if none exists: the commit point.
fn commit_sample(
    ws: &Workspace,
    w: &mut crate::journal::Writer,
    round: &RoundId,
    manifest: &Manifest,
    sample: &[u8],
    mut draft: crate::journal::Draft,
) -> Result<()> {
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let (manifest_path, sample_path) = (ws.manifest_path(round), ws.sample_path(round));
    crate::fsutil::write_atomic(&manifest_path, &json)?;
    write_new_atomic(&sample_path, sample)?;
    draft.read = vec![
        w.file_hash(&ws.frame_path())?,
        w.file_hash(&ws.rules_path())?,
    ];
    draft.written = vec![w.file_hash(&manifest_path)?, w.file_hash(&sample_path)?];
    w.commit(draft)?;
    Ok(())
}

/// `manyi sample --import`: takes a sample drawn outside manyi for the round. Each row
/// must name a community of the frame in its street, once, for this round; a street
/// whose count differs from the rules' sizes is a warning (kept in the manifest). The
/// manifest records the file's hash and the reason; the import is journalled.
pub fn import_sample(
    ws: &Workspace,
    round: &RoundId,
    file: &std::path::Path,
    reason: &str,
    actor: &str,
) -> Result<Manifest> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid(
            crate::messages::t(
                "须写明理由：为什么本轮样本是在系统之外抽取的",
                "a reason is required (--reason TEXT): why this round's sample was drawn outside manyi",
            )
            .into(),
        ));
    }
    let sample_path = ws.sample_path(round);
    let mut w = lock_for_new_sample(ws, round, actor)?;
    let rules = ws.rules()?;
    let frame_bytes = read(&ws.frame_path())?;
    let frame = Frame::parse(&frame_bytes, &ws.frame_path().display().to_string())?;
    let rules_bytes = read(&ws.rules_path())?;
    let bytes = read(file)?;
    let name = file.display().to_string();
    let rows = read_sample_rows(&bytes, &name)?;
    if rows.is_empty() {
        return Err(Error::file(
            &name,
            crate::messages::t("样本中没有任何社区", "the sample lists no community"),
        ));
    }
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_street: BTreeMap<String, Vec<Community>> = BTreeMap::new();
    for r in &rows {
        if r.round != round.to_string() {
            return Err(Error::input(
                &name,
                r.line,
                Some("round".into()),
                format!("round {:?}, but the import is for {round}", r.round),
            ));
        }
        let Some(c) = frame.community(&r.community_code) else {
            return Err(Error::input(
                &name,
                r.line,
                Some("community_code".into()),
                format!("community {:?} is not in the frame", r.community_code),
            ));
        };
        if c.street_code != r.street_code {
            return Err(Error::input(
                &name,
                r.line,
                Some("street_code".into()),
                format!(
                    "community {} belongs to street {} in the frame, not {:?}",
                    r.community_code, c.street_code, r.street_code
                ),
            ));
        }
        if let Some(first) = seen.insert(r.community_code.as_str(), r.line) {
            return Err(Error::input(
                &name,
                r.line,
                Some("community_code".into()),
                format!(
                    "community {} is listed twice (first on line {first})",
                    r.community_code
                ),
            ));
        }
        by_street
            .entry(c.street_code.clone())
            .or_default()
            .push(c.clone());
    }
    let (surveyed, prev) = previous_rounds(ws, &rules, round)?;
    let eligible: BTreeMap<String, usize> = eligible_communities(&frame, &rules, &surveyed)
        .into_iter()
        .map(|(k, v)| (k, v.len()))
        .collect();
    let n = sizes(&rules, round, &frame, &eligible);
    let mut warnings = Vec::new();
    let mut strata = Vec::new();
    for (code, st) in &frame.streets {
        let mut selected = by_street.remove(code).unwrap_or_default();
        selected.sort_by(|a, b| a.code.cmp(&b.code));
        let want = n.get(code).copied().unwrap_or(0);
        if selected.len() != want {
            warnings.push(format!(
                "street {code} {}: {} communities in the file, the rules' size is {want}",
                st.name,
                selected.len()
            ));
        }
        strata.push(StratumDraw {
            street_code: code.clone(),
            street_name: st.name.clone(),
            population: st.communities.len(),
            eligible: eligible[code],
            sampled: selected.len(),
            selected,
        });
    }
    let total = rows.len();
    let manifest = Manifest {
        algorithm: IMPORTED.into(),
        engine_version: env!("CARGO_PKG_VERSION").into(),
        scheme: rules.scheme.clone(),
        round: round.to_string(),
        seed: String::new(),
        frame_file: ws.config.frame.clone(),
        frame_sha256: sha256_hex(&frame_bytes),
        rules_file: ws.config.rules.clone(),
        rules_sha256: sha256_hex(&rules_bytes),
        sample_file: ws.rel(&sample_path),
        sample_sha256: sha256_hex(&bytes),
        previous_rounds: prev,
        total_sampled: total,
        strata,
        imported: Some(Imported {
            file: name.clone(),
            reason: reason.to_string(),
            actor: w.actor.clone(),
            at: crate::store::now_utc(),
            warnings: warnings.clone(),
        }),
    };
    let draft = crate::journal::Draft::new("sample-import")
        .round(round)
        .reason(reason)
        .detail("file", name)
        .detail("communities", total)
        .detail("warnings", warnings);
    commit_sample(ws, &mut w, round, &manifest, &bytes, draft)?;
    Ok(manifest)
}

/// The outcome of `verify-sample`.
#[derive(Debug, Clone)]
pub struct Verification {
    pub round: RoundId,
    /// What does not match: each one makes the sample fail verification.
    pub differences: Vec<String>,
    /// What changed without changing the draw (a frame edit of households or row
    /// order, a rules edit outside sampling): said, but the sample still verifies.
    pub notes: Vec<String>,
    pub rows: usize,
    /// An imported sample (checked by its hash, not by a re-draw).
    pub imported: bool,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// `manyi verify-sample`: re-draws the round from its manifest and compares.
pub fn verify(ws: &Workspace, round: &RoundId) -> Result<Verification> {
    let manifest_path = ws.manifest_path(round);
    if !manifest_path.is_file() {
        let manifest = ws.rel(&manifest_path);
        return Err(Error::Invalid(if ws.sample_path(round).is_file() {
            crate::messages::tr!(
                "第 {round} 轮的样本没有抽样记录（{manifest}），无从核对；在系统之外抽取的样本须说明理由后导入",
                "round {round}'s sample has no manifest ({manifest}), so there is nothing to check it against; a sample drawn outside manyi is taken with `manyi sample --round {round} --import FILE --reason TEXT`"
            )
        } else {
            crate::messages::tr!(
                "第 {round} 轮还没有抽样；请先抽取本轮样本",
                "round {round} has no sample yet; draw it with `manyi sample --round {round} --seed SEED`"
            )
        }));
    }
    let mtext = crate::fsutil::read_text(&manifest_path)?;
    let m: Manifest = serde_json::from_str(&mtext).map_err(|e| {
        Error::input(
            manifest_path.display().to_string(),
            e.line() as u64,
            None,
            crate::messages::tr!("不是抽样记录文件：{e}", "not a sample manifest: {e}"),
        )
    })?;
    if m.algorithm == IMPORTED {
        return verify_imported(ws, round, &m);
    }
    if m.algorithm != ALGORITHM {
        let (manifest, algorithm) = (ws.rel(&manifest_path), &m.algorithm);
        return Err(Error::Invalid(crate::messages::tr!(
            "{manifest}：抽样算法 {algorithm:?} 不是本系统能够重演的算法（{ALGORITHM}）",
            "{manifest}: algorithm {algorithm:?} is not one this engine can re-draw ({ALGORITHM})"
        )));
    }
    let mut diffs = Vec::new();
    let mut notes = Vec::new();
    if m.round != round.to_string() {
        diffs.push(format!("manifest is for round {}, not {round}", m.round));
    }
    // Input files that changed since the draw: a difference only if the re-draw from
    // them differs (checked below); otherwise a note.
    let mut changed_inputs = Vec::new();
    let frame_path = ws.root.join(&m.frame_file);
    let frame_bytes = read(&frame_path)?;
    let sha = sha256_hex(&frame_bytes);
    if sha != m.frame_sha256 {
        changed_inputs.push(format!(
            "frame file {} changed: sha256 {} now, {} in the manifest",
            m.frame_file, sha, m.frame_sha256
        ));
    }
    let rules_path = ws.root.join(&m.rules_file);
    let rules_bytes = read(&rules_path)?;
    let sha = sha256_hex(&rules_bytes);
    if sha != m.rules_sha256 {
        changed_inputs.push(format!(
            "rules file {} changed: sha256 {} now, {} in the manifest",
            m.rules_file, sha, m.rules_sha256
        ));
    }
    let rules = Rules::parse(
        std::str::from_utf8(&rules_bytes)
            .map_err(|e| Error::file(rules_path.display().to_string(), e.to_string()))?,
        &rules_path.display().to_string(),
    )?;
    let frame = Frame::parse(&frame_bytes, &frame_path.display().to_string())?;
    let (surveyed, prev) = previous_rounds(ws, &rules, round)?;
    for p in &m.previous_rounds {
        match prev.iter().find(|q| q.round == p.round) {
            Some(q) if q.sample_sha256 == p.sample_sha256 => {}
            Some(q) => diffs.push(format!(
                "earlier round {} sample changed: sha256 {} now, {} in the manifest",
                p.round, q.sample_sha256, p.sample_sha256
            )),
            None => diffs.push(format!("earlier round {} is no longer excluded", p.round)),
        }
    }
    let expected = draw(&frame, &rules, round, &m.seed, &surveyed)?.to_csv()?;
    let sample_path = ws.root.join(&m.sample_file);
    let actual = read(&sample_path)?;
    let sha = sha256_hex(&actual);
    if sha != m.sample_sha256 {
        diffs.push(format!(
            "sample file {} changed: sha256 {} now, {} in the manifest",
            m.sample_file, sha, m.sample_sha256
        ));
    }
    let file = sample_path.display().to_string();
    let exp_rows = read_sample_rows(&expected, "re-draw")?;
    let act_rows = read_sample_rows(&actual, &file)?;
    let redraw_differs = actual != expected;
    if redraw_differs {
        diffs.extend(compare_by_community(&file, &exp_rows, &act_rows));
        if diffs.is_empty() {
            diffs.push(format!(
                "{file}: bytes differ from the re-draw (formatting or row order)"
            ));
        }
        diffs.extend(changed_inputs);
    } else {
        for c in changed_inputs {
            notes.push(format!(
                "{c}; the re-draw from it is identical to the sample (a change that does not touch the draw: households, row order, or rules outside sampling)"
            ));
        }
    }
    Ok(Verification {
        round: *round,
        differences: diffs,
        notes,
        rows: act_rows.len(),
        imported: false,
    })
}

/// An imported sample: its file still has the hash the import recorded, and its
/// communities are still in the frame (there is no draw to repeat).
fn verify_imported(ws: &Workspace, round: &RoundId, m: &Manifest) -> Result<Verification> {
    let mut diffs = Vec::new();
    let mut notes = Vec::new();
    if m.round != round.to_string() {
        diffs.push(format!("manifest is for round {}, not {round}", m.round));
    }
    let sample_path = ws.root.join(&m.sample_file);
    let actual = read(&sample_path)?;
    let sha = sha256_hex(&actual);
    if sha != m.sample_sha256 {
        diffs.push(format!(
            "sample file {} changed: sha256 {} now, {} when it was imported",
            m.sample_file, sha, m.sample_sha256
        ));
    }
    let rows = read_sample_rows(&actual, &sample_path.display().to_string())?;
    let frame = ws.frame()?;
    for r in &rows {
        if frame.community(&r.community_code).is_none() {
            diffs.push(format!(
                "line {}: community {} is no longer in the frame",
                r.line, r.community_code
            ));
        }
    }
    if let Some(i) = &m.imported {
        notes.push(format!(
            "imported from {} on {} by {}: {}",
            i.file, i.at, i.actor, i.reason
        ));
        notes.extend(i.warnings.iter().cloned());
    }
    Ok(Verification {
        round: *round,
        differences: diffs,
        notes,
        rows: rows.len(),
        imported: true,
    })
}

/// The differences between the re-drawn and the delivered sample, community by
/// community (a deleted row is one difference naming that community, not a shift of
/// every row after it).
fn compare_by_community(file: &str, expected: &[SampleRow], actual: &[SampleRow]) -> Vec<String> {
    let exp: BTreeMap<&str, &SampleRow> = expected
        .iter()
        .map(|r| (r.community_code.as_str(), r))
        .collect();
    let mut seen: BTreeMap<&str, &SampleRow> = BTreeMap::new();
    let mut diffs = Vec::new();
    for a in actual {
        if let Some(first) = seen.insert(a.community_code.as_str(), a) {
            diffs.push(format!(
                "{file}, line {}: community {} {} appears again (first on line {})",
                a.line, a.community_code, a.community_name, first.line
            ));
        }
    }
    for e in expected {
        if !seen.contains_key(e.community_code.as_str()) {
            diffs.push(format!(
                "{file}: community {} {} ({}) is missing; the re-draw selects it",
                e.community_code, e.community_name, e.street_name
            ));
        }
    }
    for a in actual {
        let Some(e) = exp.get(a.community_code.as_str()) else {
            diffs.push(format!(
                "{file}, line {}: community {} {} is not in the re-draw",
                a.line, a.community_code, a.community_name
            ));
            continue;
        };
        let fields = [
            ("round", &e.round, &a.round),
            ("street_code", &e.street_code, &a.street_code),
            ("street_name", &e.street_name, &a.street_name),
            ("community_name", &e.community_name, &a.community_name),
            ("selection_prob", &e.selection_prob, &a.selection_prob),
            ("weight", &e.weight, &a.weight),
        ];
        for (col, ev, av) in fields {
            if ev != av {
                diffs.push(format!(
                    "{file}, line {}, column {col}: community {}: {av:?} in the file, the re-draw gives {ev:?}",
                    a.line, a.community_code
                ));
            }
        }
    }
    diffs
}

/// The manifest of `round`'s sample, if one was drawn or imported.
pub fn read_manifest(ws: &Workspace, round: &RoundId) -> Result<Option<Manifest>> {
    let p = ws.manifest_path(round);
    if !p.is_file() {
        return Ok(None);
    }
    let bytes = read(&p)?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::file(
            &p.display().to_string(),
            format!("not a sample manifest: {e}"),
        )
    })
}
