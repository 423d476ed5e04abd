#!/usr/bin/env bash
# Scale benchmark for docs/performance.md: ingest and score at 1M and 10M
# questionnaires, each timed beside its polars-only floor in the same run.
#
#   scripts/bench.sh                 # 1,000,000 and 10,000,000 rows
#   scripts/bench.sh 1000000         # just one size
#   BENCH_DIR=/big/disk scripts/bench.sh
#
# Needs: the Rust toolchain, GNU time (/usr/bin/time), awk; ~4 GB free disk for 10M.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 10000000)
W=${BENCH_DIR:-/tmp/manyi-bench}
cargo build --release --quiet --bin manyi --example baseline
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

printf "\n%-10s %-22s %9s %10s %10s %9s\n" rows step seconds rows/s MB/s peak_MB
for ROWS in "${SIZES[@]}"; do
  PER=$(( (ROWS + SAMPLED - 1) / SAMPLED ))
  D="$W/delivery-$ROWS.csv"
  "$BIN" -w "$W/ws" simulate --round 2018-R1 --format csv --per-community "$PER" --out "$D" --seed "bench-$ROWS" > /dev/null
  N=$(( $(wc -l < "$D") - 1 ))
  MB=$(awk -v b="$(stat -c %s "$D")" 'BEGIN { printf "%.1f", b / 1e6 }')
  rm -rf "$W/ws/surveys/store"
  read -r tb mb <<< "$(measure base "$BASE" csv "$D")"
  read -r ti mi <<< "$(measure ingest "$BIN" -w "$W/ws" ingest "$D" --round 2018-R1 --json)"
  read -r tp mp <<< "$(measure basepq "$BASE" parquet "$W/ws/surveys/store/responses")"
  read -r ts ms <<< "$(measure score "$BIN" -w "$W/ws" score --round 2018-R1)"
  row() { awk -v n="$N" -v mbs="$MB" -v t="$2" -v m="$3" -v l="$1" 'BEGIN { printf "%-10d %-22s %9.2f %10.0f %10.1f %9.0f\n", n, l, t, n / t, mbs / t, m / 1024 }'; }
  row "polars csv+groupby" "$tb" "$mb"
  row "manyi ingest" "$ti" "$mi"
  row "polars parquet+groupby" "$tp" "$mp"
  row "manyi score" "$ts" "$ms"
  awk -v a="$ti" -v b="$tb" -v c="$ts" -v d="$tp" -v n="$N" -v mb="$MB" 'BEGIN {
    printf "%-10d ratios: ingest/floor = %.2f, score/floor = %.2f  (delivery %s MB)\n", n, a / b, c / d, mb }'
  rm -f "$D"
done
