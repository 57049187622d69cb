"""Schemathesis against the served OpenAPI document, on a live server: no 5xx, no lies.

Each operation gets valid and invalid requests (bodies, path parameters) with the backend's API
key. Every answer must be a documented status with a body matching the document: the ``default``
error response is the JSON error shape, so a crash or a non-JSON error fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import API_KEY, ServerProcess

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(module_servers: Callable[..., ServerProcess]) -> ServerProcess:
    return module_servers()


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: ServerProcess) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json")
    schema.config.update(base_url=fuzzed_server.url, request_timeout=10)
    schema.config.generation.update(allow_x00=False)
    return schema


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _fuzz(operation: APIOperation, mode: GenerationMode, http: requests.Session) -> None:
    """Random requests of one kind (valid or invalid) to one operation, each checked."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=5,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            session=http, headers={"authorization": f"Bearer {API_KEY}"}, checks=CHECKS
        )

    check()


# Driven through Hypothesis directly rather than schemathesis' pytest plugin, whose use of
# pytest internals breaks with new pytest releases (``Function._nodeid`` in pytest 9.2).
def test_api_answers_any_request_as_documented(
    api_schema: schemathesis.BaseSchema, http: requests.Session
) -> None:
    """Any request to any documented operation gets a documented, non-5xx answer."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20  # the whole API, not an empty or unreadable document
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, http)
            except Unsatisfiable:
                # an operation without parameters or body has no invalid request to make
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:
                exc.add_note(f"operation: {operation.label} ({mode.value} cases)")
                raise


def test_server_lives_after_the_api_fuzz(
    fuzzed_server: ServerProcess, api_schema: schemathesis.BaseSchema
) -> None:
    """After the fuzzing the process is still up and ready."""
    assert fuzzed_server.proc is not None and fuzzed_server.proc.poll() is None
    assert httpx.get(fuzzed_server.url + "/readyz", timeout=5).status_code == 200
