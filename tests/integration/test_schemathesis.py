"""A bounded schemathesis run against the gateway's own OpenAPI document, through a real uvicorn server:
no generated request may get a 5xx, and documented responses must match their schemas."""

from __future__ import annotations

import threading
import time

import pytest
import schemathesis
import uvicorn
from conftest import create_tokens
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from support.ports import free_port

from gateway.ops.settings import Settings
from gateway.web.app import create_app

MAX_EXAMPLES = 6
"""Per operation: with ~30 operations this stays well under two minutes on two cores."""

schemathesis.serializer.alias("application/x-pain-keypoints", "application/octet-stream")  # the binary keypoint form: bytes as sent

EXCLUDED: list[dict] = []
"""Operations left out until a known bug in a file being rewritten elsewhere is fixed (see each reason)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory, plugins):
    from gateway.storage.migrate import upgrade

    root = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{root}/gateway.db"
    upgrade(url)
    settings_ = Settings(database_url=url, data_dir=str(root / "data"), max_upload_mb=2)
    token = create_tokens(url)["integrator"]
    server = uvicorn.Server(uvicorn.Config(create_app(settings_, plugins), host="127.0.0.1", port=free_port(), log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}", {"Authorization": f"Bearer {token}"}
    server.should_exit = True
    thread.join(30)


def test_no_server_errors_and_documented_responses_conform(server):
    """Each operation gets ``MAX_EXAMPLES`` generated cases, valid and invalid (schemathesis' pytest plugin does not load
    under pytest 9, so hypothesis drives each operation's strategy here); every failure is collected."""
    base, auth = server
    api = schemathesis.openapi.from_url(f"{base}/schema/openapi.json", headers=auth)
    for rule in EXCLUDED:
        api = api.exclude(**{k: v for k, v in rule.items() if k != "why"})
    failures, cases, operations = [], [], 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case):
            cases.append(case.operation.label)
            case.call_and_validate(headers=auth, checks=[not_a_server_error, response_schema_conformance], timeout=30)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    print(f"schemathesis: {operations} operations, {len(cases)} cases, {len(failures)} failing operations")
    assert operations > 0 and not failures, "\n\n".join(failures)
