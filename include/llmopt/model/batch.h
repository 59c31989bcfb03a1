// A ragged batch: a flat list of tokens from many sequences, no padding.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace llmopt {

struct Batch {
    std::vector<int32_t> tokens;     // (n_tokens)
    std::vector<int32_t> positions;  // (n_tokens) position of each token in its sequence
    std::vector<int32_t> seq;        // (n_tokens) index into block_tables
    std::vector<uint8_t> output;     // (n_tokens) 1: return this token's logits
    // (n_seqs) each sequence's KV blocks, covering every position up to its last token here.
    std::vector<std::span<const int32_t>> block_tables;
    // (n_seqs, or empty for none) leading positions of each sequence that are padding: cached and
    // scored like any other, then given zero attention weight (the padded baseline's mask).
    std::vector<int32_t> masked_prefix;

    void add(int32_t token, int32_t position, int32_t seq_index, bool want_logits) {
        tokens.push_back(token);
        positions.push_back(position);
        seq.push_back(seq_index);
        output.push_back(want_logits ? 1 : 0);
    }
    int32_t size() const { return static_cast<int32_t>(tokens.size()); }
    int32_t n_outputs() const {
        int32_t n = 0;
        for (uint8_t o : output) n += o;
        return n;
    }
    void clear() {
        tokens.clear();
        positions.clear();
        seq.clear();
        output.clear();
        block_tables.clear();
        masked_prefix.clear();
    }
};

}  // namespace llmopt
