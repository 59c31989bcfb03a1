// The serving engine on a real model: outputs independent of batch company (continuous
// batching, chunked prefill, preemption, prefix caching), stops, cancellation.
#include <gtest/gtest.h>

#include "llmopt/engine/engine.h"
#include "llmopt/engine/generate.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/engine/static_batch.h"
#include "llmopt/util/error.h"
#include "test_support.h"

namespace llmopt {
namespace {

struct Outcome {
    std::vector<int32_t> tokens;
    std::string text;
    std::string finish_reason;
    int32_t cached = 0;
    bool finished = false;
};

class EngineTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { rt_ = new Runtime(load_runtime(test::shared_path("models/stories260K.gguf"))); }
    static void TearDownTestSuite() { delete rt_; }

    static RequestParams request(const std::string& prompt, int32_t max_tokens, float temperature, uint64_t seed) {
        RequestParams p;
        p.prompt = rt_->tokenizer->encode(prompt, true, false);
        p.max_tokens = max_tokens;
        p.sampling.temperature = temperature;
        p.sampling.seed = seed;
        return p;
    }

    // The same request alone, through the single-sequence path `llmopt run` uses.
    static std::vector<int32_t> alone(const RequestParams& p) {
        Session session(*rt_->model, 512);
        return generate(session, *rt_->tokenizer, p.prompt, {p.max_tokens, p.sampling}, [](int32_t) { return true; }).tokens;
    }

    static std::vector<Outcome> run_all(Engine& engine, const std::vector<RequestParams>& requests) {
        std::vector<Outcome> out(requests.size());
        for (size_t i = 0; i < requests.size(); ++i)
            engine.submit(requests[i], [&out, i](const RequestEvent& e) {
                out[i].tokens.insert(out[i].tokens.end(), e.tokens.begin(), e.tokens.end());
                out[i].text += e.text;
                if (e.finished) {
                    out[i].finished = true;
                    out[i].finish_reason = e.finish_reason;
                    out[i].cached = e.cached_prompt_tokens;
                }
            });
        while (engine.step() || !engine.idle()) {
        }
        return out;
    }

    static std::vector<RequestParams> mixed_requests(int n) {
        const char* prompts[] = {"Once upon a time", "The little dog", "Lily and Tom went to the park. They",
                                 "One day, a big bird", "The sun was hot and the children"};
        std::vector<RequestParams> r;
        for (int i = 0; i < n; ++i)
            r.push_back(request(prompts[i % 5], 8 + (i * 7) % 40, i % 2 ? 0.8f : 0.0f, 1000 + i));
        return r;
    }

