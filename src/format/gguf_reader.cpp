// GGUF reader: parses v1/v2/v3 headers with every length and offset checked against the file.
#include <cstring>
#include <limits>
#include <set>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"
#include "llmopt/util/mapped_file.h"

namespace llmopt {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kMaxDims = 4;
constexpr uint64_t kMaxStringBytes = 1u << 30;

// Bounds-checked little-endian cursor over the header bytes.
class Cursor {
public:
    Cursor(const uint8_t* data, size_t size, const std::string& name, uint32_t version)
        : data_(data), size_(size), name_(name), version_(version) {}

    size_t position() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }
    void set_version(uint32_t v) { version_ = v; }

    [[noreturn]] void fail(const std::string& what) const {
        throw FormatError(name_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
    }

    template <typename T>
    T read() {
        if (remaining() < sizeof(T)) fail("file truncated");
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    // Counts and lengths are 32-bit in GGUF v1 and 64-bit from v2 on.
    uint64_t read_count() { return version_ == 1 ? read<uint32_t>() : read<uint64_t>(); }

    std::string read_string() {
        const uint64_t n = read_count();
        if (n > remaining() || n > kMaxStringBytes)
            fail("string length " + std::to_string(n) + " exceeds the file");
        std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return s;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    const std::string& name_;
    uint32_t version_;
};

size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::kUint8:
        case GgufType::kInt8:
        case GgufType::kBool: return 1;
        case GgufType::kUint16:
        case GgufType::kInt16: return 2;
        case GgufType::kUint32:
        case GgufType::kInt32:
        case GgufType::kFloat32: return 4;
        case GgufType::kUint64:
        case GgufType::kInt64:
        case GgufType::kFloat64: return 8;
        default: return 0;
    }
}

bool is_integer(GgufType t) {
    return t != GgufType::kFloat32 && t != GgufType::kFloat64 && scalar_size(t) != 0;
}

// Reads one numeric or bool scalar; returns it as (exact integer, double).
std::pair<int64_t, double> read_scalar(Cursor& c, GgufType t) {
    switch (t) {
        case GgufType::kUint8: { auto v = c.read<uint8_t>(); return {v, double(v)}; }
        case GgufType::kInt8: { auto v = c.read<int8_t>(); return {v, double(v)}; }
        case GgufType::kUint16: { auto v = c.read<uint16_t>(); return {v, double(v)}; }
        case GgufType::kInt16: { auto v = c.read<int16_t>(); return {v, double(v)}; }
        case GgufType::kUint32: { auto v = c.read<uint32_t>(); return {v, double(v)}; }
        case GgufType::kInt32: { auto v = c.read<int32_t>(); return {v, double(v)}; }
        case GgufType::kUint64: { auto v = c.read<uint64_t>(); return {int64_t(v), double(v)}; }
        case GgufType::kInt64: { auto v = c.read<int64_t>(); return {v, double(v)}; }
        case GgufType::kFloat32: { auto v = c.read<float>(); return {int64_t(v), double(v)}; }
        case GgufType::kFloat64: { auto v = c.read<double>(); return {int64_t(v), v}; }
        case GgufType::kBool: {
            auto v = c.read<uint8_t>();
            if (v > 1) c.fail("bool value " + std::to_string(v));
            return {v, double(v)};
        }
        default: c.fail("value type " + std::to_string(uint32_t(t)) + " is not a scalar");
    }
}

GgufValue read_value(Cursor& c, GgufType type) {
    GgufValue v;
    v.type = type;
    if (type == GgufType::kString) {
        v.string = c.read_string();
    } else if (type == GgufType::kArray) {
        const uint32_t elem = c.read<uint32_t>();
        v.array_type = static_cast<GgufType>(elem);
        const uint64_t n = c.read_count();
        if (v.array_type == GgufType::kString) {
            // Each string needs at least its length field.
            if (n > c.remaining() / 4) c.fail("array of " + std::to_string(n) + " strings exceeds the file");
            v.strings.reserve(n);
            for (uint64_t i = 0; i < n; ++i) v.strings.push_back(c.read_string());
        } else {
            const size_t width = scalar_size(v.array_type);
            if (width == 0) c.fail("unsupported array element type " + std::to_string(elem));
            if (n > c.remaining() / width) c.fail("array of " + std::to_string(n) + " elements exceeds the file");
            v.numbers.reserve(n);
            if (is_integer(v.array_type)) v.integers.reserve(n);
            for (uint64_t i = 0; i < n; ++i) {
                auto [integer, number] = read_scalar(c, v.array_type);
                v.numbers.push_back(number);
                if (is_integer(v.array_type)) v.integers.push_back(integer);
            }
        }
    } else {
        auto [integer, number] = read_scalar(c, type);
        v.integer = integer;
        v.number = number;
    }
    return v;
}

}  // namespace

size_t GgufValue::array_size() const {
    return array_type == GgufType::kString ? strings.size() : numbers.size();
}

int64_t GgufTensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
}

GgufFile::GgufFile(const std::string& path) : name_(path) {
    map_ = std::make_unique<MappedFile>(path);
    parse(map_->data(), map_->size());
}

GgufFile::GgufFile(const uint8_t* data, size_t size, std::string name) : name_(std::move(name)) {
    parse(data, size);
}

GgufFile::~GgufFile() = default;
GgufFile::GgufFile(GgufFile&&) noexcept = default;

