#include "http_server.hpp"

#include <sys/socket.h>

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "completion_json.hpp"
#include "completion_request.hpp"
#include "completion_run.hpp"
#include "metrics.hpp"
#include "page.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "retriever_access.hpp"

namespace ralm::server {
namespace {

using Clock = std::chrono::steady_clock;

// How long a request's HTTP thread sleeps between looks at it when no token
// comes: the delay, at most, between a request's end and its answer.
constexpr std::chrono::milliseconds kPoll(10);
// Idle keep-alive connections hold a pool thread, and a stop waits for them.
constexpr time_t kKeepAliveSeconds = 2;
// Pool threads beyond the engine's batch and queue, for /health, /metrics,
// the page, and the requests that the full queue answers with 429.
constexpr std::size_t kSpareThreads = 8;

// The paths and the methods each answers (GET answers HEAD too).
const std::map<std::string, std::string> kRoutes = {
    {"/", "GET"},          {"/health", "GET"},          {"/metrics", "GET"},
    {"/v1/models", "GET"}, {"/v1/completions", "POST"}, {"/v1/retrieve", "POST"}};

// The line logged for a request, gathered on its connection's thread: httplib
// answers a request (its streamed body too) and then logs it on one thread.
struct RequestLog {
  Clock::time_point start{};
  std::string tokens = "-";
};
thread_local RequestLog request_log;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void reply_json(httplib::Response& res, int status, const core::ResultJson& body) {
  res.status = status;
  res.set_content(core::dump_json(body), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                 const std::string& param = "") {
  reply_json(res, status, error_body(message, type, param));
}

std::string allowed_methods(const std::string& method) {
  return method == "GET" ? "GET, HEAD" : method;
}

}  // namespace

struct HttpServer::Impl {
  Impl(const core::PipelineSpec& spec, const core::BuiltPipeline& built, core::Engine& running,
       ServerOptions serving);

  void routes();
  void complete(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void complete_whole(CompletionRun& run, const CompletionRequest& request, const CompletionIdentity& who,
                      httplib::Response& res);
  // The run and its slot go with the stream, which outlives the handler: the
  // slot until httplib has written the stream's end, so that a stop cannot
  // close the listening socket (which cuts streams short) before it.
  void complete_streamed(std::shared_ptr<CompletionRun> run, std::shared_ptr<void> slot,
                         const CompletionRequest& request, CompletionIdentity who, httplib::Response& res);
  void retrieve(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  // The body, at most max_body bytes; false after answering 413 or 400.
  bool read_body(httplib::Response& res, const httplib::ContentReader& reader, std::string& body) const;
  // How a finished run ended, for its body or last event; rethrows the
  // engine's failure.
  CompletionEnd end_of(const CompletionRun& run, const CompletionRequest& request);
  // A failed run's answer: an InputError the engine raised is the request's
  // fault (400), anything else the server's (500).
  static std::pair<int, core::ResultJson> failure_of(std::exception_ptr failure);

  // Admission of a completion or retrieval: a slot the stop waits for, or
  // none while stopping.
  std::shared_ptr<void> admit();
  void stop_when_idle();

  const core::BuiltPipeline& pipeline;
  core::Engine& engine;
  ServerOptions options;
  CompletionLimits limits;
  core::ResultJson models;  // GET /v1/models
  RetrieverAccess retriever;
  ServerMetrics metrics;
  httplib::Server http;
  std::atomic<std::int64_t> next_id{1};

  std::mutex stop_mutex;
  std::condition_variable stop_changed;
  int stop_calls = 0;
  bool served = false;  // serve() returned: nothing left to stop
  int active = 0;       // admitted completions and retrievals not yet answered
  std::atomic<bool> stopping{false};
  std::atomic<bool> cancelling{false};  // running completions cancel at their next look
};

HttpServer::Impl::Impl(const core::PipelineSpec& spec, const core::BuiltPipeline& built,
                       core::Engine& running, ServerOptions serving)
    : pipeline(built),
      engine(running),
      options(std::move(serving)),
      limits(completion_limits(built, running.settings(), spec.name)),
      retriever(built.retriever.get()) {
  const auto plugin_of = [&spec](const char* kind) {
    const core::ComponentSpec* component = spec.find(kind);
    return component ? core::ResultJson(component->plugin) : core::ResultJson(nullptr);
  };
  core::ResultJson about = {{"pipeline", spec.file},
                            {"policy", plugin_of("policy")},
                            {"retriever", plugin_of("retriever")},
                            {"speculation", pipeline.scheduler != nullptr},
                            {"context_length", limits.context_length}};
  core::ResultJson model = {
      {"id", spec.name}, {"object", "model"}, {"owned_by", "ralmkit"}, {"ralm", std::move(about)}};
  models = {{"object", "list"}, {"data", core::ResultJson::array({std::move(model)})}};
  routes();
}

void HttpServer::Impl::routes() {
  const core::EngineSettings& settings = engine.settings();
  const std::size_t queue = settings.max_queue > 0 ? static_cast<std::size_t>(settings.max_queue) : 64;
  const std::size_t threads = static_cast<std::size_t>(settings.max_batch) + queue + kSpareThreads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_keep_alive_timeout(kKeepAliveSeconds);
  http.set_tcp_nodelay(true);
  http.set_payload_max_length(options.max_body);

  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    const std::string_view page = index_html();
    res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (stopping) {
      reply_json(res, 503, {{"status", "stopping"}});
    } else {
      reply_json(res, 200, {{"status", "ok"}});
    }
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(engine.stats()), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/v1/models",
           [this](const httplib::Request&, httplib::Response& res) { reply_json(res, 200, models); });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) { complete(req, res, reader); });
  http.Post("/v1/retrieve", [this](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) { retrieve(req, res, reader); });

