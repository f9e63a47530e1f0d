#!/usr/bin/env python3
"""The benchmark shape in plain Python asyncio: no framework, no sandbox.

The same work as bench/four-node/pipeline.toml, written the way a careful
Python developer would without any framework: a keyword router, two
workers in parallel (asyncio.gather) each awaiting one instant model call,
and a judge on the answer. Each run parses its input from JSON text and
ends with a JSON record (output, route, verdict, a ledger entry per model
call with tokens and cost), as switchyard's runs do.

`cargo xtask bench` runs it beside `switchyard bench` and `switchyard run`
and prints the ratios. Standard library only.

    python3 asyncio_baseline.py [--iterations N] [--concurrency C]
        [--input tickets.jsonl] [--batch OUT.jsonl] [--json]

--batch writes one record per input line to OUT.jsonl (cycling the input
to --iterations lines), the counterpart of `switchyard run`.
"""

import argparse
import asyncio
import json
import sys
import time

BILLING_WORDS = ("invoice", "refund", "charge", "billing")
BANNED = "password:"
PRICE_IN, PRICE_OUT = 0.15, 0.60  # USD per million tokens, as the manifest


def route(text):
    lower = text.lower()
    return "billing" if any(w in lower for w in BILLING_WORDS) else "general"


def check(answer):
    reasons = []
    if not answer.strip():
        reasons.append("the answer is empty")
    if BANNED in answer.lower():
        reasons.append(f"the answer contains `{BANNED}`")
    return reasons


async def model_call(system, user, ledger):
    """An instant model: a reply, token counts and cost, as a ledger entry."""
    tokens_in = (len(system) + len(user)) // 4 + 1
    content = f"Thanks for your message about: {user[:48]}"
    tokens_out = len(content) // 4 + 1
    ledger.append({
        "model": "small",
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cost_usd": (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1e6,
    })
    return content


async def worker(ask, field, text, ledger):
    content = await model_call(ask, text, ledger)
    return {field: content, "model": "small", "tokens": len(content) // 4 + 1}


ASKS = {
    "billing": "You answer billing questions in two sentences.",
    "general": "You answer support questions in two sentences.",
}


async def run(run_id, line):
    started = time.perf_counter()
    task = json.loads(line)
    text = task["input"]["text"]
    branch = route(text)
    ledger = []
    answer, tags = await asyncio.gather(
        worker(ASKS[branch], "answer", text, ledger),
        worker("List three topic tags for the ticket.", "tags", text, ledger),
    )
    reasons = check(answer["answer"])
    record = {
        "id": task.get("id", run_id),
        "ok": not reasons,
        "output": {"answer-" + branch: answer, "tags": tags},
        "route": {"target": branch, "confidence": 1.0},
        "verdicts": [{"judge": "check", "accept": not reasons, "reasons": reasons}],
        "ledger": ledger,
        "cost_usd": sum(e["cost_usd"] for e in ledger),
        "elapsed_us": (time.perf_counter() - started) * 1e6,
    }
    return json.dumps(record)


def percentile(sorted_xs, q):
    return sorted_xs[min(len(sorted_xs) - 1, int(q * len(sorted_xs)))]


def series(name, durations, wall):
    xs = sorted(durations)
    return {
        "name": name,
        "p50_us": percentile(xs, 0.5) * 1e6,
        "p99_us": percentile(xs, 0.99) * 1e6,
        "per_sec": len(xs) / wall,
    }


async def sequential(lines, n):
    durations = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        await run(f"r{i}", lines[i % len(lines)])
        durations.append(time.perf_counter() - t)
    return series("asyncio run, sequential", durations, time.perf_counter() - started)


async def in_flight(lines, n, concurrency):
    durations = []
    queue = iter(range(n))

    async def client():
        for i in queue:
            t = time.perf_counter()
            await run(f"r{i}", lines[i % len(lines)])
            durations.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return series(f"asyncio run, {concurrency} in flight", durations,
                  time.perf_counter() - started)


async def batch(lines, n, out_path, concurrency):
    """Every line run with `concurrency` in flight, records written in input
    order, as `switchyard run` does."""
    started = time.perf_counter()
    results = [None] * n
    queue = iter(range(n))

    async def client():
        for i in queue:
            results[i] = await run(f"r{i}", lines[i % len(lines)])

    await asyncio.gather(*(client() for _ in range(concurrency)))
    with open(out_path, "w") as f:
        for r in results:
            f.write(r)
            f.write("\n")
    wall = time.perf_counter() - started
    return {"name": f"asyncio batch, {n} lines", "per_sec": n / wall,
            "us_per_run": wall / n * 1e6}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--input", default=__file__.rsplit("/", 1)[0] + "/tickets.jsonl")
    p.add_argument("--batch", metavar="OUT", help="write one record per line to OUT")
    p.add_argument("--json", action="store_true", help="print the series as JSON")
    a = p.parse_args()
    with open(a.input) as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    if not lines:
        sys.exit(f"{a.input}: no input lines")
    loop = asyncio.new_event_loop()
    if a.batch:
        out = [loop.run_until_complete(batch(lines, a.iterations, a.batch, a.concurrency))]
    else:
        warm = max(a.iterations // 10, 100)
        loop.run_until_complete(sequential(lines, warm))
        out = [
            loop.run_until_complete(sequential(lines, a.iterations)),
            loop.run_until_complete(in_flight(lines, warm, a.concurrency)),
        ]
        out[1] = loop.run_until_complete(in_flight(lines, a.iterations, a.concurrency))
    if a.json:
        print(json.dumps(out))
    else:
        for s in out:
            print(s)


if __name__ == "__main__":
    main()
