"""vcrpy + openai-python replaying one recorded chat completion, for compare-peers.sh.

Usage: vcrpy_bench.py <floor base url> <cassette path> <seconds>

Records the cassette once from the floor server (vcrpy record_mode "once"), then
replays it (record_mode "none", playback repeats allowed) with requests sent one
after another for <seconds>. Prints one JSON line: rps, p50_us, p99_us, versions.
"""

import json
import sys
import time
from importlib.metadata import version

import openai
import vcr

base_url, cassette, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
messages = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Name the three primary colors and say one thing about each."},
]


def call():
    r = client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.0, max_completion_tokens=128)
    assert r.choices[0].message.content
    return r


recorder = vcr.VCR(serializer="json", match_on=["method", "scheme", "host", "port", "path", "query", "body"])
with recorder.use_cassette(cassette, record_mode="once"):
    call()

latencies = []
with recorder.use_cassette(cassette, record_mode="none", allow_playback_repeats=True):
    warm = time.perf_counter()
    while time.perf_counter() - warm < 0.3:
        call()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - start

latencies.sort()


def pct(p):
    return latencies[min(int(len(latencies) * p), len(latencies) - 1)] * 1e6


print(json.dumps({"rps": len(latencies) / total, "p50_us": pct(0.5), "p99_us": pct(0.99), "vcrpy": version("vcrpy"), "openai": version("openai")}))
