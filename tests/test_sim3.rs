#[path = "sim3/mod.rs"]
mod sim3;

use sim3::{
    Community, Delivery, HEADER, Kind, LABELS, MODES, Params, delivery, example_communities,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
struct Rec {
    rid: String,
    code: String,
    name: String,
    round: String,
    date: String,
    iid: String,
    mode: String,
    dur: u32,
    ans: [u8; 10],
}

fn parse(csv: &str) -> Vec<Rec> {
    let mut lines = csv.split('\n');
    assert_eq!(lines.next().unwrap(), HEADER);
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 18, "field count in {line}");
        let mut ans = [0u8; 10];
        for (j, a) in ans.iter_mut().enumerate() {
            *a = LABELS
                .iter()
                .position(|l| *l == f[8 + j])
                .unwrap_or_else(|| panic!("label {}", f[8 + j])) as u8;
        }
        out.push(Rec {
            rid: f[0].into(),
            code: f[1].into(),
            name: f[2].into(),
            round: f[3].into(),
            date: f[4].into(),
            iid: f[5].into(),
            mode: f[6].into(),
            dur: f[7].parse().expect("duration is whole seconds"),
            ans,
        });
    }
    out
}

fn params(seed: u64, fabs: &[Kind]) -> Params {
    let mut p = Params::new(seed, "2018-R1", (2018, 5, 7), (2018, 6, 3));
    p.fabricators = fabs.to_vec();
    p
}

fn kind_map(d: &Delivery) -> BTreeMap<String, Kind> {
    d.interviewers.iter().cloned().collect()
}

fn mean_code(rows: &[&Rec]) -> f64 {
    let (mut s, mut n) = (0.0, 0.0);
    for r in rows {
        for &a in &r.ans {
            if a < 5 {
                s += a as f64;
                n += 1.0;
            }
        }
    }
    s / n
}

fn median(mut v: Vec<u32>) -> f64 {
    v.sort();
    v[v.len() / 2] as f64
}

#[test]
fn deterministic() {
    let cs = example_communities(8);
    let p = params(7, &[Kind::AllTop, Kind::Kinder, Kind::Copier]);
    let a = delivery(&cs, &p);
    let b = delivery(&cs, &p);
    assert_eq!(a.csv, b.csv);
    assert_eq!(a.interviewers, b.interviewers);
    let c = delivery(&cs, &params(8, &[Kind::AllTop, Kind::Kinder, Kind::Copier]));
    assert_ne!(a.csv, c.csv);
}

#[test]
fn format() {
    let cs = example_communities(9);
    let p = params(11, &[Kind::AllTop, Kind::Copier]);
    let d = delivery(&cs, &p);
    assert!(d.csv.starts_with(&format!("{HEADER}\n")));
    assert!(d.csv.ends_with('\n'));
    assert!(!d.csv.contains('\r'));
    let rows = parse(&d.csv);
    assert_eq!(rows.len(), cs.len() * p.per_community);
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    let names: BTreeMap<&str, &str> = cs
        .iter()
        .map(|c| (c.code.as_str(), c.name.as_str()))
        .collect();
    let mut ids = BTreeSet::new();
    for r in &rows {
        *per.entry(r.code.as_str()).or_default() += 1;
        assert_eq!(names[r.code.as_str()], r.name);
        assert_eq!(r.round, "2018-R1");
        assert!(
            r.rid.len() == 7
                && r.rid.starts_with('R')
                && r.rid[1..].bytes().all(|b| b.is_ascii_digit())
        );
        assert!(
            ids.insert(r.rid.clone()),
            "duplicate respondent id {}",
            r.rid
        );
        assert!(
            r.date.len() == 10
                && r.date.as_str() >= "2018-05-07"
                && r.date.as_str() <= "2018-06-03",
            "{}",
            r.date
        );
        assert_eq!(&r.date[4..5], "-");
        assert_eq!(&r.date[7..8], "-");
        assert!(MODES.contains(&r.mode.as_str()));
        assert!(r.dur >= 30 && r.dur < 4 * 3600, "duration {}", r.dur);
        assert!(
            r.iid.len() == 4
                && r.iid.starts_with('I')
                && r.iid[1..].bytes().all(|b| b.is_ascii_digit())
        );
    }
    assert_eq!(per.len(), cs.len());
    assert!(per.values().all(|&n| n == p.per_community));

    // Other sizes, a one-day window, a community name needing quotes.
    let mut q = params(3, &[Kind::Kinder]);
    q.per_community = 25;
    q.interviewers_per_community = 2;
    q.start = (2020, 2, 28);
    q.end = (2020, 2, 28);
    let cs2 = example_communities(4);
    let rows = parse(&delivery(&cs2, &q).csv);
    assert_eq!(rows.len(), 100);
    assert!(rows.iter().all(|r| r.date == "2020-02-28"));
    let odd = vec![Community::new("530103009001", "甲,乙社区居委会")];
    let csv = delivery(&odd, &params(1, &[])).csv;
    assert_eq!(csv.lines().count(), 41);
    assert!(csv.lines().nth(1).unwrap().contains("\"甲,乙社区居委会\""));
}

