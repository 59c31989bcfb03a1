// Tokenizer::from_hf_json: Hugging Face tokenizer.json (+ tokenizer_config.json) of BPE models.
//
// Two shapes are understood and mapped onto the GGUF structures:
//  * byte-level BPE (GPT-2, Llama 3, Qwen): Split regexes and a ByteLevel pre-tokenizer;
//  * SentencePiece converted to BPE (Llama 2): spaces replaced by U+2581 in the normalizer
//    (or a Metaspace pre-tokenizer) and <0xXX> byte fallback. Merge ranks become piece scores
//    (earlier merge = higher score), which reproduces SentencePiece's order for such files.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "bpe_presets.h"
#include "bpe_tokenizer.h"
#include "llmopt/tokenizer/tokenizer.h"
#include "llmopt/util/error.h"
#include "spm_tokenizer.h"

namespace llmopt {

namespace {

using nlohmann::json;

constexpr int64_t kMaxVocab = 1 << 24;

json read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FormatError(path + ": cannot open");
    return json::parse(in);
}

// What the normalizer and pre-tokenizer sections ask for.
struct Pipeline {
    std::vector<std::string> patterns;
    bool byte_level = false;
    bool add_prefix_space = false;  // ByteLevel's
    bool spaces_to_metaspace = false;
    bool prepend_metaspace = false;
    NormalizationForm normalization = NormalizationForm::kNone;
};

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
    throw FormatError(path + ": unsupported " + what);
}

void read_normalizer(const std::string& path, const json& node, Pipeline& p) {
    if (node.is_null()) return;
    const std::string type = node.at("type").get<std::string>();
    if (type == "Sequence") {
        for (const json& child : node.at("normalizers")) read_normalizer(path, child, p);
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        p.normalization = type == "NFC"    ? NormalizationForm::kNfc
                          : type == "NFD"  ? NormalizationForm::kNfd
                          : type == "NFKC" ? NormalizationForm::kNfkc
                                           : NormalizationForm::kNfkd;
    } else if (type == "Prepend" && node.at("prepend").get<std::string>() == kSpmSpace) {
        p.prepend_metaspace = true;
    } else if (type == "Replace" && node.at("pattern").value("String", std::string()) == " " &&
               node.at("content").get<std::string>() == kSpmSpace) {
        p.spaces_to_metaspace = true;
    } else {
        unsupported(path, "normalizer " + node.dump());
    }
}

