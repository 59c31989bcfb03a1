// Fuzz target: any byte string given to the GGUF reader either parses or throws FormatError.
#include <cstddef>
#include <cstdint>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"

// Stored so the reads below cannot be optimized away.
static volatile uint8_t g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        llmopt::GgufFile file(data, size, "fuzz");
        // Touch every tensor's first and last byte: an offset the reader accepted but got wrong
        // shows up as an out-of-bounds read under the address sanitizer.
        uint8_t acc = 0;
        for (const auto& t : file.tensors())
            if (t.nbytes > 0) acc ^= t.data[0] ^ t.data[t.nbytes - 1];
        g_sink = acc;
    } catch (const llmopt::FormatError&) {
    }
    return 0;
}
