#!/usr/bin/env python3
"""Replays imported OGX recordings to the real clients of their APIs.

    ogx_clients.py <serve URL> <OGX file>...

`cargo recordings serve` (replay mode) serves a folder that `cargo recordings import
ogx` filled from the given OGX files. Each file is replayed by the client of its API,
as a user moving a suite would call it, and its answer compared with what OGX recorded:

- google-genai calls (`vertexai:///generate_content[_stream]`): the `google-genai`
  SDK, `genai.Client` with its base URL at serve (API version `v1beta`), called with
  the recorded model's name, contents and config. The request must hit: its route and
  body are the recording's identity, so the body the SDK sends must be the imported one.
- Anthropic Messages (raw HTTP, `/v1/messages`): the `anthropic` SDK; a recorded error
  must raise the SDK's error with its status and body.
- Gemini Interactions and any other raw HTTP exchange: plain HTTP, status and body
  (or SSE events) compared.
- tool-runtime calls: plain HTTP at `/recorder/tool-runtime/<provider>/<tool_name>`.

OpenAI and Ollama SDK calls are checked by the Rust tests. Ids that the import replaced
by placeholders are followed: a served id stands for the recorded one everywhere after.
Prints one line per format (`<format>: <n> replayed`) and exits non-zero on the first
difference, saying which file and where. Needs `google-genai` and `anthropic`.
"""

import json
import sys
import urllib.error
import urllib.request

import anthropic
from google import genai
from google.genai import types as genai_types

TEST_ID_HEADER = "X-Recorder-Test-Id"
TOOL_ROUTE = "/recorder/tool-runtime"
# The SDK's own fields of a google-genai answer, never on the wire; and `create_time`,
# which only Vertex AI sends (the SDK reads no such field from the Gemini API).
GENAI_CLIENT_FIELDS = {"sdk_http_response", "automatic_function_calling_history", "parsed"}
GENAI_VERTEX_ONLY = {"create_time"}


class Mismatch(Exception):
    pass


def is_id_key(key):
    k = key.lower()
    return (k == "id" or k.endswith("_id") or k == "ids" or k.endswith("_ids")) and not (
        "model" in k or "provider" in k
    )


def same(expected, got, ids, where="", key=None):
    """Compares an answer with the recorded one; an id the import replaced by a
    placeholder must be the same placeholder wherever the recorded id appears."""
    if isinstance(expected, dict) and isinstance(got, dict):
        if set(expected) != set(got):
            raise Mismatch(f"{where or '/'}: keys {sorted(expected)} != {sorted(got)}")
        for k in expected:
            same(expected[k], got[k], ids, f"{where}/{k}", k)
    elif isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            raise Mismatch(f"{where}: {len(expected)} items != {len(got)}")
        for i, (e, g) in enumerate(zip(expected, got)):
            same(e, g, ids, f"{where}/{i}", key)
    elif isinstance(expected, str) and isinstance(got, str) and expected != got:
        if key is not None and is_id_key(key) and "rec-" in got:
            if ids.setdefault(expected, got) != got:
                raise Mismatch(f"{where}: {expected!r} was served as {ids[expected]!r}, now {got!r}")
        else:
            raise Mismatch(f"{where}: {expected!r} != {got!r}")
    elif expected != got and not (
        isinstance(expected, (int, float)) and isinstance(got, (int, float)) and abs(expected - got) < 1e-9
    ):
        raise Mismatch(f"{where}: {expected!r} != {got!r}")


