"""Where human lines go: stdout normally, stderr with ``--json`` (stdout then carries exactly
one JSON object, the summary). The twin of the Rust ``console`` module.

Every line is written with a single ``write`` and flushed, so lines from several threads or
processes never interleave mid-line, and a worker process's line is not stuck in its buffer
when it dies.
"""

import os
import sys

_JSON_ENV = "CHAPTER_JSON"


def set_json(on: bool) -> None:
    """Switch this process, and the processes it starts from now on, to JSON mode."""
    # An environment variable rather than a global: a worker started with ``spawn`` imports
    # this module afresh and would not see a global set in the parent.
    if on:
        os.environ[_JSON_ENV] = "1"
    else:
        os.environ.pop(_JSON_ENV, None)


def json_mode() -> bool:
    return os.environ.get(_JSON_ENV) == "1"


def say(text: str) -> None:
    """One human line."""
    stream = sys.stderr if json_mode() else sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()
    except (BrokenPipeError, ValueError):
        # A closed stdout (``| head``) must not turn into a traceback in the middle of a run.
        pass
