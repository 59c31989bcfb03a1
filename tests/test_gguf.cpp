// GGUF reader and writer: real files, a round trip, and hand-made malformed files.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"
#include "test_support.h"

namespace llmopt {
namespace {

using test::shared_path;

TEST(Gguf, ReadsStories260K) {
    GgufFile f(shared_path("models/stories260K.gguf"));
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
    EXPECT_EQ(f.get_int("llama.block_count"), 5);
    EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
    ASSERT_NE(f.get_strings("tokenizer.ggml.tokens"), nullptr);
    EXPECT_EQ(f.get_strings("tokenizer.ggml.tokens")->size(), 512u);
    const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->type, DType::kF32);
    EXPECT_EQ(emb->dims, (std::vector<int64_t>{64, 512}));
    EXPECT_EQ(emb->nbytes, 64u * 512 * 4);
}

TEST(Gguf, VersionOneHasTheSameTensors) {
    GgufFile v3(shared_path("models/stories260K.gguf"));
    GgufFile v1(shared_path("testdata/stories260K/stories260K.gguf-v1.gguf"));
    EXPECT_EQ(v1.version(), 1u);
    ASSERT_EQ(v1.tensors().size(), v3.tensors().size());
    for (const GgufTensorInfo& t : v3.tensors()) {
        const GgufTensorInfo* o = v1.find_tensor(t.name);
        ASSERT_NE(o, nullptr) << t.name;
        EXPECT_EQ(o->dims, t.dims);
        ASSERT_EQ(o->nbytes, t.nbytes);
        EXPECT_EQ(std::memcmp(o->data, t.data, t.nbytes), 0) << t.name;
    }
}

TEST(Gguf, ReadsEveryLlamaCppQuantizedFile) {
    for (const char* t : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k",
                          "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"}) {
        GgufFile f(shared_path(std::string("testdata/llamacpp-quant/tiny-random-") + t + ".gguf"));
        EXPECT_EQ(f.tensors().size(), 2u * 9 + 3) << t;
    }
}

TEST(Gguf, WriterRoundTrips) {
    GgufFile src(shared_path("models/stories260K.gguf"));
    GgufWriter w;
    w.copy_metadata(src);
    w.set_f32("test.value", 1.5f);
    for (const GgufTensorInfo& t : src.tensors()) w.add_tensor(t.name, t.type, t.dims, t.data, t.nbytes);
    const std::string out = test::scratch_path("roundtrip.gguf");
    w.write(out);
    GgufFile back(out);
    EXPECT_EQ(back.get_float("test.value"), 1.5);
    EXPECT_EQ(*back.get_strings("tokenizer.ggml.tokens"), *src.get_strings("tokenizer.ggml.tokens"));
    EXPECT_EQ(*back.get_numbers("tokenizer.ggml.scores"), *src.get_numbers("tokenizer.ggml.scores"));
    ASSERT_EQ(back.tensors().size(), src.tensors().size());
    for (const GgufTensorInfo& t : src.tensors()) {
        const GgufTensorInfo* o = back.find_tensor(t.name);
        ASSERT_NE(o, nullptr);
        EXPECT_EQ(std::memcmp(o->data, t.data, t.nbytes), 0);
    }
}

// Builds small GGUF headers by hand so each malformation is exact.
class Bytes {
public:
    template <typename T>
    Bytes& put(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        data.insert(data.end(), p, p + sizeof v);
        return *this;
    }
    Bytes& str(const std::string& s) {
        put<uint64_t>(s.size());
        data.insert(data.end(), s.begin(), s.end());
        return *this;
    }
    std::vector<uint8_t> data;
};

Bytes header(uint64_t n_tensors, uint64_t n_kv) {
    Bytes b;
    b.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
    return b;
}

// One F32 tensor "w" of shape dims at offset; data section padded to 32 plus `data_bytes`.
Bytes one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data_bytes) {
    Bytes b = header(1, 0);
    b.str("w").put<uint32_t>(uint32_t(dims.size()));
    for (uint64_t d : dims) b.put<uint64_t>(d);
    b.put<uint32_t>(type).put<uint64_t>(offset);
    while (b.data.size() % 32) b.data.push_back(0);
    b.data.resize(b.data.size() + data_bytes);
    return b;
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
    try {
        GgufFile f(bytes.data(), bytes.size(), "case");
    } catch (const FormatError& e) {
        return e.what();
    }
    return "";
}

