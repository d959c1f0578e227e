#include "ralm/core/engine/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jsonl_records.hpp"
#include "ralm/core/engine/retrieval_step.hpp"
#include "ralm/error.hpp"
#include "stopwatch.hpp"

namespace ralm::core {

namespace fs = std::filesystem;

namespace {

// -log softmax(logits)[target], in double so that long sums stay exact.
double negative_log_likelihood(std::span<const float> logits, TokenId target) {
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits)
    sum += std::exp(static_cast<double>(v) - top);
  return std::log(sum) + top - static_cast<double>(logits[static_cast<std::size_t>(target)]);
}

}  // namespace

std::vector<HeldOutDocument> read_held_out_text(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string() + ": cannot open the held-out text; check task.text");
  std::vector<HeldOutDocument> docs;
  if (file.extension() != ".jsonl") {
    std::ostringstream all;
    all << in.rdbuf();
    if (is_blank_text(all.str())) throw InputError(file.string() + ": the held-out text is empty");
    docs.push_back({file.stem().string(), "", all.str(), -1});
    return docs;
  }
  for (const JsonlRecord& r :
       read_jsonl_objects(in, file.string(), R"({"id": "d1", "title": "...", "text": "..."})")) {
    HeldOutDocument d;
    d.text = required_text(r, "text");
    if (const auto title = r.object.find("title"); title != r.object.end()) {
      if (!title->is_string()) throw InputError(r.where + ": \"title\" must be a string");
      d.title = title->get<std::string>();
    }
    d.id = record_id(r);
    docs.push_back(std::move(d));
  }
  if (docs.empty()) throw InputError(file.string() + ": no documents in the file");
  return docs;
}

std::vector<HeldOutDocument> held_out_corpus_documents(const PassageStore& store, std::int64_t step) {
  std::vector<HeldOutDocument> docs;
  for (PassageId id = 0; id < store.size(); ++id) {
    const std::int64_t doc = store.document(id);
    if (doc % step != 0) continue;
    if (docs.empty() || docs.back().corpus_document != doc) {
      docs.push_back({"doc" + std::to_string(doc), std::string(store.title(id)), "", doc});
    } else {
      docs.back().text += ' ';
    }
    docs.back().text += store.text(id);
  }
  return docs;
}

// What scoring one document carries from window to window.
struct PerplexityEvaluator::Scoring {
  const HeldOutDocument& document;
  Tokens text;
  DocumentScore& score;
  std::vector<Hit> last_hits;
};

PerplexityEvaluator::PerplexityEvaluator(const BuiltPipeline& pipeline, PerplexitySettings settings,
                                         std::shared_ptr<const PassageStore> corpus)
    : pipeline_(pipeline), settings_(settings), corpus_(std::move(corpus)) {
  if (!pipeline_.model) throw InputError("the perplexity task needs a model: add a `model:` section");
  if (!pipeline_.policy)
    throw InputError("the perplexity task needs a context policy: add `policy: {plugin: none}` or another");
  const bool retrieves = pipeline_.policy->uses_passages();
  if (retrieves && !pipeline_.retriever)
    throw InputError("the policy retrieves passages, so the pipeline needs a `retriever:` section");
  if (retrieves && corpus_ && pipeline_.retriever->size() != corpus_->size()) {
    throw InputError(
        "task.corpus (" + corpus_->dir().string() + ") has " + std::to_string(corpus_->size()) +
        " passages but the retriever searches " + std::to_string(pipeline_.retriever->size()) +
        "; the retriever must search task.corpus so that each document's own passages are known");
  }
  const EngineSettings& e = settings_.engine;
  const std::int64_t passage_room = retrieves ? std::int64_t{e.top_k} * (e.max_passage_tokens + 2) : 0;
  const std::int64_t fits = pipeline_.model->info().context_length - 1 - passage_room;
  window_ =
      settings_.window > 0 ? settings_.window : static_cast<std::int32_t>(std::max<std::int64_t>(fits, 0));
  if (window_ > fits) {
    throw InputError("task.window: " + std::to_string(window_) +
                     " text tokens and the passages do not fit the " +
                     std::to_string(pipeline_.model->info().context_length) + "-token context; at most " +
                     std::to_string(std::max<std::int64_t>(fits, 0)) +
                     " fit (lower task.window, top_k or max_passage_tokens)");
  }
  if (window_ < 2 * e.stride) {
    throw InputError("task.window: " + std::to_string(window_) + " tokens is under two strides (" +
                     std::to_string(2 * e.stride) +
                     "); raise it, or lower engine.stride, top_k or "
                     "max_passage_tokens");
  }
}

