// Regex pre-tokenization for byte-level BPE: the text is cut into words before merging.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llmopt {

// Applies regexes one after another; each cuts every current piece into its matches and the
// text between them (Hugging Face's Split with behaviour "Isolated"), so no byte is lost.
class PreTokenizer {
  public:
    // Throws FormatError naming the pattern when one does not compile.
    explicit PreTokenizer(const std::vector<std::string>& patterns);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // Pieces are views into `text`, in order; their concatenation is `text`.
    std::vector<std::string_view> split(std::string_view text) const;

  private:
    struct Regex;
    std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace llmopt
