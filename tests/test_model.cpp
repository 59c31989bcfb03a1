// The forward pass: golden generations of real models, llama.cpp's logits, an independent
// reference for llama / qwen2 / MoE, and batch-composition invariance.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <span>

#include "../src/model/attention_heads.h"
#include "llmopt/engine/generate.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/format/gguf.h"
#include "llmopt/kernels/quant.h"
#include "llmopt/model/synth.h"
#include "llmopt/util/error.h"
#include "reference_forward.h"
#include "test_support.h"

namespace llmopt {
namespace {

using test::shared_path;

std::string field(const std::string& text, const std::string& key) {
    const size_t at = text.find("\n" + key + ": ");
    if (at == std::string::npos) return "";
    const size_t start = at + key.size() + 3;
    return text.substr(start, text.find('\n', start) - start);
}

std::vector<int32_t> greedy(Runtime& rt, const std::vector<int32_t>& prompt, int32_t n, std::string* text) {
    Session session(*rt.model, 2048);
    GenerateOptions opt;
    opt.max_tokens = n;
    opt.sampling.temperature = 0;
    int32_t prev = prompt.back();
    const GenerateResult r = generate(session, *rt.tokenizer, prompt, opt, [&](int32_t id) {
        *text += rt.tokenizer->decode_piece(prev, id);
        prev = id;
        return true;
    });
    return r.tokens;
}

TEST(Golden, Stories260KMatchesLlamaCppGreedy) {
    const std::string golden = test::read_file(shared_path("testdata/stories260K/llamacpp-greedy-once-upon-a-time.txt"));
    Runtime rt = load_runtime(shared_path("models/stories260K.gguf"));
    const auto prompt = rt.tokenizer->encode("Once upon a time", true, false);
    EXPECT_EQ(prompt, test::parse_ids(field(golden, "prompt_ids")));
    std::string text;
    EXPECT_EQ(greedy(rt, prompt, 32, &text), test::parse_ids(field(golden, "generated_ids")));
    EXPECT_EQ(text, field(golden, "generated_text"));
}

// llama2.c's own test: 200 greedy steps from BOS, compared byte for byte.
void expect_llama2c_golden(Runtime& rt) {
    const std::string expected = test::read_file(shared_path("testdata/stories260K/stories260K.expected-greedy-n200.txt"));
    const auto ids = test::parse_ids(test::read_file(shared_path("testdata/stories260K/stories260K.expected-greedy-n200.token-ids.txt")));
    std::string text;
    const auto got = greedy(rt, {1}, 200, &text);
    EXPECT_EQ(got, std::vector<int32_t>(ids.begin() + 1, ids.end()));
    EXPECT_EQ(text, expected);
}

TEST(Golden, Llama2cCheckpointMatchesLlama2c) {
    Runtime rt = load_runtime(shared_path("models/stories260K.bin"), shared_path("models/tok512.bin"));
    expect_llama2c_golden(rt);
}

TEST(Golden, GgufV3AndV1MatchLlama2c) {
    for (const char* path : {"models/stories260K.gguf", "testdata/stories260K/stories260K.gguf-v1.gguf"}) {
        Runtime rt = load_runtime(shared_path(path));
        expect_llama2c_golden(rt);
    }
}

std::vector<float> all_logits(Model& model, const std::vector<int32_t>& tokens, int32_t n_batch = 512,
                              DType kv_type = DType::kF32) {
    Session s(model, 256, n_batch, kv_type);
    return s.feed_all_logits(tokens);
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
    return m;
}

const std::vector<int32_t> kPromptIds = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};

TEST(LlamaCppLogits, F32WithF32CacheMatches) {
    Model model = Model::load(shared_path("testdata/llamacpp-quant/tiny-random-f32.gguf"));
    const auto ours = all_logits(model, kPromptIds);
    const auto ref = test::read_f32(shared_path("testdata/llamacpp-quant/tiny-random-f32.gguf.kvf32.logits.f32"));
    ASSERT_EQ(ours.size(), ref.size());
    // llama.cpp's F32 logits sit 1.7e-6 from an exact float64 pass; ours must be as close.
    EXPECT_LT(max_abs_diff(ours, ref), 2e-5);
}

// llama.cpp ran these files with an F16 KV cache; so do we here. Each file must land much
// nearer llama.cpp's logits for that file than the file's own distance to F32 (its quantization
// error): the kernels read the blocks and quantize activations as llama.cpp does. The figures
// are printed so a change in any kernel shows.
TEST(LlamaCppLogits, EveryFileMatchesItsOwnLogitsWithAnF16Cache) {
    const auto f32 = test::read_f32(shared_path("testdata/llamacpp-quant/tiny-random-f32.gguf.logits.f32"));
    for (const char* t : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"}) {
        const std::string path = shared_path(std::string("testdata/llamacpp-quant/tiny-random-") + t + ".gguf");
        Model model = Model::load(path);
        const auto ours = all_logits(model, kPromptIds, 512, DType::kF16);
        const auto ref = test::read_f32(path + ".logits.f32");
        const double to_ref = max_abs_diff(ours, ref), quant_error = max_abs_diff(ref, f32);
        std::printf("%-7s max |ours - llama.cpp| %.6f, llama.cpp's quantization error %.6f, ours %.6f\n", t, to_ref,
                    quant_error, max_abs_diff(ours, f32));
        if (std::string(t) == "f16" || std::string(t) == "bf16") {
            // llama.cpp rounds activations to f16/bf16 for these weights; we keep them in f32,
            // so we must be at least as near the F32 model as llama.cpp is.
            EXPECT_LE(max_abs_diff(ours, f32), quant_error + 2e-4) << t;
        } else {
            // Equal kernels give ~1e-6 (q8_0, q5_k, q6_k); elsewhere float summation order flips
            // a few activation roundings, which the random network amplifies to a few percent.
            EXPECT_LT(to_ref, 0.1 * quant_error + 2e-4) << t;
        }
    }
}

std::string synth(const std::string& name, SynthSpec spec) {
    const std::string path = test::scratch_path(name);
    write_synthetic_model(spec, path);
    return path;
}

void expect_matches_reference(const std::string& path) {
    GgufFile file(path);
    Model model = Model::load(path);
    const std::vector<int32_t> tokens = {1, 7, 300, 42, 42, 511, 5, 9, 100, 3, 250, 17};
    const auto ours = all_logits(model, tokens);
    const auto ref = test::reference_logits(file, tokens);
    double scale = 0, err = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        scale = std::max(scale, std::abs(ref[i]));
        err = std::max(err, std::abs(ref[i] - ours[i]));
    }
    // float32 accumulation over dims of at most a few hundred terms: ~1e-5 relative.
    EXPECT_LT(err, 1e-4 * std::max(1.0, scale)) << path;
}

