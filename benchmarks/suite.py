"""The execguard benchmark suite (run it with `benchmarks/run`; see README.md).

Measures whole `execguard execpolicy check` processes against the reference
Codex CLI, in-process evaluation, and peak memory, then prints one table.
Exits 0 when everything ran (whether or not targets were met), 1 when a
command failed or our output differed from the reference's, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks import rules

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_TOOLS = (ROOT.parent / "shared" / "tools" / "reference-codex",
                   Path("/work/shared/tools/reference-codex"))

THREE_RULES = """\
prefix_rule(pattern=["git", "status"], decision="allow")
prefix_rule(pattern=["git", "push", ["--force", "-f"]], decision="forbidden",
            justification="force-pushing rewrites shared history")
prefix_rule(pattern=["rm", ["-rf", "-fr"]], decision="prompt")
"""
THREE_RULES_COMMAND = ["git", "push", "--force", "origin", "main"]

TARGET_WARM_RATIO = 0.5
TARGET_SMALL_RATIO = 1.5
TARGET_MATCHES_SECONDS = 10e-6
TARGET_ASSESS_MEDIAN_SECONDS = 60e-6
TARGET_ASSESS_P99_SECONDS = 300e-6


class BenchError(Exception):
    pass


# -- running commands -------------------------------------------------------------


@dataclass
class Bench:
    """One command to time. ``prepare`` runs before every run, untimed."""

    key: str
    argv: list[str]
    env: dict[str, str]
    runs: int
    warmup: int = 3
    prepare: Callable[[int], None] | None = None
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    stdout: bytes = b""
    timer: str = "internal"

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def rss_mib(self) -> float:
        return statistics.median(self.rss_kib) / 1024


def _run_once(bench: Bench, cwd: Path, out: IO[bytes], err: IO[bytes]) -> tuple[float, int]:
    """Run once; wall time from just before the fork to the child's reaping,
    and the child's own peak RSS (``wait4``'s rusage, KiB)."""
    for handle in (out, err):
        handle.seek(0)
        handle.truncate()
    start = time.perf_counter()
    proc = subprocess.Popen(bench.argv, env=bench.env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err.seek(0)
        raise BenchError(f"{bench.key}: `{shlex.join(bench.argv)}` exited with "
                         f"{proc.returncode}:\n{err.read().decode(errors='replace')}")
    rss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return elapsed, rss


def measure(benches: list[Bench], cwd: Path, hyperfine: str | None) -> None:
    """Time every bench. With the internal timer the benches' runs are
    interleaved (round-robin), so drift hits all of them alike."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        for bench in benches:
            for i in range(bench.warmup):
                if bench.prepare:
                    bench.prepare(-1 - i)
                _run_once(bench, cwd, out, err)
            out.seek(0)
            bench.stdout = out.read()
        internal = [b for b in benches if hyperfine is None or b.prepare is not None]
        for bench in benches:
            if bench not in internal:
                assert hyperfine is not None
                bench.times = _hyperfine(hyperfine, bench, cwd)
                bench.timer = "hyperfine"
                # Peak memory still comes from our own runs (a few suffice).
                for _ in range(min(5, bench.runs)):
                    bench.rss_kib.append(_run_once(bench, cwd, out, err)[1])
        for round_ in range(max((b.runs for b in internal), default=0)):
            for bench in internal:
                if round_ >= bench.runs:
                    continue
                if bench.prepare:
                    bench.prepare(round_)
                elapsed, rss = _run_once(bench, cwd, out, err)
                bench.times.append(elapsed)
                bench.rss_kib.append(rss)


