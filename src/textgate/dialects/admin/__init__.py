"""The operator's admin API, ``/v1/admin`` (Bearer admin token from the configuration)."""
