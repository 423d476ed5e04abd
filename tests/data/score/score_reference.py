#!/usr/bin/env python3
"""Independent reference for `manyi score` (BRIEF.md, "Scoring"), written from the
definitions, not from the Rust code. It writes the test delivery (delivery.csv) and the
expected values (expected.json) that tests/test_score.rs compares against to 1e-9.

Run from this folder: python3 score_reference.py   (needs scipy for t quantiles)
"""
import csv, json, math, random
from scipy.stats import t as student_t

W = [0.10, 0.10, 0.10, 0.08, 0.10, 0.07, 0.08, 0.07, 0.10, 0.20]
LABELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
SCORE = {"非常满意": 100, "满意": 80, "基本满意": 60, "不满意": 30, "非常不满意": 0}
SATISFIED = {"非常满意", "满意", "基本满意"}
MIN_ITEMS = 6
CONF = 0.95

frame = {}
with open("frame.csv", encoding="utf-8") as f:
    for r in csv.DictReader(f):
        frame[r["community_code"]] = (r["street_code"], int(r["households"]) if r["households"] else None)
sample = [r["community_code"] for r in csv.DictReader(open("sample.csv", encoding="utf-8"))]

# The delivery: fixed sizes per community, pseudo-random answers.
sizes = {"C11": 8, "C12": 5, "C21": 6, "C22": 4, "C23": 7, "C31": 5, "C41": 6, "C42": 1}
random.seed(2018)
rows = []
k = 0
for code in sample:
    level = random.uniform(0.8, 2.2)
    for _ in range(sizes[code]):
        k += 1
        ans = []
        for _ in range(10):
            if random.random() < 0.12:
                ans.append("不了解")
            else:
                ans.append(LABELS[min(4, max(0, round(random.gauss(level, 1.0))))])
        rows.append([f"T{k:03d}", code, ans])
# C42 also has one respondent answering nothing (all 不了解) and one with 4 items.
rows.append(["T900", "C42", ["不了解"] * 10])
rows.append(["T901", "C42", ["满意"] * 4 + ["不了解"] * 6])
with open("delivery.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["respondent_id", "community_code", "round", "interview_date", "interviewer_id", "duration_s"] + [f"q{i}" for i in range(1, 11)])
    for rid, code, ans in rows:
        w.writerow([rid, code, "2018-R1", "2018-05-01", "I1", 600] + ans)

def tq(df):
    return student_t.ppf(1 - (1 - CONF) / 2, df)

resp = {}
for rid, code, ans in rows:
    answered = [(W[i], SCORE[a]) for i, a in enumerate(ans) if a in SCORE]
    if len(answered) < MIN_ITEMS:
        continue
    y = sum(w * x for w, x in answered) / sum(w for w, _ in answered)
    sat = sum(1 for a in ans if a in SATISFIED)
    resp.setdefault(code, []).append((y, sat, len(answered)))

comm = {}
for code in sample:
    ys = [r[0] for r in resp.get(code, [])]
    m = len(ys)
    M = frame[code][1]
    mean = sum(ys) / m
    s2 = sum((y - mean) ** 2 for y in ys) / (m - 1) if m > 1 else None
    fpc = (1 - m / M) if M else 1.0
    se = math.sqrt(fpc * s2 / m) if s2 is not None else None
    ci = (mean - tq(m - 1) * se, mean + tq(m - 1) * se) if se is not None else None
    rate = sum(r[1] for r in resp[code]) / sum(r[2] for r in resp[code])
    comm[code] = dict(n_valid=m, score=mean, var=s2, se=se, ci_low=ci and ci[0], ci_high=ci and ci[1],
                      df=(m - 1) if m > 1 else None, satisfaction_rate=rate)

streets = {}
for s in sorted({frame[c][0] for c in sample}):
    cs = [c for c in sample if frame[c][0] == s]
    N = sum(1 for c in frame if frame[c][0] == s)
    n = len(cs)
    ybar = sum(comm[c]["score"] for c in cs) / n
    out = dict(n_communities=n, score=ybar, se=None, ci_low=None, ci_high=None, df=None,
               n_respondents=sum(comm[c]["n_valid"] for c in cs),
               satisfaction_rate=sum(comm[c]["satisfaction_rate"] for c in cs) / n)
    if n == 1 and N > 1:
        streets[s] = out
        continue
    if n == N:
        first = 0.0
        df = sum(comm[c]["n_valid"] for c in cs) - n
    else:
        sb2 = sum((comm[c]["score"] - ybar) ** 2 for c in cs) / (n - 1)
        first = (1 - n / N) * sb2 / n
        df = n - 1
    second = 0.0
    for c in cs:
        M = frame[c][1]
        m = comm[c]["n_valid"]
        if comm[c]["var"] is not None:
            second += ((1 - m / M) if M else 1.0) * comm[c]["var"] / m
    second /= n * N
    se = math.sqrt(first + second)
    out.update(se=se, df=df, ci_low=ybar - tq(df) * se, ci_high=ybar + tq(df) * se)
    streets[s] = out

json.dump({"communities": comm, "streets": streets}, open("expected.json", "w"), indent=1, sort_keys=True)
print(json.dumps(streets, indent=1))