def _hyperfine(hyperfine: str, bench: Bench, cwd: Path) -> list[float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        done = subprocess.run(
            [hyperfine, "-N", "--style", "none", "--runs", str(bench.runs), "--warmup", "1",
             "--export-json", export.name, shlex.join(bench.argv)],
            env=bench.env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, check=False)
        if done.returncode != 0:
            raise BenchError(f"{bench.key}: hyperfine failed:\n"
                             f"{done.stderr.decode(errors='replace')}")
        data = json.load(export)
    times = data["results"][0]["times"]
    return [float(t) for t in times]


# -- the environment --------------------------------------------------------------


def find_reference(explicit: str | None) -> tuple[str | None, str]:
    """The reference binary and how it was found, or ``None`` and why not.

    Never downloads: the `reference-codex` tool is asked for its path with an
    empty ``PATH``, so it can only print an already cached binary (it needs
    `npm` to download, and fails without it).
    """
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit, f"--reference {explicit}"
        return None, f"--reference {explicit} is not an executable file"
    configured = os.environ.get("EXECGUARD_REFERENCE_CODEX")
    if configured:
        if os.access(configured, os.X_OK):
            return configured, f"$EXECGUARD_REFERENCE_CODEX={configured}"
        return None, f"$EXECGUARD_REFERENCE_CODEX={configured} is not an executable file"
    bash = shutil.which("bash")
    for tool in REFERENCE_TOOLS:
        if not tool.is_file() or bash is None:
            continue
        env = {k: v for k, v in os.environ.items() if k in ("HOME", "XDG_CACHE_HOME")}
        env["PATH"] = ""
        done = subprocess.run([bash, str(tool)], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False, timeout=30)
        path = done.stdout.strip()
        if done.returncode == 0 and path and os.access(path, os.X_OK):
            return path, f"{tool} (already cached)"
        return None, (f"{tool} has no cached binary (not downloading it; set "
                      "$EXECGUARD_REFERENCE_CODEX or run the tool once by hand)")
    return None, "no reference-codex tool found and $EXECGUARD_REFERENCE_CODEX is unset"


def child_env(scratch: Path) -> dict[str, str]:
    """The environment of every timed process.

    Bytecode is cached (in a private ``PYTHONPYCACHEPREFIX``, never in the
    source tree) even where ``PYTHONDONTWRITEBYTECODE`` is set, as a pip
    install would have compiled it; the warm-up runs fill that cache.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "RUST_BACKTRACE", "EXECGUARD_POLICY_CACHE",
                        "PYTHONPROFILEIMPORTTIME", "PYTHONVERBOSE")}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    env["EXECGUARD_CACHE_DIR"] = str(scratch / "unused-cache")
    return env


def make_regular_install(scratch: Path, console_script: Path) -> tuple[Path | None, str]:
    """A throw-away venv holding execguard as a regular (non-editable) pip
    install would: the package copied into site-packages (symlinks resolved)
    and the installed `execguard` script. Dependencies come from this venv's
    site-packages through a path entry (no code runs for it at startup).
    """
    try:
        wrapper = console_script.read_text(encoding="utf-8")
        if not wrapper.startswith("#!"):
            return None, f"{console_script} is not a script wrapper"
        target = scratch / "regular-venv"
        venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
        python = target / "bin" / "python"
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True).stdout.strip()
        shutil.copytree(ROOT / "execguard", Path(purelib) / "execguard",
                        ignore=shutil.ignore_patterns("__pycache__"))
        deps = sysconfig.get_paths()["purelib"]
        (Path(purelib) / "execguard-benchmark-deps.pth").write_text(deps + "\n")
        script = target / "bin" / "execguard"
        script.write_text(f"#!{python}\n" + wrapper.split("\n", 1)[1], encoding="utf-8")
        script.chmod(0o755)
        return script, "simulated in a scratch venv"
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"could not set up a regular install: {error}"


# -- the report -------------------------------------------------------------------


@dataclass
class Row:
    case: str
    ours: float | None
    reference: float | None = None
    unit: str = "ms"
    target: str = ""
    met: bool | None = None
    ratio_target: float | None = None
    note: str = ""

    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value * 1e3:.1f} ms"
    if unit == "µs":
        return f"{value * 1e6:.2f} µs"
    return f"{value:.1f} MiB"


def render(rows: list[Row]) -> str:
    header = ("Case", "Ours", "Reference", "Ratio", "Target", "Met")
    table = [header]
    for row in rows:
        ratio = row.ratio()
        met = "—" if row.met is None else ("yes" if row.met else "NO")
        table.append((row.case, _fmt(row.ours, row.unit), _fmt(row.reference, row.unit),
                      "—" if ratio is None else f"{ratio:.2f}x", row.target or "—", met))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for n, line in enumerate(table):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(line, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- the suite --------------------------------------------------------------------


def _check_args(rules_file: Path, command: list[str]) -> list[str]:
    return ["execpolicy", "check", "--rules", str(rules_file), *command]


def run_suite(options: argparse.Namespace, scratch: Path) -> tuple[list[Row], list[str], bool]:
    notes: list[str] = []
    ok = True
    quick = options.quick
    small_runs = options.runs or (10 if quick else 50)
    big_runs = max(3, small_runs * 3 // 5)
    cold_runs = 3 if quick else 10

    reference, how = find_reference(options.reference) if not options.no_reference else (
        None, "--no-reference given")
    if reference:
        notes.append(f"Reference: {reference} (found via {how}).")
    else:
        notes.append(f"Reference not available — comparisons skipped: {how}.")

    hyperfine = None if options.timer == "internal" else shutil.which("hyperfine")
    if options.timer == "hyperfine" and hyperfine is None:
        raise BenchError("--timer hyperfine: hyperfine is not installed")

    python = options.python
    console = Path(options.execguard)
    if not os.access(console, os.X_OK):
        raise BenchError(f"console script {console} not found (run scripts/setup)")
    env = child_env(scratch)
    small = scratch / "three.rules"
    small.write_text(THREE_RULES, encoding="utf-8")
    big = rules.write(scratch, 10_000)
    notes.append(f"10,000-rule file: {big} ({big.stat().st_size // 1024} KiB, "
                 "generated by benchmarks/rules.py).")

    regular, regular_how = (None, "--no-regular-install given") if options.no_regular_install \
        else make_regular_install(scratch, console)

    # --- 1. 10,000 rules, whole process ----------------------------------------
    warm_dir = scratch / "cache-warm"
    cold_root = scratch / "cache-cold"

    def fresh_cache(n: int) -> None:
        path = cold_root / str(n)
        shutil.rmtree(path, ignore_errors=True)
        env_first["EXECGUARD_CACHE_DIR"] = str(path)

    env_first = dict(env)
    big_benches = [
        Bench("big_warm", [str(console), *_check_args(big, rules.CHECK_COMMAND)],
              dict(env, EXECGUARD_CACHE_DIR=str(warm_dir)), big_runs),
        Bench("big_nocache", [str(console), *_check_args(big, rules.CHECK_COMMAND)],
              dict(env, EXECGUARD_POLICY_CACHE="0"), cold_runs, warmup=1),
        Bench("big_first", [str(console), *_check_args(big, rules.CHECK_COMMAND)],
              env_first, cold_runs, warmup=1, prepare=fresh_cache),
    ]
    if regular:
        big_benches.append(Bench(
            "big_warm_regular", [str(regular), *_check_args(big, rules.CHECK_COMMAND)],
            dict(env, EXECGUARD_CACHE_DIR=str(scratch / "cache-warm-regular")), big_runs))
    if reference:
        big_benches.append(Bench("big_ref", [reference, *_check_args(big, rules.CHECK_COMMAND)],
                                 env, big_runs))
    _progress("10,000 rules, whole process")
    measure(big_benches, scratch, hyperfine)
    b = {x.key: x for x in big_benches}
    cached_entries = len(list(warm_dir.iterdir())) if warm_dir.is_dir() else 0
    if cached_entries == 0:
        notes.append("The warm-cache runs found NO cache entry: this policy is not cacheable "
                     "(the loader declined to store it), so 'warm' = cold.")
    ref_big = b["big_ref"] if reference else None

    # --- 2. 3 rules, whole process ----------------------------------------------
    small_benches = [
        Bench("small", [str(console), *_check_args(small, THREE_RULES_COMMAND)], env,
              small_runs),
        Bench("python_S", [python, "-S", "-c", "pass"], env, small_runs),
        Bench("python", [python, "-c", "pass"], env, small_runs),
        Bench("version", [str(console), "--version"], env, small_runs),
    ]
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        as_is = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
        as_is["EXECGUARD_CACHE_DIR"] = env["EXECGUARD_CACHE_DIR"]
        small_benches.append(Bench(
            "small_nopyc", [str(console), *_check_args(small, THREE_RULES_COMMAND)], as_is,
            small_runs))
    if regular:
        small_benches.append(Bench(
            "small_regular", [str(regular), *_check_args(small, THREE_RULES_COMMAND)], env,
            small_runs))
        small_benches.append(Bench(
            "python_regular", [str(regular.parent / "python"), "-c", "pass"], env, small_runs))
    if reference:
        small_benches.append(Bench(
            "small_ref", [reference, *_check_args(small, THREE_RULES_COMMAND)], env,
            small_runs))
    _progress("3 rules, whole process")
    measure(small_benches, scratch, hyperfine)
    s = {x.key: x for x in small_benches}
    ref_small = s["small_ref"] if reference else None

    # Our answers must be the reference's, or the timings compare different work.
    for ours_key, ref_bench in (("big_warm", ref_big), ("big_nocache", ref_big),
                                ("big_first", ref_big), ("small", ref_small)):
        ours_bench = b.get(ours_key) or s[ours_key]
        if ref_bench is not None and ours_bench.stdout != ref_bench.stdout:
            ok = False
            notes.append(f"ERROR: output differs from the reference ({ours_key}):\n"
                         f"  ours: {ours_bench.stdout!r}\n  ref:  {ref_bench.stdout!r}")

    # --- 3. in-process ---------------------------------------------------------
    _progress("in-process evaluation")
    inproc_dir = scratch / "inprocess"
    inproc_dir.mkdir()
    args = [python, "-m", "benchmarks.inprocess", str(inproc_dir)] + (["--quick"] if quick else [])
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"in-process benchmarks failed:\n{done.stderr}")
    inproc = {r["name"]: r for r in json.loads(done.stdout)["results"]}

    # --- the table --------------------------------------------------------------
    def ratio_row(case: str, ours: Bench, ref: Bench | None, limit: float | None,
                  note: str = "") -> Row:
        row = Row(case, ours.median, ref.median if ref else None, "ms", note=note)
        if limit is not None:
            row.target = f"≤ {limit:g}x ref"
            ratio = row.ratio()
            row.met = None if ratio is None else ratio <= limit
        return row

    rows = [
        ratio_row("10k rules, warm cache (default)", b["big_warm"], ref_big, TARGET_WARM_RATIO),
        ratio_row("10k rules, cache off (EXECGUARD_POLICY_CACHE=0)", b["big_nocache"], ref_big,
                  None),
        ratio_row("10k rules, first run, empty cache dir", b["big_first"], ref_big, None),
    ]
    if regular:
        rows.append(ratio_row("10k rules, warm cache, regular install", b["big_warm_regular"],
                              ref_big, None))
    rows.append(ratio_row("3 rules", s["small"], ref_small, TARGET_SMALL_RATIO))
    if "small_nopyc" in s:
        rows.append(ratio_row("3 rules, no .pyc (PYTHONDONTWRITEBYTECODE as set here)",
                              s["small_nopyc"], ref_small, None))
    if regular:
        rows.append(ratio_row("3 rules, regular install", s["small_regular"], ref_small, None))
    rows += [
        ratio_row("  startup: python -S -c pass", s["python_S"], ref_small, None),
        ratio_row("  startup: python -c pass (dev venv)", s["python"], ref_small, None),
    ]
    if regular:
        rows.append(ratio_row("  startup: python -c pass (regular venv)", s["python_regular"],
                              ref_small, None))
    rows.append(ratio_row("  startup: execguard --version", s["version"], ref_small, None))
    matches = inproc["matches"]["median"]
    rows += [
        Row("matches(argv), 1k rules", matches, unit="µs", target="< 10 µs",
            met=matches < TARGET_MATCHES_SECONDS),
        Row("matches(argv), 1k rules, no match", inproc["matches_no_match"]["median"],
            unit="µs"),
        Row("matches(/usr/bin/git …, resolve, explicit cwd)",
            inproc["matches_resolve"]["median"], unit="µs"),
        Row("matches(/usr/bin/git …, resolve, default)",
            inproc["matches_resolve_default"]["median"], unit="µs"),
        Row("check(argv) (pydantic result), 1k rules", inproc["check"]["median"], unit="µs"),
        Row("matches(argv), 1k rules all for `git`", inproc["matches_one_program"]["median"],
            unit="µs"),
        Row("assess(bash -lc, 3 segments), 1k rules: median",
            inproc["assess_script"]["median"], unit="µs", target="< 60 µs",
            met=inproc["assess_script"]["median"] < TARGET_ASSESS_MEDIAN_SECONDS),
        Row("assess(bash -lc, 3 segments), 1k rules: p99",
            inproc["assess_script"]["p99"], unit="µs", target="< 300 µs",
            met=inproc["assess_script"]["p99"] < TARGET_ASSESS_P99_SECONDS),
        Row("  same, Codex's split (--variant current): median",
            inproc["assess_script_codex_split"]["median"], unit="µs"),
        Row("assess(cd && CI=1 npm test 2>&1 | tee | tail): median",
            inproc["assess_agent_script"]["median"], unit="µs"),
        Row("assess(cd && CI=1 npm test 2>&1 | tee | tail): p99",
            inproc["assess_agent_script"]["p99"], unit="µs"),
        Row("load_policy(10k), in-process, cache hit", inproc["load_10k_cache_hit"]["median"]),
        Row("load_policy(10k), in-process, cache off", inproc["load_10k_no_cache"]["median"]),
        Row("peak RSS, 10k rules, warm cache", b["big_warm"].rss_mib,
            ref_big.rss_mib if ref_big else None, unit="MiB"),
        Row("peak RSS, 10k rules, cache off", b["big_nocache"].rss_mib,
            ref_big.rss_mib if ref_big else None, unit="MiB"),
        Row("peak RSS, 3 rules", s["small"].rss_mib,
            ref_small.rss_mib if ref_small else None, unit="MiB"),
    ]

    timers = sorted({x.timer for x in big_benches + small_benches})
    notes.append(
        f"Process times: median wall time of {small_runs} runs (3 rules, startup), {big_runs} "
        f"(10k warm, reference), {cold_runs} (10k cold); timer: {', '.join(timers)}"
        + ("" if hyperfine or options.timer == "internal" else " (hyperfine not installed)")
        + ("; the first-run case uses the internal timer (each run needs a fresh cache dir)"
           if hyperfine else "; runs of ours and the reference interleaved round-robin")
        + ". The machine's load shows in every figure: compare ratios, and rerun.")
    notes.append("In-process: timeit, loop count by autorange, median of "
                 f"{inproc['matches']['repeat']} repeats.")
    notes.append("Bytecode is cached in a private PYTHONPYCACHEPREFIX for every timed process "
                 "(as a pip install compiles it); warm-up runs fill it.")
    if regular:
        notes.append("'regular install': execguard copied into a scratch venv with the "
                     "installed `execguard` script, no editable-install path entry — what "
                     "`pip install execguard` gives users.")
    else:
        notes.append(f"Regular-install rows skipped: {regular_how}.")
    notes.append(f"Console script under test: {console}; Python: {python}.")
    return rows, notes, ok


def _progress(text: str) -> None:
    print(f"benchmarks: {text} …", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a rough check)")
    parser.add_argument("--runs", type=int, default=0,
                        help="runs of the short process cases (default 50; 10 with --quick)")
    parser.add_argument("--reference", help="path of the reference `codex` binary")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference")
    parser.add_argument("--timer", choices=("auto", "internal", "hyperfine"), default="auto",
                        help="auto: hyperfine when installed, else the internal timer")
    parser.add_argument("--execguard", default=str(ROOT / ".venv" / "bin" / "execguard"),
                        help="console script to benchmark")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the in-process benchmarks and startup baselines")
    parser.add_argument("--no-regular-install", action="store_true",
                        help="skip the simulated regular (non-editable) install")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    scratch = Path(tempfile.mkdtemp(prefix="execguard-bench-"))
    try:
        rows, notes, ok = run_suite(options, scratch)
    except BenchError as error:
        print(f"benchmarks: error: {error}", file=sys.stderr)
        return 1
    finally:
        if options.keep:
            print(f"benchmarks: scratch directory kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(render(rows))
    print()
    for note in notes:
        print(f"* {note}")
    missed = [r.case for r in rows if r.met is False]
    unchecked = [r.case for r in rows if r.target and r.met is None]
    if missed:
        print(f"\nTargets missed (not an error): {'; '.join(missed)}")
    else:
        print("\nEvery target that could be checked was met.")
    if unchecked:
        print(f"Targets not checked (no reference): {'; '.join(unchecked)}")
    if options.json:
        payload: list[dict[str, Any]] = [
            {"case": r.case, "ours": r.ours, "reference": r.reference,
             "unit": "MiB" if r.unit == "MiB" else "s",
             "ratio": r.ratio(), "target": r.target, "met": r.met} for r in rows]
        Path(options.json).write_text(json.dumps({"rows": payload, "notes": notes}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
