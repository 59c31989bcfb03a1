// Loads a model and its tokenizer; sets the thread count.
#include "llmopt/engine/runtime.h"

#include <omp.h>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"
#include "llmopt/util/thread_pool.h"

namespace llmopt {

Runtime load_runtime(const std::string& model_path, const std::string& tokenizer_path) {
    Runtime rt;
    rt.model = std::make_unique<Model>(Model::load(model_path));
    if (!tokenizer_path.empty()) {
        rt.tokenizer = Tokenizer::load(tokenizer_path);
    } else if (const GgufFile* g = rt.model->gguf()) {
        rt.tokenizer = Tokenizer::from_gguf(*g);
    } else {
        throw InputError(model_path + " has no vocabulary: pass --tokenizer (e.g. tok512.bin)");
    }
    if (rt.tokenizer->vocab_size() > rt.model->config().n_vocab)
        throw FormatError("tokenizer has " + std::to_string(rt.tokenizer->vocab_size()) +
                          " tokens but the model only " + std::to_string(rt.model->config().n_vocab));
    return rt;
}

void set_threads(int32_t n) {
    const int32_t threads = n > 0 ? n : ThreadPool::cores();
    if (ThreadPool::global().size() != threads) ThreadPool::global().resize(threads);
    omp_set_num_threads(threads);  // the offline tools (quantize, eval) still use OpenMP
}

}  // namespace llmopt
