// The llmopt program: one name, subcommands in the style of git.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "commands.h"

namespace {

struct Command {
    const char* name;
    int (*run)(int, char**);
    const char* summary;
};

constexpr Command kCommands[] = {
    {"run", llmopt::cli::run_run, "generate text from a prompt"},
    {"chat", llmopt::cli::run_chat, "interactive chat with the model's chat template"},
    {"tokenize", llmopt::cli::run_tokenize, "text on stdin to token ids"},
    {"detokenize", llmopt::cli::run_detokenize, "token ids on stdin to text"},
    {"inspect", llmopt::cli::run_inspect, "print a model file's metadata and tensors"},
    {"quantize", llmopt::cli::run_quantize, "round-to-nearest quantization of a GGUF model"},
    {"eval", llmopt::cli::run_eval, "perplexity and KL divergence against a base model"},
    {"serve", llmopt::cli::run_serve, "OpenAI-compatible HTTP server"},
    {"loadgen", llmopt::cli::run_loadgen, "load generator for OpenAI-compatible servers"},
    {"batch", llmopt::cli::run_batch, "offline batch inference: JSONL in, JSONL out"},
    {"synth", llmopt::cli::run_synth, "write a random-weight model of a real architecture's shape"},
    {"bench", llmopt::cli::run_bench, "prompt / generation / batched throughput with bandwidth and FLOP ratios"},
};

void usage(FILE* out) {
    std::fprintf(out, "usage: llmopt <command> [options]   (llmopt <command> --help for its options)\n\ncommands:\n");
    for (const Command& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const std::string_view name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        usage(stdout);
        return 0;
    }
    for (const Command& c : kCommands)
        if (name == c.name) return c.run(argc - 1, argv + 1);
    std::fprintf(stderr, "llmopt: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
