"""Operating textgate: Prometheus metrics, health checks and structured logs."""
