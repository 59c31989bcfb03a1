#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time (default 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DLLMOPT_FUZZ=ON -DLLMOPT_BENCH=OFF > /dev/null
cmake --build build-fuzz --target fuzz_gguf fuzz_tokenizer -j"$(nproc)" > /dev/null
for target in gguf tokenizer; do
  work="build-fuzz/corpus-$target"
  mkdir -p "$work"
  log="build-fuzz/fuzz-$target.log"
  if ! ./build-fuzz/fuzz/fuzz_$target -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
       -artifact_prefix=build-fuzz/ -print_final_stats=1 "$work" "fuzz/corpus/$target" > "$log" 2>&1; then
    echo "fuzz_$target found a failing input (build-fuzz/crash-*):"; tail -40 "$log"; exit 1
  fi
  echo "fuzz_$target: $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$log" | cut -d' ' -f2) inputs in ${seconds}s, no failure"
done
