// Fuzz target: any byte string encodes without crashing, and SentencePiece / byte-level BPE
// decoding gives back the input bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "llmopt/format/gguf.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace {

std::unique_ptr<llmopt::Tokenizer> load(const char* relative) {
    return llmopt::Tokenizer::from_gguf(llmopt::GgufFile(std::string(LLMOPT_SHARED_DIR) + "/" + relative));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto spm = load("testdata/tokenizer/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
    static const auto bpe = load("testdata/tokenizer/llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto* tok : {spm.get(), bpe.get()}) {
        const auto plain = tok->encode(text, false, false);
        tok->encode(text, true, true);
        for (int32_t id : plain)
            if (id < 0 || id >= tok->vocab_size()) std::abort();
    }
    // Byte-level BPE is lossless on any bytes.
    if (bpe->decode(bpe->encode(text, false, false)) != text) std::abort();
    return 0;
}
