"""The registry: message types, their versioned models, and the chains between versions."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar, overload

import msgspec

from .codec import DecodeErrors, ModelCodec, decode_any, encode_any, is_model_class
from .envelope import Encoded, looks_embedded, unembed
from .errors import (
    MissingStampError,
    PayloadError,
    RegistryError,
    SchemaError,
    UnknownTypeError,
    UnsupportedVersionError,
    VersionedMsgsError,
)
from .meta import Meta
from .routing import route
from .stamp import _TYPE_RE, MAX_VERSION, Stamp, is_json

__all__ = ["RegisteredModel", "Registry", "model_decoder", "upgrading_decoder"]

_PLAIN_MAX = 1024
_C = TypeVar("_C", bound=type)
_M = TypeVar("_M")
Converter = Callable[[dict[str, Any]], dict[str, Any]]
_F = TypeVar("_F", bound=Converter)


class RegisteredModel(NamedTuple):
    """One registered (type, version) model."""

    type: str
    version: int
    model: builtins.type[Any]
    readable_by: int | None


class _Version:
    __slots__ = ("codec", "model", "readable_by", "version")

    def __init__(self, model: type[Any], version: int, readable_by: int | None) -> None:
        self.model = model
        self.version = version
        self.readable_by = readable_by
        self.codec = ModelCodec(model)


class _Type:
    __slots__ = ("chains", "current", "downgraders", "models", "name", "stamps", "upgraders")

    def __init__(self, name: str) -> None:
        self.name = name
        self.models: dict[int, _Version] = {}
        self.upgraders: dict[int, Converter] = {}
        self.downgraders: dict[int, Converter] = {}
        self.current: int | None = None
        # (from, to) -> compiled list of (from_version, to_version, converter)
        self.chains: dict[tuple[int, int], list[tuple[int, int, Converter]]] = {}
        self.stamps: dict[tuple[int, str | None], Stamp] = {}


def _validate_name(type: object) -> str:
    if not isinstance(type, str) or _TYPE_RE.fullmatch(type) is None:
        raise RegistryError(
            [f"expected a message type matching [a-z0-9][a-z0-9._-]{{0,127}}, got {type!r}"]
        )
    return type


def _validate_version(value: object, what: str, type: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise RegistryError(
            [f"{type}: expected {what} to be a positive integer below 2^31, got {value!r}"]
        )
    return value


def _name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


def _describe(kind: str, from_version: int, fn: object) -> str:
    """``the upgrader from v1 to v2``, plus the function's name when it has a telling one.

    Converters are often anonymous (``def _``, lambdas): their qualname would only confuse.
    """
    to = from_version + 1 if kind == "upgrader" else from_version - 1
    text = f"the {kind} from v{from_version} to v{to}"
    name = getattr(fn, "__qualname__", None)
    if isinstance(name, str):
        last = name.rsplit(".", 1)[-1]
        if last not in ("_", "<lambda>"):
            text += f" ({name})"
    return text


def _where_defined(fn: object) -> str:
    """``file.py:12`` for a Python function, else its repr."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    filename = code.co_filename.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{filename}:{code.co_firstlineno}"


def _not_an_object(
    name: str, v_from: int, v_to: int, data: object, stamp: Stamp | None
) -> PayloadError:
    return PayloadError(
        f"{name}: expected a JSON object before converting v{v_from} to v{v_to}, "
        f"got {builtins.type(data).__name__}",
        type=name,
        version=v_from,
        stamp=stamp,
    )


