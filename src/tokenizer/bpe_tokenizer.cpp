// Byte-level BPE tokenizer (GPT-2 family): regex words, bytes as characters, ranked merges.
//
// Each pre-tokenized word is rewritten byte by byte into GPT-2's printable characters, split
// into characters, and the adjacent pair with the lowest merge rank (leftmost on ties) is
// merged until no ranked pair is left; this is the order llama.cpp and Hugging Face use.
#include "bpe_tokenizer.h"

#include <queue>

namespace llmopt {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}

struct Symbol {
    int32_t id;  // -1 for a character that is no vocab entry
    uint32_t start;
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
};

struct Bigram {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;  // ids when queued, to detect pairs that changed since
    int32_t right_id;
    int32_t result;

    // Orders the max-heap: lowest rank first, then the leftmost pair.
    bool operator<(const Bigram& other) const {
        return rank > other.rank || (rank == other.rank && left > other.left);
    }
};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges,
                           PreTokenizer pre_tokenizer, BpeOptions options)
    : VocabTokenizer(std::move(vocab)),
      pre_tokenizer_(std::move(pre_tokenizer)),
      options_(options) {
    merges_.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [left, right] = merges[rank];
        const int32_t left_id = vocab_.find(left);
        const int32_t right_id = vocab_.find(right);
        joined = left;
        joined += right;
        const int32_t result = vocab_.find(joined);
        if (left_id < 0 || right_id < 0 || result < 0) continue;
        // emplace keeps the first (best-ranked) entry of a repeated pair
        merges_.emplace(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), result});
    }
}

const BpeTokenizer::Merge* BpeTokenizer::find_merge(int32_t left, int32_t right) const {
    if (left < 0 || right < 0) return nullptr;
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
    std::vector<int32_t> out;
    if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
    for (const TextFragment& fragment : vocab_.split_special(text, parse_special)) {
        if (fragment.token >= 0) {
            out.push_back(fragment.token);
            continue;
        }
        std::string normalized = normalize_unicode(fragment.text, options_.normalization);
        if (options_.add_prefix_space && !normalized.empty() && normalized[0] != ' ')
            normalized.insert(0, 1, ' ');
        for (std::string_view word : pre_tokenizer_.split(normalized)) {
            encode_word(bytes_to_unicode_text(word), out);
        }
    }
    // add_bos plays llama.cpp's add_special: EOS too when the vocabulary asks for it.
    if (add_bos && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
    return out;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (options_.ignore_merges) {
        if (const int32_t id = vocab_.find(word); id >= 0) {
            out.push_back(id);
            return;
        }
    }

    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < word.size();) {
        const size_t length = utf8_char_length(word, pos);
        const auto index = static_cast<int32_t>(symbols.size());
        symbols.push_back({vocab_.find(word.substr(pos, length)), static_cast<uint32_t>(pos),
                           static_cast<uint32_t>(length), index - 1, index + 1});
        pos += length;
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    std::priority_queue<Bigram> queue;
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Merge* merge = find_merge(symbols[left].id, symbols[right].id);
        if (merge == nullptr) return;
        queue.push({merge->rank, left, right, symbols[left].id, symbols[right].id, merge->result});
    };
    for (size_t i = 1; i < symbols.size(); ++i) {
        try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    }

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.next != bigram.right ||
            left.id != bigram.left_id || right.id != bigram.right_id) {
            continue;  // one side was merged elsewhere since this pair was queued
        }
        left.id = bigram.result;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }

    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
        if (symbols[i].id >= 0) {
            out.push_back(symbols[i].id);
        } else if (vocab_.unk_id >= 0) {
            out.push_back(vocab_.unk_id);  // a byte character the vocabulary lacks
        }
    }
}

std::string BpeTokenizer::decode_piece(int32_t prev, int32_t id) const {
    if (!vocab_.valid(id)) return {};
    const VocabToken& token = vocab_.tokens[static_cast<size_t>(id)];
    switch (token.type) {
        case TokenType::kNormal:
        case TokenType::kByte:
            return unicode_text_to_bytes(token.text);
        case TokenType::kUserDefined:
            return token.text;  // added tokens are stored as plain text
        default:
            return {};  // control, unknown and unused entries print nothing
    }
}

}  // namespace llmopt
