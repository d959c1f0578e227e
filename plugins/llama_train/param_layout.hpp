// Every trainable tensor of a Llama model in one flat buffer, under its
// Hugging Face name, so that the optimiser sees one vector and checkpoints
// write the names the llama plugin reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/weights.hpp"

namespace ralm::llama_train {

struct ParamTensor {
  std::string name;  // e.g. model.layers.0.self_attn.q_proj.weight
  std::vector<std::int64_t> shape;
  std::size_t offset = 0;
  std::size_t size = 0;
  bool decay = false;  // matrices take weight decay; norm gains do not
};

// Offsets of one layer's tensors in the flat buffer.
struct LayerOffsets {
  std::size_t attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
};

class ParamLayout {
 public:
  explicit ParamLayout(const llama::LlamaConfig& config);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  std::size_t total() const { return total_; }
  std::size_t embed() const { return embed_; }
  const LayerOffsets& layer(std::int32_t l) const { return layers_[static_cast<std::size_t>(l)]; }
  std::size_t final_norm() const { return final_norm_; }
  // The output matrix: the embedding's offset when tied.
  std::size_t lm_head() const { return lm_head_; }
  // The tensor with this name, or nullptr.
  const ParamTensor* find(const std::string& name) const;

  // Copies between the flat buffer and the checkpoint format's weights.
  std::vector<float> flatten(const llama::LlamaWeights& w) const;
  llama::LlamaWeights unflatten(const float* flat) const;

 private:
  std::size_t add(std::string name, std::vector<std::int64_t> shape, bool decay);

  llama::LlamaConfig config_;
  std::vector<ParamTensor> tensors_;
  std::vector<LayerOffsets> layers_;
  std::size_t total_ = 0, embed_ = 0, final_norm_ = 0, lm_head_ = 0;
};

}  // namespace ralm::llama_train
