"""Process execution (pipes and PTYs), the `command/exec` JSON-RPC server,
the shell tool flow, the managed network session and the exec bridge's
runtime side.

Entry points: :func:`.process.spawn` / :func:`.process.run` (one command),
:class:`.shell_tool.ShellToolSession` (an agent's tool call: decide, ask,
run sandboxed, retry; `execguard run`, `shellTool/run`),
:class:`.server.AppServer` (the JSON-RPC server), :func:`.exec_bridge.run_bridged`
(a ``zsh -lc`` command with every exec decided).
"""