  // Anything else: a known path asked with another method (405), or no such
  // path (404). Registered last, after the routes above.
  const auto elsewhere = [](const httplib::Request& req, httplib::Response& res) {
    const auto route = kRoutes.find(req.path);
    if (route == kRoutes.end()) {
      std::string paths;
      for (const auto& [path, method] : kRoutes)
        paths += (paths.empty() ? "" : ", ") + method + " " + path;
      reply_error(res, 404, "no such path: " + req.method + " " + req.path + "; the paths are " + paths,
                  "invalid_request_error");
      return;
    }
    res.set_header("Allow", allowed_methods(route->second));
    reply_error(res, 405, req.path + " answers " + route->second + ", not " + req.method,
                "invalid_request_error");
  };
  http.Get(".*", elsewhere);
  http.Post(".*", elsewhere);
  http.Put(".*", elsewhere);
  http.Delete(".*", elsewhere);
  http.Patch(".*", elsewhere);
  http.Options(".*", elsewhere);

  // What httplib answers itself (a malformed request line, a body over
  // max_body on a path that reads it whole) gets the API's error body too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      reply_error(res, 413,
                  "body: larger than --max-body (" + std::to_string(options.max_body) + " bytes); send less",
                  "invalid_request_error");
    } else {
      reply_error(res, res.status,
                  res.status < 500 ? "malformed HTTP request (status " + std::to_string(res.status) + ")"
                                   : "the server failed (status " + std::to_string(res.status) + ")",
                  res.status < 500 ? "invalid_request_error" : "server_error");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr failure) {
    const auto [status, body] = failure_of(failure);
    reply_json(res, status, body);
  });
  http.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    request_log = RequestLog{Clock::now()};
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.response(res.status);
    const double seconds = request_log.start == Clock::time_point{} ? 0.0 : seconds_since(request_log.start);
    char line[64];
    std::snprintf(line, sizeof line, " %d %s tokens %.3f s", res.status, request_log.tokens.c_str(), seconds);
    log_info(req.method + " " + req.path + line);
    request_log = RequestLog{};
  });
}

bool HttpServer::Impl::read_body(httplib::Response& res, const httplib::ContentReader& reader,
                                 std::string& body) const {
  bool too_large = false;
  const bool read = reader([&](const char* data, std::size_t length) {
    if (body.size() + length > options.max_body) {
      too_large = true;
      return false;
    }
    body.append(data, length);
    return true;
  });
  if (too_large || res.status == 413) {
    reply_error(res, 413,
                "body: larger than --max-body (" + std::to_string(options.max_body) + " bytes); send less",
                "invalid_request_error");
    return false;
  }
  if (!read) {
    reply_error(res, 400, "body: could not be read to its end; send it again", "invalid_request_error");
    return false;
  }
  return true;
}

