// A load generator for `ralm serve`, in its own process, over loopback:
// closed-loop concurrency (C clients, each sending its next request when the
// last one ends) and open-loop Poisson arrivals (requests at a mean rate,
// whatever the server's pace), against several servers interleaved A/B/A/B
// in one run, so that the machine's drift hits them alike.
//
//   build/bin/serve_load --server batched=http://127.0.0.1:8081 --server single=http://127.0.0.1:8082
//                        --prompts pipelines/prompts/quickstart.jsonl [--concurrency 1,4,16,64]
//                        [--rates 2,8] [--requests 32] [--max-tokens 32] [--repeat 2] [--json FILE]
//
// Each request streams (`stream: true`): time to first token is the first
// event with text; time per output token is (last token - first token) /
// (tokens - 1). Figures per server and load: requests/s and tokens/s over the
// load's wall time, TTFT and TPOT at p50 and p99, and the prefix cache's hit
// rate over the load (from /metrics). Every completion's text is compared
// across servers: greedy outputs must be identical.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Server {
  std::string name, host;
  int port = 0;
};

struct Options {
  std::vector<Server> servers;
  std::vector<std::string> prompts;
  std::vector<int> concurrency = {1, 4, 16, 64};
  std::vector<double> rates;
  int requests = 32;
  int max_tokens = 32;
  int repeat = 2;
  std::string json_path = "serve_load.json";
};

struct Sample {
  double ttft = 0, tpot = 0, total = 0;
  int tokens = 0;
  std::string text;
  bool ok = false;
};

struct Load {
  std::string kind;  // "closed" or "poisson"
  double level = 0;  // clients, or requests per second
  std::string label() const {
    std::ostringstream s;
    s << kind << " " << level;
    return s.str();
  }
};

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "serve_load: %s\n", message.c_str());
  std::exit(2);
}

std::vector<double> split_numbers(const std::string& s) {
  std::vector<double> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    out.push_back(std::stod(item));
  return out;
}

Server parse_server(const std::string& arg) {
  // NAME=http://HOST:PORT
  const auto eq = arg.find('=');
  const auto scheme = arg.find("http://");
  const auto colon = arg.rfind(':');
  if (eq == std::string::npos || scheme != eq + 1 || colon <= scheme + 7)
    fail("--server " + arg + ": write NAME=http://HOST:PORT");
  return {arg.substr(0, eq), arg.substr(scheme + 7, colon - scheme - 7), std::stoi(arg.substr(colon + 1))};
}

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("--prompts " + path + ": cannot read it");
  std::vector<std::string> prompts;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.front() == '{') {
      const json j = json::parse(line);
      prompts.push_back(j.contains("prompt") ? j["prompt"].get<std::string>() : j["text"].get<std::string>());
    } else {
      prompts.push_back(line);
    }
  }
  if (prompts.empty()) fail("--prompts " + path + ": no prompts in it");
  return prompts;
}

