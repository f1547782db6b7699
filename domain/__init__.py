"""Stamm's domain: the primary-counsellor model and routing policy, free of I/O."""
