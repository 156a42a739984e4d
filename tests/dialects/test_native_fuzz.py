"""Whatever a client sends to the submit endpoint, the answer is 202 or a clean 4xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Running

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "to": st.one_of(_values, st.sampled_from(["+33612345678", ["+33612345678", "x"]])),
        "text": st.one_of(_values, st.text(max_size=200)),
        "from": _values,
        "schedule_at": st.one_of(_values, st.sampled_from(["2999-01-01T00:00:00Z", "yesterday"])),
        "reference": _values,
        "encoding": st.one_of(_values, st.sampled_from(["gsm7", "ucs2", "latin1"])),
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.one_of(_bodies, _values))
async def test_submit_never_fails_with_a_server_error(
    gateway: Running, auth: dict[str, str], body: object
) -> None:
    r = await gateway.client.post(
        "/v1/messages", content=json.dumps(body), headers={**auth, "Content-Type": "x/y"}
    )
    assert r.status_code in (202, 400), r.text
    payload = r.json()
    if r.status_code == 400:
        assert set(payload["error"]) == {"code", "message"}
    else:
        assert payload["accepted"] + payload["rejected"] == len(payload["messages"])
