#!/usr/bin/env python3
"""Write a JSONL prompt file for the load-tester comparison (bench/compare.sh).

    gen_prompts.py OUT.jsonl --rows 30000 --input-tokens 32 --output-tokens 16 [--seed 1]

Each row is {"prompt": ..., "output_tokens_count": N, "max_tokens": N}: guidellm reads
`prompt` and `output_tokens_count` (so it needs no tokenizer), `switchyard bench
--dataset` reads `prompt` and `max_tokens`. A prompt is INPUT_TOKENS words of at most
four ASCII letters, which the simulator's token estimate counts as one token each, so the
simulator sees the same prompt size as from `switchyard bench --input-tokens`.
"""

import argparse
import json
import random

WORDS = (
    "the and for with from into over each some more most load test send wait read "
    "call path node edge core rate peak time data file line page word user team plan"
).split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=30000)
    ap.add_argument("--input-tokens", type=int, default=32)
    ap.add_argument("--output-tokens", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.out, "w") as f:
        for _ in range(a.rows):
            prompt = " ".join(rng.choice(WORDS) for _ in range(a.input_tokens))
            row = {
                "prompt": prompt,
                "output_tokens_count": a.output_tokens,
                "max_tokens": a.output_tokens,
            }
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
