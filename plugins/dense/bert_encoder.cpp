#include "bert_encoder.hpp"

#include <algorithm>
#include <fstream>

#include "ralm/error.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"

namespace ralm::dense {

namespace fs = std::filesystem;

BertEncoder::Side BertEncoder::load_side(const fs::path& dir, kernels::WeightType dtype) {
  auto model = std::make_shared<const BertModel>(dir, dtype);
  const fs::path file = dir / "tokenizer.json";
  if (!fs::exists(file)) {
    throw InputError(file.string() +
                     ": no tokenizer.json; the bert encoder reads the checkpoint's Hugging Face tokenizer "
                     "(save it beside the weights with the tokenizer's save_pretrained)");
  }
  std::shared_ptr<const Tokenizer> tokenizer = hf::load_tokenizer_json(file);
  if (tokenizer->vocab_size() > model->config().vocab_size) {
    throw InputError(file.string() + ": a vocabulary of " + std::to_string(tokenizer->vocab_size()) +
                     " tokens, more than config.json's vocab_size " +
                     std::to_string(model->config().vocab_size) + "; the tokenizer is not this checkpoint's");
  }
  return {std::move(model), std::move(tokenizer)};
}

const char* bert_pooling_name(BertPooling pooling) {
  return pooling == BertPooling::mean ? "mean" : "cls";
}

BertEncoder::BertEncoder(const BertOptions& options, Side passages, Side queries)
    : options_(options), passages_(std::move(passages)), queries_(std::move(queries)) {
  const BertConfig& p = passages_.model->config();
  const BertConfig& q = queries_.model->config();
  const std::int64_t limit = std::min(p.max_tokens(), q.max_tokens());
  if (p.hidden_size != q.hidden_size) {
    throw InputError("bert: query_checkpoint " + options_.query_checkpoint.string() + " has hidden_size " +
                     std::to_string(q.hidden_size) + " but checkpoint " + options_.checkpoint.string() +
                     " has " + std::to_string(p.hidden_size) +
                     "; a query and a passage vector must have one dimension");
  }
  if (options_.max_length < 0 || options_.max_length > limit) {
    throw InputError("bert: max_length " + std::to_string(options_.max_length) +
                     " is outside what the checkpoints' position embeddings allow (1.." +
                     std::to_string(limit) +
                     ", config.json max_position_embeddings); set max_length to at most " +
                     std::to_string(limit) + ", or 0 for that");
  }
  if (options_.max_length == 1)
    throw InputError("bert: max_length 1 leaves no room for [CLS] and [SEP]; use 2 or more");
  if (options_.batch < 1) throw InputError("bert: batch must be at least 1");
  max_length_ = options_.max_length > 0 ? options_.max_length : limit;
}

std::string BertEncoder::fingerprint() const {
  auto describe = [](const Side& side, const fs::path& dir) {
    const BertConfig& c = side.model->config();
    return fs::absolute(dir).lexically_normal().string() + " (" + c.model_type +
           " vocab=" + std::to_string(c.vocab_size) + " hidden=" + std::to_string(c.hidden_size) +
           " layers=" + std::to_string(c.num_layers) + " heads=" + std::to_string(c.num_heads) +
           " ff=" + std::to_string(c.intermediate_size) +
           " parameters=" + std::to_string(c.parameter_count()) + ")";
  };
  const fs::path& query_dir =
      options_.query_checkpoint.empty() ? options_.checkpoint : options_.query_checkpoint;
  return "bert checkpoint=" + describe(passages_, options_.checkpoint) +
         " query_checkpoint=" + describe(queries_, query_dir) +
         " dtype=" + kernels::weight_type_name(options_.dtype) +
         " pooling=" + bert_pooling_name(options_.pooling) +
         " normalize=" + (options_.normalize ? "true" : "false") +
         " max_length=" + std::to_string(max_length_) + " query_prefix=\"" + options_.query_prefix +
         "\" passage_prefix=\"" + options_.passage_prefix + "\"";
}

Tokens BertEncoder::tokens(const Side& side, const std::string& prefix, const std::string& text) const {
  Tokens ids = side.tokenizer->encode(prefix + text, /*add_special=*/true);
  if (static_cast<std::int64_t>(ids.size()) > max_length_) {
    // Hugging Face's truncation cuts the text's tokens, then frames what is
    // left: the closing [SEP] stays.
    const TokenId last = ids.back();
    ids.resize(static_cast<std::size_t>(max_length_ - 1));
    ids.push_back(last);
  }
  if (ids.empty()) throw Error("bert: the tokenizer gave no tokens, not even [CLS] and [SEP]");
  return ids;
}

void BertEncoder::encode_tokens(const BertModel& model, std::span<const Tokens> texts, float* out,
                                int threads) const {
  const std::int64_t dim = model.config().hidden_size;
  const auto batch = static_cast<std::size_t>(options_.batch);
  for (std::size_t first = 0; first < texts.size(); first += batch) {
    const std::size_t n = std::min(batch, texts.size() - first);
    float* rows = out + static_cast<std::int64_t>(first) * dim;
    model.pool(texts.subspan(first, n), options_.pooling, rows, threads);
    if (options_.normalize) {
      for (std::size_t i = 0; i < n; ++i)
        normalize(rows + static_cast<std::int64_t>(i) * dim, dim);
    }
  }
}

void BertEncoder::encode_side(const Side& side, const std::string& prefix, std::span<const std::string> texts,
                              float* out, int threads) const {
  std::vector<Tokens> ids;
  ids.reserve(texts.size());
  for (const std::string& text : texts)
    ids.push_back(tokens(side, prefix, text));
  encode_tokens(*side.model, ids, out, threads);
}

void BertEncoder::encode(std::span<const std::string> texts, float* out, int threads) const {
  encode_side(passages_, options_.passage_prefix, texts, out, threads);
}

void BertEncoder::encode_queries(std::span<const std::string> texts, float* out, int threads) const {
  encode_side(queries_, options_.query_prefix, texts, out, threads);
}

void BertEncoder::save(const fs::path& dir) const {
  std::ofstream(dir / "bert.txt") << fingerprint() << "\n";
}

}  // namespace ralm::dense