// A literal string as a PCRE2 pattern.
std::string escape_regex(const std::string& literal) {
    std::string out;
    for (char c : literal) {
        if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

void read_pre_tokenizer(const std::string& path, const json& node, Pipeline& p) {
    if (node.is_null()) return;
    const std::string type = node.at("type").get<std::string>();
    if (type == "Sequence") {
        for (const json& child : node.at("pretokenizers")) read_pre_tokenizer(path, child, p);
    } else if (type == "Split") {
        if (node.value("behavior", std::string("Isolated")) != "Isolated" ||
            node.value("invert", false)) {
            unsupported(path, "Split pre-tokenizer (only behavior Isolated, invert false)");
        }
        const json& pattern = node.at("pattern");
        p.patterns.push_back(pattern.contains("Regex")
                                 ? pattern.at("Regex").get<std::string>()
                                 : escape_regex(pattern.at("String").get<std::string>()));
    } else if (type == "ByteLevel") {
        p.byte_level = true;
        p.add_prefix_space = node.value("add_prefix_space", false);
        if (node.value("use_regex", true)) p.patterns.push_back(gpt2_pattern());
    } else if (type == "Digits") {
        p.patterns.push_back(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    } else if (type == "Metaspace") {
        // Words are not split at spaces: SentencePiece merges across them, and so does this.
        p.spaces_to_metaspace = true;
        p.prepend_metaspace = node.value("prepend_scheme", std::string("always")) != "never" &&
                              node.value("add_prefix_space", true);
    } else {
        unsupported(path, "pre-tokenizer type " + type);
    }
}

// The leading special token of a TemplateProcessing post-processor (the BOS it adds).
std::optional<std::string> template_bos(const json& node) {
    if (!node.is_object()) return std::nullopt;
    const std::string type = node.value("type", std::string());
    if (type == "Sequence") {
        for (const json& child : node.value("processors", json::array())) {
            if (auto bos = template_bos(child)) return bos;
        }
    } else if (type == "TemplateProcessing") {
        const json single = node.value("single", json::array());
        if (!single.empty() && single[0].contains("SpecialToken")) {
            return single[0].at("SpecialToken").at("id").get<std::string>();
        }
    }
    return std::nullopt;
}

// tokenizer_config.json writes special tokens as a string or as {"content": ...}.
std::optional<std::string> config_token(const json& config, const char* key) {
    if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
    const json& value = config.at(key);
    return value.is_object() ? value.at("content").get<std::string>() : value.get<std::string>();
}

std::optional<bool> config_flag(const json& config, const char* key) {
    if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
    return config.at(key).get<bool>();
}

std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path,
                                                             const json& merges) {
    std::vector<std::pair<std::string, std::string>> pairs;
    pairs.reserve(merges.size());
    for (const json& merge : merges) {
        if (merge.is_array() && merge.size() == 2) {
            pairs.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
            continue;
        }
        const std::string text = merge.get<std::string>();
        const size_t space = text.find(' ', 1);
        if (space == std::string::npos)
            throw FormatError(path + ": merge without a space: " + text);
        pairs.emplace_back(text.substr(0, space), text.substr(space + 1));
    }
    return pairs;
}

bool is_byte_piece(const std::string& text) {
    return text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>';
}

std::optional<std::string> optional_string(const json& node, const char* key) {
    if (!node.contains(key) || node.at(key).is_null()) return std::nullopt;
    return node.at(key).get<std::string>();
}

// The model's vocab plus the added tokens (which may repeat vocab ids); ids nobody names
// become unused "[PAD<id>]" entries, as llama.cpp's converter writes them.
Vocab read_entries(const std::string& path, const json& root, bool spm_like) {
    const json& model = root.at("model");
    std::vector<std::pair<std::string, int64_t>> entries;
    for (const auto& [text, id] : model.at("vocab").items()) {
        if (!id.is_number_integer()) {
            throw FormatError(path + ": vocab id of '" + text + "' is not an integer");
        }
        entries.emplace_back(text, id.get<int64_t>());
    }
    const json added = root.value("added_tokens", json::array());
    for (const json& token : added) {
        entries.emplace_back(token.at("content").get<std::string>(), token.at("id").get<int64_t>());
    }
    int64_t size = 0;
    for (const auto& [text, id] : entries) {
        if (id < 0 || id >= kMaxVocab) {
            throw FormatError(path + ": token '" + text + "' has id " + std::to_string(id));
        }
        size = std::max(size, id + 1);
    }

    Vocab vocab;
    vocab.tokens.resize(static_cast<size_t>(size));
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
        vocab.tokens[i] = {"[PAD" + std::to_string(i) + "]", 0, TokenType::kUnused};
    }
    const std::optional<std::string> unk = optional_string(model, "unk_token");
    const bool byte_fallback = model.value("byte_fallback", false);
    // SentencePiece-style entries get a score only if a merge produces them (see score_merges).
    const float score = spm_like ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (const auto& [text, id] : entries) {
        VocabToken& token = vocab.tokens[static_cast<size_t>(id)];
        token = {text, score, TokenType::kNormal};
        if (unk && text == *unk) token.type = TokenType::kUnknown;
        if (spm_like && byte_fallback && is_byte_piece(text)) token.type = TokenType::kByte;
    }
    for (const json& a : added) {
        VocabToken& token = vocab.tokens[a.at("id").get<size_t>()];
        if (token.type != TokenType::kUnknown) {
            token.type = a.value("special", false) ? TokenType::kControl : TokenType::kUserDefined;
        }
        token.lstrip = a.value("lstrip", false);
        token.rstrip = a.value("rstrip", false);
    }
    return vocab;
}

using IdLookup = std::unordered_map<std::string_view, int32_t>;

int32_t id_of(const IdLookup& ids, const std::optional<std::string>& text) {
    const auto it = text ? ids.find(*text) : ids.end();
    return it == ids.end() ? -1 : it->second;
}

// Earlier merge = higher score: an entry scores -(rank of the first merge producing it).
void score_merges(const std::vector<std::pair<std::string, std::string>>& merges,
                  const IdLookup& ids, Vocab& vocab) {
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const int32_t id = id_of(ids, merges[rank].first + merges[rank].second);
        if (id < 0) continue;
        float& score = vocab.tokens[static_cast<size_t>(id)].score;
        if (std::isinf(score)) score = -static_cast<float>(rank);
    }
}

