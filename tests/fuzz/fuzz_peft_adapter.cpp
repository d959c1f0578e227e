// PEFT LoRA adapters (plugins/llama/lora_adapter.cpp): adapter_config.json or
// adapter_model.safetensors of an adapter written for a tiny Llama replaced
// by the input (FolderFuzz), then read against that model's config, as
// `ralm model merge` and the llama plugin's `adapter:` do.
#include <memory>

#include "fuzz_support.hpp"
#include "lora_adapter.hpp"

namespace {

std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
ralm::llama::LlamaConfig config;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  config.vocab_size = 16;
  config.hidden_size = 8;
  config.intermediate_size = 12;
  config.num_layers = 2;
  config.num_heads = 2;
  config.num_kv_heads = 1;
  config.head_dim = 4;
  ralm::llama::LoraAdapter adapter;
  adapter.r = 2;
  adapter.lora_alpha = 4;
  adapter.target_modules = {ralm::llama::LoraTarget::q_proj, ralm::llama::LoraTarget::down_proj};
  for (std::int32_t layer = 0; layer < config.num_layers; ++layer) {
    for (const ralm::llama::LoraTarget target : adapter.target_modules) {
      const auto [out, in] = ralm::llama::lora_target_shape(config, target);
      ralm::llama::LoraFactors f;
      f.layer = layer;
      f.target = target;
      f.a.assign(static_cast<std::size_t>(adapter.r * in), 0.25f);
      f.b.assign(static_cast<std::size_t>(out * adapter.r), -0.5f);
      adapter.factors.push_back(std::move(f));
    }
  }
  adapter.lm_head.ids = {3, 7};
  adapter.lm_head.rows.assign(2 * static_cast<std::size_t>(config.hidden_size), 1.0f);
  const auto built = ralm::fuzz::work_dir() / "built" / "adapter";
  ralm::llama::write_peft_adapter(built, adapter, config);
  folder = ralm::fuzz::fuzz_folder(built, "adapter");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    const ralm::llama::LoraAdapter adapter = ralm::llama::read_peft_adapter(dir, config);
    (void)adapter.scale();
  });
}
