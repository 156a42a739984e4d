"""Connectors that send through an SMS provider's HTTP API.

``connector.py`` is the machinery every provider shares (client, time limits, concurrency,
rate, pauses, logins, the delivery contract in ``replies.py``, callbacks); each provider is
one module that knows only its provider's public API (``provider.py`` says what it tells
the machinery): ``smsend.py`` for smsend / Skebby, ``generic.py`` for any provider that
templates can describe.
"""
