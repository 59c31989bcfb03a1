// Tokenizer::from_gguf: builds a tokenizer from a GGUF file's tokenizer.ggml.* keys.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include "bpe_presets.h"
#include "bpe_tokenizer.h"
#include "llmopt/format/gguf.h"
#include "llmopt/tokenizer/tokenizer.h"
#include "llmopt/util/error.h"
#include "spm_tokenizer.h"

namespace llmopt {

namespace {

TokenType token_type_from(double value) {
    if (value >= 0 && value <= 6 && value == static_cast<int>(value)) {
        return static_cast<TokenType>(static_cast<int>(value));
    }
    return TokenType::kUndefined;
}

// Reads an id key; absent keys and ids outside the vocabulary keep the default.
void read_id(const GgufFile& file, std::string_view key, const Vocab& vocab, int32_t& id) {
    const std::optional<int64_t> value = file.get_int(key);
    if (value && *value >= 0 && *value < vocab.size()) id = static_cast<int32_t>(*value);
}

Vocab read_vocab(const GgufFile& file) {
    const std::string where = file.name() + ": ";
    const std::vector<std::string>* texts = file.get_strings("tokenizer.ggml.tokens");
    if (texts == nullptr || texts->empty()) throw FormatError(where + "no tokenizer.ggml.tokens");
    const std::vector<double>* scores = file.get_numbers("tokenizer.ggml.scores");
    const std::vector<double>* types = file.get_numbers("tokenizer.ggml.token_type");
    if (scores != nullptr && scores->size() != texts->size()) {
        throw FormatError(where + "tokenizer.ggml.scores has " + std::to_string(scores->size()) +
                          " entries for " + std::to_string(texts->size()) + " tokens");
    }
    if (types != nullptr && types->size() != texts->size()) {
        throw FormatError(where + "tokenizer.ggml.token_type has " + std::to_string(types->size()) +
                          " entries for " + std::to_string(texts->size()) + " tokens");
    }
    if (texts->size() > static_cast<size_t>(INT32_MAX))
        throw FormatError(where + "vocab too large");

    Vocab vocab;
    vocab.tokens.resize(texts->size());
    for (size_t i = 0; i < texts->size(); ++i) {
        VocabToken& token = vocab.tokens[i];
        token.text = (*texts)[i];
        // A NaN score would break the merge queue's ordering; such an entry never merges.
        if (scores != nullptr) {
            const double score = (*scores)[i];
            token.score = std::isnan(score) ? -std::numeric_limits<float>::infinity()
                                            : static_cast<float>(score);
        }
        if (types != nullptr) token.type = token_type_from((*types)[i]);
    }
    return vocab;
}

// llama.cpp strips whitespace after Phi-3's special tokens (its tokenizer.json says rstrip).
void set_phi3_attributes(const GgufFile& file, Vocab& vocab) {
    std::string name = file.get_string("general.name").value_or("");
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return;
    for (VocabToken& token : vocab.tokens) {
        if (token.type == TokenType::kControl || token.type == TokenType::kUserDefined ||
            token.type == TokenType::kUnknown || token.text == "</s>") {
            token.rstrip = true;
        }
        if (token.text == "<unk>" || token.text == "<s>" || token.text == "<|endoftext|>") {
            token.rstrip = false;
        }
    }
}

std::vector<std::pair<std::string, std::string>> read_merges(const GgufFile& file) {
    const std::vector<std::string>* merges = file.get_strings("tokenizer.ggml.merges");
    if (merges == nullptr) {
        throw FormatError(file.name() + ": BPE vocab without tokenizer.ggml.merges");
    }
    std::vector<std::pair<std::string, std::string>> pairs;
    pairs.reserve(merges->size());
    for (const std::string& merge : *merges) {
        // The first space after the first character separates the parts ("Ġ t", "  a").
        const size_t space = merge.find(' ', 1);
        if (space == std::string::npos) {
            pairs.emplace_back();  // keeps later ranks in place; matches no pair
            continue;
        }
        pairs.emplace_back(merge.substr(0, space), merge.substr(space + 1));
    }
    return pairs;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
    const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
    if (!model) throw FormatError(file.name() + ": no tokenizer.ggml.model key");

    Vocab vocab = read_vocab(file);
    const bool spm = *model == "llama";
    if (!spm && *model != "gpt2") {
        throw FormatError(file.name() + ": unsupported tokenizer model '" + *model +
                          "' (supported: llama, gpt2)");
    }

    BpePreset preset;
    if (spm) {
        vocab.bos_id = 1;
        vocab.eos_id = 2;
        vocab.unk_id = 0;
        vocab.add_bos = true;
    } else {
        preset = bpe_preset(file.get_string("tokenizer.ggml.pre").value_or("default"));
        vocab.add_bos = preset.add_bos;
    }
    read_id(file, "tokenizer.ggml.bos_token_id", vocab, vocab.bos_id);
    read_id(file, "tokenizer.ggml.eos_token_id", vocab, vocab.eos_id);
    read_id(file, "tokenizer.ggml.unknown_token_id", vocab, vocab.unk_id);
    read_id(file, "tokenizer.ggml.eot_token_id", vocab, vocab.eot_id);
    read_id(file, "tokenizer.ggml.eom_token_id", vocab, vocab.eom_id);
    vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(vocab.add_bos);
    vocab.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    set_phi3_attributes(file, vocab);

    if (spm) {
        const bool add_space_prefix =
            file.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
        return std::make_unique<SpmTokenizer>(std::move(vocab), add_space_prefix);
    }
    BpeOptions options;
    options.ignore_merges = preset.ignore_merges;
    return std::make_unique<BpeTokenizer>(std::move(vocab), read_merges(file),
                                          PreTokenizer(preset.patterns), options);
}

}  // namespace llmopt
