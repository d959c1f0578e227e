#include "lora_layout.hpp"

#include <algorithm>
#include <cmath>

#include "ralm/error.hpp"
#include "token_windows.hpp"

namespace ralm::llama_train {

LoraLayout::LoraLayout(const llama::LlamaConfig& c, LoraConfig lora)
    : lora_(std::move(lora)), hidden_(c.hidden_size) {
  std::array<bool, kLoraModules.size()> wanted{};
  for (const std::string& m : lora_.target_modules) {
    const auto it = std::find(kLoraModules.begin(), kLoraModules.end(), m);
    if (it == kLoraModules.end()) {
      throw InputError("LoRA: unknown target module '" + m +
                       "'; the modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    }
    wanted[static_cast<std::size_t>(it - kLoraModules.begin())] = true;
  }
  for (TokenId id : lora_.trainable_tokens) {
    if (id < 0 || id >= c.vocab_size) {
      throw InputError("LoRA: trainable token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                       std::to_string(c.vocab_size - 1) + ")");
    }
  }
  const std::int64_t h = c.hidden_size, q = std::int64_t{c.num_heads} * c.head_dim,
                     kv = std::int64_t{c.num_kv_heads} * c.head_dim, ff = c.intermediate_size, r = lora_.r;
  const std::array<std::pair<std::int64_t, std::int64_t>, 7> shapes = {
      {{q, h}, {kv, h}, {kv, h}, {h, q}, {ff, h}, {ff, h}, {h, ff}}};
  auto add = [&](std::string name, std::vector<std::int64_t> shape) {
    ParamTensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.size = 1;
    for (auto d : t.shape)
      t.size *= static_cast<std::size_t>(d);
    t.offset = total_;
    t.decay = true;
    total_ += t.size;
    tensors_.push_back(t);
    return t.offset;
  };
  sites_.resize(static_cast<std::size_t>(c.num_layers) * kLoraModules.size());
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    for (std::size_t m = 0; m < kLoraModules.size(); ++m) {
      if (!wanted[m]) continue;
      Site& s = sites_[static_cast<std::size_t>(l) * kLoraModules.size() + m];
      s.on = true;
      s.out = shapes[m].first;
      s.in = shapes[m].second;
      const std::string p = "base_model.model.model.layers." + std::to_string(l) +
                            (m < 4 ? ".self_attn." : ".mlp.") + kLoraModules[m];
      s.a = add(p + ".lora_A.weight", {r, s.in});
      s.b = add(p + ".lora_B.weight", {s.out, r});
    }
  }
  token_rows_ = total_;
  if (!lora_.trainable_tokens.empty()) {
    add("base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta",
        {static_cast<std::int64_t>(lora_.trainable_tokens.size()), h});
    tensors_.back().decay = false;
  }
}

std::int64_t LoraLayout::token_index(TokenId id) const {
  const auto& t = lora_.trainable_tokens;
  const auto it = std::find(t.begin(), t.end(), id);
  return it == t.end() ? -1 : static_cast<std::int64_t>(it - t.begin());
}

std::vector<float> LoraLayout::initial(std::uint64_t seed, const float* base,
                                       const ParamLayout& base_layout) const {
  std::vector<float> out(total_, 0.0f);
  std::uint64_t state = seed ^ 0x6c6f7261ull;
  for (const Site& s : sites_) {
    if (!s.on) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.in));
    for (std::size_t i = 0; i < static_cast<std::size_t>(lora_.r * s.in); ++i) {
      const double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
      out[s.a + i] = static_cast<float>((2 * u - 1) * bound);
    }
  }
  for (std::size_t k = 0; k < lora_.trainable_tokens.size(); ++k) {
    const float* row =
        base + base_layout.embed() +
        static_cast<std::size_t>(lora_.trainable_tokens[k]) * static_cast<std::size_t>(hidden_);
    std::copy_n(
        row, hidden_,
        out.begin() + static_cast<std::ptrdiff_t>(token_rows_ + k * static_cast<std::size_t>(hidden_)));
  }
  return out;
}

}  // namespace ralm::llama_train
