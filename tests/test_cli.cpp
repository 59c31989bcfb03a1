// The llmopt program end to end: what reaches stdout, exit codes, one-line errors on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>

#include "test_support.h"

namespace {

using llmopt::test::shared_path;

struct Result {
    int code = -1;
    std::string out;
    std::string err;
};

// Runs the program with a shell command line (arguments already quoted), capturing both streams.
Result llmopt(const std::string& args, const std::string& stdin_text = "") {
    const std::string err_path = llmopt::test::scratch_path("cli-stderr.txt");
    const std::string in_path = llmopt::test::scratch_path("cli-stdin.txt");
    std::ofstream(in_path) << stdin_text;
    const std::string cmd = std::string(LLMOPT_BINARY) + " " + args + " < " + in_path + " 2> " + err_path;
    Result r;
    FILE* pipe = popen(cmd.c_str(), "r");
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(pipe);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = llmopt::test::read_file(err_path);
    return r;
}

const std::string kModel = "-m " + shared_path("models/stories260K.gguf");

TEST(Cli, RunPrintsOnlyTheContinuation) {
    const Result r = llmopt("run " + kModel + " -p 'Once upon a time' -n 32 --temp 0 -t 1");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw");
}

TEST(Cli, RunIdsAndEmptyPromptStartFromBos) {
    const Result r = llmopt("run " + kModel + " -p '' -n 5 --temp 0 --ids");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "403 407 261 378 432\n");
}

TEST(Cli, Llama2cCheckpointWithItsTokenizer) {
    const Result r = llmopt("run -m " + shared_path("models/stories260K.bin") + " --tokenizer " +
                            shared_path("models/tok512.bin") + " -p '' -n 200 --temp 0");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, llmopt::test::read_file(shared_path("testdata/stories260K/stories260K.expected-greedy-n200.txt")));
}

TEST(Cli, SameSeedSameText) {
    const std::string args = "run " + kModel + " -p 'Once upon a time' -n 40 --temp 1 --seed 7";
    const Result a = llmopt(args), b = llmopt(args), c = llmopt(args + "1");
    EXPECT_EQ(a.out, b.out);
    EXPECT_NE(a.out, c.out);
}

TEST(Cli, TokenizeAndDetokenizeRoundTrip) {
    const Result ids = llmopt("tokenize " + kModel, "Once upon a time");
    EXPECT_EQ(ids.code, 0) << ids.err;
    EXPECT_EQ(ids.out, "1 403 407 261 378\n");
    const Result text = llmopt("detokenize " + kModel, ids.out);
    EXPECT_EQ(text.out, "Once upon a time");
    EXPECT_EQ(llmopt("tokenize --no-bos " + kModel, "Once").out, "403\n");
}

TEST(Cli, InspectReportsTensorsAndParameters) {
    const Result r = llmopt("inspect " + shared_path("models/stories260K.gguf"));
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("blk.0.attn_q.weight"), std::string::npos);
    EXPECT_NE(r.out.find("parameters: 292800"), std::string::npos) << r.out;
}

// Tests at a depth run after that many tokens are in each sequence's cache (llama-bench's -d),
// with the cache type asked for; both show in the names and the JSON.
TEST(Cli, BenchAtDepthWithAnF16Cache) {
    const Result r =
        llmopt("bench " + kModel + " -p 8 -n 4 -b 2 -d 0,16 -r 1 --kv-type f16 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* needle : {"\"pp8\"", "\"tg4x2\"", "\"pp8@d16\"", "\"tg4x2@d16\"",
                               "\"n_depth\": 16", "\"type_k\": \"f16\""})
        EXPECT_NE(r.out.find(needle), std::string::npos) << needle << "\n" << r.out;
    const Result bad = llmopt("bench " + kModel + " -n 4 --kv-type q4_0");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("--kv-type must be f32, f16 or q8_0"), std::string::npos) << bad.err;
}

