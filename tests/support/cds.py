"""CDS Hooks 2.0 in tests: the JSON Schema written from the specification, and client JWTs signed with
keys a test generates (or the sandbox's own test key)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from jsonschema import Draft202012Validator, FormatChecker

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "cds-hooks" / "cds-hooks-2.0.schema.json").read_text())


def cds_errors(kind: str, document: Any) -> list[str]:
    """Every violation of the CDS Hooks 2.0 schema by ``document``, a ``discovery`` or ``response``."""
    validator = Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{kind}"}, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def cds_jwt(key: Any, *, iss: str, aud: str, alg: str = "ES384", header: dict | None = None, **claims: Any) -> str:
    """A CDS client's bearer JWT as the spec describes it (``typ`` JWT, ``kid``, ``iat``/``exp`` 5 min, a fresh ``jti``)."""
    now = int(time.time())
    body = {"iss": iss, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({"alg": alg, "typ": "JWT", **({"kid": key.kid} if key.kid else {}), **(header or {})}, body, key, algorithms=[alg])
