#include "completion_json.hpp"

namespace ralm::server {
namespace {

ResultJson choice(const std::string& text, const ResultJson& finish_reason) {
  return ResultJson::array(
      {{{"index", 0}, {"text", text}, {"finish_reason", finish_reason}, {"logprobs", nullptr}}});
}

ResultJson envelope(const CompletionIdentity& who, ResultJson choices) {
  return {{"id", who.id},
          {"object", "text_completion"},
          {"created", who.created},
          {"model", who.model},
          {"choices", std::move(choices)}};
}

void add_end(ResultJson& body, const CompletionEnd& end) {
  body["usage"] = {{"prompt_tokens", end.prompt_tokens},
                   {"completion_tokens", end.completion_tokens},
                   {"total_tokens", end.prompt_tokens + end.completion_tokens}};
  body["ralm"] = end.ralm;
}

std::string event(const ResultJson& data) {
  return "data: " + core::dump_json(data) + "\n\n";
}

}  // namespace

ResultJson ralm_json(const core::RequestResult& result, ResultJson retrievals, double queued_seconds) {
  ResultJson times = core::phase_times_json(result.times);
  times["queued"] = queued_seconds;
  return {{"retrievals", std::move(retrievals)},
          {"times", std::move(times)},
          {"speculation", core::speculation_stats_json(result.speculation)},
          {"tokens_computed", result.tokens_computed},
          {"prefix_tokens_reused", result.prefix_tokens_reused}};
}

ResultJson completion_body(const CompletionIdentity& who, const std::string& text, const CompletionEnd& end) {
  ResultJson body = envelope(who, choice(text, end.finish_reason));
  add_end(body, end);
  return body;
}

std::string stream_event(const CompletionIdentity& who, const std::string& text) {
  return event(envelope(who, choice(text, nullptr)));
}

std::string stream_end(const CompletionIdentity& who, const CompletionEnd& end) {
  return event(completion_body(who, "", end)) + "data: [DONE]\n\n";
}

std::string stream_error(const ResultJson& error) {
  return event(error) + "data: [DONE]\n\n";
}

ResultJson error_body(const std::string& message, const std::string& type, const std::string& param) {
  ResultJson p = param.empty() ? ResultJson(nullptr) : ResultJson(param);
  return {{"error", {{"message", message}, {"type", type}, {"param", std::move(p)}}}};
}

}  // namespace ralm::server
