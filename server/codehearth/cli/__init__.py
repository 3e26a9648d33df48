"""The `codehearth` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import BinaryIO

from .. import __version__
from ..config import add_model_flags, options_from_args
from .logs import setup_logging


def _private_lsp_stdout() -> BinaryIO:
    """Keep the LSP channel on a file descriptor of its own.

    llama.cpp (and llama-cpp-python's output suppression while loading a model)
    write to, and temporarily redirect, file descriptor 1 from the worker thread.
    On stdio that would corrupt or swallow JSON-RPC messages, so the protocol gets
    a duplicate of the original stdout and fd 1 is pointed at stderr.
    """
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_content)
    if args.tcp is not None and not _host_allowed(args.host, args.allow_remote):
        print(
            f"codehearth: refusing to listen on {args.host}: only loopback addresses are "
            "allowed (your code would be reachable from the network); pass --allow-remote "
            "to do it anyway",
            file=sys.stderr,
        )
        return 2
    options = options_from_args(args, log_content=args.log_content)
    if _use_shared_engine(args):
        from ..shared.supervisor import serve_shared

        # By default, an engine that cannot be reached (a runtime directory that cannot
        # hold a socket, an engine that will not start) must not leave the editor without
        # a server: it gets one in this process. An explicit --shared fails instead.
        fallback = None if args.shared else lambda: _serve_in_process(args, options)
        return serve_shared(options, args.idle_timeout, args.parallel, fallback)
    return _serve_in_process(args, options)


def _serve_in_process(args: argparse.Namespace, options) -> int:
    from ..lsp.app import create_server

    quick_thread_switches()
    channel = _private_lsp_stdout() if args.tcp is None else None
    server = create_server(options)
    try:
        if args.tcp is None:
            server.start_io(stdin=sys.stdin.buffer, stdout=channel)
        else:
            server.start_tcp(args.host, args.tcp)
    finally:
        server.runtime.stop()
    return 0


# Whether a plain `codehearth serve` (stdio) attaches to the shared engine: one resident
# model for every window, decoded side by side, and a relay that survives the engine
# (shared/supervisor.py). CODEHEARTH_SHARED=0 or --in-process opt out.
SHARED_BY_DEFAULT = True


def _use_shared_engine(args: argparse.Namespace) -> bool:
    """--in-process wins, then --shared, then CODEHEARTH_SHARED, then the default. A TCP
    server is always in-process (its clients connect to it, not through a relay)."""
    if args.in_process or args.tcp is not None:
        return False
    if args.shared:
        return True
    env = os.environ.get("CODEHEARTH_SHARED", "")
    return env == "1" if env in ("0", "1") else SHARED_BY_DEFAULT


def quick_thread_switches() -> None:
    """The event loop answers a keystroke from the cache in a few milliseconds, but while
    the worker thread runs Python between llama.cpp calls (sampling, detokenizing) the
    loop waits for the GIL up to the switch interval (5 ms) at every step of the request:
    tens of milliseconds. 1 ms keeps those answers quick during a generation."""
    sys.setswitchinterval(0.001)


def cmd_engine(args: argparse.Namespace) -> int:
    from ..shared.engine import run_engine

    setup_logging(args.log_level)
    quick_thread_switches()
    return run_engine(args.idle_timeout, args.parallel)


def cmd_ps(args: argparse.Namespace) -> int:
    from ..shared.ps import print_ps

    return print_ps(as_json=args.json)


def _host_allowed(host: str, allow_remote: bool) -> bool:
    import ipaddress

    if allow_remote or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_complete(args: argparse.Namespace) -> int:
    from .complete import complete_file

    setup_logging(args.log_level)
    return complete_file(options_from_args(args), args.file, args.line, args.col, args.json)


def cmd_models(args: argparse.Namespace) -> int:
    from ..models.listing import print_models

    return print_models(args.manifest, as_json=args.json)


def cmd_pull(args: argparse.Namespace) -> int:
    from ..models.pull import pull_command

    setup_logging(args.log_level)
    return pull_command(args.name, args.manifest)


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import print_doctor

    setup_logging(args.log_level)
    return print_doctor(args.manifest, as_json=args.json)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import run_bench

    setup_logging(args.log_level)
    return run_bench(args)


def _add_serve(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`serve`: the language server (stdio, TCP, or relayed to the shared engine)."""
    serve = sub.add_parser("serve", parents=[common], help="run the language server on stdio")
    add_model_flags(serve)
    serve.add_argument(
        "--log-content", action="store_true", help="allow user code in debug logs (off by default)"
    )
    serve.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (not private)"
    )
    serve.add_argument(
        "--shared",
        action="store_true",
        help="use the user's shared engine (one resident model for all editors; "
        "started if not running): the default, unless CODEHEARTH_SHARED=0",
    )
    serve.add_argument(
        "--in-process",
        action="store_true",
        help="load the model in this process instead of the shared engine "
        "(one editor, one model), whatever CODEHEARTH_SHARED says",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        help="seconds a shared engine this starts stays up with no editor (default 300)",
    )
    _add_parallel(serve)
    serve.set_defaults(func=cmd_serve)


