#!/usr/bin/env python3
"""GGUF models in ralmkit's llama plugin against llama.cpp's llama-bench.

For each repeat and each model, interleaved: a bandwidth probe, our prefill
and decode (build/bin/gguf_bench, a process per run), llama-bench's prefill
and decode, a second probe. Prints a Markdown table of medians: tokens/s,
ours/llama.cpp, our decode's weight reads as a share of the bandwidth
measured beside it, and our peak resident memory against the file plus the
KV cache plus 100 MB. Ratios are taken within one run because this machine's
memory bandwidth swings twofold within minutes.

  bench/gguf_compare.py --llama-cpp ~/llama.cpp/build/bin --repeats 3 \\
      /work/models/tl-q8_0.gguf /work/models/tl-q4_0.gguf ...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def llama_bench(binary, model, threads, prompt, gen):
    rows = run_json([binary, "-m", model, "-t", str(threads), "-r", "1", "-p", str(prompt), "-n", str(gen),
                     "-o", "json"])
    return rows[0]["avg_ts"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--llama-cpp", required=True, help="the folder holding llama.cpp's llama-bench")
    p.add_argument("--ours", default=os.path.join(HERE, "..", "build", "bin", "gguf_bench"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--prefill", type=int, default=512)
    p.add_argument("--decode", type=int, default=128)
    p.add_argument("--json", help="also write every measurement here")
    a = p.parse_args()
    bench = os.path.join(a.llama_cpp, "llama-bench")
    probe = [a.ours, "--probe", "--threads", str(a.threads)]
    runs = {m: [] for m in a.models}
    for r in range(a.repeats):
        for m in a.models:
            before = run_json(probe)["stream_read_gbps"]
            ours = run_json([a.ours, m, "--threads", str(a.threads), "--prefill", str(a.prefill), "--decode",
                             str(a.decode)])
            peer_prefill = llama_bench(bench, m, a.threads, a.prefill, 0)
            peer_decode = llama_bench(bench, m, a.threads, 0, a.decode)
            after = run_json(probe)["stream_read_gbps"]
            runs[m].append({"ours": ours, "llama_cpp": {"prefill_tps": peer_prefill, "decode_tps": peer_decode},
                            "bandwidth_gbps": (before + after) / 2})
            print(f"repeat {r + 1}/{a.repeats} {os.path.basename(m)}: prefill {ours['prefill_tps']:.1f} vs "
                  f"{peer_prefill:.1f}, decode {ours['decode_tps']:.2f} vs {peer_decode:.2f} tok/s, "
                  f"{(before + after) / 2:.1f} GB/s", file=sys.stderr)
    print(f"| model | weights | kernels | GB/s | prefill ours | llama.cpp | ratio | decode ours | llama.cpp | "
          f"ratio | decode reads / bandwidth | peak RSS MiB (limit) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, rs in runs.items():
        med = statistics.median
        o = rs[-1]["ours"]
        pf = med(x["ours"]["prefill_tps"] for x in rs)
        pf_peer = med(x["llama_cpp"]["prefill_tps"] for x in rs)
        dc = med(x["ours"]["decode_tps"] for x in rs)
        dc_peer = med(x["llama_cpp"]["decode_tps"] for x in rs)
        bw = med(x["bandwidth_gbps"] for x in rs)
        # Each repeat's decode reads over the bandwidth measured beside it.
        share = med(x["ours"]["decode_tps"] * x["ours"]["streamed_bytes_per_token"] / 1e9 / x["bandwidth_gbps"]
                    for x in rs)
        rss = max(x["ours"]["peak_rss_mb"] for x in rs)
        limit = (o["file_bytes"] + o["kv_bytes"]) / 2**20 + 100
        print(f"| {os.path.basename(m)} | {o['weights']} | {o['kernels']} | {bw:.1f} | {pf:.1f} | {pf_peer:.1f} | "
              f"{pf / pf_peer:.2f} | {dc:.2f} | {dc_peer:.2f} | {dc / dc_peer:.2f} | {share:.0%} | "
              f"{rss:.0f} ({limit:.0f}) |")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(runs, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