TEST(GgufMalformed, EachCaseIsRejectedWithItsReason) {
    struct Case {
        const char* what;
        std::vector<uint8_t> bytes;
        const char* expected;
    };
    std::vector<Case> cases;
    cases.push_back({"empty", {}, "bad magic"});
    cases.push_back({"bad magic", Bytes().put<uint32_t>(0x12345678).put<uint32_t>(3).data, "bad magic"});
    cases.push_back({"version 4", Bytes().put<uint32_t>(0x46554747).put<uint32_t>(4).put<uint64_t>(0).put<uint64_t>(0).data, "version"});
    cases.push_back({"big endian", Bytes().put<uint32_t>(0x46554747).put<uint32_t>(0x03000000).data, "big-endian"});
    cases.push_back({"truncated counts", Bytes().put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint32_t>(0).data, "truncated"});
    cases.push_back({"absurd kv count", header(0, ~0ull >> 1).data, "metadata count"});
    cases.push_back({"absurd tensor count", header(1ull << 60, 0).data, "tensor count"});
    cases.push_back({"huge key length", header(0, 1).put<uint64_t>(1ull << 40).put<uint64_t>(0).data, "string length"});
    cases.push_back({"unknown value type", header(0, 1).str("k").put<uint32_t>(99).put<uint32_t>(0).data, "unknown value type"});
    cases.push_back({"huge array", header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(6).put<uint64_t>(1ull << 62).data, "exceeds the file"});
    cases.push_back({"nested array", header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1).data, "array element type"});
    cases.push_back({"bool 7", header(0, 1).str("k").put<uint32_t>(7).put<uint8_t>(7).data, "bool"});
    cases.push_back({"duplicate key", header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(1).data, "duplicate key"});
    cases.push_back({"bad alignment", header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(3).data, "power of two"});
    cases.push_back({"five dims", one_tensor({1, 1, 1, 1, 1}, 0, 0, 4).data, "dimensions"});
    cases.push_back({"zero dim", one_tensor({4, 0}, 0, 0, 64).data, "shape"});
    cases.push_back({"overflowing dims", one_tensor({1ull << 32, 1ull << 32}, 0, 0, 64).data, "shape"});
    cases.push_back({"unknown type", one_tensor({4}, 77, 0, 16).data, "type id"});
    cases.push_back({"row not block multiple", one_tensor({33}, 2, 0, 64).data, "block size"});
    cases.push_back({"misaligned offset", one_tensor({4}, 0, 3, 64).data, "aligned"});
    cases.push_back({"data past end", one_tensor({64}, 0, 0, 100).data, "past the end"});
    cases.push_back({"offset past end", one_tensor({4}, 0, 1ull << 40, 16).data, "past the end"});
    for (const Case& c : cases) {
        const std::string err = parse_error(c.bytes);
        EXPECT_NE(err.find(c.expected), std::string::npos) << c.what << ": got '" << err << "'";
    }
    // A well-formed one-tensor file parses.
    EXPECT_EQ(parse_error(one_tensor({4}, 0, 0, 16).data), "");
}

TEST(GgufMalformed, EveryTruncationOfARealHeaderFailsCleanly) {
    const std::string bytes = test::read_file(shared_path("testdata/llamacpp-quant/tiny-random-q4_0.gguf"));
    GgufFile whole(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "whole");
    // Cut inside the header and inside the data: every prefix must fail with FormatError.
    for (size_t n = 0; n < 40000; n += 97) {
        std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
        EXPECT_NE(parse_error(prefix), "") << "prefix " << n;
    }
}

TEST(GgufMalformed, CommittedCorpusIsRejected) {
    const std::string dir = std::string(LLMOPT_SOURCE_DIR) + "/tests/data/malformed";
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string bytes = test::read_file(entry.path());
        std::vector<uint8_t> v(bytes.begin(), bytes.end());
        EXPECT_NE(parse_error(v), "") << entry.path();
        ++n;
    }
    EXPECT_GT(n, 0);
}

TEST(Gguf, MissingFileNamesThePath) {
    try {
        GgufFile f("/nonexistent/model.gguf");
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
    }
}

}  // namespace
}  // namespace llmopt
