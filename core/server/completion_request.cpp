#include "completion_request.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "ralm/core/suggest.hpp"

namespace ralm::server {
namespace {

using json = nlohmann::json;

// A value as the client wrote it, short enough for a one-line message.
std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag,
// which says nothing to a client.
std::string untagged(const json::exception& e) {
  std::string what = e.what();
  if (const auto tag_end = what.find("] ");
      what.rfind("[json.exception", 0) == 0 && tag_end != std::string::npos)
    what = what.substr(tag_end + 2);
  return what;
}

// The body as a JSON object; `example` shows a good one in the message.
json parse_object(std::string_view body, const std::string& example) {
  json object;
  try {
    object = json::parse(body);
  } catch (const json::parse_error& e) {
    // The message says where ("at line 1, column 12") and what was expected there.
    throw BadRequest("body: malformed JSON (byte " + std::to_string(e.byte) + "): " + untagged(e) +
                         "; send one JSON object such as " + example,
                     "");
  } catch (const json::out_of_range& e) {
    // Well-formed JSON nlohmann cannot hold: a number past double's range (1e400).
    throw BadRequest("body: " + untagged(e) + "; send one JSON object such as " + example, "");
  }
  if (!object.is_object())
    throw BadRequest("body: expected a JSON object, got " + shown(object) + "; send one such as " + example,
                     "");
  return object;
}

void reject_unknown_fields(const json& object, const std::vector<std::string>& fields) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(fields.begin(), fields.end(), key) != fields.end()) continue;
    throw BadRequest("unknown field \"" + key + "\"" + core::did_you_mean(key, fields) + "; the fields are " +
                         core::join_names(fields),
                     key);
  }
}

// The field, or null when absent: a null value means "not given", as
// OpenAI's clients send it.
const json& field(const json& object, const char* name) {
  static const json absent;
  const auto it = object.find(name);
  return it == object.end() ? absent : *it;
}

