"""textgate errors -> HTTP status of the admin API: textgate's own format.

The table is ``dialects.own_errors.STATUS_BY_ERROR``, shared with the native API.
"""

from __future__ import annotations

from textgate.dialects.own_errors import STATUS_BY_ERROR, error_body, http_status, render_error

__all__ = ["STATUS_BY_ERROR", "error_body", "http_status", "render_error"]
