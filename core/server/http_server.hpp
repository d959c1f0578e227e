// `ralm serve`'s HTTP server (docs/SERVING.md): the routes, admission to the
// engine, one log line per request, and the stop a signal starts.
//
// A completion's path: the body is read (at most max_body bytes) and checked
// (completion_request.hpp); the request is submitted to the engine, whose
// full queue answers 429; the HTTP thread then follows it (completion_run.hpp)
// and writes its text whole or as events (completion_json.hpp). httplib gives
// each connection a thread from a pool sized for every request the engine
// may hold at once, plus some for the cheap endpoints.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "ralm/core/engine/engine.hpp"
#include "ralm/core/pipeline.hpp"

namespace ralm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port
  double deadline_seconds = 300;  // a completion is cancelled when it has run this long
  std::size_t max_body = std::size_t{1} << 20;
  double grace_seconds = 10;  // after a stop, for the requests running to end
};

class HttpServer {
 public:
  // The pipeline, its spec and the engine outlive the server.
  HttpServer(const core::PipelineSpec& spec, const core::BuiltPipeline& pipeline, core::Engine& engine,
             ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port and returns the port (the one chosen for port 0); an
  // InputError names --host and --port when it cannot.
  int bind();
  // Answers requests until a stop has run its course, and returns when every
  // request has been answered.
  void serve();
  // From any thread (a signal's): refuses new completions and retrievals
  // with 503 (and /health says "stopping"), lets those running end within
  // the grace period, cancels the rest, then stops listening. A second call
  // cancels at once.
  void stop();

 private:
  struct Impl;  // keeps httplib out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace ralm::server
