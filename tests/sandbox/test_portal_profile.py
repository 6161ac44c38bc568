"""The sandbox's profile and tokens have the real portal's shape: the profile's keys, in order,
are the ones gdt-portal.md records from real answers (no captured profile body exists in
../shared/gdt-samples, so the documented key list is the reference, read in place), on both
bases; the JWT header is `{"alg":"HS512"}` alone and its payload keys come as `sub,type,exp,iat`."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from tests.conftest import SHARED
from tests.support.portal import PortalClient

pytestmark = pytest.mark.timeout(30)

Keys = list[tuple[str, Any]]  # (key, nested keys or None), in order


def documented_profile() -> Keys:
    """The profile's keys as gdt-portal.md lists them: `{username, id (= tax code), ...,
    tinInfoTT86{mst, mstUTien, dsMst, …}, ..., password:""}` (`…`: keys it does not name)."""
    path = SHARED / "docs" / "gdt-portal.md"
    if not path.exists():
        pytest.skip(f"portal notes not found at {path} (a clone without ../shared)")
    text = " ".join(path.read_text(encoding="utf-8").split())
    found = re.search(r"Profile: `(\{.*?\})`", text)
    assert found, "gdt-portal.md no longer describes the profile"
    keys, rest = _object(found.group(1))
    assert not rest
    return keys


def _object(text: str) -> tuple[Keys, str]:
    """Parse `{a, b (note), c[], d{...}, e:"", …}` into keys; returns them and the rest."""
    assert text[0] == "{"
    text = re.sub(r"\([^)]*\)", "", text[1:])  # "(= tax code)"
    keys: Keys = []
    while True:
        text = text.lstrip(" ,")
        if text.startswith("}"):
            return keys, text[1:]
        if text.startswith("…"):
            text = text[1:]
            continue
        name = re.match(r"[A-Za-z0-9]+", text)
        assert name, f"cannot read the profile's keys at {text[:30]!r}"
        text = text[name.end() :]
        nested = None
        if text.startswith("{"):
            nested, text = _object(text)
        text = re.sub(r'^(\[\]|:"")', "", text)
        keys.append((name.group(), nested))


def shape(value: dict[str, Any]) -> Keys:
    return [(key, shape(item) if isinstance(item, dict) else None) for key, item in value.items()]


def test_the_documented_key_list_reads_as_expected() -> None:
    keys = documented_profile()
    assert [key for key, _ in keys][:3] == ["username", "id", "authorities"]
    assert dict(keys)["tinInfoTT86"] == [("mst", None), ("mstUTien", None), ("dsMst", None)]
    assert keys[-1] == ("password", None)


@pytest.mark.parametrize("legacy", [False, True])
async def test_profile_has_the_real_keys_in_order(
    legacy: bool,
    portal: RunningSandbox,
    make_client: Callable[[str], PortalClient],
    company: Company,
) -> None:
    client = make_client(portal.url if legacy else portal.api_url)
    await client.login(company)
    response = await client.get("/security-taxpayer/profile")
    assert response.status == 200
    profile = await response.json()
    assert shape(profile) == documented_profile()
    # `id` is the tax code (not a surrogate key), as the username and tinInfoTT86.mst are.
    assert profile["id"] == profile["username"] == company.mst
    assert profile["tinInfoTT86"]["mst"] == company.mst
    assert profile["tinInfoTT86"]["dsMst"] == [company.mst]
    assert profile["name"] == profile["fullName"] == company.name
    assert profile["password"] == ""
    assert profile["accountNonLocked"] is True and profile["enabled"] is True
    assert isinstance(profile["authorities"], list) and profile["type"] == 2


async def test_each_account_sees_its_own_profile(
    make_client: Callable[[str], PortalClient], portal: RunningSandbox, companies: list[Company]
) -> None:
    for company in [c for c in companies if not c.locked][:2]:
        client = make_client(portal.api_url)
        await client.login(company)
        profile = await (await client.get("/security-taxpayer/profile")).json()
        assert profile["id"] == company.mst


def _segment(token: str, index: int) -> str:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


async def test_token_header_and_payload_order_are_the_portals(
    client: PortalClient, company: Company
) -> None:
    token = await client.login(company)
    assert _segment(token, 0) == '{"alg":"HS512"}'
    payload = json.loads(_segment(token, 1))
    assert list(payload) == ["sub", "type", "exp", "iat"]
    assert payload["sub"] == company.mst and payload["type"] == 2
