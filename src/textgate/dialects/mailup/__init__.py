"""MailUp transactional SMS (``/api/v2.0/``) and SMTP+ transactional email (``/API/v2.0/``),
seed 002 and shared/specs/dialects.md, section "MailUp"."""
