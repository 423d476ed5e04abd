#!/usr/bin/env python3
"""Independent reference for `manyi score` + `manyi evaluate --period 2018H1` on the
shipped examples (2018-R1-sample.csv, the three evaluator deliveries,
indicators-2018H1.csv), written from BRIEF.md and RULES.md, not from the Rust code.
Writes evaluate-2018H1-expected.json, which tests/test_evaluate.rs compares to 1e-9.

Run from tests/data: python3 evaluate_reference.py   (needs scipy)
"""
import csv, io, json, math
from scipy.stats import t as student_t

W = [0.10, 0.10, 0.10, 0.08, 0.10, 0.07, 0.08, 0.07, 0.10, 0.20]
SCORE = {"非常满意": 100, "很满意": 100, "满意": 80, "基本满意": 60, "不满意": 30, "不太满意": 30,
         "非常不满意": 0, "很不满意": 0, "1": 100, "2": 80, "3": 60, "4": 30, "5": 0}
NOT_ANSWERED = {"不了解", "9", ""}
SATISFIED = {"非常满意", "很满意", "满意", "基本满意", "1", "2", "3"}
MIN_ITEMS, MIN_VALID, THRESHOLD, CONF = 6, 30, 80.0, 0.95

frame = {r["community_code"]: r for r in csv.DictReader(open("../../surveys/frame.csv", encoding="utf-8-sig"))}
street_n = {}
for r in frame.values():
    street_n[r["street_code"]] = street_n.get(r["street_code"], 0) + 1
sample = [r["community_code"] for r in csv.DictReader(open("2018-R1-sample.csv", encoding="utf-8-sig"))]

def rows(path, enc):
    text = open(path, "rb").read().decode(enc)
    return list(csv.DictReader(io.StringIO(text)))

resp = []  # (community, [answers])
for r in rows("evaluator-a-template-utf8.csv", "utf-8"):
    resp.append((r["community_code"], [r[f"q{i}"] for i in range(1, 11)]))
for r in rows("evaluator-b-excel-gbk.csv", "gbk"):
    resp.append((r["社区代码"], [r[f"Q{i}"] for i in range(1, 11)]))
for r in rows("evaluator-c-names-bom.csv", "utf-8-sig"):
    name = r["社区名称"]
    cands = [c for c in sample if frame[c]["community_name"].startswith(name)]
    assert len(cands) == 1, (name, cands)
    resp.append((cands[0], [r[f"Q{i}"] for i in range(1, 11)]))

by_comm = {}
for code, ans in resp:
    answered = [(W[i], SCORE[a]) for i, a in enumerate(ans) if a not in NOT_ANSWERED]
    if len(answered) < MIN_ITEMS:
        continue
    y = sum(w * x for w, x in answered) / sum(w for w, _ in answered)
    by_comm.setdefault(code, []).append((y, sum(a in SATISFIED for a in ans), len(answered)))

tq = lambda df: student_t.ppf(0.975, df)
comm = {}
for code in sample:
    rs = by_comm.get(code, [])
    m = len(rs)
    if m < MIN_VALID:
        comm[code] = None
        continue
    ys = [r[0] for r in rs]
    mean = sum(ys) / m
    s2 = sum((y - mean) ** 2 for y in ys) / (m - 1)
    M = int(frame[code]["households"])
    se = math.sqrt((1 - m / M) * s2 / m)
    comm[code] = dict(score=mean, se=se, ci_low=mean - tq(m - 1) * se, ci_high=mean + tq(m - 1) * se,
                      n_valid=m, var=s2, M=M, rate=sum(r[1] for r in rs) / sum(r[2] for r in rs))

streets = {}
for s in sorted({frame[c]["street_code"] for c in sample}):
    cs = [c for c in sample if frame[c]["street_code"] == s and comm[c]]
    n, N = len(cs), street_n[s]
    ybar = sum(comm[c]["score"] for c in cs) / n
    sb2 = sum((comm[c]["score"] - ybar) ** 2 for c in cs) / (n - 1)
    v = (1 - n / N) * sb2 / n + sum((1 - comm[c]["n_valid"] / comm[c]["M"]) * comm[c]["var"] / comm[c]["n_valid"] for c in cs) / (n * N)
    streets[s] = dict(score=ybar, se=math.sqrt(v), df=n - 1,
                      ci_low=ybar - tq(n - 1) * math.sqrt(v), ci_high=ybar + tq(n - 1) * math.sqrt(v),
                      n_respondents=sum(comm[c]["n_valid"] for c in cs))

# Indicators, RULES.md 2018 targets: (target, method, points)
IND = {"t1": (1, "pass", 6), "t2": (1, "ratio", 6), "t3": (15, "ratio", 10), "t4": (100, "ratio", 10),
       "t5": (95, "ratio", 10), "t6": (2, "ratio", 6), "t7": (0, "penalty", 6), "t8": (50, "ratio", 6)}
AGRI = {"530103009", "530103010", "530103011", "530103012"}
vals = {}
for r in csv.DictReader(open("indicators-2018H1.csv", encoding="utf-8-sig")):
    vals[(r["street_code"], r["indicator"])] = r["value"].strip()
ev = {}
for s in streets:
    earned = possible = 0.0
    for i, (tgt, method, pts) in IND.items():
        v = vals.get((s, i), "")
        if v == "NA" or (i == "t8" and s not in AGRI):
            continue
        possible += pts
        if v == "":
            continue
        x = float(v)
        if method == "pass":
            earned += pts if x >= tgt else 0
        elif method == "ratio":
            earned += pts * min(max(x / tgt, 0), 1)
        else:
            earned += max(0, pts - 2 * x)
    task = earned * 60 / possible
    sat = 40 * streets[s]["score"] / 100
    below = [c for c in sample if frame[c]["street_code"] == s and comm[c] and comm[c]["score"] < THRESHOLD]
    ded = min(0.5 * len(below), 3) + (1 if streets[s]["score"] < 85 else 0)
    ev[s] = dict(satisfaction_points=sat, task_points=task, total=sat + task, deduction=ded, below=sorted(below))
for s in ev:
    ev[s]["rank"] = 1 + sum(1 for o in ev if ev[o]["total"] > ev[s]["total"])

json.dump({"communities": comm, "streets": streets, "evaluation": ev}, open("evaluate-2018H1-expected.json", "w"), indent=1, sort_keys=True)
for s in sorted(ev, key=lambda s: ev[s]["rank"]):
    print(ev[s]["rank"], s, round(streets[s]["score"], 3), round(ev[s]["total"], 3), ev[s]["deduction"])
