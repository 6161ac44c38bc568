"""Who a login is, and which company's invoices it may read.

The portal's list, detail and export calls take no "for which taxpayer" parameter: they answer
with the invoices of the account whose token asks (gdt-portal.md, "Login"; the sandbox does the
same). So a session reads one company's invoices, its account's own, and an import may only
file them under that company: the account's tax code must be the company's, exactly.

- A branch (`0123456789-001`) has its own portal account and logs in as itself: accepted.
- A parent's account (`0123456789`) is not its branch, nor a branch its parent: refused. Its
  token would list the parent's invoices, whatever the branch folder they were meant for.
- The profile's `tinInfoTT86.dsMst` may name more tax codes an account can act for, but no
  captured profile shows what it holds or that any endpoint takes such a code; until one does,
  it grants nothing here.

The account's tax code comes from the portal itself, learned once per login: the token's
subject (`sub`, the MST; no request), or, for a token without a readable one, the profile's `id`
(one request with the fresh token). It is kept with the token, so a reused token costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
import jwt

from gdtmesh import reasons
from gdtmesh.runtime.errors import ServiceError, error_info
from services.gdt_connector.portal import PortalClient, server_error, unavailable

# A portal username / tax code: 10 digits, a branch's 10-3 digits, or a 12-digit personal id.
TAX_CODE = re.compile(r"\d{10}(-\d{3})?|\d{12}")
PROFILE_PATH = "/security-taxpayer/profile"


@dataclass(frozen=True)
class LoggedIn:
    """A successful login: the portal token and the tax code of the account it belongs to."""

    token: str
    tax_code: str


def token_subject(token: str) -> str | None:
    """The tax code a portal token names as its subject, or None when it names none (the
    signature is not verified: the connector is not the token's audience)."""
    try:
        subject = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except (jwt.PyJWTError, AttributeError):
        return None
    return subject if isinstance(subject, str) and TAX_CODE.fullmatch(subject) else None


async def account_tax_code(client: PortalClient, account: str, token: str) -> str:
    """The tax code of the account a fresh `token` (obtained for username `account`) belongs
    to: its subject, or else the profile's `id` (one portal request)."""
    subject = token_subject(token)
    if subject is not None:
        return subject
    reply = await client.send("GET", PROFILE_PATH, account=account, token=token)
    if reply.status != 200:
        raise server_error(reply, "profile")
    profile = reply.json("profile")
    tax_code = profile.get("id") if isinstance(profile, dict) else None
    if not isinstance(tax_code, str) or not TAX_CODE.fullmatch(tax_code):
        raise unavailable(
            f"profile: the portal's answer names no tax code for account {account}",
            reasons.PORTAL_MALFORMED,
        )
    return tax_code


def check_company(account_tax_code: str, company: str) -> None:
    """Refuse (FAILED_PRECONDITION, ACCOUNT_NOT_COMPANY) a session of one account for another
    company's invoices; an empty `company` is not checked."""
    if not company or account_tax_code == company:
        return
    raise ServiceError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"portal account {account_tax_code} is not company {company}: its invoices would be "
        f"filed under {company}; store company {company}'s own portal username and password",
        [error_info(reasons.ACCOUNT_NOT_COMPANY, account=account_tax_code, company=company)],
    )
