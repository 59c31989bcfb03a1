// Tokenizer::from_llama2c: llama2.c's tokenizer.bin (SentencePiece pieces with scores).
//
// Layout: int32 max_token_length, then per token float32 score, int32 byte length, bytes.
// Pieces spell U+2581 as ' '; ids 0, 1, 2 are <unk>, <s> (BOS) and </s> (EOS), the latter two
// stored as "\n<s>\n" and "\n</s>\n". The result tokenizes like the GGUF of the same model.
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "llmopt/tokenizer/tokenizer.h"
#include "llmopt/util/error.h"
#include "spm_tokenizer.h"
#include "unicode_text.h"

namespace llmopt {

namespace {

bool is_byte_piece(const std::string& piece) {
    return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' &&
           std::isxdigit(static_cast<unsigned char>(piece[3])) &&
           std::isxdigit(static_cast<unsigned char>(piece[4]));
}

class Reader {
  public:
    Reader(const std::string& path, std::string bytes) : path_(path), bytes_(std::move(bytes)) {}

    bool at_end() const { return pos_ == bytes_.size(); }

    template <typename T>
    T read(const char* what, int32_t token) {
        T value;
        need(sizeof(T), what, token);
        std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }

    std::string read_string(size_t size, int32_t token) {
        need(size, "piece bytes", token);
        std::string s = bytes_.substr(pos_, size);
        pos_ += size;
        return s;
    }

  private:
    void need(size_t size, const char* what, int32_t token) const {
        if (bytes_.size() - pos_ < size) {
            throw FormatError(path_ + ": truncated llama2.c tokenizer: " + what + " of token " +
                              std::to_string(token) + " missing at byte " + std::to_string(pos_));
        }
    }

    const std::string& path_;
    std::string bytes_;
    size_t pos_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_llama2c(const std::string& path, int32_t vocab_size) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FormatError(path + ": cannot open");
    Reader reader(path, std::string(std::istreambuf_iterator<char>(in), {}));

    const auto max_token_length = reader.read<int32_t>("max_token_length", -1);
    if (max_token_length <= 0) {
        throw FormatError(path + ": not a llama2.c tokenizer (max_token_length " +
                          std::to_string(max_token_length) + ")");
    }

    Vocab vocab;
    // vocab_size <= 0: the count is not known; read tokens up to the end of the file.
    for (int32_t id = 0; vocab_size > 0 ? id < vocab_size : !reader.at_end(); ++id) {
        VocabToken token;
        token.score = reader.read<float>("score", id);
        const auto length = reader.read<int32_t>("length", id);
        if (length < 0 || length > max_token_length) {
            throw FormatError(path + ": token " + std::to_string(id) + " has length " +
                              std::to_string(length) + " (max_token_length " +
                              std::to_string(max_token_length) + ")");
        }
        const std::string piece = reader.read_string(static_cast<size_t>(length), id);
        if (id == 0) {
            token.text = "<unk>";
            token.type = TokenType::kUnknown;
        } else if (id == 1 || id == 2) {
            token.text = id == 1 ? "<s>" : "</s>";
            token.type = TokenType::kControl;
        } else if (is_byte_piece(piece)) {
            token.text = piece;
            token.type = TokenType::kByte;
        } else {
            token.text = escape_spm_spaces(piece);
        }
        vocab.tokens.push_back(std::move(token));
    }
    if (vocab.tokens.size() < 3) {
        throw FormatError(path + ": llama2.c tokenizer with only " +
                          std::to_string(vocab.tokens.size()) + " tokens");
    }
    vocab.unk_id = 0;
    vocab.bos_id = 1;
    vocab.eos_id = 2;
    vocab.add_bos = true;
    return std::make_unique<SpmTokenizer>(std::move(vocab), true);
}

}  // namespace llmopt
