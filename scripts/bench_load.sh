#!/usr/bin/env bash
# Load benchmark of the portal for docs/performance.md: 50 readers browse the desk and
# a street's pages while 5 evaluators upload and score jobs run, on 127.0.0.1, for
# LOAD_SECS seconds (default 60). Fails on any error answer or a lost or doubled row;
# prints p50/p99 latency per page. Release build; every loop stops by itself.
#
#   scripts/bench_load.sh              # 60 s
#   LOAD_SECS=20 scripts/bench_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test bench_load -- --ignored --nocapture 2>&1 | grep -v '^\s*Compiling'
