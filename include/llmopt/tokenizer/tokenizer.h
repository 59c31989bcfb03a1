// Text <-> token ids, exactly as the model's reference tokenizer does it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmopt {

class GgufFile;

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // From a GGUF's tokenizer.ggml.* keys (model "llama" = SentencePiece, "gpt2" = byte-level
    // BPE with the pre-tokenizer named by tokenizer.ggml.pre). Throws FormatError if unsupported.
    static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
    // From a Hugging Face tokenizer.json (+ tokenizer_config.json beside it when present).
    static std::unique_ptr<Tokenizer> from_hf_json(const std::string& path);
    // From llama2.c's tokenizer.bin (e.g. tok512.bin): SentencePiece pieces with scores.
    static std::unique_ptr<Tokenizer> from_llama2c(const std::string& path, int32_t vocab_size);
    // Sniffs the file: GGUF magic, JSON, else llama2.c.
    static std::unique_ptr<Tokenizer> load(const std::string& path);

    // add_bos: prepend BOS (when the vocab has one). parse_special: text such as "<|eot_id|>"
    // becomes the special token instead of being split as plain text.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                        bool parse_special) const = 0;
    // The bytes of one token as it appears in generated text. `prev` is the token before it
    // (-1 if none): SentencePiece drops the leading space of a piece that follows BOS.
    virtual std::string decode_piece(int32_t prev, int32_t id) const = 0;
    // Concatenation of decode_piece over ids (special tokens rendered as their text).
    // A leading BOS is dropped, so decode(encode(text, true, false)) == text for lossless
    // vocabularies; other control tokens appear as their text.
    std::string decode(std::span<const int32_t> ids) const;

    virtual int32_t vocab_size() const = 0;
    virtual int32_t bos_id() const = 0;  // -1 when absent
    virtual int32_t eos_id() const = 0;
    virtual bool add_bos_by_default() const = 0;  // tokenizer.ggml.add_bos_token or model default
    virtual bool is_end_of_generation(int32_t id) const = 0;  // EOS, EOT, <|im_end|> ...
    virtual std::string token_text(int32_t id) const = 0;      // the raw vocabulary entry
    // Control tokens (BOS, EOS, <|im_start|>, ...) and the unknown token: plain text never
    // becomes them unless parse_special, and decode_piece renders them as nothing.
    virtual bool is_special(int32_t id) const { return false; }
};

}  // namespace llmopt
