"""LabsMobile MailSMS: email to ``<number>@api.labsmobile.com`` becomes SMS (seed 000)."""
