"""Placeholder: operations are added by this family's work."""
