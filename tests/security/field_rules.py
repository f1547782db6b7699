"""Who reads which field (routing.md, "Who sees what"), for every field of every object type a query,
mutation or subscription can reach, as data; and the tools to check a response against it.

The rules:
- ANYONE: whoever reaches the object reads the field (reaching it is checked where it is named).
- STAFF: null for clients (a counsellor's personal data and loads, the staff's notes, the routing trace).
- KEPT: kept in a redacted client (id, client code, display name, the states that cannot be null).
- SEEN: null, or empty for a list, in a redacted client: only who may see the client reads it.
- VISIBLE: a nullable link to a client, null for whoever may not see that client.
- FOLDER: the client folder (notes, monitoring): null for clients, and in a redacted client.

`reachable_fields()` walks the served schema: a field or type without a rule here fails the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema, get_named_type

from graph.hardening import ApiLimits
from graph.schema import build_schema, schema

ANYONE = "anyone"
STAFF = "staff"
KEPT = "kept"
SEEN = "seen"
VISIBLE = "visible"
FOLDER = "folder"


def rules(**fields_by_rule: str) -> dict[str, str]:
    """{field: rule} from rule=space-separated field names (keywords are the rules above)."""
    found: dict[str, str] = {}
    for rule, names in fields_by_rule.items():
        for name in names.split():
            found[name] = rule
    return found


CONNECTION = rules(anyone="edges pageInfo totalCount")
EDGE = rules(anyone="cursor node")

FIELD_RULES: dict[str, dict[str, str]] = {
    "Counsellor": rules(
        anyone="id displayName onlineStatus absent absenceMessage",
        staff="email firstName lastName role active chatCapacity activeChatCount mailAvailability "
        "mailResources openMailCount freeMailResources onlyOwnClients primaryClients "
        "primaryClientCount invitationStatus lastLoginAt",
    ),
    "Client": rules(
        kept="id clientCode displayName invitationStatus accountStatus createdAt",
        seen="email firstName lastName phone language lastLoginAt primaryCounsellor "
        "primaryCounsellorHistory requests openRequestCount lastRequestAt deletedAt erasureDueAt",
        folder="notes monitoringEntries",
        # Null in a redacted client too (tests/security/test_documents_visibility.py).
        staff="documents",
    ),
    # Only staff who see the client reach a document (Client.documents, node, the mutations).
    "Document": rules(anyone="id client fileName contentType sizeBytes uploadedBy uploadedAt downloadUrl"),
    "DocumentConnection": CONNECTION,
    "DocumentEdge": EDGE,
    "PrimaryCounsellorChange": rules(
        anyone="id client previousCounsellor newCounsellor source changedAt", staff="changedBy reason"
    ),
    "Request": rules(
        visible="client",
        anyone="id channel status subject message counsellor routingReason createdAt assignedAt closedAt "
        "acceptedAt updatedAt waitingForPrimaryUntil queuePosition estimatedWaitSeconds",
        staff="routingTrace",
    ),
    "RoutingStep": rules(anyone="at counsellor outcome detail"),
    "ClientConnection": CONNECTION,
    "ClientEdge": EDGE,
    "RequestConnection": CONNECTION,
    "RequestEdge": EDGE,
    "CounsellorConnection": CONNECTION,
    "CounsellorEdge": EDGE,
    "AuditEntryConnection": CONNECTION,
    "AuditEntryEdge": EDGE,
    "PageInfo": rules(anyone="hasNextPage hasPreviousPage startCursor endCursor"),
    "Viewer": rules(anyone="role counsellor client"),
    "Session": rules(anyone="token expiresAt me"),
    "Availability": rules(anyone="chatAvailable mailAvailable primaryCounsellor queuedRequest"),
    "CounsellorPresence": rules(
        anyone="counsellorId displayName onlineStatus chatAvailable mailAvailable absent absenceMessage"
    ),
    "Settings": rules(
        anyone="fallbackCounsellor primaryChatWaitSeconds presenceTimeoutSeconds acceptTimeoutSeconds"
    ),
    "AuditEntry": rules(anyone="at actor action subjectId detail"),
    # The client folder: reached only through a client the viewer sees, or by id (staff who see it).
    "Note": rules(anyone="id client author text createdAt editedAt"),
    "NoteConnection": CONNECTION,
    "NoteEdge": EDGE,
    "MonitoringTopic": rules(anyone="id name parent children active"),
    "MonitoringEntry": rules(
        anyone="id client counsellor contactAt channel durationMinutes topics outcome note createdAt"
    ),
    "MonitoringEntryConnection": CONNECTION,
    "MonitoringEntryEdge": EDGE,
    "MonitoringStatisticsRow": rules(anyone="month channel topic counsellor contacts suppressed"),
}

SERVED: GraphQLSchema = schema._schema
# The deep selections below are far larger than a client may send: the same types, without limits.
UNLIMITED = build_schema(ApiLimits(max_depth=100, max_tokens=1_000_000, max_aliases=1_000))


def _object_types(named: Any) -> Iterator[GraphQLObjectType]:
    if isinstance(named, GraphQLObjectType):
        yield named
    elif isinstance(named, GraphQLInterfaceType):
        yield from SERVED.get_possible_types(named)


def reachable_fields() -> set[tuple[str, str]]:
    """(type, field) of every object type reachable from the query, mutation and subscription roots."""
    roots = [SERVED.query_type, SERVED.mutation_type, SERVED.subscription_type]
    todo = [
        t
        for root in roots
        if root
        for f in root.fields.values()
        for t in _object_types(get_named_type(f.type))
    ]
    seen: set[str] = set()
    found: set[tuple[str, str]] = set()
    while todo:
        current = todo.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for name, definition in current.fields.items():
            found.add((current.name, name))
            todo.extend(_object_types(get_named_type(definition.type)))
    return found


def selection(type_name: str, path: tuple[str, ...] = ()) -> str:
    """Every field of a type and, recursively, of the types it reaches, each type at most once on a
    path (so the selection ends); with `__typename`, so a response can be checked against the rules."""
    found = SERVED.get_type(type_name)
    assert isinstance(found, GraphQLObjectType | GraphQLInterfaceType)
    parts = ["__typename"]
    for name, definition in found.fields.items():
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            parts.append(name)
        elif named.name not in path:
            parts.append(f"{name} {{ {selection(named.name, (*path, type_name))} }}")
    return " ".join(parts)


def objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every object of a response (those selected with `__typename`), at every depth."""
    if isinstance(value, list):
        for item in value:
            yield from objects(item)
    elif isinstance(value, dict):
        if "__typename" in value:
            yield value
        for item in value.values():
            yield from objects(item)


def is_empty(value: Any) -> bool:
    """Null, an empty list, an empty connection, or a count of nothing (a non-null count)."""
    if isinstance(value, dict) and "edges" in value:
        return value["edges"] == [] and value.get("totalCount", 0) == 0
    return value is None or value == [] or (type(value) is int and value == 0)


def fields_with(type_name: str, rule: str) -> set[str]:
    return {name for name, found in FIELD_RULES[type_name].items() if found == rule}
