#!/usr/bin/env python3
"""A real MCP server for recording agent tests: the `mcp` PyPI package's MCPServer.

Deterministic on purpose (fixed data, no clock, no randomness in any answer), so that
recording the same session twice can give the same bytes once the recorder replaces
the server-issued session id:

  tools      get_weather(city)   fixed weather for a few cities (structured output)
             add(a, b)           a + b
             get_time(city)      a fixed local time (a tool an agent asks for often)
  resource   weather://stations  the cities get_weather knows, as JSON
  prompt     weather_report(city) a one-message prompt asking for a weather report

Transports (the same server object either way):

  scripts/mcp-server.py http [--host 127.0.0.1] [--port 18097] [--path /mcp] [--json-response] [--stateless]
      Streamable HTTP, by default as most servers run it: stateful (an Mcp-Session-Id
      issued on initialize), answers as SSE (`event: message`), a GET stream, DELETE
      ends a session. `GET /health` answers 200 for scripts/backends.sh.
  scripts/mcp-server.py stdio
      JSON-RPC lines on stdin/stdout: what a client launches as a subprocess.

Started with the other backends by `scripts/backends.sh start mcp` (RECORDER_MCP_PORT).
"""

from __future__ import annotations

import argparse
import json
import sys

from typing import TypedDict

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

# A few cities with fixed weather: enough for an agent to pick a city from a question.
WEATHER = {
    "paris": {"city": "Paris", "condition": "sunny", "temperature_c": 21, "humidity_pct": 40},
    "london": {"city": "London", "condition": "rain", "temperature_c": 14, "humidity_pct": 82},
    "tokyo": {"city": "Tokyo", "condition": "cloudy", "temperature_c": 18, "humidity_pct": 65},
    "new york": {"city": "New York", "condition": "windy", "temperature_c": 9, "humidity_pct": 55},
}
TIMES = {"paris": "14:00", "london": "13:00", "tokyo": "21:00", "new york": "08:00"}

server = MCPServer(
    "recorder-weather",
    version="1.0.0",
    instructions="Weather and arithmetic tools with fixed answers, for recorded agent tests.",
    log_level="WARNING",
)


class Weather(TypedDict):
    city: str
    condition: str
    temperature_c: int
    humidity_pct: int


def _known(city: str) -> str:
    key = city.strip().lower()
    if key not in WEATHER:
        # ToolError: the message reaches the client (and the model) as the tool's
        # result, with isError; any other exception would show only "Error executing tool".
        raise ToolError(f"unknown city {city!r}; known: {', '.join(sorted(WEATHER))}")
    return key


@server.tool(description="Get the current weather for a city (fixed data for tests).")
def get_weather(city: str) -> Weather:
    """The weather of `city`: condition, temperature in Celsius, humidity."""
    return Weather(**WEATHER[_known(city)])


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    """a + b."""
    return a + b


@server.tool(description="Get the current local time in a city (fixed data for tests).")
def get_time(city: str) -> str:
    """The local time of `city` as HH:MM."""
    return TIMES[_known(city)]


@server.resource("weather://stations", name="stations", mime_type="application/json",
                 description="The cities get_weather knows.")
def stations() -> str:
    return json.dumps(sorted(w["city"] for w in WEATHER.values()))


@server.prompt(description="Ask for a short weather report for a city.")
def weather_report(city: str) -> str:
    return f"Write a one-sentence weather report for {city}. Use the get_weather tool."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="transport", required=True)
    http = sub.add_parser("http", help="Streamable HTTP on a loopback port")
    http.add_argument("--host", default="127.0.0.1")
    http.add_argument("--port", type=int, default=18097)
    http.add_argument("--path", default="/mcp", help="the MCP endpoint's path (default /mcp)")
    http.add_argument("--json-response", action="store_true",
                      help="answer POSTs with application/json instead of an SSE stream")
    http.add_argument("--stateless", action="store_true", help="no Mcp-Session-Id, no GET stream")
    sub.add_parser("stdio", help="JSON-RPC lines on stdin/stdout")
    args = parser.parse_args()

    if args.transport == "stdio":
        server.run("stdio")
        return

    from starlette.requests import Request
    from starlette.responses import JSONResponse

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "server": server.name, "path": args.path})

    print(f"mcp-server: Streamable HTTP on http://{args.host}:{args.port}{args.path}", file=sys.stderr, flush=True)
    server.run(
        "streamable-http",
        host=args.host,
        port=args.port,
        streamable_http_path=args.path,
        json_response=args.json_response,
        stateless_http=args.stateless,
    )


if __name__ == "__main__":
    main()
