#include "ralm/hf_tokenizer/hf_tokenizer.hpp"

#include "pipeline.hpp"

namespace ralm::hf {
namespace {

std::optional<TokenId> first_added_special(const Pipeline& p, std::initializer_list<std::string_view> names) {
  for (const std::string_view name : names) {
    for (const AddedToken& t : p.added_tokens) {
      if (t.special && t.content == name) return t.id;
    }
  }
  return std::nullopt;
}

}  // namespace

HfTokenizer::HfTokenizer(std::unique_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {
  const PostProcessor* post = pipeline_->post_processor.get();
  std::optional<TokenId> bos = post ? post->first_special() : std::nullopt;
  if (!bos)
    bos = first_added_special(
        *pipeline_, {"<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "[CLS]", "<|endoftext|>"});
  std::optional<TokenId> eos = post ? post->last_special() : std::nullopt;
  if (!eos)
    eos = first_added_special(*pipeline_,
                              {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "<eos>", "[SEP]"});
  bos_ = bos.value_or(-1);
  eos_ = eos.value_or(-1);
}

HfTokenizer::~HfTokenizer() = default;

Tokens HfTokenizer::encode(std::string_view text, bool add_special) const {
  return pipeline_->encode(text, add_special);
}
std::string HfTokenizer::decode(std::span<const TokenId> ids) const {
  return pipeline_->decode(ids);
}
std::string HfTokenizer::piece(TokenId id) const {
  return pipeline_->token(id).value_or("<" + std::to_string(id) + ">");
}
std::int32_t HfTokenizer::vocab_size() const {
  return pipeline_->vocab_size();
}
TokenId HfTokenizer::bos() const {
  return bos_;
}
TokenId HfTokenizer::eos() const {
  return eos_;
}
std::optional<TokenId> HfTokenizer::special(std::string_view name) const {
  return pipeline_->added_token_id(name);
}

void HfTokenizer::set_special_ids(std::optional<TokenId> bos, std::optional<TokenId> eos) {
  if (bos) bos_ = *bos;
  if (eos) eos_ = *eos;
}

std::string HfTokenizer::kind() const {
  return pipeline_->model->kind();
}

std::optional<TokenId> HfTokenizer::pad_id() const {
  if (pipeline_->padding_id) return pipeline_->padding_id;
  for (const std::string_view name : {"[PAD]", "<pad>", "<|pad|>"}) {
    if (const auto id = pipeline_->added_token_id(name)) return id;
  }
  return std::nullopt;
}

std::optional<TokenId> HfTokenizer::cls_id() const {
  return pipeline_->post_processor ? pipeline_->post_processor->first_special() : std::nullopt;
}

std::optional<TokenId> HfTokenizer::sep_id() const {
  return pipeline_->post_processor ? pipeline_->post_processor->last_special() : std::nullopt;
}

std::optional<std::int32_t> HfTokenizer::truncation_max_length() const {
  return pipeline_->truncation_max_length;
}

const HfTokenizer* as_hf_tokenizer(const Tokenizer& tokenizer) {
  return dynamic_cast<const HfTokenizer*>(&tokenizer);
}

}  // namespace ralm::hf
