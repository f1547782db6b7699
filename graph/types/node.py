"""The Node interface: every record `node(id)` finds."""

import strawberry


@strawberry.interface
class Node:
    id: strawberry.ID
