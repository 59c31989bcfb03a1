// GGUF v3 writer: metadata, tensor infos and aligned tensor data, renamed into place.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "llmopt/format/gguf.h"
#include "llmopt/util/error.h"

namespace llmopt {
namespace {

class ByteSink {
public:
    explicit ByteSink(std::ofstream& out) : out_(out) {}
    template <typename T>
    void put(T v) {
        out_.write(reinterpret_cast<const char*>(&v), sizeof(T));
        written_ += sizeof(T);
    }
    void put_bytes(const void* p, size_t n) {
        out_.write(static_cast<const char*>(p), std::streamsize(n));
        written_ += n;
    }
    void put_string(const std::string& s) {
        put<uint64_t>(s.size());
        put_bytes(s.data(), s.size());
    }
    void pad_to(size_t alignment) {
        static const char zeros[64] = {};
        while (written_ % alignment != 0) put_bytes(zeros, std::min(alignment - written_ % alignment, sizeof zeros));
    }
    size_t written() const { return written_; }

private:
    std::ofstream& out_;
    size_t written_ = 0;
};

void put_scalar(ByteSink& s, GgufType t, int64_t integer, double number) {
    switch (t) {
        case GgufType::kUint8: s.put<uint8_t>(uint8_t(integer)); break;
        case GgufType::kInt8: s.put<int8_t>(int8_t(integer)); break;
        case GgufType::kBool: s.put<uint8_t>(integer != 0); break;
        case GgufType::kUint16: s.put<uint16_t>(uint16_t(integer)); break;
        case GgufType::kInt16: s.put<int16_t>(int16_t(integer)); break;
        case GgufType::kUint32: s.put<uint32_t>(uint32_t(integer)); break;
        case GgufType::kInt32: s.put<int32_t>(int32_t(integer)); break;
        case GgufType::kUint64: s.put<uint64_t>(uint64_t(integer)); break;
        case GgufType::kInt64: s.put<int64_t>(integer); break;
        case GgufType::kFloat32: s.put<float>(float(number)); break;
        case GgufType::kFloat64: s.put<double>(number); break;
        default: throw Error("GGUF writer: bad scalar type");
    }
}

bool is_float(GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; }

void put_value(ByteSink& s, const GgufValue& v) {
    s.put<uint32_t>(uint32_t(v.type));
    if (v.type == GgufType::kString) {
        s.put_string(v.string);
    } else if (v.type == GgufType::kArray) {
        s.put<uint32_t>(uint32_t(v.array_type));
        if (v.array_type == GgufType::kString) {
            s.put<uint64_t>(v.strings.size());
            for (const std::string& str : v.strings) s.put_string(str);
        } else {
            s.put<uint64_t>(v.numbers.size());
            const bool exact = !is_float(v.array_type) && v.integers.size() == v.numbers.size();
            for (size_t i = 0; i < v.numbers.size(); ++i)
                put_scalar(s, v.array_type, exact ? v.integers[i] : int64_t(v.numbers[i]), v.numbers[i]);
        }
    } else {
        put_scalar(s, v.type, v.integer, v.number);
    }
}

GgufValue scalar(GgufType t, int64_t integer, double number) {
    GgufValue v;
    v.type = t;
    v.integer = integer;
    v.number = number;
    return v;
}

}  // namespace

void GgufWriter::set(std::string key, GgufValue value) {
    for (auto& [k, v] : metadata_)
        if (k == key) {
            v = std::move(value);
            return;
        }
    metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::set_string(std::string key, std::string value) {
    GgufValue v;
    v.type = GgufType::kString;
    v.string = std::move(value);
    set(std::move(key), std::move(v));
}

void GgufWriter::set_u32(std::string key, uint32_t value) { set(std::move(key), scalar(GgufType::kUint32, value, value)); }
void GgufWriter::set_i32(std::string key, int32_t value) { set(std::move(key), scalar(GgufType::kInt32, value, value)); }
void GgufWriter::set_f32(std::string key, float value) { set(std::move(key), scalar(GgufType::kFloat32, 0, value)); }
void GgufWriter::set_bool(std::string key, bool value) { set(std::move(key), scalar(GgufType::kBool, value, value)); }

void GgufWriter::set_strings(std::string key, std::vector<std::string> values) {
    GgufValue v;
    v.type = GgufType::kArray;
    v.array_type = GgufType::kString;
    v.strings = std::move(values);
    set(std::move(key), std::move(v));
}

void GgufWriter::set_f32s(std::string key, const std::vector<float>& values) {
    GgufValue v;
    v.type = GgufType::kArray;
    v.array_type = GgufType::kFloat32;
    v.numbers.assign(values.begin(), values.end());
    set(std::move(key), std::move(v));
}

void GgufWriter::set_i32s(std::string key, const std::vector<int32_t>& values) {
    GgufValue v;
    v.type = GgufType::kArray;
    v.array_type = GgufType::kInt32;
    v.numbers.assign(values.begin(), values.end());
    v.integers.assign(values.begin(), values.end());
    set(std::move(key), std::move(v));
}

void GgufWriter::copy_metadata(const GgufFile& src) {
    for (const auto& [key, value] : src.metadata())
        if (key != "general.alignment") set(key, value);
}

void GgufWriter::add_tensor(std::string name, DType type, std::vector<int64_t> dims,
                            const void* data, size_t nbytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    tensors_.push_back({std::move(name), type, std::move(dims), std::vector<uint8_t>(p, p + nbytes)});
}

void GgufWriter::write(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error("cannot write " + tmp);
        ByteSink s(out);
        s.put<uint32_t>(0x46554747);
        s.put<uint32_t>(3);
        s.put<uint64_t>(tensors_.size());
        s.put<uint64_t>(metadata_.size() + 1);
        s.put_string("general.alignment");
        put_value(s, scalar(GgufType::kUint32, int64_t(alignment_), double(alignment_)));
        for (const auto& [key, value] : metadata_) {
            s.put_string(key);
            put_value(s, value);
        }
        uint64_t offset = 0;
        for (const Tensor& t : tensors_) {
            s.put_string(t.name);
            s.put<uint32_t>(uint32_t(t.dims.size()));
            for (int64_t d : t.dims) s.put<uint64_t>(uint64_t(d));
            s.put<uint32_t>(uint32_t(t.type));
            s.put<uint64_t>(offset);
            offset += (t.bytes.size() + alignment_ - 1) / alignment_ * alignment_;
        }
        s.pad_to(alignment_);
        for (const Tensor& t : tensors_) {
            s.put_bytes(t.bytes.data(), t.bytes.size());
            s.pad_to(alignment_);
        }
        if (!out.flush()) throw Error("cannot write " + tmp + " (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace llmopt
