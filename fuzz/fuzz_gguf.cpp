// Fuzz target: any byte string given to the GGUF reader either parses or throws FormatError.
#include <cstddef>
#include <cstdint>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        llmopt::GgufFile file(data, size, "fuzz");
        // Touch every tensor's bytes so an offset the reader accepted but got wrong is caught.
        volatile uint8_t sink = 0;
        for (const auto& t : file.tensors())
            if (t.nbytes > 0) sink ^= t.data[0] ^ t.data[t.nbytes - 1];
    } catch (const llmopt::FormatError&) {
    }
    return 0;
}
