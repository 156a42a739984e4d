"""The email-to-SMS interfaces: an SMTP server (aiosmtpd) inside the gateway's event loop
that turns mail to LabsMobile MailSMS (seed 000) and ASPSMS (seed 004) addresses into SMS."""
