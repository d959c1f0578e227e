// The JSONL files the tasks read (prompts, questions, held-out documents):
// one JSON object per line, blank lines skipped, and every error naming the
// file and line.
#pragma once

#include <istream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ralm::core {

struct JsonlRecord {
  nlohmann::json object;
  std::string where;  // "FILE:LINE", to start an error message
  int line = 0;
};

// Every non-blank line of `in` as an object. A line that is not JSON, or not
// an object, is an InputError: "FILE:LINE: malformed JSON; each line must be
// an object like EXAMPLE".
std::vector<JsonlRecord> read_jsonl_objects(std::istream& in, const std::string& file,
                                            std::string_view example);

// The record's string field `key`; an InputError naming the record when it is
// missing, not a string, or blank.
std::string required_text(const JsonlRecord& record, const char* key);

// The record's "id" (a number in its JSON spelling), or its line number.
std::string record_id(const JsonlRecord& record);

// Only spaces, tabs and line breaks.
bool is_blank_text(std::string_view text);

}  // namespace ralm::core
