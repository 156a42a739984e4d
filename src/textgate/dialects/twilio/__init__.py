"""Twilio's Messages API (shared/specs/dialects.md, "Twilio Messages API"), served for the
client code written against it: the base URL changes, nothing else."""
