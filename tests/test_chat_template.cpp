// Chat templates: exact rendered prompts per format, detection from real tokenizer templates.
#include "llmopt/engine/chat_template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"
#include "test_support.h"

namespace llmopt {
namespace {

// system + user + assistant + user, the shape that exercises every turn boundary.
const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."},
    {"user", "Hi there"},
    {"assistant", "Hello!"},
    {"user", "What is 2+2?"},
};

std::string render(ChatFormat format, const std::vector<ChatMessage>& messages = kConversation,
                   bool add_assistant_prompt = true) {
    return render_chat(format, messages, add_assistant_prompt, "<s>", "</s>");
}

std::string template_from_config(const std::string& dir) {
    const auto config = nlohmann::json::parse(
        test::read_file(test::shared_path("testdata/tokenizer/" + dir + "/tokenizer_config.json")));
    return config.value("chat_template", std::string());
}

TEST(ChatTemplate, Llama2) {
    EXPECT_EQ(render(ChatFormat::kLlama2),
              "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
              "<s>[INST] What is 2+2? [/INST]");
    // The user turn already ends where the reply starts, so the prompt adds nothing.
    EXPECT_EQ(render(ChatFormat::kLlama2), render(ChatFormat::kLlama2, kConversation, false));
}

TEST(ChatTemplate, Llama2StripsTurns) {
    EXPECT_EQ(render(ChatFormat::kLlama2, {{"user", "  hi \n"}, {"assistant", " yo  "}}),
              "<s>[INST] hi [/INST] yo </s>");
}

TEST(ChatTemplate, Llama3) {
    const std::string expected =
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>";
    const std::string prompt = "<|start_header_id|>assistant<|end_header_id|>\n\n";
    EXPECT_EQ(render_chat(ChatFormat::kLlama3, kConversation, true, "<|begin_of_text|>",
                          "<|eot_id|>"),
              expected + prompt);
    EXPECT_EQ(render_chat(ChatFormat::kLlama3, kConversation, false, "<|begin_of_text|>",
                          "<|eot_id|>"),
              expected);
}

TEST(ChatTemplate, Llama3TrimsContent) {
    EXPECT_EQ(render_chat(ChatFormat::kLlama3, {{"user", "\n  hi  \n"}}, false, "<B>", ""),
              "<B><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>");
}

TEST(ChatTemplate, ChatML) {
    const std::string expected =
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nHi there<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n";
    EXPECT_EQ(render(ChatFormat::kChatML), expected + "<|im_start|>assistant\n");
    EXPECT_EQ(render(ChatFormat::kChatML, kConversation, false), expected);
}

TEST(ChatTemplate, Mistral) {
    EXPECT_EQ(render(ChatFormat::kMistral),
              "<s>[INST] You are terse.\n\nHi there [/INST] Hello!</s>[INST] What is 2+2? [/INST]");
}

TEST(ChatTemplate, Zephyr) {
    const std::string expected =
        "<|system|>\nYou are terse.</s>\n"
        "<|user|>\nHi there</s>\n"
        "<|assistant|>\nHello!</s>\n"
        "<|user|>\nWhat is 2+2?</s>\n";
    EXPECT_EQ(render(ChatFormat::kZephyr), expected + "<|assistant|>\n");
    EXPECT_EQ(render(ChatFormat::kZephyr, kConversation, false), expected);
}

TEST(ChatTemplate, Phi3) {
    const std::string expected =
        "<s><|system|>\nYou are terse.<|end|>\n"
        "<|user|>\nHi there<|end|>\n"
        "<|assistant|>\nHello!<|end|>\n"
        "<|user|>\nWhat is 2+2?<|end|>\n";
    EXPECT_EQ(render(ChatFormat::kPhi3), expected + "<|assistant|>\n");
    EXPECT_EQ(render(ChatFormat::kPhi3, kConversation, false), expected);
    // The template shipped in the Phi-3 vocabulary test file has no system turn; without one the
    // prompt is what it renders.
    EXPECT_EQ(render(ChatFormat::kPhi3, {kConversation.begin() + 1, kConversation.end()}),
              "<s><|user|>\nHi there<|end|>\n<|assistant|>\nHello!<|end|>\n"
              "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, Gemma) {
    const std::string expected =
        "<s><start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n";
    EXPECT_EQ(render(ChatFormat::kGemma), expected + "<start_of_turn>model\n");
    EXPECT_EQ(render(ChatFormat::kGemma, kConversation, false), expected);
}

TEST(ChatTemplate, RejectsUnknownRoles) {
    const std::vector<ChatMessage> messages = {{"user", "hi"}, {"tool", "{}"}};
    for (const ChatFormat format : {ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kChatML,
                                    ChatFormat::kMistral, ChatFormat::kZephyr, ChatFormat::kGemma,
                                    ChatFormat::kPhi3}) {
        EXPECT_THROW(render(format, messages), InputError);
    }
    try {
        render(ChatFormat::kChatML, messages);
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("\"tool\""), std::string::npos) << e.what();
    }
}

TEST(ChatTemplate, RejectsTrailingSystemWhereItCannotBePlaced) {
    const std::vector<ChatMessage> messages = {{"user", "hi"}, {"system", "be brief"}};
    EXPECT_THROW(render(ChatFormat::kLlama2, messages), InputError);
    EXPECT_THROW(render(ChatFormat::kMistral, messages), InputError);
    EXPECT_THROW(render(ChatFormat::kGemma, messages), InputError);
    EXPECT_NO_THROW(render(ChatFormat::kChatML, messages));
}

TEST(ChatTemplate, ParsesFormatNames) {
    EXPECT_EQ(parse_chat_format("llama2"), ChatFormat::kLlama2);
    EXPECT_EQ(parse_chat_format("llama3"), ChatFormat::kLlama3);
    EXPECT_EQ(parse_chat_format("chatml"), ChatFormat::kChatML);
    EXPECT_EQ(parse_chat_format("mistral"), ChatFormat::kMistral);
    EXPECT_EQ(parse_chat_format("zephyr"), ChatFormat::kZephyr);
    EXPECT_EQ(parse_chat_format("gemma"), ChatFormat::kGemma);
    EXPECT_EQ(parse_chat_format("phi3"), ChatFormat::kPhi3);
    EXPECT_THROW(parse_chat_format("vicuna"), InputError);
    EXPECT_THROW(parse_chat_format(""), InputError);
}

TEST(ChatTemplate, DetectsRealTemplates) {
    EXPECT_EQ(detect_chat_format(template_from_config("hf-llama3")), ChatFormat::kLlama3);
    EXPECT_EQ(detect_chat_format(template_from_config("hf-qwen3")), ChatFormat::kChatML);
    // This Llama 2 tokenizer ships without a template: the documented fallback applies.
    const std::string llama2 = template_from_config("hf-llama2");
    EXPECT_TRUE(llama2.empty());
    EXPECT_EQ(detect_chat_format(llama2), ChatFormat::kChatML);

    const GgufFile phi3(test::shared_path("testdata/tokenizer/llama.cpp-vocab/ggml-vocab-phi-3.gguf"));
    const auto phi3_template = phi3.get_string("tokenizer.chat_template");
    ASSERT_TRUE(phi3_template.has_value());
    EXPECT_EQ(detect_chat_format(*phi3_template), ChatFormat::kPhi3);
}

// Marker combinations of the families without a template among the test data.
TEST(ChatTemplate, DetectsByMarkers) {
    EXPECT_EQ(detect_chat_format(""), ChatFormat::kChatML);
    EXPECT_EQ(detect_chat_format("{{ message['content'] }}"), ChatFormat::kChatML);
    EXPECT_EQ(detect_chat_format("{{ bos_token + '[INST] ' + '<<SYS>>\\n' }}"), ChatFormat::kLlama2);
    EXPECT_EQ(detect_chat_format("{{ bos_token + '[INST] ' + content + ' [/INST]' }}"),
              ChatFormat::kMistral);
    EXPECT_EQ(detect_chat_format("{{ '<|user|>\\n' + content + eos_token }}"), ChatFormat::kZephyr);
    EXPECT_EQ(detect_chat_format("{{ '<|user|>\\n' + content + '</s>' }}"), ChatFormat::kZephyr);
    EXPECT_EQ(detect_chat_format("{{ '<|user|>\\n' + content + '<|end|>\\n' }}"), ChatFormat::kPhi3);
    EXPECT_EQ(detect_chat_format("{{ '<start_of_turn>' + role + '\\n' }}"), ChatFormat::kGemma);
}

}  // namespace
}  // namespace llmopt
