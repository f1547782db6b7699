"""The schema's output types, one module per kind of record. Each type holds what
`domain.visibility` lets its viewer read, and the viewer, to resolve nested fields by the same rules."""