def sent_back(value, ids):
    """A request value with the ids the client was served in place of the recorded ones."""
    if isinstance(value, dict):
        return {k: sent_back(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [sent_back(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def headers_for(test_id):
    return {TEST_ID_HEADER: test_id} if test_id else {}


def genai_call(url, f, ids):
    req = f["request"]
    body = sent_back(req["body"], ids)
    client = genai.Client(
        api_key="replay",
        http_options=genai_types.HttpOptions(
            base_url=url, api_version="v1beta", headers=headers_for(f.get("test_id"))
        ),
    )
    kwargs = {"model": body["model"].rsplit("/", 1)[-1], "contents": body["contents"]}
    if body.get("config") is not None:
        kwargs["config"] = body["config"]
    recorded = f["response"]["body"]
    if req["url"].endswith("_stream"):
        got = list(client.models.generate_content_stream(**kwargs))
    else:
        got, recorded = [client.models.generate_content(**kwargs)], [recorded]
    if len(got) != len(recorded):
        raise Mismatch(f"{len(recorded)} chunks recorded, {len(got)} served")
    for i, (answer, expected) in enumerate(zip(got, recorded)):
        dumped = answer.model_dump(mode="json", exclude_none=True)
        drop = GENAI_CLIENT_FIELDS | GENAI_VERTEX_ONLY
        same(
            {k: v for k, v in expected.items() if k not in drop},
            {k: v for k, v in dumped.items() if k not in drop},
            ids,
            f"/chunk/{i}",
        )


def messages_call(url, f, ids):
    payload = sent_back(dict(f["request"]["payload"]), ids)
    client = anthropic.Anthropic(
        base_url=url, api_key="replay", default_headers=headers_for(f.get("test_id")), max_retries=0
    )
    # What this SDK version has no parameter for goes as it is recorded, in the body.
    import inspect

    known = set(inspect.signature(client.messages.create).parameters)
    extra = {k: payload.pop(k) for k in list(payload) if k not in known}
    if extra:
        payload["extra_body"] = extra
    response = f["response"]
    status = response.get("status", 200)
    try:
        if response.get("is_streaming"):
            events = [e.to_dict() for e in client.messages.create(**payload)]
            recorded = [json.loads(line[6:]) for line in response["body"] if line.startswith("data: ")]
            same(recorded, events, ids, "/events")
        else:
            same(response["body"], client.messages.create(**payload).to_dict(), ids)
    except anthropic.APIStatusError as e:
        if status < 400:
            raise
        if e.status_code != status:
            raise Mismatch(f"status {e.status_code} != {status}")
        same(response["body"], e.body, ids)
        return
    if status >= 400:
        raise Mismatch(f"a recorded {status} was served as a success")


def http_call(url, path, payload, test_id):
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        url + path,
        data=data,
        method="POST",
        headers={"content-type": "application/json", **headers_for(test_id)},
    )
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def sse_events(text):
    events, event = [], {}
    for line in text.split("\n") + [""]:
        if line == "":
            if event:
                events.append(event)
            event = {}
        elif line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
            try:
                event["data"] = json.loads(data)
            except ValueError:
                event["data"] = data
    return events


def raw_http_call(url, f, ids):
    req = f["request"]
    path = "/" + req["url"].split("/", 3)[3]
    status, _, text = http_call(url, path, sent_back(req["payload"], ids), f.get("test_id"))
    response = f["response"]
    if status != response.get("status", 200):
        raise Mismatch(f"status {status} != {response.get('status', 200)}: {text[:300]}")
    if response.get("is_streaming"):
        same(sse_events("\n".join(response["body"]) + "\n"), sse_events(text), ids, "/events")
    else:
        same(response["body"], json.loads(text), ids)


def tool_runtime_call(url, f, ids):
    req = f["request"]
    path = f"{TOOL_ROUTE}/{req['provider']}/{req['tool_name']}"
    status, _, text = http_call(url, path, sent_back(req.get("kwargs") or {}, ids), f.get("test_id"))
    if status != 200:
        raise Mismatch(f"status {status}: {text[:300]}")
    same(f["response"]["body"]["__data__"], json.loads(text), ids)


def format_of(f):
    req = f["request"]
    if "payload" in req:
        return "messages" if req["url"].split("?")[0].endswith("/v1/messages") else "raw-http"
    if "tool_name" in req:
        return "tool-runtime"
    if str(req.get("url", "")).startswith("vertexai://"):
        return "google-genai"
    return None


CALLS = {
    "google-genai": genai_call,
    "messages": messages_call,
    "raw-http": raw_http_call,
    "tool-runtime": tool_runtime_call,
}


def answer_ids(f):
    """The ids under id keys of a recorded answer (SSE `data:` lines parsed)."""
    out = []

    def walk(v, key=None):
        if isinstance(v, dict):
            for k, c in v.items():
                walk(c, k)
        elif isinstance(v, list):
            for c in v:
                walk(c, key)
        elif isinstance(v, str):
            if key is not None and is_id_key(key):
                out.append(v)
            elif v.startswith("data: {"):
                walk(json.loads(v[6:]))

    walk(f["response"].get("body"))
    return out


def in_client_order(files):
    """Files in an order a client could have made them: each after those whose answers
    issued an id its request sends back (given order otherwise)."""
    texts = [json.dumps(f["request"]) for _, f in files]
    issued = [[i for i in answer_ids(f) if i not in text] for (_, f), text in zip(files, texts)]
    order, done = [], set()
    while len(order) < len(files):
        ready = [
            j
            for j in range(len(files))
            if j not in done
            and all(i in done or i == j or not any(x in texts[j] for x in issued[i]) for i in range(len(files)))
        ]
        nxt = ready[0] if ready else min(j for j in range(len(files)) if j not in done)
        done.add(nxt)
        order.append(files[nxt])
    return order


def main(url, paths):
    counts = {name: 0 for name in CALLS}
    ids_by_test = {}
    by_test = {}
    for path in paths:
        with open(path) as fh:
            f = json.load(fh)
        if format_of(f) is not None:
            by_test.setdefault(f.get("test_id"), []).append((path, f))
    for path, f in [item for files in by_test.values() for item in in_client_order(files)]:
        kind = format_of(f)
        ids = ids_by_test.setdefault(f.get("test_id"), {})
        try:
            CALLS[kind](url, f, ids)
        except Exception as e:  # noqa: BLE001 - every failure names its file
            print(f"{path}: {kind}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        counts[kind] += 1
    for name, n in counts.items():
        print(f"{name}: {n} replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/"), sys.argv[2:]))
