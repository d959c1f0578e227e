#include "tokenizer_training.hpp"

#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::llama_train {

bool held_out_document(std::int64_t document, std::int32_t validation_permille) {
  return static_cast<std::int32_t>(fnv1a64(&document, sizeof document) % 1000) < validation_permille;
}

namespace {

// The training split's passages, one "sentence" each, as the model will see
// them (title, newline, text).
class PassageSentences final : public sentencepiece::SentenceIterator {
 public:
  PassageSentences(const PassageStore& store, std::int32_t permille) : store_(store), permille_(permille) {
    skip_held_out();
  }
  bool done() const override { return id_ >= store_.size(); }
  void Next() override {
    ++id_;
    skip_held_out();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void skip_held_out() {
    while (id_ < store_.size() && held_out_document(store_.document(id_), permille_))
      ++id_;
    if (id_ < store_.size()) {
      value_.assign(store_.title(id_));
      value_ += '\n';
      value_ += store_.text(id_);
    }
  }
  const PassageStore& store_;
  std::int32_t permille_;
  PassageId id_ = 0;
  std::string value_;
};

}  // namespace

void train_sentencepiece(const PassageStore& store, const SentencePieceOptions& o,
                         const std::filesystem::path& file) {
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", "1.0"},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"max_sentence_length", "16384"},
      {"num_threads", std::to_string(std::max(1, o.threads))},
      {"minloglevel", "2"},
  };
  log_info("training a SentencePiece " + o.model_type + " tokenizer of " + std::to_string(o.vocab_size) +
           " pieces on " + store.dir().string());
  PassageSentences sentences(store, o.validation_permille);
  std::string proto;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &sentences, &proto);
  if (!status.ok()) {
    throw InputError("SentencePiece training on " + store.dir().string() + " failed: " + status.ToString() +
                     " (a vocab_size too large for the corpus says so; lower trainer.vocab_size)");
  }
  write_file_atomically(
      file, [&](std::ostream& out) { out.write(proto.data(), static_cast<std::streamsize>(proto.size())); });
}

}  // namespace ralm::llama_train
