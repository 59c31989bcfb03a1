// Tokenizers against llama.cpp's vocab test vectors, golden ids of stories260K and bad files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llmopt/format/gguf.h"
#include "llmopt/tokenizer/tokenizer.h"
#include "llmopt/util/error.h"
#include "test_support.h"
// Private headers: the preset table is checked directly, names without test vectors included.
#include "../src/tokenizer/bpe_presets.h"
#include "../src/tokenizer/pre_tokenizer.h"

namespace llmopt {
namespace {

using test::parse_ids;
using test::read_file;
using test::scratch_path;
using test::shared_path;

const std::string kVocabDir = "testdata/tokenizer/llama.cpp-vocab/";

// Loads each tokenizer once per process: the Llama 3 and Qwen3 tokenizer.json are 9-11 MB.
const Tokenizer& cached_tokenizer(const std::string& relative_path) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto& slot = cache[relative_path];
    if (!slot) slot = Tokenizer::load(shared_path(relative_path));
    return *slot;
}

struct VocabCases {
    std::vector<std::string> texts;
    std::vector<std::vector<int32_t>> ids;
};

// .inp: cases each followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per case.
VocabCases read_cases(const std::string& name) {
    const std::string separator = "\n__ggml_vocab_test__\n";
    const std::string inp = read_file(shared_path(kVocabDir + "ggml-vocab-" + name + ".gguf.inp"));
    const std::string out = read_file(shared_path(kVocabDir + "ggml-vocab-" + name + ".gguf.out"));
    VocabCases cases;
    for (size_t pos = 0; pos < inp.size();) {
        size_t end = inp.find(separator, pos);
        if (end == std::string::npos) end = inp.size();
        cases.texts.push_back(inp.substr(pos, end - pos));
        pos = end + separator.size();
    }
    for (size_t pos = 0; pos < out.size();) {
        size_t end = out.find('\n', pos);
        if (end == std::string::npos) end = out.size();
        cases.ids.push_back(parse_ids(out.substr(pos, end - pos)));
        pos = end + 1;
    }
    return cases;
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

struct VocabTest {
    std::string name;       // llama.cpp's vocab name (file ggml-vocab-<name>.gguf.inp/.out)
    std::string tokenizer;  // file under shared/ to load
};

void PrintTo(const VocabTest& t, std::ostream* os) {
    *os << t.name;
}

class LlamaCppVocab : public testing::TestWithParam<VocabTest> {};

// Every case of llama.cpp's test-tokenizer-0 (no BOS, special tokens not parsed) gives the same
// ids. Not covered: bert-bge (WordPiece, not implemented), and command-r, gemma-4 and qwen35,
// whose vocab files are not in shared/ (too large) and have no tokenizer.json there either.
TEST_P(LlamaCppVocab, MatchesLlamaCppIds) {
    const VocabTest& param = GetParam();
    const Tokenizer& tok = cached_tokenizer(param.tokenizer);
    const VocabCases cases = read_cases(param.name);
    ASSERT_EQ(cases.texts.size(), cases.ids.size());
    ASSERT_GT(cases.texts.size(), 40u);
    int failures = 0;
    for (size_t i = 0; i < cases.texts.size(); ++i) {
        const std::vector<int32_t> got = tok.encode(cases.texts[i], false, false);
        if (got != cases.ids[i]) {
            ++failures;
            ADD_FAILURE() << "case " << i << " text '" << cases.texts[i] << "'\n  want "
                          << ids_to_string(cases.ids[i]) << "\n  got  " << ids_to_string(got);
        }
    }
    EXPECT_EQ(failures, 0);
}

TEST_P(LlamaCppVocab, DecodeRoundTrips) {
    // Every case of every vocabulary here is lossless (no normalization changes them).
    const Tokenizer& tok = cached_tokenizer(GetParam().tokenizer);
    for (const std::string& text : read_cases(GetParam().name).texts) {
        // With BOS the SentencePiece dummy prefix is removed again by decode.
        EXPECT_EQ(tok.decode(tok.encode(text, true, false)), text);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Vocabs, LlamaCppVocab,
    testing::Values(VocabTest{"llama-spm", kVocabDir + "ggml-vocab-llama-spm.gguf"},
                    VocabTest{"phi-3", kVocabDir + "ggml-vocab-phi-3.gguf"},
                    VocabTest{"gpt-2", kVocabDir + "ggml-vocab-gpt-2.gguf"},
                    VocabTest{"mpt", kVocabDir + "ggml-vocab-mpt.gguf"},
                    VocabTest{"falcon", kVocabDir + "ggml-vocab-falcon.gguf"},
                    VocabTest{"starcoder", kVocabDir + "ggml-vocab-starcoder.gguf"},
                    VocabTest{"refact", kVocabDir + "ggml-vocab-refact.gguf"},
                    VocabTest{"deepseek-coder", kVocabDir + "ggml-vocab-deepseek-coder.gguf"},
                    VocabTest{"deepseek-llm", kVocabDir + "ggml-vocab-deepseek-llm.gguf"},
                    VocabTest{"llama-bpe", "testdata/tokenizer/hf-llama3/tokenizer.json"},
                    VocabTest{"qwen2", "testdata/tokenizer/hf-qwen3/tokenizer.json"}),
    [](const testing::TestParamInfo<VocabTest>& info) {
        std::string name = info.param.name;
        for (char& c : name) {
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        }
        return name;
    });

// Llama 2's vocabulary (from its GGUF) written as a Hugging Face tokenizer.json the way
// transformers converts SentencePiece BPE models: the merges are every split of a piece into
// two pieces, ordered by the score of the merged piece.
std::string write_llama2_tokenizer_json() {
    const GgufFile gguf(shared_path(kVocabDir + "ggml-vocab-llama-spm.gguf"));
    const std::vector<std::string>& tokens = *gguf.get_strings("tokenizer.ggml.tokens");
    const std::vector<double>& scores = *gguf.get_numbers("tokenizer.ggml.scores");
    const std::vector<double>& types = *gguf.get_numbers("tokenizer.ggml.token_type");
    nlohmann::json vocab = nlohmann::json::object();
    for (size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;

    struct Merge {
        double score;
        std::string left, right;
    };
    std::vector<Merge> merges;
    for (size_t id = 0; id < tokens.size(); ++id) {
        const std::string& text = tokens[id];
        if (types[id] != 1) continue;
        for (size_t cut = 1; cut < text.size(); ++cut) {
            if ((static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) continue;  // inside a char
            std::string left = text.substr(0, cut), right = text.substr(cut);
            if (vocab.contains(left) && vocab.contains(right)) {
                merges.push_back({scores[id], std::move(left), std::move(right)});
            }
        }
    }
    std::stable_sort(merges.begin(), merges.end(),
                     [](const Merge& a, const Merge& b) { return a.score > b.score; });
    nlohmann::json merge_list = nlohmann::json::array();
    for (const Merge& m : merges) merge_list.push_back(m.left + " " + m.right);

    nlohmann::json added = nlohmann::json::array();
    for (int id : {0, 1, 2})
        added.push_back({{"id", id}, {"content", tokens[id]}, {"special", true}});
    const nlohmann::json root = {
        {"added_tokens", added},
        {"normalizer",
         {{"type", "Sequence"},
          {"normalizers",
           {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
            {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
        {"pre_tokenizer", nullptr},
        {"model",
         {{"type", "BPE"},
          {"unk_token", "<unk>"},
          {"byte_fallback", true},
          {"vocab", vocab},
          {"merges", merge_list}}}};
    const std::string dir = scratch_path("llama2-hf");
    std::filesystem::create_directories(dir);
    write_file(dir + "/tokenizer.json", root.dump());
    write_file(dir + "/tokenizer_config.json",
               R"({"add_bos_token": true, "bos_token": "<s>", "eos_token": {"content": "</s>"}})");
    return dir + "/tokenizer.json";
}

// The same Llama 2 vocabulary in other formats tokenizes exactly like its GGUF.
class Llama2Formats : public testing::TestWithParam<std::string> {};

TEST_P(Llama2Formats, MatchLlamaSpmVectors) {
    const std::string path =
        GetParam() == "hf" ? write_llama2_tokenizer_json() : shared_path(GetParam());
    const auto tok = Tokenizer::load(path);
    const VocabCases cases = read_cases("llama-spm");
    for (size_t i = 0; i < cases.texts.size(); ++i) {
        EXPECT_EQ(ids_to_string(tok->encode(cases.texts[i], false, false)),
                  ids_to_string(cases.ids[i]))
            << "case " << i << " '" << cases.texts[i] << "'";
        EXPECT_EQ(tok->decode(tok->encode(cases.texts[i], true, false)), cases.texts[i]);
    }
    EXPECT_EQ(tok->vocab_size(), 32000);
    EXPECT_EQ(tok->bos_id(), 1);
    EXPECT_EQ(tok->eos_id(), 2);
    EXPECT_TRUE(tok->add_bos_by_default());
}

INSTANTIATE_TEST_SUITE_P(Formats, Llama2Formats,
                         testing::Values("hf", "testdata/tokenizer/llama2c-llama2/tokenizer.bin",
                                         "models/llama-2-tiny-random.gguf"),
                         [](const testing::TestParamInfo<std::string>& info) {
                             return std::string(info.index == 0   ? "HfJson"
                                                : info.index == 1 ? "Llama2c"
                                                                  : "Gguf");
                         });

// shared/'s hf-llama2 tokenizer.json holds Mistral 7B's 32000 pieces (▁Hello = 22557), a
// SentencePiece vocabulary converted to BPE merges with byte fallback.
TEST(Tokenizer, SentencePieceStyleTokenizerJson) {
    const auto tok =
        Tokenizer::from_hf_json(shared_path("testdata/tokenizer/hf-llama2/tokenizer.json"));
    EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{1, 22557, 1526}));
    EXPECT_EQ(tok->decode(tok->encode("Hello world", true, false)), "Hello world");
    EXPECT_EQ(tok->decode_piece(1, 22557), "Hello");
    EXPECT_EQ(tok->decode_piece(22557, 1526), " world");
    const std::string odd = "tab\there  two spaces, bytes \xE2\x9C\x85 \xF0\x9F\xA6\x99";
    EXPECT_EQ(tok->decode(tok->encode(odd, true, false)), odd);
}

// stories260K: the GGUF and llama2.c's tok512.bin are the same SentencePiece vocabulary.
class Stories260K : public testing::TestWithParam<std::string> {};

TEST_P(Stories260K, EncodesPromptLikeLlamaCpp) {
    const Tokenizer& tok = cached_tokenizer(GetParam());
    EXPECT_EQ(tok.encode("Once upon a time", true, false),
              (std::vector<int32_t>{1, 403, 407, 261, 378}));
    // llama.cpp's tokenization of the logits-test prompt (tokens.txt, "ids:" line).
    EXPECT_EQ(tok.encode("Once upon a time, there was a little girl named Lily.", true, false),
              (std::vector<int32_t>{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                    395, 317, 426}));
    const std::string tokens_txt = read_file(shared_path("testdata/llamacpp-quant/tokens.txt"));
    EXPECT_NE(tokens_txt.find("ids: 1 403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"),
              std::string::npos);
    EXPECT_EQ(tok.vocab_size(), 512);
    EXPECT_TRUE(tok.add_bos_by_default());
    EXPECT_TRUE(tok.is_end_of_generation(2));
}

TEST_P(Stories260K, DecodesPiecesLikeLlama2c) {
    const Tokenizer& tok = cached_tokenizer(GetParam());
    // The dummy-prefix space of the first word after BOS is dropped; BOS itself prints nothing.
    EXPECT_EQ(tok.decode_piece(-1, 1), "");
    EXPECT_EQ(tok.decode_piece(1, 403), "Once");
    EXPECT_EQ(tok.decode_piece(403, 407), " upon");
    EXPECT_EQ(tok.decode_piece(-1, 13), "\n");  // <0x0A>
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    EXPECT_EQ(tok.decode(prompt), "Once upon a time");

    // llama2.c's 200 greedy steps from BOS, printed piece by piece.
    const std::string dir = "testdata/stories260K/";
    const std::vector<int32_t> ids =
        parse_ids(read_file(shared_path(dir + "stories260K.expected-greedy-n200.token-ids.txt")));
    ASSERT_EQ(ids.size(), 201u);
    std::string text;
    for (size_t i = 1; i < ids.size(); ++i) text += tok.decode_piece(ids[i - 1], ids[i]);
    EXPECT_EQ(text, read_file(shared_path(dir + "stories260K.expected-greedy-n200.txt")));
    EXPECT_EQ(tok.decode(ids), text);
}

INSTANTIATE_TEST_SUITE_P(Formats, Stories260K,
                         testing::Values("models/stories260K.gguf", "models/tok512.bin"),
                         [](const testing::TestParamInfo<std::string>& info) {
                             return std::string(info.index == 0 ? "Gguf" : "Llama2c");
                         });

TEST(Tokenizer, SpecialTokensOnlyWhenAsked) {
    const Tokenizer& tok = cached_tokenizer("testdata/tokenizer/hf-llama3/tokenizer.json");
    EXPECT_EQ(tok.bos_id(), 128000);
    EXPECT_TRUE(tok.add_bos_by_default());
    const std::string text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    const std::vector<int32_t> parsed = tok.encode(text, true, true);
    EXPECT_EQ(parsed, (std::vector<int32_t>{128000, 128006, 882, 128007, 271, 13347, 128009}));
    const std::vector<int32_t> plain = tok.encode(text, false, false);
    for (int32_t id : plain) EXPECT_LT(id, 128000) << "special token from plain text";
    EXPECT_EQ(tok.decode(plain), text);
    EXPECT_EQ(tok.decode(parsed), text);  // the leading BOS is dropped, the others printed
    EXPECT_EQ(tok.decode_piece(13347, 128009), "");
    EXPECT_TRUE(tok.is_end_of_generation(128009));  // <|eot_id|>
    EXPECT_TRUE(tok.is_end_of_generation(128001));  // <|end_of_text|>
    EXPECT_FALSE(tok.is_end_of_generation(13347));
    EXPECT_TRUE(tok.is_special(128006));
    EXPECT_FALSE(tok.is_special(882));
    EXPECT_EQ(tok.token_text(128009), "<|eot_id|>");
}

TEST(Tokenizer, SentencePieceSpecialTokens) {
    const Tokenizer& tok = cached_tokenizer(kVocabDir + "ggml-vocab-llama-spm.gguf");
    const std::vector<int32_t> parsed = tok.encode("Hi</s>", true, true);
    ASSERT_GE(parsed.size(), 3u);
    EXPECT_EQ(parsed.front(), 1);
    EXPECT_EQ(parsed.back(), 2);
    const std::vector<int32_t> plain = tok.encode("Hi</s>", true, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
    // Text after a special token gets the dummy prefix again, as after BOS.
    EXPECT_EQ(tok.encode("</s>Hi", false, true),
              (std::vector<int32_t>{2, tok.encode("Hi", false, false)[0]}));
    EXPECT_EQ(tok.decode(parsed), "Hi</s>");
    EXPECT_EQ(tok.decode_piece(parsed[parsed.size() - 2], 2), "");
}

TEST(Tokenizer, QwenChatTokens) {
    const Tokenizer& tok = cached_tokenizer("testdata/tokenizer/hf-qwen3/tokenizer.json");
    EXPECT_EQ(tok.bos_id(), -1);
    EXPECT_FALSE(tok.add_bos_by_default());
    const std::vector<int32_t> ids = tok.encode("<|im_start|>user\nHi<|im_end|>", true, true);
    ASSERT_EQ(ids.size(), 5u);
    EXPECT_EQ(ids.front(), 151644);
    EXPECT_EQ(ids.back(), 151645);
    EXPECT_TRUE(tok.is_end_of_generation(151645));
    EXPECT_TRUE(tok.is_end_of_generation(tok.eos_id()));
    // <think> is a non-special added token: always one token, printed as its text.
    const std::vector<int32_t> think = tok.encode("<think>", false, false);
    ASSERT_EQ(think.size(), 1u);
    EXPECT_EQ(think[0], 151667);
    EXPECT_EQ(tok.decode_piece(-1, 151667), "<think>");
}

TEST(Tokenizer, InvalidUtf8IsKeptAsBytes) {
    const std::string text = "a\xff\xfe b\xc3 \xe2\x82 \xf0\x9f\x98 z\x80";
    for (const std::string& path :
         {kVocabDir + "ggml-vocab-llama-spm.gguf", kVocabDir + "ggml-vocab-gpt-2.gguf",
          std::string("testdata/tokenizer/hf-qwen3/tokenizer.json"),
          std::string("testdata/tokenizer/hf-llama3/tokenizer.json")}) {
        const Tokenizer& tok = cached_tokenizer(path);
        EXPECT_EQ(tok.decode(tok.encode(text, true, true)), text) << path;
    }
}

TEST(Tokenizer, EveryPresetCompilesAndKeepsEveryByte) {
    const std::string text =
        "Hello World's 12345678 \xC3\x84pfelNEW \xE4\xBD\xA0\xE5\xA5\xBD  \n\n\t x\xFF";
    for (const char* name :
         {"default", "llama-bpe", "dbrx", "qwen2", "deepseek-llm", "deepseek-coder", "deepseek-v3",
          "falcon", "starcoder", "gpt-2", "poro-chat", "viking", "tekken", "gpt-4o", "chameleon",
          "superbpe", "bailingmoe", "seed-coder", "no-such-name"}) {
        const PreTokenizer pre_tokenizer(bpe_preset(name).patterns);
        std::string joined;
        for (std::string_view piece : pre_tokenizer.split(text)) {
            EXPECT_FALSE(piece.empty()) << name;
            joined += piece;
        }
        EXPECT_EQ(joined, text) << name;
    }
    EXPECT_THROW(bpe_preset("kimi-k2"), FormatError);
    const std::vector<std::string> llama3 = {"Hello",
                                             " World",
                                             "'s",
                                             " ",
                                             "123",
                                             "456",
                                             "78",
                                             " \xC3\x84pfelNEW",
                                             " \xE4\xBD\xA0\xE5\xA5\xBD",
                                             "  \n\n",
                                             "\t",
                                             " x",
                                             "\xFF"};
    std::vector<std::string> pieces;
    for (std::string_view piece : PreTokenizer(bpe_preset("llama-bpe").patterns).split(text)) {
        pieces.emplace_back(piece);
    }
    EXPECT_EQ(pieces, llama3);
}

TEST(Tokenizer, LoadSniffsTheFormat) {
    EXPECT_EQ(Tokenizer::load(shared_path("models/stories260K.gguf"))->vocab_size(), 512);
    EXPECT_EQ(Tokenizer::load(shared_path("models/tok512.bin"))->vocab_size(), 512);
    EXPECT_EQ(Tokenizer::from_llama2c(shared_path("models/tok512.bin"), 512)->vocab_size(), 512);
    EXPECT_EQ(
        Tokenizer::load(shared_path("testdata/tokenizer/hf-llama2/tokenizer.json"))->vocab_size(),
        32000);
}

TEST(Tokenizer, MalformedJsonThrowsFormatError) {
    const std::string dir = scratch_path("tokenizer_bad_json");
    std::filesystem::create_directories(dir);
    const std::vector<std::string> bad = {
        "{",                                                                 // not JSON
        R"({"model": 5})",                                                   // model is no object
        R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})",  // id is a string
        R"({"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}})",   // negative id
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]},
            "pre_tokenizer": {"type": "ByteLevel"}})",                       // merge is a number
        R"({"model": {"type": "Unigram", "vocab": []}})",                    // unsupported model
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
            "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}}})",  // bad regex
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
            "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"id": "1"}]})",
    };
    for (size_t i = 0; i < bad.size(); ++i) {
        const std::string path = dir + "/tokenizer.json";
        write_file(path, bad[i]);
        EXPECT_THROW(Tokenizer::from_hf_json(path), FormatError) << bad[i];
        EXPECT_THROW(Tokenizer::load(path), FormatError) << bad[i];
    }
    // A good file beside a tokenizer_config.json with a wrong type.
    write_file(dir + "/tokenizer.json",
               R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
                   "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})");
    write_file(dir + "/tokenizer_config.json", R"({"add_bos_token": "yes"})");
    EXPECT_THROW(Tokenizer::from_hf_json(dir + "/tokenizer.json"), FormatError);
    write_file(dir + "/tokenizer_config.json", R"({"add_bos_token": false})");
    const auto tok = Tokenizer::from_hf_json(dir + "/tokenizer.json");
    EXPECT_EQ(tok->encode("abba", false, false), (std::vector<int32_t>{2, 1, 0}));
}