void GgufFile::parse(const uint8_t* data, size_t size) {
    size_ = size;
    Cursor c(data, size, name_, 3);
    if (size < 4 || c.read<uint32_t>() != kMagic) c.fail("not a GGUF file (bad magic)");
    version_ = c.read<uint32_t>();
    if (version_ == 0 || version_ > 3) {
        if ((version_ & 0xffff) == 0) c.fail("big-endian GGUF files are not supported");
        c.fail("unsupported GGUF version " + std::to_string(version_));
    }
    c.set_version(version_);
    const uint64_t n_tensors = c.read_count();
    const uint64_t n_kv = c.read_count();
    // A key-value pair takes at least 12 bytes, a tensor info at least 24.
    if (n_kv > c.remaining() / 12) c.fail("metadata count " + std::to_string(n_kv) + " exceeds the file");
    if (n_tensors > c.remaining() / 24) c.fail("tensor count " + std::to_string(n_tensors) + " exceeds the file");

    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string key = c.read_string();
        const auto type = static_cast<GgufType>(c.read<uint32_t>());
        if (type != GgufType::kString && type != GgufType::kArray && scalar_size(type) == 0)
            c.fail("key '" + key + "' has unknown value type " + std::to_string(uint32_t(type)));
        GgufValue value = read_value(c, type);
        if (!metadata_.emplace(key, std::move(value)).second) c.fail("duplicate key '" + key + "'");
    }

    if (const GgufValue* a = find("general.alignment")) {
        if (a->is_array() || a->type == GgufType::kString || a->integer <= 0 ||
            (a->integer & (a->integer - 1)) != 0 || a->integer > (1 << 20))
            c.fail("general.alignment must be a power of two");
        alignment_ = static_cast<size_t>(a->integer);
    }

    std::set<std::string, std::less<>> names;
    tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        t.name = c.read_string();
        const uint32_t n_dims = c.read<uint32_t>();
        if (n_dims == 0 || n_dims > kMaxDims)
            c.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions");
        int64_t n_elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t dim = c.read_count();
            if (dim == 0 || dim > uint64_t(std::numeric_limits<int64_t>::max()) / uint64_t(n_elements))
                c.fail("tensor '" + t.name + "' has an invalid or overflowing shape");
            n_elements *= int64_t(dim);
            t.dims.push_back(int64_t(dim));
        }
        const uint32_t type_id = c.read<uint32_t>();
        const auto dinfo = dtype_info(type_id);
        if (!dinfo) c.fail("tensor '" + t.name + "' has unsupported type id " + std::to_string(type_id));
        t.type = static_cast<DType>(type_id);
        if (t.dims[0] % dinfo->block_elems != 0)
            c.fail("tensor '" + t.name + "' row length " + std::to_string(t.dims[0]) +
                   " is not a multiple of the " + std::string(dinfo->name) + " block size");
        const uint64_t blocks = uint64_t(n_elements / dinfo->block_elems);
        if (blocks > std::numeric_limits<uint64_t>::max() / uint64_t(dinfo->block_bytes))
            c.fail("tensor '" + t.name + "' size overflows");
        t.nbytes = blocks * dinfo->block_bytes;
        t.offset = c.read<uint64_t>();
        if (t.offset % alignment_ != 0) c.fail("tensor '" + t.name + "' offset is not aligned");
        if (!names.insert(t.name).second) c.fail("duplicate tensor '" + t.name + "'");
        tensors_.push_back(std::move(t));
    }

    const size_t data_start = (c.position() + alignment_ - 1) / alignment_ * alignment_;
    if (data_start > size && !tensors_.empty()) c.fail("tensor data section starts past the end of the file");
    const size_t data_size = data_start <= size ? size - data_start : 0;
    for (GgufTensorInfo& t : tensors_) {
        if (t.offset > data_size || t.nbytes > data_size - t.offset)
            throw FormatError(name_ + ": tensor '" + t.name + "' data (offset " +
                              std::to_string(t.offset) + ", " + std::to_string(t.nbytes) +
                              " bytes) lies past the end of the file");
        t.data = data + data_start + t.offset;
    }
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufType::kString) throw FormatError(name_ + ": key '" + std::string(key) + "' is not a string");
    return v->string;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!is_integer(v->type)) throw FormatError(name_ + ": key '" + std::string(key) + "' is not an integer");
    return v->integer;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (scalar_size(v->type) == 0) throw FormatError(name_ + ": key '" + std::string(key) + "' is not a number");
    return v->number;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (scalar_size(v->type) == 0) throw FormatError(name_ + ": key '" + std::string(key) + "' is not a bool");
    return v->integer != 0;
}

const std::vector<std::string>* GgufFile::get_strings(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return nullptr;
    if (!v->is_array() || v->array_type != GgufType::kString)
        throw FormatError(name_ + ": key '" + std::string(key) + "' is not an array of strings");
    return &v->strings;
}

const std::vector<double>* GgufFile::get_numbers(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return nullptr;
    if (!v->is_array() || v->array_type == GgufType::kString)
        throw FormatError(name_ + ": key '" + std::string(key) + "' is not a numeric array");
    return &v->numbers;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    for (const GgufTensorInfo& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

void GgufFile::release(const uint8_t* p, size_t n) const {
    if (map_) map_->release(p, n);
}

}  // namespace llmopt
