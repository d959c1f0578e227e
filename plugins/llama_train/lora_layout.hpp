// LoRA's trainable parameters in one flat buffer: for each layer and each
// target module an A (r × in) and a B (out × r), and optionally the
// embedding rows of chosen token ids (FlashBack trains only its two marking
// tokens' rows). Named as PEFT names them, so the adapter a trainer writes
// loads in PEFT and in the llama plugin.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "param_layout.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/types.hpp"

namespace ralm::llama_train {

// The linear layers LoRA can adapt, in PEFT's names.
inline constexpr std::array<const char*, 7> kLoraModules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                            "gate_proj", "up_proj", "down_proj"};
enum LoraModule : int { kQ = 0, kK, kV, kO, kGate, kUp, kDown };

struct LoraConfig {
  std::int32_t r = 16;
  double alpha = 32.0;
  double dropout = 0.05;
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  std::vector<TokenId> trainable_tokens;  // embedding rows trained (tied: the output rows too)
  double scale() const { return alpha / r; }
};

class LoraLayout {
 public:
  struct Site {
    bool on = false;
    std::size_t a = 0, b = 0;  // offsets of A (r × in) and B (out × r)
    std::int64_t out = 0, in = 0;
  };

  // An unknown module or a token id outside the vocabulary is an InputError.
  LoraLayout(const llama::LlamaConfig& config, LoraConfig lora);

  const LoraConfig& config() const { return lora_; }
  const Site& site(std::int32_t layer, int module) const {
    return sites_[static_cast<std::size_t>(layer) * kLoraModules.size() + static_cast<std::size_t>(module)];
  }
  std::size_t token_rows() const { return token_rows_; }  // offset of the rows, ids × hidden
  // The index of `id` among the trainable tokens, or -1.
  std::int64_t token_index(TokenId id) const;
  std::size_t total() const { return total_; }
  // PEFT's names and shapes (A, B, then the token rows).
  const std::vector<ParamTensor>& tensors() const { return tensors_; }

  // PEFT's initialisation: A uniform in ±1/sqrt(in) (Kaiming-uniform with
  // a = sqrt(5)), B zero, so training starts from the base model; the token
  // rows start as the base embedding's rows.
  std::vector<float> initial(std::uint64_t seed, const float* base, const ParamLayout& base_layout) const;

 private:
  LoraConfig lora_;
  std::int64_t hidden_ = 0;
  std::vector<Site> sites_;
  std::vector<ParamTensor> tensors_;
  std::size_t token_rows_ = 0, total_ = 0;
};

}  // namespace ralm::llama_train
