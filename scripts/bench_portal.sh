#!/usr/bin/env bash
# Upload benchmark for docs/performance.md: a 1M-row delivery (≈190 MB) uploaded over
# HTTP to `manyi serve` until its receipt, against `manyi ingest` of the same file in
# the same run, and the server's peak memory (VmHWM) during the upload.
#
#   scripts/bench_portal.sh            # 1,000,000 rows, 3 repetitions (medians)
#   scripts/bench_portal.sh 200000     # another size
#   BENCH_DIR=/big/disk BENCH_REPS=5 scripts/bench_portal.sh
#
# Needs: the Rust toolchain, curl, GNU time (/usr/bin/time); the server listens on
# 127.0.0.1 only and is stopped after each repetition.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
REPS=${BENCH_REPS:-3}
W=${BENCH_DIR:-/tmp/manyi-bench-portal}
cargo build --release --quiet --bin manyi
BIN=$PWD/target/release/manyi
rm -rf "$W" && mkdir -p "$W"
awk 'BEGIN { print "street_code,street_name,community_code,community_name,households";
  for (s = 1; s <= 150; s++) for (c = 1; c <= 100; c++)
    printf "S%03d,街道%03d,S%03dC%03d,社区%03d-%03d社区居委会,%d\n", s, s, s, c, s, c, 1500 + (s * 37 + c * 91) % 4500 }' > "$W/frame.csv"
"$BIN" init "$W/ws" --scheme panlong-2018 --frame "$W/frame.csv" > /dev/null
"$BIN" -w "$W/ws" sample --round 2018-R1 --seed bench > /dev/null
SAMPLED=$(( $(wc -l < "$W/ws/surveys/samples/2018-R1.csv") - 1 ))
PER=$(( (ROWS + SAMPLED - 1) / SAMPLED ))
D="$W/delivery.csv"
"$BIN" -w "$W/ws" simulate --round 2018-R1 --format csv --per-community "$PER" --out "$D" --seed "bench-$ROWS" > /dev/null
N=$(( $(wc -l < "$D") - 1 )); MB=$(awk -v b="$(stat -c %s "$D")" 'BEGIN { printf "%.0f", b / 1e6 }')
"$BIN" -w "$W/ws" user add bench --role evaluator --org 测评机构A > /dev/null
TOKEN=$("$BIN" -w "$W/ws" user token bench | awk '{print $NF}')
STREETS=$(awk 'BEGIN { for (s = 1; s <= 150; s++) printf "%sS%03d", (s > 1 ? "," : ""), s }')
"$BIN" -w "$W/ws" assign --round 2018-R1 --org 测评机构A --streets "$STREETS" > /dev/null
echo "delivery: $N rows, $MB MB"

: > "$W/runs"
for rep in $(seq "$REPS"); do
  # The command line, with the same organisation (the same street check).
  rm -rf "$W/ws/surveys/store"
  T=$( { /usr/bin/time -f "%e %M" "$BIN" -w "$W/ws" ingest "$D" --round 2018-R1 --evaluator 测评机构A --json > /dev/null; } 2>&1 | tail -1)
  echo "cli $T" >> "$W/runs"
  # The portal: a fresh server, one upload to its receipt, its peak memory.
  rm -rf "$W/ws/surveys/store"
  "$BIN" -w "$W/ws" serve --bind 127.0.0.1:0 --max-upload 1G > "$W/serve.out" 2> "$W/serve.err" &
  PID=$!
  for _ in $(seq 100); do grep -q listening "$W/serve.out" 2>/dev/null && break; sleep 0.1; done
  ADDR=$(sed -n 's/.*http:\/\///p' "$W/serve.out" | head -1)
  START=$(date +%s.%N)
  CODE=$(curl -s -o "$W/receipt.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -F "file=@$D" "http://$ADDR/api/v1/rounds/2018-R1/deliveries")
  END=$(date +%s.%N)
  HWM=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
  kill -TERM $PID; wait $PID || true
  [ "$CODE" = 201 ] || { echo "upload answered $CODE: $(head -c 300 "$W/receipt.json")"; exit 1; }
  ACC=$(awk 'match($0, /"accepted": *[0-9]+/) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); print s; exit }' "$W/receipt.json")
  [ "$ACC" -gt 0 ] || { echo "nothing accepted"; exit 1; }
  echo "http $(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.2f", b - a }') $HWM" >> "$W/runs"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
med() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$W/runs" | median; }
CLI=$(med cli 2); HTTP=$(med http 2)
printf "\n%-34s %9s %9s\n" step seconds peak_MB
printf "%-34s %9.2f %9.0f\n" "manyi ingest (CLI)" "$CLI" "$(awk -v m="$(med cli 3)" 'BEGIN { print m / 1024 }')"
printf "%-34s %9.2f %9.0f\n" "upload over HTTP to its receipt" "$HTTP" "$(awk -v m="$(med http 3)" 'BEGIN { print m / 1024 }')"
awk -v a="$HTTP" -v b="$CLI" 'BEGIN { printf "ratio HTTP / CLI: %.2f (target: at most 1.3)\n", a / b }'
echo "runs:"; cat "$W/runs"
