// Continuous batching: the requests running in an engine each advance on a
// thread of their own, written as plain sequential code (the request loop,
// its speculators), but every model evaluation and retriever call they make
// is handed to one scheduler thread here, which runs them together in
// *steps*:
//
//   - the searches waiting at a step go out as one Retriever::search per k;
//   - the evaluations waiting at a step go through one Model::eval_batch
//     (per distinct EvalOptions), each sequence's tokens cut to at most
//     `prefill_chunk` per step, so a long prompt joins the running decodes
//     over several steps instead of stalling them.
//
// A step starts once every request thread taking part waits on the batcher
// (so the batch holds every request that has work), or at once for a call
// from a thread outside the requests (asynchronous verification's searches),
// which a request may be waiting on. A request running alone runs its steps
// on its own thread, as it would without the batcher.
//
// Exactness rests on the Model contract: a sequence's results in a batch are
// bit-identical to evaluating it alone, and its keys and values do not depend
// on how its tokens were chunked. So each request's output is the one it gets
// alone, whatever runs beside it.
//
// A request thread must never hold a lock another request thread may wait
// for while it calls the batcher: the waiting thread would count as busy and
// the step it waits for would never start.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ralm/model.hpp"
#include "ralm/retriever.hpp"

namespace ralm::core {

struct BatcherStats {
  std::int64_t steps = 0;              // Model::eval_batch calls
  std::int64_t stepped_sequences = 0;  // sequences in them, summed
  std::int32_t largest_batch = 0;
  std::int64_t searches = 0, searched_queries = 0;
  std::int64_t prefill_tokens = 0, decode_tokens = 0;
};

class ContinuousBatcher {
 public:
  // `retriever` may be null (a pipeline without one).
  ContinuousBatcher(Model& model, Retriever* retriever, std::int32_t prefill_chunk);
  ~ContinuousBatcher();
  ContinuousBatcher(const ContinuousBatcher&) = delete;
  ContinuousBatcher& operator=(const ContinuousBatcher&) = delete;

  // Marks the calling thread as running a request from construction to
  // destruction: steps wait for it to reach the batcher.
  class Participant {
   public:
    explicit Participant(ContinuousBatcher& batcher);
    ~Participant();
    Participant(const Participant&) = delete;
    Participant& operator=(const Participant&) = delete;

   private:
    ContinuousBatcher& batcher_;
  };

  // Model::eval, evaluated within the next steps with the other requests'.
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options);
  // Retriever::search, sent within the next step with the others due then.
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k);
  // Runs `work` on the scheduler thread between steps: retriever calls that
  // are not searches (scoring may encode the query with the model itself).
  void run_between_steps(const std::function<void()>& work);

  BatcherStats stats() const;

 private:
  struct Call {
    bool participant = false;  // from a request thread
    bool done = false;
    std::exception_ptr error;
  };
  struct EvalCall : Call {
    Sequence* seq = nullptr;
    std::span<const TokenId> tokens;
    EvalOptions options;
    std::size_t next = 0;  // tokens evaluated so far
    EvalResult result;
  };
  struct SearchCall : Call {
    std::span<const std::string> queries;
    std::int64_t k = 0;
    std::vector<std::vector<Hit>> result;
  };
  struct WorkCall : Call {
    const std::function<void()>* work = nullptr;
  };

  // Queues `call`, wakes the scheduler and waits for the call to be done.
  void wait_for(Call& call, const std::function<void()>& enqueue);
  bool step_due() const;
  void schedule();
  void step(std::unique_lock<std::mutex>& lock);
  void run_searches(const std::vector<SearchCall*>& calls);
  void run_evaluations(const std::vector<EvalCall*>& calls);
  void run_group(const std::vector<EvalCall*>& group, const EvalOptions& options);
  void finish(Call& call);

  Model& model_;
  Retriever* retriever_;
  std::int32_t prefill_chunk_;

  mutable std::mutex mutex_;
  std::condition_variable work_;  // the scheduler waits here
  std::condition_variable done_;  // callers wait here
  std::int32_t participants_ = 0;
  std::int32_t waiting_participants_ = 0;
  std::int32_t waiting_others_ = 0;
  std::vector<EvalCall*> evals_;
  std::vector<SearchCall*> searches_;
  std::vector<WorkCall*> works_;
  BatcherStats stats_;
  bool stepping_ = false;  // a step runs, on the scheduler or a lone request's thread
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything it reads exists
};

}  // namespace ralm::core
