# What the `ralm serve` shell tests share, sourced after they set $ralm,
# $source_dir and $work and define die: a tiny pipeline on the fixture corpus,
# and a server started on a free loopback port.

# write_tiny_pipeline MAX_NEW_TOKENS: $work/corpus and $work/fast.yaml, a
# random model small enough that a completion takes milliseconds.
write_tiny_pipeline() {
  "$ralm" corpus build --source "jsonl:$source_dir/tests/fixtures/corpus/docs.jsonl" --words 6 \
    --out "$work/corpus" > /dev/null 2>&1 || die "corpus build failed"
  cat > "$work/fast.yaml" <<YAML
name: tiny
model: {plugin: llama, init: random, seed: 1, tokenizer: bytes, vocab_size: 259, hidden_size: 32,
        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}
retriever: {plugin: bm25, corpus: corpus}
policy: {plugin: prepend}
engine: {stride: 4, max_passage_tokens: 32, max_new_tokens: $1, threads: 1}
YAML
}

# start_server PIPELINE ARGS...: `ralm serve` on a free port, its output in
# $work/server.{out,err}; sets $url and $server_pid once /health answers.
start_server() {
  : > "$work/server.out"
  : > "$work/server.err"
  "$ralm" serve "$@" --port 0 --log-level info > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    url=$(sed -n 's|.* at \(http://[^ ]*\)/ .*|\1|p' "$work/server.out")
    if [[ -n $url ]] && curl -sf "$url/health" > /dev/null 2>&1; then return 0; fi
    kill -0 "$server_pid" 2> /dev/null || die "ralm serve $* exited before answering"
    sleep 0.05
  done
  die "ralm serve $* did not answer /health within 15 s"
}
