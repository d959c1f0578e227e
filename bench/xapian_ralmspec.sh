#!/usr/bin/env bash
# RaLMSpec (prefetch, OS3, asynchronous verification) against its baseline,
# In-Context RALM with BM25 through Xapian over SHARDS shards served by
# `xapian-tcpsrv` on loopback (pipelines/ralmspec/bm25-*.yaml with the xapian
# retriever), a verification batch's queries one after another
# (parallel_queries 1) and at once (8), REPEATS interleaved pairs of runs;
# with DELAY_US, through build/bin/delay_proxy, which delays every byte by
# that much each way (a network's round trip, which loopback does not have).
# The shards are written under a temporary folder, not beside the corpus.
#   bench/xapian_ralmspec.sh [CORPUS=data/corpus] [LIMIT=3] [SHARDS=3] [REPEATS=2] [DELAY_US=0]
# Prints each run's table, then one line per run: the baseline's wall and
# retrieval time, RaLMSpec's speed-up and whether its outputs are identical.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus=$(realpath "${1:-$root/data/corpus}")
limit=${2:-3}
shards=${3:-3}
repeats=${4:-2}
delay_us=${5:-0}
ralm=$root/build/bin/ralm
P=$root/pipelines/ralmspec
work=$(mktemp -d)
servers=()
proxy=""
cleanup() {
  local p
  [[ -z $proxy ]] || kill "$proxy" 2> /dev/null || true
  for p in "${servers[@]}"; do kill -9 -- "-$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

settings=(--set retriever.plugin=xapian --set "retriever.corpus=$corpus" --set "retriever.index=$work/xapian"
  --set "retriever.shards=$shards")
"$ralm" index build "$P/bm25-baseline.yaml" "${settings[@]}" > /dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=()
for ((s = 0; s < shards; s++)); do
  port=$(free_port)
  setsid xapian-tcpsrv --interface 127.0.0.1 --port "$port" "$work/xapian/shard-$(printf %03d "$s")" \
    > /dev/null 2>&1 &
  servers+=($!)
  disown
  for ((i = 0; i < 200; i++)); do
    if (echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then break; fi
    sleep 0.05
  done
  ports+=("$port")
done
if ((delay_us > 0)); then
  "$root/build/bin/delay_proxy" "$delay_us" "${ports[@]}" > "$work/proxy-ports" &
  proxy=$!
  for ((i = 0; i < 200; i++)); do
    (($(wc -l < "$work/proxy-ports") == shards)) && break
    sleep 0.05
  done
  mapfile -t ports < "$work/proxy-ports"
fi
remote=$(printf '127.0.0.1:%s,' "${ports[@]}")
remote=${remote%,}
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
