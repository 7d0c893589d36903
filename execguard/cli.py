"""The `execguard` command line.

Dispatch is hand-rolled so that `execguard execpolicy check` imports only
what it needs (a whole check must stay within a few ms of the reference).
"""

from __future__ import annotations

import sys

USAGE = """Usage: execguard <COMMAND>

Commands:
  run                Run a command as an agent's shell tool call: decide, ask, sandbox, retry
  execpolicy check   Check a command against rules files (Codex-compatible JSON)
  execpolicy rules   List the discovered rules files (shipped, user, trusted project)
  execpolicy trust   Trust the current project's .execguard/rules
  execpolicy decide  Decide a command: rules, heuristics, approval and sandbox policy
  execpolicy test    Check a JSONL corpus of commands against expected decisions
  app-server         Run the command/exec JSON-RPC server (stdio or WebSocket)
  debug sandbox      Run a command under the sandbox and report what it denied
  sandbox doctor     Report which sandbox backends work here, and why not

Options:
  -h, --help     Print help
  -V, --version  Print version
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["execpolicy", "check"]:
        from execguard.execpolicy.cli import check_main

        return check_main(args[2:])
    if args and args[0] in ("-V", "--version"):
        from execguard import __version__

        sys.stdout.write(f"execguard {__version__}\n")
        return 0
    if args and args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if args[:2] == ["execpolicy", "rules"]:
        from execguard.execpolicy.cli import rules_main

        return rules_main(args[2:])
    if args[:2] == ["execpolicy", "trust"]:
        from execguard.execpolicy.cli import trust_main

        return trust_main(args[2:])
    if args[:2] == ["execpolicy", "decide"]:
        from execguard.execpolicy.decide_cli import decide_main

        return decide_main(args[2:])
    if args[:2] == ["execpolicy", "test"]:
        from execguard.execpolicy.decide_cli import test_main

        return test_main(args[2:])
    if args[:1] == ["run"]:
        from execguard.runtimes.run_cli import main as run_main

        return run_main(args[1:])
    if args[:1] == ["app-server"]:
        from execguard.runtimes.cli import main as app_server_main

        return app_server_main(args[1:])
    if args[:2] == ["debug", "sandbox"]:
        from execguard.sandbox.cli import debug_main

        return debug_main(args[2:])
    if args[:2] == ["sandbox", "doctor"]:
        from execguard.sandbox.cli import doctor_main

        return doctor_main(args[2:])
    if args[:1] in (["debug"], ["sandbox"]):
        needed = "sandbox" if args[0] == "debug" else "doctor"
        sys.stderr.write(f"error: 'execguard {args[0]}' requires a subcommand: {needed}\n")
        return 2
    if args[:1] == ["execpolicy"]:
        sys.stderr.write("error: 'execguard execpolicy' requires a subcommand: check, rules, "
                         "trust, decide or test\n")
        return 2
    shown = f"unrecognized subcommand '{args[0]}'" if args else "a subcommand is required"
    sys.stderr.write(f"error: {shown}\n\n{USAGE}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
