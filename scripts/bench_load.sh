#!/usr/bin/env bash
# Load benchmarks of the portal for docs/performance.md, on 127.0.0.1, release build;
# every loop stops by itself.
#
# - fifty_readers_five_uploaders_and_score_jobs: 50 readers browse the desk and a
#   street's pages while 5 evaluators upload and score jobs run, for LOAD_SECS seconds
#   (default 60). Fails on any error answer or a lost or doubled row; p50/p99 per page.
# - logins_every_second_during_a_large_upload: /healthz, a page and an API call every
#   100 ms and a login every second, first with no upload (the baseline), then during
#   the upload of LOAD_ROWS rows (default 1,000,000); p50 and max per probe.
#
#   scripts/bench_load.sh                      # both
#   scripts/bench_load.sh logins_every_second  # one (a name filter)
#   LOAD_SECS=20 LOAD_ROWS=200000 scripts/bench_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test bench_load -- --ignored --nocapture --test-threads 1 "$@" 2>&1 | grep -v '^\s*Compiling'
