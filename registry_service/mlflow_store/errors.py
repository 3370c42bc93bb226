"""The registry's errors as MlflowException, so that MLflow's server answers them with MLflow's
error codes and HTTP statuses (404 RESOURCE_DOES_NOT_EXIST, 400 RESOURCE_ALREADY_EXISTS, …)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from registry_service.errors import RegistryError

# The reasons the registry gives are MLflow's error codes (see errors.py). A status without one
# (a refused connection is UNAVAILABLE from the channel itself, with no ErrorInfo) takes the word
# of its error class, which is MLflow's too: TEMPORARILY_UNAVAILABLE for UNAVAILABLE.
_MLFLOW_CODES = frozenset(ErrorCode.keys())


@contextmanager
def mlflow_errors() -> Iterator[None]:
    """Re-raise the registry errors of the enclosed calls as MlflowException."""
    try:
        yield
    except RegistryError as error:
        raise as_mlflow_exception(error) from None


def as_mlflow_exception(error: RegistryError) -> MlflowException:
    code = error.reason if error.reason in _MLFLOW_CODES else type(error).reason
    message = error.message
    if error.field:
        message = f"{message} (field {error.field})"
    return MlflowException(message, error_code=ErrorCode.Value(code))
