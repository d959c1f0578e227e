#include "ralm/core/pipeline_builder.hpp"

#include <thread>

#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::core {
namespace {

class PipelineBuildContext final : public BuildContext {
 public:
  explicit PipelineBuildContext(const BuiltPipeline& built) : built_(built) {}
  std::shared_ptr<Model> model() const override { return built_.model; }
  std::shared_ptr<Retriever> retriever() const override { return built_.retriever; }
  int threads() const override { return built_.threads; }

 private:
  const BuiltPipeline& built_;
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

}  // namespace

BuiltPipeline build_pipeline(const PipelineSpec& spec, const Registry& registry) {
  BuiltPipeline built;
  const auto threads = spec.engine.get_int("threads");
  built.threads = threads > 0 ? static_cast<int>(threads)
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  PipelineBuildContext ctx(built);
  for (const ComponentSpec& c : spec.components) {
    log_debug("building " + c.kind + " '" + c.plugin + "'");
    if (c.kind == Model::kKind) built.model = build<Model>(c, registry, ctx);
    if (c.kind == Retriever::kKind) built.retriever = build<Retriever>(c, registry, ctx);
    if (c.kind == ContextPolicy::kKind) built.policy = build<ContextPolicy>(c, registry, ctx);
    if (c.kind == SpeculationScheduler::kKind)
      built.scheduler = build<SpeculationScheduler>(c, registry, ctx);
    if (c.kind == Trainer::kKind) built.trainer = build<Trainer>(c, registry, ctx);
  }
  return built;
}

}  // namespace ralm::core
