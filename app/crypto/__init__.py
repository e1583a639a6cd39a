"""Cryptographic building blocks shared by every package (pure: no Flask, no session)."""
