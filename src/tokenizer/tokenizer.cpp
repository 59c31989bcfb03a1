// Tokenizer::load (format sniffing) and Tokenizer::decode.
#include "llmopt/tokenizer/tokenizer.h"

#include <array>
#include <fstream>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"

namespace llmopt {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FormatError(path + ": cannot open");
    std::array<char, 256> head{};
    in.read(head.data(), head.size());
    const std::string_view start(head.data(), static_cast<size_t>(in.gcount()));

    if (start.substr(0, 4) == "GGUF") return from_gguf(GgufFile(path));
    // JSON may start with a UTF-8 byte order mark and whitespace.
    size_t pos = start.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
    while (pos < start.size() &&
           (start[pos] == ' ' || start[pos] == '\t' || start[pos] == '\n' || start[pos] == '\r')) {
        ++pos;
    }
    if (pos < start.size() && start[pos] == '{') return from_hf_json(path);
    return from_llama2c(path, 0);
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
    std::string text;
    size_t first = 0;
    // encode(add_bos) put that BOS there; it is not part of the text.
    if (!ids.empty() && bos_id() >= 0 && ids[0] == bos_id()) first = 1;
    for (size_t i = first; i < ids.size(); ++i) {
        const int32_t prev = i > 0 ? ids[i - 1] : -1;
        text += is_special(ids[i]) ? token_text(ids[i]) : decode_piece(prev, ids[i]);
    }
    return text;
}

}  // namespace llmopt
