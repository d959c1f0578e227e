// Turns a validated pipeline into live components, in build order.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ralm/context_policy.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/model.hpp"
#include "ralm/retriever.hpp"
#include "ralm/speculation_scheduler.hpp"
#include "ralm/trainer.hpp"

namespace ralm::core {

struct BuiltPipeline {
  std::shared_ptr<Model> model;                     // null when the pipeline has none
  std::shared_ptr<Retriever> retriever;             // likewise
  std::shared_ptr<Retriever> draft_retriever;       // null unless engine.draft is on (or its index is built)
  std::shared_ptr<ContextPolicy> policy;            // likewise
  std::shared_ptr<SpeculationScheduler> scheduler;  // null: no speculation
  std::shared_ptr<Trainer> trainer;                 // null unless a training config
  int threads = 1;                                  // engine.threads, 0 resolved to the core count
};

// Runs each component's factory. An InputError from a factory passes through
// (it already names the file and key); any other failure becomes an Error
// naming the section and plugin.
//
// A `draft_retriever:` is built only when engine.draft uses it or
// `index_requests` names it, and must search the retriever's passage store
// (the same size and passages), else an InputError says so.
//
// `index_requests` tells the component of a section (by kind: "retriever",
// "policy") that keeps an index on disk what to do with it (`ralm index
// build`); the others are built as configured.
using IndexRequests = std::map<std::string, IndexRequest>;
BuiltPipeline build_pipeline(const PipelineSpec& spec, const Registry& registry,
                             const IndexRequests& index_requests = {});

}  // namespace ralm::core
