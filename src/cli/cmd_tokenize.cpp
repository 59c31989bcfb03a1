// `llmopt tokenize` / `llmopt detokenize`: text on stdin to ids on stdout, and back.
#include <iostream>
#include <sstream>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/util/error.h"
#include "llmopt/tokenizer/tokenizer.h"

namespace llmopt::cli {

int run_tokenize(int argc, char** argv) {
    CLI::App app("Read text on stdin and print its token ids separated by spaces.", "llmopt tokenize");
    std::string model;
    bool no_bos = false, parse_special = false;
    app.add_option("-m,--model", model, "GGUF model, vocab-only GGUF, tokenizer.json or llama2.c tokenizer.bin")->required();
    app.add_flag("--no-bos", no_bos, "do not add BOS");
    app.add_flag("--parse-special", parse_special, "turn special-token text such as <|eot_id|> into its id");
    return guarded(app, argc, argv, [&] {
        auto tok = Tokenizer::load(model);
        const std::string text = read_text("-");
        const auto ids = tok->encode(text, !no_bos && tok->add_bos_by_default(), parse_special);
        for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
        std::cout << "\n";
        return 0;
    });
}

int run_detokenize(int argc, char** argv) {
    CLI::App app("Read token ids on stdin and print their text.", "llmopt detokenize");
    std::string model;
    app.add_option("-m,--model", model, "GGUF model, vocab-only GGUF, tokenizer.json or llama2.c tokenizer.bin")->required();
    return guarded(app, argc, argv, [&] {
        auto tok = Tokenizer::load(model);
        std::istringstream in(read_text("-"));
        std::vector<int32_t> ids;
        std::string word;
        while (in >> word) {
            size_t used = 0;
            long long v = 0;
            try {
                v = std::stoll(word, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != word.size() || v < 0 || v >= tok->vocab_size())
                throw InputError("'" + word + "' is not a token id of this vocabulary (0.." +
                                 std::to_string(tok->vocab_size() - 1) + ")");
            ids.push_back(static_cast<int32_t>(v));
        }
        std::cout << tok->decode(ids);
        return 0;
    });
}

}  // namespace llmopt::cli