class Registry:
    """Message types, their models per version, and the upgraders/downgraders between them.

    Registration never raises for conflicts: :meth:`check` reports every problem at once.
    A malformed registration (bad type name, non-positive version, not a model class) raises
    :class:`RegistryError` immediately.
    """

    def __init__(self) -> None:
        self._types: dict[str, _Type] = {}
        self._by_class: dict[type[Any], tuple[str, int]] = {}
        self._problems: list[str] = []
        # model class, or (model class, producer) -> (encode function, stamp): encode()'s
        # common case in one lookup; emptied whenever a model is registered.
        self._plain: dict[object, tuple[Callable[[Any], bytes], Stamp]] = {}

    # ---- registration -------------------------------------------------------------------

    def _type(self, type: str) -> _Type:
        info = self._types.get(type)
        if info is None:
            info = self._types[type] = _Type(type)
        return info

    def message(
        self, type: str, version: int, readable_by: int | None = None
    ) -> Callable[[_C], _C]:
        """Class decorator: register a msgspec Struct or pydantic model as ``type`` v``version``.

        ``readable_by``: the lowest reader version that can decode this version as-is
        (the change is additive); omit when older readers cannot.
        """
        _validate_name(type)
        _validate_version(version, "version", type)
        if readable_by is not None and (
            isinstance(readable_by, bool) or not isinstance(readable_by, int)
        ):
            raise RegistryError(
                [f"{type} v{version}: expected readable_by to be an integer, got {readable_by!r}"]
            )

        def register(cls: _C) -> _C:
            if not is_model_class(cls):
                raise RegistryError(
                    [
                        f"{type} v{version}: expected a msgspec.Struct or pydantic.BaseModel "
                        f"class, got {cls!r}"
                    ]
                )
            info = self._type(type)
            previous = info.models.get(version)
            if previous is not None:
                if previous.model is cls and previous.readable_by == readable_by:
                    return cls  # the same declaration again (e.g. a module run twice)
                if previous.model is cls:
                    self._problems.append(
                        f"{type} v{version} ({_name(cls)}) is registered twice with different "
                        f"readable_by: {previous.readable_by} and {readable_by}"
                    )
                else:
                    self._problems.append(
                        f"{type} v{version} is registered twice: {_name(previous.model)} and "
                        f"{_name(cls)}"
                    )
                return cls
            where = self._by_class.get(cls)
            if where is not None:
                self._problems.append(
                    f"{_name(cls)} is registered twice: as {where[0]} v{where[1]} and as "
                    f"{type} v{version}"
                )
                return cls
            if readable_by is not None and not 1 <= readable_by <= version:
                self._problems.append(
                    f"{type} v{version}: readable_by must be between 1 and {version}, "
                    f"got {readable_by}"
                )
            info.models[version] = _Version(cls, version, readable_by)
            info.current = max(info.models)
            info.chains.clear()
            info.stamps.clear()
            self._plain.clear()
            self._by_class[cls] = (type, version)
            return cls

        return register

    def _converter(self, kind: str, type: str, from_version: int) -> Callable[[_F], _F]:
        _validate_name(type)
        _validate_version(from_version, "from_version", type)
        if kind == "downgrader" and from_version < 2:
            raise RegistryError([f"{type}: a downgrader from v{from_version} would go below v1"])

        def register(fn: _F) -> _F:
            info = self._type(type)
            table = info.upgraders if kind == "upgrader" else info.downgraders
            if from_version in table:
                self._problems.append(
                    f"{type}: {_describe(kind, from_version, fn)} is registered twice "
                    f"(at {_where_defined(table[from_version])} and at {_where_defined(fn)})"
                )
                return fn
            table[from_version] = fn
            info.chains.clear()
            return fn

        return register

    def upgrader(self, type: str, from_version: int) -> Callable[[_F], _F]:
        """Decorator: a function turning a JSON dict at ``from_version`` into one at +1."""
        return self._converter("upgrader", type, from_version)

    def downgrader(self, type: str, from_version: int) -> Callable[[_F], _F]:
        """Decorator: a function turning a JSON dict at ``from_version`` into one at -1."""
        return self._converter("downgrader", type, from_version)

    # ---- introspection ------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Every problem :meth:`check` would raise for, in a stable order."""
        found = list(self._problems)
        for name in sorted(self._types):
            info = self._types[name]
            if info.current is None:
                # Only converters (or a refused registration) made this entry.
                conv = [
                    f"{kind}s from v{', v'.join(map(str, sorted(table)))}"
                    for kind, table in (
                        ("upgrader", info.upgraders),
                        ("downgrader", info.downgraders),
                    )
                    if table
                ]
                if conv:
                    found.append(f"{name}: {' and '.join(conv)} are registered but no model")
                continue
            current = info.current
            for f in sorted(info.upgraders):
                if f >= current:
                    found.append(
                        f"{name}: upgrader from v{f} to v{f + 1} goes past the current "
                        f"version v{current}"
                    )
            for f in sorted(info.downgraders):
                if f > current:
                    found.append(
                        f"{name}: downgrader from v{f} to v{f - 1} starts past the current "
                        f"version v{current}"
                    )
            known = set(info.models) | {f for f in info.upgraders if f < current}
            oldest = min(known)
            for v in range(oldest, current):
                if v not in info.upgraders:
                    found.append(
                        f"{name}: no upgrader from v{v} to v{v + 1} (models: "
                        f"v{', v'.join(map(str, sorted(info.models)))}; v{oldest} payloads "
                        f"cannot reach the current v{current})"
                    )
        return found

    def check(self) -> None:
        """Raise :class:`RegistryError` naming every problem; cheap enough for a cold start."""
        found = self.problems()
        if found:
            raise RegistryError(found)

    def types(self) -> list[str]:
        """The registered message types, sorted."""
        return sorted(n for n, t in self._types.items() if t.current is not None)

    def _info(self, type: str) -> _Type:
        info = self._types.get(type)
        if info is None or info.current is None:
            raise UnknownTypeError(type, self.types())
        return info

    def current(self, type: str) -> int:
        """The highest version of ``type`` with a registered model."""
        current = self._info(type).current
        assert current is not None
        return current

    def versions(self, type: str) -> list[int]:
        """The versions of ``type`` that have a model, ascending."""
        return sorted(self._info(type).models)

    def model(self, type: str, version: int | None = None) -> type[Any]:
        """The model class of ``type`` at ``version`` (default: current)."""
        info = self._info(type)
        v = info.current if version is None else version
        entry = info.models.get(v)  # type: ignore[arg-type]
        if entry is None:
            raise UnsupportedVersionError(
                f"{type} v{v} has no model in this registry (models: "
                f"v{', v'.join(map(str, sorted(info.models)))})",
                type=type,
                version=v,  # type: ignore[arg-type]
                current=info.current,
            )
        return entry.model

    def lookup(self, model: type[Any]) -> tuple[str, int]:
        """The (type, version) a model class is registered as."""
        where = self._by_class.get(model)
        if where is None:
            raise UnknownTypeError(
                _name(model),
                self.types(),
                what=f"{_name(model)} is not a registered model",
            )
        return where

    def models(self) -> Iterator[RegisteredModel]:
        """Every registered model, by type then version."""
        for name in self.types():
            info = self._types[name]
            for v in sorted(info.models):
                entry = info.models[v]
                yield RegisteredModel(name, v, entry.model, entry.readable_by)

    def readable_by(self, type: str, version: int) -> int | None:
        """The ``readable_by`` declared for ``type`` v``version`` (None when not declared)."""
        entry = self._info(type).models.get(version)
        return None if entry is None else entry.readable_by

    def json_schema(self, type: str, version: int) -> dict[str, Any]:
        """The JSON schema of one registered model; :class:`SchemaError` names the model when
        it has none (a field type JSON Schema cannot describe)."""
        model = self.model(type, version)
        try:
            return self._types[type].models[version].codec.json_schema()
        except Exception as exc:  # msgspec and pydantic raise their own types for this
            raise SchemaError(
                f"{type} v{version}: cannot build the JSON schema of {_name(model)}: "
                f"{exc.__class__.__name__}: {exc}"
            ) from None

    # ---- chains -------------------------------------------------------------------------

    def chain(self, type: str, from_version: int, to_version: int) -> list[Converter]:
        """The converters from one version to another; raises naming the missing step."""
        return [fn for _, _, fn in self._chain(self._info(type), from_version, to_version)]

    def _chain(
        self, info: _Type, from_version: int, to_version: int
    ) -> list[tuple[int, int, Converter]]:
        key = (from_version, to_version)
        steps = info.chains.get(key)
        if steps is not None:
            return steps
        steps = []
        if from_version < to_version:
            table, step, kind = info.upgraders, 1, "upgrader"
        else:
            table, step, kind = info.downgraders, -1, "downgrader"
        for v in range(from_version, to_version, step):
            fn = table.get(v)
            if fn is None:
                raise UnsupportedVersionError(
                    f"{info.name} v{from_version} cannot be converted to v{to_version}: "
                    f"no {kind} from v{v} to v{v + step} is registered",
                    type=info.name,
                    version=from_version,
                    current=info.current,
                )
            steps.append((v, v + step, fn))
        info.chains[key] = steps
        return steps

    @staticmethod
    def _run(
        info: _Type, steps: list[tuple[int, int, Converter]], data: Any, stamp: Stamp | None
    ) -> Any:
        for v_from, v_to, fn in steps:
            if not isinstance(data, dict):
                raise _not_an_object(info.name, v_from, v_to, data, stamp)
            try:
                data = fn(data)
            except Exception as exc:  # an upgrader bug must surface as a library error
                kind = "upgrader" if v_to > v_from else "downgrader"
                raise PayloadError(
                    f"{info.name}: {_describe(kind, v_from, fn)} failed: "
                    f"{type(exc).__name__}: {exc}",
                    type=info.name,
                    version=v_from,
                    stamp=stamp,
                ) from exc
        return data

    # ---- encode -------------------------------------------------------------------------

    def stamp(self, type: str, version: int, *, producer: str | None = None) -> Stamp:
        """The stamp written for ``type`` v``version`` (cached)."""
        info = self._info(type)
        key = (version, producer)
        stamp = info.stamps.get(key)
        if stamp is None:
            entry = info.models.get(version)
            rb = None if entry is None else entry.readable_by
            if rb == version or (rb is not None and not 1 <= rb <= version):
                rb = None
            stamp = info.stamps[key] = Stamp(
                type=type, version=version, readable_by=rb, producer=producer
            )
        return stamp

    def encode(
        self, msg: object, as_version: int | None = None, *, producer: str | None = None
    ) -> Encoded:
        """Encode a model instance to JSON bytes and stamp it.

        An instance of an older model encodes at that model's version. ``as_version`` writes
        another version through the downgraders (or upgraders); the result is validated
        against that version's model when the registry has one.
        """
        if as_version is None:
            # The common case: one dict lookup, no other work. (Indexing in a try beats
            # dict.get here; a miss happens once per class and producer.)
            try:
                encode, stamp = self._plain[
                    type(msg) if producer is None else (type(msg), producer)
                ]
            except KeyError:
                pass
            else:
                return Encoded(encode(msg), stamp)
        cls = type(msg)
        where = self._by_class.get(cls)
        if where is None:
            raise UnknownTypeError(
                _name(cls),
                self.types(),
                what=f"cannot encode {_name(cls)}: it is not a registered model",
            )
        name, version = where
        info = self._types[name]
        target = version if as_version is None else as_version
        if (
            isinstance(target, bool)
            or not isinstance(target, int)
            or not 1 <= target <= MAX_VERSION
        ):
            raise UnsupportedVersionError(
                f"{name}: expected as_version to be a positive integer below 2^31, got {target!r}",
                type=name,
                version=version,
                current=info.current,
            )
        entry = info.models[version]
        if target == version:
            body = entry.codec.encode(msg)
        else:
            data = self._run(
                info, self._chain(info, version, target), entry.codec.to_builtins(msg), None
            )
            out = info.models.get(target)
            if out is None:
                body = encode_any(data)
            else:
                try:
                    body = out.codec.encode(out.codec.from_builtins(data))
                except VersionedMsgsError:
                    raise
                except DecodeErrors as exc:
                    raise PayloadError(
                        f"{name}: the v{target} payload made from v{version} does not fit "
                        f"the v{target} model {_name(out.model)}: {exc}",
                        type=name,
                        version=target,
                    ) from exc
        stamp = self.stamp(name, target, producer=producer)
        if as_version is None:
            if len(self._plain) >= _PLAIN_MAX:  # many distinct producers: start over
                self._plain.clear()
            self._plain[cls if producer is None else (cls, producer)] = (entry.codec.encode, stamp)
        return Encoded(body, stamp)

    # ---- decode -------------------------------------------------------------------------

    @overload
    def decode(
        self, body: bytes | str, stamp: Stamp | None = None, *, into: type[_M]
    ) -> tuple[_M, Meta]: ...

    @overload
    def decode(
        self, body: bytes | str, stamp: Stamp | None = None, *, into: None = None
    ) -> tuple[Any, Meta]: ...

    def decode(
        self, body: bytes | str, stamp: Stamp | None = None, *, into: type[Any] | None = None
    ) -> tuple[Any, Meta]:
        """Decode a stamped body into a model instance, upgrading it first when older.

        ``stamp`` may be ``None``: an embedded envelope in the body is then used, and a body
        with neither raises :class:`MissingStampError`. A newer payload is decoded with the
        current model when its ``readable_by`` allows (unknown fields ignored); otherwise
        :class:`UnsupportedVersionError`. ``into`` picks another registered model of the same
        type (an older one: newer payloads are then converted through the downgraders).
        """
        if isinstance(body, str):  # an SQS/SNS body as Lambda hands it over
            body = body.encode()
        if stamp is None or looks_embedded(body):
            inner, data = unembed(body)
            if inner is not None:
                body = data
                if stamp is None:
                    stamp = inner
        if stamp is None:
            raise MissingStampError(
                "expected a stamp (vmsg-* attributes, S3 metadata or an embedded envelope), "
                "found none: the payload is unversioned",
                field="type",
                value=None,
            )
        return self.decode_stamped(body, stamp, into)

    def decode_stamped(
        self, body: bytes, stamp: Stamp, into: type[Any] | None = None
    ) -> tuple[Any, Meta]:
        """:meth:`decode` for a body already freed of any envelope."""
        name = stamp.type
        info = self._types.get(name)
        if info is None or info.current is None:
            raise UnknownTypeError(name, self.types())
        if into is None:
            target = info.current
        else:
            where = self._by_class.get(into)
            if where is None or where[0] != name:
                raise PayloadError(
                    f"{name} v{stamp.version} cannot be decoded into {_name(into)}: it is "
                    + ("not registered" if where is None else f"registered as {where[0]}"),
                    type=name,
                    version=stamp.version,
                    stamp=stamp,
                )
            target = where[1]
        if stamp.content_type != "application/json" and not is_json(stamp.content_type):
            raise PayloadError(
                f"{name} v{stamp.version}: expected a JSON payload, got content type "
                f"{stamp.content_type!r}",
                type=name,
                version=stamp.version,
                stamp=stamp,
            )
        written = stamp.version
        entry = info.models[target]
        codec = entry.codec
        upgraded_from = None
        rb = stamp.readable_by
        decision = route(written, rb, target)
        try:
            if decision == "as-is":
                msg = codec.decode(body)
            elif decision == "upgrade":
                steps = self._chain(info, written, target)
                data = self._run(info, steps, decode_any(body), stamp)
                msg = codec.from_builtins(data)
                upgraded_from = written
            elif decision == "tolerate":
                msg = codec.decode_tolerant(body)
            else:  # newer than ``target``
                if written <= info.current:  # into= an older model: downgrade to it
                    steps = self._chain(info, written, target)
                    msg = codec.from_builtins(self._run(info, steps, decode_any(body), stamp))
                elif route(written, rb, info.current) == "tolerate":
                    # Newer than every model but readable by the current one (into= an older
                    # model): read it as the current version, then downgrade.
                    current = info.models[info.current].codec
                    data = current.to_builtins(current.decode_tolerant(body))
                    steps = self._chain(info, info.current, target)
                    msg = codec.from_builtins(self._run(info, steps, data, stamp))
                else:
                    raise UnsupportedVersionError(
                        f"{name} v{written} is newer than this reader (knows up to "
                        f"v{info.current}) and "
                        + (
                            "declares no readable_by"
                            if rb is None
                            else f"is readable only by v{rb} and newer"
                        ),
                        type=name,
                        version=written,
                        current=info.current,
                    )
        except VersionedMsgsError:
            raise
        except (*DecodeErrors, RecursionError) as exc:
            if isinstance(exc, RecursionError):  # msgspec follows ~1000 levels of nesting
                problem = f"the payload is nested too deeply to decode ({exc})"
            elif isinstance(exc, msgspec.DecodeError) and not isinstance(
                exc, msgspec.ValidationError
            ):
                problem = f"the payload is not valid JSON ({exc})"
            else:
                how = ""
                if written != target:
                    how = f", {'upgraded to' if written < target else 'read as'} v{target},"
                problem = (
                    f"the payload{how} does not fit the v{target} model {_name(entry.model)}: {exc}"
                )
            raise PayloadError(
                f"{name} v{written}: {problem}",
                type=name,
                version=target,
                stamp=stamp,
            ) from None
        return msg, Meta(
            type=name,
            version=written,
            model_version=target,
            upgraded_from=upgraded_from,
            readable_by=stamp.readable_by,
            producer=stamp.producer,
            content_type=stamp.content_type,
        )


