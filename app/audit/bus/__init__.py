"""The bus side of the audit log: the outbox rows written with each event, the relay that publishes them to
NATS JetStream as CloudEvents, the relay's wakeup, and the reference consumers. Nothing here knows HTTP."""
