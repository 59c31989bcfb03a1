#!/usr/bin/env bash
# Measures everything docs/PERFORMANCE.md reports, in one run on this machine, into OUT_DIR:
# machine limits, llmopt bench per weight type on a tinyllama-1.1b-shaped model, offline batch
# modes on a mixed workload, and server throughput against batched decode.
# usage: bench/run_all.sh [OUT_DIR] (models are written to $MODELS, default /tmp/llmopt-models)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results}"
models="${MODELS:-/tmp/llmopt-models}"
bin=build/llmopt
vocab=../shared/testdata/tokenizer/llama.cpp-vocab/ggml-vocab-llama-spm.gguf
corpus=../shared/testdata/corpora/tinystories/tinystories_val.moe-routing-bench.txt
mkdir -p "$out" "$models"

for t in f16 q8_0 q4_0 q4_k q6_k; do
  [ -f "$models/tinyllama-$t.gguf" ] || $bin synth --shape tinyllama-1.1b --type $t --vocab-from $vocab -o "$models/tinyllama-$t.gguf"
done

$bin bench --probe --json -t 2 > "$out/probe.json"
for t in f16 q8_0 q4_0 q4_k q6_k; do
  $bin bench -m "$models/tinyllama-$t.gguf" -t 2 -p 128,512 -n 32 -b 1,16 -r 3 --json > "$out/bench-$t.json"
done

# Offline batching: mixed prompts (~16-512 tokens) and outputs (16-256 tokens).
bench/make_workload.sh $corpus 64 7 12 380 16 256 > "$out/workload-stories.jsonl"
bench/make_workload.sh $corpus 32 7 12 380 16 256 > "$out/workload-tinyllama.jsonl"
for mode in continuous token-budget static; do
  rm -f "$out/batch-stories-$mode.out.jsonl" "$out/batch-tinyllama-$mode.out.jsonl"
  $bin batch -m ../shared/models/stories260K.gguf -t 2 -i "$out/workload-stories.jsonl" \
      -o "$out/batch-stories-$mode.out.jsonl" --mode $mode --json > "$out/batch-stories-$mode.json"
  $bin batch -m "$models/tinyllama-q4_0.gguf" -t 2 -c 1024 -i "$out/workload-tinyllama.jsonl" \
      -o "$out/batch-tinyllama-$mode.out.jsonl" --mode $mode --json > "$out/batch-tinyllama-$mode.json"
done

# Server: 16 concurrent clients against batched decode of 16 sequences (bench tg32x16 and
# tg128x16, taken right after),
# then the mixed workload's lengths for KV fragmentation (mean over engine steps, from the
# slot counters of /metrics).
metric() { curl -s http://127.0.0.1:18490/metrics | awk -v k="$1" '$1 == k { print $2 }'; }
for model in "$models/tinyllama-q4_0.gguf" ../shared/models/stories260K.gguf; do
  name=$(basename "$model" .gguf)
  $bin serve -m "$model" -t 2 -c 1024 --port 18490 --parallel 16 2> "$out/serve-$name.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18490/health > /dev/null && break; sleep 0.2; done
  requests=48 mixed=32; [ "$name" = stories260K ] && requests=400 mixed=200
  $bin loadgen --url http://127.0.0.1:18490 --concurrency 16 --requests $requests --prompt-tokens 16:32 \
      --max-tokens 96:128 --ignore-eos --stream --json > "$out/loadgen-$name.json"
  # The same load not streamed: each request's HTTP thread is woken once, at its end.
  $bin loadgen --url http://127.0.0.1:18490 --concurrency 16 --requests $requests --prompt-tokens 16:32 \
      --max-tokens 96:128 --ignore-eos --json > "$out/loadgen-whole-$name.json"
  # Bench's batched decode has no prompt: the same load with one-word prompts and 128 tokens
  # each, against tg128x16 (below), measures what the server adds to decode alone.
  $bin loadgen --url http://127.0.0.1:18490 --concurrency 16 --requests $requests --prompt-tokens 1:2 \
      --max-tokens 128:128 --ignore-eos --stream --json > "$out/loadgen-decode-$name.json"
  a0=$(metric llmopt_kv_slot_steps_allocated_total) u0=$(metric llmopt_kv_slot_steps_unused_total)
  $bin loadgen --url http://127.0.0.1:18490 --concurrency 16 --requests $mixed --prompt-tokens 16:512 \
      --max-tokens 16:256 --ignore-eos --stream --json --seed 1 > "$out/loadgen-mixed-$name.json"
  a1=$(metric llmopt_kv_slot_steps_allocated_total) u1=$(metric llmopt_kv_slot_steps_unused_total)
  echo "{\"mixed_fragmentation\": $(awk -v a0=$a0 -v a1=$a1 -v u0=$u0 -v u1=$u1 'BEGIN { print (u1 - u0) / (a1 - a0) }'), \"short_fragmentation\": $(awk -v a=$a0 -v u=$u0 'BEGIN { print u / a }')}" > "$out/kv-$name.json"
  kill -TERM $pid; wait $pid || true
  $bin bench -m "$model" -t 2 -p 128 -n 32,128 -b 16 -r 3 --json > "$out/bench-server-$name.json"
done
echo "results in $out"
