"""HTTP routes read from the google.api.http options of the service's methods.

The protos are the one place the mapping is declared; reading it back from the descriptors keeps
this gateway and any other transcoder (Envoy's grpc_json_transcoder) serving the same paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP method and path bound to an RPC."""

    http_method: str
    path: str
    # Name of the RPC, which is also the servicer method's name.
    rpc: str
    request_type: type[Message]
    # True when the request's fields come from a JSON body ("body: '*'"), False when they come
    # from the query string.
    from_body: bool
    # A server-streaming RPC: answered as a stream (see watch.py), not one JSON object.
    streaming: bool = False


def http_routes(service: ServiceDescriptor) -> list[HttpRoute]:
    """Every binding of every RPC that has a google.api.http option, additional bindings too."""
    routes: list[HttpRoute] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        routes.extend(_route(method, binding) for binding in (rule, *rule.additional_bindings))
    return routes


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> HttpRoute:
    verb = rule.WhichOneof("pattern")
    # Failing at start beats silently serving a mapping that differs from the declared one.
    if verb not in _VERBS:
        raise ValueError(f"{method.full_name}: unsupported google.api.http pattern {verb!r}")
    path: str = getattr(rule, verb)
    if "{" in path:
        raise ValueError(f"{method.full_name}: path variables are not supported in {path!r}")
    if method.server_streaming and (verb != "get" or method.name != "WatchEvents"):
        # The gateway streams WatchEvents only; failing at start beats a route that hangs.
        raise ValueError(f"{method.full_name}: only WatchEvents streams over HTTP, on GET")
    if rule.body not in ("", "*"):
        raise ValueError(f"{method.full_name}: body must be '*' or absent, not {rule.body!r}")
    return HttpRoute(
        http_method=verb.upper(),
        path=path,
        rpc=method.name,
        request_type=GetMessageClass(method.input_type),
        from_body=rule.body == "*",
        streaming=method.server_streaming,
    )
