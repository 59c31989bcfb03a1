// GGUF (v1, v2, v3) reader with strict validation, and a GGUF v3 writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmopt/tensor/dtype.h"

namespace llmopt {

class MappedFile;

enum class GgufType : uint32_t {
    kUint8 = 0,
    kInt8 = 1,
    kUint16 = 2,
    kInt16 = 3,
    kUint32 = 4,
    kInt32 = 5,
    kFloat32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kUint64 = 10,
    kInt64 = 11,
    kFloat64 = 12,
};

// One metadata value. Scalars keep their exact integer value; arrays are stored by kind:
// strings in `strings`, every numeric or bool element type in `numbers` (as double) and, for
// integer element types, exactly in `integers`.
struct GgufValue {
    GgufType type = GgufType::kUint32;
    GgufType array_type = GgufType::kUint8;  // element type when type == kArray
    int64_t integer = 0;                      // integer and bool scalars (uint64 reinterpreted)
    double number = 0;                        // every numeric scalar, as double
    std::string string;
    std::vector<std::string> strings;
    std::vector<double> numbers;
    std::vector<int64_t> integers;

    bool is_array() const { return type == GgufType::kArray; }
    size_t array_size() const;
};

struct GgufTensorInfo {
    std::string name;
    DType type = DType::kF32;
    std::vector<int64_t> dims;  // ggml order: dims[0] is the row length (contiguous)
    uint64_t offset = 0;        // from the start of the data section
    const uint8_t* data = nullptr;
    size_t nbytes = 0;

    int64_t n_elements() const;
    int64_t n_rows() const { return dims.empty() ? 1 : n_elements() / dims[0]; }
};

class GgufFile {
public:
    // Maps and parses the file; throws FormatError naming the file and the first problem found.
    explicit GgufFile(const std::string& path);
    // Parses a buffer the caller keeps alive (used by the fuzzer and tests).
    GgufFile(const uint8_t* data, size_t size, std::string name);
    ~GgufFile();
    GgufFile(GgufFile&&) noexcept;

    const std::string& name() const { return name_; }
    uint32_t version() const { return version_; }
    size_t alignment() const { return alignment_; }
    size_t file_size() const { return size_; }

    const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;    // any integer type
    std::optional<double> get_float(std::string_view key) const;   // any numeric type
    std::optional<bool> get_bool(std::string_view key) const;
    // Array accessors return nullptr when the key is absent; throw when it has the wrong type.
    const std::vector<std::string>* get_strings(std::string_view key) const;
    const std::vector<double>* get_numbers(std::string_view key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    // Gives back the mapped pages of [p, p + n), bytes of the file no longer read (a no-op for
    // a caller's buffer).
    void release(const uint8_t* p, size_t n) const;

private:
    void parse(const uint8_t* data, size_t size);

    std::string name_;
    std::unique_ptr<MappedFile> map_;
    size_t size_ = 0;
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    std::map<std::string, GgufValue, std::less<>> metadata_;
    std::vector<GgufTensorInfo> tensors_;
};

// Builds a GGUF v3 file in memory order: metadata, tensor infos, aligned tensor data.
class GgufWriter {
public:
    void set(std::string key, GgufValue value);
    void set_string(std::string key, std::string value);
    void set_u32(std::string key, uint32_t value);
    void set_i32(std::string key, int32_t value);
    void set_f32(std::string key, float value);
    void set_bool(std::string key, bool value);
    void set_strings(std::string key, std::vector<std::string> values);
    void set_f32s(std::string key, const std::vector<float>& values);
    void set_i32s(std::string key, const std::vector<int32_t>& values);
    // Copies every key of `src` (except general.alignment, which the writer owns).
    void copy_metadata(const GgufFile& src);

    // The bytes are copied; dims in ggml order.
    void add_tensor(std::string name, DType type, std::vector<int64_t> dims, const void* data,
                    size_t nbytes);

    // Writes to `path` through a temporary file renamed into place; throws Error on I/O failure.
    void write(const std::string& path) const;

private:
    struct Tensor {
        std::string name;
        DType type;
        std::vector<int64_t> dims;
        std::vector<uint8_t> bytes;
    };
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::vector<Tensor> tensors_;
    size_t alignment_ = 32;
};

}  // namespace llmopt
