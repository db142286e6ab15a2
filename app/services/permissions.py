"""Who may do what: the roles of CONTRACT.md section 3 as one table, for the dashboard and the API.

An area is a part of the product (lists, campaigns, providers, ...). Reading is GET, HEAD or
OPTIONS; every other method writes. ``allowed`` answers for a role, an area and a method. An
area the table does not name may be read by every role and changed by admins only, so a page
added without a row here is safe before anyone thinks about it.

- admin: everything, including users, settings, providers and webhooks.
- marketer: lists, subscribers, imports, campaigns, templates, suppressions (marketers clean
  their lists: adding and lifting suppressions is their daily work), transactional sends and
  their own API tokens; looks at providers, webhooks and status without changing them.
- support: reads what a marketer reads and changes nothing: no status change, no erase, no
  API token (a token would be a standing credential; one made with the CLI reads only).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.models import Role

ALL = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.MARKETER})
ADMINS = frozenset({Role.ADMIN})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Rule:
    read: frozenset[Role]
    write: frozenset[Role]


POLICY: dict[str, Rule] = {
    "home": Rule(ALL, ADMINS),
    "search": Rule(ALL, ADMINS),
    "lists": Rule(ALL, STAFF),  # lists, their subscribers, imports and exports
    "audience": Rule(ALL, STAFF),  # subscribers across lists: status, GDPR export and erase
    "campaigns": Rule(ALL, STAFF),
    "templates": Rule(ALL, STAFF),
    "emails": Rule(ALL, STAFF),  # the send log; its writes are transactional sends
    "suppressions": Rule(ALL, STAFF),
    "tokens": Rule(ALL, STAFF),
    "status": Rule(ALL, ADMINS),
    "providers": Rule(ALL, ADMINS),
    "webhooks": Rule(ALL, ADMINS),
    "users": Rule(ADMINS, ADMINS),
    "settings": Rule(ADMINS, ADMINS),
    "outbox": Rule(ADMINS, ADMINS),  # the development catcher holds every account's mail
    "account": Rule(ALL, ALL),  # one's own password, two-factor login and sessions
}
DEFAULT = Rule(ALL, ADMINS)


def rule(area: str) -> Rule:
    return POLICY.get(area, DEFAULT)


def is_write(method: str) -> bool:
    return method.upper() not in READ_METHODS


def allowed(role: Role, area: str, method: str) -> bool:
    """Whether ``role`` may send ``method`` to ``area``."""
    granted = rule(area)
    return Role(role) in (granted.write if is_write(method) else granted.read)


def refusal(role: Role, area: str, method: str) -> str:
    """Why ``allowed`` said no, for the error page or the API's error message."""
    verb = "change" if is_write(method) else "see"
    return f"your role ({Role(role).value}) may not {verb} {area}; ask an admin of your account"
