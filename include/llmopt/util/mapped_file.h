// Read-only memory map of a whole file (weights are used in place from the map).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace llmopt {

class MappedFile {
public:
    // Throws FormatError naming the path when the file cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Gives back the pages wholly inside [p, p + n) (a part of the map no longer read); they
    // are read from the file again if touched.
    void release(const uint8_t* p, size_t n) const;

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace llmopt
