#include "ralm/llama_format/sentencepiece_vocab.hpp"

#include <bit>

#include "ralm/error.hpp"

namespace ralm::llama {
namespace {

// Protocol buffers' wire format, as much of it as a ModelProto needs.
class ProtoWriter {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void tag(int field, int wire_type) {
    varint(static_cast<std::uint64_t>(field) << 3 | static_cast<unsigned>(wire_type));
  }
  void integer(int field, std::int64_t v) {
    tag(field, 0);
    varint(static_cast<std::uint64_t>(v));  // negative ids are ten bytes, as protobuf writes int32
  }
  void boolean(int field, bool v) { integer(field, v ? 1 : 0); }
  void float32(int field, float v) {
    tag(field, 5);
    const auto bits = std::bit_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i)
      out_.push_back(static_cast<char>(bits >> (8 * i)));
  }
  void bytes(int field, const std::string& v) {
    tag(field, 2);
    varint(v.size());
    out_ += v;
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// sentencepiece_model.proto's field numbers.
namespace field {
constexpr int pieces = 1, trainer_spec = 2, normalizer_spec = 3;
constexpr int piece = 1, score = 2, type = 3;
constexpr int model_type = 3, vocab_size = 4, byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42,
              pad_id = 43;
constexpr int name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5;
}  // namespace field
constexpr int kBpe = 2;

}  // namespace

std::string sentencepiece_model_proto(const SentencePieceVocab& v) {
  if (v.scores.size() != v.pieces.size() || v.types.size() != v.pieces.size())
    throw InputError("SentencePiece vocabulary: " + std::to_string(v.pieces.size()) + " pieces but " +
                     std::to_string(v.scores.size()) + " scores and " + std::to_string(v.types.size()) +
                     " types");
  ProtoWriter model;
  bool has_bytes = false;
  for (std::size_t i = 0; i < v.pieces.size(); ++i) {
    ProtoWriter p;
    p.bytes(field::piece, v.pieces[i]);
    p.float32(field::score, v.scores[i]);
    p.integer(field::type, static_cast<std::int32_t>(v.types[i]));
    model.bytes(field::pieces, p.str());
    has_bytes = has_bytes || v.types[i] == PieceType::byte;
  }
  ProtoWriter trainer;
  trainer.integer(field::model_type, kBpe);
  trainer.integer(field::vocab_size, static_cast<std::int64_t>(v.pieces.size()));
  trainer.boolean(field::byte_fallback, has_bytes);
  trainer.integer(field::unk_id, v.unk);
  trainer.integer(field::bos_id, v.bos);
  trainer.integer(field::eos_id, v.eos);
  trainer.integer(field::pad_id, -1);
  model.bytes(field::trainer_spec, trainer.str());
  ProtoWriter normalizer;
  normalizer.bytes(field::name, "identity");
  normalizer.boolean(field::add_dummy_prefix, v.add_dummy_prefix);
  normalizer.boolean(field::remove_extra_whitespaces, v.remove_extra_whitespaces);
  normalizer.boolean(field::escape_whitespaces, true);
  model.bytes(field::normalizer_spec, normalizer.str());
  return model.str();
}

}  // namespace ralm::llama
