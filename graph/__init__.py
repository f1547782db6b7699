"""The GraphQL API: strawberry types, thin resolvers, auth, and the Starlette app."""
