// Per-model settings of byte-level BPE named by GGUF's tokenizer.ggml.pre.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace llmopt {

struct BpePreset {
    std::vector<std::string> patterns;  // applied in order (see PreTokenizer)
    bool ignore_merges = false;  // a word that is itself a vocab entry is not merged (Llama 3)
    bool add_bos = false;        // default when the file has no add_bos_token key
};

// The settings llama.cpp uses for a tokenizer.ggml.pre name ("llama-bpe", "qwen2", ...).
// Missing or unknown names get llama.cpp's default list; names whose pre-tokenizer needs
// custom code there (kimi-k2, afmoe) throw FormatError.
BpePreset bpe_preset(std::string_view pre);

// GPT-2's pattern, also used by Hugging Face's ByteLevel pre-tokenizer with use_regex.
std::string gpt2_pattern();

}  // namespace llmopt
