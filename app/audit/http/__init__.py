"""The audit log's HTTP adapter: its ``/v1`` operations and their schemas, and the reading of a refused
request into a plain ``Refusal``. With ``app/audit/cli/``, the only audit modules that know Flask or
``app.api``."""
