// Static batching with padding: the baseline continuous batching is measured against.
#include "llmopt/engine/static_batch.h"

#include <algorithm>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

constexpr int32_t kBlockSize = 16;
constexpr int32_t kMaxTokensPerForward = 2048;  // bounds activation memory; the work is the same

struct Slot {
    const RequestParams* params;
    Sampler sampler;
    std::vector<int32_t> tokens;      // real sequence: prompt then generated
    std::vector<int32_t> table;       // the row's KV blocks: left padding, then the sequence
    int32_t n_left_pad = 0;           // positions [0, n_left_pad) of the row are padding
    int32_t n_row = 0;                // positions of the row computed so far
    RequestEvent result;
    int32_t prev = -1;
    bool done = false;
};

void finish(Slot& s, size_t i, const std::string& reason, const std::function<void(size_t, const RequestEvent&)>& cb) {
    s.done = true;
    s.result.finished = true;
    s.result.finish_reason = reason;
    s.result.prompt_tokens = static_cast<int32_t>(s.params->prompt.size());
    cb(i, s.result);
}

}  // namespace

StaticBatchStats run_static_batch(Model& model, const Tokenizer& tokenizer, const std::vector<RequestParams>& requests,
                                  int32_t n_ctx, const std::function<void(size_t, const RequestEvent&)>& on_finish) {
    StaticBatchStats stats;
    if (requests.empty()) return stats;
    const int32_t V = model.config().n_vocab;
    size_t longest_prompt = 0;
    int32_t most_new_tokens = 0;
    for (const RequestParams& r : requests) {
        Sampler::validate(r.sampling);
        if (r.prompt.empty()) throw InputError("a request has an empty prompt");
        if (int64_t(r.prompt.size()) + r.max_tokens > n_ctx)
            throw InputError("a request of " + std::to_string(r.prompt.size()) + " prompt tokens and max_tokens " +
                             std::to_string(r.max_tokens) + " exceeds the context of " + std::to_string(n_ctx));
        longest_prompt = std::max(longest_prompt, r.prompt.size());
        most_new_tokens = std::max(most_new_tokens, r.max_tokens);
    }
    const int32_t L = static_cast<int32_t>(longest_prompt);
    // A row is its prompt left-padded to L tokens, then one token per lockstep step until the
    // longest output ends (pad tokens once its own request has ended).
    const int32_t row_len = L + most_new_tokens;
    const int32_t blocks_per_row = (row_len + kBlockSize - 1) / kBlockSize;
    KvCache kv(model.kv_shape(), static_cast<int32_t>(requests.size()) * blocks_per_row, kBlockSize);

    std::vector<Slot> slots;
    slots.reserve(requests.size());
    for (const RequestParams& r : requests) {
        slots.push_back({&r, Sampler(r.sampling, V), r.prompt, {}, L - static_cast<int32_t>(r.prompt.size()), 0, {},
                         r.prompt.back(), false});
        kv.reserve(slots.back().table, row_len);
    }

    // Prefill: each row is its prompt left-padded to L tokens. The real tokens attend over the
    // whole row with the padding masked, as a padded batch with an attention mask does.
    Batch batch;
    std::vector<float> logits;
    std::vector<int32_t> logit_owner;
    auto run = [&] {
        logits.resize(size_t(batch.n_outputs()) * V);
        model.forward(batch, kv, logits.data());
    };
    auto start_batch = [&] {
        batch.clear();
        logit_owner.clear();
        for (Slot& s : slots) {
            batch.block_tables.push_back(s.table);
            batch.masked_prefix.push_back(s.n_left_pad);
        }
    };
    auto sample_into = [&](size_t i, const float* row) {
        Slot& s = slots[i];
        std::vector<float> l(row, row + V);
        const int32_t t = s.sampler.sample(l, s.tokens);
        if (!s.params->ignore_eos && tokenizer.is_end_of_generation(t)) return finish(s, i, "stop", on_finish);
        s.tokens.push_back(t);
        s.result.tokens.push_back(t);
        s.result.text += tokenizer.decode_piece(s.prev, t);
        s.prev = t;
        ++s.result.completion_tokens;
        for (const std::string& stop : s.params->stop)
            if (size_t at = s.result.text.find(stop); !stop.empty() && at != std::string::npos) {
                s.result.text.resize(at);
                return finish(s, i, "stop", on_finish);
            }
        if (s.result.completion_tokens >= s.params->max_tokens) finish(s, i, "length", on_finish);
    };

    start_batch();
    for (size_t i = 0; i < slots.size(); ++i) {
        Slot& s = slots[i];
        for (int32_t p = 0; p < s.n_left_pad; ++p) batch.add(0, s.n_row++, int32_t(i), false);
        for (size_t p = 0; p < s.tokens.size(); ++p) {
            const bool last = p + 1 == s.tokens.size();
            batch.add(s.tokens[p], s.n_row++, int32_t(i), last);
            if (last) logit_owner.push_back(int32_t(i));
        }
        stats.padded_tokens += s.n_left_pad;
        stats.real_tokens += int64_t(s.tokens.size());
        if (batch.size() >= kMaxTokensPerForward || i + 1 == slots.size()) {
            run();
            for (size_t o = 0; o < logit_owner.size(); ++o) sample_into(logit_owner[o], &logits[o * V]);
            start_batch();
        }
    }

    // Lockstep decode: finished rows keep computing pad tokens until the whole batch is done.
    while (std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return !s.done; })) {
        start_batch();
        for (size_t i = 0; i < slots.size(); ++i) {
            Slot& s = slots[i];
            if (s.done) {
                batch.add(0, s.n_row++, int32_t(i), false);
                ++stats.padded_tokens;
            } else {
                batch.add(s.tokens.back(), s.n_row++, int32_t(i), true);
                logit_owner.push_back(int32_t(i));
                ++stats.real_tokens;
            }
        }
        run();
        for (size_t o = 0; o < logit_owner.size(); ++o) sample_into(logit_owner[o], &logits[o * V]);
    }
    return stats;
}

}  // namespace llmopt
