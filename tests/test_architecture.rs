//! The layers of docs/architecture.md hold in the code: every `crate::…` path in `src/`
//! (in `use` lines and in code) names a module of a lower layer, or one listed before
//! it in its own layer; every top-level module is in the table; the files of a folder
//! do not import each other in a circle. Reads the sources only (no build of manyi).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer table of docs/architecture.md: (layer name, its modules in order).
fn layers() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let start = doc.find("| layer | modules |").expect("the layer table");
    doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let mods = cells[1].split(',').map(|m| m.trim().to_string()).collect();
            (cells[0].to_string(), mods)
        })
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its comments and string literals (a path in a doc
/// comment or a message is not an import).
fn code_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '"'.
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The first segment of every `crate::x` path in `code`, and of every name in a
/// `crate::{a, b::c}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `other_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Where a module may import from: (layer index, position in its layer).
fn ranks() -> BTreeMap<String, (usize, usize)> {
    let mut r = BTreeMap::new();
    for (li, (_, mods)) in layers().iter().enumerate() {
        for (mi, m) in mods.iter().enumerate() {
            assert!(
                r.insert(m.clone(), (li, mi)).is_none(),
                "{m} twice in the table"
            );
        }
    }
    r
}

/// The top-level modules and the crate modules each one's files use.
fn top_level_imports() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let src = root().join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in all {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        let entry = out.entry(top.clone()).or_default();
        for m in crate_refs(&code) {
            if m != top {
                entry.entry(m).or_default().push(rel.clone());
            }
        }
    }
    out
}

/// Imports that break the table: "file: a → b (why)".
fn violations(imports: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Vec<String> {
    let ranks = ranks();
    let names: Vec<String> = layers().into_iter().map(|(n, _)| n).collect();
    let mut bad = Vec::new();
    for (from, uses) in imports {
        let Some(&(fl, fi)) = ranks.get(from) else {
            bad.push(format!(
                "src/{from}: a module docs/architecture.md does not list"
            ));
            continue;
        };
        for (to, where_) in uses {
            // Names that are not modules of the crate (`crate::Result`, re-exported
            // at the root from `error`) belong to `error`.
            let to_rank = match ranks.get(to) {
                Some(r) => *r,
                None if matches!(to.as_str(), "Error" | "Result") => ranks["error"],
                None => {
                    bad.push(format!(
                        "{}: crate::{to} is not a module of the table",
                        where_[0]
                    ));
                    continue;
                }
            };
            let (tl, ti) = to_rank;
            if tl > fl || (tl == fl && ti >= fi) {
                bad.push(format!(
                    "{}: {from} ({}) imports {to} ({}), which is above it",
                    where_.join(", "),
                    names[fl],
                    names[tl]
                ));
            }
        }
    }
    bad
}

/// A circle among the files (and subfolders) of each folder of `src/`, at any depth:
/// "folder: a → b → a". A file names a sibling as `super::x` or by its full path
/// (`crate::portal::x`); a subfolder's files name their parent's siblings by the full
/// path.
fn sibling_cycles() -> Vec<String> {
    let mut out = Vec::new();
    let src = root().join("src");
    let mut dirs = vec![(src.clone(), String::new())];
    while let Some((dir, path)) = dirs.pop() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        let name_of = |p: &Path| p.file_stem().unwrap().to_string_lossy().to_string();
        let sibs: BTreeSet<String> = children
            .iter()
            .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
            .map(|p| name_of(p))
            .filter(|n| n != "mod" && n != "lib" && n != "main")
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in &children {
            let me = name_of(p);
            if !sibs.contains(&me) {
                continue;
            }
            let (codes, direct) = if p.is_dir() {
                let child_path = if path.is_empty() {
                    me.clone()
                } else {
                    format!("{path}::{me}")
                };
                dirs.push((p.clone(), child_path));
                let mut fs = Vec::new();
                files(p, &mut fs);
                (
                    fs.iter()
                        .map(|f| std::fs::read_to_string(f).unwrap())
                        .collect::<Vec<_>>(),
                    false,
                )
            } else {
                (vec![std::fs::read_to_string(p).unwrap()], true)
            };
            let mut refs = BTreeSet::new();
            for text in codes {
                let code = code_of(&text);
                // A file's own tests may use anything.
                let code = match code.find("#[cfg(test)]") {
                    Some(i) => code[..i].to_string(),
                    None => code,
                };
                refs.extend(sibling_refs(&code, &path, direct, &sibs));
            }
            refs.remove(&me);
            edges.insert(me, refs);
        }
        if path.is_empty() {
            continue; // the top level is the layer table's business
        }
        if let Some(c) = find_cycle(&edges) {
            out.push(format!(
                "src/{}/: {}",
                path.replace("::", "/"),
                c.join(" → ")
            ));
        }
    }
    out
}