#[test]
fn ground_truth() {
    let cs = example_communities(10);
    let d = delivery(
        &cs,
        &params(
            21,
            &[Kind::AllTop, Kind::Honest, Kind::Kinder, Kind::Copier],
        ),
    );
    let rows = parse(&d.csv);
    let in_csv: BTreeSet<String> = rows.iter().map(|r| r.iid.clone()).collect();
    let listed: Vec<String> = d.interviewers.iter().map(|(i, _)| i.clone()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(listed, sorted, "sorted, each once");
    assert_eq!(in_csv, listed.iter().cloned().collect::<BTreeSet<_>>());
    for k in [Kind::AllTop, Kind::Kinder, Kind::Copier] {
        assert_eq!(d.ids_of(k).len(), 1, "{k:?}");
    }
    assert!(d.ids_of(Kind::Honest).len() >= 10);

    // No fabricator: all honest; Honest entries add nothing at all.
    let plain = delivery(&cs, &params(21, &[]));
    assert!(plain.interviewers.iter().all(|(_, k)| *k == Kind::Honest));
    let with_honest = delivery(&cs, &params(21, &[Kind::Honest, Kind::Honest]));
    assert_eq!(plain.csv, with_honest.csv);

    // Two fabricators of one kind are two interviewers.
    let two = delivery(&cs, &params(5, &[Kind::Copier, Kind::Copier]));
    assert_eq!(two.ids_of(Kind::Copier).len(), 2);
}

#[test]
fn fabricators_work_beside_honest_interviewers_in_a_few_communities() {
    let cs = example_communities(12);
    for seed in 0..6 {
        let d = delivery(
            &cs,
            &params(seed, &[Kind::AllTop, Kind::Kinder, Kind::Copier]),
        );
        let kinds = kind_map(&d);
        let rows = parse(&d.csv);
        for (id, k) in &d.interviewers {
            if *k == Kind::Honest {
                continue;
            }
            let comms: BTreeSet<&str> = rows
                .iter()
                .filter(|r| &r.iid == id)
                .map(|r| r.code.as_str())
                .collect();
            assert!(
                (1..=4).contains(&comms.len()),
                "{k:?} in {} communities",
                comms.len()
            );
            for c in comms {
                let here: Vec<&Rec> = rows.iter().filter(|r| r.code == c).collect();
                let honest = here
                    .iter()
                    .filter(|r| kinds[&r.iid] == Kind::Honest)
                    .count();
                assert!(honest >= 16, "community {c}: only {honest} honest rows");
                let mine = here.iter().filter(|r| &r.iid == id).count();
                assert!(mine <= 20, "{k:?} takes {mine} of 40");
            }
        }
    }
}

#[test]
fn fabricator_ids_are_not_positional() {
    let cs = example_communities(6);
    let mut ranks = BTreeSet::new();
    for seed in 0..12 {
        let d = delivery(&cs, &params(seed, &[Kind::Kinder]));
        let id = &d.ids_of(Kind::Kinder)[0];
        let rank = d.interviewers.iter().position(|(i, _)| i == id).unwrap();
        ranks.insert(rank * 4 / d.interviewers.len()); // quartile of the sorted ids
        assert!(d.interviewers.iter().all(|(i, _)| i.len() == id.len()));
    }
    assert!(
        ranks.len() >= 3,
        "fabricator id quartiles over seeds: {ranks:?}"
    );
}

#[test]
fn alltop_is_nearly_all_top_and_fast() {
    let cs = example_communities(10);
    for seed in 0..4 {
        let d = delivery(&cs, &params(100 + seed, &[Kind::AllTop]));
        let kinds = kind_map(&d);
        let rows = parse(&d.csv);
        let top: Vec<&Rec> = rows
            .iter()
            .filter(|r| kinds[&r.iid] == Kind::AllTop)
            .collect();
        let honest: Vec<&Rec> = rows
            .iter()
            .filter(|r| kinds[&r.iid] == Kind::Honest)
            .collect();
        assert!(top.len() >= 5);
        let share = |rs: &[&Rec]| {
            rs.iter()
                .flat_map(|r| r.ans.iter())
                .filter(|&&a| a == 0)
                .count() as f64
                / (rs.len() * 10) as f64
        };
        assert!(share(&top) >= 0.85, "AllTop 非常满意 share {}", share(&top));
        assert!(
            share(&honest) < 0.5,
            "honest 非常满意 share {}",
            share(&honest)
        );
        let mt = median(top.iter().map(|r| r.dur).collect());
        let mh = median(honest.iter().map(|r| r.dur).collect());
        assert!(
            mt < 300.0 && mt < 0.6 * mh,
            "AllTop median {mt} s, honest {mh} s"
        );
    }
}

#[test]
fn kinder_is_kinder_than_the_same_communities() {
    let cs = example_communities(10);
    for seed in 0..5 {
        let d = delivery(&cs, &params(200 + seed, &[Kind::Kinder]));
        let kinds = kind_map(&d);
        let rows = parse(&d.csv);
        let kinder: Vec<&Rec> = rows
            .iter()
            .filter(|r| kinds[&r.iid] == Kind::Kinder)
            .collect();
        let comms: BTreeSet<&str> = kinder.iter().map(|r| r.code.as_str()).collect();
        let honest: Vec<&Rec> = rows
            .iter()
            .filter(|r| kinds[&r.iid] == Kind::Honest && comms.contains(r.code.as_str()))
            .collect();
        let (mk, mh) = (mean_code(&kinder), mean_code(&honest));
        assert!(
            mh - mk > 0.3 && mh - mk < 1.2,
            "seed {seed}: Kinder {mk:.2} vs honest {mh:.2}"
        );
        // Not AllTop-like: varied answers, an honest-like pace.
        let top = kinder
            .iter()
            .flat_map(|r| r.ans.iter())
            .filter(|&&a| a == 0)
            .count() as f64
            / (kinder.len() * 10) as f64;
        assert!(top < 0.85, "Kinder 非常满意 share {top}");
        let all: Vec<u32> = kinder.iter().map(|r| r.dur).collect();
        let m = median(all);
        assert!(m > 250.0, "Kinder median {m}");
    }
}

#[test]
fn copier_rows_are_near_copies_of_honest_rows() {
    let cs = example_communities(10);
    for seed in 0..5 {
        let d = delivery(&cs, &params(300 + seed, &[Kind::Copier]));
        let kinds = kind_map(&d);
        let rows = parse(&d.csv);
        let copies: Vec<&Rec> = rows
            .iter()
            .filter(|r| kinds[&r.iid] == Kind::Copier)
            .collect();
        assert!(!copies.is_empty());
        let mut exact = 0;
        for c in &copies {
            let best = rows
                .iter()
                .filter(|r| r.code == c.code && kinds[&r.iid] == Kind::Honest)
                .map(|r| r.ans.iter().zip(&c.ans).filter(|(a, b)| a != b).count())
                .min()
                .unwrap();
            // 0 happens when the altered copy equals another (e.g. straight-lined) row.
            assert!(
                best <= 2,
                "copy differs in {best} items from its nearest honest row"
            );
            exact += (best == 0) as usize;
        }
        assert!(
            exact * 4 < copies.len(),
            "{exact} of {} copies are exact",
            copies.len()
        );
        // Steady pace: a much smaller spread of durations than honest interviewers.
        let cv = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt() / m
        };
        let cc = cv(&copies.iter().map(|r| r.dur as f64).collect::<Vec<_>>());
        let mut honest_cvs = Vec::new();
        for (id, k) in &d.interviewers {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| &r.iid == id && r.mode == "入户")
                .map(|r| r.dur as f64)
                .collect();
            if *k == Kind::Honest && v.len() >= 8 {
                honest_cvs.push(cv(&v));
            }
        }
        let min_honest = honest_cvs.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(
            cc < 0.1 && cc < min_honest,
            "Copier CV {cc:.3}, lowest honest {min_honest:.3}"
        );
    }
}

