#!/usr/bin/env python3
"""Independent re-implementation of manyi's sampling algorithm (docs/sampling.md),
written from the document alone. It produces the golden draws that tests/test_sample.rs
compares with, and the keys of the worked examples in docs/sampling.md.

usage:
  sampling_reference.py FRAME.csv SEED ROUND --rate R            ceil(R x N_h) per street
  sampling_reference.py FRAME.csv SEED ROUND --rotation K [--surveyed FILE]
        round r of K with full coverage: ceil(left_h / (K - r + 1)) of the street's
        communities not in FILE (one community code a line: the year's earlier samples)
  --keys   print every community's key (street, community, key, * when selected)
           instead of the selected codes

Output (without --keys): the selected community codes, one a line, by street then code.

Golden files (run from the repository root; tests/test_references.rs checks them):
  python3 tests/data/sampling_reference.py surveys/frame.csv abc 2017-R1 --rate 0.3 \
      > tests/data/sample-2017-R1-abc.txt
  python3 tests/data/sampling_reference.py surveys/frame.csv abc 2018-R2 --rotation 3 \
      --surveyed tests/data/sample-2018-R1-abc.txt > tests/data/sample-2018-R2-abc.txt
  (sample-2018-R1-abc.txt: the same with 2018-R1 --rotation 3 and no --surveyed)
"""
import argparse, csv, hashlib, math
from collections import defaultdict

ALG = "manyi-sha256-order-v1"


def key(seed, rnd, street, community):
    return hashlib.sha256(f"{ALG}\n{seed}\n{rnd}\n{street}\n{community}".encode()).hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("frame")
    p.add_argument("seed")
    p.add_argument("round")
    p.add_argument("--rate", type=float)
    p.add_argument("--rotation", type=int)
    p.add_argument("--surveyed")
    p.add_argument("--keys", action="store_true")
    a = p.parse_args()
    streets = defaultdict(list)
    with open(a.frame, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            streets[row["street_code"]].append(row["community_code"])
    surveyed = set()
    if a.surveyed:
        surveyed = {l.strip() for l in open(a.surveyed, encoding="utf-8") if l.strip()}
    r = int(a.round.split("-R")[1])
    for s in sorted(streets):
        eligible = [c for c in streets[s] if c not in surveyed]
        if a.rotation:
            n = math.ceil(len(eligible) / (a.rotation - r + 1) - 1e-9)
        else:
            n = math.ceil(a.rate * len(eligible) - 1e-9)
        ranked = sorted(eligible, key=lambda c: (key(a.seed, a.round, s, c), c))
        chosen = set(ranked[:n])
        if a.keys:
            for c in sorted(eligible):
                print(s, c, key(a.seed, a.round, s, c), "*" if c in chosen else "")
        else:
            for c in sorted(chosen):
                print(c)


main()
