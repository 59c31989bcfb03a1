// `llmopt bench`: prompt processing, generation and batched-decode throughput, with the share of
// this machine's bandwidth and FMA peak each test reaches.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/format/gguf.h"
#include "llmopt/kernels/matmul.h"
#include "llmopt/perf/probe.h"
#include "llmopt/perf/throughput.h"
#include "llmopt/util/error.h"

namespace llmopt::cli {
namespace {

// Counts from a comma-separated flag; a 0 means "none" unless `zero_counts` (depths).
std::vector<int32_t> parse_list(const std::string& s, const char* flag, bool zero_counts = false) {
    std::vector<int32_t> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            size_t used = 0;
            const int v = std::stoi(item, &used);
            if (used != item.size() || v < 0 || v > (1 << 20)) throw std::invalid_argument(item);
            if (v > 0 || zero_counts) out.push_back(v);
        } catch (const std::exception&) {
            throw InputError(std::string(flag) + ": '" + item + "' is not a count");
        }
    }
    return out;
}

}  // namespace

int run_bench(int argc, char** argv) {
    CLI::App app("Throughput benchmark: pp (prompt processing), tg (generation), tg×B (B sequences decoding "
                 "together), as tokens/s mean ± sd over repetitions after a warm-up.", "llmopt bench");
    std::string model_path, prompts = "128,512", gens = "32,128", seqs = "1", depths = "0";
    std::string kv_type_name = "f32";
    int32_t threads = 0, reps = 5;
    bool json = false, probe_only = false;
    app.add_option("-m,--model", model_path, "GGUF model");
    app.add_option("-p,--n-prompt", prompts, "prompt lengths, comma-separated (0: none)");
    app.add_option("-n,--n-gen", gens, "generation lengths, comma-separated (0: none)");
    app.add_option("-b,--batch", seqs, "sequences decoding together, comma-separated; B > 1 adds tg×B tests");
    app.add_option("-d,--n-depth", depths,
                   "tokens already in each sequence's KV cache before a test, comma-separated "
                   "(filled untimed, as llama-bench's -d)");
    app.add_option("--kv-type", kv_type_name, "KV cache element type: f32, f16 or q8_0")
        ->capture_default_str();
    app.add_option("-t,--threads", threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
    app.add_option("-r,--repetitions", reps, "timed repetitions per test")->check(CLI::Range(1, 1000));
    app.add_flag("--json", json, "print one JSON array, an object per test");
    app.add_flag("--probe", probe_only, "only measure this machine's read bandwidth and FMA peak");
    return guarded(app, argc, argv, [&] {
        set_threads(threads);
        std::fprintf(stderr, "probing machine limits...\n");
        const MachineLimits limits = probe_machine(threads);
        if (probe_only) {
            if (json)
                std::cout << nlohmann::json{{"n_threads", limits.threads}, {"read_gbps", limits.read_gbps}, {"peak_gflops", limits.peak_gflops}, {"peak_vector_bits", limits.peak_vector_bits}}.dump(2) << "\n";
            else
                std::printf("threads %d: read bandwidth %.1f GB/s, FMA peak %.1f GFLOP/s (%d-bit)\n", limits.threads, limits.read_gbps, limits.peak_gflops, limits.peak_vector_bits);
            return 0;
        }
        if (model_path.empty()) throw InputError("--model is required (or use --probe)");
        const DType kv_type = parse_kv_type(kv_type_name);
        Model model = Model::load(model_path);
        std::vector<BenchTest> tests;
        for (int32_t d : parse_list(depths, "-d", true)) {
            for (int32_t p : parse_list(prompts, "-p")) tests.push_back({p, 0, 1, d, kv_type});
            for (int32_t g : parse_list(gens, "-n"))
                for (int32_t b : parse_list(seqs, "-b")) tests.push_back({0, g, b, d, kv_type});
        }
        if (tests.empty()) throw InputError("no test: give -p and/or -n");

        const double model_size = weight_bytes_per_step(model, int32_t(1) << 20);
        int64_t n_params = 0;
        if (const GgufFile* g = model.gguf())
            for (const auto& t : g->tensors()) n_params += t.n_elements();
        nlohmann::json out = nlohmann::json::array();
        if (!json)
            std::printf("model %s: %.2f GiB of matrices; machine: %.1f GB/s read, %.1f GFLOP/s FMA peak (%d-bit), %d threads, "
                        "int8 dots on %s, float tiles %s\n\n"
                        "| test | t/s | GB/s | frac bandwidth | GFLOP/s | frac peak |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
                        std::filesystem::path(model_path).filename().c_str(), model_size / (1 << 30), limits.read_gbps,
                        limits.peak_gflops, limits.peak_vector_bits, limits.threads, kernels::int8_dot_instructions(),
                        kernels::float_tile_width());
        for (const BenchTest& t : tests) {
            std::fprintf(stderr, "running %s...\n", t.name().c_str());
            const BenchResult r = llmopt::run_bench(model, t, reps);
            const double frac_bw = limits.read_gbps > 0 ? r.gbps / limits.read_gbps : 0;
            const double frac_peak = limits.peak_gflops > 0 ? r.gflops / limits.peak_gflops : 0;
            if (json) {
                out.push_back({{"model_filename", model_path}, {"model_size", int64_t(model_size)}, {"model_n_params", n_params},
                               {"model_type", model.config().arch_name}, {"n_threads", limits.threads},
                               {"n_prompt", t.n_prompt}, {"n_gen", t.n_gen}, {"n_seqs", t.n_seqs},
                               {"n_depth", t.n_depth}, {"type_k", dtype_name(t.kv_type)},
                               {"type_v", dtype_name(t.kv_type)}, {"test", t.name()},
                               {"type", t.n_gen > 0 ? (t.n_seqs > 1 ? "batched" : "tg") : "pp"},
                               {"avg_ts", r.avg_ts}, {"stddev_ts", r.stddev_ts}, {"samples_ts", r.tokens_per_second},
                               {"gbps", r.gbps}, {"gflops", r.gflops}, {"frac_bandwidth", frac_bw}, {"frac_peak", frac_peak},
                               {"machine_read_gbps", limits.read_gbps}, {"machine_peak_gflops", limits.peak_gflops},
                               {"machine_peak_vector_bits", limits.peak_vector_bits},
                               {"int8_dots", kernels::int8_dot_instructions()},
                               {"float_tiles", kernels::float_tile_width()}});
            } else {
                std::printf("| %s | %.2f ± %.2f | %.1f | %.2f | %.1f | %.2f |\n", t.name().c_str(), r.avg_ts, r.stddev_ts,
                            r.gbps, frac_bw, r.gflops, frac_peak);
                std::fflush(stdout);
            }
        }
        if (json) std::cout << out.dump(2) << "\n";
        return 0;
    });
}

}  // namespace llmopt::cli