// One streamed completion.
Sample complete(const Server& server, const std::string& prompt, int max_tokens) {
  httplib::Client client(server.host, server.port);
  client.set_read_timeout(600, 0);
  const json body = {{"prompt", prompt}, {"max_tokens", max_tokens}, {"stream", true}};
  Sample s;
  std::string buffer;
  Clock::time_point first, last;
  const auto start = Clock::now();
  bool finished = false, seen_text = false;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    buffer.append(data, n);
    for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") continue;
      const json j = json::parse(payload, nullptr, false);
      if (j.is_discarded() || !j.contains("choices")) continue;
      const std::string text = j["choices"][0].value("text", "");
      if (!text.empty()) {
        last = Clock::now();
        if (!seen_text) first = last;
        seen_text = true;
        s.text += text;
      }
      if (j.contains("usage")) {
        s.tokens = j["usage"].value("completion_tokens", 0);
        finished = true;
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(req, res, error);
  const auto end = Clock::now();
  s.total = std::chrono::duration<double>(end - start).count();
  if (!sent || res.status != 200 || !finished) {
    std::fprintf(stderr, "serve_load: a request to %s failed: %s\n", server.name.c_str(),
                 !sent               ? httplib::to_string(error).c_str()
                 : res.status != 200 ? ("status " + std::to_string(res.status)).c_str()
                                     : "the stream ended without its last event");
    return s;
  }
  // A completion whose tokens decode to no text (EOS first) has its first
  // token at its end.
  if (!seen_text) first = last = end;
  s.ttft = std::chrono::duration<double>(first - start).count();
  s.tpot = s.tokens > 1 ? std::chrono::duration<double>(last - first).count() / (s.tokens - 1) : 0;
  s.ok = true;
  return s;
}

double metric(const Server& server, const std::string& name) {
  httplib::Client client(server.host, server.port);
  const auto res = client.Get("/metrics");
  if (!res || res->status != 200) return 0;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

struct Outcome {
  std::vector<Sample> samples;  // in prompt order
  double wall = 0;
  double prefix_hits = 0, prefix_lookups = 0;
};

Outcome run_load(const Server& server, const Load& load, const Options& o) {
  Outcome out;
  out.samples.resize(static_cast<std::size_t>(o.requests));
  const double hits0 = metric(server, "ralm_prefix_cache_hits_total");
  const double lookups0 = metric(server, "ralm_prefix_cache_lookups_total");
  const auto start = Clock::now();
  const auto one = [&](int i) {
    out.samples[static_cast<std::size_t>(i)] =
        complete(server, o.prompts[static_cast<std::size_t>(i) % o.prompts.size()], o.max_tokens);
  };
  std::vector<std::thread> threads;
  if (load.kind == "closed") {
    std::atomic<int> next{0};
    for (int c = 0; c < static_cast<int>(load.level); ++c) {
      threads.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < o.requests;)
          one(i);
      });
    }
  } else {
    // Open loop: exponential gaps at the mean rate, one thread per request.
    std::mt19937_64 rng(7);
    std::exponential_distribution<double> gap(load.level);
    auto at = start;
    for (int i = 0; i < o.requests; ++i) {
      at += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(rng)));
      std::this_thread::sleep_until(at);
      threads.emplace_back(one, i);
    }
  }
  for (auto& t : threads)
    t.join();
  out.wall = std::chrono::duration<double>(Clock::now() - start).count();
  out.prefix_hits = metric(server, "ralm_prefix_cache_hits_total") - hits0;
  out.prefix_lookups = metric(server, "ralm_prefix_cache_lookups_total") - lookups0;
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

