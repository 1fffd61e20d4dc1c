"""Reusable building blocks of the code location; nothing here builds Definitions."""
