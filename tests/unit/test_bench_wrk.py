"""bench/wrk.py: reading the line bench/lua/rotate.lua prints, and the files and command it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wrk import parse_output, request_line, write_requests, wrk_command

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:40000/graphql
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.34ms    4.56ms  67.39ms   90.00%
  2485 requests in 3.00s, 1.23MB read
  Non-2xx or 3xx responses: 2
Requests/sec:    828.20
Transfer/sec:    420.00KB
BENCH_JSON {"requests":2485,"duration_us":3000500,"bytes":1289000,\
"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":3},"graphql_errors":4,\
"latency_us":{"p50":10420,"p90":20000,"p99":67390,"max":80000,"mean":12340.5}}
"""


def test_the_json_line_is_read_and_converted() -> None:
    result = parse_output(WRK_OUTPUT)
    assert result.requests == 2485
    assert result.seconds == pytest.approx(3.0005)
    assert result.rps == pytest.approx(2485 / 3.0005)
    assert (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms) == (10.42, 20, 67.39, 80)
    assert (result.non_2xx, result.timeouts, result.graphql_errors) == (2, 3, 4)
    assert result.socket_errors == 1
    assert result.failures == 1 + 2 + 3 + 4


def test_output_without_the_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_output("Running 3s test @ http://127.0.0.1:1/graphql\nunable to connect\n")


def test_no_request_means_no_rate() -> None:
    line = (
        'BENCH_JSON {"requests":0,"duration_us":0,"bytes":0,"errors":{"connect":10,"read":0,'
        '"write":0,"status":0,"timeout":0},"graphql_errors":0,'
        '"latency_us":{"p50":0,"p90":0,"p99":0,"max":0,"mean":0.0}}'
    )
    result = parse_output(line)
    assert result.rps == 0.0
    assert result.connect_errors == 10


def test_requests_file_holds_one_request_a_line(tmp_path: Path) -> None:
    path = tmp_path / "requests"
    write_requests(path, [("Bearer abc", b'{"query":"{ me { id } }"}'), ("", b"{}")])
    assert path.read_text().splitlines() == ['Bearer abc\t{"query":"{ me { id } }"}', "\t{}"]


def test_a_body_spanning_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="newline"):
        request_line("Bearer abc", b'{"query":\n"{ me { id } }"}')


def test_the_command_is_pinned_and_never_has_more_threads_than_connections() -> None:
    command = wrk_command(
        url="http://127.0.0.1:1/graphql",
        connections=1,
        seconds=3,
        threads=2,
        timeout=30,
        pin=("taskset", "-c", "0"),
    )
    assert command[:4] == ["taskset", "-c", "0", "wrk"]
    assert "--threads=1" in command
    assert "--duration=3s" in command
    assert command[-1] == "http://127.0.0.1:1/graphql"
