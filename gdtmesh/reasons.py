"""The `google.rpc.ErrorInfo` reasons (domain `gdtmesh`) the services return, one owner for each.

A caller tells cases apart by reason, never by parsing messages. Each reason is documented in
the proto of the service that returns it; tests/test_reasons.py keeps the two in step and keeps
string literals out of the services.
"""

from __future__ import annotations

# gdtmesh.gdt_connector.v1.GdtConnectorService
SESSION_EXPIRED = "SESSION_EXPIRED"  # UNAUTHENTICATED: the session is gone; open a new one
LOGIN_REFUSED = "LOGIN_REFUSED"  # UNAUTHENTICATED: the portal refused the username or password
ACCOUNT_LOCKED = "ACCOUNT_LOCKED"  # PERMISSION_DENIED: the portal has locked the account
# FAILED_PRECONDITION: the account the portal logged in is not the company asked for
ACCOUNT_NOT_COMPANY = "ACCOUNT_NOT_COMPANY"
CAPTCHA_FAILED = "CAPTCHA_FAILED"  # UNAVAILABLE: no captcha solved within the attempts
CAPTCHA_UNSUPPORTED = "CAPTCHA_UNSUPPORTED"  # UNAVAILABLE: a captcha not in SVG (a PNG)
LOGIN_BUSY = "LOGIN_BUSY"  # UNAVAILABLE: another replica is logging this account in
SESSION_STORE_UNAVAILABLE = "SESSION_STORE_UNAVAILABLE"  # UNAVAILABLE: Redis is unreachable
INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"  # NOT_FOUND: the portal has no such invoice
RATE_LIMITED = "RATE_LIMITED"  # RESOURCE_EXHAUSTED + RetryInfo: wait for the portal budget
PORTAL_BACKOFF = "PORTAL_BACKOFF"  # RESOURCE_EXHAUSTED + RetryInfo: the account is backing off
PORTAL_THROTTLED = "PORTAL_THROTTLED"  # RESOURCE_EXHAUSTED + RetryInfo: the portal answered 429
PORTAL_TIMEOUT = "PORTAL_TIMEOUT"  # DEADLINE_EXCEEDED: the portal did not answer in time
PORTAL_UNAVAILABLE = "PORTAL_UNAVAILABLE"  # UNAVAILABLE: no connection, or HTTP 5xx
PORTAL_HTML = "PORTAL_HTML"  # UNAVAILABLE: an HTML page where JSON was due (maintenance)
PORTAL_FIREWALL = "PORTAL_FIREWALL"  # UNAVAILABLE: the portal's firewall blocked the request
PORTAL_TOKEN_REFUSED = "PORTAL_TOKEN_REFUSED"  # UNAVAILABLE: a fresh token was refused too
PORTAL_ERROR = "PORTAL_ERROR"  # UNAVAILABLE: the portal reported a server-side error
PORTAL_REFUSED = "PORTAL_REFUSED"  # FAILED_PRECONDITION: the portal refused the request itself
PORTAL_MALFORMED = "PORTAL_MALFORMED"  # DATA_LOSS / UNAVAILABLE: an answer this code cannot read
PORTAL_STATE_LOOP = "PORTAL_STATE_LOOP"  # DATA_LOSS: the portal's `state` cursor went round

GDT_CONNECTOR_REASONS = (
    SESSION_EXPIRED,
    LOGIN_REFUSED,
    ACCOUNT_LOCKED,
    ACCOUNT_NOT_COMPANY,
    CAPTCHA_FAILED,
    CAPTCHA_UNSUPPORTED,
    LOGIN_BUSY,
    SESSION_STORE_UNAVAILABLE,
    INVOICE_NOT_FOUND,
    RATE_LIMITED,
    PORTAL_BACKOFF,
    PORTAL_THROTTLED,
    PORTAL_TIMEOUT,
    PORTAL_UNAVAILABLE,
    PORTAL_HTML,
    PORTAL_FIREWALL,
    PORTAL_TOKEN_REFUSED,
    PORTAL_ERROR,
    PORTAL_REFUSED,
    PORTAL_MALFORMED,
    PORTAL_STATE_LOOP,
)

# gdtmesh.gateway.v1.TaskService
OVERLOADED = "OVERLOADED"  # RESOURCE_EXHAUSTED + RetryInfo: the gateway sheds load

GATEWAY_REASONS = (OVERLOADED,)
# gdtmesh.storage.v1.StorageService returns no ErrorInfo: its refusals are BadRequest details.
STORAGE_REASONS: tuple[str, ...] = ()
