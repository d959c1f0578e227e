#include "ralm/core/engine/request_loop.hpp"

#include <algorithm>
#include <chrono>

#include "ralm/error.hpp"

namespace ralm::core {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

EngineSettings EngineSettings::from(const Params& engine) {
  EngineSettings s;
  s.stride = static_cast<std::int32_t>(engine.get_int("stride"));
  s.query_tokens = static_cast<std::int32_t>(engine.get_int("query_tokens"));
  s.top_k = static_cast<std::int32_t>(engine.get_int("top_k"));
  s.max_passage_tokens = static_cast<std::int32_t>(engine.get_int("max_passage_tokens"));
  s.max_new_tokens = static_cast<std::int32_t>(engine.get_int("max_new_tokens"));
  return s;
}

Tokens query_window(const Tokens& input, const Tokens& generated, std::int32_t query_tokens, TokenId bos) {
  Tokens all;
  const std::size_t skip = !input.empty() && input.front() == bos ? 1 : 0;
  all.insert(all.end(), input.begin() + static_cast<std::ptrdiff_t>(skip), input.end());
  all.insert(all.end(), generated.begin(), generated.end());
  const std::size_t n = std::min(all.size(), static_cast<std::size_t>(query_tokens));
  return Tokens(all.end() - static_cast<std::ptrdiff_t>(n), all.end());
}

RequestLoop::RequestLoop(const BuiltPipeline& pipeline, EngineSettings settings)
    : pipeline_(pipeline), settings_(settings) {
  if (!pipeline_.model) throw InputError("the engine needs a model: add a `model:` section to the pipeline");
  if (!pipeline_.policy)
    throw InputError("the engine needs a context policy: add `policy: {plugin: none}` or another");
  if (pipeline_.policy->uses_passages() && !pipeline_.retriever) {
    throw InputError("the policy retrieves passages, so the pipeline needs a `retriever:` section");
  }
}

RequestResult RequestLoop::run(const std::string& prompt) {
  return run_tokens(pipeline_.model->tokenizer().encode(prompt, /*add_bos=*/true));
}

RequestResult RequestLoop::run_tokens(Tokens input) {
  const auto start = Clock::now();
  Model& model = *pipeline_.model;
  ContextPolicy& policy = *pipeline_.policy;
  const Tokenizer& tokenizer = model.tokenizer();
  const ModelInfo info = model.info();
  const bool retrieves = policy.uses_passages();
  RequestResult result;

  // Fit input, passages (with room for two marking tokens each) and output in
  // the context by dropping the oldest input tokens, as In-Context RALM does.
  const std::int64_t passage_room =
      retrieves ? std::int64_t{settings_.top_k} * (settings_.max_passage_tokens + 2) : 0;
  const std::int64_t budget = info.context_length - settings_.max_new_tokens - passage_room;
  if (budget < 2) {
    throw InputError(
        "the model's context (" + std::to_string(info.context_length) +
        " tokens) cannot hold engine.max_new_tokens plus the passages; lower max_new_tokens, top_k "
        "or max_passage_tokens");
  }
  const std::size_t keep_bos = !input.empty() && input.front() == tokenizer.bos() ? 1 : 0;
  if (input.size() <= keep_bos) throw InputError("empty prompt: a request needs at least one token");
  if (static_cast<std::int64_t>(input.size()) > budget) {
    const auto drop = static_cast<std::ptrdiff_t>(static_cast<std::int64_t>(input.size()) - budget);
    input.erase(input.begin() + static_cast<std::ptrdiff_t>(keep_bos),
                input.begin() + static_cast<std::ptrdiff_t>(keep_bos) + drop);
    result.input_tokens_dropped = static_cast<std::int32_t>(drop);
  }

  auto state = policy.begin(input);
  auto seq = model.new_sequence();
  Tokens context;  // every token the model should have seen before the next is chosen
  Tokens generated;
  std::vector<float> logits;
  std::vector<Hit> last_hits;  // the passages of the latest retrieval

  // Evaluates context[keep..] on a cache truncated to `keep` tokens; the
  // last position's logits choose the next token.
  auto evaluate_from = [&](std::size_t keep) {
    if (keep < seq->tokens().size()) seq->truncate(static_cast<std::int32_t>(keep));
    const std::span<const TokenId> fresh(context.data() + keep, context.size() - keep);
    const auto t0 = Clock::now();
    EvalResult r = model.eval(*seq, fresh, {});
    (fresh.size() > 1 ? result.times.prefill : result.times.decode) += seconds_since(t0);
    result.tokens_computed += static_cast<std::int64_t>(fresh.size());
    logits = std::move(r.logits);
  };

  // After a retrieval: keep the cache's longest prefix that agrees with the
  // new layout (no more than `reusable`) and evaluate at least the last token.
  auto sync = [&](std::int32_t reusable) {
    const Tokens& held = seq->tokens();
    std::size_t common = 0;
    while (common < held.size() && common < context.size() && held[common] == context[common])
      ++common;
    evaluate_from(std::min({common, static_cast<std::size_t>(std::max(reusable, 0)), context.size() - 1}));
  };

  while (static_cast<std::int32_t>(generated.size()) < settings_.max_new_tokens) {
    const bool retrieve_now = retrieves && generated.size() % static_cast<std::size_t>(settings_.stride) == 0;
    if (retrieve_now || generated.empty()) {
      std::vector<RetrievedPassage> passages;
      if (retrieve_now) {
        RetrievalRecord record;
        record.position = static_cast<std::int32_t>(generated.size());
        record.query =
            tokenizer.decode(query_window(input, generated, settings_.query_tokens, tokenizer.bos()));
        const auto t0 = Clock::now();
        // A window that decodes to blank text (whitespace, or ids with no
        // text) is no query: the previous passages stay.
        if (record.query.find_first_not_of(" \t\r\n") == std::string::npos) {
          record.hits = last_hits;
        } else {
          record.hits = pipeline_.retriever->search(std::span(&record.query, 1), settings_.top_k)[0];
        }
        last_hits = record.hits;
        for (const Hit& hit : record.hits) {
          const Passage p = pipeline_.retriever->passage(hit.id);
          Tokens tokens = tokenizer.encode(p.title.empty() ? p.text : p.title + "\n" + p.text, false);
          if (static_cast<std::int32_t>(tokens.size()) > settings_.max_passage_tokens) {
            tokens.resize(static_cast<std::size_t>(settings_.max_passage_tokens));
          }
          passages.push_back({hit, std::move(tokens)});
        }
        result.times.retrieval += seconds_since(t0);
        result.retrievals.push_back(std::move(record));
      }
      Layout layout = policy.on_retrieval(*state, input, generated, passages);
      if (layout.tokens.empty()) throw Error("the context policy returned an empty layout");
      context = std::move(layout.tokens);
      sync(layout.reusable_prefix);
    } else {
      // Between retrievals the cache already holds everything but the token
      // just chosen: no prefix to compare.
      context.push_back(generated.back());
      evaluate_from(context.size() - 1);
    }
    // Greedy: the first of equal maxima, the lowest id.
    const auto next = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    generated.push_back(next);
    if (next == tokenizer.eos()) {
      result.stopped_at_eos = true;
      break;
    }
  }

  result.text =
      tokenizer.decode(std::span(generated.data(), generated.size() - (result.stopped_at_eos ? 1 : 0)));
  result.tokens_kept = static_cast<std::int64_t>(input.size() + generated.size());
  result.input = std::move(input);
  result.output = std::move(generated);
  result.times.total = seconds_since(start);
  result.times.other = result.times.total - result.times.retrieval - result.times.prefill -
                       result.times.decode - result.times.verification - result.times.rollback;
  return result;
}

}  // namespace ralm::core