std::vector<Hit> PerplexityEvaluator::search_excluding(const HeldOutDocument& document,
                                                       const std::string& query) {
  Retriever& retriever = *pipeline_.retriever;
  const std::int64_t k = settings_.engine.top_k;
  auto own = [&](PassageId id) {
    if (document.corpus_document >= 0 && corpus_) return corpus_->document(id) == document.corpus_document;
    return !document.title.empty() && retriever.passage(id).title == document.title;
  };
  // Ask for more than k, and for more again while the document's own
  // passages crowd out the k that are wanted.
  std::vector<Hit> kept;
  const std::int64_t size = retriever.size();
  for (std::int64_t ask = std::min(k + 16, size);; ask = std::min(ask * 4, size)) {
    const std::vector<Hit> hits = retriever.search(std::span(&query, 1), ask)[0];
    kept.clear();
    for (const Hit& h : hits) {
      if (!own(h.id)) kept.push_back(h);
      if (static_cast<std::int64_t>(kept.size()) == k) break;
    }
    if (static_cast<std::int64_t>(kept.size()) == k || static_cast<std::int64_t>(hits.size()) < ask ||
        ask == size) {
      break;
    }
  }
  return kept;
}

DocumentScore PerplexityEvaluator::score(const HeldOutDocument& document, std::int64_t max_tokens) {
  const auto start = Clock::now();
  DocumentScore result;
  result.id = document.id;
  Scoring s{document, pipeline_.model->tokenizer().encode(document.text, false), result, {}};
  if (max_tokens > 0 && static_cast<std::int64_t>(s.text.size()) > max_tokens)
    s.text.resize(static_cast<std::size_t>(max_tokens));
  const auto stride = static_cast<std::size_t>(settings_.engine.stride);
  const auto window = static_cast<std::size_t>(window_);
  for (std::size_t pos = 0; pos < s.text.size();) {
    const std::size_t context = std::min(pos, window / 2);
    const std::size_t scored = std::min((window - context) / stride * stride, s.text.size() - pos);
    score_window(s, pos - context, pos, pos + scored);
    pos += scored;
  }
  result.times.total = seconds_since(start);
  PhaseTimes& t = result.times;
  t.other = t.total - t.retrieval - t.prefill - t.decode - t.verification - t.rollback;
  return result;
}

