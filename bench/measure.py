"""Timing one candidate: start its server alone, check its answers against taskql's, then for
each of its scenarios and connection counts a warm-up and a measured run of wrk (or, for a
scenario wrk cannot drive, bench/loadgen.py), with the peak RSS of its process tree, the CPU
of every part, and (taskql) MongoDB commands and cache lookups per request from /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import stack as st
import uvloop
from cache import Retirer
from candidates import Candidate, LaunchContext, launch_command
from common import progress
from loadgen import closed_loop
from scenarios import SIZED, Call, Scenario, disagreement, graphql_body
from workload import Workload
from wrk import WrkResult, run_wrk


@dataclass(frozen=True)
class Method:
    warmup: int  # seconds, unreported
    duration: int  # seconds, measured
    repeats: int
    connections: tuple[int, ...]
    timeout: int  # wrk's, seconds


@dataclass(frozen=True)
class Cell:
    """One measured run."""

    candidate: str
    scenario: str
    connections: int
    repeat: int
    wrk: WrkResult
    rss_bytes: int
    cpu: st.Cpu  # parts: app, mongodb, redis, client (the load generator)
    executed: float = 0.0  # taskql: the GraphQL requests it executed (wrk leaves some in flight)
    commands: dict[str, float] | None = None  # taskql: MongoDB commands by name
    lookups: dict[str, float] = field(default_factory=dict)  # taskql: cache lookups by result

    def per_request(self, value: float) -> float:
        return value / self.executed if self.executed else float("nan")

    @property
    def db_commands_per_request(self) -> float | None:
        if self.commands is None or not self.executed:
            return None
        return self.per_request(sum(self.commands.values()))

    @property
    def wrk_cpu(self) -> float:
        """The share of one CPU the load generator used (near 1: it was the limit)."""
        return self.cpu.seconds["client"] / self.wrk.seconds if self.wrk.seconds else 0.0


@dataclass
class Results:
    cells: list[Cell] = field(default_factory=list)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # (candidate, scenario)
    problems: list[str] = field(default_factory=list)


@dataclass
class Measurer:
    method: Method
    stack: st.Stack
    pinning: st.Pinning
    workload: Workload
    launch: LaunchContext
    request_files: dict[str, Path]
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120.0))
    results: Results = field(default_factory=Results)

    def close(self) -> None:
        self.http.close()

    @contextmanager
    def serving(self, candidate: Candidate) -> Iterator[st.Child]:
        """The candidate's server, alone, for the block's length."""
        running = self.stack.start(candidate.name, *launch_command(candidate, self.launch))
        try:
            yield running
        finally:
            self.stack.stop(running)

    def scrape(self, running: st.Child) -> st.Samples:
        reply = self.http.get(f"{running.base_url}/metrics")
        return st.samples(reply.raise_for_status().text)

    def post(self, running: st.Child, call: Call) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        headers |= {"Authorization": call.authorization} if call.token else {}
        reply = self.http.post(f"{running.base_url}/graphql", content=call.body, headers=headers)
        return reply.status_code, reply.content

    def check(self, running: st.Child, scenario: Scenario) -> str | None:
        """Why the candidate's answers cannot be timed; None when every check agrees."""
        for call in scenario.checks:
            reference = self.workload.references.get(call) if scenario.compare_data else None
            status, answer = self.post(running, call)
            if reason := disagreement(reference and reference.body, answer, status=status):
                return f"{reason} (body {call.body[:120].decode()})"
        return None

    def run_candidate(self, candidate: Candidate, scenarios: list[Scenario], repeat: int) -> None:
        refused = self.results.refused
        if not (todo := [s for s in scenarios if (candidate.name, s.name) not in refused]):
            return
        with self.serving(candidate) as running:
            for scenario in todo:
                if (reason := self.check(running, scenario)) is not None:
                    refused[(candidate.name, scenario.name)] = reason
                    progress(f"  {candidate.name} refused for {scenario.name}: {reason}")
                    continue
                for connections in scenario.connection_counts(self.method.connections):
                    cell = self.timed(candidate, running, scenario, connections, repeat)
                    self.results.cells.append(cell)
                    if running.process.poll() is not None:
                        output = running.output()[-3000:]
                        raise RuntimeError(f"{candidate.name} exited in {scenario.name}:\n{output}")

    def load(
        self, running: st.Child, scenario: Scenario, connections: int, seconds: int
    ) -> WrkResult:
        if not scenario.retire:
            return run_wrk(
                url=f"{running.base_url}/graphql",
                requests_file=self.request_files[scenario.name],
                connections=connections,
                seconds=seconds,
                timeout=self.method.timeout,
                pin=self.pinning.load,
            )
        # Connection i rotates over calls i, i+N, ...: each user's entries are retired and read
        # by one connection only.
        plans = [scenario.calls[i::connections] for i in range(connections)]
        references = {call: self.workload.references[call].body for call in scenario.calls}

        async def load() -> WrkResult:
            retirer = Retirer(self.stack.redis_url)
            try:
                return await closed_loop(
                    running.base_url, plans, seconds, references, before_each=retirer.retire
                )
            finally:
                await retirer.close()

        return uvloop.run(load())

    def settle(self, running: st.Child, what: str) -> None:
        """Lets the server side work off the requests wrk left in flight."""
        if (waited := st.wait_idle([running.pid, self.stack.stores_pid])) > 2:
            progress(f"  ({running.name} took {waited:.0f} s to work off {what}'s requests)")

    def timed(
        self,
        candidate: Candidate,
        running: st.Child,
        scenario: Scenario,
        connections: int,
        repeat: int,
    ) -> Cell:
        self.load(running, scenario, connections, self.method.warmup)
        self.settle(running, "the warm-up")
        metered = candidate.kind == "taskql"
        before = self.scrape(running) if metered else {}
        meter = st.Meter({"app": st.tree(running.pid), **self.stack.stores()}, running.pid)
        result = self.load(running, scenario, connections, self.method.duration)
        cpu = meter.read()
        self.settle(running, "the measured run")
        cell = Cell(candidate.name, scenario.name, connections, repeat, result, meter.peak, cpu)
        if metered:
            after = self.scrape(running)
            executed = sum(st.grown(before, after, st.GRAPHQL_REQUESTS, by="outcome").values())
            commands, lookups = st.db_commands(before, after), st.cache_lookups(before, after)
            cell = replace(cell, executed=executed, commands=commands, lookups=lookups)
        if result.failures:
            self.results.problems.append(
                f"{candidate.name} {scenario.name} c={connections} repeat {repeat}: "
                f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors, "
                f"{result.timeouts} timeouts, {result.graphql_errors} answers with GraphQL "
                f"errors, {result.wrong} other answers than taskql's"
            )
        progress(
            f"  repeat {repeat} {candidate.name:<15} {scenario.name:<10} c={connections:<3}"
            f" {result.rps:9,.1f} req/s  p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms"
            f"  rss {meter.peak / 2**20:6.1f} MB  others {cpu.others:4.0%}"
            f"  wrk {cell.wrk_cpu:4.0%}" + f", {result.failures} failed" * bool(result.failures)
        )
        return cell

    def one_request(self, running: st.Child, call: Call, count: int = 1) -> tuple[dict, dict]:
        """MongoDB commands by name and cache lookups by result, per request of `call`."""
        before = self.scrape(running)
        for _ in range(count):
            status, answer = self.post(running, call)
            if reason := disagreement(None, answer, status=status):
                raise RuntimeError(f"{running.name}: {reason} (body {call.body[:120].decode()})")
        after = self.scrape(running)
        commands, lookups = st.db_commands(before, after), st.cache_lookups(before, after)
        return {k: v / count for k, v in commands.items()}, {
            k: v / count for k, v in lookups.items()
        }

    def commands_by_first(self, candidate: Candidate, token: str) -> dict[int, dict[str, float]]:
        """MongoDB commands per request of the list selection at `first` 10 and 50, by command."""
        found: dict[int, dict[str, float]] = {}
        with self.serving(candidate) as running:
            for size in (10, 50):
                call = Call(token, graphql_body(SIZED, {"first": size}))
                self.one_request(running, call)  # unmeasured: first-use costs land here
                found[size] = self.one_request(running, call, count=5)[0]
        return found
