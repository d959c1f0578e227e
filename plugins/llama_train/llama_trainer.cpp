#include "llama_trainer.hpp"

#include <cblas.h>
#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "llama_graph.hpp"
#include "ralm/error.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/log.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/progress.hpp"
#include "token_windows.hpp"
#include "tokenizer_training.hpp"
#include "train_checkpoint.hpp"

namespace ralm::llama_train {

namespace fs = std::filesystem;

namespace {

// A number with `digits` decimals, or (digits < 0) in %g form.
std::string num(double v, int digits = -1) {
  char buf[64];
  if (digits < 0) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  }
  return buf;
}

// What one run trains, and how: the full model, or LoRA over a frozen base.
struct Objective {
  LlamaGraph<float>* graph;
  const std::vector<float>* base;  // LoRA: the frozen base; full: null

  LossSum run(const std::vector<float>& theta, const TokenBatch& batch, float* grad, double scale,
              std::uint64_t dropout_seed) const {
    if (!base) return graph->run(theta.data(), batch, grad, scale);
    return graph->run_lora(base->data(), theta.data(), batch, grad, scale, dropout_seed);
  }
};

// Where batches come from: plain windows, or retrieval-augmented samples.
struct DataSource {
  TokenWindows* windows;
  RetrievalWindows* retrieval;  // null: plain windows
  TokenBatch train_batch(std::int64_t position, std::int32_t count) const {
    return retrieval ? retrieval->train_batch(position, count) : windows->train_batch(position, count);
  }
  TokenBatch validation_batch(std::int64_t first, std::int32_t count) const {
    return retrieval ? retrieval->validation_batch(first, count) : windows->validation_batch(first, count);
  }
  std::int64_t validation_windows() const { return windows->validation_windows(); }
};

// exp(mean loss) over up to `windows` held-out windows; 0 when there are none.
double held_out_perplexity(const Objective& objective, const std::vector<float>& theta,
                           const DataSource& data, std::int32_t windows, std::int32_t batch_size) {
  LossSum total;
  const std::int64_t n = std::min<std::int64_t>(windows, data.validation_windows());
  for (std::int64_t first = 0; first < n; first += batch_size) {
    const auto count = static_cast<std::int32_t>(std::min<std::int64_t>(batch_size, n - first));
    const LossSum l = objective.run(theta, data.validation_batch(first, count), nullptr, 1.0, 0);
    total.sum += l.sum;
    total.count += l.count;
  }
  return total.count > 0 ? std::exp(total.sum / static_cast<double>(total.count)) : 0.0;
}

// OpenMP's worker threads outlive the parallel regions that started them and
// sit in libgomp's code; if the core unloaded this library (and with it
// libgomp) at exit while they sleep, they would wake into unmapped memory.
// So once training starts, this library and its dependencies stay loaded.
void keep_this_library_loaded() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&keep_this_library_loaded), &info) != 0 && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

}  // namespace

