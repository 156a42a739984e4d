"""LabsMobile: MailSMS (email to ``<number>@api.labsmobile.com`` becomes SMS, seed 000), its
JSON API and its http/GET interface."""
