"""Where a new version comes from: its source checked as MLflow's server checks it, and its run,
experiment, run link and logged model resolved from the tracking server (``--tracking-uri``).

This runs before the store's transaction, since it may wait on the tracking server. What it
cannot decide alone (a models:/ source naming a registered version) the store decides in the
creating transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from registry_service import sources, validation
from registry_service.errors import InvalidArgument
from registry_service.tracking import TrackingServer


@dataclass(frozen=True)
class Lineage:
    """What a version records about its origin."""

    run_id: str
    experiment_id: str
    run_link: str
    # The logged model (MLflow 3, "m-<id>"); "" when none.
    model_id: str
    # Where its files are downloaded from when that is not the source; "" when it is.
    storage_location: str = ""


@dataclass(frozen=True)
class Origin:
    """What a create request says about its version's origin."""

    source: str
    run_id: str = ""
    model_id: str = ""
    run_link: str = ""
    experiment_id: str = ""
    # The new version's tags: they tell a prompt version (MLflow's prompt registry), whose
    # source is a placeholder rather than a location.
    tags: Mapping[str, str] = field(default_factory=dict)


class LineageResolver:
    """Checks sources and resolves lineage, against a tracking server when there is one."""

    def __init__(self, tracking: TrackingServer | None = None) -> None:
        self._tracking = tracking

    def resolve(self, origin: Origin) -> Lineage:
        source = origin.source
        validation.check_identifier("source", source, validation.MAX_SOURCE_LENGTH)
        validation.check_optional_line("run_id", origin.run_id, validation.MAX_RUN_ID_LENGTH)
        validation.check_optional_line("model_id", origin.model_id, validation.MAX_MODEL_ID_LENGTH)
        if sources.is_prompt(origin.tags):
            # As MLflow's server: the placeholder is checked and the ids are kept as given.
            if source not in sources.PROMPT_SOURCES:
                raise _refused(source, "a prompt version's source must be MLflow's placeholder")
            return Lineage(origin.run_id, origin.experiment_id, origin.run_link, origin.model_id)
        sources.check_shape(source)
        run_id = sources.agreeing_id("run_id", origin.run_id, sources.run_id_of(source), source)
        model_id = sources.agreeing_id(
            "model_id", origin.model_id, sources.logged_model_id_of(source), source
        )
        if sources.model_reference_of(source) is not None:
            # The store copies the lineage of the version it names, in the creating transaction.
            return Lineage(run_id, origin.experiment_id, origin.run_link, model_id)
        if self._tracking is None:
            self._check_unlinked(source, run_id)
            return Lineage(run_id, origin.experiment_id, origin.run_link, model_id)
        return self._linked(self._tracking, origin, run_id, model_id)

    def _check_unlinked(self, source: str, run_id: str) -> None:
        """Without a tracking server, what can be checked without one."""
        if sources.is_local(source):
            raise _refused(
                source,
                "a local path must lie in the artifacts of its run, which this registry checks "
                "only with --tracking-uri",
            )
        if sources.host_addressed(source):
            raise _refused(source, _HOST_ADDRESSED)
        if sources.in_artifact_store(source) and not run_id:
            raise _refused(source, "an artifact store source needs the run_id it belongs to")

    def _linked(
        self, tracking: TrackingServer, origin: Origin, run_id: str, model_id: str
    ) -> Lineage:
        source = origin.source
        experiment_id = ""
        artifact_roots: list[str] = []
        storage_location = ""
        if model_id:
            logged = tracking.logged_model(model_id)
            if logged is None:
                raise _refused(
                    source, f"logged model {model_id!r} does not exist on the tracking server"
                )
            # As MLflow's server does: the run that logged the model, unless the request names one.
            run_id = run_id or logged.source_run_id
            experiment_id = logged.experiment_id
            artifact_roots.append(logged.artifact_location)
            if sources.logged_model_id_of(source) is not None:
                storage_location = logged.artifact_location
        if run_id:
            run = tracking.run(run_id)
            if run is None:
                raise _refused(source, f"run {run_id!r} does not exist on the tracking server")
            experiment_id = experiment_id or run.experiment_id
            artifact_roots.append(run.artifact_uri)
        if sources.is_local(source) or sources.in_artifact_store(source):
            if not any(sources.within(source, root) for root in artifact_roots if root):
                raise _refused(
                    source,
                    "it must lie in the artifacts of the run (run_id) or logged model (model_id) "
                    "that produced it",
                )
            if sources.host_addressed(source) and not _served_by(tracking, source):
                raise _refused(source, _HOST_ADDRESSED)
        elif sources.host_addressed(source):
            raise _refused(source, _HOST_ADDRESSED)
        if origin.experiment_id and experiment_id and origin.experiment_id != experiment_id:
            raise InvalidArgument(
                f"experiment_id {origin.experiment_id!r} contradicts the tracking server, where "
                f"the version's run belongs to experiment {experiment_id!r}",
                field="experiment_id",
            )
        experiment_id = experiment_id or origin.experiment_id
        run_link = origin.run_link or (
            tracking.run_link(experiment_id, run_id) if run_id and experiment_id else ""
        )
        return Lineage(run_id, experiment_id, run_link, model_id, storage_location)


_HOST_ADDRESSED = (
    "its scheme makes readers connect to the host it names; sources on other hosts than the "
    "tracking server's artifact store are refused"
)


def _served_by(tracking: TrackingServer, source: str) -> bool:
    """Whether an http(s) or mlflow-artifacts://host source names the tracking server's host."""
    return urlsplit(source.strip()).netloc.lower() == urlsplit(tracking.uri).netloc.lower()


def _refused(source: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid model version source {source!r}: {why}", field="source")
