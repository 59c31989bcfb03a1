// Iteration-level scheduling with chunked prefill, prefix caching and preemption.
#include "llmopt/engine/scheduler.h"

#include <algorithm>
#include <span>

namespace llmopt {

Scheduler::Scheduler(const SchedulerConfig& config, BlockPool& pool) : config_(config), pool_(pool) {}

void Scheduler::add(std::unique_ptr<SequenceState> seq) { waiting_.push_back(std::move(seq)); }

SchedulerOutput Scheduler::schedule() {
    SchedulerOutput out;
    int32_t budget = config_.max_batch_tokens;
    // Admitting new work while running sequences are being preempted would only thrash.
    if (schedule_running(out, budget)) schedule_waiting(out, budget);
    return out;
}

// Running pass: every running sequence gets its next token(s), oldest first. Returns false when
// it had to preempt.
bool Scheduler::schedule_running(SchedulerOutput& out, int32_t& budget) {
    bool preempted = false;
    for (size_t i = 0; i < running_.size() && budget > 0;) {
        SequenceState& seq = *running_[i];
        const int32_t n = std::min<int32_t>(static_cast<int32_t>(seq.tokens.size()) - seq.n_computed, budget);
        if (n <= 0) {
            ++i;
            continue;
        }
        if (grow(seq, seq.n_computed + n)) {
            out.chunks.push_back({&seq, seq.n_computed, n});
            out.n_tokens += n;
            budget -= n;
            ++i;
            continue;
        }
        // Out of blocks: the newest running sequence gives its blocks back and recomputes later.
        preempted = true;
        const size_t victim = running_.size() - 1;
        preempt(victim, out);
        if (victim == i) break;
    }
    return !preempted;
}

// Waiting pass: admit FCFS while there is budget, a free slot and blocks for the first chunk,
// and while the next sequence's next prompt block is not one a running sequence is computing.
void Scheduler::schedule_waiting(SchedulerOutput& out, int32_t& budget) {
    while (!waiting_.empty() && budget > 0 && static_cast<int32_t>(running_.size()) < config_.max_running) {
        SequenceState& seq = *waiting_.front();
        if (seq.block_table.empty()) admit_cached_prefix(seq);
        const int32_t n = std::min<int32_t>(static_cast<int32_t>(seq.tokens.size()) - seq.n_computed, budget);
        if (next_block_in_progress(seq) || !grow(seq, seq.n_computed + n)) {
            free_blocks(seq);  // the cached prefix stays cached; it is found again next step
            break;
        }
        prefix_queries_ += static_cast<int64_t>(seq.tokens.size());
        prefix_hits_ += seq.n_prefix_hit_tokens;
        out.chunks.push_back({&seq, seq.n_computed, n});
        out.n_tokens += n;
        budget -= n;
        running_.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
    }
}

void Scheduler::preempt(size_t running_index, SchedulerOutput& out) {
    std::unique_ptr<SequenceState> seq = std::move(running_[running_index]);
    running_.erase(running_.begin() + running_index);
    // Drop any chunk already scheduled for it this step.
    std::erase_if(out.chunks, [&](const ScheduledChunk& c) {
        if (c.seq != seq.get()) return false;
        out.n_tokens -= c.n_tokens;
        return true;
    });
    free_blocks(*seq);
    ++seq->n_preemptions;
    out.preempted.push_back(seq->id);
    waiting_.push_front(std::move(seq));
}

// Takes the longest run of cached full blocks that starts the sequence. At least the last
// token is always recomputed, because its logits are needed.
void Scheduler::admit_cached_prefix(SequenceState& seq) {
    seq.n_computed = 0;
    seq.n_hashed_blocks = 0;
    seq.last_hash = 0;
    const int32_t bs = config_.block_size;
    const int32_t usable = (static_cast<int32_t>(seq.tokens.size()) - 1) / bs;
    seq.n_prefix_hit_tokens = 0;
    if (!config_.prefix_caching) return;
    for (int32_t b = 0; b < usable; ++b) {
        const std::span<const int32_t> block_tokens(seq.tokens.data() + b * bs, bs);
        const uint64_t hash = BlockPool::chain_hash(seq.last_hash, block_tokens);
        const auto hit = pool_.lookup(hash, block_tokens);
        if (!hit) break;
        pool_.retain(*hit);
        seq.block_table.push_back(*hit);
        seq.last_hash = hash;
        ++seq.n_hashed_blocks;
        seq.n_computed += bs;
    }
    seq.n_prefix_hit_tokens = seq.n_computed;
}

// Requests about one document arrive together: the first computes the document while the
// others wait for its blocks to reach the prefix cache, instead of computing them again. True
// when a running sequence with the same tokens has yet to register the block `seq` would
// compute first (a full prompt block, not the last token, which is always computed).
bool Scheduler::next_block_in_progress(const SequenceState& seq) const {
    if (!config_.prefix_caching) return false;
    const int32_t k = seq.n_hashed_blocks;
    const size_t end = static_cast<size_t>(k + 1) * config_.block_size;
    if (end >= seq.tokens.size()) return false;
    return std::any_of(running_.begin(), running_.end(), [&](const auto& other) {
        return other->n_hashed_blocks <= k && other->tokens.size() >= end &&
               std::equal(seq.tokens.begin(), seq.tokens.begin() + end, other->tokens.begin());
    });
}

bool Scheduler::grow(SequenceState& seq, int32_t n_tokens) {
    const int32_t bs = config_.block_size;
    const size_t need = static_cast<size_t>((n_tokens + bs - 1) / bs);
    const size_t had = seq.block_table.size();
    while (seq.block_table.size() < need) {
        const int32_t b = pool_.allocate();
        if (b < 0) {
            while (seq.block_table.size() > had) {
                pool_.release(seq.block_table.back());
                seq.block_table.pop_back();
            }
            return false;
        }
        seq.block_table.push_back(b);
    }
    return true;
}

void Scheduler::free_blocks(SequenceState& seq) {
    // Release the tail first so the free list reuses a sequence's last blocks before its
    // prefix, which is the part other requests are most likely to share.
    for (auto it = seq.block_table.rbegin(); it != seq.block_table.rend(); ++it) pool_.release(*it);
    seq.block_table.clear();
    seq.n_computed = 0;
    seq.n_hashed_blocks = 0;
    seq.last_hash = 0;
}

void Scheduler::complete(const SchedulerOutput& out) {
    const int32_t bs = config_.block_size;
    for (const ScheduledChunk& c : out.chunks) {
        SequenceState& seq = *c.seq;
        seq.n_computed = c.start + c.n_tokens;
        if (!config_.prefix_caching) continue;
        while ((seq.n_hashed_blocks + 1) * bs <= seq.n_computed) {
            const int32_t b = seq.n_hashed_blocks;
            const std::span<const int32_t> block_tokens(seq.tokens.data() + b * bs, bs);
            seq.last_hash = BlockPool::chain_hash(seq.last_hash, block_tokens);
            pool_.cache(seq.block_table[b], seq.last_hash, block_tokens);
            ++seq.n_hashed_blocks;
        }
    }
}

std::unique_ptr<SequenceState> Scheduler::remove(int64_t id) {
    std::unique_ptr<SequenceState> seq;
    if (auto it = std::find_if(running_.begin(), running_.end(), [&](auto& s) { return s->id == id; });
        it != running_.end()) {
        seq = std::move(*it);
        running_.erase(it);
    } else if (auto w = std::find_if(waiting_.begin(), waiting_.end(), [&](auto& s) { return s->id == id; });
               w != waiting_.end()) {
        seq = std::move(*w);
        waiting_.erase(w);
    }
    if (seq) free_blocks(*seq);
    return seq;
}

}  // namespace llmopt
