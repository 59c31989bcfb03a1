// Regex pre-tokenization for byte-level BPE: the text is cut into words before merging.
#include "pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>

#include "llmopt/util/error.h"
#include "unicode_text.h"

namespace llmopt {

struct PreTokenizer::Regex {
    pcre2_code* code = nullptr;
    ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
    // UCP: \s, \d and friends follow Unicode, as in the Rust/Python regex engines the patterns
    // were written for. MATCH_INVALID_UTF: invalid bytes never match and never abort a match;
    // they end up in the text between matches. DOLLAR_ENDONLY: '$' is the end of the piece.
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    for (const std::string& pattern : patterns) {
        int error = 0;
        PCRE2_SIZE error_offset = 0;
        auto regex = std::make_unique<Regex>();
        regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                    options, &error, &error_offset, nullptr);
        if (regex->code == nullptr) {
            std::array<PCRE2_UCHAR, 256> message{};
            pcre2_get_error_message(error, message.data(), message.size());
            throw FormatError("pre-tokenizer regex does not compile at offset " +
                              std::to_string(error_offset) + " (" +
                              reinterpret_cast<const char*>(message.data()) + "): " + pattern);
        }
        pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
        regexes_.push_back(std::move(regex));
    }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

namespace {

// Cuts `piece` into the matches of `code` and the gaps between them, appending to `out`.
void split_piece(const pcre2_code* code, pcre2_match_data* match, std::string_view piece,
                 std::vector<std::string_view>& out) {
    const auto subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    size_t last = 0;   // end of what has been emitted
    size_t start = 0;  // where the next search starts
    while (start <= piece.size()) {
        int rc = pcre2_match(code, subject, piece.size(), start, 0, match, nullptr);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            // JIT stack exhausted on a pathological input: retry with the interpreter.
            rc = pcre2_match(code, subject, piece.size(), start, PCRE2_NO_JIT, match, nullptr);
        }
        if (rc < 0) break;  // no further match (or a resource limit): the rest is one gap
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
        const size_t begin = ovector[0];
        const size_t end = ovector[1];
        if (begin > last) out.push_back(piece.substr(last, begin - last));
        if (end > begin) {
            out.push_back(piece.substr(begin, end - begin));
            last = start = end;
            continue;
        }
        // An empty match (a lookahead) only marks a cut; step over one character.
        last = begin;
        if (begin >= piece.size()) break;
        start = begin + utf8_char_length(piece, begin);
    }
    if (last < piece.size()) out.push_back(piece.substr(last));
}

}  // namespace

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    if (text.empty()) return pieces;
    pieces.push_back(text);
    std::vector<std::string_view> next;
    for (const auto& regex : regexes_) {
        pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex->code, nullptr);
        if (match == nullptr) throw std::bad_alloc();
        next.clear();
        for (std::string_view piece : pieces) split_piece(regex->code, match, piece, next);
        pcre2_match_data_free(match);
        pieces.swap(next);
    }
    return pieces;
}

}  // namespace llmopt
