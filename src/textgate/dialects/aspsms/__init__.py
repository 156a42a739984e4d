"""ASPSMS SMTP interface: ``textsms@``, ``xml@`` and ``<00number>@smtp.aspsms.com``
(seed 004; shared/specs/dialects.md, section "ASPSMS")."""
