// SentencePiece-style tokenizer: spaces as U+2581, merges by piece score, byte fallback.
//
// Same procedure as llama.cpp's SPM tokenizer (so its test vectors match): start from single
// characters, repeatedly merge the adjacent pair whose concatenation is the vocabulary entry
// with the highest score (leftmost on ties), then spell characters that are no entry as
// <0xXX> byte tokens.
#include "spm_tokenizer.h"

#include <cmath>
#include <cstdio>
#include <queue>

#include "unicode_text.h"

namespace llmopt {

namespace {

struct Symbol {
    uint32_t start;
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
};

struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    uint32_t length;  // of the merged text, to detect pairs that changed since queued

    // Orders the max-heap: best score first, then the leftmost pair.
    bool operator<(const Bigram& other) const {
        return score < other.score || (score == other.score && left > other.left);
    }
};

// True when text[pos] starts a U+2581 that follows some other character.
bool starts_word(std::string_view text, size_t pos) {
    const size_t n = kSpmSpace.size();
    return pos > 0 && (pos < n || text.substr(pos - n, n) != kSpmSpace);
}

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab, bool add_space_prefix)
    : VocabTokenizer(std::move(vocab)), add_space_prefix_(add_space_prefix) {
    for (int b = 0; b < 256; ++b) {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
        int32_t id = vocab_.find(hex);
        if (id < 0) id = vocab_.find(std::string(1, static_cast<char>(b)));
        byte_ids_[static_cast<size_t>(b)] = id >= 0 ? id : vocab_.unk_id;
    }
    for (const VocabToken& token : vocab_.tokens) {
        for (size_t pos = token.text.find(kSpmSpace, 1); pos != std::string::npos;
             pos = token.text.find(kSpmSpace, pos + 1)) {
            if (starts_word(token.text, pos)) split_at_words_ = false;
        }
    }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
    std::vector<int32_t> out;
    if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
    bool after_special = true;  // the start of the input counts as "after a special token"
    for (const TextFragment& fragment : vocab_.split_special(text, parse_special)) {
        if (fragment.token >= 0) {
            out.push_back(fragment.token);
            after_special = true;
            continue;
        }
        std::string piece = add_space_prefix_ && after_special ? " " : "";
        piece += fragment.text;
        encode_piece(escape_spm_spaces(piece), out);
        after_special = false;
    }
    // add_bos plays llama.cpp's add_special: EOS too when the vocabulary asks for it.
    if (add_bos && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
    return out;
}

void SpmTokenizer::encode_piece(std::string_view text, std::vector<int32_t>& out) const {
    if (!split_at_words_) {
        encode_segment(text, out);
        return;
    }
    // Cut before every U+2581 that follows another character (the start of a word).
    size_t start = 0;
    for (size_t pos = text.find(kSpmSpace, 1); pos != std::string_view::npos;
         pos = text.find(kSpmSpace, pos + 1)) {
        if (starts_word(text, pos)) {
            encode_segment(text.substr(start, pos - start), out);
            start = pos;
        }
    }
    encode_segment(text.substr(start), out);
}

void SpmTokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
        const auto length = static_cast<uint32_t>(utf8_char_length(text, pos));
        const auto index = static_cast<int32_t>(symbols.size());
        symbols.push_back({static_cast<uint32_t>(pos), length, index - 1, index + 1});
        pos += length;
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    std::priority_queue<Bigram> queue;
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t length = symbols[left].length + symbols[right].length;
        const int32_t id = vocab_.find(text.substr(symbols[left].start, length));
        if (id < 0) return;
        const float score = vocab_.tokens[static_cast<size_t>(id)].score;
        if (std::isinf(score) && score < 0) return;
        queue.push({score, left, right, length});
    };
    for (size_t i = 1; i < symbols.size(); ++i) {
        try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    }

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
            continue;  // one side was merged elsewhere since this pair was queued
        }
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }

    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        const std::string_view piece = text.substr(symbols[i].start, symbols[i].length);
        const int32_t id = vocab_.find(piece);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) {
            const int32_t byte_id = byte_ids_[static_cast<uint8_t>(c)];
            if (byte_id >= 0) out.push_back(byte_id);
        }
    }
}

std::string SpmTokenizer::decode_piece(int32_t prev, int32_t id) const {
    if (!vocab_.valid(id)) return {};
    const VocabToken& token = vocab_.tokens[static_cast<size_t>(id)];
    switch (token.type) {
        case TokenType::kNormal: {
            std::string text = unescape_spm_spaces(token.text);
            // SentencePiece's decoder removes the dummy prefix again.
            if (add_space_prefix_ && prev >= 0 && prev == vocab_.bos_id && !text.empty() &&
                text[0] == ' ') {
                text.erase(0, 1);
            }
            return text;
        }
        case TokenType::kByte: {
            unsigned value = 0;
            if (token.text.size() == 6 && std::sscanf(token.text.c_str(), "<0x%2X>", &value) == 1) {
                return std::string(1, static_cast<char>(value));
            }
            return token.text;
        }
        case TokenType::kUserDefined:
            return token.text;
        default:
            return {};  // control, unknown and unused entries print nothing
    }
}

}  // namespace llmopt
