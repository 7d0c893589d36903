"""In-process micro-benchmarks, run in a child interpreter by `benchmarks/run`.

    python -m benchmarks.inprocess DIR [--quick]

``DIR`` is a scratch directory (rules files are generated into it and the
policy cache lives there). Prints one JSON object: ``{"results": [...]}``,
each result ``{"name", "median", "min", "number", "repeat"}`` in seconds per
call. Timing is ``timeit``: the loop count is calibrated with
``autorange`` (≥ 0.2 s per repeat), then several repeats; the median repeat
is the headline figure.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

from benchmarks import rules


def _bench(name: str, stmt: str, namespace: dict[str, Any], repeat: int) -> dict[str, Any]:
    timer = timeit.Timer(stmt, globals=namespace)
    number, _ = timer.autorange()
    per_call = [t / number for t in timer.repeat(repeat=repeat, number=number)]
    return {"name": name, "median": statistics.median(per_call), "min": min(per_call),
            "number": number, "repeat": repeat}


def _latencies(name: str, function: Any, calls: int) -> dict[str, Any]:
    """Per-call latency of a fast operation: median and 99th percentile of
    ``calls`` single timed calls (after one warm-up call)."""
    function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    times.sort()
    return {"name": name, "median": statistics.median(times), "min": times[0],
            "p99": times[int(len(times) * 0.99)], "number": 1, "repeat": calls}


def _timed_once(name: str, function: Any, repeat: int) -> dict[str, Any]:
    """For slow operations (loading a policy): ``repeat`` single calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return {"name": name, "median": statistics.median(times), "min": min(times),
            "number": 1, "repeat": repeat}


def main(argv: list[str]) -> int:
    directory = Path(argv[0])
    quick = "--quick" in argv[1:]
    repeat = 5 if quick else 9
    os.environ["EXECGUARD_CACHE_DIR"] = str(directory / "inprocess-cache")

    from execguard.execpolicy import Resolution, load_policy

    spread = rules.write(directory, 1000)
    single = rules.write(directory, 1000, programs=("git",), name="rules-1000-git.rules")
    big = rules.write(directory, 10_000, name="rules-10000-inprocess.rules")

    policy = load_policy([spread], use_cache=False)
    one_program = load_policy([single], use_cache=False)
    assert policy.matches(rules.CHECK_COMMAND), "the benchmark command must match"
    resolved = ["/usr/bin/git", *rules.CHECK_COMMAND[1:]]
    assert policy.matches(resolved, resolve_host_executables=True)

    namespace: dict[str, Any] = {
        "policy": policy, "one_program": one_program, "argv": list(rules.CHECK_COMMAND),
        "miss": list(rules.NO_MATCH_COMMAND), "resolved": resolved,
        "resolution": Resolution(cwd="/work", home="/home/user"),
    }
    results = [
        _bench("matches", "policy.matches(argv)", namespace, repeat),
        _bench("matches_no_match", "policy.matches(miss)", namespace, repeat),
        _bench("matches_resolve", "policy.matches(resolved, resolve_host_executables=True, "
               "resolution=resolution)", namespace, repeat),
        _bench("matches_resolve_default", "policy.matches(resolved, "
               "resolve_host_executables=True)", namespace, repeat),
        _bench("check", "policy.check(argv)", namespace, repeat),
        _bench("matches_one_program", "one_program.matches(argv)", namespace, repeat),
    ]
    # The decision engine: a three-segment `bash -lc` script against 1,000
    # rules (split with tree-sitter, rules per segment, heuristics, reasons).
    from execguard.execpolicy.engine import CURRENT, assess

    script = ["bash", "-lc", "git status && cargo test --all | tail -5"]
    results.append(_latencies(
        "assess_script", lambda: assess(policy, script, approval_policy="untrusted",
                                        sandbox="workspace-write", cwd="/workspace"),
        2000 if quick else 10_000))
    results.append(_latencies(
        "assess_script_codex_split", lambda: assess(
            policy, script, approval_policy="untrusted", sandbox="workspace-write",
            options=CURRENT), 2000 if quick else 10_000))
    # What agents write: a `cd`, a variable, redirections, a three-stage
    # pipeline (tree-sitter-bash alone takes ~100 µs on a redirect followed by
    # two pipes).
    agent = ["bash", "-lc", "cd web && CI=1 npm test 2>&1 | tee /tmp/log.txt | tail -20"]
    results.append(_latencies(
        "assess_agent_script", lambda: assess(policy, agent, approval_policy="untrusted",
                                              sandbox="workspace-write", cwd="/workspace"),
        2000 if quick else 10_000))
    # Loading 10,000 rules in-process: evaluation vs a cache hit (the cache
    # is filled by the first cached call, outside the timing). A cache hit
    # must give exactly the evaluated policy.
    evaluated = load_policy([big], use_cache=False)
    load_policy([big], use_cache=True)
    hit = load_policy([big], use_cache=True)
    assert hit == evaluated, "a cache hit must give the evaluated policy"
    cache_entries = len(os.listdir(os.environ["EXECGUARD_CACHE_DIR"]))
    results.append(_timed_once("load_10k_cache_hit",
                               lambda: load_policy([big], use_cache=True), repeat))
    results.append(_timed_once("load_10k_no_cache",
                               lambda: load_policy([big], use_cache=False), 3 if quick else 5))
    json.dump({"results": results, "cache_entries": cache_entries}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
