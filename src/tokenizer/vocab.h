// The vocabulary every tokenizer format is loaded into, and the Tokenizer base built on it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt {

// Values of GGUF's tokenizer.ggml.token_type (SentencePiece's piece types).
enum class TokenType : int32_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
};

struct VocabToken {
    std::string text;
    float score = 0;
    TokenType type = TokenType::kNormal;
    // Whitespace next to a matched special token is swallowed (Hugging Face added-token flags).
    bool lstrip = false;
    bool rstrip = false;
};

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A piece of input text: either plain text or one special token found in it.
struct TextFragment {
    int32_t token = -1;  // >= 0 for a special token
    std::string_view text;
};

class Vocab {
  public:
    std::vector<VocabToken> tokens;
    int32_t bos_id = -1;
    int32_t eos_id = -1;
    int32_t unk_id = -1;
    int32_t eot_id = -1;
    int32_t eom_id = -1;
    bool add_bos = false;
    bool add_eos = false;

    // Builds the lookup tables; call once after `tokens` and the ids are filled in. Ids out of
    // range are dropped (set to -1), as llama.cpp does with bad special-token keys.
    void finalize();

    int32_t size() const { return static_cast<int32_t>(tokens.size()); }
    bool valid(int32_t id) const { return id >= 0 && id < size(); }
    // -1 when `text` is not an entry.
    int32_t find(std::string_view text) const;
    TokenType type(int32_t id) const { return tokens[static_cast<size_t>(id)].type; }
    bool is_end_of_generation(int32_t id) const { return eog_ids_.count(id) > 0; }

    // Splits text around special tokens, longest token first (as llama.cpp and Hugging Face
    // do). User-defined tokens are always split out; control and unknown tokens only when
    // parse_special is set.
    std::vector<TextFragment> split_special(std::string_view text, bool parse_special) const;

  private:
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids_;
    std::vector<int32_t> specials_;  // control, user-defined and unknown ids, longest text first
    std::unordered_set<int32_t> eog_ids_;
};

// The parts of Tokenizer every vocabulary-backed implementation shares.
class VocabTokenizer : public Tokenizer {
  public:
    explicit VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) { vocab_.finalize(); }

    int32_t vocab_size() const override { return vocab_.size(); }
    int32_t bos_id() const override { return vocab_.bos_id; }
    int32_t eos_id() const override { return vocab_.eos_id; }
    bool add_bos_by_default() const override { return vocab_.add_bos && vocab_.bos_id >= 0; }
    bool is_end_of_generation(int32_t id) const override { return vocab_.is_end_of_generation(id); }
    std::string token_text(int32_t id) const override {
        return vocab_.valid(id) ? vocab_.tokens[static_cast<size_t>(id)].text : std::string();
    }
    bool is_special(int32_t id) const override {
        return vocab_.valid(id) &&
               (vocab_.type(id) == TokenType::kControl || vocab_.type(id) == TokenType::kUnknown);
    }

  protected:
    Vocab vocab_;
};

}  // namespace llmopt