/// The siblings a piece of code names: `crate::<path>::x`, and `super::x` when the code
/// is a file of the folder itself (`direct`).
fn sibling_refs(
    code: &str,
    path: &str,
    direct: bool,
    siblings: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut prefixes = vec![format!("crate::{path}::")];
    if direct {
        prefixes.push("super::".to_string());
    }
    for prefix in prefixes {
        let mut rest = code;
        while let Some(i) = rest.find(&prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue; // `super::super::`, `a::super::`, `$crate::`
            }
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end]
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect()
                    })
                    .collect()
            } else {
                vec![
                    rest.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect(),
                ]
            };
            for n in names {
                if siblings.contains(&n) {
                    out.insert(n);
                }
            }
        }
    }
    out
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let i = path.iter().position(|p| p == m).unwrap();
                    let mut c = path[i..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut path = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn imports_run_down_the_layers_of_docs_architecture() {
    let bad = violations(&top_level_imports());
    assert!(
        bad.is_empty(),
        "imports against docs/architecture.md:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_files_of_a_folder_never_import_each_other_in_a_circle() {
    let bad = sibling_cycles();
    assert!(bad.is_empty(), "circles:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import_and_a_circle() {
    // The checks themselves, on made-up imports: the journal using ingest (upward),
    // a module the table does not have, and two siblings using each other.
    let mut imports = top_level_imports();
    imports
        .entry("journal".into())
        .or_default()
        .insert("ingest".into(), vec!["src/journal.rs".into()]);
    imports
        .entry("nowhere".into())
        .or_default()
        .insert("error".into(), vec!["src/nowhere.rs".into()]);
    let bad = violations(&imports);
    assert!(
        bad.iter()
            .any(|b| b.contains("journal (persistence) imports ingest (stages)")),
        "{bad:?}"
    );
    assert!(bad.iter().any(|b| b.contains("src/nowhere")), "{bad:?}");
    let mut edges = BTreeMap::new();
    edges.insert("read".to_string(), BTreeSet::from(["split".to_string()]));
    edges.insert("split".to_string(), BTreeSet::from(["batch".to_string()]));
    edges.insert("batch".to_string(), BTreeSet::from(["read".to_string()]));
    assert_eq!(
        find_cycle(&edges).unwrap(),
        ["batch", "read", "split", "batch"]
    );
    // Comments, strings and `$crate` are not imports; groups are.
    let code = code_of(
        "// crate::portal\nlet s = \"crate::cli\"; use crate::{fsutil, round::RoundId}; $crate::x",
    );
    assert_eq!(
        crate_refs(&code),
        BTreeSet::from(["fsutil".into(), "round".into()])
    );
}

/// Every action the code journals has its Chinese name in the catalogue
/// (`messages::JOURNAL_ACTIONS`), so the journal page never shows a bare code; the
/// ingest's two (ingest, replace) and the scores' (score, evaluate) are named by
/// variables, and listed here.
#[test]
fn every_journalled_action_has_a_chinese_name() {
    let mut fs = Vec::new();
    files(&root().join("src"), &mut fs);
    let mut actions: BTreeSet<String> = ["ingest", "replace", "score", "evaluate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for f in &fs {
        let text = std::fs::read_to_string(f).unwrap();
        for (at, _) in text.match_indices("Draft::new(\"") {
            let rest = &text[at + "Draft::new(\"".len()..];
            actions.insert(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    assert!(actions.len() >= 20, "{actions:?}");
    let named: BTreeSet<&str> = manyi::messages::JOURNAL_ACTIONS
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let missing: Vec<&String> = actions
        .iter()
        .filter(|a| !named.contains(a.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "journalled without a Chinese name: {missing:?}"
    );
    for (code, text) in manyi::messages::JOURNAL_ACTIONS {
        assert!(
            text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{code}: {text}"
        );
    }
}
