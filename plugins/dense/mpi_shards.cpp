#include "mpi_shards.hpp"

#include <dlfcn.h>
// The C API only: without this, mpi.h pulls in the deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::dense::mpi_shards {

namespace {

enum class Op : std::int64_t { search = 1, stop = 2, hello = 3 };

// A request: this header, then nq x dim floats (a search) or the index's
// fingerprint (hello). An answer to a search: nq counts, then the hits
// (int64 id, float score) of each query in order; to a hello: one byte, 1
// when the rank holds that index.
struct Header {
  Op op;
  std::int64_t nq, k;
};

constexpr int kRequestTag = 1, kAnswerTag = 2;
constexpr unsigned kOpenTimeoutMs = 120000;

template <class T>
void put(std::vector<char>& buf, const T* values, std::size_t count) {
  const auto* bytes = reinterpret_cast<const char*>(values);
  buf.insert(buf.end(), bytes, bytes + count * sizeof(T));
}

template <class T>
const char* take(const char* at, T* values, std::size_t count) {
  std::memcpy(values, at, count * sizeof(T));
  return at + count * sizeof(T);
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS)
    throw Error(std::string("dense: ") + what + " failed (MPI error " + std::to_string(rc) + ")");
}

std::vector<char> receive_from(int source, int tag) {
  MPI_Status status;
  check(MPI_Probe(source, tag, MPI_COMM_WORLD, &status), "MPI_Probe");
  int bytes = 0;
  MPI_Get_count(&status, MPI_BYTE, &bytes);
  std::vector<char> buf(static_cast<std::size_t>(bytes));
  check(MPI_Recv(buf.data(), bytes, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  return buf;
}

// Every answer starts with the seconds the shard rank spent on it, so that
// rank 0 can tell its search time from the network's.
void send_answer(std::span<const char> body, std::chrono::steady_clock::time_point received) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count();
  std::vector<char> answer;
  put(answer, &seconds, 1);
  answer.insert(answer.end(), body.begin(), body.end());
  MPI_Send(answer.data(), static_cast<int>(answer.size()), MPI_BYTE, 0, kAnswerTag, MPI_COMM_WORLD);
}

bool finalize_at_exit = true;
std::int64_t shard_ranks_to_stop = 0;  // rank 0: how many shard ranks wait for work

void stop_shard_ranks() {
  if (!finalize_at_exit) return;
  const Header stop{Op::stop, 0, 0};
  for (std::int64_t s = 1; s <= shard_ranks_to_stop; ++s)
    MPI_Send(&stop, sizeof stop, MPI_BYTE, static_cast<int>(s), kRequestTag, MPI_COMM_WORLD);
}

void finalize() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // After a rank stopped answering, MPI_Finalize would wait for it: end
  // without it, and mpirun ends the job (its exit status says why).
  if (!finalized && !finalize_at_exit) std::_Exit(1);
  if (!finalized) MPI_Finalize();
}

}  // namespace

Job join_job() {
  static const Job job = [] {
    if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMIX_RANK")) {
      throw InputError(
          "dense: shards > 1 searches over the ranks of an MPI job: start the pipeline with `mpirun -np "
          "SHARDS+1 ralm ...` (docs/PIPELINES.md)");
    }
    // Open MPI's components resolve libmpi's symbols globally.
    if (!dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) &&
        !dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
      log_warn("dense: could not make libmpi's symbols global; Open MPI may fail to load its components");
    }
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
      std::atexit(finalize);
    }
    Job j;
    MPI_Comm_rank(MPI_COMM_WORLD, &j.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &j.size);
    return j;
  }();
  return job;
}

void stop_shard_ranks_at_exit(std::int64_t shards) {
  if (shard_ranks_to_stop == 0) std::atexit(stop_shard_ranks);
  shard_ranks_to_stop = shards;
}

void leave_job(int status) {
  MPI_Finalize();
  std::_Exit(status);
}

