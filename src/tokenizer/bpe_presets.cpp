// Per-model settings of byte-level BPE named by GGUF's tokenizer.ggml.pre.
//
// The patterns are the models' own pre-tokenizer regexes (from their tokenizer.json) in the
// forms llama.cpp applies them, so GGUF files converted by llama.cpp tokenize identically.
// Where llama.cpp had to rewrite a pattern for std::regex, the original is used: PCRE2 runs
// it directly. Contractions are spelled with explicit case classes instead of (?i:...) because
// Unicode case folding would also match e.g. "'ſ" (long s).
#include "bpe_presets.h"

#include <initializer_list>

#include "llmopt/util/error.h"

namespace llmopt {

namespace {

// GPT-2 words: contractions, letters, digits, other symbols, whitespace not before a word.
constexpr const char* kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";

constexpr const char* kContractions =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))re";

// Llama 3 / cl100k: like GPT-2 but a word may carry one leading non-letter, digits come in
// groups of up to three, and newlines stick to the symbols before them.
std::string llama3_pattern(const char* digits) {
    return std::string(kContractions) + R"re(|[^\r\n\p{L}\p{N}]?\p{L}+|)re" + digits +
           R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
}

// Cased letters as DeepSeek LLM lists them (Unicode Lu/Ll/Lt of an older Unicode version).
constexpr const char* kDeepseekLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})re"
    R"re(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386})re"
    R"re(\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F})re"
    R"re(\x{531}-\x{556})re"
    R"re(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})re"
    R"re(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})re"
    R"re(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})re"
    R"re(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})re"
    R"re(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})re"
    R"re(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})re"
    R"re(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})re"
    R"re(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})re"
    R"re(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})re"
    R"re(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})re"
    R"re(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})re"
    R"re(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})re"
    R"re(\x{1E900}-\x{1E943}]+)re";

// CJK ideographs, then U+0800..U+4E00 and Hangul, as DeepSeek groups them.
constexpr const char* kDeepseekCjk =
    R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";

// Words of GPT-4o (o200k) and Tekken: optional capitals then lowercase, or capitals then
// optional lowercase; marks (\p{M}) and caseless letters count as both.
constexpr const char* kCapitalizedWord =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)re";
constexpr const char* kUppercaseWord =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)re";

constexpr const char* kPoro =
    R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)re";

bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
        if (name == n) return true;
    }
    return false;
}

}  // namespace

std::string gpt2_pattern() {
    return kGpt2;
}

BpePreset bpe_preset(std::string_view pre) {
    BpePreset p;
    if (is_one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                        "midm-2.0", "lfm2"})) {
        p.patterns = {llama3_pattern(R"re(\p{N}{1,3})re")};
        p.ignore_merges = true;
        p.add_bos = true;
    } else if (is_one_of(pre, {"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) {
        p.patterns = {llama3_pattern(R"re(\p{N}{1,3})re")};
    } else if (is_one_of(pre, {"qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2",
                               "hunyuan", "grok-2"})) {
        p.patterns = {llama3_pattern(R"re(\p{N})re")};
    } else if (pre == "deepseek-llm") {
        p.patterns = {R"re([\r\n])re",
                      kDeepseekLetters,
                      R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F})re"
                      R"re(\x{3000}-\x{3002}]+)re",
                      R"re(\s+$)re",
                      kDeepseekCjk,
                      R"re(\p{N}+)re"};
    } else if (pre == "deepseek-coder") {
        p.patterns = {R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepseekCjk,
                      R"re(\p{N})re"};
    } else if (is_one_of(pre, {"deepseek-v3", "hunyuan-dense"})) {
        p.patterns = {R"re(\p{N}{1,3})re",
                      R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
                      R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+)re"
                      R"re(|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*)re"
                      R"re(|\s*[\r\n]+|\s+(?!\S)|\s+)re"};
    } else if (pre == "falcon") {
        p.patterns = {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, R"re([0-9][0-9][0-9])re"};
    } else if (is_one_of(pre, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone",
                               "minerva-7b"})) {
        p.patterns = {R"re(\p{N})re", kGpt2};
    } else if (is_one_of(pre, {"gpt-2", "mpt", "olmo", "jais", "trillion", "granite-docling",
                               "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                               "jina-v2-de", "a.x-4.0", "mellum", "jina-v1-en", "jina-v2-code",
                               "roberta-bpe", "exaone4", "modern-bert"})) {
        p.patterns = {kGpt2};
    } else if (is_one_of(pre, {"poro-chat", "bloom", "gpt3-finnish"})) {
        p.patterns = {kPoro};
    } else if (pre == "viking") {
        p.patterns = {kPoro, R"re(\p{N})re"};
    } else if (pre == "tekken") {
        p.patterns = {std::string(kCapitalizedWord) + "|" + kUppercaseWord +
                      R"re(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"};
        p.ignore_merges = true;
        p.add_bos = true;
    } else if (is_one_of(pre, {"gpt-4o", "llama4", "minimax-m2"})) {
        const std::string suffix = std::string(kContractions) + "?";
        p.patterns = {std::string(kCapitalizedWord) + suffix + "|" + kUppercaseWord + suffix +
                      R"re(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"};
    } else if (pre == "chameleon") {
        p.patterns = {R"re(<sentinel:[0-9]+>)re",    R"re((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)re",
                      R"re(([\t\n]|    |  ))re",     R"re(\p{N})re",
                      R"re([\p{P}!-/:-@\[-`{-~])re", kGpt2};
        p.add_bos = true;
    } else if (pre == "superbpe") {
        p.patterns = {R"re(\p{N}+)re", R"re((?=(\d{3})+(?!\d)))re"};
    } else if (is_one_of(pre, {"bailingmoe", "bailingmoe2", "llada-moe"})) {
        p.patterns = {R"re('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+)re"
                      R"re(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re"};
    } else if (pre == "seed-coder") {
        p.patterns = {std::string(kContractions) +
                      R"re(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+)re"
                      R"re(|\s*[\r\n]+|\s+(?!\S)|\s+)re"};
    } else if (is_one_of(pre, {"kimi-k2", "afmoe"})) {
        throw FormatError("unsupported BPE pre-tokenizer: " + std::string(pre));
    } else {
        // "default", a missing key, or a name this table does not know (llama.cpp does the same).
        p.patterns = {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re",
                      R"re([0-9][0-9][0-9])re"};
    }
    return p;
}

}  // namespace llmopt
