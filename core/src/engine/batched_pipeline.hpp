// A built pipeline whose model and retriever hand their work to a
// ContinuousBatcher: the request loop runs on it unchanged, and its
// evaluations and searches join the other requests' steps.
#pragma once

#include "continuous_batcher.hpp"
#include "ralm/core/pipeline_builder.hpp"

namespace ralm::core {

// The same pipeline with its model's eval/eval_batch and its retriever's
// search/score/score_batch going through `batcher`; everything else (the
// tokenizer, sequences, passages, the policy and scheduler) is the
// pipeline's own. Both must outlive the result.
BuiltPipeline batched_pipeline(const BuiltPipeline& pipeline, ContinuousBatcher& batcher);

}  // namespace ralm::core
