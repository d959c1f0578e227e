// Hugging Face config.json (plugins/common/llama_format/src/config.cpp): the
// input is the file, read as the llama plugin reads a checkpoint's, then the
// figures a load derives from it (parameter count, rotary frequencies).
#include "fuzz_support.hpp"
#include "ralm/llama_format/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = [] {
    const auto d = ralm::fuzz::work_dir() / "checkpoint";
    std::filesystem::create_directories(d);
    return d;
  }();
  ralm::fuzz::write_file(dir / "config.json", ralm::fuzz::text_of(data, size));
  return ralm::fuzz::expect_only_our_errors([&] {
    if (!ralm::llama::is_llama_checkpoint(dir)) return;
    const ralm::llama::LlamaConfig config = ralm::llama::read_llama_config(dir);
    (void)config.parameter_count();
    if (ralm::llama::rope_inverse_frequencies(config).size() != static_cast<std::size_t>(config.head_dim / 2))
      __builtin_trap();
  });
}
