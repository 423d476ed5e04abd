#!/usr/bin/env bash
# Scale benchmark for docs/performance.md: ingest and score at 1M and 10M
# questionnaires, each timed beside its polars-only floor in the same run.
#
#   scripts/bench.sh                 # 1,000,000 and 10,000,000 rows
#   scripts/bench.sh 1000000         # just one size
#   BENCH_DIR=/big/disk scripts/bench.sh
#   BENCH_REPS=5 scripts/bench.sh    # repetitions per step (default 3; medians reported)
#
# Needs: the Rust toolchain, GNU time (/usr/bin/time), awk; ~4 GB free disk for 10M.
# The anchor is DuckDB's read_csv + group-by on the same file, in the same run: its
# Python package is installed here when missing (PyPI; the bench only, never the
# product or its tests).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 10000000)
W=${BENCH_DIR:-/tmp/manyi-bench}
cargo build --release --quiet --bin manyi --example baseline
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
BIN=$PWD/target/release/manyi
BASE=$PWD/target/release/examples/baseline
rm -rf "$W" && mkdir -p "$W"

# A province-sized frame: 150 streets × 100 communities = 15,000 (Yunnan has ~15,000).
awk 'BEGIN { print "street_code,street_name,community_code,community_name,households";
  for (s = 1; s <= 150; s++) for (c = 1; c <= 100; c++)
    printf "S%03d,街道%03d,S%03dC%03d,社区%03d-%03d社区居委会,%d\n", s, s, s, c, s, c, 1500 + (s * 37 + c * 91) % 4500 }' > "$W/frame.csv"
"$BIN" init "$W/ws" --scheme panlong-2018 --frame "$W/frame.csv" > /dev/null
"$BIN" -w "$W/ws" sample --round 2018-R1 --seed bench > /dev/null
SAMPLED=$(( $(wc -l < "$W/ws/surveys/samples/2018-R1.csv") - 1 ))
echo "frame: 15000 communities; round 2018-R1 samples $SAMPLED"

measure() { # label, command...: prints "seconds peak_rss_kb"
  local out; out=$( { /usr/bin/time -f "TIME %e %M" "${@:2}" > /dev/null; } 2>&1 | grep '^TIME' )
  echo "$out" | awk '{print $2, $3}'
}

REPS=${BENCH_REPS:-3}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf "\n%-10s %-24s %9s %10s %10s %9s\n" rows step seconds rows/s MB/s peak_MB
for ROWS in "${SIZES[@]}"; do
  PER=$(( (ROWS + SAMPLED - 1) / SAMPLED ))
  D="$W/delivery-$ROWS.csv"
  "$BIN" -w "$W/ws" simulate --round 2018-R1 --format csv --per-community "$PER" --out "$D" --seed "bench-$ROWS" > /dev/null
  N=$(( $(wc -l < "$D") - 1 ))
  MB=$(awk -v b="$(stat -c %s "$D")" 'BEGIN { printf "%.1f", b / 1e6 }')
  # Each step REPS times, floor and manyi alternating (the machine's speed drifts);
  # the medians are reported, and the ratio is of the medians.
  : > "$W/runs"
  for rep in $(seq "$REPS"); do
    rm -rf "$W/ws/surveys/store"
    echo "base $(measure base "$BASE" csv "$D")" >> "$W/runs"
    echo "duckdb $(measure duckdb python3 -c "import duckdb, sys; duckdb.sql(\"SELECT community_code, interviewer_id, count(*), avg(duration_s), count_if(q1 = '非常满意') FROM read_csv('$D') GROUP BY ALL\").fetchall()")" >> "$W/runs"
    echo "ingest $(measure ingest "$BIN" -w "$W/ws" ingest "$D" --round 2018-R1 --json)" >> "$W/runs"
    echo "basepq $(measure basepq "$BASE" parquet "$W/ws/surveys/store/responses")" >> "$W/runs"
    echo "score $(measure score "$BIN" -w "$W/ws" score --round 2018-R1)" >> "$W/runs"
    echo "score2 $(measure score2 "$BIN" -w "$W/ws" score --round 2018-R1)" >> "$W/runs"
    echo "flags $(measure flags "$BIN" -w "$W/ws" flags --round 2018-R1 --json)" >> "$W/runs"
    echo "verify $(measure verify "$BIN" -w "$W/ws" verify-store)" >> "$W/runs"
  done
  med() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$W/runs" | median; }
  row() { awk -v n="$N" -v mbs="$MB" -v t="$(med "$1" 2)" -v m="$(med "$1" 3)" -v l="$2" 'BEGIN { printf "%-10d %-24s %9.2f %10.0f %10.1f %9.0f\n", n, l, t, n / t, mbs / t, m / 1024 }'; }
  row duckdb "duckdb read_csv+groupby"
  row base "polars csv+groupby"
  row ingest "manyi ingest"
  row basepq "polars parquet+groupby"
  row score "manyi score (1st)"
  row score2 "manyi score (again)"
  row flags "manyi flags"
  row verify "manyi verify-store"
  awk -v a="$(med ingest 2)" -v b="$(med base 2)" -v c="$(med score 2)" -v d="$(med basepq 2)" -v n="$N" -v mb="$MB" -v r="$REPS" 'BEGIN {
    printf "%-10d ratios (medians of %d): ingest/floor = %.2f, score/floor = %.2f  (delivery %s MB)\n", n, r, a / b, c / d, mb }'
  awk -v a="$(med ingest 2)" -v k="$(med duckdb 2)" 'BEGIN { printf "           ingest/duckdb = %.2f (issue 23: at most 1.5)\n", a / k }'
  awk -v f="$(med flags 2)" -v v="$(med verify 2)" -v d="$(med basepq 2)" -v s="$(med score2 2)" 'BEGIN {
    printf "           score again/floor = %.2f, flags/floor = %.2f, verify-store/floor = %.2f (floor: polars parquet+groupby)\n", s / d, f / d, v / d }'
  echo "all runs (step seconds peak_KB):"; sed 's/^/  /' "$W/runs"
  rm -f "$D"
done
