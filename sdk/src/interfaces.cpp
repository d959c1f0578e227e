// The out-of-line destructors that anchor each interface's vtable and
// type_info in the SDK library, and the interfaces' default behaviours.
#include "ralm/component.hpp"
#include "ralm/context_policy.hpp"
#include "ralm/error.hpp"
#include "ralm/model.hpp"
#include "ralm/registrar.hpp"
#include "ralm/retriever.hpp"
#include "ralm/speculation_scheduler.hpp"
#include "ralm/trainer.hpp"

namespace ralm {

Component::~Component() = default;
BuildContext::~BuildContext() = default;
Registrar::~Registrar() = default;

Tokenizer::~Tokenizer() = default;
Sequence::~Sequence() = default;
Model::~Model() = default;

std::vector<EvalResult> Model::eval_batch(std::span<Sequence* const> seqs,
                                          std::span<const std::span<const TokenId>> tokens,
                                          const EvalOptions& options) {
  if (seqs.size() != tokens.size()) {
    throw Error("Model::eval_batch: " + std::to_string(seqs.size()) + " sequences but " +
                std::to_string(tokens.size()) + " token lists");
  }
  std::vector<EvalResult> results;
  results.reserve(seqs.size());
  for (std::size_t i = 0; i < seqs.size(); ++i)
    results.push_back(eval(*seqs[i], tokens[i], options));
  return results;
}

TokenId Model::add_special_token(std::string_view name) {
  throw InputError("model '" + info().architecture + "' cannot add the special token '" + std::string(name) +
                   "': its vocabulary is fixed; use a model plugin that supports added tokens");
}

void Model::load_adapter(const std::string& name, const std::filesystem::path& dir) {
  throw InputError("model '" + info().architecture + "' does not support LoRA adapters (asked to load '" +
                   name + "' from " + dir.string() + ")");
}

void Model::set_active_adapter(const std::string& name) {
  if (name.empty()) return;
  throw InputError("model '" + info().architecture + "' does not support LoRA adapters (asked for '" + name +
                   "')");
}

void Model::save(const std::filesystem::path& dir, const SaveOptions&) {
  throw InputError("model '" + info().architecture + "' cannot save checkpoints (asked to write " +
                   dir.string() + "); this model plugin cannot save checkpoints");
}

Retriever::~Retriever() = default;

std::vector<float> Retriever::score_batch(std::span<const std::string> queries,
                                          std::span<const PassageId> ids) {
  std::vector<float> out;
  out.reserve(queries.size() * ids.size());
  for (const std::string& q : queries) {
    std::vector<float> row = score(q, ids);
    if (row.size() != ids.size()) {
      throw Error("Retriever::score returned " + std::to_string(row.size()) + " scores for " +
                  std::to_string(ids.size()) + " ids");
    }
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

PolicyState::~PolicyState() = default;
ContextPolicy::~ContextPolicy() = default;
NeighbourSearch::~NeighbourSearch() = default;
void ContextPolicy::adjust_logits(PolicyState&, std::span<float>, std::span<const float>) {}

SchedulerState::~SchedulerState() = default;
SpeculationScheduler::~SpeculationScheduler() = default;

Trainer::~Trainer() = default;

}  // namespace ralm
