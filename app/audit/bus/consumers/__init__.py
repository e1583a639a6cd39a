"""Reference consumers of the event stream: what integrators copy (``tenantry consume billing|print``)."""
