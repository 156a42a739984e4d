"""Options of the HTTP upstream connectors that cannot run stop the start with one line per
problem, naming the key, without showing a credential."""

from __future__ import annotations

from typing import Any

import pytest

from textgate.config import Settings
from textgate.connectors.kinds import KINDS
from textgate.errors import ConfigError
from textgate.startup import check_settings

KEY = "sk-live-7f3a9c1e5b2d4a6f"
GOOD: dict[str, Any] = {"url": "https://api.example.com/send", "id_path": "id"}
MAILUP: dict[str, Any] = {"account_id": 59484, "list_id": 1, "list_guid": "aafa5375"}

CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "a placeholder that does not exist": (
        "generic_http",
        {**GOOD, "body": {"to": "{recipent}"}},
        'connectors[0].options.body = {"to": "{recipent}"}: unknown placeholder {recipent}; '
        "allowed: {recipient}, {recipient_digits}, {sender}, {text}, {message_id}, "
        "{encoding}, {segments}, {valid_until}, {validity_seconds}, {callback_url}, {api_key}, "
        "{username}, {password}",
    ),
    "a lone brace": (
        "generic_http",
        {**GOOD, "url": "https://api.example.com/send?x={"},
        "connectors[0].options.url = 'https://api.example.com/send?x={': not a template: "
        "Single '{' encountered in format string (write {{ for a literal brace)",
    ),
    "a format spec": (
        "generic_http",
        {**GOOD, "headers": {"X-Text": "{text!r}"}},
        'connectors[0].options.headers = {"X-Text": "{text!r}"}: '
        "write placeholders as {name}, without index, conversion or format",
    ),
    "no way to read the id": (
        "generic_http",
        {"url": GOOD["url"], "api_key": KEY},
        "connectors[0].options: set one of id_path and id_regex: how to read the provider's id",
    ),
    "a regular expression without a group": (
        "generic_http",
        {"url": GOOD["url"], "id_regex": "id=\\w+"},
        "connectors[0].options.id_regex = 'id=\\\\w+': "
        "the expression needs a group around the id, e.g. id=(\\w+)",
    ),
    "a credential the templates use but nobody set": (
        "generic_http",
        {**GOOD, "headers": {"Authorization": "Bearer {api_key}"}},
        "connectors[0].options: {api_key} is used: set the api_key option",
    ),
    "a status word mapped to no status": (
        "generic_http",
        {
            **GOOD,
            "status_callback": {
                "id_field": "id",
                "status_field": "state",
                "statuses": {"DELIVRD": "delivred"},
            },
        },
        "connectors[0].options.status_callback.statuses.DELIVRD = 'delivred': should be "
        "'sent', 'buffered', 'delivered', 'undelivered', 'expired' or 'failed'",
    ),
    "not an http URL": (
        "generic_http",
        {**GOOD, "url": "ftp://api.example.com/send"},
        "connectors[0].options.url = 'ftp://api.example.com/send': "
        "allowed: an http:// or https:// URL template",
    ),
    "a typo'd option": (
        "generic_http",
        {**GOOD, "id_pth": "id"},
        "connectors[0].options.id_pth is not an option of generic_http connectors; "
        "did you mean id_path?",
    ),
    "smsend without its password": (
        "smsend",
        {"username": "acme"},
        "connectors[0].options.password is required",
    ),
    "a credential of the wrong type is not shown": (
        "smsend",
        {"username": "acme", "password": ["hunter2-secret"]},
        "connectors[0].options.password = '***': should be a valid string",
    ),
    "a callback token too short to be secret": (
        "smsend",
        {"username": "acme", "password": "pw", "callback_token": "abc"},
        "connectors[0].options.callback_token = '***': "
        "allowed: at least 16 characters (unguessable)",
    ),
    "mailup with neither a ListSecret nor a login": (
        "mailup",
        MAILUP,
        "connectors[0].options: set list_secret, or username and password to read it with",
    ),
    "mailup with a login but no password": (
        "mailup",
        {**MAILUP, "username": "m59484"},
        "connectors[0].options: set both username and password (the account's login)",
    ),
    "smsmobileapi receiving without the phone's number": (
        "smsmobileapi",
        {"api_key": KEY, "inbound": "poll"},
        "connectors[0].options: inbound is on: set phone_number "
        "(the number your phone receives on)",
    ),
    "smsmobileapi with a SIM port it does not have": (
        "smsmobileapi",
        {"api_key": KEY, "port": 3},
        "connectors[0].options.port = 3: should be 1 or 2",
    ),
    "a Twilio Account SID that is not one": (
        "twilio",
        {"account_sid": "AC123", "auth_token": KEY},
        "connectors[0].options.account_sid = 'AC123': "
        "allowed: the Account SID, AC followed by 32 hexadecimal digits",
    ),
    "a Twilio API key without its secret": (
        "twilio",
        {"account_sid": "AC" + "0" * 32, "auth_token": KEY, "api_key_sid": "SK" + "1" * 32},
        "connectors[0].options: set both api_key_sid and api_key_secret, or neither",
    ),
    "Twilio without the Auth Token that signs its webhooks": (
        "twilio",
        {"account_sid": "AC" + "0" * 32},
        "connectors[0].options.auth_token is required",
    ),
    "a Vonage signature method Vonage does not offer": (
        "vonage",
        {"api_key": "abcd1234", "api_secret": KEY, "signature_method": "sha3"},
        "connectors[0].options.signature_method = 'sha3': "
        "should be 'md5hash', 'md5', 'sha1', 'sha256' or 'sha512'",
    ),
    "a public base URL without its scheme": (
        "vonage",
        {"api_key": "abcd1234", "api_secret": KEY, "callback_base_url": "sms.example.com"},
        "connectors[0].options.callback_base_url = 'sms.example.com': "
        "allowed: an http:// or https:// URL",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_option_is_one_line(case: str) -> None:
    kind, options, line = CASES[case]
    settings = Settings(connectors=[{"name": "up", "type": kind, "options": options}])
    with pytest.raises(ConfigError) as caught:
        check_settings(settings)
    assert caught.value.problems == (line,)
    assert KEY not in line and "hunter2" not in line


def test_an_unknown_type_lists_every_registered_one() -> None:
    settings = Settings(connectors=[{"name": "x", "type": "plivo"}])
    with pytest.raises(ConfigError) as caught:
        check_settings(settings)
    assert caught.value.problems == (
        "connectors[0].type = 'plivo': allowed: one of 'simulator', 'smpp', 'android', "
        "'smsend', 'generic_http', 'mailup', 'smsmobileapi', 'twilio', 'vonage'",
    )
    assert list(KINDS) == [
        "simulator",
        "smpp",
        "android",
        "smsend",
        "generic_http",
        "mailup",
        "smsmobileapi",
        "twilio",
        "vonage",
    ]


def test_options_do_not_show_credentials() -> None:
    """The checked options' repr (what a log line or a traceback would show) masks them."""
    settings = Settings(
        connectors=[
            {
                "name": "up",
                "type": "generic_http",
                "options": {**GOOD, "api_key": KEY, "password": "hunter2-secret"},
            }
        ]
    )
    check_settings(settings)
    options = KINDS["generic_http"].parse(settings.connectors[0].options, "k", "up")
    assert KEY not in repr(options) and "hunter2" not in repr(options)
    assert KEY not in str(options)
