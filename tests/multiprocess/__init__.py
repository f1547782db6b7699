"""Scale-out tests: two `python -m graph.main` processes on one PostgreSQL database and one Redis."""