    static Runtime* rt_;
};

Runtime* EngineTest::rt_ = nullptr;

TEST_F(EngineTest, ThirtyTwoConcurrentRequestsEqualEachRunAlone) {
    Engine engine(*rt_->model, *rt_->tokenizer, {.n_ctx = 512, .max_batch_tokens = 64, .max_running = 32});
    const auto requests = mixed_requests(32);
    const auto outcomes = run_all(engine, requests);
    for (size_t i = 0; i < requests.size(); ++i) {
        ASSERT_TRUE(outcomes[i].finished);
        EXPECT_EQ(outcomes[i].tokens, alone(requests[i])) << "request " << i;
    }
    EXPECT_EQ(engine.stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, PreemptionUnderAScarceCacheChangesNothing) {
    // 8 blocks of 16 tokens: around step 16 six live sequences need two blocks each, so some
    // are preempted and recomputed.
    Engine engine(*rt_->model, *rt_->tokenizer,
                  {.n_ctx = 512, .max_batch_tokens = 32, .max_running = 8, .kv_blocks = 8, .prefix_caching = false});
    const auto requests = mixed_requests(8);
    const auto outcomes = run_all(engine, requests);
    EXPECT_GT(engine.stats().preemptions, 0u);
    for (size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(outcomes[i].tokens, alone(requests[i])) << "request " << i;
}

TEST_F(EngineTest, PrefixCacheServesARepeatedPromptIdentically) {
    Engine engine(*rt_->model, *rt_->tokenizer, {.n_ctx = 512, .max_batch_tokens = 512, .max_running = 4});
    const std::string doc = "Lily and Tom went to the park. They saw a big tree and a little bird. The bird was sad. ";
    const RequestParams p = request(doc + doc + "Why was the bird sad?", 16, 0.0f, 1);
    const auto first = run_all(engine, {p});
    const auto second = run_all(engine, {p});
    EXPECT_EQ(first[0].cached, 0);
    EXPECT_EQ(second[0].cached, int32_t(p.prompt.size() - 1) / 16 * 16);
    EXPECT_GT(second[0].cached, 0);
    EXPECT_EQ(first[0].tokens, second[0].tokens);
    EXPECT_GT(engine.stats().prefix_hit_tokens, 0u);
}

TEST_F(EngineTest, StopStringEndsTheRequestAndIsWithheld) {
    Engine engine(*rt_->model, *rt_->tokenizer, {.n_ctx = 512});
    RequestParams p = request("Once upon a time", 64, 0.0f, 1);
    // Greedy continues ", there was a little girl named Lily."
    p.stop = {"girl"};
    const auto out = run_all(engine, {p});
    EXPECT_EQ(out[0].finish_reason, "stop");
    EXPECT_EQ(out[0].text, ", there was a little ");
}

TEST_F(EngineTest, MaxTokensEndsWithLength) {
    Engine engine(*rt_->model, *rt_->tokenizer, {.n_ctx = 512});
    const auto out = run_all(engine, {request("Once upon a time", 5, 0.0f, 1)});
    EXPECT_EQ(out[0].finish_reason, "length");
    EXPECT_EQ(out[0].tokens.size(), 5u);
}

TEST_F(EngineTest, CancelFreesBlocksAtOnce) {
    Engine engine(*rt_->model, *rt_->tokenizer, {.n_ctx = 512});
    Outcome o;
    const int64_t id = engine.submit(request("Once upon a time", 200, 0.0f, 1), [&](const RequestEvent& e) {
        if (e.finished) o.finish_reason = e.finish_reason;
    });
    engine.step();
    engine.step();
    EXPECT_GT(engine.stats().kv_blocks_used, 0);
    engine.cancel(id);
    engine.step();
    EXPECT_EQ(o.finish_reason, "cancelled");
    EXPECT_EQ(engine.stats().kv_blocks_used, 0);
    EXPECT_TRUE(engine.idle());
}

// The padded baseline computes pad tokens but masks them: each output equals a lone run.
TEST_F(EngineTest, StaticBatchWithPaddingEqualsEachRunAlone) {
    const auto requests = mixed_requests(6);
    std::vector<std::vector<int32_t>> got(requests.size());
    const StaticBatchStats stats = run_static_batch(*rt_->model, *rt_->tokenizer, requests, 512,
                                                    [&](size_t i, const RequestEvent& e) { got[i] = e.tokens; });
    size_t longest = 0, real = 0;
    int32_t most = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
        EXPECT_EQ(got[i], alone(requests[i])) << "request " << i;
        longest = std::max(longest, requests[i].prompt.size());
        most = std::max<int32_t>(most, int32_t(got[i].size()));
        real += requests[i].prompt.size() + got[i].size() - 1;  // the last sampled token is never fed
    }
    EXPECT_EQ(stats.real_tokens, int64_t(real));
    // Rows are padded to the longest prompt, then run in lockstep until the longest output.
    EXPECT_EQ(stats.real_tokens + stats.padded_tokens, int64_t(requests.size()) * int64_t(longest + most - 1));
}

TEST_F(EngineTest, RequestsThatCanNeverFitAreRejectedWithTheNumbers) {
    Engine engine(*rt_->model, *rt_->tokenizer, {.n_ctx = 64});
    try {
        engine.submit(request("Once upon a time", 60, 0.0f, 1), [](const RequestEvent&) {});
        FAIL();
    } catch (const InputError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("5 tokens"), std::string::npos) << msg;
        EXPECT_NE(msg.find("context of 64"), std::string::npos) << msg;
    }
    RequestParams bad = request("Once upon a time", 4, 0.0f, 1);
    bad.sampling.top_p = 2.0f;
    EXPECT_THROW(engine.submit(bad, [](const RequestEvent&) {}), InputError);
}

}  // namespace
}  // namespace llmopt
