// A BERT-family encoder checkpoint's config.json: the shape the `bert`
// encoder needs, and the fields it checks because it cannot honour other
// values (hidden_act, position_embedding_type, DPR's projection_dim).
//
// Read: model_type bert (Contriever, e5, bge, ...), dpr (DPR's question and
// context encoders: a BERT under another prefix), roberta and xlm-roberta
// (position ids start after the padding id). Anything else is one InputError
// naming config.json and model_type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ralm::dense {

struct BertConfig {
  std::string model_type;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t max_position_embeddings = 0;
  std::int64_t type_vocab_size = 0;
  double layer_norm_eps = 1e-12;
  // The position id of a text's first token: 0, or pad_token_id + 1 for the
  // RoBERTa family (Hugging Face's create_position_ids_from_input_ids).
  std::int64_t position_offset = 0;

  std::int64_t head_dim() const { return hidden_size / num_heads; }
  // The most tokens a text can have: the position embeddings' rows past the offset.
  std::int64_t max_tokens() const { return max_position_embeddings - position_offset; }
  // Embeddings, layers and their norms; the pooler, which the encoders do not use, left out.
  std::int64_t parameter_count() const;
};

// Reads and checks DIR/config.json; any problem is an InputError naming the
// file and the field.
BertConfig read_bert_config(const std::filesystem::path& dir);

}  // namespace ralm::dense
