"""The audit log's command-line adapter: ``tenantry audit …`` (the log) and ``tenantry relay|consume …``
(the bus). With ``app/audit/http/``, the only audit modules that know click."""