// Requests about one document: with the prefix cache, the ones admitted after the document's
// blocks were computed take them from the cache, and every text is the same as without it.
TEST(Cli, BatchTakesASharedDocumentFromThePrefixCache) {
    const std::string input = llmopt::test::scratch_path("batch-document.jsonl");
    {
        std::ofstream in(input);
        const std::string document =
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
            "with her friends and her big red ball. One day, she saw a bird in a tree.";
        for (const char* question : {" What did Lily see?", " Who was Lily?", " Where did she play?", " What was red?"})
            in << nlohmann::json{{"prompt", document + question}, {"max_tokens", 12}}.dump() << "\n";
    }
    const auto run = [&](const std::string& flags) {
        const std::string output = llmopt::test::scratch_path("batch-document-out.jsonl");
        std::remove(output.c_str());
        const Result r = llmopt("batch " + kModel + " -t 1 -i " + input + " -o " + output + " --order input --json " + flags);
        EXPECT_EQ(r.code, 0) << r.err;
        std::map<std::string, nlohmann::json> results;
        std::ifstream lines(output);
        for (std::string line; std::getline(lines, line);) {
            const nlohmann::json j = nlohmann::json::parse(line);
            results[j["id"]] = j;
        }
        return std::make_pair(nlohmann::json::parse(r.out), results);
    };
    const auto [cached, with_cache] = run("--batch-size 1");
    const auto [uncached, without_cache] = run("--batch-size 1 --no-prefix-cache");
    ASSERT_EQ(with_cache.size(), 4u);
    ASSERT_EQ(without_cache.size(), 4u);
    EXPECT_EQ(with_cache.at("0")["cached_tokens"], 0);
    for (const char* id : {"1", "2", "3"}) {
        const int64_t hit = with_cache.at(id)["cached_tokens"];
        EXPECT_GE(hit, 32) << id;  // the document's whole blocks
        EXPECT_EQ(hit % 16, 0) << id;
        EXPECT_LT(hit, with_cache.at(id)["prompt_tokens"].get<int64_t>()) << id;
        EXPECT_EQ(without_cache.at(id)["cached_tokens"], 0) << id;
    }
    for (const char* id : {"0", "1", "2", "3"}) EXPECT_EQ(with_cache.at(id)["text"], without_cache.at(id)["text"]) << id;
    EXPECT_GT(cached["cached_tokens"].get<int64_t>(), 0);
    EXPECT_EQ(uncached["cached_tokens"], 0);
}

TEST(Cli, BadInputEndsWithOneLineAndNonZeroExit) {
    struct Case {
        std::string args;
        int code;
        std::string message;
    };
    const std::string truncated = llmopt::test::scratch_path("truncated.gguf");
    {
        const std::string whole = llmopt::test::read_file(shared_path("models/stories260K.gguf"));
        std::ofstream(truncated, std::ios::binary) << whole.substr(0, whole.size() / 2);
    }
    const std::vector<Case> cases = {
        {"run -m /nonexistent.gguf -p hi", 1, "cannot open"},
        {"run -m " + truncated + " -p hi", 1, "past the end of the file"},
        {"run -m " + std::string(LLMOPT_SOURCE_DIR) + "/tests/data/malformed/huge-kv-count.gguf -p hi", 1, "exceeds the file"},
        {"run " + kModel + " -p 'Once upon a time there was' -c 4", 1, "context"},
        {"run " + kModel + " --bogus-flag", 2, "bogus"},
        {"run " + kModel + " --top-p 7", 2, "top-p"},
        {"frobnicate", 2, "unknown command"},
        {"detokenize " + kModel, 1, "not a token id"},
    };
    for (const Case& c : cases) {
        const Result r = llmopt(c.args, c.args.rfind("detokenize", 0) == 0 ? "1 99999" : "");
        EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
        EXPECT_EQ(r.out, "") << c.args;
    }
}

TEST(Cli, EveryCommandHasHelp) {
    for (const char* cmd : {"run", "chat", "tokenize", "detokenize", "inspect", "quantize", "eval", "synth", "bench", "batch"}) {
        const Result r = llmopt(std::string(cmd) + " --help");
        EXPECT_EQ(r.code, 0) << cmd;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
    }
}

// SIGTERM reaches the thread that waits for it (every other thread, the kernels' pool included,
// blocks it): the server drains and exits 0.
TEST(Cli, ServeExitsCleanlyOnSigterm) {
    const std::string log = llmopt::test::scratch_path("serve-sigterm.txt");
    // The server's stdout is not the pipe: a server that hung would keep the pipe open, and
    // this test would wait on it past the 30 s limit.
    const std::string script = std::string(LLMOPT_BINARY) + " serve " + kModel +
                               " -t 2 --port 0 > /dev/null 2> " + log +
                               " & pid=$!; for i in $(seq 100); do grep -q http " + log +
                               " && break; sleep 0.1; done; kill -TERM $pid; wait $pid; echo $?";
    FILE* pipe = popen(("timeout 30 sh -c '" + script + "'").c_str(), "r");
    std::array<char, 256> buf{};
    std::string out;
    for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) out.append(buf.data(), n);
    pclose(pipe);
    EXPECT_EQ(out, "0\n");
    EXPECT_NE(llmopt::test::read_file(log).find("stopped"), std::string::npos) << llmopt::test::read_file(log);
}

TEST(Cli, ChatKeepsTheConversationAndAnswersEachTurn) {
    const Result r = llmopt("chat " + kModel + " --chat-format chatml -n 8 --temp 0", "Hello\nTell me a story\n");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
}

}  // namespace