TEST(Reference, LlamaGqa) {
    expect_matches_reference(synth("ref-llama.gguf", {.n_layers = 2, .dim = 64, .ffn_dim = 96, .n_heads = 8, .n_kv_heads = 2, .stddev = 0.2f, .seed = 1}));
}

TEST(Reference, LlamaMqaTiedOutput) {
    expect_matches_reference(synth("ref-mqa.gguf", {.n_layers = 1, .dim = 32, .ffn_dim = 64, .n_heads = 4, .n_kv_heads = 1, .tied_output = true, .stddev = 0.2f, .seed = 2}));
}

TEST(Reference, Qwen2BiasAndNeoxRope) {
    expect_matches_reference(synth("ref-qwen2.gguf", {.arch = "qwen2", .n_layers = 2, .dim = 64, .ffn_dim = 96, .n_heads = 4, .n_kv_heads = 2, .stddev = 0.2f, .seed = 3}));
}

TEST(Reference, MixtureOfExperts) {
    expect_matches_reference(synth("ref-moe.gguf", {.n_layers = 2, .dim = 64, .ffn_dim = 64, .n_heads = 4, .n_kv_heads = 2, .n_experts = 4, .n_experts_used = 2, .stddev = 0.2f, .seed = 4}));
}

// A token's logits do not depend on how its sequence was chunked, nor on other sequences in the
// batch, nor on the thread count: bit for bit.
TEST(Invariance, ChunkingBatchingAndThreadsGiveIdenticalLogits) {
    Model model = Model::load(shared_path("models/stories260K.gguf"));
    const std::vector<int32_t> a = kPromptIds;
    const auto one_shot = all_logits(model, a);
    EXPECT_EQ(all_logits(model, a, 5), one_shot);
    EXPECT_EQ(all_logits(model, a, 1), one_shot);
    set_threads(1);
    EXPECT_EQ(all_logits(model, a), one_shot);
    set_threads(0);

    // Two sequences of different lengths in one ragged batch.
    const std::vector<int32_t> b = {1, 403, 407, 261, 378};
    const auto b_alone = all_logits(model, b);
    KvCache kv(model.kv_shape(), 8, 16);
    std::vector<int32_t> ta, tb;
    ASSERT_TRUE(kv.reserve(ta, int32_t(a.size())));
    ASSERT_TRUE(kv.reserve(tb, int32_t(b.size())));
    Batch batch;
    batch.block_tables = {ta, tb};
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        if (i < a.size()) batch.add(a[i], int32_t(i), 0, true);
        if (i < b.size()) batch.add(b[i], int32_t(i), 1, true);
    }
    const size_t V = model.config().n_vocab;
    std::vector<float> logits(batch.n_outputs() * V);
    model.forward(batch, kv, logits.data());
    size_t row = 0;
    // The next output row of the batch against the same token's row of a lone run.
    auto next_row_equals = [&](const std::vector<float>& alone, size_t i) {
        const float* got = &logits[row++ * V];
        return std::equal(got, got + V, &alone[i * V]);
    };
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        if (i < a.size()) {
            EXPECT_TRUE(next_row_equals(one_shot, i)) << "a " << i;
        }
        if (i < b.size()) {
            EXPECT_TRUE(next_row_equals(b_alone, i)) << "b " << i;
        }
    }
}

