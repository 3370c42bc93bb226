"""`registry events list|watch`: the change feed, read over ListEvents and WatchEvents.

Every event carries its sequence number; `--after N` starts after event N, so a watch that
stopped (Ctrl-C, a closed terminal, a crashed script) resumes with the last sequence it printed,
missing and repeating nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Any, TypeVar

import click

from registry_service.operator.options import Options, pass_options, show
from registry_service.operator.output import event_line, events_table
from registry_service.operator.records import EVENT_TYPE_WORDS, event_json, event_type_value

F = TypeVar("F", bound=Callable[..., Any])


def feed_options(command: F) -> F:
    """What both commands select by: a starting point, models, event types."""
    for option in reversed(
        [
            click.option(
                "--after",
                "start_after",
                type=click.IntRange(min=0),
                default=0,
                metavar="SEQUENCE",
                help="Start after this event (0, the default: from the first).",
            ),
            click.option(
                "--model", "model_names", multiple=True, help="Only this model's. Repeatable."
            ),
            click.option(
                "--type",
                "event_types",
                multiple=True,
                type=click.Choice(EVENT_TYPE_WORDS, case_sensitive=False),
                help="Only events of this type. Repeatable.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group()
def events() -> None:
    """The change feed: every committed change, in commit order."""


@events.command("list")
@feed_options
@click.option("--max-results", type=click.IntRange(min=1), help="Stop after N.")
@pass_options
def events_list(
    options: Options,
    start_after: int,
    model_names: Sequence[str],
    event_types: Sequence[str],
    max_results: int | None,
) -> None:
    """List committed events, oldest first."""
    with options.client() as client:
        found = client.list_events(
            start_after, model_names, [event_type_value(t) for t in event_types], max_results
        )
    show(options, [event_json(e) for e in found], events_table(found))


@events.command("watch")
@feed_options
@click.option(
    "--count", type=click.IntRange(min=1), help="Stop after N events (default: run until Ctrl-C)."
)
@pass_options
def events_watch(
    options: Options,
    start_after: int,
    model_names: Sequence[str],
    event_types: Sequence[str],
    count: int | None,
) -> None:
    """Print events as they commit, one line each (one JSON object per line with --json).

    The past events after --after come first. A dropped connection is reopened after the last
    event printed.
    """
    with options.client() as client:
        feed = client.watch(start_after, model_names, [event_type_value(t) for t in event_types])
        try:
            for event in islice(feed, count):
                click.echo(json.dumps(event_json(event)) if options.as_json else event_line(event))
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a watch ends: not an error