TEST(Tokenizer, TruncatedLlama2cThrowsFormatError) {
    const std::string bytes = read_file(shared_path("models/tok512.bin"));
    const std::string path = scratch_path("tok512-truncated.bin");
    for (size_t size :
         {size_t{0}, size_t{2}, size_t{4}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
        write_file(path, bytes.substr(0, size));
        EXPECT_THROW(Tokenizer::from_llama2c(path, 512), FormatError) << size;
        EXPECT_THROW(Tokenizer::load(path), FormatError) << size;
    }
    write_file(path, bytes);
    EXPECT_THROW(Tokenizer::from_llama2c(path, 513), FormatError);
    EXPECT_THROW(Tokenizer::from_llama2c(scratch_path("no-such-file.bin"), 512), FormatError);
}

TEST(Tokenizer, BadGgufTokenizerThrowsFormatError) {
    const std::string path = scratch_path("tokenizer-bad.gguf");
    auto write = [&](auto&& fill) {
        GgufWriter writer;
        fill(writer);
        writer.write(path);
    };
    write([](GgufWriter& w) { w.set_strings("tokenizer.ggml.tokens", {"a", "b"}); });
    EXPECT_THROW(Tokenizer::from_gguf(GgufFile(path)), FormatError);  // no model key
    write([](GgufWriter& w) {
        w.set_string("tokenizer.ggml.model", "t5");
        w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
    });
    EXPECT_THROW(Tokenizer::from_gguf(GgufFile(path)), FormatError);  // unsupported model
    write([](GgufWriter& w) {
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
    });
    EXPECT_THROW(Tokenizer::from_gguf(GgufFile(path)), FormatError);  // no merges
    write([](GgufWriter& w) {
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
        w.set_f32s("tokenizer.ggml.scores", {0.0f});
    });
    EXPECT_THROW(Tokenizer::from_gguf(GgufFile(path)), FormatError);  // scores count
    write([](GgufWriter& w) {
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_u32("tokenizer.ggml.tokens", 3);
    });
    EXPECT_THROW(Tokenizer::load(path), FormatError);  // tokens is no array
}

}  // namespace
}  // namespace llmopt
