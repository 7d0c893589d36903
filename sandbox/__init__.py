"""Sandbox policies and the Linux sandbox backends (bubblewrap, Landlock +
seccomp), the network proxy and denial detection. Built in a later issue;
nothing here yet.
"""
