// The `schedulers` plugin: `fixed` and `os3`.
#include "fixed_scheduler.hpp"
#include "os3_scheduler.hpp"
#include "ralm/ralm.hpp"

RALM_PLUGIN("schedulers", "0.1.0", "speculation schedulers (steps per verification round): fixed and OS3") {
  using ralm::SpeculationScheduler;
  namespace param = ralm::param;

  registrar.add<SpeculationScheduler>(
      "fixed", "speculate the same number of steps every round",
      {param::integer("steps_per_round", 4, "speculation steps between two verifications")
           .between(1, 1024)
           .alias("stride")},
      [](const ralm::Params& p, ralm::BuildContext&) {
        return std::make_unique<ralm::schedulers::FixedScheduler>(
            static_cast<std::int32_t>(p.get_int("steps_per_round")));
      });

  registrar.add<SpeculationScheduler>(
      "os3",
      "OS3 (RaLMSpec): the steps per round maximising verified steps per second, from online estimates",
      {
          param::integer("initial_steps_per_round", 1,
                         "steps of the first round, before anything is observed")
              .between(1, 1024)
              .alias("initial_stride"),
          param::integer("max_steps_per_round", 16, "most steps per round considered")
              .between(1, 1024)
              .alias("max_stride"),
          param::integer("gamma_window", 5, "rounds in the estimate of the speculation hit rate gamma")
              .at_least(1),
          param::real("gamma_cap", 1.0, "upper bound on the gamma estimate (1: no cap; the paper: 0.6)")
              .between(0, 1),
          param::integer("latency_window", 1,
                         "rounds in the estimates of the step and verification latencies")
              .at_least(1),
          param::integer("verify_memory", 8,
                         "rounds after which the last verification latency is forgotten and the real "
                         "search latency stands in for it (so a fallback is tried again); doubled per "
                         "lost round in a row, up to 4x")
              .at_least(1),
          param::boolean("share_estimates", true,
                         "start each request from the run's latest observations (a, b, gamma) instead of "
                         "from nothing"),
          param::boolean("fallback", true,
                         "retrieve for real (a round of 0 steps) while speculation is predicted to cost more "
                         "than it saves"),
          param::boolean(
              "batch_cost", false,
              "fit the verification latency as a line in the batch size instead of one latency for "
              "every round length (as the paper); measured slower, so off by default"),
          param::string("objective", "auto",
                        "which objective to maximise: sync; async (the paper's one-step overlap); pipelined "
                        "(the engine's asynchronous verification, which overlaps a whole round); auto: sync "
                        "or pipelined, as the engine reports")
              .one_of({"auto", "sync", "async", "pipelined"}),
      },
      [](const ralm::Params& p, ralm::BuildContext&) {
        ralm::schedulers::Os3Settings s;
        s.initial_stride = static_cast<std::int32_t>(p.get_int("initial_steps_per_round"));
        s.max_stride = static_cast<std::int32_t>(p.get_int("max_steps_per_round"));
        s.gamma_window = static_cast<std::int32_t>(p.get_int("gamma_window"));
        s.gamma_cap = p.get_float("gamma_cap");
        s.latency_window = static_cast<std::int32_t>(p.get_int("latency_window"));
        s.verify_memory = static_cast<std::int32_t>(p.get_int("verify_memory"));
        s.fallback = p.get_bool("fallback");
        s.share_estimates = p.get_bool("share_estimates");
        s.batch_cost = p.get_bool("batch_cost");
        const std::string objective = p.get_string("objective");
        using Objective = ralm::schedulers::Os3Settings::Objective;
        s.objective = objective == "sync"        ? Objective::Sync
                      : objective == "async"     ? Objective::Async
                      : objective == "pipelined" ? Objective::Pipelined
                                                 : Objective::Auto;
        if (s.initial_stride > s.max_stride) {
          p.fail("initial_steps_per_round",
                 std::to_string(s.initial_stride) + " is larger than max_steps_per_round (" +
                     std::to_string(s.max_stride) + "); lower it or raise max_steps_per_round");
        }
        return std::make_unique<ralm::schedulers::Os3Scheduler>(s);
      });
}
