"""Integrations with other frameworks (loaded on demand; nothing in the core imports them)."""