// BOS / EOS / UNK and the add_bos / add_eos flags from tokenizer_config.json (when present)
// and the post-processor.
void read_special_ids(const std::string& path, const json& root, bool spm_like, const IdLookup& ids,
                      Vocab& vocab) {
    json config = json::object();
    const auto config_path = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
    std::error_code error;
    if (std::filesystem::exists(config_path, error)) config = read_json(config_path.string());

    const json& model = root.at("model");
    const std::optional<std::string> bos = config_token(config, "bos_token");
    const std::optional<std::string> templated_bos =
        template_bos(root.value("post_processor", json()));
    vocab.bos_id = id_of(ids, bos ? bos : templated_bos);
    vocab.eos_id = id_of(ids, config_token(config, "eos_token"));
    vocab.unk_id = id_of(ids, optional_string(model, "unk_token"));
    // Without an explicit flag: BOS when the post-processor adds one, for SentencePiece, and
    // for Llama 3 style vocabularies (those that skip merges for whole-word entries), as
    // llama.cpp's defaults do.
    const bool default_add_bos =
        templated_bos.has_value() || spm_like || model.value("ignore_merges", false);
    vocab.add_bos = config_flag(config, "add_bos_token").value_or(default_add_bos);
    vocab.add_eos = config_flag(config, "add_eos_token").value_or(false);
}

std::unique_ptr<Tokenizer> build(const std::string& path) {
    const json root = read_json(path);
    const json& model = root.at("model");
    if (model.value("type", std::string("BPE")) != "BPE") {
        unsupported(path, "model type " + model.at("type").get<std::string>());
    }

    Pipeline pipeline;
    read_normalizer(path, root.value("normalizer", json()), pipeline);
    read_pre_tokenizer(path, root.value("pre_tokenizer", json()), pipeline);
    const bool spm_like = !pipeline.byte_level && pipeline.spaces_to_metaspace;
    if (!pipeline.byte_level && !spm_like) {
        unsupported(path, "BPE layout (neither ByteLevel nor SentencePiece-style spaces)");
    }

    Vocab vocab = read_entries(path, root, spm_like);
    IdLookup ids;
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
        ids[vocab.tokens[i].text] = static_cast<int32_t>(i);
    }
    const auto merges = read_merges(path, model.value("merges", json::array()));
    if (spm_like) score_merges(merges, ids, vocab);
    read_special_ids(path, root, spm_like, ids, vocab);

    if (spm_like) {
        return std::make_unique<SpmTokenizer>(std::move(vocab), pipeline.prepend_metaspace);
    }
    BpeOptions options;
    options.ignore_merges = model.value("ignore_merges", false);
    options.add_prefix_space = pipeline.add_prefix_space;
    options.normalization = pipeline.normalization;
    return std::make_unique<BpeTokenizer>(std::move(vocab), merges, PreTokenizer(pipeline.patterns),
                                          options);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json(const std::string& path) {
    try {
        return build(path);
    } catch (const json::exception& e) {
        throw FormatError(path + ": malformed tokenizer JSON: " + e.what());
    }
}

}  // namespace llmopt
