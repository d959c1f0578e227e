#include "ralm/core/engine/request_loop.hpp"

#include <algorithm>
#include <optional>

#include "generation.hpp"
#include "neighbour_speculator.hpp"
#include "passage_speculator.hpp"
#include "ralm/core/engine/retrieval_step.hpp"
#include "ralm/core/engine/speculative_cache.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::core {

EngineSettings EngineSettings::from(const Params& engine) {
  EngineSettings s;
  s.stride = static_cast<std::int32_t>(engine.get_int("stride"));
  s.query_tokens = static_cast<std::int32_t>(engine.get_int("query_tokens"));
  s.top_k = static_cast<std::int32_t>(engine.get_int("top_k"));
  s.max_passage_tokens = static_cast<std::int32_t>(engine.get_int("max_passage_tokens"));
  s.max_new_tokens = static_cast<std::int32_t>(engine.get_int("max_new_tokens"));
  s.sampling.temperature = engine.get_float("temperature");
  s.sampling.top_k = static_cast<std::int32_t>(engine.get_int("top_k_sampling"));
  s.sampling.top_p = engine.get_float("top_p");
  s.sampling.seed = static_cast<std::uint64_t>(engine.get_int("seed"));
  s.speculation.prefetch = static_cast<std::int32_t>(engine.get_int("prefetch"));
  s.speculation.async_verification = engine.get_bool("async_verification");
  s.speculation.cache_capacity = static_cast<std::int32_t>(engine.get_int("cache_capacity"));
  s.speculation.shared_cache = engine.get_bool("shared_cache");
  s.speculation.successors = static_cast<std::int32_t>(engine.get_int("successors"));
  const std::string draft = engine.get_string("draft");
  s.speculation.draft = draft == "only"         ? DraftMode::only
                        : draft == "with_cache" ? DraftMode::with_cache
                                                : DraftMode::off;
  s.max_batch = static_cast<std::int32_t>(engine.get_int("max_batch"));
  s.max_queue = static_cast<std::int32_t>(engine.get_int("max_queue"));
  s.prefill_chunk = static_cast<std::int32_t>(engine.get_int("prefill_chunk"));
  s.prefix_cache_bytes = engine.get_int("prefix_cache_mb") << 20;
  if (s.speculation.cache_capacity > 0 &&
      s.speculation.cache_capacity < std::max(s.top_k, s.speculation.prefetch)) {
    engine.fail("cache_capacity", "the speculative cache must hold at least max(top_k, prefetch) = " +
                                      std::to_string(std::max(s.top_k, s.speculation.prefetch)) +
                                      " passages; raise cache_capacity or set it to 0 (no bound)");
  }
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
  if (pipeline_.scheduler && !pipeline_.policy->uses_passages() && !pipeline_.policy->neighbour_search()) {
    log_warn("the pipeline has a speculation scheduler but its policy retrieves nothing: no speculation");
  }
  if (const NeighbourSearch* neighbours = pipeline_.policy->neighbour_search();
      pipeline_.scheduler && neighbours) {
    // Speculation starts once the cache holds a search's worth of neighbours.
    const std::int32_t capacity = settings_.speculation.cache_capacity;
    if (capacity > 0 && capacity < neighbours->top_k()) {
      throw InputError("engine.cache_capacity (" + std::to_string(capacity) + ") is below the policy's k (" +
                       std::to_string(neighbours->top_k()) +
                       "): the speculative cache could never stand in for a search; raise it or set 0");
    }
  }
  if (settings_.speculation.draft != DraftMode::off) {
    if (!pipeline_.draft_retriever) {
      throw InputError(
          "engine.draft is on and the pipeline has no draft retriever: add a `draft_retriever:` section");
    }
    if (!pipeline_.scheduler || !pipeline_.policy->uses_passages()) {
      throw InputError(
          "engine.draft drafts passages for RaLMSpec, and this pipeline speculates no passages (it needs a "
          "`scheduler:` and a policy that uses passages); set engine.draft: off");
    }
  }
  if (settings_.speculation.shared_cache) {
    shared_cache_ =
        std::make_unique<SpeculativeCache>(static_cast<std::size_t>(settings_.speculation.cache_capacity));
  }
  prefix_cache_ = make_prefix_cache(pipeline_.model->info(), settings_.prefix_cache_bytes);
}

RequestLoop::~RequestLoop() = default;

PrefixCacheStats RequestLoop::prefix_cache_stats() const {
  return prefix_cache_ ? prefix_cache_->stats() : PrefixCacheStats{};
}

RequestResult RequestLoop::run(const std::string& prompt, const RequestControl& control) {
  return run_tokens(pipeline_.model->tokenizer().encode(prompt, /*add_bos=*/true), control);
}

EngineSettings RequestLoop::request_settings(const RequestOptions& options) const {
  EngineSettings s = settings_;
  if (options.max_new_tokens) {
    if (*options.max_new_tokens < 1)
      throw InputError("max_new_tokens: " + std::to_string(*options.max_new_tokens) +
                       " is below 1; ask for at least one token");
    s.max_new_tokens = *options.max_new_tokens;
  }
  if (options.sampling) {
    options.sampling->check();
    s.sampling = *options.sampling;
  }
  return s;
}

RequestResult RequestLoop::run_tokens(Tokens input, const RequestControl& control) {
  const auto start = Generation::Clock::now();
  const EngineSettings settings = request_settings(control.options);
  RequestResult result;
  Generation gen(pipeline_, settings, std::move(input), result, control, prefix_cache_.get());
  // A request's speculative cache: the run's when shared.
  std::optional<SpeculativeCache> own_cache;
  const auto cache = [&]() -> SpeculativeCache& {
    if (shared_cache_) return *shared_cache_;
    return own_cache.emplace(static_cast<std::size_t>(settings.speculation.cache_capacity));
  };
  const NeighbourSearch* neighbours = pipeline_.policy->neighbour_search();
  if (!gen.retrieves() && pipeline_.scheduler && neighbours) {
    run_neighbour_speculation(gen, pipeline_, *neighbours, settings, cache(), result);
  } else if (!gen.retrieves()) {
    gen.run_without_retrieval();
  } else if (pipeline_.scheduler) {
    run_passage_speculation(gen, pipeline_, settings, cache(), result);
  } else {
    // In-Context RALM's schedule: a real search at every retrieval point.
    while (!gen.done()) {
      RetrievalRecord record{gen.position(), gen.query(), {}, false};
      const auto t0 = Generation::Clock::now();
      if (is_blank_query(record.query)) {
        record.hits = gen.last_hits();
      } else {
        record.hits = pipeline_.retriever->search(std::span(&record.query, 1), settings.top_k)[0];
      }
      const auto passages = gen.passages(record.hits);
      result.times.retrieval += std::chrono::duration<double>(Generation::Clock::now() - t0).count();
      gen.step(std::move(record), passages);
    }
  }
  gen.finish(start);
  return result;
}

}  // namespace ralm::core
