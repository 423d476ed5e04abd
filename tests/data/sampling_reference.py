#!/usr/bin/env python3
"""Independent re-implementation of manyi's sampling algorithm (docs/sampling.md),
written from the document alone, used to produce the worked example and the golden
draw in tests/test_sample.rs.

usage: sampling_reference.py FRAME.csv SEED ROUND RATE   (ceil-rate method)
"""
import csv, hashlib, math, sys
from collections import defaultdict

ALG = "manyi-sha256-order-v1"

def key(seed, rnd, street, community):
    return hashlib.sha256(f"{ALG}\n{seed}\n{rnd}\n{street}\n{community}".encode()).hexdigest()

def main():
    frame, seed, rnd, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    streets = defaultdict(list)
    with open(frame, encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            streets[row["street_code"]].append(row["community_code"])
    for s in sorted(streets):
        cs = streets[s]
        n = math.ceil(rate * len(cs) - 1e-9)
        ranked = sorted(cs, key=lambda c: (key(seed, rnd, s, c), c))
        for c in sorted(cs):
            print(s, c, key(seed, rnd, s, c), "*" if c in ranked[:n] else "")

main()