def _add_parallel(parser: argparse.ArgumentParser) -> None:
    from ..shared.wire import DEFAULT_PARALLEL

    parser.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help="sequences the shared engine decodes together per model (its editors' "
        "completions and chats; each has the whole --context, so the KV cache holds N "
        f"of them). Default {DEFAULT_PARALLEL}; takes effect when this starts the engine",
    )


def _add_engine(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`engine` and `ps`: the shared engine and what it holds."""
    engine = sub.add_parser(
        "engine", parents=[common], help="run the shared engine (normally started by serve)"
    )
    engine.add_argument("--idle-timeout", type=float, default=300.0)
    _add_parallel(engine)
    engine.set_defaults(func=cmd_engine)
    ps = sub.add_parser("ps", parents=[common], help="show the shared engine, models, editors")
    ps.add_argument("--json", action="store_true")
    ps.set_defaults(func=cmd_ps)


def _add_model_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`complete`, `models`, `pull`: one completion and the model files."""
    complete = sub.add_parser(
        "complete", parents=[common], help="one completion at a position, with timings"
    )
    complete.add_argument("file")
    complete.add_argument("--line", type=int, required=True, help="1-based line")
    complete.add_argument("--col", type=int, required=True, help="1-based column")
    complete.add_argument("--json", action="store_true", help="print a JSON object")
    add_model_flags(complete)
    complete.set_defaults(func=cmd_complete)

    models = sub.add_parser(
        "models", parents=[common], help="list manifest models and which files are present"
    )
    models.add_argument("--manifest")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    pull = sub.add_parser(
        "pull", parents=[common], help="download a manifest model from the Hugging Face Hub"
    )
    pull.add_argument("name")
    pull.add_argument("--manifest")
    pull.set_defaults(func=cmd_pull)


# Started once per editor window and (attached to the shared engine) holding no model:
# these are parsed without importing the assist, eval and bench commands, which import
# the whole model stack (llama.cpp included) just to declare their flags.
_LIGHT_COMMANDS = ("serve", "engine", "ps")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; only the light commands when `command` is one of them."""
    parser = argparse.ArgumentParser(prog="codehearth", description=__doc__)
    parser.add_argument("--version", action="version", version=f"codehearth {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_serve(sub, common)
    _add_engine(sub, common)
    if command in _LIGHT_COMMANDS:
        return parser
    _add_model_commands(sub, common)

    from .assist import add_subcommands
    from .eval import add_eval_subcommand

    add_subcommands(sub, common)
    add_eval_subcommand(sub, common)

    doctor = sub.add_parser(
        "doctor", parents=[common], help="check the GPU, the llama.cpp build and the default models"
    )
    doctor.add_argument("--manifest")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)

    bench = sub.add_parser(
        "bench", parents=[common], help="typing-replay latency benchmark vs the engine floor"
    )
    add_model_flags(bench)
    from ..bench import add_arguments

    add_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


def _json_default(obj: object) -> object:
    return str(obj)


def dump_json(payload: object) -> None:
    print(json.dumps(payload, indent=2, default=_json_default))


if __name__ == "__main__":
    sys.exit(main())
