"""A gateway app under test with the settings an operator would write, driven over HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
from litestar.testing import TestClient

from gateway.storage.engine import create_engine
from gateway.storage.tokens import ROLES, TokenStore


class Gateway:
    def __init__(self, client: TestClient, tokens: dict[str, str], role: str = "integrator") -> None:
        self.client = client
        self.tokens = tokens
        self.headers = {"Authorization": f"Bearer {tokens[role]}"}

    def submit(self, body: dict, **headers: str) -> httpx.Response:
        return self.client.post("/v1/assessments", json=body, headers={**self.headers, **headers})

    def deliveries(self, assessment_id: str) -> list[dict]:
        response = self.client.get("/v1/deliveries", params={"assessment_id": assessment_id}, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def wait(self, assessment_id: str, status: str, timeout_s: float = 30.0, destination: str | None = None) -> dict:
        """The assessment's delivery (to ``destination``) once it reaches ``status``, with its attempt log."""
        deadline = time.monotonic() + timeout_s
        while True:
            items = [d for d in self.deliveries(assessment_id) if destination in (None, d["destination"])]
            if items and items[0]["status"] == status:
                return self.client.get(f"/v1/deliveries/{items[0]['id']}", headers=self.headers).json()
            assert time.monotonic() < deadline, f"still {items} after {timeout_s} s"
            time.sleep(0.2)


def tokens_for(database_url: str, tenant: str) -> dict[str, dict[str, str]]:
    async def make():
        engine = create_engine(database_url)
        try:
            store = TokenStore(engine)
            return {role: {"Authorization": f"Bearer {(await store.create(f'{tenant}-{role}', role, tenant))[1]}"} for role in ROLES}
        finally:
            await engine.dispose()

    return asyncio.run(make())