// Matrices regrouped for the matmul (all of these files': rows in eights, rows of 256 and 768)
// give the logits of the files' own layout bit for bit, in prefill and in one-token steps.
TEST(Invariance, RegroupedWeightsGiveIdenticalLogits) {
    if (!kernels::cpu_has_avx2()) GTEST_SKIP() << "no regrouped kernel on this CPU";
    for (const char* type : {"q4_0", "q8_0", "q4_k_m", "q6_k", "f16", "bf16"}) {
        const std::string path = shared_path(std::string("testdata/llamacpp-quant/tiny-random-") + type + ".gguf");
        Model as_stored(load_gguf_weights(std::make_shared<GgufFile>(path)), false);
        Model regrouped = Model::load(path);
        ASSERT_EQ(regrouped.weights().layers[0].w_up.layout, WeightLayout::kRowGroups8) << type;
        EXPECT_EQ(all_logits(regrouped, kPromptIds), all_logits(as_stored, kPromptIds)) << type;
        EXPECT_EQ(all_logits(regrouped, kPromptIds, 1), all_logits(as_stored, kPromptIds, 1)) << type;
    }
}

// F16 and Q8_0 caches: a token's logits do not depend on how the prompt was cut into passes
// (the value sums run over the positions in order whatever the pass).
TEST(Invariance, QuantizedCachesGiveIdenticalLogitsWhateverTheChunks) {
    Model model = Model::load(shared_path("testdata/llamacpp-quant/tiny-random-q4_0.gguf"));
    for (const DType kv_type : {DType::kF16, DType::kQ8_0}) {
        const auto whole = all_logits(model, kPromptIds, 512, kv_type);
        EXPECT_EQ(all_logits(model, kPromptIds, 1, kv_type), whole) << dtype_name(kv_type);
        EXPECT_EQ(all_logits(model, kPromptIds, 5, kv_type), whole) << dtype_name(kv_type);
    }
}

