"""The web dashboard: server-rendered pages for customers and operators, calling services only."""
