// Paths of shared test data and scratch files.
#include "test_support.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace llmopt::test {

std::string shared_path(const std::string& relative) {
    return std::string(LLMOPT_SHARED_DIR) + "/" + relative;
}

std::string scratch_path(const std::string& name) {
    // CTest runs test cases as parallel processes: each gets a directory of its own, removed
    // when the process exits so that repeated runs do not fill the build tree.
    struct ScratchDir {
        std::string path = std::string(LLMOPT_SCRATCH_DIR) + "/scratch-" + std::to_string(getpid());
        ScratchDir() { std::filesystem::create_directories(path); }
        ~ScratchDir() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const ScratchDir dir;
    return dir.path + "/" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::vector<float> read_f32(const std::string& path) {
    const std::string bytes = read_file(path);
    std::vector<float> values(bytes.size() / sizeof(float));
    std::copy(bytes.data(), bytes.data() + values.size() * sizeof(float),
              reinterpret_cast<char*>(values.data()));
    return values;
}

std::vector<int32_t> parse_ids(const std::string& text) {
    std::vector<int32_t> ids;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line[0] == '#') continue;
        std::istringstream words(line);
        long long v;
        while (words >> v) ids.push_back(static_cast<int32_t>(v));
    }
    return ids;
}

}  // namespace llmopt::test
