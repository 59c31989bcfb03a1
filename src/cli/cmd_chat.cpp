// `llmopt chat`: a conversation with the model's chat template, kept in the KV cache between turns.
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "cli_support.h"
#include "commands.h"
#include "llmopt/engine/chat_template.h"
#include "llmopt/engine/generate.h"
#include "llmopt/engine/runtime.h"
#include "llmopt/format/gguf.h"

namespace llmopt::cli {

int run_chat(int argc, char** argv) {
    CLI::App app("Chat with a model: each line on stdin is a user turn; replies stream to stdout.", "llmopt chat");
    ModelFlags mf;
    SamplingParams sp;
    std::string system_prompt, format_name;
    int32_t max_reply = 512;
    add_model_flags(app, mf);
    add_sampling_flags(app, sp);
    app.add_option("--system", system_prompt, "system message");
    app.add_option("--chat-format", format_name, "llama2, llama3, chatml, mistral, zephyr, gemma, phi3 (default: from the model)");
    app.add_option("-n,--n-predict", max_reply, "most tokens per reply");
    return guarded(app, argc, argv, [&] {
        set_threads(mf.threads);
        Sampler::validate(sp);
        Runtime rt = load_runtime(mf.model, mf.tokenizer);
        const Tokenizer& tok = *rt.tokenizer;
        std::string jinja;
        if (const GgufFile* g = rt.model->gguf()) jinja = g->get_string("tokenizer.chat_template").value_or("");
        const ChatFormat format = format_name.empty() ? detect_chat_format(jinja) : parse_chat_format(format_name);
        const std::string bos = tok.bos_id() >= 0 ? tok.token_text(tok.bos_id()) : "";
        const std::string eos = tok.eos_id() >= 0 ? tok.token_text(tok.eos_id()) : "";
        const int32_t n_ctx = context_size(mf, rt.model->config());
        Session session(*rt.model, n_ctx);
        std::vector<ChatMessage> messages;
        if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
        const bool interactive = isatty(STDIN_FILENO);
        std::string line;
        while ((interactive && std::cerr << "> " << std::flush), std::getline(std::cin, line)) {
            if (line.empty()) continue;
            messages.push_back({"user", line});
            const std::string text = render_chat(format, messages, true, bos, eos);
            const bool starts_with_bos = !bos.empty() && text.rfind(bos, 0) == 0;
            const std::vector<int32_t> ids = tok.encode(text, !starts_with_bos && tok.add_bos_by_default(), true);
            // Reuse the cached turns: keep the longest common prefix, feed only the rest.
            const auto& cached = session.tokens();
            size_t common = 0;
            while (common < cached.size() && common + 1 < ids.size() && cached[common] == ids[common]) ++common;
            session.truncate(static_cast<int32_t>(common));
            std::string reply;
            Utf8Stream stream;
            int32_t prev = ids.back();
            const std::vector<int32_t> rest(ids.begin() + common, ids.end());
            generate(session, tok, rest, GenerateOptions{max_reply, sp}, [&](int32_t id) {
                const std::string piece = tok.decode_piece(prev, id);
                prev = id;
                reply += piece;
                std::cout << stream.push(piece) << std::flush;
                return true;
            });
            std::cout << stream.flush() << "\n" << std::flush;
            messages.push_back({"assistant", reply});
        }
        return 0;
    });
}

}  // namespace llmopt::cli
