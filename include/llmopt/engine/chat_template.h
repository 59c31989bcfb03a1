// Chat prompt formats of the common model families, chosen from tokenizer.chat_template.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace llmopt {

struct ChatMessage {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

enum class ChatFormat { kLlama2, kLlama3, kChatML, kMistral, kZephyr, kGemma, kPhi3 };

// Recognizes a Jinja template by the markers it contains; kChatML when empty or unknown.
ChatFormat detect_chat_format(std::string_view jinja_template);
// Parses "llama2", "llama3", "chatml", ... ; throws InputError when unknown.
ChatFormat parse_chat_format(std::string_view name);

// Renders messages; with add_assistant_prompt the text ends where the assistant's reply starts.
// `bos` / `eos` are the vocabulary's texts for those tokens (templates that spell them out).
std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        bool add_assistant_prompt, std::string_view bos, std::string_view eos);

}  // namespace llmopt