namespace {

// Rank 0's next request, waited for by polling with short sleeps, not in
// MPI_Probe: Open MPI's blocking calls spin, and shard ranks sharing a
// machine with rank 0 (a one-machine job, the tests) would take its cores
// while idle.
std::vector<char> next_request() {
  for (auto pause = std::chrono::microseconds(1);;) {
    int ready = 0;
    check(MPI_Iprobe(0, kRequestTag, MPI_COMM_WORLD, &ready, MPI_STATUS_IGNORE), "MPI_Iprobe");
    if (ready) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(100));
  }
  return receive_from(0, kRequestTag);
}

}  // namespace

void serve_shard(const std::function<ServedShard()>& open) {
  std::optional<ServedShard> shard;
  std::string refusal;  // why the shard could not be opened
  for (;;) {
    const std::vector<char> request = next_request();
    const auto received = std::chrono::steady_clock::now();
    Header h{};
    const char* at = take(request.data(), &h, 1);
    if (h.op == Op::stop) break;
    if (h.op == Op::hello) {
      // Rank 0 opened a pipeline (building what was missing first): open
      // this rank's shard now, and say whether it holds rank 0's index. A
      // refusal is 0 and the reason, which rank 0 reports.
      if (!shard && refusal.empty()) {
        try {
          shard = open();
        } catch (const InputError& e) {
          refusal = e.what();
        }
      }
      if (!shard) {
        std::vector<char> answer{0};
        answer.insert(answer.end(), refusal.begin(), refusal.end());
        send_answer(answer, received);
        continue;
      }
      const std::string theirs(at, request.data() + request.size());
      const char same = theirs == shard->fingerprint ? 1 : 0;
      send_answer({&same, 1}, received);
      continue;
    }
    if (!shard) throw Error("dense: a search reached an MPI shard rank that holds no shard");
    std::vector<float> queries(static_cast<std::size_t>(h.nq * shard->dim));
    at = take(at, queries.data(), queries.size());
    std::vector<char> answer;
    const auto hits = shard->search(queries.data(), h.nq, h.k);
    for (const auto& q : hits) {
      const auto count = static_cast<std::int64_t>(q.size());
      put(answer, &count, 1);
    }
    for (const auto& q : hits) {
      for (const Hit& hit : q) {
        const std::int64_t id = hit.id + shard->first_row;
        put(answer, &id, 1);
        put(answer, &hit.score, 1);
      }
    }
    send_answer(answer, received);
  }
  leave_job(0);
}

ShardClient::ShardClient(std::int64_t shards, std::int64_t dim, unsigned timeout_ms,
                         const std::string& fingerprint)
    : shards_(shards), dim_(dim), timeout_ms_(timeout_ms) {
  stop_shard_ranks_at_exit(shards);
  std::vector<char> hello;
  const Header h{Op::hello, 0, 0};
  put(hello, &h, 1);
  put(hello, fingerprint.data(), fingerprint.size());
  std::lock_guard lock(mutex_);
  // A shard rank opens its file set when greeted (mapping its rows, reading
  // its FAISS index): longer than a search may take.
  const unsigned open_timeout_ms = std::max(timeout_ms_, kOpenTimeoutMs);
  const std::vector<std::vector<char>> answers =
      exchange(hello, open_timeout_ms,
               "the greeting, when a shard rank opens its shard set, within " +
                   std::to_string(open_timeout_ms / 1000) + " s");
  times_ = {};  // the greeting is no search
  for (std::size_t s = 0; s < answers.size(); ++s) {
    const std::vector<char>& answer = answers[s];
    if (answer.size() > 1 && answer[0] == 0) {
      throw InputError("dense: MPI rank " + std::to_string(s + 1) + ": " +
                       std::string(answer.begin() + 1, answer.end()));
    }
    if (answer != std::vector<char>{1}) {
      throw InputError("dense: MPI rank " + std::to_string(s + 1) +
                       " holds other rows than this pipeline's (" + fingerprint +
                       "): another index, or a shard set cut from another copy of this one (rebuild the sets "
                       "with `ralm index build PIPELINE --force`); a job serves one sharded index");
    }
  }
}

