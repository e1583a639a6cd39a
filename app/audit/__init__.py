"""The audit log: what happened, to whom, by whom, in a tamper-evident hash chain per org.

Where things are:

- here, the log itself: ``catalogue`` (the closed enum of actions) and ``contract`` / ``event_schemas`` (each
  action's data), ``recorder`` (``record()``, inside the mutation's transaction), ``chain``, ``integrity`` and
  ``signing`` (verification, signed checkpoints), ``search``, ``export`` (and the customer-side
  ``verify_export``), ``retention``, ``failures`` and ``refusals`` (refused attempts, aggregated);
- ``bus/``: the outbox rows written with each event, the relay to NATS JetStream, CloudEvents, reference
  consumers;
- ``http/`` and ``cli/``: the adapters, the only audit modules that know Flask or click. A refused request
  reaches the log as a plain ``refusals.Refusal``; ``tests/unit/test_audit_import_graph.py`` keeps it so.
"""