# ---- the package-internal API of the consumer ------------------------------------------
# The consumer's fast path decodes records with the registry's prebuilt decoders. These
# functions hand them out; they are not part of the public API.


def model_decoder(registry: Registry, type: str, version: int) -> Callable[[Any], Any]:
    """The prebuilt decoder of ``type`` v``version``'s model (raises on any problem without
    naming the record, like :func:`upgrading_decoder`)."""
    entry = registry._info(type).models.get(version)
    if entry is None:
        raise UnsupportedVersionError(
            f"{type} v{version} has no model in this registry",
            type=type,
            version=version,
            current=registry.current(type),
        )
    return entry.codec.decode


def upgrading_decoder(registry: Registry, type: str, version: int) -> Callable[[bytes | str], Any]:
    """A function decoding a body written at ``version`` into the current model.

    The chain is compiled once, here (raising when a step is missing). The function
    raises on any problem without naming the record: use :meth:`Registry.decode_stamped`
    for that. Every failure is a ValueError (an upgrader's own exception is its
    ``__cause__``) or msgspec's DecodeError, so a caller can tell a payload that does not
    upgrade from a bug of its own. It also raises, before any upgrader runs, for a body that
    is an embedded envelope (a top-level ``vmsg`` key): the caller unwraps those first.
    """
    info = registry._info(type)
    steps = registry._chain(info, version, registry.current(type))
    codec = info.models[registry.current(type)].codec
    # This runs once per upgraded record: the steps inline, and msgspec.convert called
    # directly for a Struct model (pydantic goes through its codec).
    struct_model = codec.model if codec.kind == "msgspec" else None
    convert = msgspec.convert
    from_builtins = codec.from_builtins
    name = info.name

    def refuse(data: object, v_from: int, v_to: int) -> Exception:
        if isinstance(data, dict):
            return ValueError("an embedded envelope: unwrap it first")
        return _not_an_object(name, v_from, v_to, data, None)

    def failed(v_from: int, fn: object) -> ValueError:
        return ValueError(f"{name}: {_describe('upgrader', v_from, fn)} failed")

    if len(steps) == 1:  # the common case, without the loop
        ((v_from, v_to, step),) = steps

        def decode_one(body: bytes | str) -> Any:
            data = decode_any(body)
            if builtins.type(data) is not dict or "vmsg" in data:
                raise refuse(data, v_from, v_to)
            try:
                data = step(data)
            except Exception as exc:
                raise failed(v_from, step) from exc
            if struct_model is not None:
                return convert(data, struct_model)
            return from_builtins(data)

        return decode_one

    def decode(body: bytes | str) -> Any:
        data = decode_any(body)
        if builtins.type(data) is dict and "vmsg" in data:
            raise refuse(data, version, version)
        for v_from, v_to, fn in steps:
            if not isinstance(data, dict):
                raise refuse(data, v_from, v_to)
            try:
                data = fn(data)
            except Exception as exc:
                raise failed(v_from, fn) from exc
        if struct_model is not None:
            return convert(data, struct_model)
        return from_builtins(data)

    return decode
