"""The service's OpenAPI document (``GET /docs.json``): BentoML's, completed.

BentoML 1.4 builds the document from the API's pydantic models
(``_bentoml_sdk.service.openapi.generate_spec``) but cannot be told of other
answers: every API gets 200, 400, 404 and 500 with BentoML's own error bodies,
the request body's top level is flattened (``as_of`` loses its ``null``) and the
models' nullable fields are written the OpenAPI 3.1 way (``{"type": "null"}``) in
a 3.0 document. :func:`complete_document` rewrites the ``POST /score`` operation
from the request, response and error models of :mod:`.schemas`, with the running
service's limits, its API-key schemes and the answers the guard gives (400, 401,
413, 422); :class:`OpenAPIDocument`, an ASGI middleware that ``bento/service.py``
adds, answers ``GET /docs.json`` with it. Every other route of BentoML's document
(health, metrics) is kept as BentoML writes it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from mqlscore.config import ServiceConfig
from mqlscore.serving.schemas import ErrorBody, ScoreRequest, ScoreResponse

DOCS_PATH = "/docs.json"
SCORE_PATH = "/score"
REF = "#/components/schemas/{model}"
# The answers of POST /score besides 200, in the service's one error shape.
ERROR_ANSWERS = {
    "400": "The body is not JSON, or does not match the schema (wrong types, a missing lead_id or created_at, an "
           "empty leads list, an unknown top-level key, reasons not a boolean).",
    "401": "No API key, a wrong one, or another scheme than Bearer (header WWW-Authenticate: Bearer).",
    "413": "The body is larger than max_body_bytes.",
    "422": "The data contract (an unparsable or out-of-range timestamp, an empty or duplicate lead_id, a negative or "
           "fractional count, no lead left to score) or the service's limits (leads, activities, fields outside "
           "the contract, field names, text length; an extra field that is an object or a list).",
}


def complete_document(document: dict[str, Any], config: ServiceConfig) -> dict[str, Any]:
    """BentoML's OpenAPI document (``Service.openapi_spec.asdict()``) with ``POST /score``
    described from the models of :mod:`.schemas` and ``config``'s limits (a new dict)."""
    doc = copy.deepcopy(document)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in [n for n in schemas if n.endswith("IODescriptor")]:
        del schemas[name]  # BentoML's flattened copies of the request and response models
    schemas.update(_model_schemas(config))
    schemas.update({name: _openapi30(schema) for name, schema in schemas.items()})  # BentoML's own too
    doc["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    operation = doc.setdefault("paths", {}).setdefault(SCORE_PATH, {}).setdefault("post", {})
    request_id = {"X-Request-ID": {"description": "The request id (the caller's when it is a plain token of at "
                                                  "most 64 characters).", "required": True,
                                   "schema": {"type": "string"}}}
    responses: dict[str, Any] = {"200": {"description": "The scores, and what the data contract noticed.",
                                         "headers": request_id,
                                         "content": {"application/json": {"schema": {"$ref": REF.format(
                                             model="ScoreResponse")}}}}}
    for status, description in ERROR_ANSWERS.items():
        headers = dict(request_id)
        if status == "401":
            headers["WWW-Authenticate"] = {"required": True, "schema": {"type": "string", "enum": ["Bearer"]}}
        responses[status] = {"description": description, "headers": headers,
                             "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}
    given = {str(status): answer for status, answer in (operation.get("responses") or {}).items()}  # ints
    if "500" in given:
        responses["500"] = given["500"]  # a fault of the server, in BentoML's shape
    operation.update({
        "responses": responses,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(
            model="ScoreRequest")}}}},
        "security": [{"bearer": []}, {"apiKey": []}],
        "description": (operation.get("description") or "") + _limits_text(config),
    })
    return doc


def _limits_text(config: ServiceConfig) -> str:
    return (f"\n\nLimits (422 beyond them; 413 for the body): {config.max_leads_per_request:,} leads, "
            f"{config.max_activities_per_lead:,} activities per lead, {config.max_extra_fields_per_lead:,} fields "
            f"outside the contract per lead or activity, {config.max_extra_fields_per_request:,} distinct such names "
            f"per request, names of at most {config.max_field_name_chars:,} characters, texts of at most "
            f"{config.max_text_chars:,} characters, bodies of at most {config.max_body_bytes:,} bytes.")


def _model_schemas(config: ServiceConfig) -> dict[str, Any]:
    """The JSON schemas of the request, response and error models as OpenAPI 3.0
    components, with the limits of ``config`` written in."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema([(ScoreRequest, "validation"), (ScoreResponse, "serialization"),
                                 (ErrorBody, "serialization")], ref_template=REF)
    schemas = {name: _openapi30(schema) for name, schema in top["$defs"].items()}
    text = {"maxLength": config.max_text_chars}
    request = schemas["ScoreRequest"]["properties"]
    request["leads"]["maxItems"] = config.max_leads_per_request
    request["as_of"].update(text)
    for name in ("LeadIn", "ActivityIn"):
        model = schemas[name]
        for prop in model["properties"].values():
            for option in [prop, *prop.get("anyOf", [])]:
                if option.get("type") == "string":
                    option.update(text)
        # Fields outside the contract: scalars of bounded length, a bounded number of them.
        model["additionalProperties"] = {"nullable": True, "anyOf": [{"type": "string", **text}, {"type": "number"},
                                                                     {"type": "boolean"}]}
        model["maxProperties"] = len(model["properties"]) + config.max_extra_fields_per_lead
    schemas["LeadIn"]["properties"]["activities"]["maxItems"] = config.max_activities_per_lead
    return schemas


def _openapi30(schema: Any) -> Any:
    """A JSON schema as OpenAPI 3.0 writes it: ``anyOf: [X, {"type": "null"}]`` becomes
    ``X`` with ``nullable: true``; ``const`` becomes a one-value ``enum``."""
    if isinstance(schema, list):
        return [_openapi30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _openapi30(value) for key, value in schema.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        elif rest:
            out["anyOf"] = rest
        out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


class OpenAPIDocument:
    """ASGI middleware: ``GET /docs.json`` answers :func:`complete_document` of the
    service's BentoML document (built once per process, on first use); every other
    request goes on to the app."""

    def __init__(self, app: Any, service: Any, config: Callable[[], ServiceConfig]) -> None:
        self.app = app
        self.service = service
        self.config = config
        self._body: bytes | None = None

    def body(self) -> bytes:
        """The completed document as JSON bytes."""
        if self._body is None:
            document = complete_document(self.service.openapi_spec.asdict(), self.config())
            self._body = json.dumps(document).encode("utf-8")
        return self._body

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("path") != DOCS_PATH or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body = self.body()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
