// The `policies` plugin: how retrieved passages enter the computation.
#include "append_policy.hpp"
#include "none_policy.hpp"
#include "prepend_policy.hpp"
#include "ralm/ralm.hpp"

namespace {

std::shared_ptr<ralm::Model> require_model(const ralm::BuildContext& ctx, const char* policy) {
  auto model = ctx.model();
  if (!model) {
    throw ralm::InputError(std::string("the ") + policy +
                           " policy needs the pipeline's model; add a `model:` section");
  }
  return model;
}

}  // namespace

RALM_PLUGIN("policies", "0.1.0", "context policies: none, prepend (In-Context RALM), append (FlashBack)") {
  namespace param = ralm::param;
  registrar.add<ralm::ContextPolicy>("none", "no retrieval: the model alone", {},
                                     [](const ralm::Params&, ralm::BuildContext&) {
                                       return std::make_unique<ralm::policies::NonePolicy>();
                                     });

  registrar.add<ralm::ContextPolicy>(
      "prepend", "In-Context RALM: passages before the input, the context recomputed at every retrieval",
      {param::boolean("reuse_unchanged", false,
                      "keep the KV cache when a retrieval returns the same passages (beyond the paper)")},
      [](const ralm::Params& p, ralm::BuildContext& ctx) {
        const auto model = require_model(ctx, "prepend");
        return std::make_unique<ralm::policies::PrependPolicy>(model->tokenizer().bos(),
                                                               p.get_bool("reuse_unchanged"));
      });

  registrar.add<ralm::ContextPolicy>(
      "append", "FlashBack: passages after the input, the input's KV cache reused across retrievals",
      {param::boolean("marking_tokens", true,
                      "wrap each passage in <MARK_L> ... <MARK_R>, added to the vocabulary"),
       param::string("mark_left", "<MARK_L>", "the left marking token"),
       param::string("mark_right", "<MARK_R>", "the right marking token")},
      [](const ralm::Params& p, ralm::BuildContext& ctx) {
        const auto model = require_model(ctx, "append");
        std::optional<ralm::policies::MarkingTokens> marks;
        if (p.get_bool("marking_tokens")) {
          try {
            marks = ralm::policies::MarkingTokens{model->add_special_token(p.get_string("mark_left")),
                                                  model->add_special_token(p.get_string("mark_right"))};
          } catch (const ralm::InputError& e) {
            p.fail("marking_tokens", std::string(e.what()) + "; or set marking_tokens: false");
          }
        }
        return std::make_unique<ralm::policies::AppendPolicy>(marks);
      });
}
