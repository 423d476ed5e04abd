#!/usr/bin/env python3
"""Writes a large synthetic delivery (template format) for benchmarks.

usage: gen_delivery.py SAMPLE.csv ROWS OUT.csv [--gbk]
Rows are spread over the sample's communities; answers are realistic labels.
"""
import csv, random, sys

sample, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
gbk = "--gbk" in sys.argv
random.seed(7)
comms = []
with open(sample, encoding="utf-8-sig") as f:
    for r in csv.DictReader(f):
        comms.append((r["community_code"], r.get("community_name", ""), r["round"]))
labels = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
header = "respondent_id,community_code,community_name,round,interview_date,interviewer_id,mode,duration_s," + ",".join(f"q{i}" for i in range(1, 11))
with open(out, "w", encoding="gbk" if gbk else "utf-8", newline="") as f:
    f.write(header + "\n")
    for k in range(rows):
        code, name, rnd = comms[k % len(comms)]
        level = 1.5 + (hash(code) % 7) / 10
        ans = []
        for _ in range(10):
            if random.random() < 0.05:
                ans.append("不了解")
            else:
                ans.append(labels[min(4, max(0, int(round(random.gauss(level, 0.9)))))])
        f.write(f"R{k:08d},{code},{name},{rnd},{rnd[:4]}-0{random.randint(4,6)}-{random.randint(1,28):02d},I{k % 97:03d},入户,{random.randint(200,900)},{','.join(ans)}\n")
