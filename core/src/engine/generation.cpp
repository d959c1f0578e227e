#include "generation.hpp"

#include <algorithm>

#include "ralm/core/engine/retrieval_step.hpp"
#include "ralm/error.hpp"
#include "stopwatch.hpp"

namespace ralm::core {

Generation::Generation(const BuiltPipeline& pipeline, const EngineSettings& settings, Tokens input,
                       RequestResult& result, const RequestControl& control, PrefixCache* prefix_cache)
    : pipeline_(pipeline),
      settings_(settings),
      model_(*pipeline.model),
      policy_(*pipeline.policy),
      tokenizer_(model_.tokenizer()),
      result_(result),
      control_(control),
      prefix_cache_(prefix_cache),
      retrieves_(policy_.uses_passages()),
      sampler_(settings.sampling) {
  // Fit input, passages (with room for two marking tokens each) and output in
  // the context by dropping the oldest input tokens, as In-Context RALM does.
  const ModelInfo info = model_.info();
  const std::int64_t passage_room =
      retrieves_ ? std::int64_t{settings_.top_k} * (settings_.max_passage_tokens + 2) : 0;
  const std::int64_t budget = info.context_length - settings_.max_new_tokens - passage_room;
  if (budget < 2) {
    throw InputError(
        "the model's context (" + std::to_string(info.context_length) +
        " tokens) cannot hold engine.max_new_tokens plus the passages; lower max_new_tokens, top_k "
        "or max_passage_tokens");
  }
  const std::size_t keep_bos = !input.empty() && input.front() == tokenizer_.bos() ? 1 : 0;
  if (input.size() <= keep_bos) throw InputError("empty prompt: a request needs at least one token");
  if (static_cast<std::int64_t>(input.size()) > budget) {
    const auto drop = static_cast<std::ptrdiff_t>(static_cast<std::int64_t>(input.size()) - budget);
    input.erase(input.begin() + static_cast<std::ptrdiff_t>(keep_bos),
                input.begin() + static_cast<std::ptrdiff_t>(keep_bos) + drop);
    result_.input_tokens_dropped = static_cast<std::int32_t>(drop);
  }
  input_ = std::move(input);
  state_ = policy_.begin(input_);
  seq_ = model_.new_sequence();
}

std::string Generation::query() const {
  return tokenizer_.decode(query_window(input_, generated_, settings_.query_tokens, tokenizer_.bos()));
}

std::vector<RetrievedPassage> Generation::passages(std::span<const Hit> hits) const {
  return tokenize_passages(*pipeline_.retriever, tokenizer_, hits, settings_.max_passage_tokens);
}

void Generation::evaluate_from(std::size_t keep) {
  if (keep < seq_->tokens().size()) seq_->truncate(static_cast<std::int32_t>(keep));
  const std::span<const TokenId> fresh(context_.data() + keep, context_.size() - keep);
  const bool adjusts = policy_.adjusts_logits();
  const auto t0 = Clock::now();
  EvalResult r = model_.eval(*seq_, fresh, {.keys = adjusts});
  (fresh.size() > 1 ? result_.times.prefill : result_.times.decode) += seconds_since(t0);
  result_.tokens_computed += static_cast<std::int64_t>(fresh.size());
  logits_ = std::move(r.logits);
  if (adjusts && engine_adjusts_) {
    const std::size_t key_dim = r.keys.size() / fresh.size();
    key_.assign(r.keys.end() - static_cast<std::ptrdiff_t>(key_dim), r.keys.end());
  } else if (adjusts) {
    // kNN-LM: the policy rewrites the next-token distribution from the last
    // position's key; its lookups are retrieval time.
    const auto t1 = Clock::now();
    const std::size_t key_dim = r.keys.size() / fresh.size();
    policy_.adjust_logits(*state_, logits_, std::span<const float>(r.keys).last(key_dim));
    result_.times.retrieval += seconds_since(t1);
  }
}

void Generation::apply_layout(Layout layout) {
  if (layout.tokens.empty()) throw Error("the context policy returned an empty layout");
  context_ = std::move(layout.tokens);
  // Keep the cache's longest prefix that agrees with the new layout (no more
  // than the policy allows) and evaluate at least the last token.
  const Tokens& held = seq_->tokens();
  std::size_t common = 0;
  while (common < held.size() && common < context_.size() && held[common] == context_[common])
    ++common;
  std::size_t keep =
      std::min({common, static_cast<std::size_t>(std::max(layout.reusable_prefix, 0)), context_.size() - 1});
  // The leading tokens any request would share come from the engine's
  // prefix cache when it holds more of them than the sequence may keep, and
  // go there once computed.
  const std::size_t shared =
      prefix_cache_
          ? std::min(static_cast<std::size_t>(std::max(layout.shared_prefix, 0)), context_.size() - 1)
          : 0;
  if (keep < shared) {
    if (auto copy =
            prefix_cache_->lookup(std::span(context_).first(shared), static_cast<std::int32_t>(keep) + 1)) {
      keep = static_cast<std::size_t>(copy->length());
      result_.prefix_tokens_reused += copy->length();
      seq_ = std::move(copy);
    }
  }
  evaluate_from(keep);
  if (keep < shared) prefix_cache_->insert(*seq_, static_cast<std::int32_t>(shared));
}

void Generation::choose_next() {
  const TokenId next = sampler_.sample(logits_);
  generated_.push_back(next);
  if (next == tokenizer_.eos()) {
    result_.stopped_at_eos = true;
    done_ = true;
  } else if (static_cast<std::int32_t>(generated_.size()) >= settings_.max_new_tokens) {
    done_ = true;
  }
  if (publish_each_token_) publish(generated_.size());
}

void Generation::publish(std::size_t end) {
  end = std::min(end, generated_.size());
  if (end <= published_) return;
  if (control_.on_tokens) control_.on_tokens(std::span(generated_).subspan(published_, end - published_));
  published_ = end;
}

void Generation::step(RetrievalRecord record, std::span<const RetrievedPassage> passages) {
  last_hits_ = record.hits;
  result_.retrievals.push_back(std::move(record));
  apply_layout(policy_.on_retrieval(*state_, input_, generated_, passages));
  choose_next();
  // Between retrievals the cache already holds everything but the token just
  // chosen: no prefix to compare.
  while (!done() && (!retrieves_ || generated_.size() % static_cast<std::size_t>(settings_.stride) != 0)) {
    context_.push_back(generated_.back());
    evaluate_from(context_.size() - 1);
    choose_next();
  }
}

void Generation::run_without_retrieval() {
  apply_layout(policy_.on_retrieval(*state_, input_, generated_, {}));
  choose_next();
  while (!done()) {
    context_.push_back(generated_.back());
    evaluate_from(context_.size() - 1);
    choose_next();
  }
}

void Generation::start_token_by_token() {
  if (!policy_.adjusts_logits()) throw Error("token-by-token generation needs a policy that adjusts logits");
  engine_adjusts_ = true;
  apply_layout(policy_.on_retrieval(*state_, input_, generated_, {}));
}

TokenId Generation::advance(std::span<const float> adjusted_logits) {
  logits_.assign(adjusted_logits.begin(), adjusted_logits.end());
  choose_next();
  const TokenId chosen = generated_.back();
  if (!done()) {
    context_.push_back(chosen);
    evaluate_from(context_.size() - 1);
  }
  return chosen;
}

Generation::Checkpoint Generation::checkpoint() const {
  Checkpoint c;
  c.context = context_.size();
  c.sampler = sampler_;
  c.generated = generated_.size();
  c.records = result_.retrievals.size();
  c.policy = state_->clone();
  c.last_hits = last_hits_;
  c.prefill = result_.times.prefill;
  c.decode = result_.times.decode;
  return c;
}

void Generation::restore(const Checkpoint& c) {
  if (c.generated < published_) {
    throw Error("speculation rolled back to token " + std::to_string(c.generated) + ", but " +
                std::to_string(published_) + " tokens were already handed over as final");
  }
  generated_.resize(c.generated);
  // The cache keeps what it holds; the next evaluation truncates it to the
  // longest prefix that agrees.
  context_.resize(c.context);
  result_.retrievals.resize(c.records);
  state_ = c.policy->clone();
  last_hits_ = c.last_hits;
  sampler_ = c.sampler;
  result_.times.rollback += (result_.times.prefill - c.prefill) + (result_.times.decode - c.decode);
  result_.times.prefill = c.prefill;
  result_.times.decode = c.decode;
  // A checkpoint is taken before a step, so no token after it ended the request.
  result_.stopped_at_eos = false;
  done_ = false;
}

void Generation::finish(Clock::time_point start) {
  publish(generated_.size());
  result_.cancelled = cancelled() && !done_;
  result_.text =
      tokenizer_.decode(std::span(generated_.data(), generated_.size() - (result_.stopped_at_eos ? 1 : 0)));
  result_.tokens_kept = static_cast<std::int64_t>(input_.size() + generated_.size());
  result_.input = std::move(input_);
  result_.output = std::move(generated_);
  PhaseTimes& t = result_.times;
  t.total = seconds_since(start);
  t.other = t.total - t.retrieval - t.cache - t.prefill - t.decode - t.verification - t.rollback;
}

}  // namespace ralm::core