#[test]
fn honest_dont_know_shares_are_plausible() {
    let cs = example_communities(20);
    let d = delivery(&cs, &params(400, &[]));
    let rows = parse(&d.csv);
    let dk = |rs: &[&Rec]| {
        rs.iter()
            .flat_map(|r| r.ans.iter())
            .filter(|&&a| a == 5)
            .count() as f64
            / (rs.len() * 10) as f64
    };
    let all: Vec<&Rec> = rows.iter().collect();
    let overall = dk(&all);
    assert!((0.03..0.15).contains(&overall), "overall 不了解 {overall}");
    let mut shares = Vec::new();
    for (id, _) in &d.interviewers {
        let mine: Vec<&Rec> = rows.iter().filter(|r| &r.iid == id).collect();
        if mine.len() >= 15 {
            shares.push(dk(&mine));
        }
    }
    let max = shares.iter().cloned().fold(0.0, f64::max);
    let min = shares.iter().cloned().fold(1.0, f64::min);
    assert!(max < 0.35, "max interviewer 不了解 {max}");
    assert!(
        max > 2.0 * min,
        "interviewers differ in tolerance: {min}..{max}"
    );
    // Items differ: complaint handling (q10) far more 不了解 than security (q1).
    let item = |j: usize| rows.iter().filter(|r| r.ans[j] == 5).count() as f64 / rows.len() as f64;
    assert!(item(9) > 3.0 * item(0));
    // All five substantive labels occur, 非常满意/满意 dominate.
    let mut counts = [0usize; 6];
    rows.iter()
        .flat_map(|r| r.ans.iter())
        .for_each(|&a| counts[a as usize] += 1);
    assert!(counts.iter().all(|&c| c > 0));
    assert!(counts[0] + counts[1] > counts[2] + counts[3] + counts[4]);
}

