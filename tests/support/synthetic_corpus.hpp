// A corpus whose passages share words with many others, for speculation
// tests: the speculative cache is then sometimes right and sometimes wrong,
// so rounds both keep and roll back steps.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "run_command.hpp"

namespace ralm::test {

// Prompts on the fixture corpora's topics (compilers, kernels, networks,
// memory, search, old languages): each retrieves passages of its own.
inline const std::vector<std::string>& topic_prompts() {
  static const std::vector<std::string> prompts = {
      "Compilers translate a programming language into machine code",
      "the kernel schedules each thread and process",
      "a router forwards every network packet",
      "garbage collection reclaims memory that is no longer used",
      "search the index with a query string",
      "lisp lists and fortran arrays",
  };
  return prompts;
}

// 160 documents of 12 words drawn from a small vocabulary, so that queries
// share words with many passages and the speculative cache is sometimes right
// and sometimes wrong.
inline std::filesystem::path write_synthetic_corpus(const TempDir& dir) {
  const std::vector<std::string> words = {
      "lisp",  "fortran",  "compiler", "memory", "cache",   "garbage", "collection", "language",
      "loop",  "function", "list",     "array",  "pointer", "thread",  "process",    "kernel",
      "file",  "network",  "packet",   "router", "disk",    "block",   "page",       "table",
      "index", "query",    "search",   "string", "parser",  "grammar", "token",      "stack"};
  std::mt19937 rng(7);
  std::string jsonl;
  for (int d = 0; d < 160; ++d) {
    std::string text;
    for (int w = 0; w < 12; ++w)
      text += (w ? " " : "") + words[rng() % words.size()];
    jsonl += R"({"id": "s)" + std::to_string(d) + R"(", "title": "T)" + std::to_string(d) +
             R"(", "text": ")" + text + "\"}\n";
  }
  return dir.write("synthetic.jsonl", jsonl);
}

}  // namespace ralm::test
