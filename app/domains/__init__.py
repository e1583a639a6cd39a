"""Domain verification over DNS TXT, re-verification, and what a verified domain unlocks."""
