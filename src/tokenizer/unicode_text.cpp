// UTF-8 helpers, GPT-2's byte <-> printable-character table and Unicode normalization.
#include "unicode_text.h"

#include <utf8proc.h>

#include <array>
#include <cstdint>
#include <cstdlib>

namespace llmopt {

size_t utf8_char_length(std::string_view text, size_t pos) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const uint8_t lead = byte(pos);
    size_t len = 0;
    uint32_t min_cp = 0;
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) {
        len = 2;
        min_cp = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        len = 3;
        min_cp = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        len = 4;
        min_cp = 0x10000;
    } else {
        return 1;  // continuation byte or 0xF8..0xFF as a lead
    }
    if (pos + len > text.size()) return 1;
    uint32_t cp = lead & (0x7F >> len);
    for (size_t i = 1; i < len; ++i) {
        const uint8_t b = byte(pos + i);
        if ((b & 0xC0) != 0x80) return 1;
        cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
    return len;
}

namespace {

// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Decodes the well-formed sequence of `len` bytes at text[pos].
uint32_t decode_utf8(std::string_view text, size_t pos, size_t len) {
    const uint8_t lead = static_cast<uint8_t>(text[pos]);
    if (len == 1) return lead;
    uint32_t cp = lead & (0x7F >> len);
    for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
    return cp;
}

bool stands_for_itself(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteTable {
    std::array<std::string, 256> to_text;
    std::array<int16_t, 512> from_cp{};  // every table character is below U+0200

    ByteTable() {
        from_cp.fill(-1);
        uint32_t next_extra = 0x100;
        for (unsigned b = 0; b < 256; ++b) {
            const uint32_t cp = stands_for_itself(b) ? b : next_extra++;
            append_utf8(to_text[b], cp);
            from_cp[cp] = static_cast<int16_t>(b);
        }
    }
};

const ByteTable& byte_table() {
    static const ByteTable table;
    return table;
}

const std::string& byte_to_unicode(uint8_t byte) {
    return byte_table().to_text[byte];
}

// The byte a character of the table stands for, or -1 for any other code point.
int unicode_to_byte(uint32_t cp) {
    return cp < byte_table().from_cp.size() ? byte_table().from_cp[cp] : -1;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    for (size_t hit; (hit = text.find(from, pos)) != std::string_view::npos;
         pos = hit + from.size()) {
        out.append(text, pos, hit - pos);
        out += to;
    }
    out.append(text, pos);
    return out;
}

}  // namespace

std::string bytes_to_unicode_text(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += byte_to_unicode(static_cast<uint8_t>(c));
    return out;
}

std::string unicode_text_to_bytes(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const size_t len = utf8_char_length(text, pos);
        // A lone invalid byte is no table character even if its value is one.
        const bool valid = len > 1 || static_cast<uint8_t>(text[pos]) < 0x80;
        const int byte = valid ? unicode_to_byte(decode_utf8(text, pos, len)) : -1;
        if (byte >= 0) {
            out += static_cast<char>(byte);
        } else {
            out.append(text, pos, len);
        }
        pos += len;
    }
    return out;
}

std::string normalize_unicode(std::string_view text, NormalizationForm form) {
    int options = UTF8PROC_STABLE;
    switch (form) {
        case NormalizationForm::kNone:
            return std::string(text);
        case NormalizationForm::kNfc:
            options |= UTF8PROC_COMPOSE;
            break;
        case NormalizationForm::kNfd:
            options |= UTF8PROC_DECOMPOSE;
            break;
        case NormalizationForm::kNfkc:
            options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
            break;
        case NormalizationForm::kNfkd:
            options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
            break;
    }
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                            static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                            static_cast<utf8proc_option_t>(options));
    if (n < 0) return std::string(text);  // invalid UTF-8: leave the bytes as they are
    std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
    return out;
}

std::string escape_spm_spaces(std::string_view text) {
    return replace_all(text, " ", kSpmSpace);
}

std::string unescape_spm_spaces(std::string_view text) {
    return replace_all(text, kSpmSpace, " ");
}

}  // namespace llmopt
