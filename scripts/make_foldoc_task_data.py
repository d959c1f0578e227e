#!/usr/bin/env python3
"""Writes the task data the shipped pipelines use, from Debian's dict-foldoc.

pipelines/prompts/foldoc-acronyms.jsonl, the qa pipelines' questions:

FOLDOC (Debian's dict-foldoc) heads an acronym's article with its expansion on
the first line and the acronym on another, e.g. "Transmission Control
Protocol\\nTCP\\n\\n   <networking> (TCP) The most common ...". Each such article
gives the question "What does TCP stand for?" with the expansion as its answer.
Acronyms are 2-6 capitals or digits (at least two capitals) that start with the
expansion's first letter, and the expansion is at least two words (so a heading
like "database normalisation / 1NF" is no expansion); the first article of each acronym counts, in the index's
order; every STEP-th of them is kept.

pipelines/prompts/long.jsonl, the long inputs of flashback-vs-prepend.yaml: the
articles LONG_PROMPTS names, their text (heading dropped, whitespace collapsed)
cut at the last space before 700 bytes, so that with one 128-token passage and
64 new tokens they fit the quick start model's 1024-byte context.

pipelines/prompts/long-quickstart.jsonl, the inputs of the quick start's
FlashBack table: FOLDOC's longest prose articles (QUICKSTART_PROMPTS) cut the
same way before 6,000 bytes, about 1,500 tokens of models/tiny, so that with
one passage, marking tokens and 32 new tokens they fit its 2,048 positions.

Deterministic for one dict-foldoc version:
    python3 scripts/make_foldoc_task_data.py
"""
import argparse
import gzip
import json
import re

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ACRONYM = re.compile(r"^(?=(?:.*[A-Z]){2})[A-Z0-9]{2,6}$")


def b64(s):
    v = 0
    for ch in s:
        v = v * 64 + B64.index(ch)
    return v


QUICKSTART_PROMPTS = ["real programmers don't use pascal", "the story of mel", "dynamic random-access memory",
                      "ibm pc", "amiga"]
LONG_PROMPTS = ["lisp", "compiler", "garbage collection", "cache", "operating system", "relational database"]


def articles(path):
    """(headword, article text) for every index entry, in index order."""
    data = gzip.open(path + ".dict.dz").read()
    with open(path + ".index", encoding="utf-8") as index:
        for line in index:
            headword, offset, length = line.rstrip("\n").split("\t")
            yield headword, data[b64(offset):b64(offset) + b64(length)].decode("utf-8", "replace")


def write_long_prompts(path, names, max_bytes, out_file):
    wanted = dict(articles(path))
    with open(out_file, "w", encoding="utf-8") as out:
        for name in names:
            body = " ".join(wanted[name].split("\n\n", 1)[1].split())
            cut = body.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
            slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")
            out.write(json.dumps({"id": slug, "prompt": cut[: cut.rfind(" ")]}) + "\n")
    print(f"{len(names)} long prompts written to {out_file}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dict", default="/usr/share/dictd/foldoc")
    ap.add_argument("--step", type=int, default=30)
    ap.add_argument("--out", default="pipelines/prompts/foldoc-acronyms.jsonl")
    ap.add_argument("--long-out", default="pipelines/prompts/long.jsonl")
    ap.add_argument("--quickstart-out", default="pipelines/prompts/long-quickstart.jsonl")
    args = ap.parse_args()
    seen, found = set(), []
    for _, article in articles(args.dict):
        head = article.split("\n\n", 1)[0].split("\n")
        expansion = head[0].strip()
        if len(expansion.split()) < 2:
            continue
        for name in head[1:]:
            name = name.strip()
            if ACRONYM.match(name) and name[0] == expansion[0].upper() and name not in seen:
                seen.add(name)
                found.append((name, expansion))
    with open(args.out, "w", encoding="utf-8") as out:
        for acronym, expansion in found[:: args.step]:
            q = {"id": acronym, "question": f"What does {acronym} stand for?", "answers": [expansion]}
            out.write(json.dumps(q) + "\n")
    print(f"{len(found)} acronyms, {len(found[::args.step])} questions written to {args.out}")
    write_long_prompts(args.dict, LONG_PROMPTS, 700, args.long_out)
    write_long_prompts(args.dict, QUICKSTART_PROMPTS, 6000, args.quickstart_out)


if __name__ == "__main__":
    main()
