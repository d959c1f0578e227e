// A BERT-family encoder's forward pass on the shared kernels (ralm_kernels):
// token ids in, pooled final hidden states out.
//
// Hugging Face's BertModel: word + position + token-type (type 0)
// embeddings and LayerNorm, then post-LN layers: self-attention with biases,
// bidirectional over the text's own tokens, residual and LayerNorm; a GELU
// (erf) feed-forward, residual and LayerNorm. The pooler is not used: DPR,
// Contriever, e5 and bge pool the hidden states (`cls`: the first token's;
// `mean`: the average over the text's tokens).
//
// A batch's texts are packed one after another into the rows of each matrix
// product, not padded to the longest: no row is spent on padding, and since
// attention sees only a text's own rows, packing is what a padding mask
// computes. The kernels give every row the same bits whatever the other
// rows (kernels.hpp), and every other step works row by row or text by
// text, so a text's vector is the same, bit for bit, in any batch and on any
// number of threads.
//
// Weights: model.safetensors or its shards, F32, F16 or BF16, named as
// transformers saves them (`embeddings.word_embeddings.weight`,
// `encoder.layer.N.attention.self.query.weight`, ...), unprefixed or under
// `bert.`, `roberta.`, or DPR's `question_encoder.bert_model.` and
// `ctx_encoder.bert_model.`. The matrices are packed as f32 or bf16 (bf16:
// each product's input rounded to bf16 too, sums in f32); embeddings, biases
// and norms stay f32.
#pragma once

#include <filesystem>
#include <span>
#include <vector>

#include "bert_config.hpp"
#include "ralm/kernels/kernels.hpp"
#include "ralm/types.hpp"

namespace ralm::dense {

enum class BertPooling { cls, mean };

class BertModel {
 public:
  // Reads DIR/config.json and the weights; a missing tensor or a shape that
  // disagrees with config.json is an InputError naming both.
  BertModel(const std::filesystem::path& dir, kernels::WeightType weights,
            kernels::KernelSet set = kernels::default_kernel_set());

  const BertConfig& config() const { return config_; }
  kernels::WeightType weight_type() const { return weight_type_; }
  // The tensor names' prefix found in the file ("", "bert.", ...).
  const std::string& prefix() const { return prefix_; }

  // out[i] (hidden_size floats, rows hidden_size apart) is the pooled final
  // hidden state of texts[i], unnormalised. Every text needs 1 to
  // config().max_tokens() ids below vocab_size (an Error otherwise: the
  // caller truncates and checks).
  void pool(std::span<const Tokens> texts, BertPooling pooling, float* out, int threads) const;

 private:
  struct Layer {
    kernels::PackedMatrix qkv, attention_out, intermediate, output;
    std::vector<float> qkv_bias, attention_out_bias, intermediate_bias, output_bias;
    std::vector<float> attention_norm_weight, attention_norm_bias, output_norm_weight, output_norm_bias;
  };

  BertConfig config_;
  kernels::WeightType weight_type_;
  kernels::KernelSet set_;
  std::string prefix_;
  std::vector<float> word_, position_, token_type_, embedding_norm_weight_, embedding_norm_bias_;
  std::vector<Layer> layers_;
};

}  // namespace ralm::dense
