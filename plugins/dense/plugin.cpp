// The `dense` plugin: the `dense` retriever, dense search over a passage
// store (encoded by lsa, the pipeline's model or a BERT-family checkpoint)
// with our own exact scan (`index: Flat`) and IVF…,Flat list scan, or any
// other FAISS index; and the `knnlm` policy. The retriever's former name,
// `faiss`, is still accepted.
#include "datastore_files.hpp"
#include "dense_index_files.hpp"
#include "dense_retriever.hpp"
#include "filler_index.hpp"
#include "knnlm_policy.hpp"
#include "ralm/ralm.hpp"
#include "shard_search.hpp"

namespace {

// `shards: K` under `mpirun -np K+1` (mpi_shards.hpp): checks the job's
// size on every rank (rank 0 alone says what is wrong) and returns it.
ralm::dense::mpi_shards::Job join_shard_job(const ralm::Params& p) {
  namespace mpi = ralm::dense::mpi_shards;
  const std::int64_t shards = p.get_int("shards");
  const mpi::Job job = mpi::join_job();
  if (job.size != shards + 1) {
    if (job.rank > 0) mpi::leave_job(2);
    p.fail("shards", std::to_string(shards) + " shards need " + std::to_string(shards + 1) +
                         " MPI ranks (`mpirun -np " + std::to_string(shards + 1) +
                         "`: rank 0 runs the engine); this job has " + std::to_string(job.size));
  }
  if (job.rank == 0) mpi::stop_shard_ranks_at_exit(shards);
  return job;
}

// What rank 0 and the shard ranks must agree on: the rows (their sample
// checksum), what they are of (`identity`), the index, the filler and the
// kernels (rank 0 scores the speculative cache's rows itself, with the same
// kernels, to agree with the shards bit for bit).
std::string shard_fingerprint(const std::string& identity, std::uint64_t rows_checksum, std::int64_t filler,
                              std::int64_t shards) {
  namespace dense = ralm::dense;
  return identity + " rows=" + std::to_string(rows_checksum) + " filler=" + std::to_string(filler) +
         " shards=" + std::to_string(shards) +
         " kernels=" + dense::scan_kernels_name(dense::default_scan_kernels());
}

// A shard rank's life (never returns): at rank 0's greeting, opens shard
// rank - 1's file set of `sets` and serves it with `options` (its share of
// `filler` rows, scanned, never returned, so the job scans what one process
// would). `what` names the rows in the log ("passages", "entries").
[[noreturn]] void serve_shard_rank(const ralm::dense::mpi_shards::Job& job,
                                   const ralm::dense::ShardSetSpec& sets,
                                   ralm::dense::ShardSearchOptions options, std::int64_t filler,
                                   const std::string& identity, const std::string& what) {
  namespace dense = ralm::dense;
  namespace mpi = ralm::dense::mpi_shards;
  const std::int64_t shard = job.rank - 1;
  mpi::serve_shard([&]() {
    options.filler_rows = dense::shard_rows(filler, sets.shards, shard).second;
    dense::ShardFiles files = dense::open_shard(sets, shard);
    const std::uint64_t checksum = files.sample_checksum;
    auto search = std::make_shared<dense::ShardSearch>(std::move(files), options);
    ralm::log_info("dense: MPI rank " + std::to_string(job.rank) + " serves " + what + " " +
                   std::to_string(search->first_row()) + ".." +
                   std::to_string(search->first_row() + search->rows() - 1) + " from " +
                   sets.shard_dir(shard).string());
    mpi::ServedShard served;
    served.dim = search->dim();
    served.first_row = search->first_row();
    served.search = [search](const float* q, std::int64_t nq, std::int64_t k) {
      return search->search(q, nq, k);
    };
    served.fingerprint = shard_fingerprint(identity, checksum, filler, sets.shards);
    return served;
  });
}

// The retriever of a pipeline with `shards: K`: rank 0's, searching through
// the shard ranks (each serving its own file set).
std::unique_ptr<ralm::dense::DenseRetriever> sharded_retriever(
    const ralm::Params& p, std::shared_ptr<const ralm::PassageStore> store,
    ralm::dense::DenseIndexFiles files, const ralm::dense::DenseIndexSpec& spec, std::int64_t filler,
    const std::string& identity) {
  namespace dense = ralm::dense;
  namespace mpi = ralm::dense::mpi_shards;
  const auto* rows = reinterpret_cast<const float*>(files.vectors->bytes());
  const std::int64_t shards = p.get_int("shards");
  auto client = std::make_unique<mpi::ShardClient>(
      shards, files.dim, static_cast<unsigned>(p.get_int("timeout_ms")),
      shard_fingerprint(identity, dense::rows_sample_checksum(rows, store->size(), files.dim), filler,
                        shards));
  auto retriever = std::make_unique<dense::DenseRetriever>(
      store, std::move(files), spec.metric, p.get_int("k_factor"), spec.threads,
      dense::default_scan_kernels(), 0, p.get_int("candidates"));
  retriever->use_shard_ranks(std::move(client));
  return retriever;
}

// The bert encoder the pipeline's settings describe, loaded: a checkpoint
// it cannot use is one error naming the setting and the file.
std::shared_ptr<const ralm::dense::BertEncoder> load_bert(const ralm::Params& p) {
  namespace dense = ralm::dense;
  dense::BertOptions options;
  options.checkpoint = p.get_path("checkpoint");
  if (options.checkpoint.empty()) {
    p.fail("checkpoint",
           "the bert encoder needs a checkpoint folder (config.json, model.safetensors, "
           "tokenizer.json): set checkpoint");
  }
  options.query_checkpoint = p.get_path("query_checkpoint");
  options.pooling = p.get_string("pooling") == "mean" ? dense::BertPooling::mean : dense::BertPooling::cls;
  options.normalize = p.get_bool("normalize");
  options.query_prefix = p.get_string("query_prefix");
  options.passage_prefix = p.get_string("passage_prefix");
  options.max_length = p.get_int("max_length");
  options.dtype =
      p.get_string("dtype") == "bf16" ? ralm::kernels::WeightType::bf16 : ralm::kernels::WeightType::f32;
  options.batch = p.get_int("batch");
  auto side = [&](const std::string& key, const std::filesystem::path& dir) {
    try {
      return dense::BertEncoder::load_side(dir, options.dtype);
    } catch (const ralm::InputError& e) {
      p.fail(key, e.what());
    }
  };
  const dense::BertEncoder::Side passages = side("checkpoint", options.checkpoint);
  const dense::BertEncoder::Side queries =
      options.query_checkpoint.empty() ? passages : side("query_checkpoint", options.query_checkpoint);
  // What the two checkpoints allow together (max_length, one dimension) is
  // the encoder's to judge; its errors name the setting.
  return std::make_shared<dense::BertEncoder>(options, passages, queries);
}

std::unique_ptr<ralm::dense::DenseRetriever> make_retriever(const ralm::Params& p, ralm::BuildContext& ctx) {
  namespace dense = ralm::dense;
  const auto store = ralm::PassageStore::open(p.get_path("corpus"));
  dense::DenseIndexSpec spec;
  spec.encoder = p.get_string("encoder");
  if (spec.encoder == "model") {
    spec.model = ctx.model();
    if (!spec.model) p.fail("encoder", "the model encoder needs the pipeline's model: add a model section");
    spec.max_tokens = p.get_int("max_tokens");
  }
  if (spec.encoder == "bert") spec.bert = load_bert(p);
  spec.lsa.dim = p.get_int("dim");
  spec.lsa.min_df = p.get_int("min_df");
  spec.lsa.max_vocab = p.get_int("max_vocab");
  spec.lsa.seed = p.get_int("seed");
  spec.index = p.get_string("index");
  spec.metric = p.get_string("metric") == "l2" ? dense::Metric::l2 : dense::Metric::inner_product;
  spec.threads = p.get_int("threads") > 0 ? static_cast<int>(p.get_int("threads")) : ctx.threads();
  spec.dir = p.get_path("index_dir");
  if (spec.dir.empty()) spec.dir = store->dir() / spec.default_folder_name();
  if (!spec.exact()) {
    try {
      const std::int64_t dim = spec.model  ? spec.model->info().hidden_size
                               : spec.bert ? spec.bert->dim()
                                           : spec.lsa.dim;
      dense::check_factory_string(spec.index, dim, spec.metric);
    } catch (const ralm::InputError& e) {
      p.fail("index", e.what());
    }
  }
  const ralm::IndexRequest request = ctx.index_request();
  spec.shards = p.get_int("shards");
  const std::string identity = spec.index + " " + ralm::dense::metric_name(spec.metric) + " " +
                               spec.encoder_fingerprint() + " corpus " + store->manifest().checksum;
  const bool over_ranks = spec.shards > 1 && request == ralm::IndexRequest::AsConfigured;
  if (over_ranks) {
    const ralm::dense::mpi_shards::Job job = join_shard_job(p);
    // An IVF…,Flat index's filler lives in an index of its own beside the
    // index (filler_index.hpp), which the shard sets do not cut.
    const bool filler_refused = p.get_int("filler_vectors") > 0 && !spec.exact();
    if (job.rank > 0) {
      if (filler_refused) ralm::dense::mpi_shards::leave_job(2);
      dense::ShardSearchOptions options;
      options.metric = spec.metric;
      options.threads = spec.threads;
      options.nprobe = p.get_int("nprobe");
      options.ef_search = p.get_int("efSearch");
      options.k_factor = p.get_int("k_factor");
      options.min_candidates = p.get_int("candidates");
      serve_shard_rank(job, dense::dense_shard_sets(*store, spec), options, p.get_int("filler_vectors"),
                       identity, "passages");
    }
    if (filler_refused)
      p.fail("filler_vectors", "shards over MPI ranks take filler with index: Flat only, not " + spec.index);
  }
  // Under mpirun, rank 0 opens (or builds) the encoder and vectors alone: it
  // encodes queries and scores the cache's rows, and the shard ranks search,
  // so its machine needs neither the FAISS index nor the shard sets, which
  // `ralm index build` writes.
  if (over_ranks) {
    spec.shards = 1;
    spec.index = "Flat";
  }
  const bool rebuild = p.get_bool("rebuild") || request == ralm::IndexRequest::Rebuild;
  if (rebuild || !dense::dense_index_exists(spec)) {
    if (!rebuild && !p.get_bool("build_if_missing") && request == ralm::IndexRequest::AsConfigured) {
      p.fail("index", "no dense index at " + spec.dir.string() +
                          "; build it with `ralm index build PIPELINE`, or set build_if_missing: true");
    }
    ralm::log_info("dense: building the " + spec.index + " index of " + store->dir().string() + " into " +
                   spec.dir.string());
    dense::build_dense_index(*store, spec, rebuild);
  }
  auto files = dense::open_dense_index(*store, spec);
  if (files.faiss) {
    const std::string set = files.faiss->set_search_parameters(p.get_int("nprobe"), p.get_int("efSearch"));
    if (!set.empty()) ralm::log_info("dense: " + spec.index + " searches with " + set);
  }
  ralm::log_info(std::string("dense: exact scores with the ") +
                 dense::scan_kernels_name(dense::default_scan_kernels()) + " scan kernels, " +
                 std::to_string(spec.threads) + " threads");
  std::int64_t filler = p.get_int("filler_vectors");
  if (filler > 0) {
    ralm::log_info("dense: " + std::to_string(filler) +
                   " filler vectors scanned by every search, never returned");
  }
  if (filler > 0 && !spec.exact()) {
    // An IVF…,Flat index over the corpus and corpus-like filler, kept beside
    // the index (filler_index.hpp); the exact scan's filler is its own.
    if (!files.faiss->flat_lists()) {
      p.fail("filler_vectors", "filler works with index: Flat or an IVF…,Flat index, not " + spec.index);
    }
    files.faiss =
        dense::filler_index(reinterpret_cast<const float*>(files.vectors->bytes()), store->size(), files.dim,
                            filler, spec.index, spec.metric, spec.faiss_dir(), spec.threads);
    files.faiss->set_search_parameters(p.get_int("nprobe"), p.get_int("efSearch"));
    filler = 0;
  }
  // `ralm index build` with shards: K writes the index and its K shard sets.
  if (!over_ranks) {
    return std::make_unique<dense::DenseRetriever>(
        store, std::move(files), spec.metric, p.get_int("k_factor"), spec.threads,
        dense::default_scan_kernels(), filler, p.get_int("candidates"));
  }
  return sharded_retriever(p, store, std::move(files), spec, filler, identity);
}

std::unique_ptr<ralm::dense::KnnLmPolicy> make_knnlm(const ralm::Params& p, ralm::BuildContext& ctx) {
  namespace dense = ralm::dense;
  const auto store = ralm::PassageStore::open(p.get_path("corpus"));
  dense::DatastoreSpec spec;
  spec.model = ctx.model();
  if (!spec.model) p.fail("corpus", "kNN-LM needs the pipeline's model to compute keys: add a model section");
  if (spec.model->info().key_dim <= 0)
    p.fail("corpus", "the pipeline's model gives no kNN-LM keys (key_dim 0); use a model plugin that does");
  spec.max_tokens = p.get_int("max_tokens");
  spec.exclude_document_step = p.get_int("exclude_document_step");
  spec.exclude_validation_permille = p.get_int("exclude_validation_permille");
  spec.max_passages = p.get_int("max_passages");
  spec.index = p.get_string("index");
  spec.metric = p.get_string("distance") == "l2" ? dense::Metric::l2 : dense::Metric::inner_product;
  spec.threads = p.get_int("threads") > 0 ? static_cast<int>(p.get_int("threads")) : ctx.threads();
  spec.dir = p.get_path("datastore");
  if (spec.dir.empty()) spec.dir = store->dir() / spec.default_folder_name();
  if (!spec.exact()) {
    try {
      dense::check_factory_string(spec.index, spec.model->info().key_dim, spec.metric);
    } catch (const ralm::InputError& e) {
      p.fail("index", e.what());
    }
  }
  const ralm::IndexRequest request = ctx.index_request();
  spec.shards = p.get_int("shards");
  const std::string identity = spec.index + " " + dense::metric_name(spec.metric) + " " +
                               dense::model_fingerprint(*spec.model) + " corpus " +
                               store->manifest().checksum;
  const bool over_ranks = spec.shards > 1 && request == ralm::IndexRequest::AsConfigured;
  if (over_ranks) {
    const dense::mpi_shards::Job job = join_shard_job(p);
    if (job.rank > 0) {
      dense::ShardSearchOptions options;
      options.metric = spec.metric;
      options.threads = spec.threads;
      options.nprobe = p.get_int("nprobe");
      options.ef_search = p.get_int("efSearch");
      // KnnLmPolicy::search's pool: k x k_factor candidates, whatever k.
      options.min_candidates = p.get_int("k") * p.get_int("k_factor");
      serve_shard_rank(job, dense::datastore_shard_sets(*store, spec), options, 0, identity, "entries");
    }
    // As make_retriever: rank 0 keeps the entries, the shard ranks search.
    spec.shards = 1;
    spec.index = "Flat";
  }
  const bool rebuild = p.get_bool("rebuild") || request == ralm::IndexRequest::Rebuild;
  if (rebuild || !dense::datastore_exists(spec)) {
    if (!rebuild && !p.get_bool("build_if_missing") && request == ralm::IndexRequest::AsConfigured) {
      p.fail("datastore",
             "no kNN-LM datastore at " + spec.dir.string() +
                 "; build it with `ralm datastore build PIPELINE`, or set build_if_missing: true");
    }
    ralm::log_info("knnlm: building the " + spec.index + " datastore of " + store->dir().string() + " into " +
                   spec.dir.string());
    dense::build_datastore(*store, spec, rebuild);
  }
  dense::Datastore ds = dense::open_datastore(*store, spec);
  if (ds.faiss) {
    const std::string set = ds.faiss->set_search_parameters(p.get_int("nprobe"), p.get_int("efSearch"));
    if (!set.empty()) ralm::log_info("knnlm: " + spec.index + " searches with " + set);
  }
  const std::int64_t k = p.get_int("k");
  if (k > ds.entries) {
    p.fail("k", std::to_string(k) + " neighbours asked of a datastore of " + std::to_string(ds.entries) +
                    " entries; lower k or build a larger datastore");
  }
  ralm::log_info("knnlm: " + std::to_string(ds.entries) + " entries in " + spec.dir.string());
  dense::KnnLmOptions options;
  options.k = k;
  options.lambda = p.get_float("lambda");
  options.temperature = p.get_float("temperature");
  options.metric = spec.metric;
  options.k_factor = p.get_int("k_factor");
  options.threads = spec.threads;
  if (!over_ranks) return std::make_unique<dense::KnnLmPolicy>(store, std::move(ds), options);
  const std::int64_t shards = p.get_int("shards");
  auto client = std::make_unique<dense::mpi_shards::ShardClient>(
      shards, ds.key_dim, static_cast<unsigned>(p.get_int("timeout_ms")),
      shard_fingerprint(identity, dense::rows_sample_checksum(ds.key_rows(), ds.entries, ds.key_dim), 0,
                        shards));
  auto policy = std::make_unique<dense::KnnLmPolicy>(store, std::move(ds), options);
  policy->use_shard_ranks(std::move(client));
  return policy;
}

}  // namespace

