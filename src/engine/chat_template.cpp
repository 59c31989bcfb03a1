// Chat prompt formats of the common model families, matching their Jinja templates byte for byte.
#include "llmopt/engine/chat_template.h"

#include <array>
#include <utility>

#include "llmopt/util/error.h"

namespace llmopt {
namespace {

constexpr std::array<std::pair<std::string_view, ChatFormat>, 7> kFormatNames = {{
    {"llama2", ChatFormat::kLlama2},
    {"llama3", ChatFormat::kLlama3},
    {"chatml", ChatFormat::kChatML},
    {"mistral", ChatFormat::kMistral},
    {"zephyr", ChatFormat::kZephyr},
    {"gemma", ChatFormat::kGemma},
    {"phi3", ChatFormat::kPhi3},
}};

bool contains(std::string_view text, std::string_view marker) {
    return text.find(marker) != std::string_view::npos;
}

// Jinja's `trim` filter and Python's str.strip(), for ASCII whitespace.
std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\n\r\v\f";
    const size_t begin = s.find_first_not_of(kSpace);
    if (begin == std::string_view::npos) return {};
    return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

void validate_roles(const std::vector<ChatMessage>& messages) {
    for (size_t i = 0; i < messages.size(); ++i) {
        const std::string& role = messages[i].role;
        if (role != "system" && role != "user" && role != "assistant") {
            throw InputError("chat message " + std::to_string(i) + ": role \"" + role +
                             "\" is not one of system, user, assistant");
        }
    }
}

// Families without a system turn (Llama 2, Mistral, Gemma) fold system text into the next user
// turn, as their reference templates do with a leading system message.
class PendingSystem {
public:
    void add(const std::string& content) {
        if (present_) text_ += "\n\n";
        text_ += content;
        present_ = true;
    }
    bool present() const { return present_; }
    std::string take() {
        present_ = false;
        return std::exchange(text_, {});
    }
    // A system message with no user turn after it would otherwise vanish silently.
    void require_taken(std::string_view format) const {
        if (present_) {
            throw InputError(std::string(format) +
                             " chat format: a system message must be followed by a user message");
        }
    }

private:
    std::string text_;
    bool present_ = false;
};

// "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ..."
// There is no generation prompt: a user turn already ends where the reply starts.
std::string render_llama2(const std::vector<ChatMessage>& messages, std::string_view bos,
                          std::string_view eos) {
    std::string out;
    PendingSystem system;
    for (const ChatMessage& m : messages) {
        if (m.role == "system") {
            system.add(m.content);
        } else if (m.role == "user") {
            // The template strips the whole turn, system block included.
            const std::string content =
                system.present() ? "<<SYS>>\n" + system.take() + "\n<</SYS>>\n\n" + m.content
                                 : m.content;
            out.append(bos).append("[INST] ").append(trim(content)).append(" [/INST]");
        } else {
            out.append(" ").append(trim(m.content)).append(" ").append(eos);
        }
    }
    system.require_taken("llama2");
    return out;
}

// Mistral v1: "<s>[INST] {system}\n\n{user} [/INST] {assistant}</s>[INST] ..."; as with Llama 2
// the user turn is the generation prompt.
std::string render_mistral(const std::vector<ChatMessage>& messages, std::string_view bos,
                           std::string_view eos) {
    std::string out(bos);
    PendingSystem system;
    for (const ChatMessage& m : messages) {
        if (m.role == "system") {
            system.add(m.content);
        } else if (m.role == "user") {
            out.append("[INST] ");
            if (system.present()) out.append(system.take()).append("\n\n");
            out.append(m.content).append(" [/INST]");
        } else {
            out.append(" ").append(m.content).append(eos);
        }
    }
    system.require_taken("mistral");
    return out;
}

// "<|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>..."
std::string render_llama3(const std::vector<ChatMessage>& messages, bool add_assistant_prompt,
                          std::string_view bos) {
    std::string out;
    if (!messages.empty()) out.append(bos);
    for (const ChatMessage& m : messages) {
        out.append("<|start_header_id|>").append(m.role).append("<|end_header_id|>\n\n");
        out.append(trim(m.content)).append("<|eot_id|>");
    }
    if (add_assistant_prompt) out.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
    return out;
}

// "<|im_start|>{role}\n{content}<|im_end|>\n..." (no BOS: ChatML models have none).
std::string render_chatml(const std::vector<ChatMessage>& messages, bool add_assistant_prompt) {
    std::string out;
    for (const ChatMessage& m : messages) {
        out.append("<|im_start|>").append(m.role).append("\n");
        out.append(m.content).append("<|im_end|>\n");
    }
    if (add_assistant_prompt) out.append("<|im_start|>assistant\n");
    return out;
}

// "{prefix}<|{role}|>\n{content}{end}" per message, then "<|assistant|>\n": Phi-3 ends turns
// with "<|end|>\n", Zephyr with EOS and a newline.
std::string render_tagged(const std::vector<ChatMessage>& messages, bool add_assistant_prompt,
                          std::string_view prefix, std::string_view end) {
    std::string out(prefix);
    for (const ChatMessage& m : messages) {
        out.append("<|").append(m.role).append("|>\n").append(m.content).append(end);
    }
    if (add_assistant_prompt) out.append("<|assistant|>\n");
    return out;
}

// "<bos><start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n..."
std::string render_gemma(const std::vector<ChatMessage>& messages, bool add_assistant_prompt,
                         std::string_view bos) {
    std::string out(bos);
    PendingSystem system;
    for (const ChatMessage& m : messages) {
        if (m.role == "system") {
            system.add(m.content);
            continue;
        }
        const bool user = m.role == "user";
        out.append("<start_of_turn>").append(user ? "user" : "model").append("\n");
        // The system text is not trimmed, only the message itself.
        if (user && system.present()) out.append(system.take()).append("\n\n");
        out.append(trim(m.content)).append("<end_of_turn>\n");
    }
    system.require_taken("gemma");
    if (add_assistant_prompt) out.append("<start_of_turn>model\n");
    return out;
}

}  // namespace

ChatFormat detect_chat_format(std::string_view jinja_template) {
    const auto has = [&](std::string_view marker) { return contains(jinja_template, marker); };
    if (has("<|start_header_id|>")) return ChatFormat::kLlama3;
    if (has("<|im_start|>")) return ChatFormat::kChatML;
    if (has("<start_of_turn>")) return ChatFormat::kGemma;
    if (has("<|user|>") && has("<|end|>")) return ChatFormat::kPhi3;
    // Zephyr's template writes the EOS either literally or through the eos_token variable.
    if (has("<|user|>") && (has("</s>") || has("eos_token"))) return ChatFormat::kZephyr;
    if (has("[INST]")) return has("<<SYS>>") ? ChatFormat::kLlama2 : ChatFormat::kMistral;
    return ChatFormat::kChatML;
}

ChatFormat parse_chat_format(std::string_view name) {
    std::string known;
    for (const auto& [format_name, format] : kFormatNames) {
        if (format_name == name) return format;
        known.append(known.empty() ? "" : ", ").append(format_name);
    }
    throw InputError("unknown chat format \"" + std::string(name) + "\" (expected one of " +
                     known + ")");
}

std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        bool add_assistant_prompt, std::string_view bos, std::string_view eos) {
    validate_roles(messages);
    switch (format) {
        case ChatFormat::kLlama2:
            return render_llama2(messages, bos, eos);
        case ChatFormat::kLlama3:
            return render_llama3(messages, add_assistant_prompt, bos);
        case ChatFormat::kChatML:
            return render_chatml(messages, add_assistant_prompt);
        case ChatFormat::kMistral:
            return render_mistral(messages, bos, eos);
        case ChatFormat::kZephyr:
            return render_tagged(messages, add_assistant_prompt, "", std::string(eos) + "\n");
        case ChatFormat::kGemma:
            return render_gemma(messages, add_assistant_prompt, bos);
        case ChatFormat::kPhi3:
            return render_tagged(messages, add_assistant_prompt, bos, "<|end|>\n");
    }
    throw InputError("unknown chat format");
}

}  // namespace llmopt
