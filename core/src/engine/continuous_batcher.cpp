#include "continuous_batcher.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>
#include <utility>

#include "ralm/error.hpp"

namespace ralm::core {

namespace {

// The batcher the calling thread runs a request for, if any.
thread_local const ContinuousBatcher* participating = nullptr;

// A step starts without a busy request thread after this long: a request
// blocked somewhere the batcher cannot see must not hold the others forever.
constexpr auto kBusyPatience = std::chrono::milliseconds(50);

template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

ContinuousBatcher::ContinuousBatcher(Model& model, Retriever* retriever, std::int32_t prefill_chunk)
    : model_(model),
      retriever_(retriever),
      prefill_chunk_(std::max<std::int32_t>(1, prefill_chunk)),
      thread_([this] { schedule(); }) {}

ContinuousBatcher::~ContinuousBatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

ContinuousBatcher::Participant::Participant(ContinuousBatcher& batcher) : batcher_(batcher) {
  std::lock_guard lock(batcher_.mutex_);
  ++batcher_.participants_;
  participating = &batcher_;
}

ContinuousBatcher::Participant::~Participant() {
  {
    std::lock_guard lock(batcher_.mutex_);
    --batcher_.participants_;
    participating = nullptr;
  }
  // The others may now be all the step waits for.
  batcher_.work_.notify_one();
}

void ContinuousBatcher::wait_for(Call& call, const std::function<void()>& enqueue) {
  call.participant = participating == this;
  std::unique_lock lock(mutex_);
  if (stopping_) throw Error("the engine is shutting down");
  // A request running alone steps on its own thread: handing each token's
  // evaluation to the scheduler thread and back would cost it a round of
  // wake-ups per token for nothing to batch with. Requests that arrive
  // meanwhile join these steps.
  const bool alone = call.participant && participants_ == 1 && !stepping_ && evals_.empty() &&
                     searches_.empty() && works_.empty();
  enqueue();
  ++(call.participant ? waiting_participants_ : waiting_others_);
  if (alone) {
    stepping_ = true;
    while (!call.done)
      step(lock);
    stepping_ = false;
    work_.notify_one();  // what joined meanwhile, if anything, is the scheduler's
  } else {
    work_.notify_one();
    done_.wait(lock, [&] { return call.done; });
  }
  if (call.error) std::rethrow_exception(call.error);
}

EvalResult ContinuousBatcher::eval(Sequence& seq, std::span<const TokenId> tokens,
                                   const EvalOptions& options) {
  EvalCall call;
  call.seq = &seq;
  call.tokens = tokens;
  call.options = options;
  wait_for(call, [&] { evals_.push_back(&call); });
  return std::move(call.result);
}

std::vector<std::vector<Hit>> ContinuousBatcher::search(std::span<const std::string> queries,
                                                        std::int64_t k) {
  SearchCall call;
  call.queries = queries;
  call.k = k;
  wait_for(call, [&] { searches_.push_back(&call); });
  return std::move(call.result);
}

void ContinuousBatcher::run_between_steps(const std::function<void()>& work) {
  WorkCall call;
  call.work = &work;
  wait_for(call, [&] { works_.push_back(&call); });
}

BatcherStats ContinuousBatcher::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool ContinuousBatcher::step_due() const {
  if (evals_.empty() && searches_.empty() && works_.empty()) return false;
  return waiting_others_ > 0 || waiting_participants_ >= participants_;
}

// Called with the mutex held, once the call's work is done.
void ContinuousBatcher::finish(Call& call) {
  call.done = true;
  --(call.participant ? waiting_participants_ : waiting_others_);
}

void ContinuousBatcher::schedule() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!work_.wait_for(lock, kBusyPatience, [this] { return stopping_ || (!stepping_ && step_due()); })) {
      if (stepping_ || (evals_.empty() && searches_.empty() && works_.empty())) continue;
    }
    if (stopping_ && evals_.empty() && searches_.empty() && works_.empty()) return;
    if (stepping_) continue;
    stepping_ = true;
    step(lock);
    stepping_ = false;
  }
}

