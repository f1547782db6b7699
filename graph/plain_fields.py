"""Plain leaf fields answered without graphql-core's per-field machinery (the overview's rows)."""

from __future__ import annotations

import weakref
from functools import cached_property
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
    is_non_null_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter


class PlainLeaf(NamedTuple):
    attribute: str
    type: GraphQLLeafType
    nullable: bool


_FOUND: weakref.WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], PlainLeaf]] = (
    weakref.WeakKeyDictionary()
)


def plain_leaves(schema: GraphQLSchema) -> dict[tuple[str, str], PlainLeaf]:
    """Per (type name, field name) of `schema`, the attribute behind each field that strawberry
    resolves by reading that attribute (no resolver, no extensions, no arguments) and whose type
    is a scalar or an enum."""
    found = _FOUND.get(schema)
    if found is None:
        found = _FOUND[schema] = {
            (t.name, name): leaf
            for t in schema.type_map.values()
            if isinstance(t, GraphQLObjectType)
            for name, field_def in t.fields.items()
            if (leaf := _plain_leaf(field_def)) is not None
        }
    return found


def _plain_leaf(field_def: GraphQLField) -> PlainLeaf | None:
    if field_def.args or not getattr(field_def.resolve, "_is_default", False):
        return None
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or not definition.is_basic_field:
        return None
    nullable = not is_non_null_type(field_def.type)
    leaf = field_def.type if nullable else field_def.type.of_type  # type: ignore[union-attr]
    return PlainLeaf(definition.python_name, leaf, nullable) if is_leaf_type(leaf) else None


class PlainLeafFields(StrawberryGraphQLCoreExecutionContext):
    """Reads a plain leaf field as an attribute and coerces it, as graphql-core would, without
    building its resolve info: most fields of a page's 50 rows are such fields, and the info is
    most of their cost (docs/benchmarks.md). Anything else, or anything that is not a ready
    value of the right kind (None in a non-null field, an awaitable, a value the type refuses),
    takes graphql-core's own path, which reports errors with their path as always."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        plain = None if node.arguments else self._plain_leaves.get((parent_type.name, node.name.value))
        if plain is not None:
            try:
                value = getattr(source, plain.attribute, Undefined)
            except Exception:  # a property that raises: graphql-core's path below reports it
                value = Undefined
            if value is None and plain.nullable:
                return None
            if (
                value is not None
                and value is not Undefined
                and not isinstance(value, Exception)
                and not self.is_awaitable(value)
            ):
                try:
                    coerced = plain.type.coerce_output_value(value)
                except Exception:  # graphql-core's path below reports it, with its path
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    @cached_property
    def _plain_leaves(self) -> dict[tuple[str, str], PlainLeaf]:
        """Empty when a resolve hook (a strawberry extension's `resolve`) must see every field."""
        manager = self.middleware_manager
        return {} if manager is not None and manager.middlewares else plain_leaves(self.schema)
