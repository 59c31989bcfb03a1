// Iteration-level scheduler: each step hands out tokens under a budget to running sequences
// (one decode token, or the next prefill chunk) and then admits waiting ones, FCFS, with
// prefix-cache hits (holding back a sequence whose next prompt block a running one is
// computing), preempting the newest sequence when KV blocks run out. It never touches
// tensors: its output is a plain list of chunks the engine turns into a batch.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "llmopt/kv/block_pool.h"

namespace llmopt {

struct SchedulerConfig {
    int32_t max_batch_tokens = 512;  // tokens per step, all sequences together
    int32_t max_running = 16;        // sequences decoding at once (--parallel)
    int32_t block_size = 16;
    bool prefix_caching = true;
};

// What the scheduler knows of a request: its tokens and how many have KV in the cache.
struct SequenceState {
    int64_t id = 0;
    std::vector<int32_t> tokens;  // prompt, then generated tokens
    int32_t n_prompt = 0;
    int32_t n_computed = 0;       // tokens[0, n_computed) have KV in the cache
    std::vector<int32_t> block_table;
    int32_t n_hashed_blocks = 0;  // leading full blocks registered in the prefix cache
    uint64_t last_hash = 0;       // chained hash of those blocks
    int32_t n_prefix_hit_tokens = 0;  // tokens found in the prefix cache at admission
    int32_t n_preemptions = 0;
};

struct ScheduledChunk {
    SequenceState* seq;
    int32_t start;     // first position computed this step (= seq->n_computed)
    int32_t n_tokens;  // tokens computed this step
    bool samples() const { return start + n_tokens == static_cast<int32_t>(seq->tokens.size()); }
};

struct SchedulerOutput {
    std::vector<ScheduledChunk> chunks;
    int32_t n_tokens = 0;
    std::vector<int64_t> preempted;  // ids sent back to the waiting queue this step
};

class Scheduler {
public:
    Scheduler(const SchedulerConfig& config, BlockPool& pool);

    void add(std::unique_ptr<SequenceState> seq);  // joins the back of the waiting queue
    SchedulerOutput schedule();
    // After the batch ran: advances n_computed and registers newly full blocks for reuse.
    void complete(const SchedulerOutput& out);
    // Removes a sequence wherever it is (finished or cancelled) and frees its blocks.
    std::unique_ptr<SequenceState> remove(int64_t id);

    bool has_work() const { return !running_.empty() || !waiting_.empty(); }
    int32_t n_running() const { return static_cast<int32_t>(running_.size()); }
    int32_t n_waiting() const { return static_cast<int32_t>(waiting_.size()); }
    const std::vector<std::unique_ptr<SequenceState>>& running() const { return running_; }
    // Prefix-cache statistics over all admissions: tokens asked for and tokens found.
    int64_t prefix_queries() const { return prefix_queries_; }
    int64_t prefix_hits() const { return prefix_hits_; }

private:
    bool schedule_running(SchedulerOutput& out, int32_t& budget);
    void schedule_waiting(SchedulerOutput& out, int32_t& budget);
    void preempt(size_t running_index, SchedulerOutput& out);
    void admit_cached_prefix(SequenceState& seq);
    bool next_block_in_progress(const SequenceState& seq) const;
    bool grow(SequenceState& seq, int32_t n_tokens);
    void free_blocks(SequenceState& seq);

    SchedulerConfig config_;
    BlockPool& pool_;
    std::vector<std::unique_ptr<SequenceState>> running_;  // in admission order
    std::deque<std::unique_ptr<SequenceState>> waiting_;
    int64_t prefix_queries_ = 0;
    int64_t prefix_hits_ = 0;
};

}  // namespace llmopt
