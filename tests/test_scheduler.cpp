// Block pool and scheduler with a tiny configuration and no model: exact block ids, reference
// counts, prefix hits, eviction order, chunked prefill, preemption and resume.
#include <gtest/gtest.h>

#include <numeric>

#include "llmopt/engine/scheduler.h"
#include "llmopt/kv/block_pool.h"

namespace llmopt {
namespace {

TEST(BlockPool, AllocatesLowestFirstAndReusesInReleaseOrder) {
    BlockPool pool(4);
    EXPECT_EQ(pool.allocate(), 0);
    EXPECT_EQ(pool.allocate(), 1);
    EXPECT_EQ(pool.allocate(), 2);
    pool.release(1);
    pool.release(0);
    EXPECT_EQ(pool.free_order(), (std::vector<int32_t>{3, 1, 0}));
    EXPECT_EQ(pool.allocate(), 3);
    EXPECT_EQ(pool.allocate(), 1);
    EXPECT_EQ(pool.allocate(), 0);
    EXPECT_EQ(pool.allocate(), -1);
}

TEST(BlockPool, ReferenceCountsAndCachedRevival) {
    BlockPool pool(3);
    const std::vector<int32_t> tokens = {5, 6, 7, 8};
    const uint64_t h = BlockPool::chain_hash(0, tokens);
    const int32_t b = pool.allocate();
    pool.cache(b, h, tokens);
    pool.retain(b);
    EXPECT_EQ(pool.ref_count(b), 2);
    pool.release(b);
    pool.release(b);
    EXPECT_EQ(pool.ref_count(b), 0);
    EXPECT_EQ(pool.n_free(), 3);
    // Still cached while free: a lookup finds it and retain takes it off the free list.
    ASSERT_EQ(pool.lookup(h, tokens), b);
    pool.retain(b);
    EXPECT_EQ(pool.n_free(), 2);
    EXPECT_EQ(pool.ref_count(b), 1);
    // Different tokens under the same hash are not a hit.
    EXPECT_FALSE(pool.lookup(h, std::vector<int32_t>{5, 6, 7, 9}));
}

TEST(BlockPool, AllocationEvictsTheLeastRecentlyFreedCachedBlock) {
    BlockPool pool(2);
    const std::vector<int32_t> a = {1, 1}, b = {2, 2};
    const int32_t ba = pool.allocate(), bb = pool.allocate();
    pool.cache(ba, BlockPool::chain_hash(0, a), a);
    pool.cache(bb, BlockPool::chain_hash(0, b), b);
    pool.release(ba);  // freed first: evicted first
    pool.release(bb);
    EXPECT_EQ(pool.n_cached(), 2);
    EXPECT_EQ(pool.allocate(), ba);
    EXPECT_FALSE(pool.lookup(BlockPool::chain_hash(0, a), a));
    EXPECT_EQ(pool.lookup(BlockPool::chain_hash(0, b), b), bb);
    EXPECT_EQ(pool.n_cached(), 1);
}

TEST(BlockPool, ChainedHashDependsOnThePrefix) {
    const std::vector<int32_t> t = {1, 2, 3, 4};
    EXPECT_NE(BlockPool::chain_hash(0, t), BlockPool::chain_hash(1, t));
    EXPECT_EQ(BlockPool::chain_hash(7, t), BlockPool::chain_hash(7, t));
}

std::unique_ptr<SequenceState> sequence(int64_t id, int32_t n_tokens, int32_t first_token = 0) {
    auto s = std::make_unique<SequenceState>();
    s->id = id;
    s->tokens.resize(n_tokens);
    std::iota(s->tokens.begin(), s->tokens.end(), first_token);
    s->n_prompt = n_tokens;
    return s;
}

// Runs the schedule, completes it, and appends one "sampled" token to sequences that sampled.
SchedulerOutput step(Scheduler& s) {
    SchedulerOutput out = s.schedule();
    s.complete(out);
    for (const auto& c : out.chunks)
        if (c.samples()) c.seq->tokens.push_back(1000 + static_cast<int32_t>(c.seq->tokens.size()));
    return out;
}

TEST(Scheduler, ChunkedPrefillUnderTheTokenBudget) {
    BlockPool pool(16);
    Scheduler s({.max_batch_tokens = 8, .max_running = 4, .block_size = 4}, pool);
    s.add(sequence(1, 10));
    s.add(sequence(2, 3));
    SchedulerOutput out = step(s);  // 8 of seq 1's 10 prompt tokens; no budget for seq 2
    ASSERT_EQ(out.chunks.size(), 1u);
    EXPECT_EQ(out.chunks[0].n_tokens, 8);
    EXPECT_FALSE(out.chunks[0].samples());
    EXPECT_EQ(out.chunks[0].seq->block_table, (std::vector<int32_t>{0, 1}));
    out = step(s);  // the rest of seq 1 (2, samples) + all of seq 2 (3)
    ASSERT_EQ(out.chunks.size(), 2u);
    EXPECT_EQ(out.chunks[0].seq->id, 1);
    EXPECT_EQ(out.chunks[0].start, 8);
    EXPECT_EQ(out.chunks[0].n_tokens, 2);  // reaches the end of the prompt: samples
    EXPECT_EQ(out.chunks[1].seq->id, 2);
    EXPECT_EQ(out.chunks[1].n_tokens, 3);
    EXPECT_EQ(out.chunks[0].seq->block_table, (std::vector<int32_t>{0, 1, 2}));
    EXPECT_EQ(out.chunks[1].seq->block_table, (std::vector<int32_t>{3}));
    out = step(s);  // decode: one token each
    ASSERT_EQ(out.chunks.size(), 2u);
    EXPECT_EQ(out.n_tokens, 2);
    EXPECT_EQ(out.chunks[0].start, 10);
    EXPECT_EQ(out.chunks[1].start, 3);
}

TEST(Scheduler, PrefixHitsReuseFullBlocksAndRecomputeTheLastToken) {
    BlockPool pool(16);
    Scheduler s({.max_batch_tokens = 64, .max_running = 4, .block_size = 4}, pool);
    s.add(sequence(1, 9));  // blocks: [0..3] [4..7] [8]
    step(s);
    s.remove(1);  // finished: its two full blocks stay cached
    EXPECT_EQ(pool.n_cached(), 2);
    EXPECT_EQ(pool.n_free(), 16);
    s.add(sequence(2, 9));  // same prompt
    SchedulerOutput out = step(s);
    ASSERT_EQ(out.chunks.size(), 1u);
    EXPECT_EQ(out.chunks[0].start, 8);  // 8 tokens from the cache, the 9th computed
    EXPECT_EQ(out.chunks[0].n_tokens, 1);
    EXPECT_EQ(out.chunks[0].seq->n_prefix_hit_tokens, 8);
    EXPECT_EQ(out.chunks[0].seq->block_table[0], 0);
    EXPECT_EQ(out.chunks[0].seq->block_table[1], 1);
    EXPECT_EQ(pool.ref_count(0), 1);
    EXPECT_EQ(pool.ref_count(1), 1);
    EXPECT_EQ(s.prefix_hits(), 8);
    EXPECT_EQ(s.prefix_queries(), 18);
    // A prompt that is exactly two blocks still recomputes its last token: one block hit.
    s.add(sequence(3, 8));
    out = step(s);
    EXPECT_EQ(out.chunks.back().seq->id, 3);
    EXPECT_EQ(out.chunks.back().start, 4);
    EXPECT_EQ(pool.ref_count(0), 2);  // shared by sequences 2 and 3
}

// Two requests about one document: the second waits while the first computes the blocks it
// would compute, then takes them from the cache.
TEST(Scheduler, WaitsForTheBlockARunningSequenceIsComputing) {
    BlockPool pool(16);
    Scheduler s({.max_batch_tokens = 8, .max_running = 4, .block_size = 4}, pool);
    s.add(sequence(1, 14));  // tokens 0..13
    s.add(sequence(2, 13));  // tokens 0..12: the same first three blocks
    SchedulerOutput out = step(s);  // sequence 1's first 8 tokens; no budget left
    ASSERT_EQ(out.chunks.size(), 1u);
    out = step(s);  // the rest of sequence 1; sequence 2 would compute block 2 with it: it waits
    ASSERT_EQ(out.chunks.size(), 1u);
    EXPECT_EQ(out.chunks[0].seq->id, 1);
    EXPECT_EQ(out.n_tokens, 6);
    EXPECT_EQ(s.n_waiting(), 1);
    const std::vector<int32_t> first_blocks = out.chunks[0].seq->block_table;
    out = step(s);  // sequence 1 decodes; sequence 2 finds all three blocks cached
    ASSERT_EQ(out.chunks.size(), 2u);
    const ScheduledChunk& second = out.chunks[1];
    EXPECT_EQ(second.seq->id, 2);
    EXPECT_EQ(second.start, 12);
    EXPECT_EQ(second.n_tokens, 1);
    EXPECT_EQ(second.seq->n_prefix_hit_tokens, 12);
    EXPECT_EQ(std::vector<int32_t>(second.seq->block_table.begin(), second.seq->block_table.begin() + 3),
              std::vector<int32_t>(first_blocks.begin(), first_blocks.begin() + 3));
    EXPECT_EQ(s.prefix_queries(), 14 + 13);  // the wait is not counted as a query
    EXPECT_EQ(s.prefix_hits(), 12);
    // Without the prefix cache there is nothing to wait for.
    BlockPool pool2(16);
    Scheduler plain({.max_batch_tokens = 8, .max_running = 4, .block_size = 4, .prefix_caching = false}, pool2);
    plain.add(sequence(1, 14));
    plain.add(sequence(2, 13));
    step(plain);
    EXPECT_EQ(step(plain).chunks.size(), 2u);
}

TEST(Scheduler, PreemptsTheNewestAndResumesIt) {
    BlockPool pool(4);  // 16 slots of 4 tokens
    Scheduler s({.max_batch_tokens = 64, .max_running = 4, .block_size = 4, .prefix_caching = false}, pool);
    s.add(sequence(1, 8));  // blocks 0, 1
    s.add(sequence(2, 8));  // blocks 2, 3
    step(s);
    EXPECT_EQ(pool.n_free(), 0);
    // Both now hold 9 tokens and need a third block: sequence 2 (newest) is preempted.
    SchedulerOutput out = step(s);
    EXPECT_EQ(out.preempted, std::vector<int64_t>{2});
    ASSERT_EQ(out.chunks.size(), 1u);
    EXPECT_EQ(out.chunks[0].seq->id, 1);
    EXPECT_EQ(out.chunks[0].seq->block_table, (std::vector<int32_t>{0, 1, 3}));
    EXPECT_EQ(s.n_waiting(), 1);
    EXPECT_EQ(pool.n_free(), 1);
    // Sequence 1 finishes: sequence 2 resumes from scratch with its sampled token kept.
    s.remove(1);
    out = step(s);
    ASSERT_EQ(out.chunks.size(), 1u);
    EXPECT_EQ(out.chunks[0].seq->id, 2);
    EXPECT_EQ(out.chunks[0].start, 0);
    EXPECT_EQ(out.chunks[0].n_tokens, 9);
    EXPECT_EQ(out.chunks[0].seq->n_preemptions, 1);
}

TEST(Scheduler, WaitsWhenBlocksRunOutAndRespectsParallelLimit) {
    BlockPool pool(3);
    Scheduler s({.max_batch_tokens = 64, .max_running = 1, .block_size = 4, .prefix_caching = false}, pool);
    s.add(sequence(1, 4));
    s.add(sequence(2, 4));
    SchedulerOutput out = step(s);
    ASSERT_EQ(out.chunks.size(), 1u);  // max_running 1
    EXPECT_EQ(s.n_waiting(), 1);
    s.remove(1);
    EXPECT_EQ(pool.n_free(), 3);
    out = step(s);
    ASSERT_EQ(out.chunks.size(), 1u);
    EXPECT_EQ(out.chunks[0].seq->id, 2);
}

TEST(Scheduler, CancellingAWaitingOrRunningSequenceFreesItsBlocks) {
    BlockPool pool(8);
    Scheduler s({.max_batch_tokens = 64, .max_running = 4, .block_size = 4}, pool);
    s.add(sequence(1, 12));
    step(s);
    s.add(sequence(2, 5));
    EXPECT_EQ(pool.n_free(), 5);
    EXPECT_NE(s.remove(1), nullptr);
    EXPECT_NE(s.remove(2), nullptr);
    EXPECT_EQ(s.remove(3), nullptr);
    EXPECT_EQ(pool.n_free(), 8);
    EXPECT_FALSE(s.has_work());
}

}  // namespace
}  // namespace llmopt
