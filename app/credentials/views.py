"""Placeholder: API key operations."""
