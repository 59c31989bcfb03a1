// UTF-8 helpers, GPT-2's byte <-> printable-character table and Unicode normalization.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace llmopt {

// Length of the UTF-8 sequence starting at text[pos], or 1 when the bytes there are not a
// well-formed sequence (so callers treat an invalid byte as a character of its own).
size_t utf8_char_length(std::string_view text, size_t pos);

// Byte-level BPE vocabularies spell every byte as a printable character (GPT-2's table):
// printable Latin-1 bytes stand for themselves, the other 68 bytes map to U+0100.. in order.
// This rewrites raw bytes into those characters (the form of byte-level vocab entries).
std::string bytes_to_unicode_text(std::string_view bytes);
// Inverse: characters of the table become their bytes; any other character is kept as UTF-8.
std::string unicode_text_to_bytes(std::string_view text);

enum class NormalizationForm { kNone, kNfc, kNfd, kNfkc, kNfkd };

// Unicode normalization through utf8proc. Text that is not valid UTF-8 is returned unchanged.
std::string normalize_unicode(std::string_view text, NormalizationForm form);

// SentencePiece writes spaces as U+2581 ("▁") inside pieces.
inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";
std::string escape_spm_spaces(std::string_view text);
std::string unescape_spm_spaces(std::string_view text);

}  // namespace llmopt
