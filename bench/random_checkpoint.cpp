// Writes a random-weight Hugging Face checkpoint of a named shape (the
// shapes of model_shapes.hpp) with the shipped model's tokenizer, so that a
// whole pipeline, `ralm serve` included, can run a model of that size:
//
//   build/bin/random_checkpoint --shape tinyllama --dtype bf16 --out /tmp/tinyllama-random
//
// The weights are uniform noise: the text is gibberish, the time is a real
// model's. Ids past the tokenizer's pieces exist in the model and decode to
// nothing.
#include <cstdio>
#include <filesystem>
#include <string>

#include "model_shapes.hpp"
#include "ralm/error.hpp"
#include "ralm/llama_format/checkpoint.hpp"
#include "ralm/llama_format/tokenizers.hpp"

int main(int argc, char** argv) {
  std::string shape = "tinyllama", dtype = "bf16", out;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--shape") {
      shape = v;
    } else if (a == "--dtype") {
      dtype = v;
    } else if (a == "--out") {
      out = v;
    } else {
      std::fprintf(stderr, "random_checkpoint: unknown argument %s (--shape, --dtype f32|bf16, --out DIR)\n",
                   a.c_str());
      return 2;
    }
  }
  if (out.empty() || (dtype != "f32" && dtype != "bf16")) {
    std::fprintf(stderr, "random_checkpoint: give --out DIR and --dtype f32 or bf16\n");
    return 2;
  }
  try {
    const ralm::bench::ModelShape s = ralm::bench::shape_named(shape);
    ralm::llama::LlamaConfig config = s.config;
    config.max_position_embeddings = 2048;
    const auto tokenizer = ralm::llama::make_tokenizer(RALM_SHIPPED_MODEL_DIR, config.vocab_size,
                                                       config.bos_token_id, config.eos_token_id);
    ralm::llama::save_llama_checkpoint(
        out, config, ralm::bench::fast_random_weights(config), *tokenizer, {},
        dtype == "bf16" ? ralm::safetensors::DType::BF16 : ralm::safetensors::DType::F32,
        /*overwrite=*/true);
  } catch (const ralm::Error& e) {
    std::fprintf(stderr, "random_checkpoint: %s\n", e.what());
    return 2;
  }
  std::printf("%s: random %s weights of shape %s\n", out.c_str(), dtype.c_str(), shape.c_str());
  return 0;
}
