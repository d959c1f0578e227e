#include "ralm/core/engine_params.hpp"

namespace ralm::core {

// Defaults are In-Context RALM's, the baseline FlashBack and RaLMSpec measure
// against: retrieve every 4 tokens with the last 32 tokens as the query, one
// passage truncated to 256 tokens.
const ParamSpecs& engine_param_specs() {
  static const ParamSpecs specs = {
      param::integer("stride", 4, "generated tokens between two retrievals").at_least(1),
      param::integer("query_tokens", 32, "the last this many tokens, detokenised, form the retrieval query")
          .at_least(1),
      param::integer("top_k", 1, "passages handed to the context policy at each retrieval").at_least(1),
      param::integer("max_passage_tokens", 256, "each passage is truncated to this many tokens").at_least(1),
      param::integer("max_new_tokens", 64, "tokens to generate per request (fewer if EOS comes first)")
          .at_least(1),
      param::real("temperature", 0.0,
                  "0: greedy decoding; otherwise sample from softmax(logits / temperature)")
          .at_least(0),
      param::integer("top_k_sampling", 0, "sampling: keep only the k most likely tokens; 0: all").at_least(0),
      param::real("top_p", 1.0, "sampling: keep the fewest most likely tokens whose probability reaches p")
          .between(0, 1),
      param::integer("seed", 0, "sampling: the generator's seed (each request starts from it)").at_least(0),
      // RaLMSpec (used only when the pipeline has a `scheduler:`).
      param::integer("prefetch", 20,
                     "speculation: each real search puts its top this-many passages in the speculative cache")
          .at_least(1),
      param::boolean("async_verification", false,
                     "speculation: verify on another thread while the next step runs"),
      param::integer(
          "cache_capacity", 4096,
          "speculation: passages the cache holds before evicting the least recently used; 0: no bound")
          .at_least(0),
      param::integer("successors", 10,
                     "speculative kNN-LM: each entry a search finds puts this many entries after it in the "
                     "cache")
          .at_least(1),
      param::string("draft", "off",
                    "speculation: where speculated passages come from besides the cache: off (the cache "
                    "alone), only (the draft_retriever's top prefetch), with_cache (both); candidates are "
                    "ranked by the retriever's score()")
          .one_of({"off", "only", "with_cache"}),
      param::boolean("shared_cache", false,
                     "speculation: one cache for every request of the run instead of one per request"),
      // Serving: `ralm run` and `compare` measure one request at a time (1);
      // `ralm serve --max-batch` sets it for a server.
      param::integer("max_batch", 1, "requests the engine steps together (continuous batching)").at_least(1),
      param::integer("max_queue", 0,
                     "requests waiting beyond max_batch before new ones are refused; 0: no bound")
          .at_least(0),
      param::integer("prefill_chunk", 256,
                     "the most prompt tokens one request adds to a batched step, so long prompts do not "
                     "stall the others' decode")
          .at_least(1),
      // Off by default: `ralm run` and `compare` keep In-Context RALM's cost
      // of recomputing every layout; a server turns it on.
      param::integer("prefix_cache_mb", 0,
                     "MiB of KV cache kept for the leading tokens layouts share (BOS and the passages, for "
                     "prepend), copied into later requests instead of recomputed; 0: off")
          .between(0, 1 << 20),
      param::integer("threads", 0, "threads for the model and the retriever; 0: one per core").at_least(0),
  };
  return specs;
}

}  // namespace ralm::core
