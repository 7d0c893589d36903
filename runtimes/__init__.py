"""Process execution (pipes and PTYs), the `command/exec` JSON-RPC server,
the managed network session and the exec bridge's runtime side.

Entry points: :func:`.process.spawn` / :func:`.process.run` (one command),
:class:`.server.AppServer` (the JSON-RPC server), :func:`.exec_bridge.run_bridged`
(a ``zsh -lc`` command with every exec decided).
"""
