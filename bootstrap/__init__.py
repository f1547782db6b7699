"""The composition root of Stamm: settings (settings.py, config.py), wiring (wiring.py), migrate CLI."""