Options parse(int argc, char** argv) {
  Options o;
  std::string prompts;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "--server") {
      o.servers.push_back(parse_server(value()));
    } else if (a == "--prompts") {
      prompts = value();
    } else if (a == "--concurrency") {
      o.concurrency.clear();
      for (double c : split_numbers(value()))
        o.concurrency.push_back(static_cast<int>(c));
    } else if (a == "--rates") {
      o.rates = split_numbers(value());
    } else if (a == "--requests") {
      o.requests = std::stoi(value());
    } else if (a == "--max-tokens") {
      o.max_tokens = std::stoi(value());
    } else if (a == "--repeat") {
      o.repeat = std::stoi(value());
    } else if (a == "--json") {
      o.json_path = value();
    } else {
      fail("unknown argument " + a + " (see the comment at the top of bench/serve_load.cpp)");
    }
  }
  if (o.servers.empty()) fail("give at least one --server NAME=http://HOST:PORT");
  if (prompts.empty()) fail("give --prompts FILE (JSONL with \"prompt\", or one prompt per line)");
  o.prompts = read_prompts(prompts);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::vector<Load> loads;
  for (int c : o.concurrency)
    loads.push_back({"closed", static_cast<double>(c)});
  for (double r : o.rates)
    loads.push_back({"poisson", r});

  // Per load and server: every repetition's samples and walls.
  std::map<std::string, std::map<std::string, std::vector<Outcome>>> results;
  std::map<std::size_t, std::string> reference;  // prompt index -> the first server's text
  std::int64_t mismatches = 0, failures = 0;
  for (int r = 0; r < o.repeat; ++r) {
    for (const Load& load : loads) {
      for (const Server& server : o.servers) {
        Outcome out = run_load(server, load, o);
        for (std::size_t i = 0; i < out.samples.size(); ++i) {
          const Sample& s = out.samples[i];
          if (!s.ok) {
            ++failures;
            continue;
          }
          const std::size_t prompt = i % o.prompts.size();
          const auto [it, fresh] = reference.emplace(prompt, s.text);
          if (!fresh && it->second != s.text) ++mismatches;
        }
        std::fprintf(stderr, "serve_load: repeat %d, %s, %s: %.2f s\n", r + 1, load.label().c_str(),
                     server.name.c_str(), out.wall);
        results[load.label()][server.name].push_back(std::move(out));
      }
    }
  }

  json report = {{"requests", o.requests},
                 {"max_tokens", o.max_tokens},
                 {"repeat", o.repeat},
                 {"output_mismatches", mismatches},
                 {"failed_requests", failures}};
  std::printf("%-14s %-10s %8s %9s %9s %9s %9s %9s %7s %8s\n", "load", "server", "req/s", "tok/s", "ttft p50",
              "ttft p99", "tpot p50", "tpot p99", "prefix", "tok/s x");
  for (const Load& load : loads) {
    double first_tokens_per_s = 0;
    for (const Server& server : o.servers) {
      const auto& outs = results[load.label()][server.name];
      std::vector<double> ttft, tpot, rps, tps;
      double hits = 0, lookups = 0;
      for (const Outcome& out : outs) {
        std::int64_t tokens = 0, done = 0;
        for (const Sample& s : out.samples) {
          if (!s.ok) continue;
          ++done;
          tokens += s.tokens;
          ttft.push_back(s.ttft);
          if (s.tokens > 1) tpot.push_back(s.tpot);
        }
        rps.push_back(static_cast<double>(done) / out.wall);
        tps.push_back(static_cast<double>(tokens) / out.wall);
        hits += out.prefix_hits;
        lookups += out.prefix_lookups;
      }
      const double tokens_per_s = percentile(tps, 0.5);
      if (first_tokens_per_s == 0) first_tokens_per_s = tokens_per_s;
      const double hit_rate = lookups > 0 ? hits / lookups : 0;
      std::printf("%-14s %-10s %8.2f %9.1f %8.1fms %8.1fms %8.1fms %8.1fms %6.0f%% %7.2fx\n",
                  load.label().c_str(), server.name.c_str(), percentile(rps, 0.5), tokens_per_s,
                  1e3 * percentile(ttft, 0.5), 1e3 * percentile(ttft, 0.99), 1e3 * percentile(tpot, 0.5),
                  1e3 * percentile(tpot, 0.99), 100 * hit_rate, tokens_per_s / first_tokens_per_s);
      report["loads"][load.label()][server.name] = {{"requests_per_s", rps},
                                                    {"tokens_per_s", tps},
                                                    {"ttft_p50_s", percentile(ttft, 0.5)},
                                                    {"ttft_p99_s", percentile(ttft, 0.99)},
                                                    {"tpot_p50_s", percentile(tpot, 0.5)},
                                                    {"tpot_p99_s", percentile(tpot, 0.99)},
                                                    {"prefix_hit_rate", hit_rate}};
    }
  }
  std::printf("outputs identical across servers: %s (%lld mismatches), failed requests: %lld\n",
              mismatches == 0 ? "yes" : "NO", static_cast<long long>(mismatches),
              static_cast<long long>(failures));
  std::ofstream(o.json_path) << report.dump(2) << "\n";
  return mismatches == 0 && failures == 0 ? 0 : 1;
}
