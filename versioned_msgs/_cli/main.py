"""The ``versioned-msgs`` command line.

Exit status: 0 success, 1 a check failed or work was left undone, 2 bad usage.
Each command's module is imported only when that command runs, and this module is never
imported by ``import versioned_msgs``; boto3 loads only for commands that talk to AWS.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["UsageError", "load_object", "main", "make_client"]

_TARGET_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_QUEUE_REGION_RE = re.compile(r"https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


class UsageError(Exception):
    """Bad command-line input: printed and answered with exit status 2."""


class Failure(Exception):
    """A command could not do its work (AWS error, unreadable file): exit status 1."""


def load_object(spec: str) -> Any:
    """Import ``MODULE:ATTR`` from the current directory (a name the user typed, never data).

    Only the name typed is looked for in the current directory first: its top-level module
    or package is loaded from there by path. The directory goes at the *end* of
    ``sys.path``, so the module's own imports of its neighbours work, while every installed
    package keeps precedence over a file of the same name there (a ``boto3.py`` planted in
    the directory is never imported in place of boto3).

    A module already imported from the current directory is reloaded, so a process that
    runs several commands (a test, a notebook) sees the file as it is now.
    """
    if _TARGET_RE.fullmatch(spec) is None:
        raise UsageError(f"expected MODULE:ATTR such as 'app.models:registry', got {spec!r}")
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    importlib.invalidate_caches()
    try:
        loaded = module_name in sys.modules
        _import_top_level_from(cwd, module_name.partition(".")[0])
        obj: Any = importlib.import_module(module_name)
        if loaded and _is_local(obj, cwd) and not module_name.startswith("versioned_msgs."):
            _rerun(obj)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r} (from {cwd}): {exc}") from None
    except SyntaxError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # the user's module raised while being imported
        raise Failure(f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def _import_top_level_from(directory: str, name: str) -> None:
    """Import the module or package ``name`` from ``directory`` by path, unless it is already
    imported or not there; submodules then resolve through the package itself."""
    if name in sys.modules:
        return
    import importlib.util
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec(name, [directory])
    if spec is None or spec.loader is None or spec.origin is None:
        return  # not in the directory, or a namespace package: the usual search finds it
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def _rerun(module: Any) -> None:
    """``importlib.reload`` from the current source.

    The cached bytecode is dropped first: a file rewritten within the same second at the
    same size would otherwise reload its stale ``__pycache__`` entry.
    """
    import importlib.util

    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        os.remove(importlib.util.cache_from_source(module.__file__))
    importlib.reload(module)


def _is_local(module: Any, cwd: str) -> bool:
    path = getattr(module, "__file__", None)
    return isinstance(path, str) and os.path.abspath(path).startswith(os.path.join(cwd, ""))


def load_registry(spec: str) -> Any:
    from .._core.registry import Registry

    obj = load_object(spec)
    if not isinstance(obj, Registry):
        raise UsageError(
            f"expected {spec} to be a versioned_msgs.Registry, got {type(obj).__name__}"
        )
    return obj


def make_client(service: str, *, endpoint_url: str | None, region: str | None = None) -> Any:
    """A boto3 client; ``endpoint_url=None`` lets boto3 use ``AWS_ENDPOINT_URL`` or AWS."""
    import boto3

    session = boto3.session.Session()
    region = region or session.region_name or "us-east-1"
    return session.client(service, endpoint_url=endpoint_url, region_name=region)  # type: ignore[call-overload]


def queue_region(queue_url: str, default: str | None) -> str | None:
    """The region named in an SQS queue URL, else ``default``."""
    m = _QUEUE_REGION_RE.match(queue_url)
    return m.group(1) if m else default


def parse_s3_url(url: str, *, want_key: bool) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); raises :class:`UsageError` when malformed."""
    if not url.startswith("s3://"):
        raise UsageError(f"expected an s3://BUCKET/... URL, got {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket or (want_key and not key):
        raise UsageError(f"expected s3://BUCKET/{'KEY' if want_key else 'PREFIX'}, got {url!r}")
    return bucket, key


# ---- commands ---------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    from . import schema_lock as _lock
    from .console import table

    registry = load_registry(args.target)
    rows = []
    for name in registry.types():
        versions = registry.versions(name)
        claims = [
            f"v{v} by v{rb}+" for v in versions if (rb := registry.readable_by(name, v)) is not None
        ]
        rows.append(
            (name, ", ".join(f"v{v}" for v in versions), registry.current(name), " ".join(claims))
        )
    print(table(("type", "versions", "current", "readable_by"), rows))
    problems = list(registry.problems())
    problems += _lock.verify_readable_by(registry)
    if args.lock:
        try:
            with open(args.lock, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise Failure(f"cannot read lock file {args.lock}: {exc.strerror}") from None
        try:
            lock = _lock.loads_lock(text, where=args.lock)
        except ValueError as exc:
            raise Failure(str(exc)) from None
        problems += _lock.compare_lock(registry, lock)
    print()
    if problems:
        print(f"check: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        for p in problems:
            print(f"  - {p}")
        return 1
    models = sum(len(registry.versions(t)) for t in registry.types())
    locked = f", matches {args.lock}" if args.lock else ""
    print(f"check: OK ({len(registry.types())} types, {models} models{locked})")
    return 0


def _cmd_lock(args: argparse.Namespace) -> int:
    from . import schema_lock as _lock

    registry = load_registry(args.target)
    try:
        text = _lock.dumps_lock(_lock.make_lock(registry))
    except _lock.SchemaError as exc:
        raise Failure(str(exc)) from None
    try:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise Failure(f"cannot write lock file {args.out}: {exc.strerror}") from None
    models = sum(len(registry.versions(t)) for t in registry.types())
    print(f"lock: wrote {models} model schemas of {len(registry.types())} types to {args.out}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from . import inspect as _inspect

    registry = load_registry(args.registry) if args.registry else None
    if args.target.startswith("s3://"):
        bucket, key = parse_s3_url(args.target, want_key=True)
        s3 = make_client("s3", endpoint_url=args.endpoint_url, region=args.region)
        return _inspect.inspect_object(
            s3,
            bucket,
            key,
            registry=registry,
            max_bytes=args.max_bytes or _inspect.DEFAULT_MAX_BYTES,
        )
    if not args.target.startswith(("http://", "https://")):
        raise UsageError(f"expected s3://BUCKET/KEY or an SQS queue URL, got {args.target!r}")
    sqs = make_client(
        "sqs", endpoint_url=args.endpoint_url, region=queue_region(args.target, args.region)
    )
    return _inspect.inspect_queue(sqs, args.target, limit=args.limit, registry=registry)


def _cmd_upgrade_s3(args: argparse.Namespace) -> int:
    from . import upgrade_s3 as _upgrade_s3

    bucket, prefix = parse_s3_url(args.url, want_key=False)
    registry = load_registry(args.target)
    if args.concurrency < 1:
        raise UsageError(f"expected --concurrency >= 1, got {args.concurrency}")
    assume = None
    if args.assume_version is not None or args.assume_type is not None:
        types = registry.types()
        assume_type = args.assume_type or (types[0] if len(types) == 1 else None)
        if assume_type is None or args.assume_version is None:
            raise UsageError(
                "expected --assume-version N (and --assume-type TYPE when the registry has "
                f"several types: {', '.join(types)}) to upgrade unstamped objects"
            )
        if assume_type not in types:
            raise UsageError(
                f"--assume-type {assume_type!r} is not in the registry ({', '.join(types)})"
            )
        assume = (assume_type, args.assume_version)
    s3 = make_client("s3", endpoint_url=args.endpoint_url, region=args.region)
    try:
        with _sigterm_interrupts():
            summary = _upgrade_s3.upgrade_prefix(
                s3,
                registry,
                bucket,
                prefix,
                dry_run=args.dry_run,
                concurrency=args.concurrency,
                state_file=args.state_file,
                start_after=args.start_after,
                assume=assume,
                max_bytes=args.max_bytes or _upgrade_s3.DEFAULT_MAX_BYTES,
            )
    except ValueError as exc:
        raise Failure(str(exc)) from None
    print(summary.render())
    return 0 if summary.complete else 1


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (a container being stopped) like Ctrl-C: stop cleanly and report."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_redrive(args: argparse.Namespace) -> int:
    from . import redrive as _redrive

    sqs = make_client(
        "sqs", endpoint_url=args.endpoint_url, region=queue_region(args.queue_url, args.region)
    )
    if args.park_queue_url == args.queue_url:
        raise UsageError("expected PARK_QUEUE_URL and QUEUE_URL to differ")
    result = _redrive.redrive(sqs, args.park_queue_url, args.queue_url, limit=args.limit)
    print(result.render())
    return 0 if result.complete else 1


def _cmd_worker(args: argparse.Namespace) -> int:
    from . import worker as _worker

    handler = load_object(args.target)
    if not callable(handler):
        raise UsageError(
            f"expected {args.target} to be a Lambda-style handler(event, context), "
            f"got {type(handler).__name__}"
        )
    sqs = make_client(
        "sqs", endpoint_url=args.endpoint_url, region=queue_region(args.queue_url, args.region)
    )
    try:
        worker = _worker.Worker(
            sqs,
            args.queue_url,
            handler,
            batch_size=args.batch_size,
            wait_seconds=args.wait_seconds,
            visibility_timeout=args.visibility_timeout,
            heartbeat=args.heartbeat,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    stats = worker.run(until_empty=args.until_empty, install_signals=True)
    print(stats.render())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo as _demo

    if args.aws and args.endpoint_url:
        raise UsageError("expected either --aws or --endpoint-url, not both")
    return _demo.run(
        endpoint_url=args.endpoint_url,
        region=args.region,
        quiet=args.quiet,
        real_aws=args.aws,
        keep=args.keep,
    )


# ---- parser -----------------------------------------------------------------------------


def _aws_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="AWS endpoint (e.g. a local emulator); default: AWS_ENDPOINT_URL or AWS itself",
    )
    p.add_argument("--region", help="AWS region (default: the configured one, else us-east-1)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="versioned-msgs",
        description="Versioned AWS messages: check registries, inspect, upgrade, redrive, demo.",
        epilog="Exit status: 0 success, 1 a check failed or work was left undone, 2 bad usage.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="play a mixed-version rollout on an embedded AWS emulator")
    _aws_options(p)
    p.add_argument("--quiet", action="store_true", help="print only the final line")
    p.add_argument(
        "--aws",
        action="store_true",
        help="run on the AWS account your credentials reach (creates, then deletes, "
        "a topic, three queues and a bucket)",
    )
    p.add_argument("--keep", action="store_true", help="keep the demo's resources")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("check", help="check a registry (chains, readable_by, schema lock)")
    p.add_argument("target", metavar="MODULE:ATTR", help="the Registry, e.g. app.models:registry")
    p.add_argument("--lock", metavar="FILE", help="fail when a locked model changed")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("lock", help="write a schema snapshot of every (type, version) model")
    p.add_argument("target", metavar="MODULE:ATTR")
    p.add_argument("--out", metavar="FILE", required=True)
    p.set_defaults(func=_cmd_lock)

    p = sub.add_parser("inspect", help="show the stamps of an S3 object or queued messages")
    p.add_argument("target", metavar="s3://BUCKET/KEY|QUEUE_URL")
    p.add_argument("--registry", metavar="MODULE:ATTR", help="also decode with this registry")
    p.add_argument("--limit", type=_positive, default=100, help="messages to peek at (default 100)")
    p.add_argument(
        "--max-bytes",
        type=_positive,
        metavar="N",
        help="read an object's body only up to this size (default 16 MiB, as the consumer)",
    )
    _aws_options(p)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("upgrade-s3", help="upgrade stored objects in place (conditional writes)")
    p.add_argument("url", metavar="s3://BUCKET/PREFIX")
    p.add_argument("target", metavar="MODULE:ATTR")
    p.add_argument("--dry-run", action="store_true", help="report what would change")
    p.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="parallel objects (default 8)"
    )
    p.add_argument(
        "--state-file",
        metavar="FILE",
        help="record progress here and resume from it (default: none)",
    )
    p.add_argument("--start-after", metavar="KEY", help="resume after this key")
    p.add_argument(
        "--assume-version",
        type=_positive,
        metavar="N",
        help="treat unstamped objects as this version of --assume-type",
    )
    p.add_argument("--assume-type", metavar="TYPE", help="the type of unstamped objects")
    p.add_argument(
        "--max-bytes",
        type=_positive,
        metavar="N",
        help="refuse objects larger than this, unread (default 16 MiB, as the consumer)",
    )
    _aws_options(p)
    p.set_defaults(func=_cmd_upgrade_s3)

    p = sub.add_parser("redrive", help="move parked messages back to their queue")
    p.add_argument("park_queue_url", metavar="PARK_QUEUE_URL")
    p.add_argument("queue_url", metavar="QUEUE_URL")
    p.add_argument("--limit", type=_positive, help="move at most this many messages")
    _aws_options(p)
    p.set_defaults(func=_cmd_redrive)

    p = sub.add_parser("worker", help="long-poll a queue and run a Lambda-style handler")
    p.add_argument("queue_url", metavar="QUEUE_URL")
    p.add_argument("target", metavar="MODULE:ATTR", help="handler(event, context)")
    p.add_argument("--until-empty", action="store_true", help="exit once the queue is empty")
    p.add_argument(
        "--batch-size", type=_positive, default=10, metavar="N", help="1-10 (default 10)"
    )
    p.add_argument("--wait-seconds", type=int, default=20, metavar="S", help="long-poll wait, 0-20")
    p.add_argument("--visibility-timeout", type=int, help="seconds (default: the queue's own)")
    p.add_argument(
        "--no-heartbeat",
        dest="heartbeat",
        action="store_false",
        help="do not extend the visibility of the batch while the handler runs",
    )
    _aws_options(p)
    p.set_defaults(func=_cmd_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 for --help
        return exc.code if isinstance(exc.code, int) else 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"versioned-msgs {args.command}: {exc}", file=sys.stderr)
        return 2
    except Failure as exc:
        print(f"versioned-msgs {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"versioned-msgs {args.command}: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:
        if _is_aws_error(exc):
            print(f"versioned-msgs {args.command}: AWS error: {exc}", file=sys.stderr)
            return 1
        raise


def _is_aws_error(exc: BaseException) -> bool:
    mod = type(exc).__module__
    return mod.startswith(("botocore", "boto3"))
