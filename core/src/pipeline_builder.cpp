#include "ralm/core/pipeline_builder.hpp"

#include <thread>

#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::core {
namespace {

class PipelineBuildContext final : public BuildContext {
 public:
  PipelineBuildContext(const BuiltPipeline& built, const IndexRequests& index_requests)
      : built_(built), index_requests_(index_requests) {}
  // The section whose factory runs next.
  void building(const std::string& kind) { kind_ = kind; }
  std::shared_ptr<Model> model() const override { return built_.model; }
  std::shared_ptr<Retriever> retriever() const override { return built_.retriever; }
  int threads() const override { return built_.threads; }
  IndexRequest index_request() const override {
    const auto it = index_requests_.find(kind_);
    return it == index_requests_.end() ? IndexRequest::AsConfigured : it->second;
  }

 private:
  const BuiltPipeline& built_;
  const IndexRequests& index_requests_;
  std::string kind_;
};

template <class Interface>
std::shared_ptr<Interface> build(const ComponentSpec& c, const Registry& registry, BuildContext& ctx) {
  try {
    return registry.create<Interface>(*c.entry, c.params, ctx);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(c.where.str() + ": " + c.kind + " plugin '" + c.plugin + "' failed to start: " + e.what());
  }
}

bool same_passage(const Passage& a, const Passage& b) {
  return a.title == b.title && a.text == b.text;
}

// A draft's speculation is only ever accepted when its ids mean the
// retriever's passages: the same store, which its size and its first and
// last passages stand for.
void check_draft_store(const BuiltPipeline& built, const ComponentSpec& draft) {
  const std::int64_t n = built.draft_retriever->size();
  const std::int64_t expected = built.retriever->size();
  std::string differs;
  if (n != expected) {
    differs = "it holds " + std::to_string(n) + " passages and the retriever " + std::to_string(expected);
  } else if (n > 0 &&
             !(same_passage(built.draft_retriever->passage(0), built.retriever->passage(0)) &&
               same_passage(built.draft_retriever->passage(n - 1), built.retriever->passage(n - 1)))) {
    differs = "its passages are not the retriever's";
  }
  if (differs.empty()) return;
  draft.params.fail("corpus", "the draft retriever must search the retriever's passage store, and " +
                                  differs + "; give it the retriever's corpus");
}

}  // namespace

BuiltPipeline build_pipeline(const PipelineSpec& spec, const Registry& registry,
                             const IndexRequests& index_requests) {
  BuiltPipeline built;
  const auto threads = spec.engine.get_int("threads");
  built.threads = threads > 0 ? static_cast<int>(threads)
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  PipelineBuildContext ctx(built, index_requests);
  const bool drafting = spec.engine.get_string("draft") != "off";
  for (const ComponentSpec& c : spec.components) {
    if (c.kind == kDraftRetrieverSection && !drafting && !index_requests.contains(c.kind)) {
      log_info("draft_retriever: not built, engine.draft is off");
      continue;
    }
    log_debug("building " + c.kind + " '" + c.plugin + "'");
    ctx.building(c.kind);
    if (c.kind == Model::kKind) built.model = build<Model>(c, registry, ctx);
    if (c.kind == Retriever::kKind) built.retriever = build<Retriever>(c, registry, ctx);
    if (c.kind == kDraftRetrieverSection) {
      built.draft_retriever = build<Retriever>(c, registry, ctx);
      if (built.retriever) check_draft_store(built, c);
    }
    if (c.kind == ContextPolicy::kKind) built.policy = build<ContextPolicy>(c, registry, ctx);
    if (c.kind == SpeculationScheduler::kKind)
      built.scheduler = build<SpeculationScheduler>(c, registry, ctx);
    if (c.kind == Trainer::kKind) built.trainer = build<Trainer>(c, registry, ctx);
  }
  return built;
}

}  // namespace ralm::core