std::shared_ptr<void> HttpServer::Impl::admit() {
  std::lock_guard lock(stop_mutex);
  if (stopping) return nullptr;
  ++active;
  // Points at the server only to be non-null; releasing it frees the slot.
  return std::shared_ptr<void>(this, [this](void*) {
    {
      std::lock_guard released(stop_mutex);
      --active;
    }
    stop_changed.notify_all();
  });
}

void HttpServer::Impl::complete(const httplib::Request&, httplib::Response& res,
                                const httplib::ContentReader& reader) {
  std::string body;
  if (!read_body(res, reader, body)) return;
  const Clock::time_point arrival = Clock::now();
  CompletionRequest request;
  try {
    request = parse_completion_request(body, limits);
  } catch (const BadRequest& e) {
    reply_error(res, 400, e.what(), "invalid_request_error", e.param());
    return;
  }
  std::shared_ptr<void> slot = admit();
  if (!slot) {
    reply_error(res, 503, "the server is stopping; send the request to another", "overloaded");
    return;
  }
  const auto deadline = arrival + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options.deadline_seconds));
  std::shared_ptr<CompletionRun> run;
  try {
    run = std::make_shared<CompletionRun>(engine, pipeline.model->tokenizer(), request, deadline);
  } catch (const core::QueueFull& e) {
    res.set_header("Retry-After", "1");
    reply_error(res, 429, e.what(), "overloaded");
    return;
  }
  CompletionIdentity who{
      "cmpl-" + std::to_string(next_id++),
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count(),
      limits.model};
  if (request.stream) {
    complete_streamed(std::move(run), std::move(slot), request, std::move(who), res);
  } else {
    complete_whole(*run, request, who, res);
  }
}

CompletionEnd HttpServer::Impl::end_of(const CompletionRun& run, const CompletionRequest& request) {
  const core::RequestResult& result = run.result();
  CompletionEnd end;
  end.finish_reason = run.finish_reason();
  end.prompt_tokens = request.prompt_tokens;
  end.completion_tokens = static_cast<std::int64_t>(result.output.size());
  core::ResultJson retrievals = retriever.available()
                                    ? retriever.retrievals_json(result.retrievals)
                                    : core::retrieval_records_json(result.retrievals, nullptr);
  end.ralm = ralm_json(result, std::move(retrievals), run.queued_seconds());
  metrics.completion(end.finish_reason, end.prompt_tokens, end.completion_tokens, run.seconds(),
                     run.queued_seconds(), run.first_text_seconds());
  request_log.tokens = std::to_string(end.completion_tokens);
  return end;
}

std::pair<int, core::ResultJson> HttpServer::Impl::failure_of(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const InputError& e) {
    return {400, error_body(e.what(), "invalid_request_error")};
  } catch (const std::exception& e) {
    return {500, error_body(e.what(), "server_error")};
  } catch (...) {
    return {500, error_body("unknown failure", "server_error")};
  }
}

void HttpServer::Impl::complete_whole(CompletionRun& run, const CompletionRequest& request,
                                      const CompletionIdentity& who, httplib::Response& res) {
  while (!run.done()) {
    run.next(kPoll);
    if (cancelling) run.cancel();
  }
  try {
    const CompletionEnd end = end_of(run, request);
    reply_json(res, 200, completion_body(who, run.text(), end));
  } catch (...) {
    const auto [status, body] = failure_of(std::current_exception());
    reply_json(res, status, body);
  }
}

