"""Process execution (pipes and PTYs), the `command/exec` JSON-RPC server and
the shell-tool flow. Built in a later issue; nothing here yet.
"""
