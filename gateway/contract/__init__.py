"""The plugin contract: domain types and errors, the protocols plugin objects satisfy, the hook
specifications, and the plugin manager that calls them. Imports only ``gateway.ops``.
"""