std::int64_t integer_at_least(const json& value, const char* name, std::int64_t least) {
  const bool integral = value.is_number_integer();
  if (!integral ||
      (value.is_number_unsigned() &&
       value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
    throw BadRequest(
        std::string(name) + ": expected an integer >= " + std::to_string(least) + ", got " + shown(value),
        name);
  const auto n = value.get<std::int64_t>();
  if (n < least)
    throw BadRequest(std::string(name) + ": expected an integer >= " + std::to_string(least) + ", got " +
                         std::to_string(n),
                     name);
  return n;
}

double number(const json& value, const char* name, const char* range) {
  if (!value.is_number())
    throw BadRequest(std::string(name) + ": expected a number " + range + ", got " + shown(value), name);
  return value.get<double>();
}

std::string nonempty_string(const json& value, const char* name, const std::string& example) {
  if (value.is_null()) throw BadRequest(std::string(name) + ": required; send it like " + example, name);
  if (!value.is_string())
    throw BadRequest(
        std::string(name) + ": expected a string, got " + shown(value) + "; send it like " + example, name);
  std::string text = value.get<std::string>();
  if (text.empty()) throw BadRequest(std::string(name) + ": empty; send at least one character", name);
  return text;
}

std::vector<std::string> stop_strings(const json& value) {
  if (value.is_null()) return {};
  std::vector<std::string> stop;
  const auto add = [&](const json& s) {
    if (!s.is_string())
      throw BadRequest("stop: expected a string or an array of strings, got " + shown(s), "stop");
    if (s.get_ref<const std::string&>().empty())
      throw BadRequest("stop: an empty string would stop at once; remove it", "stop");
    stop.push_back(s.get<std::string>());
  };
  if (value.is_array()) {
    if (value.size() > kMaxStopStrings)
      throw BadRequest("stop: " + std::to_string(value.size()) + " strings; give at most " +
                           std::to_string(kMaxStopStrings),
                       "stop");
    for (const json& s : value)
      add(s);
  } else {
    add(value);
  }
  return stop;
}

// The most tokens a request may ask for: the contract's bound (prompt and
// output within the context) and the engine's (output and passages within
// the context, beside the least input it keeps).
std::int32_t check_max_tokens(const CompletionRequest& request, bool given, const CompletionLimits& limits) {
  const std::int32_t room = limits.context_length - std::max(request.prompt_tokens, limits.reserved_tokens);
  const std::string context = "the model's context of " + std::to_string(limits.context_length) + " tokens";
  if (room < 1 && request.prompt_tokens >= limits.reserved_tokens) {
    throw BadRequest("prompt: " + std::to_string(request.prompt_tokens) + " tokens leave no room in " +
                         context + "; shorten the prompt",
                     "prompt");
  }
  if (request.max_tokens <= room) return request.max_tokens;
  const std::string beside =
      request.prompt_tokens >= limits.reserved_tokens
          ? "beside this " + std::to_string(request.prompt_tokens) + "-token prompt"
          : "beside the " + std::to_string(limits.reserved_tokens) + " tokens the engine keeps for passages";
  throw BadRequest("max_tokens: " + std::string(given ? "" : "the default of ") +
                       std::to_string(request.max_tokens) + " does not fit " + context + " " + beside +
                       "; ask for at most " + std::to_string(std::max(room, 0)),
                   "max_tokens");
}

}  // namespace

CompletionLimits completion_limits(const core::BuiltPipeline& pipeline, const core::EngineSettings& settings,
                                   std::string model) {
  CompletionLimits limits;
  limits.model = std::move(model);
  limits.context_length = pipeline.model->info().context_length;
  const bool passages = pipeline.policy && pipeline.policy->uses_passages();
  limits.reserved_tokens = (passages ? settings.top_k * (settings.max_passage_tokens + 2) : 0) + 2;
  limits.default_max_tokens = settings.max_new_tokens;
  limits.sampling = settings.sampling;
  const Tokenizer& tokenizer = pipeline.model->tokenizer();
  limits.count_prompt_tokens = [&tokenizer](const std::string& prompt) {
    return static_cast<std::int32_t>(tokenizer.encode(prompt, true).size());
  };
  return limits;
}

CompletionRequest parse_completion_request(std::string_view body, const CompletionLimits& limits) {
  const json object = parse_object(body, R"({"prompt": "Hello", "max_tokens": 16})");
  reject_unknown_fields(
      object, {"prompt", "max_tokens", "temperature", "top_p", "seed", "stop", "stream", "model", "user"});
  CompletionRequest request;
  request.prompt = nonempty_string(field(object, "prompt"), "prompt", R"({"prompt": "Hello"})");

  if (const json& model = field(object, "model"); !model.is_null()) {
    if (!model.is_string() || model.get_ref<const std::string&>() != limits.model)
      throw BadRequest("model: " + shown(model) + " is not served here; this server serves \"" +
                           limits.model + "\" (or leave model out)",
                       "model");
  }

  core::SamplingSettings sampling = limits.sampling;
  bool sampling_given = false;
  if (const json& t = field(object, "temperature"); !t.is_null()) {
    sampling.temperature = number(t, "temperature", ">= 0 (0: greedy)");
    if (sampling.temperature < 0)
      throw BadRequest(
          "temperature: " + shown(t) + " is negative; use 0 for greedy decoding or more to sample",
          "temperature");
    sampling_given = true;
  }
  if (const json& p = field(object, "top_p"); !p.is_null()) {
    sampling.top_p = number(p, "top_p", "in (0, 1]");
    if (!(sampling.top_p > 0 && sampling.top_p <= 1))
      throw BadRequest("top_p: " + shown(p) + " is outside (0, 1]; 1 keeps every token", "top_p");
    sampling_given = true;
  }
  if (const json& s = field(object, "seed"); !s.is_null()) {
    sampling.seed = static_cast<std::uint64_t>(integer_at_least(s, "seed", 0));
    sampling_given = true;
  }
  if (sampling_given) request.options.sampling = sampling;

  request.stop = stop_strings(field(object, "stop"));
  if (const json& s = field(object, "stream"); !s.is_null()) {
    if (!s.is_boolean()) throw BadRequest("stream: expected true or false, got " + shown(s), "stream");
    request.stream = s.get<bool>();
  }

  const json& max_tokens = field(object, "max_tokens");
  const bool given = !max_tokens.is_null();
  if (given) {
    const std::int64_t n = integer_at_least(max_tokens, "max_tokens", 1);
    request.max_tokens =
        static_cast<std::int32_t>(std::min<std::int64_t>(n, std::numeric_limits<std::int32_t>::max()));
  } else {
    request.max_tokens = limits.default_max_tokens;
  }
  request.prompt_tokens = limits.count_prompt_tokens(request.prompt);
  request.options.max_new_tokens = check_max_tokens(request, given, limits);
  return request;
}

RetrieveRequest parse_retrieve_request(std::string_view body, std::int64_t default_k) {
  const json object = parse_object(body, R"({"query": "what is a compiler", "k": 3})");
  reject_unknown_fields(object, {"query", "k"});
  RetrieveRequest request;
  request.query = nonempty_string(field(object, "query"), "query", R"({"query": "what is a compiler"})");
  const json& k = field(object, "k");
  request.k = k.is_null() ? default_k : integer_at_least(k, "k", 1);
  return request;
}

}  // namespace ralm::server
