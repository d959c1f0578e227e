// `ralm serve PIPELINE`: the pipeline's engine behind an HTTP API
// (docs/SERVING.md; the server is core/server/). Builds the pipeline as
// `ralm ask` does, binds, prints where it listens, and serves until SIGINT or
// SIGTERM, after which it lets running requests end within --grace.
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <sstream>
#include <thread>

#include "command.hpp"
#include "http_server.hpp"
#include "pipeline_args.hpp"
#include "ralm/core/engine/task_runner.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"

namespace ralm::cli {
namespace {

// Serving defaults for the engine's batch and queue, used when neither the
// command line nor the pipeline file sets them: a server expects many
// clients, where `ralm run` steps one request at a time.
constexpr std::int64_t kServeMaxBatch = 16;
constexpr std::int64_t kServeMaxQueue = 64;
// The prefix cache's default budget, in sequences of the model's whole
// context: enough for the passages a few requests in a row share, small
// enough that filling it (each sequence fresh memory) costs little.
constexpr std::int64_t kServePrefixSequences = 4;

// The flag if given, else the pipeline's engine.KEY if its file sets it,
// else the serving default.
std::int64_t serving_setting(const po::variables_map& vm, const char* flag, const Params& engine,
                             const char* key, std::int64_t fallback) {
  if (vm.count(flag)) return vm[flag].as<std::int64_t>();
  if (engine.value(key).where().file != "default") return engine.get_int(key);
  return fallback;
}

template <typename T>
T checked(const po::variables_map& vm, const char* flag, T least, T most, const std::string& fix) {
  const T v = vm[flag].as<T>();
  if (v < least || v > most) {
    std::ostringstream shown;
    shown << v;
    throw InputError(std::string("--") + flag + ": " + shown.str() + " is out of range; " + fix);
  }
  return v;
}

}  // namespace

int run_serve(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm serve`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_pipeline_options(options, hidden, positional);
  options.add_options()("host", po::value<std::string>()->default_value("127.0.0.1"),
                        "the address to listen on (0.0.0.0: every interface)")(
      "port", po::value<std::int64_t>()->default_value(8080), "the port to listen on; 0: any free port")(
      "max-batch", po::value<std::int64_t>(),
      "requests the engine steps together (default: the pipeline's engine.max_batch if it sets one, else "
      "16)")("max-queue", po::value<std::int64_t>(),
             "requests waiting beyond the batch before 429 (default: engine.max_queue if set, else 64; 0: no "
             "bound)")("deadline", po::value<double>()->default_value(300),
                       "seconds after which a completion is cancelled")(
      "max-body", po::value<std::int64_t>()->default_value(1 << 20),
      "the largest request body, in bytes (413)")(
      "prefix-cache-mb", po::value<std::int64_t>(),
      "MiB of passage KV kept for other requests (default: engine.prefix_cache_mb if set, else room for 4 "
      "sequences; 0: off)")(
      "grace", po::value<double>()->default_value(10),
      "seconds that running requests have to end after SIGINT or SIGTERM before they are cancelled");
  po::variables_map vm;
  if (!parse_command("serve",
                     "serve PIPELINE [--host 127.0.0.1] [--port 8080] [--max-batch N] [--max-queue N] "
                     "[--prefix-cache-mb N] [--deadline SECONDS] [--max-body BYTES] [--grace SECONDS] [--set "
                     "SECTION.KEY=VALUE ...]",
                     args, options, positional, vm, hidden)) {
    return 0;
  }
  server::ServerOptions serving;
  serving.host = vm["host"].as<std::string>();
  serving.port =
      static_cast<int>(checked<std::int64_t>(vm, "port", 0, 65535, "use 1 to 65535, or 0 for any"));
  serving.deadline_seconds = checked<double>(vm, "deadline", 1e-3, 1e7, "give seconds above 0");
  serving.max_body = static_cast<std::size_t>(
      checked<std::int64_t>(vm, "max-body", 1, std::int64_t{1} << 40, "give a size in bytes above 0"));
  serving.grace_seconds = checked<double>(vm, "grace", 0, 1e7, "give seconds, 0 or more");

  // SIGINT and SIGTERM go to one thread that waits for them (below), so they
  // are blocked before any other thread exists, and every thread inherits
  // that. A client that leaves mid-answer must fail a write, not end the
  // process with SIGPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  core::Registry registry;
  load_plugins(global, registry);
  const core::PipelineSpec spec = load_pipeline_from_args(vm, registry);
  core::EngineSettings settings = core::EngineSettings::from(spec.engine);
  settings.max_batch =
      static_cast<std::int32_t>(serving_setting(vm, "max-batch", spec.engine, "max_batch", kServeMaxBatch));
  settings.max_queue =
      static_cast<std::int32_t>(serving_setting(vm, "max-queue", spec.engine, "max_queue", kServeMaxQueue));
  if (settings.max_batch < 1)
    throw InputError("--max-batch: " + std::to_string(settings.max_batch) + " is too few; use 1 or more");
  if (settings.max_queue < 0)
    throw InputError("--max-queue: " + std::to_string(settings.max_queue) +
                     " is negative; use 0 (no bound) or more");

  const core::BuiltPipeline built = core::build_pipeline(spec, registry);
  core::log_thread_layout(built);
  std::int64_t sequence_mb = 1;
  if (built.model) {
    const ModelInfo info = built.model->info();
    sequence_mb = (std::int64_t{info.context_length} * info.kv_bytes_per_token + (1 << 20) - 1) >> 20;
  }
  const std::int64_t prefix_mb =
      serving_setting(vm, "prefix-cache-mb", spec.engine, "prefix_cache_mb",
                      kServePrefixSequences * std::max<std::int64_t>(1, sequence_mb));
  if (prefix_mb < 0)
    throw InputError("--prefix-cache-mb: " + std::to_string(prefix_mb) + " is negative; use 0 (off) or more");
  settings.prefix_cache_bytes = prefix_mb << 20;
  core::Engine engine(built, settings);
  server::HttpServer server(spec, built, engine, serving);
  const int port = server.bind();
  std::cout << "ralm serve: pipeline '" << spec.name << "' at http://" << serving.host << ":" << port
            << "/ (SIGINT or SIGTERM stops it)" << std::endl;

  std::atomic<bool> served{false};
  std::thread signals([&] {
    const timespec poll{0, 100'000'000};
    while (!served) {
      const int signal = sigtimedwait(&stop_signals, nullptr, &poll);
      if (signal <= 0) continue;
      log_info(std::string("stop: ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + "; refusing new requests");
      server.stop();
    }
  });
  server.serve();
  served = true;
  signals.join();
  return 0;
}

}  // namespace ralm::cli
