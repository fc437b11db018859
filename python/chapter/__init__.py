"""The Python side of the workspace: the chapter's examples and decision-table scenarios, run
in each of the four models (serial, threading, multiprocessing, asyncio) and measured with the
same output contract, digests and local servers as the Rust binaries.

Run it as ``python -m chapter <subcommand> ...`` with this directory's parent (``python/``) on
``sys.path``; ``python -m chapter --help`` lists the subcommands. The module docstrings say what
each one shows.
"""
