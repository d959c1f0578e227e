// The JSON the server answers with (docs/SERVING.md): a completion whole or
// as server-sent events, a retrieval, and the error body every 4xx and 5xx
// carries.
#pragma once

#include <cstdint>
#include <string>

#include "ralm/core/engine/result_json.hpp"

namespace ralm::server {

using core::ResultJson;

// What every completion body and event names.
struct CompletionIdentity {
  std::string id;            // "cmpl-7"
  std::int64_t created = 0;  // Unix seconds
  std::string model;
};

// How a completion ended, for its body or its last event.
struct CompletionEnd {
  std::string finish_reason;  // "stop", "length" or "cancelled"
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  ResultJson ralm;  // ralm_json()
};

// The `ralm` object: retrievals (with passages, built by the caller, which
// owns the way to the retriever), the time of each phase with the time
// queued first, the speculation counts, and the tokens computed.
ResultJson ralm_json(const core::RequestResult& result, ResultJson retrievals, double queued_seconds);

// The non-streamed body.
ResultJson completion_body(const CompletionIdentity& who, const std::string& text, const CompletionEnd& end);

// One event of a stream: `data: {...}\n\n` with the new text and a null
// finish_reason.
std::string stream_event(const CompletionIdentity& who, const std::string& text);
// The last events: finish_reason, usage and ralm with no text (any text
// left goes before it, in a stream_event), then `data: [DONE]`.
std::string stream_end(const CompletionIdentity& who, const CompletionEnd& end);
// A failure after the stream began (its status already sent): the error
// body as an event, then `data: [DONE]`.
std::string stream_error(const ResultJson& error);

// {"error": {"message", "type", "param"}}; an empty `param` is null. Types:
// invalid_request_error, overloaded, server_error.
ResultJson error_body(const std::string& message, const std::string& type, const std::string& param = "");

}  // namespace ralm::server