void PerplexityEvaluator::score_window(Scoring& s, std::size_t context_begin, std::size_t begin,
                                       std::size_t end) {
  Model& model = *pipeline_.model;
  ContextPolicy& policy = *pipeline_.policy;
  const Tokenizer& tokenizer = model.tokenizer();
  const EngineSettings& e = settings_.engine;
  const bool retrieves = policy.uses_passages();
  const bool adjusts = policy.adjusts_logits();
  const auto vocab = static_cast<std::size_t>(model.info().vocab_size);
  const auto key_dim = static_cast<std::size_t>(model.info().key_dim);
  DocumentScore& out = s.score;
  ++out.windows;

  const auto at = [&](std::size_t i) { return s.text.begin() + static_cast<std::ptrdiff_t>(i); };
  Tokens input{tokenizer.bos()};
  input.insert(input.end(), at(context_begin), at(begin));
  Tokens generated;  // the window's targets scored so far
  auto state = policy.begin(input);
  auto seq = model.new_sequence();

  const auto eval = [&](std::span<const TokenId> tokens, const EvalOptions& options) {
    const auto t0 = Clock::now();
    EvalResult r = model.eval(*seq, tokens, options);
    (tokens.size() > 1 ? out.times.prefill : out.times.decode) += seconds_since(t0);
    out.tokens_computed += static_cast<std::int64_t>(tokens.size());
    return r;
  };
  // A stride's rows: (result, row) with the row's target.
  struct Row {
    EvalResult* result;
    std::size_t row;
    TokenId target;
  };
  const auto logits_of = [&](const Row& r) {
    return std::span<float>(r.result->logits.data() + r.row * vocab, vocab);
  };
  const auto key_of = [&](const Row& r) {
    return std::span<const float>(r.result->keys.data() + r.row * key_dim, key_dim);
  };
  // A policy that exposes its search (kNN-LM) searches a stride's keys in one
  // batch: one pass over an exact datastore instead of one per token, with
  // the same neighbours (a key's answer does not depend on its batch).
  const NeighbourSearch* batched = adjusts ? policy.neighbour_search() : nullptr;
  // Scores the rows against their targets, after the policy's adjustment
  // where it makes one.
  const auto score = [&](std::span<const Row> rows) {
    if (adjusts) {
      // kNN-LM's lookups are retrieval time, as in the request loop.
      const auto t0 = Clock::now();
      if (batched) {
        std::vector<float> keys;
        for (const Row& r : rows)
          keys.insert(keys.end(), key_of(r).begin(), key_of(r).end());
        const auto neighbours = batched->search(keys, batched->top_k());
        for (std::size_t i = 0; i < rows.size(); ++i)
          batched->adjust_with(logits_of(rows[i]), neighbours[i]);
      } else {
        for (const Row& r : rows)
          policy.adjust_logits(*state, logits_of(r), key_of(r));
      }
      out.times.retrieval += seconds_since(t0);
    }
    for (const Row& r : rows) {
      out.nll += negative_log_likelihood(logits_of(r), r.target);
      ++out.tokens;
    }
  };

  for (std::size_t p = begin; p < end; p += static_cast<std::size_t>(e.stride)) {
    const std::size_t n = std::min(static_cast<std::size_t>(e.stride), end - p);
    std::vector<RetrievedPassage> passages;
    if (retrieves) {
      RetrievalRecord record;
      record.position = static_cast<std::int32_t>(p);
      record.query = tokenizer.decode(query_window(input, generated, e.query_tokens, tokenizer.bos()));
      const auto t0 = Clock::now();
      record.hits = is_blank_query(record.query) ? s.last_hits : search_excluding(s.document, record.query);
      s.last_hits = record.hits;
      passages = tokenize_passages(*pipeline_.retriever, tokenizer, record.hits, e.max_passage_tokens);
      if (corpus_ && s.document.corpus_document >= 0) {
        for (const Hit& h : record.hits) {
          if (pipeline_.retriever->passage(h.id).text != corpus_->text(h.id)) {
            throw InputError("task.corpus (" + corpus_->dir().string() +
                             ") is not the corpus the retriever " + "searches (passage " +
                             std::to_string(h.id) + " differs); point task.corpus at the retriever's corpus");
          }
        }
      }
      out.times.retrieval += seconds_since(t0);
      out.retrievals.push_back(std::move(record));
    }
    Layout layout = policy.on_retrieval(*state, input, generated, passages);
    if (layout.tokens.empty()) throw Error("the context policy returned an empty layout");
    const std::size_t keep = reusable_cache_length(seq->tokens(), layout.tokens, layout.reusable_prefix);
    if (keep < seq->tokens().size()) seq->truncate(static_cast<std::int32_t>(keep));

    // The layout's last position predicts the stride's first target; the
    // targets but the last, evaluated after it, predict the others.
    EvalResult first = eval(std::span(layout.tokens).subspan(keep), {.all_logits = false, .keys = adjusts});
    if (adjusts && first.keys.size() > key_dim)
      first.keys.erase(first.keys.begin(), first.keys.end() - static_cast<std::ptrdiff_t>(key_dim));
    std::vector<Row> rows{{&first, 0, *at(p)}};
    EvalResult rest;
    if (n > 1) {
      rest = eval(std::span(s.text).subspan(p, n - 1), {.all_logits = true, .keys = adjusts});
      for (std::size_t i = 1; i < n; ++i)
        rows.push_back({&rest, i - 1, *at(p + i)});
    }
    score(rows);
    generated.insert(generated.end(), at(p), at(p + n));
  }
}

}  // namespace ralm::core
