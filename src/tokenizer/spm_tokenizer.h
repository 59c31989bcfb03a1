// SentencePiece-style tokenizer: spaces as U+2581, merges by piece score, byte fallback.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vocab.h"

namespace llmopt {

class SpmTokenizer : public VocabTokenizer {
  public:
    // add_space_prefix: a space is put before text that starts the input or follows a special
    // token (SentencePiece's "dummy prefix"). Scores of -infinity mark entries that merging
    // never produces (used for vocabularies converted from merge lists).
    SpmTokenizer(Vocab vocab, bool add_space_prefix);

    std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                bool parse_special) const override;
    std::string decode_piece(int32_t prev, int32_t id) const override;

  private:
    // Tokenizes text whose spaces are already U+2581.
    void encode_piece(std::string_view text, std::vector<int32_t>& out) const;
    // Merges and emits one stretch of encode_piece's text.
    void encode_segment(std::string_view text, std::vector<int32_t>& out) const;

    bool add_space_prefix_;
    // True when no entry has a U+2581 right after another character: then no merge crosses
    // the start of a word, and words can be tokenized one at a time (far faster on long text).
    bool split_at_words_ = true;
    std::array<int32_t, 256> byte_ids_{};  // <0xXX> entries; the unknown token when missing
};

}  // namespace llmopt
