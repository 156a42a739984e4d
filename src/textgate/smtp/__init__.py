"""The email-to-SMS server: an SMTP server (aiosmtpd) inside the gateway's event loop that
hands each recipient address to the enabled email dialect claiming its domain
(``dialects.mail.AddressHandler``)."""
