// GGUF files (plugins/common/gguf, plugins/llama/gguf_model.cpp): the input is
// the file, parsed and every metadata value printed as `ralm model info` does;
// a file that parses is then loaded as a llama model (context capped at 64
// tokens, so a file's claimed context length allocates nothing large).
#include <cstdlib>

#include "byte_tokenizer.hpp"
#include "fuzz_support.hpp"
#include "gguf_export.hpp"
#include "gguf_model.hpp"
#include "ralm/gguf/gguf_file.hpp"
#include "ralm/llama_format/weights.hpp"

namespace {

// Seeds a model load gets through: a 1-layer Llama small enough for
// libFuzzer's input sizes, with the byte tokenizer (no vocabulary in the
// file) in q8_0, and with the SentencePiece vocabulary of the q4_0 fixture.
void write_model_seeds(const std::filesystem::path& out) {
  std::filesystem::create_directories(out);
  ralm::llama::LlamaConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 32;
  c.num_layers = 1;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  const ralm::test::ByteTokenizer bytes;
  c.vocab_size = bytes.vocab_size();
  ralm::llama::save_gguf_model(out / "byte_vocab_q8_0.gguf", c, ralm::llama::random_llama_weights(c, 1),
                               bytes, {}, "q8_0", true, 1);
  const auto fixture = ralm::llama::load_gguf_model(RALM_SOURCE_DIR "/tests/fixtures/gguf/tiny-q4_0.gguf", 1,
                                                    64, std::nullopt);
  c.vocab_size = fixture->tokenizer().vocab_size();
  ralm::llama::save_gguf_model(out / "sentencepiece_q4_0.gguf", c, ralm::llama::random_llama_weights(c, 2),
                               fixture->tokenizer(), {}, "q4_0", true, 1);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  if (const char* out = std::getenv("RALM_FUZZ_WRITE_SEEDS"); out && *out) write_model_seeds(out);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file = ralm::fuzz::work_dir() / "model.gguf";
  ralm::fuzz::write_file(file, ralm::fuzz::text_of(data, size));
  return ralm::fuzz::expect_only_our_errors([&] {
    {
      const ralm::gguf::File gguf(file);
      for (const auto& [key, value] : gguf.metadata())
        (void)value.to_string();
      for (const auto& tensor : gguf.tensors())
        if (tensor.bytes > gguf.file_bytes()) __builtin_trap();
    }
    (void)ralm::llama::load_gguf_model(file, 1, 64, std::nullopt);
  });
}
