// Byte-level BPE tokenizer (GPT-2 family): regex words, bytes as characters, ranked merges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pre_tokenizer.h"
#include "unicode_text.h"
#include "vocab.h"

namespace llmopt {

struct BpeOptions {
    bool ignore_merges = false;     // a word that is a vocab entry is emitted whole
    bool add_prefix_space = false;  // a space before text not starting with one (HF ByteLevel)
    NormalizationForm normalization = NormalizationForm::kNone;
};

class BpeTokenizer : public VocabTokenizer {
  public:
    // merges: pairs of vocab entries (in byte-as-character form), highest priority first.
    // Pairs whose parts or result are not entries are ignored.
    BpeTokenizer(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                 PreTokenizer pre_tokenizer, BpeOptions options);

    std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                bool parse_special) const override;
    std::string decode_piece(int32_t prev, int32_t id) const override;

  private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };

    // Tokenizes one pre-tokenized word given in byte-as-character form.
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    const Merge* find_merge(int32_t left, int32_t right) const;

    std::unordered_map<uint64_t, Merge> merges_;  // key: left id << 32 | right id
    PreTokenizer pre_tokenizer_;
    BpeOptions options_;
};

}  // namespace llmopt
