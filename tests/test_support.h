// Paths of shared test data and scratch files, and small helpers for reading them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llmopt::test {

// ../shared beside the checkout (absolute path fixed at configure time).
std::string shared_path(const std::string& relative);
// A file name in this process's scratch directory under the build tree.
std::string scratch_path(const std::string& name);
std::string read_file(const std::string& path);
std::vector<float> read_f32(const std::string& path);
// Whitespace-separated integers (ids files); lines starting with '#' are skipped.
std::vector<int32_t> parse_ids(const std::string& text);

}  // namespace llmopt::test