// One step over every call waiting; the mutex is released while it runs.
void ContinuousBatcher::step(std::unique_lock<std::mutex>& lock) {
  const std::vector<SearchCall*> searches = std::exchange(searches_, {});
  const std::vector<WorkCall*> works = std::exchange(works_, {});
  const std::vector<EvalCall*> evals = evals_;
  lock.unlock();
  run_searches(searches);
  for (WorkCall* call : works) {
    try {
      (*call->work)();
    } catch (...) {
      call->error = std::current_exception();
    }
  }
  run_evaluations(evals);
  lock.lock();

  for (Call* call : searches)
    finish(*call);
  for (Call* call : works)
    finish(*call);
  for (EvalCall* call : evals) {
    if (call->error || call->next >= call->tokens.size()) finish(*call);
  }
  std::erase_if(evals_, [](const EvalCall* call) { return call->done; });
  done_.notify_all();
}

void ContinuousBatcher::run_searches(const std::vector<SearchCall*>& calls) {
  if (calls.empty()) return;
  // One search per k, each query's hits back to the call that asked.
  std::map<std::int64_t, std::vector<SearchCall*>> by_k;
  for (SearchCall* call : calls)
    by_k[call->k].push_back(call);
  for (auto& [k, group] : by_k) {
    std::vector<std::string> queries;
    for (const SearchCall* call : group)
      queries.insert(queries.end(), call->queries.begin(), call->queries.end());
    try {
      if (retriever_ == nullptr) throw Error("the pipeline has no retriever to search");
      std::vector<std::vector<Hit>> hits = retriever_->search(queries, k);
      std::size_t at = 0;
      for (SearchCall* call : group) {
        for (std::size_t i = 0; i < call->queries.size(); ++i)
          call->result.push_back(std::move(hits[at++]));
      }
    } catch (...) {
      for (SearchCall* call : group)
        call->error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    stats_.searches += 1;
    stats_.searched_queries += static_cast<std::int64_t>(queries.size());
  }
}

void ContinuousBatcher::run_evaluations(const std::vector<EvalCall*>& calls) {
  // Sequences asking for the same outputs share one eval_batch.
  std::map<std::tuple<bool, bool, bool>, std::vector<EvalCall*>> groups;
  for (EvalCall* call : calls)
    groups[{call->options.all_logits, call->options.keys, call->options.hidden}].push_back(call);
  for (auto& [options, group] : groups)
    run_group(group, EvalOptions{std::get<0>(options), std::get<1>(options), std::get<2>(options)});
}

void ContinuousBatcher::run_group(const std::vector<EvalCall*>& group, const EvalOptions& options) {
  std::vector<Sequence*> seqs;
  std::vector<std::span<const TokenId>> chunks;
  std::int64_t prefill = 0, decode = 0;
  for (const EvalCall* call : group) {
    const std::size_t left = call->tokens.size() - call->next;
    const std::size_t n = std::min(left, static_cast<std::size_t>(prefill_chunk_));
    seqs.push_back(call->seq);
    chunks.push_back(call->tokens.subspan(call->next, n));
    (call->tokens.size() == 1 ? decode : prefill) += static_cast<std::int64_t>(n);
  }
  std::vector<std::int32_t> lengths;
  for (const Sequence* seq : seqs)
    lengths.push_back(seq->length());
  std::vector<EvalResult> results;
  try {
    results = model_.eval_batch(seqs, chunks, options);
  } catch (...) {
    // One bad sequence must not fail the others: each goes again alone,
    // from where it stood before the batch.
    results.assign(group.size(), EvalResult{});
    for (std::size_t i = 0; i < group.size(); ++i) {
      EvalCall& call = *group[i];
      try {
        if (call.seq->length() > lengths[i]) call.seq->truncate(lengths[i]);
        results[i] = model_.eval(*call.seq, chunks[i], options);
      } catch (...) {
        call.error = std::current_exception();
      }
    }
  }
  for (std::size_t i = 0; i < group.size(); ++i) {
    EvalCall& call = *group[i];
    if (call.error) continue;
    EvalResult& r = results[i];
    EvalResult& into = call.result;
    call.next += chunks[i].size();
    // Every-position outputs accumulate over the chunks; the last position's
    // logits are the last chunk's.
    if (options.all_logits) {
      append(into.logits, r.logits);
      into.rows += r.rows;
    } else {
      into.logits = std::move(r.logits);
      into.rows = r.rows;
    }
    append(into.keys, r.keys);
    append(into.hidden, r.hidden);
  }
  std::lock_guard lock(mutex_);
  stats_.steps += 1;
  stats_.stepped_sequences += static_cast<std::int64_t>(group.size());
  stats_.largest_batch = std::max(stats_.largest_batch, static_cast<std::int32_t>(group.size()));
  stats_.prefill_tokens += prefill;
  stats_.decode_tokens += decode;
}

}  // namespace ralm::core