RALM_PLUGIN(
    "dense", "0.1.0",
    "dense retrieval: lsa, model and BERT-family encoders, an exact AVX-512 scan and FAISS indexes; the "
    "knnlm policy") {
  namespace param = ralm::param;
  registrar.add<ralm::Retriever>(
      ralm::ComponentName("dense").alias("faiss"),
      "dense search over a passage store: `index: Flat` is exact and an IVF…,Flat index probes its lists, "
      "both with our own scan; any other FAISS index_factory string (HNSW32, IVF256,PQ32, ...) is a FAISS "
      "index whose candidates are ranked by their exact scores",
      {
          param::required("corpus", ralm::ParamType::Path, "the passage store (`ralm corpus build --out`)"),
          param::string("encoder", "lsa",
                        "how text becomes a vector: lsa (TF-IDF and truncated SVD trained on the corpus), "
                        "model (the mean of the pipeline model's final hidden states) or bert (a BERT-family "
                        "checkpoint: DPR, Contriever, e5, bge)")
              .one_of({"lsa", "model", "bert"}),
          param::integer("dim", 256, "lsa: the vectors' dimension (at most the corpus allows)").at_least(1),
          param::integer("min_df", 2, "lsa: terms in fewer passages are left out").at_least(1),
          param::integer("max_vocab", 50000, "lsa: the most frequent terms kept").at_least(1),
          param::integer("seed", 1, "lsa: the randomized SVD's seed"),
          param::integer("max_tokens", 64, "model: tokens of each text the model reads").at_least(1),
          param::path(
              "checkpoint", "",
              "bert: the checkpoint folder (config.json, model.safetensors, tokenizer.json) that "
              "encodes passages, and queries unless query_checkpoint is set (DPR: the context encoder)"),
          param::path("query_checkpoint", "",
                      "bert: the checkpoint folder that encodes queries (DPR: the question encoder); empty: "
                      "checkpoint"),
          param::string(
              "pooling", "cls",
              "bert: cls (the first token's final hidden state: DPR, bge) or mean (the average over "
              "the text's tokens: Contriever, e5)")
              .one_of({"cls", "mean"}),
          param::boolean("normalize", true,
                         "bert: scale each vector to unit length (e5, bge, Contriever); DPR scores raw inner "
                         "products: false"),
          param::string("query_prefix", "", "bert: put before every query (e5: \"query: \")"),
          param::string("passage_prefix", "", "bert: put before every passage (e5: \"passage: \")"),
          param::integer("max_length", 0,
                         "bert: tokens read of each text, [CLS] and [SEP] included; 0: as many as the "
                         "checkpoint's max_position_embeddings allow (512 for BERT base)")
              .at_least(0),
          param::string("dtype", "f32", "bert: the weight matrices in memory as f32 or bf16")
              .one_of({"f32", "bf16"}),
          param::integer("batch", 32, "bert: texts per forward pass (vectors do not depend on it)")
              .at_least(1),
          param::string("index", "Flat", "a FAISS index_factory string, taken verbatim; Flat: exact search"),
          param::string("metric", "ip",
                        "ip (inner product; lsa vectors are unit length, so cosine) or l2 "
                        "(scores are negated squared distances)")
              .one_of({"ip", "l2"}),
          param::integer("nprobe", 64,
                         "IVF indexes: inverted lists probed per query (capped at nlist); 64 of 256 reach "
                         "recall@10 0.97 of exact search on the default corpus, 32 only 0.95")
              .at_least(1),
          param::integer("efSearch", 128, "HNSW indexes: the search's candidate list length").at_least(1),
          param::integer("k_factor", 1,
                         "approximate indexes: candidates per query = k x k_factor, ranked "
                         "by exact score")
              .at_least(1),
          param::integer("candidates", 0,
                         "approximate indexes: FAISS candidates per query at least (re-ranked exactly); "
                         "searches for up to candidates / k_factor passages then agree with each other, "
                         "as speculation needs. 0: 64, or 256 for indexes of compressed codes (PQ, SQ), "
                         "whose own ranking is an estimate")
              .at_least(0),
          param::path("index_dir", "",
                      "the index folder; empty: CORPUS/dense-lsa<dim>, CORPUS/dense-model or "
                      "CORPUS/dense-bert-<checkpoint folder name>"),
          param::boolean("build_if_missing", true, "build the index on first use when it does not exist"),
          param::boolean("rebuild", false,
                         "rebuild the index even if it exists (`ralm index build --force`)"),
          param::integer("threads", 0, "threads for scans, encoding and FAISS; 0: the engine's").at_least(0),
          param::integer("shards", 1,
                         "the index split over this many MPI ranks (`mpirun -np shards+1 ralm ...`; rank 0 "
                         "runs the engine), each serving its file set INDEX_DIR/shard-S-of-K/, which `ralm "
                         "index build` writes; 1: searched in this process")
              .at_least(1),
          param::integer("timeout_ms", 10000, "shards > 1: the longest a shard rank may take to answer")
              .at_least(1),
          param::integer(
              "filler_vectors", 0,
              "benchmarks: vectors every search reads and never returns, to give a small corpus a "
              "large corpus's search cost (RaLMSpec's retrieval-dominated regime): small random rows for "
              "index: Flat; for an IVF…,Flat index, corpus-like rows indexed with the corpus into "
              "INDEX_DIR/faiss-…/filler-N-….faiss on first use")
              .at_least(0),
      },
      make_retriever, {.keeps = "index"});

  registrar.add<ralm::ContextPolicy>(
      "knnlm",
      "kNN-LM: the next-token distribution interpolated with a softmax over the k nearest entries of a "
      "datastore of (model key, next token) pairs built from a passage store; no passages in the context",
      {
          param::required("corpus", ralm::ParamType::Path,
                          "the passage store the datastore is built from (`ralm corpus build --out`)"),
          param::path("datastore", "", "the datastore folder; empty: CORPUS/knnlm-<model>"),
          param::integer("k", 32,
                         "neighbours per position (the paper: 1024 over 103 M entries; 32 suits datastores "
                         "of a few hundred thousand)")
              .at_least(1),
          param::real("lambda", 0.25, "the kNN distribution's weight: p = lambda p_kNN + (1 - lambda) p_LM")
              .between(0, 1),
          param::real("temperature", 1.0, "p_kNN is a softmax of -distance / temperature").at_least(1e-6),
          param::string("distance", "l2", "l2 (squared Euclidean, the paper's) or ip (inner product)")
              .one_of({"l2", "ip"}),
          param::string("index", "Flat",
                        "Flat: exact search (our own scan); any other FAISS index_factory string "
                        "(IVF256,PQ32, HNSW32, ...): approximate candidates ranked by exact distance"),
          param::integer("nprobe", 32, "IVF indexes: inverted lists probed per query").at_least(1),
          param::integer("efSearch", 128, "HNSW indexes: the search's candidate list length").at_least(1),
          param::integer("k_factor", 2, "approximate indexes: candidates = k x k_factor, ranked exactly")
              .at_least(1),
          param::integer("max_tokens", 512, "datastore: tokens of each passage the model reads").at_least(2),
          param::integer("exclude_document_step", 0,
                         "datastore: leave out documents d with d % step == 0, the perplexity task's "
                         "held-out ones (its document_step); 0: none")
              .at_least(0),
          param::integer("exclude_validation_permille", 0,
                         "datastore: leave out the documents `ralm train` holds out at this "
                         "validation_permille (a trained model's own held-out text); 0: none")
              .between(0, 1000),
          param::integer("max_passages", 0, "datastore: the first this many passages; 0: all").at_least(0),
          param::boolean("build_if_missing", true, "build the datastore on first use when it does not exist"),
          param::boolean("rebuild", false, "rebuild the datastore even if it exists (`--force`)"),
          param::integer("threads", 0, "threads for the scan and FAISS; 0: the engine's").at_least(0),
          param::integer("shards", 1,
                         "the datastore's keys split over this many MPI ranks (`mpirun -np shards+1 ralm "
                         "...`; rank 0 runs the engine), each serving its file set DATASTORE/shard-S-of-K/, "
                         "which `ralm datastore build` writes; 1: searched in this process")
              .at_least(1),
          param::integer("timeout_ms", 10000, "shards > 1: the longest a shard rank may take to answer")
              .at_least(1),
      },
      make_knnlm, {.keeps = "datastore"});
}
