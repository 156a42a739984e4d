"""The smsend / Skebby / Esendex-IT "SMS REST API v1.0" dialect (seed 001)."""
