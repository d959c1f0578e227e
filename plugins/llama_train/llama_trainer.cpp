#include "llama_trainer.hpp"

#include <cblas.h>
#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "llama_graph.hpp"
#include "llama_weights.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/progress.hpp"
#include "token_windows.hpp"
#include "tokenizer_training.hpp"
#include "tokenizers.hpp"
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

// exp(mean loss) over up to `windows` held-out windows; 0 when there are none.
double held_out_perplexity(LlamaGraph<float>& graph, const std::vector<float>& params,
                           const TokenWindows& data, std::int32_t windows, std::int32_t batch_size) {
  LossSum total;
  const std::int64_t n = std::min<std::int64_t>(windows, data.validation_windows());
  for (std::int64_t first = 0; first < n; first += batch_size) {
    const auto count = static_cast<std::int32_t>(std::min<std::int64_t>(batch_size, n - first));
    const LossSum l = graph.run(params.data(), data.validation_batch(first, count));
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
  const fs::path checkpoint_dir = o.out / "checkpoint", model_dir = o.out / "model";
  if (!request.resume && fs::exists(checkpoint_dir)) {
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
  fs::path tokenizer_file;
  if (o.tokenizer == "sentencepiece") {
    tokenizer_file = o.tokenizer_model;
    if (tokenizer_file.empty()) {
      // Trained once on the training split; a resumed or repeated run reuses it.
      tokenizer_file = o.out / "tokenizer.model";
      if (!fs::exists(tokenizer_file)) {
        fs::create_directories(o.out);
        train_sentencepiece(*store,
                            {o.tokenizer_algorithm, o.model.vocab_size, o.validation_permille, o.threads},
                            tokenizer_file);
      }
    }
  }
  const std::unique_ptr<Tokenizer> tokenizer =
      tokenizer_file.empty() ? llama::make_byte_tokenizer(o.model.vocab_size)
                             : llama::make_tokenizer(tokenizer_file.parent_path(), o.model.vocab_size,
                                                     o.model.bos_token_id, o.model.eos_token_id);
  TokenWindows data(*store, *tokenizer, o.seq_len, o.validation_permille, o.seed);
  log_info("llama trainer: " + std::to_string(data.train_windows()) + " training and " +
           std::to_string(data.validation_windows()) + " held-out windows of " + std::to_string(o.seq_len) +
           " tokens from " + o.corpus.string());

  LlamaGraph<float> graph(o.model, o.threads);
  const ParamLayout& layout = graph.layout();
  AdamW optimizer(o.adamw, layout, o.threads);
  std::vector<float> params;
  TrainPosition pos;
  if (request.resume) {
    LoadedCheckpoint ck = read_checkpoint(checkpoint_dir, o.model, layout);
    params = std::move(ck.params);
    optimizer.first_moment() = std::move(ck.first_moment);
    optimizer.second_moment() = std::move(ck.second_moment);
    optimizer.set_steps(ck.optimizer_steps);
    pos = ck.position;
    log_info("llama trainer: resuming at step " + std::to_string(pos.step));
  } else {
    params = layout.flatten(llama::random_llama_weights(o.model, o.seed, o.init_std));
  }
  log_info("llama trainer: " + std::to_string(layout.total()) + " parameters");

  const std::int64_t total_steps = o.schedule.total_steps;
  const std::int64_t end =
      request.stop_after_steps > 0 ? std::min(total_steps, pos.step + request.stop_after_steps) : total_steps;
  const std::int64_t tokens_per_step = std::int64_t{o.batch_size} * o.grad_accum * o.seq_len;
  std::vector<float> grad(layout.total());
  TrainSummary summary;
  summary.total_steps = total_steps;
  Progress progress("training", (end - pos.step) * tokens_per_step, "tokens");
  while (pos.step < end) {
    std::fill(grad.begin(), grad.end(), 0.0f);
    LossSum loss;
    const double scale = 1.0 / static_cast<double>(tokens_per_step);  // every position has a target
    for (std::int32_t micro = 0; micro < o.grad_accum; ++micro) {
      const TokenBatch batch = data.train_batch(pos.data_position, o.batch_size);
      pos.data_position += o.batch_size;
      const LossSum l = graph.run(params.data(), batch, grad.data(), scale);
      loss.sum += l.sum;
      loss.count += l.count;
    }
    const double mean = loss.sum / static_cast<double>(loss.count);
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
    optimizer.step(params.data(), grad.data(), lr);
    ++pos.step;
    pos.tokens += tokens_per_step;
    pos.last_loss = mean;
    progress.set_note("loss " + num(mean, 4) + ", lr " + num(lr));
    progress.advance(tokens_per_step);
    if (o.eval_every > 0 && pos.step % o.eval_every == 0 && pos.step < total_steps) {
      const double ppl = held_out_perplexity(graph, params, data, o.eval_windows, o.batch_size);
      log_info("step " + std::to_string(pos.step) + "/" + std::to_string(total_steps) + ": train loss " +
               num(mean, 4) + ", grad norm " + num(norm) + ", held-out perplexity " + num(ppl, 3));
    }
    if (pos.step == end || (o.checkpoint_every > 0 && pos.step % o.checkpoint_every == 0)) {
      write_checkpoint(checkpoint_dir, o.model, layout, params, &optimizer, pos, tokenizer_file);
    }
  }
  progress.finish();
  summary.steps = pos.step;
  summary.tokens = pos.tokens;
  summary.train_loss = pos.last_loss;
  summary.output = checkpoint_dir;
  if (pos.step >= total_steps) {
    summary.validation_perplexity = held_out_perplexity(graph, params, data, o.eval_windows, o.batch_size);
    write_checkpoint(model_dir, o.model, layout, params, nullptr, pos, tokenizer_file);
    summary.output = model_dir;
    log_info("llama trainer: finished; held-out perplexity " + num(summary.validation_perplexity, 3));
  }
  return summary;
}

}  // namespace ralm::llama_train
