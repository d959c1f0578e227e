#!/usr/bin/env bash
# RaLMSpec (prefetch, OS3, asynchronous verification) against its baseline,
# In-Context RALM with BM25 through Xapian over SHARDS shards served by
# `xapian-tcpsrv` on loopback (pipelines/ralmspec/bm25-*.yaml with the xapian
# retriever), a verification batch's queries one after another
# (parallel_queries 1) and at once (8), REPEATS interleaved pairs of runs.
# The shards are written under a temporary folder, not beside the corpus.
#   bench/xapian_ralmspec.sh [CORPUS=data/corpus] [LIMIT=3] [SHARDS=3] [REPEATS=2]
# Prints each run's table, then one line per run: the baseline's wall and
# retrieval time, RaLMSpec's speed-up and whether its outputs are identical.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus=$(realpath "${1:-$root/data/corpus}")
limit=${2:-3}
shards=${3:-3}
repeats=${4:-2}
ralm=$root/build/bin/ralm
P=$root/pipelines/ralmspec
work=$(mktemp -d)
servers=()
cleanup() {
  local p
  for p in "${servers[@]}"; do kill -9 -- "-$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

settings=(--set retriever.plugin=xapian --set "retriever.corpus=$corpus" --set "retriever.index=$work/xapian"
  --set "retriever.shards=$shards")
"$ralm" index build "$P/bm25-baseline.yaml" "${settings[@]}" > /dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
remote=""
for ((s = 0; s < shards; s++)); do
  port=$(free_port)
  setsid xapian-tcpsrv --interface 127.0.0.1 --port "$port" "$work/xapian/shard-$(printf %03d "$s")" \
    > /dev/null 2>&1 &
  servers+=($!)
  for ((i = 0; i < 200; i++)); do
    if (echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then break; fi
    sleep 0.05
  done
  remote+="${remote:+,}127.0.0.1:$port"
done
settings+=(--set "retriever.remote=[$remote]" --limit "$limit")

summary=""
for ((r = 1; r <= repeats; r++)); do
  for parallel in 1 8; do
    out=$("$ralm" compare "$P/bm25-baseline.yaml" "$P/bm25-spec-psa.yaml" "${settings[@]}" \
      --set "retriever.parallel_queries=$parallel")
    echo "== parallel_queries $parallel, run $r"
    echo "$out"
    summary+=$(awk -v p="$parallel" -v r="$r" '$1 == "bm25-baseline" { wall = $4; ret = $5 }
      $1 == "bm25-spec-psa" { printf "%d\t%d\t%.3f\t%.3f\t%.3f\t%s\t%s\n", p, r, wall, ret, $4, $15, $17 }' \
      <<< "$out")$'\n'
  done
done
printf '\nPARALLEL\tRUN\tBASE WALL s\tBASE RETRIEVAL s\tRALMSPEC WALL s\tSPEED-UP\tIDENTICAL\n%s' "$summary"
