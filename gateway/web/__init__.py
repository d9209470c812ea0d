"""The web layer: the Litestar application, authentication, core routes, the review UI, OpenAPI helpers
and problem details. The top of the stack below the CLI and the public plugin API.
"""