/// ANOVA ICC of `groups` (one-way, unbalanced).
fn icc(groups: &BTreeMap<&str, Vec<f64>>) -> f64 {
    let n: usize = groups.values().map(|g| g.len()).sum();
    let k = groups.len();
    let grand = groups.values().flatten().sum::<f64>() / n as f64;
    let (mut ssb, mut ssw) = (0.0, 0.0);
    for g in groups.values() {
        let m = g.iter().sum::<f64>() / g.len() as f64;
        ssb += g.len() as f64 * (m - grand).powi(2);
        ssw += g.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    }
    let msb = ssb / (k - 1) as f64;
    let msw = ssw / (n - k) as f64;
    let n0 = (n as f64
        - groups
            .values()
            .map(|g| (g.len() * g.len()) as f64)
            .sum::<f64>()
            / n as f64)
        / (k - 1) as f64;
    (msb - msw) / (msb + (n0 - 1.0) * msw)
}

#[test]
fn honest_interviewer_effects_are_moderate() {
    // ICC of the row mean between honest interviewers, community means removed (biased
    // low: 3 interviewers a community), averaged over a few seeds.
    let cs = example_communities(30);
    let mut iccs = Vec::new();
    for seed in 500..504 {
        let mut p = params(seed, &[]);
        p.per_community = 50;
        let rows = parse(&delivery(&cs, &p).csv);
        let scored: Vec<(&Rec, f64)> = rows
            .iter()
            .filter_map(|r| {
                let v: Vec<f64> = r
                    .ans
                    .iter()
                    .filter(|&&a| a < 5)
                    .map(|&a| a as f64)
                    .collect();
                (!v.is_empty()).then(|| (r, v.iter().sum::<f64>() / v.len() as f64))
            })
            .collect();
        let mut by_comm: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (r, s) in &scored {
            by_comm.entry(&r.code).or_default().push(*s);
        }
        let raw_comm_icc = icc(&by_comm);
        assert!(
            raw_comm_icc > 0.02 && raw_comm_icc < 0.3,
            "community ICC {raw_comm_icc:.3}"
        );
        let cmean: BTreeMap<&str, f64> = by_comm
            .iter()
            .map(|(k, v)| (*k, v.iter().sum::<f64>() / v.len() as f64))
            .collect();
        let mut groups: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (r, s) in &scored {
            groups
                .entry(&r.iid)
                .or_default()
                .push(s - cmean[r.code.as_str()]);
        }
        iccs.push(icc(&groups));
    }
    let mean = iccs.iter().sum::<f64>() / iccs.len() as f64;
    assert!(mean > 0.005 && mean < 0.12, "interviewer ICCs {iccs:?}");
}