TrainSummary LlamaTrainer::train(const TrainRequest& request) {
  keep_this_library_loaded();
  const LlamaTrainerOptions& o = options_;
  const fs::path checkpoint_dir = o.out / "checkpoint",
                 model_dir = o.out / (o.mode == "lora" ? "adapter" : "model");
  if (!request.resume && !request.evaluate_only && fs::exists(checkpoint_dir)) {
    throw InputError(checkpoint_dir.string() +
                     " exists: pass --resume to continue that run, or remove the folder (or change "
                     "trainer.out) to start afresh");
  }
  if (request.resume && !fs::exists(checkpoint_dir)) {
    throw InputError(checkpoint_dir.string() + ": no checkpoint to resume from; run without --resume first");
  }
  openblas_set_num_threads(o.threads);
  log_info("llama trainer: " + std::to_string(o.threads) + " thread(s) for OpenMP and OpenBLAS");

  const std::shared_ptr<const PassageStore> store = PassageStore::open(o.corpus);
  const bool lora_mode = o.mode == "lora";
  const llama::LlamaConfig config = lora_mode ? llama::read_llama_config(o.base) : o.model;
  // The training graph computes Llama only: no biases, no sliding window.
  if (config.architecture != llama::Architecture::llama)
    throw InputError((o.base / "config.json").string() + ": model_type " +
                     llama::architecture_name(config.architecture) +
                     " is not trained by this trainer; it trains model_type llama only");
  fs::path tokenizer_file;
  if (lora_mode) {
    tokenizer_file = o.base / "tokenizer.model";
    if (!fs::exists(tokenizer_file)) {
      throw InputError(o.base.string() +
                       ": the base model has no tokenizer.model, so its text cannot be encoded for training");
    }
  } else if (o.tokenizer == "sentencepiece") {
    tokenizer_file = o.tokenizer_model;
    if (tokenizer_file.empty()) {
      // Trained once on the training split; a resumed or repeated run reuses it.
      tokenizer_file = o.out / "tokenizer.model";
      if (!fs::exists(tokenizer_file)) {
        fs::create_directories(o.out);
        train_sentencepiece(
            *store,
            {o.tokenizer_algorithm, config.vocab_size - o.reserved_tokens, o.validation_permille, o.threads},
            tokenizer_file);
      }
    }
  }
  const std::unique_ptr<Tokenizer> tokenizer =
      tokenizer_file.empty() ? llama::make_byte_tokenizer(config.vocab_size)
                             : llama::make_tokenizer(tokenizer_file.parent_path(), config.vocab_size,
                                                     config.bos_token_id, config.eos_token_id);
  const std::int32_t window =
      o.retrieval ? o.retrieval->context_tokens + o.retrieval->target_tokens : o.seq_len;
  TokenWindows windows(*store, *tokenizer, window, o.validation_permille, o.seed);
  windows.set_loss_tokens(o.loss_tokens);
  log_info("llama trainer: " + std::to_string(windows.train_windows()) + " training and " +
           std::to_string(windows.validation_windows()) + " held-out windows of " + std::to_string(window) +
           " tokens from " + o.corpus.string());
  std::optional<RetrievalWindows> retrieval;
  if (o.retrieval) retrieval.emplace(windows, *o.retriever, *store, *tokenizer, *o.retrieval);
  const DataSource data{&windows, retrieval ? &*retrieval : nullptr};

  std::optional<LoraLayout> lora;
  if (lora_mode) lora.emplace(config, o.lora);
  LlamaGraph<float> graph(config, o.threads, lora ? &*lora : nullptr);
  const ParamLayout& layout = graph.layout();
  std::vector<float> base;
  if (lora_mode) base = layout.flatten(llama::load_llama_weights(o.base, config));
  const TrainedTensors what =
      lora_mode ? lora_adapter_tensors(*lora, o.base) : full_model_tensors(config, layout, tokenizer_file);
  const Objective objective{&graph, lora_mode ? &base : nullptr};
  AdamW optimizer(o.adamw, what.tensors, what.total, o.threads);
  std::vector<float> theta;
  TrainPosition pos;
  if (request.resume) {
    LoadedCheckpoint ck = read_checkpoint(checkpoint_dir, what);
    theta = std::move(ck.values);
    optimizer.first_moment() = std::move(ck.first_moment);
    optimizer.second_moment() = std::move(ck.second_moment);
    optimizer.set_steps(ck.optimizer_steps);
    pos = ck.position;
    log_info("llama trainer: resuming at step " + std::to_string(pos.step));
  } else if (lora_mode) {
    theta = lora->initial(o.seed, base.data(), layout);
  } else {
    theta = layout.flatten(llama::random_llama_weights(config, o.seed, o.init_std));
  }
  log_info("llama trainer: " + std::to_string(what.total) + " trained parameters" +
           (lora_mode ? " (LoRA over " + std::to_string(layout.total()) + " frozen)" : std::string()));

  if (request.evaluate_only) {
    TrainSummary summary;
    summary.steps = pos.step;
    summary.total_steps = o.schedule.total_steps;
    summary.tokens = pos.tokens;
    summary.train_loss = pos.last_loss;
    summary.validation_perplexity = held_out_perplexity(objective, theta, data, o.eval_windows, o.batch_size);
    summary.output = request.resume ? checkpoint_dir : fs::path();
    return summary;
  }
  const std::int64_t total_steps = o.schedule.total_steps;
  const std::int64_t end =
      request.stop_after_steps > 0 ? std::min(total_steps, pos.step + request.stop_after_steps) : total_steps;
  // For the progress line's total: retrieval samples' lengths vary with their passages.
  const std::int64_t sample_tokens =
      o.retrieval ? std::int64_t{window} + o.retrieval->passage_tokens + 2 : std::int64_t{o.seq_len};
  const std::int64_t tokens_per_step = std::int64_t{o.batch_size} * o.grad_accum * sample_tokens;
  std::vector<float> grad(what.total);
  TrainSummary summary;
  summary.total_steps = total_steps;
  Progress progress("training", (end - pos.step) * tokens_per_step, "tokens");
  while (pos.step < end) {
    std::fill(grad.begin(), grad.end(), 0.0f);
    std::vector<TokenBatch> micro_batches;
    std::int64_t targets = 0, step_tokens = 0;
    for (std::int32_t micro = 0; micro < o.grad_accum; ++micro) {
      micro_batches.push_back(data.train_batch(pos.data_position, o.batch_size));
      pos.data_position += o.batch_size;
      targets += micro_batches.back().target_count();
      step_tokens += std::int64_t{micro_batches.back().sequences} * micro_batches.back().length;
    }
    LossSum loss;
    const double scale =
        1.0 / static_cast<double>(std::max<std::int64_t>(1, targets));  // the mean over the step
    for (std::size_t micro = 0; micro < micro_batches.size(); ++micro) {
      // A dropout mask per (seed, step, micro-batch): a resumed run draws the same ones.
      std::uint64_t state =
          o.seed ^ (0x51ed270b27e5b8b3ull * static_cast<std::uint64_t>(pos.step + 1)) ^ micro;
      const std::uint64_t dropout_seed = splitmix64(state) | 1;
      const LossSum l = objective.run(theta, micro_batches[micro], grad.data(), scale, dropout_seed);
      loss.sum += l.sum;
      loss.count += l.count;
    }
    const double mean = loss.sum / static_cast<double>(std::max<std::int64_t>(1, loss.count));
    if (!std::isfinite(mean)) {
      throw Error("llama trainer: the training loss is " + std::string(std::isnan(mean) ? "NaN" : num(mean)) +
                  " at step " + std::to_string(pos.step + 1) +
                  "; stopped without saving it. The last good checkpoint is " +
                  (fs::exists(checkpoint_dir) ? checkpoint_dir.string()
                                              : std::string("none (none was written yet)")) +
                  "; lower trainer.lr, raise trainer.warmup or trainer.clip, and --resume");
    }
    const double norm = clip_gradient_norm(grad.data(), grad.size(), o.clip);
    const double lr = learning_rate(o.schedule, pos.step);
    optimizer.step(theta.data(), grad.data(), lr);
    ++pos.step;
    pos.tokens += step_tokens;
    pos.last_loss = mean;
    progress.set_note("loss " + num(mean, 4) + ", lr " + num(lr));
    progress.advance(step_tokens);
    if (o.eval_every > 0 && pos.step % o.eval_every == 0 && pos.step < total_steps) {
      const double ppl = held_out_perplexity(objective, theta, data, o.eval_windows, o.batch_size);
      log_info("step " + std::to_string(pos.step) + "/" + std::to_string(total_steps) + ": train loss " +
               num(mean, 4) + ", grad norm " + num(norm) + ", held-out perplexity " + num(ppl, 3));
    }
    if (pos.step == end || (o.checkpoint_every > 0 && pos.step % o.checkpoint_every == 0)) {
      write_checkpoint(checkpoint_dir, what, theta, &optimizer, pos);
    }
  }
  progress.finish();
  summary.steps = pos.step;
  summary.tokens = pos.tokens;
  summary.train_loss = pos.last_loss;
  summary.output = checkpoint_dir;
  if (pos.step >= total_steps) {
    summary.validation_perplexity = held_out_perplexity(objective, theta, data, o.eval_windows, o.batch_size);
    write_checkpoint(model_dir, what, theta, nullptr, pos);
    summary.output = model_dir;
    log_info("llama trainer: finished; held-out perplexity " + num(summary.validation_perplexity, 3));
  }
  return summary;
}

}  // namespace ralm::llama_train
