"""The SMSGate app's device-facing API (its "private server" mode): phones as modems.

Follows the shared spec ``android-device-api.md``, gathered from the app's and the vendor
server's sources; section numbers in comments refer to it.
"""