#[test]
fn honest_durations_and_workloads_are_realistic() {
    let cs = example_communities(16);
    let d = delivery(&cs, &params(600, &[]));
    let rows = parse(&d.csv);
    let home = median(
        rows.iter()
            .filter(|r| r.mode == "入户")
            .map(|r| r.dur)
            .collect(),
    );
    let phone = median(
        rows.iter()
            .filter(|r| r.mode == "电话")
            .map(|r| r.dur)
            .collect(),
    );
    assert!((300.0..900.0).contains(&home), "home median {home}");
    assert!(phone < home, "phone {phone} vs home {home}");
    let long = rows.iter().filter(|r| r.dur > 1500).count();
    assert!(long > 0 && long < rows.len() / 10, "{long} long interviews");

    let mut comms_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut days_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut n_of: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        comms_of.entry(&r.iid).or_default().insert(&r.code);
        days_of.entry(&r.iid).or_default().insert(&r.date);
        *n_of.entry(&r.iid).or_default() += 1;
    }
    assert!(comms_of.values().any(|c| c.len() == 1));
    assert!(comms_of.values().any(|c| c.len() >= 3));
    // Each community served by 3 honest interviewers.
    let mut per_comm: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &rows {
        per_comm.entry(&r.code).or_default().insert(&r.iid);
    }
    assert!(per_comm.values().all(|s| s.len() == 3));
    // Schedules: some work in bursts on few days, some spread out.
    assert!(days_of.values().any(|d| d.len() <= 4));
    assert!(days_of.values().any(|d| d.len() >= 10));
    let (lo, hi) = (n_of.values().min().unwrap(), n_of.values().max().unwrap());
    assert!(*hi > 3 * *lo, "workloads {lo}..{hi}");
    // Some phone work.
    let phone_share = rows.iter().filter(|r| r.mode == "电话").count() as f64 / rows.len() as f64;
    assert!(
        (0.02..0.4).contains(&phone_share),
        "phone share {phone_share}"
    );
}

#[test]
fn example_communities_look_real() {
    let cs = example_communities(100);
    assert_eq!(cs.len(), 100);
    let codes: BTreeSet<&str> = cs.iter().map(|c| c.code.as_str()).collect();
    let names: BTreeSet<&str> = cs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(codes.len(), 100);
    assert_eq!(names.len(), 100);
    for c in &cs {
        assert_eq!(c.code.len(), 12);
        assert!(c.code.starts_with("530103") && c.code.bytes().all(|b| b.is_ascii_digit()));
        assert!(c.name.ends_with("社区居委会"));
    }
    assert_eq!(cs[0].code, "530103001001");
    assert_eq!(example_communities(3), cs[..3].to_vec());
}
