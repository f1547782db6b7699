"""What the tests and the benchmark share: server processes, subscription feeds, waiting for a state.

bench/ imports it too (`python -m bench` runs from the repository root, where `tests` is a package).
"""
