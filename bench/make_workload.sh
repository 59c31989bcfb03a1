#!/usr/bin/env bash
# Writes a mixed offline workload as JSONL for `llmopt batch`: N requests whose prompts are
# random spans of a text file (MIN_WORDS..MAX_WORDS words) and whose max_tokens are uniform in
# MIN_OUT..MAX_OUT, with ignore_eos so every request generates exactly its max_tokens.
# usage: bench/make_workload.sh TEXT N SEED MIN_WORDS MAX_WORDS MIN_OUT MAX_OUT > requests.jsonl
set -euo pipefail
text="$1" n="$2" seed="$3" min_words="$4" max_words="$5" min_out="$6" max_out="$7"
tr -s '[:space:]' '\n' < "$text" | tr -d '"\\' | awk -v n="$n" -v seed="$seed" -v lo="$min_words" -v hi="$max_words" \
    -v olo="$min_out" -v ohi="$max_out" '
  { w[NR] = $0 }
  END {
    srand(seed)
    for (i = 0; i < n; i++) {
      len = lo + int(rand() * (hi - lo + 1))
      start = 1 + int(rand() * (NR - len))
      prompt = w[start]
      for (j = 1; j < len; j++) prompt = prompt " " w[start + j]
      out = olo + int(rand() * (ohi - olo + 1))
      printf "{\"id\":\"r%d\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true}\n", i, prompt, out
    }
  }'
