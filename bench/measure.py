"""Timing one candidate: start its server alone, check its answers against taskql's, then for
each of its scenarios and connection counts a wrk warm-up and a measured wrk run, with the
peak RSS of its process tree and (taskql) MongoDB commands per request from /metrics."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from candidates import Candidate, LaunchContext, launch_command
from procs import (
    PinnedStack,
    Pinning,
    RssSampler,
    Running,
    cpu_snapshot,
    others_share,
    wait_idle,
    waited_children_cpu,
)
from prometheus_client.parser import text_string_to_metric_families
from scenarios import SIZED, Call, Scenario, disagreement, graphql_body
from scrape import GRAPHQL_REQUESTS, Samples, db_commands, grown
from workload import Workload
from wrk import WrkResult, run_wrk


@dataclass(frozen=True)
class Method:
    warmup: int  # seconds, unreported
    duration: int  # seconds, measured
    repeats: int
    connections: tuple[int, ...]
    threads: int
    timeout: int  # wrk's, seconds


@dataclass(frozen=True)
class Cell:
    """One measured wrk run."""

    candidate: str
    scenario: str
    connections: int
    repeat: int
    wrk: WrkResult
    rss_bytes: int
    db_commands_per_request: float | None
    others_cpu: float = 0.0  # share of the machine other processes took while measured
    wrk_cpu: float = 0.0  # share of one CPU the load generator used (near 1: it was the limit)


@dataclass
class Results:
    cells: list[Cell] = field(default_factory=list)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # (candidate, scenario)
    problems: list[str] = field(default_factory=list)


def scrape(http: httpx.Client, base_url: str) -> Samples:
    reply = http.get(f"{base_url}/metrics")
    reply.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def post(http: httpx.Client, base_url: str, call: Call) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if call.token:
        headers["Authorization"] = call.authorization
    reply = http.post(f"{base_url}/graphql", content=call.body, headers=headers)
    return reply.status_code, reply.content


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Measurer:
    def __init__(
        self,
        method: Method,
        *,
        stack: PinnedStack,
        pinning: Pinning,
        workload: Workload,
        launch: LaunchContext,
        request_files: dict[str, Path],
    ) -> None:
        self.method, self.stack, self.pinning = method, stack, pinning
        self.workload, self.launch, self.request_files = workload, launch, request_files
        self.http = httpx.Client(timeout=120.0)
        self.results = Results()

    def close(self) -> None:
        self.http.close()

    def start(self, candidate: Candidate) -> Running:
        argv, env = launch_command(candidate, self.launch)
        return self.stack.start(candidate.name, argv, env)

    def check(self, running: Running, scenario: Scenario) -> str | None:
        """Why the candidate's answers cannot be timed; None when every check agrees."""
        for call in scenario.checks:
            reference = self.workload.references.get(call) if scenario.compare_data else None
            status, answer = post(self.http, running.base_url, call)
            reason = disagreement(reference.body if reference else None, answer, status=status)
            if reason is not None:
                return f"{reason} (body {call.body[:120].decode()})"
        return None

    def run_candidate(self, candidate: Candidate, scenarios: list[Scenario], repeat: int) -> None:
        todo = [s for s in scenarios if (candidate.name, s.name) not in self.results.refused]
        if not todo:
            return
        running = self.start(candidate)
        try:
            for scenario in todo:
                reason = self.check(running, scenario)
                if reason is not None:
                    self.results.refused[(candidate.name, scenario.name)] = reason
                    progress(f"  {candidate.name} refused for {scenario.name}: {reason}")
                    continue
                for connections in scenario.connection_counts(self.method.connections):
                    self.results.cells.append(
                        self._timed(candidate, running, scenario, connections, repeat)
                    )
                    if running.child.process.poll() is not None:
                        raise RuntimeError(
                            f"{candidate.name} exited during {scenario.name}:\n"
                            f"{running.child.output()[-3000:]}"
                        )
        finally:
            self.stack.stop(running)

    def _wrk(
        self, running: Running, scenario: Scenario, connections: int, seconds: int
    ) -> WrkResult:
        return run_wrk(
            url=f"{running.base_url}/graphql",
            requests_file=self.request_files[scenario.name],
            connections=connections,
            seconds=seconds,
            threads=self.method.threads,
            timeout=self.method.timeout,
            pin=self.pinning.load,
        )

    def _server_side(self, running: Running) -> list[int]:
        return [running.pid] + ([self.stack.stores_pid] if self.stack.stores_pid else [])

    def _settle(self, running: Running, what: str) -> None:
        """Lets the server side work off the requests wrk left in flight."""
        waited = wait_idle(self._server_side(running))
        if waited > 2:
            progress(f"  ({running.name} took {waited:.0f} s to work off {what}'s requests)")

    def _timed(
        self,
        candidate: Candidate,
        running: Running,
        scenario: Scenario,
        connections: int,
        repeat: int,
    ) -> Cell:
        self._wrk(running, scenario, connections, self.method.warmup)
        self._settle(running, "the warm-up")
        metered = candidate.kind == "taskql"
        before = scrape(self.http, running.base_url) if metered else {}
        pids = self._server_side(running)
        cpu_before, wrk_before = cpu_snapshot(pids), waited_children_cpu()
        with RssSampler(running.pid) as rss:
            result = self._wrk(running, scenario, connections, self.method.duration)
        others = others_share(cpu_before, cpu_snapshot(pids))
        wrk_cpu = (waited_children_cpu() - wrk_before) / result.seconds if result.seconds else 0.0
        self._settle(running, "the measured run")
        per_request = None
        if metered:
            # Per request the server executed: wrk's count misses those it left in flight.
            after = scrape(self.http, running.base_url)
            executed = sum(grown(before, after, GRAPHQL_REQUESTS, by="outcome").values())
            commands = sum(db_commands(before, after).values())
            per_request = commands / executed if executed else None
        cell = Cell(
            candidate.name,
            scenario.name,
            connections,
            repeat,
            result,
            rss.peak,
            per_request,
            others,
            wrk_cpu,
        )
        failures = f", {result.failures} failed" if result.failures else ""
        if result.failures:
            self.results.problems.append(
                f"{candidate.name} {scenario.name} c={connections} repeat {repeat}: "
                f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors, "
                f"{result.timeouts} timeouts, {result.graphql_errors} answers with GraphQL errors"
            )
        progress(
            f"  repeat {repeat} {candidate.name:<15} {scenario.name:<10} c={connections:<3}"
            f" {result.rps:9,.1f} req/s  p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms"
            f"  rss {rss.peak / 2**20:6.1f} MB  others {others:4.0%}  wrk {wrk_cpu:4.0%}{failures}"
        )
        return cell

    def commands_by_first(
        self, candidate: Candidate, token: str, *, sizes: tuple[int, ...] = (10, 50), count: int = 5
    ) -> dict[int, dict[str, float]]:
        """MongoDB commands per request of the list selection at each `first`, by command."""
        running = self.start(candidate)
        try:
            found: dict[int, dict[str, float]] = {}
            for size in sizes:
                call = Call(token, graphql_body(SIZED, {"first": size}))
                status, answer = post(self.http, running.base_url, call)
                reason = disagreement(None, answer, status=status)
                if reason is not None:
                    raise RuntimeError(f"first={size} on {candidate.name}: {reason}")
                before = scrape(self.http, running.base_url)
                for _ in range(count):
                    post(self.http, running.base_url, call)
                after = scrape(self.http, running.base_url)
                found[size] = {k: v / count for k, v in db_commands(before, after).items()}
            return found
        finally:
            self.stack.stop(running)
