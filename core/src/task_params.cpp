#include "ralm/core/task_params.hpp"

namespace ralm::core {

const std::vector<std::string>& task_kinds() {
  static const std::vector<std::string> kinds = {"generate", "perplexity", "qa"};
  return kinds;
}

const ParamSpecs* task_param_specs(const std::string& kind) {
  static const ParamSpecs generate = {
      param::required("prompts", ParamType::Path, "JSONL file, one {\"id\", \"prompt\"} object per line"),
      param::path("output", "", "folder for outputs.jsonl and summary.json; empty: out/<pipeline name>"),
      param::integer("limit", 0, "run only the first this many prompts; 0: all").at_least(0),
  };
  static const ParamSpecs perplexity = {
      param::path("text", "",
                  "held-out text: a .jsonl file ({\"id\", \"title\", \"text\"} per line; passages with the "
                  "document's title are excluded from its retrievals) or any other file as one document"),
      param::path("corpus", "",
                  "held-out text from a passage store, which the retriever must search: its documents, "
                  "each scored with its own passages excluded from retrieval"),
      param::integer("document_step", 1, "with `corpus`: score documents 0, step, 2*step, ...").at_least(1),
      param::integer("window", 0,
                     "text tokens the model sees at once (context + targets); 0: as many as fit beside the "
                     "passages")
          .at_least(0),
      param::integer("max_tokens", 0, "stop after scoring this many tokens in all; 0: every token")
          .at_least(0),
      param::path("output", "", "folder for documents.jsonl and summary.json; empty: out/<pipeline name>"),
      param::integer("limit", 0, "score only the first this many documents; 0: all").at_least(0),
  };
  static const ParamSpecs qa = {
      param::required("questions", ParamType::Path,
                      "JSONL file, one {\"id\", \"question\", \"answers\": [...]} object per line"),
      param::string("template",
                    "Question: {question}\nAnswer:", "the prompt; {question} is replaced by the question"),
      param::path("output", "", "folder for outputs.jsonl and summary.json; empty: out/<pipeline name>"),
      param::integer("limit", 0, "run only the first this many questions; 0: all").at_least(0),
  };
  if (kind == "generate") return &generate;
  if (kind == "perplexity") return &perplexity;
  if (kind == "qa") return &qa;
  return nullptr;
}

}  // namespace ralm::core
