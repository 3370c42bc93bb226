"""The service this package serves, routes and calls, named once: the ModelRegistryService
descriptor from the generated code (its methods, their HTTP rules) and its full name (health,
reflection, the channel's service config, the authorization of calls)."""

from google.protobuf.descriptor import ServiceDescriptor
from modelregistry.v1 import registry_service_pb2

SERVICE: ServiceDescriptor = registry_service_pb2.DESCRIPTOR.services_by_name[
    "ModelRegistryService"
]
SERVICE_NAME: str = SERVICE.full_name
