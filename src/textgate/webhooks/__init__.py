"""Events out over HTTP: the webhook sender (DESIGN section 1)."""
