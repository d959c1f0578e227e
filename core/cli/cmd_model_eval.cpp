// `ralm model logits` and `ralm model generate`: evaluating a model on its
// own, as the peers' evaluation tools do, to check a checkpoint
// against the framework it came from.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.hpp"
#include "model_args.hpp"
#include "ralm/core/engine/sampler.hpp"
#include "ralm/core/table.hpp"
#include "ralm/error.hpp"

namespace ralm::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "17 'piece'" for tables.
std::string token_label(const Tokenizer& t, TokenId id) {
  return std::to_string(id) + " '" + t.piece(id) + "'";
}

void print_top(const Tokenizer& t, std::span<const float> row, std::int64_t top) {
  std::vector<TokenId> order(row.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<TokenId>(i);
  const auto n =
      static_cast<std::ptrdiff_t>(std::min<std::int64_t>(top, static_cast<std::int64_t>(row.size())));
  // Higher logit first, ties to the lower id: the sampler's order.
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](TokenId a, TokenId b) {
    const float x = row[static_cast<std::size_t>(a)], y = row[static_cast<std::size_t>(b)];
    return x != y ? x > y : a < b;
  });
  core::Table table({"RANK", "ID", "PIECE", "LOGIT"});
  for (std::ptrdiff_t r = 0; r < n; ++r) {
    const TokenId id = order[static_cast<std::size_t>(r)];
    std::ostringstream logit;
    logit.precision(6);
    logit << std::fixed << row[static_cast<std::size_t>(id)];
    table.add({std::to_string(r + 1), std::to_string(id), t.piece(id), logit.str()});
  }
  table.print(std::cout, "  ");
}

}  // namespace