std::vector<std::vector<char>> ShardClient::exchange(const std::vector<char>& request, unsigned timeout_ms,
                                                     const std::string& awaited) {
  if (!finalize_at_exit) throw Error("dense: an MPI shard rank stopped answering earlier in this run");
  const auto n = static_cast<std::size_t>(shards_);
  std::vector<MPI_Request> sends(n);
  for (std::size_t s = 0; s < n; ++s) {
    check(MPI_Isend(request.data(), static_cast<int>(request.size()), MPI_BYTE, static_cast<int>(s + 1),
                    kRequestTag, MPI_COMM_WORLD, &sends[s]),
          "MPI_Isend");
  }
  // Answers are awaited by polling, so that a rank that stalls (or a machine
  // that went away without the runtime noticing) is named within the
  // timeout instead of blocking the engine forever.
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::vector<char>> answers(n);
  std::vector<bool> done(n, false);
  std::size_t left = n;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto pause = std::chrono::microseconds(1);
  while (left > 0) {
    bool progressed = false;
    for (std::size_t s = 0; s < n; ++s) {
      if (done[s]) continue;
      int ready = 0;
      MPI_Status status;
      check(MPI_Iprobe(static_cast<int>(s + 1), kAnswerTag, MPI_COMM_WORLD, &ready, &status), "MPI_Iprobe");
      if (!ready) continue;
      answers[s] = receive_from(static_cast<int>(s + 1), kAnswerTag);
      done[s] = true;
      --left;
      progressed = true;
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      finalize_at_exit = false;
      std::string missing;
      for (std::size_t s = 0; s < n; ++s) {
        if (!done[s]) missing += (missing.empty() ? "" : ", ") + std::to_string(s + 1);
      }
      throw Error("dense: MPI rank " + missing + " (of shards 1.." + std::to_string(shards_) +
                  ") did not answer " + awaited +
                  "; is it alive and reachable? (mpirun's output names a rank that died)");
    }
    if (progressed) {
      pause = std::chrono::microseconds(1);
    } else {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(200));
    }
  }
  MPI_Waitall(static_cast<int>(n), sends.data(), MPI_STATUSES_IGNORE);
  double slowest = 0;
  for (std::vector<char>& answer : answers) {
    double seconds = 0;
    take(answer.data(), &seconds, 1);
    slowest = std::max(slowest, seconds);
    answer.erase(answer.begin(), answer.begin() + sizeof(double));
  }
  times_.exchanges += 1;
  times_.wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  times_.slowest_shard_s += slowest;
  return answers;
}

std::vector<std::vector<Hit>> ShardClient::search(const float* queries, std::int64_t nq, std::int64_t k) {
  std::vector<char> request;
  const Header h{Op::search, nq, k};
  put(request, &h, 1);
  put(request, queries, static_cast<std::size_t>(nq * dim_));
  std::vector<std::vector<char>> answers;
  {
    std::lock_guard lock(mutex_);
    answers = exchange(request, timeout_ms_, "within timeout_ms " + std::to_string(timeout_ms_));
  }
  std::vector<std::vector<Hit>> merged(static_cast<std::size_t>(nq));
  for (const std::vector<char>& answer : answers) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(nq));
    const char* at = take(answer.data(), counts.data(), counts.size());
    for (std::int64_t q = 0; q < nq; ++q) {
      for (std::int64_t i = 0; i < counts[static_cast<std::size_t>(q)]; ++i) {
        Hit hit;
        std::int64_t id = 0;
        at = take(at, &id, 1);
        at = take(at, &hit.score, 1);
        hit.id = id;
        merged[static_cast<std::size_t>(q)].push_back(hit);
      }
    }
  }
  for (auto& hits : merged)
    rank_hits(hits, k);
  return merged;
}

}  // namespace ralm::dense::mpi_shards
