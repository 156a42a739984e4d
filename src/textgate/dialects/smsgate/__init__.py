"""SMSGate's API for its clients, ``/3rdparty/v1`` (shared/specs/android-device-api.md,
section 6): applications written for the vendor's cloud or private server send through
textgate's phones and links with the base URL changed."""
