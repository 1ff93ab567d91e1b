#!/usr/bin/env python3
"""Drives an MCP session with the official Python SDK (`mcp` 2.3.0's `Client`) and
prints a canonical transcript: what a replay must reproduce exactly.

  scripts/mcp-client.py URL [--test-id ID] [--protocol legacy|auto] [--sessions N] [--hold S]
  scripts/mcp-client.py --stdio -- COMMAND [ARG...]

Over Streamable HTTP (URL, e.g. a `cargo recordings serve` in front of
scripts/mcp-server.py), every request carries `X-Recorder-Test-Id: ID` (--test-id, else
$RECORDER_TEST_ID). With --stdio the client launches COMMAND and talks JSON-RPC over
its stdin/stdout (e.g. `scripts/mcp-server.py stdio`). Each session: connect
(`initialize`, or `server/discover` with --protocol auto against a 2026-07-28 server),
list tools, call get_weather and add, call get_weather for an unknown city (a tool
error), list and read a resource, list and get a prompt, wait --hold seconds, close
(the DELETE that ends a session). --sessions 2 runs the same session twice: the
second one's requests are byte for byte the first one's (the SDK numbers JSON-RPC ids
from 1 in each session), which is what a recorder must tell apart by occurrence.

The transcript is JSON lines on stdout, keys sorted, one per step, holding what the
SDK returned (never session ids, which a recorder replaces). Over HTTP it ends each
session with what the transport saw: the DELETE's status, how many times the GET
stream was opened again (a server, or a replay, that ends it makes the SDK reconnect
every second), and every HTTP error status. The exit status is 1 when a step failed
or an HTTP request got an error status, with the reason on stderr.

Compare a record run with a replay run: `diff record.jsonl replay.jsonl`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx2

if sys.version_info < (3, 11):  # anyio brings the backport there
    from exceptiongroup import BaseExceptionGroup
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

TEST_ID_HEADER = "X-Recorder-Test-Id"


def dump(value: Any) -> Any:
    """An SDK result as plain JSON (wire names, unset fields left out)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


class Transcript:
    def __init__(self, out) -> None:
        self.out = out
        self.failed: list[str] = []

    def step(self, session: int, name: str, **fields: Any) -> None:
        line = {"session": session, "step": name, **fields}
        self.out.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
        self.out.flush()

    def fail(self, why: str) -> None:
        self.failed.append(why)


class HttpWatch:
    """What the transport sent and got, from httpx2's event hooks."""

    def __init__(self) -> None:
        self.gets = 0
        self.delete_status: int | None = None
        self.errors: list[str] = []

    async def on_request(self, request: httpx2.Request) -> None:
        if request.method == "GET":
            self.gets += 1

    async def on_response(self, response: httpx2.Response) -> None:
        method = response.request.method
        if method == "DELETE":
            self.delete_status = response.status_code
        if response.status_code >= 400:
            await response.aread()
            body = response.text[:300]
            self.errors.append(f"{method} {response.request.url.path} -> {response.status_code} {body}")


async def session(n: int, target: Any, protocol: str, hold: float, t: Transcript) -> None:
    async with Client(target, mode=protocol, read_timeout_seconds=30) as client:
        info = client.server_info
        t.step(n, "connect", protocol_version=client.protocol_version,
               server=dump(info) if info is not None else None,
               capabilities=dump(client.server_capabilities))
        t.step(n, "tools/list", result=dump(await client.list_tools()))
        for name, args in (("get_weather", {"city": "Paris"}), ("add", {"a": 2, "b": 40}),
                           ("get_weather", {"city": "Atlantis"})):
            result = await client.call_tool(name, args)
            t.step(n, "tools/call", tool=name, arguments=args, result=dump(result))
        t.step(n, "resources/list", result=dump(await client.list_resources()))
        t.step(n, "resources/read", result=dump(await client.read_resource("weather://stations")))
        t.step(n, "prompts/list", result=dump(await client.list_prompts()))
        t.step(n, "prompts/get", result=dump(await client.get_prompt("weather_report", {"city": "Tokyo"})))
        # Long enough for an SDK whose GET stream ended to reconnect (after 1 s).
        await asyncio.sleep(hold)


async def run(args: argparse.Namespace, t: Transcript) -> None:
    for n in range(1, args.sessions + 1):
        if args.stdio:
            command = StdioServerParameters(command=args.command[0], args=args.command[1:])
            await session(n, command, args.protocol, args.hold, t)
            t.step(n, "close")
            continue
        watch = HttpWatch()
        headers = {TEST_ID_HEADER: args.test_id} if args.test_id else {}
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300),
                                  event_hooks={"request": [watch.on_request], "response": [watch.on_response]})
        try:
            async with http:
                await session(n, streamable_http_client(args.url, http_client=http), args.protocol, args.hold, t)
        finally:
            # The SDK turns an error status into a terse error of its own: the bodies
            # (a recorder's explanation of a miss, say) are kept here.
            if watch.errors:
                t.fail(f"session {n}: HTTP errors: " + "; ".join(watch.errors))
        t.step(n, "close", delete_status=watch.delete_status, get_reopened=max(0, watch.gets - 1),
               http_errors=watch.errors)
        if watch.gets > 1:
            t.fail(f"session {n}: the GET stream was opened {watch.gets} times (it ended, and the SDK reconnected)")


def leaves(e: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups: what actually went wrong."""
    if isinstance(e, BaseExceptionGroup):
        return [leaf for inner in e.exceptions for leaf in leaves(inner)]
    return [e]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="the MCP endpoint over Streamable HTTP, e.g. http://127.0.0.1:18097/mcp")
    parser.add_argument("--stdio", action="store_true", help="launch the COMMAND after -- and talk over its stdio")
    parser.add_argument("--test-id", default=os.environ.get("RECORDER_TEST_ID"),
                        help=f"sent as {TEST_ID_HEADER} on every request (default: $RECORDER_TEST_ID)")
    parser.add_argument("--protocol", default="legacy", choices=["legacy", "auto"],
                        help="legacy: the initialize handshake and a session (default); "
                             "auto: server/discover first, the 2026-07-28 protocol when the server has it")
    parser.add_argument("--sessions", type=int, default=1, help="how many times to run the session (default 1)")
    parser.add_argument("--hold", type=float, default=2.5,
                        help="seconds to keep each session open before closing it (default 2.5)")
    argv = sys.argv[1:]
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    args = parser.parse_args(argv)
    args.command = command
    if args.stdio == bool(args.url) or (args.stdio and not args.command):
        parser.error("give either URL, or --stdio -- COMMAND [ARG...]")
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")

    t = Transcript(sys.stdout)
    try:
        asyncio.run(run(args, t))
    except BaseException as e:  # noqa: BLE001 - every failure is reported, with its cause
        if isinstance(e, KeyboardInterrupt):
            raise
        t.fail("; ".join(f"{type(x).__name__}: {x}" for x in leaves(e)))
    for why in t.failed:
        print(f"mcp-client: error: {why}", file=sys.stderr)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