int run_model_logits(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm model logits`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_model_options(options, hidden, positional);
  add_token_options(options);
  options.add_options()("positions", po::value<std::string>()->default_value("last"),
                        "last (the last position) or all (every position)")(
      "top", po::value<std::int64_t>()->default_value(10), "entries per position in the table")(
      "json", "print {\"input_ids\", \"positions\", \"logits\"}: full vocabulary rows, every float exact");
  po::variables_map vm;
  if (!parse_command("model logits",
                     "model logits DIR (--ids 1,17,250 | --prompt TEXT) [--positions last|all] [--json]",
                     args, options, positional, vm, hidden)) {
    return 0;
  }
  const std::string mode = vm["positions"].as<std::string>();
  if (mode != "last" && mode != "all")
    throw InputError("model logits: --positions: unknown value '" + mode + "'; write last or all");
  if (vm["top"].as<std::int64_t>() < 1) throw InputError("model logits: --top: must be at least 1");
  const auto loaded = load_model_from_args("model logits", vm, global);
  Model& model = loaded->model();
  const Tokens ids = tokens_from_args("model logits", vm, model);
  auto seq = model.new_sequence();
  EvalOptions eval;
  eval.all_logits = mode == "all";
  const EvalResult result = model.eval(*seq, ids, eval);
  const auto vocab = result.logits.size() / static_cast<std::size_t>(result.rows);
  std::vector<std::int64_t> positions;
  for (std::int32_t r = 0; r < result.rows; ++r)
    positions.push_back(static_cast<std::int64_t>(ids.size()) - result.rows + r);

  if (vm.count("json")) {
    // nlohmann writes doubles with max_digits10 (17) digits, and a float
    // widened to double is exact: every logit reads back bit for bit.
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (std::int32_t r = 0; r < result.rows; ++r) {
      const auto* begin = result.logits.data() + static_cast<std::size_t>(r) * vocab;
      rows.push_back(std::vector<double>(begin, begin + vocab));
    }
    std::cout << nlohmann::ordered_json{{"input_ids", ids}, {"positions", positions}, {"logits", rows}}.dump()
              << "\n";
    return 0;
  }
  const Tokenizer& t = model.tokenizer();
  for (std::int32_t r = 0; r < result.rows; ++r) {
    const auto p = static_cast<std::size_t>(positions[static_cast<std::size_t>(r)]);
    std::cout << "position " << p << " (token " << token_label(t, ids[p]) << "): the next token\n";
    print_top(t, std::span(result.logits).subspan(static_cast<std::size_t>(r) * vocab, vocab),
              vm["top"].as<std::int64_t>());
  }
  return 0;
}

int run_model_generate(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description options("Options of `ralm model generate`");
  po::options_description hidden;
  po::positional_options_description positional;
  add_model_options(options, hidden, positional);
  add_token_options(options);
  options.add_options()("max-new-tokens", po::value<std::int64_t>()->default_value(32), "tokens to generate")(
      "temperature", po::value<double>()->default_value(0),
      "0: greedy; otherwise sample at this temperature")("top-k", po::value<std::int64_t>()->default_value(0),
                                                         "sample among the k most likely; 0: all")(
      "top-p", po::value<double>()->default_value(1), "sample among the fewest tokens reaching p; 1: all")(
      "seed", po::value<std::uint64_t>()->default_value(0), "the sampler's seed")(
      "ignore-eos", "keep generating after the end-of-sequence token")(
      "json", "print {\"prompt_ids\", \"output_ids\", \"text\"} and the speeds");
  po::variables_map vm;
  if (!parse_command(
          "model generate",
          "model generate DIR (--prompt TEXT | --ids 1,17,250) [--max-new-tokens N] [--temperature T] "
          "[--json]",
          args, options, positional, vm, hidden)) {
    return 0;
  }
  core::SamplingSettings sampling;
  sampling.temperature = vm["temperature"].as<double>();
  sampling.top_k = static_cast<std::int32_t>(vm["top-k"].as<std::int64_t>());
  sampling.top_p = vm["top-p"].as<double>();
  sampling.seed = vm["seed"].as<std::uint64_t>();
  sampling.check();
  const std::int64_t max_new = vm["max-new-tokens"].as<std::int64_t>();
  if (max_new < 1) throw InputError("model generate: --max-new-tokens: must be at least 1");
  const auto loaded = load_model_from_args("model generate", vm, global);
  Model& model = loaded->model();
  const Tokenizer& t = model.tokenizer();
  const Tokens prompt = tokens_from_args("model generate", vm, model);
  const std::int64_t context = model.info().context_length;
  const bool json = vm.count("json") > 0, stop_at_eos = vm.count("ignore-eos") == 0;

  core::Sampler sampler(sampling);
  auto seq = model.new_sequence();
  Tokens output;
  std::string shown;  // the text printed so far: print only what decoding the whole output adds
  const auto start = Clock::now();
  EvalResult r = model.eval(*seq, prompt, {});
  const double prefill = seconds_since(start);
  const auto decode_start = Clock::now();
  std::int64_t decoded = 0;
  while (static_cast<std::int64_t>(output.size()) < max_new) {
    const TokenId next = sampler.sample(r.logits);
    output.push_back(next);
    if (!json) {
      const std::string text = t.decode(output);
      if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
        std::cout << text.substr(shown.size()) << std::flush;
        shown = text;
      }
    }
    if (stop_at_eos && next == t.eos()) break;
    if (static_cast<std::int64_t>(output.size()) >= max_new || seq->length() >= context) break;
    const TokenId one[] = {next};
    r = model.eval(*seq, one, {});
    ++decoded;
  }
  const double decode = seconds_since(decode_start);
  const double prefill_rate = static_cast<double>(prompt.size()) / std::max(prefill, 1e-9);
  const double decode_rate = decoded > 0 ? static_cast<double>(decoded) / std::max(decode, 1e-9) : 0.0;
  if (json) {
    std::cout << nlohmann::ordered_json{{"prompt_ids", prompt},
                                        {"output_ids", output},
                                        {"text", t.decode(output)},
                                        {"prefill_tokens_per_s", prefill_rate},
                                        {"decode_tokens_per_s", decode_rate}}
                     .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << "\n";
    return 0;
  }
  std::ostringstream stats;
  stats.precision(1);
  stats << std::fixed << "\n\nprefill: " << prompt.size() << " tokens, " << prefill_rate
        << " tokens/s; decode: " << decoded << " tokens, " << decode_rate << " tokens/s; " << output.size()
        << " generated\n";
  std::cout << stats.str();
  return 0;
}

}  // namespace ralm::cli
