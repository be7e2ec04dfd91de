"""Euler-Maruyama kernel over trajectory chunks and streaming (mergeable) statistics."""
