"""Schemathesis hooks for tests/test_schemathesis.py (loaded by SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    # The run's own token is never revoked: every later case would test only the 401.
    protected = os.environ["INBOX_FUZZ_TOKEN_ID"]
    if case.operation.path == "/api/tokens/{id}" and str(case.path_parameters.get("id")) == protected:
        case.path_parameters["id"] = int(protected) + 1
