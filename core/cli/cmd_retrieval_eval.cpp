// `ralm retrieval-eval PIPELINE [MORE.yaml ...]`: retrieval quality on a query
// set the corpus gives for free.
//
// Queries: the first sentence of a document's first passage (a FOLDOC
// article's definition, say); its answers: every passage of that document.
// For each pipeline's retriever: Recall@1/10/100 (a query counts when any
// answer is in the top k) and MRR (1 / the rank of the first answer within
// the top 100, 0 beyond). With several pipelines, overlap@10 of each with the
// first (put the exact retriever first to measure approximate ones against
// it). All pipelines must retrieve from the same corpus.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include "command.hpp"
#include "ralm/core/pipeline.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"
#include "ralm/passage_store.hpp"

namespace ralm::cli {

namespace {

struct EvalQuery {
  std::string text;
  std::set<PassageId> answers;
};

// The first sentence of `text`: up to the first '.', '!' or '?' followed by
// a space, at most 40 words.
std::string first_sentence(std::string_view text) {
  std::istringstream words{std::string(text)};
  std::string w, out;
  for (int i = 0; i < 40 && words >> w; ++i) {
    out += (out.empty() ? "" : " ") + w;
    const char last = w.back();
    if ((last == '.' || last == '!' || last == '?') && i >= 3) break;
  }
  return out;
}

std::vector<EvalQuery> make_queries(const PassageStore& store, std::int64_t count, std::uint64_t seed) {
  std::vector<std::pair<std::int64_t, std::vector<PassageId>>> docs;  // document, its passages
  for (PassageId id = 0; id < store.size(); ++id) {
    const std::int64_t d = store.document(id);
    if (docs.empty() || docs.back().first != d) docs.push_back({d, {}});
    docs.back().second.push_back(id);
  }
  std::vector<EvalQuery> all;
  for (const auto& [doc, ids] : docs) {
    EvalQuery q{first_sentence(store.text(ids.front())), {ids.begin(), ids.end()}};
    // A query of a few words at least, or it says nothing.
    if (std::count(q.text.begin(), q.text.end(), ' ') >= 3) all.push_back(std::move(q));
  }
  std::mt19937_64 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  if (static_cast<std::int64_t>(all.size()) > count) all.resize(static_cast<std::size_t>(count));
  return all;
}

std::string fixed(double v, int digits = 3) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace

int run_retrieval_eval(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm retrieval-eval`");
  options.add_options()("queries", po::value<std::int64_t>()->default_value(1000),
                        "documents sampled as queries")("seed", po::value<std::uint64_t>()->default_value(1),
                                                        "the sample's seed")(
      "batch", po::value<std::int64_t>()->default_value(8), "queries per search() call");
  po::options_description hidden;
  hidden.add_options()("pipelines", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("pipelines", -1);
  po::variables_map vm;
  const std::string usage = "retrieval-eval PIPELINE [MORE.yaml ...] [--queries N] [--seed S]";
  if (!parse_command("retrieval-eval", usage, args, options, positional, vm, hidden)) return 0;
  if (!vm.count("pipelines")) throw InputError("retrieval-eval: which pipelines? usage: ralm " + usage);
  const auto files = vm["pipelines"].as<std::vector<std::string>>();
  const std::int64_t batch = std::max<std::int64_t>(1, vm["batch"].as<std::int64_t>());
  core::Registry registry;
  load_plugins(global, registry);

  std::vector<EvalQuery> queries;
  std::string corpus_checksum;
  std::vector<std::vector<PassageId>> reference_top10;
  core::Table table(
      {"PIPELINE", "RETRIEVER", "QUERIES", "R@1", "R@10", "R@100", "MRR", "OVERLAP@10", "SECONDS"});
  for (std::size_t p = 0; p < files.size(); ++p) {
    const core::PipelineSpec spec = core::load_pipeline(files[p], {}, registry);
    const core::ComponentSpec* r = spec.find("retriever");
    if (!r) throw InputError(spec.file + ": the pipeline has no retriever section; nothing to evaluate");
    if (!r->params.has("corpus")) {
      throw InputError(spec.file + ": retriever '" + r->plugin +
                       "' has no corpus parameter to draw queries from");
    }
    const auto store = PassageStore::open(r->params.get_path("corpus"));
    if (p == 0) {
      queries = make_queries(*store, vm["queries"].as<std::int64_t>(), vm["seed"].as<std::uint64_t>());
      corpus_checksum = store->manifest().checksum;
      if (queries.empty())
        throw InputError(store->dir().string() + ": no document gives a query of 4 words or more");
    } else if (store->manifest().checksum != corpus_checksum) {
      throw InputError(spec.file + ": retrieves from another corpus than " + files[0] +
                       "; compare pipelines over the same corpus");
    }
    const core::BuiltPipeline built = core::build_pipeline(spec, registry);
    const std::int64_t k = std::min<std::int64_t>(100, built.retriever->size());
    double r1 = 0, r10 = 0, r100 = 0, mrr = 0, overlap = 0;
    std::vector<std::vector<PassageId>> top10;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t first = 0; first < queries.size(); first += static_cast<std::size_t>(batch)) {
      const std::size_t n = std::min(queries.size() - first, static_cast<std::size_t>(batch));
      std::vector<std::string> texts;
      for (std::size_t i = 0; i < n; ++i)
        texts.push_back(queries[first + i].text);
      const auto results = built.retriever->search(texts, k);
      for (std::size_t i = 0; i < n; ++i) {
        const auto& answers = queries[first + i].answers;
        const auto& hits = results[i];
        for (std::size_t rank = 0; rank < hits.size(); ++rank) {
          if (!answers.count(hits[rank].id)) continue;
          r1 += rank < 1;
          r10 += rank < 10;
          r100 += rank < 100;
          mrr += 1.0 / static_cast<double>(rank + 1);
          break;
        }
        std::vector<PassageId> ids;
        for (std::size_t j = 0; j < std::min<std::size_t>(10, hits.size()); ++j)
          ids.push_back(hits[j].id);
        top10.push_back(std::move(ids));
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string overlap_cell = "-";
    if (p == 0) {
      reference_top10 = top10;
    } else {
      double shared = 0, total = 0;
      for (std::size_t i = 0; i < top10.size(); ++i) {
        const std::set<PassageId> ref(reference_top10[i].begin(), reference_top10[i].end());
        for (PassageId id : top10[i])
          shared += static_cast<double>(ref.count(id));
        total += static_cast<double>(reference_top10[i].size());
      }
      overlap = total > 0 ? shared / total : 0;
      overlap_cell = fixed(overlap);
    }
    const auto n = static_cast<double>(queries.size());
    table.add({spec.name, r->plugin, std::to_string(queries.size()), fixed(r1 / n), fixed(r10 / n),
               fixed(r100 / n), fixed(mrr / n), overlap_cell, fixed(seconds, 2)});
  }
  table.print(std::cout);
  std::cout << "queries: each document's first sentence; answers: its passages; R@100 and MRR within the top "
               "100; OVERLAP@10 against "
            << files[0] << "\n";
  return 0;
}

}  // namespace ralm::cli
