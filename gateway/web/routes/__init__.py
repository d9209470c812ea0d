"""Core HTTP routes; plugins add theirs through the ``register_routes`` hook."""
