"""The signature the SMSGate app puts on its webhooks (shared/specs/android-device-api.md,
section 4, "Headers"): ``X-Signature`` is hex(HMAC-SHA256(signing key, body + X-Timestamp)),
the timestamp in Unix seconds. Checked on what the phones post (services.devices), made on
what textgate posts in the app's shape (dialects.smsgate.webhook_format)."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["phone_signature"]


def phone_signature(key: str, body: bytes, timestamp: str) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
