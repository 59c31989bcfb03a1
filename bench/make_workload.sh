#!/usr/bin/env bash
# Writes a mixed offline workload as JSONL for `llmopt batch`: N requests whose prompts are
# random spans of a text file (MIN_WORDS..MAX_WORDS words) and whose max_tokens are uniform in
# MIN_OUT..MAX_OUT, with ignore_eos so every request generates exactly its max_tokens.
# With DOC_WORDS, every prompt starts with the same span of DOC_WORDS words (one document that
# all the requests ask about, as in the production case) followed by its own span.
# usage: bench/make_workload.sh TEXT N SEED MIN_WORDS MAX_WORDS MIN_OUT MAX_OUT [DOC_WORDS] > requests.jsonl
set -euo pipefail
text="$1" n="$2" seed="$3" min_words="$4" max_words="$5" min_out="$6" max_out="$7" doc_words="${8:-0}"
tr -s '[:space:]' '\n' < "$text" | tr -d '"\\' | awk -v n="$n" -v seed="$seed" -v lo="$min_words" -v hi="$max_words" \
    -v olo="$min_out" -v ohi="$max_out" -v dw="$doc_words" '
  function span(len,    start, s, j) {
    start = 1 + int(rand() * (NR - len))
    s = w[start]
    for (j = 1; j < len; j++) s = s " " w[start + j]
    return s
  }
  { w[NR] = $0 }
  END {
    srand(seed)
    doc = dw > 0 ? span(dw) "\\n\\n" : ""
    for (i = 0; i < n; i++) {
      prompt = doc span(lo + int(rand() * (hi - lo + 1)))
      out = olo + int(rand() * (ohi - olo + 1))
      printf "{\"id\":\"r%d\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true}\n", i, prompt, out
    }
  }'
