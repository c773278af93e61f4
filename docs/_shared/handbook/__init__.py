"""Tooling of the Async Cleanup Handbook: example markup, checking, rendering.

The design contract is DESIGN.md beside this file; "DESIGN §N" in the
project's code, tests and benchmarks cites its section N.
"""
