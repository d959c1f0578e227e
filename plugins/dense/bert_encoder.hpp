// The `bert` encoder: a BERT-family checkpoint (bert_model.hpp) as a dense
// encoder. Contriever, e5 and bge are one checkpoint for queries and
// passages; DPR is two, a question encoder for queries (query_checkpoint)
// and a context encoder for passages (checkpoint).
//
// A text is prefixed (e5's "query: " and "passage: "), tokenised by its
// checkpoint's own tokenizer.json ([CLS] text [SEP]), cut to max_length
// tokens keeping the closing [SEP] as Hugging Face's truncation does, run
// through the model `batch` texts at a time, pooled (cls or mean) and, with
// `normalize`, scaled to unit length (e5, bge, Contriever's cosine use; DPR
// scores unnormalised inner products).
//
// The fingerprint names both checkpoint folders, the model's shape and every
// setting that changes a passage's or a query's vector. As with the model
// encoder, new weights in the same folder under the same shape are not
// detected: rebuild with `ralm index build --force` after replacing them.
#pragma once

#include <memory>
#include <string>

#include "bert_model.hpp"
#include "encoder.hpp"
#include "ralm/model.hpp"

namespace ralm::dense {

struct BertOptions {
  std::filesystem::path checkpoint;        // passages, and queries without query_checkpoint
  std::filesystem::path query_checkpoint;  // DPR's question encoder; empty: checkpoint
  BertPooling pooling = BertPooling::cls;
  bool normalize = true;
  std::string query_prefix;
  std::string passage_prefix;
  // Tokens per text, [CLS] and [SEP] included; 0: as many as the
  // checkpoint's position embeddings allow.
  std::int64_t max_length = 0;
  kernels::WeightType dtype = kernels::WeightType::f32;
  std::int64_t batch = 32;  // texts per forward pass
};

const char* bert_pooling_name(BertPooling pooling);

class BertEncoder final : public Encoder {
 public:
  // A checkpoint and the tokenizer that reads text for it.
  struct Side {
    std::shared_ptr<const BertModel> model;
    std::shared_ptr<const Tokenizer> tokenizer;
  };

  // A checkpoint folder's weights (as `dtype`) and its tokenizer.json; a
  // file it cannot use is an InputError naming the file and the field.
  static Side load_side(const std::filesystem::path& dir, kernels::WeightType dtype);
  // `queries` may share `passages`' model and tokenizer. Settings the two
  // cannot honour (max_length, batch, different dimensions) are an
  // InputError naming the setting.
  BertEncoder(const BertOptions& options, Side passages, Side queries);

  std::int64_t dim() const override { return passages_.model->config().hidden_size; }
  std::string fingerprint() const override;
  void encode(std::span<const std::string> texts, float* out, int threads) const override;
  void encode_queries(std::span<const std::string> texts, float* out, int threads) const override;
  void save(const std::filesystem::path& dir) const override;

  // The tokens `side` gives `text` (prefixed and truncated): what encode reads.
  Tokens tokens(const Side& side, const std::string& prefix, const std::string& text) const;
  // Vectors of already tokenised texts, `batch` at a time, pooled and
  // normalised as the options say.
  void encode_tokens(const BertModel& model, std::span<const Tokens> texts, float* out, int threads) const;
  std::int64_t max_length() const { return max_length_; }
  const BertOptions& options() const { return options_; }

 private:
  void encode_side(const Side& side, const std::string& prefix, std::span<const std::string> texts,
                   float* out, int threads) const;

  BertOptions options_;
  Side passages_, queries_;
  std::int64_t max_length_;
};

}  // namespace ralm::dense
