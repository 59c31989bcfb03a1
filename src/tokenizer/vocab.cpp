// The vocabulary every tokenizer format is loaded into: lookup, special tokens, end of turn.
#include "vocab.h"

#include <algorithm>
#include <array>

namespace llmopt {

namespace {

// Texts that end a turn in common chat formats. Checkpoints often leave them out of the
// eos/eot keys, so (like llama.cpp) they are recognized by text.
constexpr std::array<std::string_view, 10> kEotTexts = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<｜end▁of▁sentence｜>",  // DeepSeek
    "<end_of_utterance>",
};
constexpr std::array<std::string_view, 12> kEogTexts = {
    "<|eot_id|>",    "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",        "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<EOT>",   "_<EOT>",     "<|end_of_text|>", "<end_of_utterance>",
};

bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

int32_t Vocab::find(std::string_view text) const {
    const auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
}

void Vocab::finalize() {
    ids_.clear();
    ids_.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) ids_[tokens[i].text] = static_cast<int32_t>(i);

    for (int32_t* id : {&bos_id, &eos_id, &unk_id, &eot_id, &eom_id}) {
        if (!valid(*id)) *id = -1;
    }

    // Turn-ending tokens found by text are control tokens whatever the file says, so that
    // plain text spelling them is never turned into them.
    auto mark_control = [&](int32_t id) { tokens[id].type = TokenType::kControl; };
    if (eot_id < 0) {
        for (std::string_view text : kEotTexts) {
            if (const int32_t id = find(text); id >= 0) {
                eot_id = id;
                mark_control(id);
                break;
            }
        }
    }
    if (eom_id < 0) eom_id = find("<|eom_id|>");

    eog_ids_.clear();
    for (std::string_view text : kEogTexts) {
        if (const int32_t id = find(text); id >= 0) {
            eog_ids_.insert(id);
            mark_control(id);
        }
    }
    for (int32_t id : {eos_id, eot_id, eom_id}) {
        if (id >= 0) eog_ids_.insert(id);
    }
    // gpt-oss ("harmony") ends a message with <|end|> but a reply with <|return|> / <|call|>.
    const int32_t end_id = find("<|end|>");
    if (end_id >= 0 && find("<|return|>") >= 0 && find("<|call|>") >= 0) {
        eog_ids_.erase(end_id);
        tokens[end_id].type = TokenType::kUserDefined;
    }

    specials_.clear();
    for (size_t i = 0; i < tokens.size(); ++i) {
        const TokenType t = tokens[i].type;
        if ((t == TokenType::kControl || t == TokenType::kUserDefined ||
             t == TokenType::kUnknown) &&
            !tokens[i].text.empty()) {
            specials_.push_back(static_cast<int32_t>(i));
        }
    }
    std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
        return tokens[a].text.size() > tokens[b].text.size();
    });
}

std::vector<TextFragment> Vocab::split_special(std::string_view text, bool parse_special) const {
    std::vector<TextFragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({-1, text});

    std::vector<TextFragment> next;
    for (int32_t id : specials_) {
        const VocabToken& special = tokens[id];
        if (!parse_special && special.type != TokenType::kUserDefined) continue;
        const std::string_view needle = special.text;

        next.clear();
        bool found = false;
        for (const TextFragment& fragment : fragments) {
            if (fragment.token >= 0) {
                next.push_back(fragment);
                continue;
            }
            const std::string_view raw = fragment.text;
            size_t pos = 0;
            for (size_t hit; (hit = raw.find(needle, pos)) != std::string_view::npos;) {
                found = true;
                std::string_view left = raw.substr(pos, hit - pos);
                if (special.lstrip) {
                    while (!left.empty() && is_ascii_space(left.back())) left.remove_suffix(1);
                }
                if (!left.empty()) next.push_back({-1, left});
                next.push_back({id, needle});
                pos = hit + needle.size();
                if (special.rstrip) {
                    while (pos < raw.size() && is_ascii_space(raw[pos])) ++pos;
                }
            }
            if (pos < raw.size()) next.push_back({-1, raw.substr(pos)});
        }
        if (found) fragments.swap(next);
    }
    return fragments;
}

}  // namespace llmopt