// The AVX2 attention kernels against the scalar reference for each cache type: lengths around
// the 8-position and 16-slot edges, a masked prefix, GQA groups of 1 to 8 heads. The F16
// path rounds probabilities to f16, where a last-bit difference in exp may flip one rounding
// (2^-11 of that probability); F32 and Q8_0 differ only by exp and summation order. A head's
// AVX2 result is the same bits whether it runs alone or in a group.
TEST(Attention, Avx2MatchesTheScalarReferenceForEveryCacheType) {
    if (!kernels::cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
    const int32_t hd = 64, kv_heads = 2, n_max = 100;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (const DType type : {DType::kF32, DType::kF16, DType::kQ8_0}) {
        KvCache kv({1, kv_heads, hd}, 8, 16, type);
        std::vector<int32_t> table;
        ASSERT_TRUE(kv.reserve(table, n_max));
        std::vector<float> row(size_t(kv_heads) * hd);
        for (int32_t p = 0; p < n_max; ++p) {
            for (float& x : row) x = 2 * normal(rng);
            kernels::quantize_row(type, row.data(), kv.key(0, table[p / 16], p % 16), kv_heads * hd);
            for (float& x : row) x = normal(rng);
            kernels::quantize_row(type, row.data(), kv.value(0, table[p / 16], p % 16), kv_heads * hd);
        }
        const double tolerance = type == DType::kF16 ? 2e-3 : 2e-5;
        for (const int32_t n_past : {1, 7, 8, 9, 16, 33, 100}) {
            for (const int32_t n_masked : {0, 5}) {
                if (n_masked >= n_past) continue;
                const int32_t heads = 8;
                std::vector<float> q(size_t(heads) * hd), ref(q.size()), simd(q.size()), alone(hd);
                for (float& x : q) x = normal(rng);
                HeadJob jobs[heads];
                for (int32_t h = 0; h < heads; ++h)
                    jobs[h] = {&q[size_t(h) * hd], &ref[size_t(h) * hd], table, n_past, n_masked, kv.head_offset(1)};
                attend_heads(kv, 0, jobs, heads, 0.125f, false);
                for (int32_t h = 0; h < heads; ++h) jobs[h].out = &simd[size_t(h) * hd];
                attend_heads(kv, 0, jobs, heads, 0.125f, true);
                for (size_t i = 0; i < q.size(); ++i)
                    ASSERT_NEAR(simd[i], ref[i], tolerance) << dtype_name(type) << " n_past " << n_past << " masked " << n_masked;
                HeadJob one = jobs[heads - 1];
                one.out = alone.data();
                attend_heads(kv, 0, &one, 1, 0.125f, true);
                EXPECT_EQ(alone, std::vector<float>(simd.end() - hd, simd.end())) << dtype_name(type);
            }
        }
    }
}

TEST(BadInput, PromptLongerThanContextIsRejected) {
    Runtime rt = load_runtime(shared_path("models/stories260K.gguf"));
    Session session(*rt.model, 8);
    const std::vector<int32_t> prompt(9, 400);
    EXPECT_THROW(generate(session, *rt.tokenizer, prompt, {}, [](int32_t) { return true; }), InputError);
}

TEST(BadInput, UnsupportedArchitectureIsNamed) {
    GgufFile src(shared_path("models/stories260K.gguf"));
    GgufWriter w;
    w.copy_metadata(src);
    w.set_string("general.architecture", "mamba");
    for (const auto& t : src.tensors()) w.add_tensor(t.name, t.type, t.dims, t.data, t.nbytes);
    const std::string path = test::scratch_path("mamba.gguf");
    w.write(path);
    try {
        Model::load(path);
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("unsupported architecture 'mamba'"), std::string::npos);
    }
}

TEST(BadInput, WrongTensorShapeIsNamed) {
    GgufFile src(shared_path("models/stories260K.gguf"));
    GgufWriter w;
    w.copy_metadata(src);
    w.set_u32("llama.feed_forward_length", 100);
    for (const auto& t : src.tensors()) w.add_tensor(t.name, t.type, t.dims, t.data, t.nbytes);
    const std::string path = test::scratch_path("bad-shape.gguf");
    w.write(path);
    EXPECT_THROW(Model::load(path), FormatError);
}

}  // namespace
}  // namespace llmopt
