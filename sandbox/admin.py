"""The `/_sandbox/` admin API: ground truth, evidence and run-time knobs (JSON, no auth).

- GET  /_sandbox/health                     -> {"status": "ok", "dataset": {...}}
- GET  /_sandbox/companies                  -> every company with its password and flows
- GET  /_sandbox/truth?company=&flow=&month=YYYY-MM -> {"invoices": [keys the portal lists now]}
  (&changed_since=ISO time adds "new": listed only now, "changed": status changed since)
- GET  /_sandbox/stats, POST /_sandbox/stats/reset
- GET  /_sandbox/config (+ read-only `dataset`), POST /_sandbox/config (partial;
  `storm_seconds: N` starts a storm)
- POST /_sandbox/revoke {"company": MST}    -> revoke that account's tokens (all when omitted)
- POST /_sandbox/lock {"company": MST, "locked": bool}
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from sandbox.dataset import FLOWS
from sandbox.portal import PORTAL, Portal
from sandbox.responses import json_response
from sandbox.settings import ConfigError, apply_patch

PREFIX = "/_sandbox"


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/health", health)
    app.router.add_get(f"{PREFIX}/companies", companies)
    app.router.add_get(f"{PREFIX}/truth", truth)
    app.router.add_get(f"{PREFIX}/stats", stats)
    app.router.add_post(f"{PREFIX}/stats/reset", reset_stats)
    app.router.add_get(f"{PREFIX}/config", get_config)
    app.router.add_post(f"{PREFIX}/config", post_config)
    app.router.add_post(f"{PREFIX}/revoke", revoke)
    app.router.add_post(f"{PREFIX}/lock", lock)


def _portal(request: web.Request) -> Portal:
    return request.app[PORTAL]


def _bad_request(message: str, status: int = 400) -> web.Response:
    return json_response({"error": message}, status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); ConfigError when it is not one."""
    if not await request.read():
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ConfigError("body must be valid JSON") from None
    if not isinstance(body, dict):
        raise ConfigError("body must be a JSON object")
    return body


def _dataset_view(state: Portal) -> dict[str, Any]:
    spec = dataclasses.asdict(state.dataset.spec)
    return {
        key: value.isoformat() if isinstance(value, date) else value for key, value in spec.items()
    }


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "dataset": _dataset_view(_portal(request))})


async def companies(request: web.Request) -> web.Response:
    state = _portal(request)
    listing = []
    for company in state.dataset.companies():
        entry = company.to_dict()
        entry["locked"] = state.is_locked(company.mst)
        listing.append(entry)
    return json_response(listing)


async def truth(request: web.Request) -> web.Response:
    state = _portal(request)
    company, flow, month = (request.query.get(name, "") for name in ("company", "flow", "month"))
    if state.dataset.company(company) is None:
        return _bad_request(f"unknown company {company!r}", 404)
    if flow not in FLOWS:
        return _bad_request(f"flow must be one of {', '.join(FLOWS)}, got {flow!r}")
    try:
        year, month_number = (int(part) for part in month.split("-"))
        date(year, month_number, 1)
    except ValueError:
        return _bad_request(f"month must be YYYY-MM, got {month!r}")
    now = state.now()
    keys = state.dataset.truth(company, flow, year, month_number, now)
    body = {
        "company": company,
        "flow": flow,
        "month": f"{year:04d}-{month_number:02d}",
        "as_of": now.isoformat(timespec="seconds"),
        "count": len(keys),
        "invoices": keys,
    }
    if since_text := request.query.get("changed_since"):
        try:
            since = datetime.fromisoformat(since_text)
        except ValueError:
            return _bad_request(f"changed_since must be an ISO 8601 time, got {since_text!r}")
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        new, changed = state.dataset.changes(company, flow, year, month_number, since, now)
        body |= {
            "changed_since": since.isoformat(timespec="seconds"),
            "new": new,
            "changed": changed,
        }
    return json_response(body)


async def stats(request: web.Request) -> web.Response:
    return json_response(_portal(request).stats.to_dict())


async def reset_stats(request: web.Request) -> web.Response:
    state = _portal(request)
    state.stats.reset()
    return json_response(state.stats.to_dict())


def _config_view(state: Portal) -> dict[str, Any]:
    view = state.config.to_dict()
    view["storm_remaining_s"] = round(state.limiter.storm_remaining(time.monotonic()), 3)
    view["dataset"] = _dataset_view(state)  # read-only: fixed at start
    return view


async def get_config(request: web.Request) -> web.Response:
    return json_response(_config_view(_portal(request)))


async def post_config(request: web.Request) -> web.Response:
    state = _portal(request)
    try:
        patch = await _json_object(request)
        # Read-only parts of the GET view are tolerated so that it can be posted back.
        patch.pop("storm_remaining_s", None)
        if patch.pop("dataset", _dataset_view(state)) != _dataset_view(state):
            raise ConfigError("dataset: read-only (set when the sandbox starts)")
        storm = patch.pop("storm_seconds", None)
        if storm is not None and (
            isinstance(storm, bool) or not isinstance(storm, int | float) or not 0 <= storm < 1e6
        ):
            raise ConfigError(f"storm_seconds: must be a number of seconds >= 0, got {storm!r}")
        state.config = apply_patch(state.config, patch)
    except ConfigError as error:
        return _bad_request(str(error))
    if storm is not None:
        state.limiter.start_storm(float(storm), time.monotonic())
    return json_response(_config_view(state))


async def revoke(request: web.Request) -> web.Response:
    state = _portal(request)
    try:
        company = (await _json_object(request)).get("company")
    except ConfigError as error:
        return _bad_request(str(error))
    if company is not None and state.dataset.company(company) is None:
        return _bad_request(f"unknown company {company!r}", 404)
    return json_response({"company": company, "revoked": state.tokens.revoke(company)})


async def lock(request: web.Request) -> web.Response:
    state = _portal(request)
    try:
        body = await _json_object(request)
    except ConfigError as error:
        return _bad_request(str(error))
    company, locked = body.get("company"), body.get("locked", True)
    if not isinstance(company, str) or state.dataset.company(company) is None:
        return _bad_request(f"unknown company {company!r}", 404)
    if not isinstance(locked, bool):
        return _bad_request(f"locked: must be true or false, got {locked!r}")
    state.set_locked(company, locked)
    return json_response({"company": company, "locked": locked})
