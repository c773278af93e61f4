"""Tooling of the Async Cleanup Handbook: example markup, checking, rendering."""