void HttpServer::Impl::complete_streamed(std::shared_ptr<CompletionRun> run, std::shared_ptr<void> slot,
                                         const CompletionRequest& request, CompletionIdentity who,
                                         httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  // httplib compresses no text/event-stream body, so each event leaves at once.
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, run, request, who](std::size_t, httplib::DataSink& sink) {
        const std::string text = run->next(kPoll);
        if (cancelling) run->cancel();
        if (!run->done()) {
          if (text.empty()) return true;
          // A client gone shows as a failed write: its request is cancelled
          // at the first text after it left.
          const std::string event = stream_event(who, text);
          if (sink.write(event.data(), event.size())) return true;
          run->cancel();
          return false;
        }
        // Text still pending goes in an event of its own, as OpenAI's
        // streams do: the last event carries only how the run ended, however
        // fast the run finished.
        std::string last = text.empty() ? std::string() : stream_event(who, text);
        try {
          last += stream_end(who, end_of(*run, request));
        } catch (...) {
          last += stream_error(failure_of(std::current_exception()).second);
        }
        const bool written = sink.write(last.data(), last.size());
        sink.done();
        return written;
      },
      [run, slot](bool) { run->cancel(); });
}

void HttpServer::Impl::retrieve(const httplib::Request&, httplib::Response& res,
                                const httplib::ContentReader& reader) {
  std::string body;
  if (!read_body(res, reader, body)) return;
  RetrieveRequest request;
  try {
    request = parse_retrieve_request(body, engine.settings().top_k);
  } catch (const BadRequest& e) {
    reply_error(res, 400, e.what(), "invalid_request_error", e.param());
    return;
  }
  if (!retriever.available()) {
    reply_error(res, 400, "this pipeline has no retriever; serve one with a `retriever:` section",
                "invalid_request_error");
    return;
  }
  const std::shared_ptr<void> slot = admit();
  if (!slot) {
    reply_error(res, 503, "the server is stopping; send the request to another", "overloaded");
    return;
  }
  const Clock::time_point start = Clock::now();
  const std::vector<Hit> hits = retriever.search(request.query, request.k);
  core::ResultJson passages = retriever.passages_json(hits);
  reply_json(
      res, 200,
      {{"query", request.query}, {"passages", std::move(passages)}, {"seconds", seconds_since(start)}});
}

void HttpServer::Impl::stop_when_idle() {
  std::unique_lock lock(stop_mutex);
  stop_changed.wait(lock, [this] { return stop_calls > 0 || served; });
  if (served) return;
  const auto grace = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.grace_seconds));
  if (!stop_changed.wait_until(lock, grace, [this] { return active == 0 || stop_calls > 1; })) {
    log_info("stop: the grace period is over; cancelling " + std::to_string(active) + " request(s)");
  }
  cancelling = true;
  stop_changed.wait(lock, [this] { return active == 0; });
  // Closing the listening socket before listen() has begun would leave it
  // listening: wait for it to begin.
  while (!http.is_running()) {
    if (stop_changed.wait_for(lock, std::chrono::milliseconds(5), [this] { return served; })) return;
  }
  lock.unlock();
  http.stop();
}

HttpServer::HttpServer(const core::PipelineSpec& spec, const core::BuiltPipeline& pipeline,
                       core::Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(spec, pipeline, engine, std::move(options))) {}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const ServerOptions& o = impl_->options;
  // httplib listens with a backlog of 5: a burst of clients connecting at
  // once (a page's users, a load generator) overflows it, and each
  // connection dropped there waits a whole second for its SYN's retry. The
  // socket is listened on again, with the system's bound, once bound.
  int listening = -1;
  impl_->http.set_socket_options([&listening](int sock) {
    httplib::default_socket_options(sock);
    listening = sock;
  });
  errno = 0;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                               : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    const std::string why = errno != 0 ? std::string(" (") + std::strerror(errno) + ")" : "";
    throw InputError("--host/--port: cannot listen on " + o.host + ":" + std::to_string(o.port) + why +
                     "; choose another --port, or a --host this machine has");
  }
  if (listening >= 0) ::listen(listening, SOMAXCONN);
  return port;
}

void HttpServer::serve() {
  std::thread stopper([this] { impl_->stop_when_idle(); });
  impl_->http.listen_after_bind();
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->served = true;
  }
  impl_->stop_changed.notify_all();
  stopper.join();
}

void HttpServer::stop() {
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->stopping = true;
    ++impl_->stop_calls;
  }
  impl_->stop_changed.notify_all();
}

}  // namespace ralm::server
