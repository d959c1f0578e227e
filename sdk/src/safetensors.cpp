#include "ralm/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/mapped_file.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::safetensors {

namespace fs = std::filesystem;
using nlohmann::json;

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
  }
  return "?";
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::size_t dtype_size(DType dtype) {
  return dtype == DType::F32 ? 4 : 2;
}

std::int64_t TensorView::elements() const {
  std::int64_t n = 1;
  for (auto d : shape)
    n *= d;
  return n;
}

namespace {

float bf16_to_f32(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t f32_to_bf16(float f) {  // round to nearest even
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

DType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  throw InputError(where + ": unsupported dtype " + s + "; only F32, F16 and BF16 tensors are read");
}

}  // namespace

std::vector<float> TensorView::to_f32() const {
  const auto n = static_cast<std::size_t>(elements());
  std::vector<float> out(n);
  if (dtype == DType::F32) {
    std::memcpy(out.data(), data, n * 4);
    return out;
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::uint16_t h;
    std::memcpy(&h, data + 2 * i, 2);
    out[i] = dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
  return out;
}

File::File(const fs::path& file) : map_(std::make_unique<MappedFile>(file)) {
  const std::string name = file.string();
  const std::size_t size = map_->size();
  if (size < 8) {
    throw InputError(name + ": truncated safetensors file: " + std::to_string(size) +
                     " bytes, shorter than its 8-byte header length");
  }
  const auto* bytes = reinterpret_cast<const std::byte*>(map_->bytes());
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);  // little-endian, as is this machine
  if (header_len > size - 8) {
    throw InputError(name + ": truncated safetensors file: its header claims " + std::to_string(header_len) +
                     " bytes but the file has " + std::to_string(size - 8) + " after the length");
  }
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(bytes + 8),
                         reinterpret_cast<const char*>(bytes + 8 + header_len));
  } catch (const json::exception& e) {
    throw InputError(name + ": the safetensors header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw InputError(name + ": the safetensors header is not a JSON object");
  const std::byte* data = bytes + 8 + header_len;
  const std::size_t data_size = size - 8 - header_len;
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") continue;
    const std::string where = name + ": tensor " + key;
    try {
      TensorView t;
      t.name = key;
      t.file = name;
      t.dtype = parse_dtype(entry.at("dtype").get<std::string>(), where);
      t.shape = entry.at("shape").get<std::vector<std::int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1]) {
        throw InputError(where + ": data_offsets must be [begin, end] with begin <= end");
      }
      if (offsets[1] > data_size) {
        throw InputError(where + ": data_offsets end " + std::to_string(offsets[1]) +
                         " is past the end of the data (" + std::to_string(data_size) +
                         " bytes); the file is truncated or corrupt");
      }
      for (auto d : t.shape) {
        if (d < 0) throw InputError(where + ": negative dimension in its shape");
      }
      t.data = data + offsets[0];
      t.bytes = offsets[1] - offsets[0];
      if (t.bytes != static_cast<std::size_t>(t.elements()) * dtype_size(t.dtype)) {
        throw InputError(where + ": holds " + std::to_string(t.bytes) +
                         " bytes, but its shape and dtype need " +
                         std::to_string(static_cast<std::size_t>(t.elements()) * dtype_size(t.dtype)));
      }
      tensors_.emplace(key, std::move(t));
    } catch (const json::exception& e) {
      throw InputError(where + ": malformed header entry: " + e.what());
    }
  }
}

File::~File() = default;

Checkpoint::Checkpoint(const fs::path& dir) : dir_(dir) {
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  std::vector<fs::path> shards;
  if (fs::exists(index)) {
    json j;
    try {
      std::ifstream in(index);
      j = json::parse(in);
      std::vector<std::string> names;
      for (const auto& [tensor, shard] : j.at("weight_map").items()) {
        const std::string s = shard.get<std::string>();
        if (std::find(names.begin(), names.end(), s) == names.end()) names.push_back(s);
      }
      for (const auto& s : names)
        shards.push_back(dir / s);
    } catch (const json::exception& e) {
      throw InputError(index.string() + ": malformed index: " + e.what());
    }
  } else if (fs::exists(single)) {
    shards.push_back(single);
  } else {
    throw InputError(dir.string() +
                     ": no model.safetensors or model.safetensors.index.json; give a Hugging Face "
                     "checkpoint folder that holds its weights");
  }
  for (const fs::path& shard : shards) {
    if (!fs::exists(shard)) throw InputError(shard.string() + ": shard listed in the index is missing");
    files_.push_back(std::make_unique<File>(shard));
    for (const auto& [name, view] : files_.back()->tensors())
      index_[name] = &view;
  }
}

bool Checkpoint::has(const std::string& name) const {
  return index_.count(name) > 0;
}

const TensorView& Checkpoint::get(const std::string& name, const std::vector<std::int64_t>& shape,
                                  std::string_view shape_source) const {
  const auto it = index_.find(name);
  if (it == index_.end()) throw InputError(describe() + ": missing tensor " + name);
  const TensorView& t = *it->second;
  if (t.shape != shape) {
    throw InputError(t.file + ": tensor " + name + " has shape " + shape_text(t.shape) + ", but " +
                     std::string(shape_source) + " implies " + shape_text(shape));
  }
  return t;
}

std::string Checkpoint::describe() const {
  if (files_.size() == 1) return (dir_ / "model.safetensors").string();
  return (dir_ / "model.safetensors.index.json").string();
}

void write_file(const fs::path& file, const std::vector<TensorToWrite>& tensors) {
  // transformers' and PEFT's loaders check format "pt" (they reject other formats).
  json header = {{"__metadata__", {{"format", "pt"}}}};
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::uint64_t bytes = t.values.size() * dtype_size(t.dtype);
    header[t.name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0)
    text.push_back(' ');  // aligned data, as Hugging Face writes it
  write_file_atomically(file, [&](std::ostream& out) {
    const std::uint64_t len = text.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors) {
      if (t.dtype == DType::F32) {
        out.write(reinterpret_cast<const char*>(t.values.data()),
                  static_cast<std::streamsize>(t.values.size() * 4));
      } else if (t.dtype == DType::BF16) {
        for (float v : t.values) {
          const std::uint16_t h = f32_to_bf16(v);
          out.write(reinterpret_cast<const char*>(&h), 2);
        }
      } else {
        throw Error("safetensors::write_file: writing F16 is not supported");
      }
    }
  });
}

}  // namespace ralm::safetensors
