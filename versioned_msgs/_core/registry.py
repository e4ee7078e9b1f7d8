"""The registry: message types, their versioned models, and the chains between versions."""

from __future__ import annotations

import builtins
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol, TypeVar, overload

import msgspec

from .codec import (
    DecodeErrors,
    ModelCodec,
    decode_any,
    describe_misfit,
    encode_any,
    is_model_class,
    refuses_envelope,
)
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

__all__ = [
    "ConverterDecorator",
    "RegisteredModel",
    "Registry",
    "check_converters",
    "converter_forms",
    "model_decoder",
    "upgrading_decoder",
]

_PLAIN_MAX = 1024
_C = TypeVar("_C", bound=type)
_M = TypeVar("_M")
Converter = Callable[[Any], Any]


class _PydanticModel(Protocol):
    """What mypy needs to see of a pydantic model instance (pydantic is never imported)."""

    @property
    def model_fields_set(self) -> set[str]: ...


_DictConverter = TypeVar("_DictConverter", bound=Callable[[dict[str, Any]], dict[str, Any]])
_TypedConverter = TypeVar(
    "_TypedConverter", bound=Callable[[Any], "msgspec.Struct | _PydanticModel"]
)


class ConverterDecorator(Protocol):
    """What :meth:`Registry.upgrader` and :meth:`Registry.downgrader` return: a decorator
    that registers the function and hands it back unchanged. Under mypy the function is
    either a dict converter (``dict -> dict``) or a typed one (returning a model)."""

    @overload
    def __call__(self, fn: _DictConverter, /) -> _DictConverter: ...

    @overload
    def __call__(self, fn: _TypedConverter, /) -> _TypedConverter: ...


_NO_HINT: Any = object()  # a converter without a return annotation


class _Conv:
    """One registered converter and what its annotations say about its form.

    It is typed when it is a function (or method) whose first parameter is annotated with a
    model class: it then takes an instance of the model at ``from_version`` and returns one
    of the model at ``to_version``. Otherwise (no annotation, ``dict``, anything else, or a
    callable object) it takes and returns JSON builtins.
    """

    __slots__ = ("fn", "from_version", "kind", "returns", "takes", "to_version", "unresolved")

    def __init__(self, kind: str, from_version: int, fn: Converter) -> None:
        self.kind = kind
        self.from_version = from_version
        self.to_version = from_version + 1 if kind == "upgrader" else from_version - 1
        self.fn = fn
        self.takes: type[Any] | None = None  # the model class the first parameter names
        self.returns: Any = _NO_HINT  # the return annotation
        self.unresolved: str | None = None  # why the annotations could not be read yet
        self.resolve()

    def resolve(self) -> bool:
        """Read the annotations, string ones resolved in the function's module. False, the
        reason kept in ``unresolved``, when a name is not defined yet: check() and the
        chains try again, once the module has run to its end."""
        fn = self.fn
        if not (inspect.isfunction(fn) or inspect.ismethod(fn)) or not fn.__annotations__:
            self.unresolved = None
            return True  # nothing to read: the dict form
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:  # NameError for a name defined further down, mostly
            self.unresolved = f"{builtins.type(exc).__name__}: {exc}"
            return False
        params = list(inspect.signature(fn).parameters.values())
        first = params[0] if params else None
        positional = first is not None and first.kind in (
            first.POSITIONAL_ONLY,
            first.POSITIONAL_OR_KEYWORD,
        )
        hint = hints.get(first.name) if first is not None and positional else None
        self.takes = hint if is_model_class(hint) else None
        self.returns = hints.get("return", _NO_HINT)
        self.unresolved = None
        return True

    def describe(self) -> str:
        return _describe(self.kind, self.from_version, self.fn, typed=self.takes is not None)


class _Step(NamedTuple):
    """One step of a compiled chain."""

    v_from: int
    v_to: int
    fn: Converter
    takes: type[Any] | None  # typed: the v_from model, which ``fn`` receives; else None
    gives: type[Any] | None  # typed: the v_to model, which ``fn`` must return; else None
    what: str  # "the typed upgrader from v1 to v2 (name)", for errors


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
        self.upgraders: dict[int, _Conv] = {}
        self.downgraders: dict[int, _Conv] = {}
        self.current: int | None = None
        # (from, to) -> the compiled steps
        self.chains: dict[tuple[int, int], list[_Step]] = {}
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


def _describe(kind: str, from_version: int, fn: object, *, typed: bool = False) -> str:
    """``the upgrader from v1 to v2``, plus the function's name when it has a telling one.

    Converters are often anonymous (``def _``, lambdas): their qualname would only confuse.
    A typed converter is always named, by where it is defined when its name tells nothing.
    """
    to = from_version + 1 if kind == "upgrader" else from_version - 1
    text = f"the {'typed ' if typed else ''}{kind} from v{from_version} to v{to}"
    name = getattr(fn, "__qualname__", None)
    if isinstance(name, str) and name.rsplit(".", 1)[-1] not in ("_", "<lambda>"):
        text += f" ({name})"
    elif typed:
        text += f" (at {_where_defined(fn)})"
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

    def _converter(self, kind: str, type: str, from_version: int) -> ConverterDecorator:
        _validate_name(type)
        _validate_version(from_version, "from_version", type)
        if kind == "downgrader" and from_version < 2:
            raise RegistryError([f"{type}: a downgrader from v{from_version} would go below v1"])

        def register(fn: Any) -> Any:
            info = self._type(type)
            table = info.upgraders if kind == "upgrader" else info.downgraders
            if from_version in table:
                self._problems.append(
                    f"{type}: {_describe(kind, from_version, fn)} is registered twice "
                    f"(at {_where_defined(table[from_version].fn)} and at {_where_defined(fn)})"
                )
                return fn
            conv = _Conv(kind, from_version, fn)
            # A typed converter naming the wrong model is refused now when the registered
            # models already tell (else check() reports it).
            if conv.takes is not None and (
                from_version in info.models or conv.takes in self._by_class
            ):
                wrong = self._input_problem(info, conv)
                if wrong is not None:
                    raise RegistryError([wrong])
            table[from_version] = conv
            info.chains.clear()
            return fn

        return register

    def upgrader(self, type: str, from_version: int) -> ConverterDecorator:
        """Decorator: a function turning a ``type`` payload at ``from_version`` into one at +1.

        Dict form: it takes and returns JSON builtins (unannotated, or annotated ``dict``).
        Typed form: its first parameter is annotated with the model registered at
        ``from_version``; it receives an instance of that model (the body is decoded
        straight into it) and must return an instance of the model at ``from_version + 1``.
        Both forms mix in one chain.
        """
        return self._converter("upgrader", type, from_version)

    def downgrader(self, type: str, from_version: int) -> ConverterDecorator:
        """Decorator: a function turning a ``type`` payload at ``from_version`` into one at -1.

        The same two forms as :meth:`upgrader`; a typed downgrader returns an instance of the
        model at ``from_version - 1``.
        """
        return self._converter("downgrader", type, from_version)

    def _input_problem(self, info: _Type, conv: _Conv) -> str | None:
        """What is wrong with the model a typed converter's first parameter names."""
        takes = conv.takes
        assert takes is not None
        entry = info.models.get(conv.from_version)
        if entry is not None and entry.model is takes:
            return None
        if entry is not None:
            found = f"the v{conv.from_version} model is {_name(entry.model)}"
        else:
            found = f"no model is registered at v{conv.from_version}"
            where = self._by_class.get(takes)
            if where is not None:
                found += f" ({_name(takes)} is registered as {where[0]} v{where[1]})"
        return f"{info.name}: {conv.describe()} takes {_name(takes)}, but {found}"

    def _converter_problems(self, info: _Type, conv: _Conv) -> list[str]:
        """Why ``conv`` cannot run as its annotations say, given the registered models."""
        what = f"{info.name}: {conv.describe()}"
        if conv.unresolved is not None and not conv.resolve():
            return [
                f"{what}: cannot resolve its annotations to tell its form ({conv.unresolved}); "
                f"the names they use must be defined at run time"
            ]
        f, t = conv.from_version, conv.to_version
        if conv.takes is None:
            if is_model_class(conv.returns):
                return [
                    f"{what} takes a dict but is annotated to return {_name(conv.returns)}: "
                    f"annotate its parameter with the v{f} model to make it typed, or return "
                    f"a dict"
                ]
            return []
        found = []
        wrong = self._input_problem(info, conv)
        if wrong is not None:
            found.append(wrong)
        out = info.models.get(t)
        if out is None:
            found.append(f"{what} must return the v{t} model, but no model is registered at v{t}")
        elif conv.returns is not _NO_HINT and conv.returns is not out.model:
            found.append(
                f"{what} is annotated to return {_name(conv.returns)}, but the v{t} model is "
                f"{_name(out.model)}"
            )
        return found

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
            for table in (info.upgraders, info.downgraders):
                for f in sorted(table):
                    found += self._converter_problems(info, table[f])
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
        """The converters from one version to another; raises naming the missing step
        (:class:`UnsupportedVersionError`) or a typed converter whose annotations do not
        match the registered models (:class:`RegistryError`)."""
        return [step.fn for step in self._chain(self._info(type), from_version, to_version)]

    def _chain(self, info: _Type, from_version: int, to_version: int) -> list[_Step]:
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
            conv = table.get(v)
            if conv is None:
                raise UnsupportedVersionError(
                    f"{info.name} v{from_version} cannot be converted to v{to_version}: "
                    f"no {kind} from v{v} to v{v + step} is registered",
                    type=info.name,
                    version=from_version,
                    current=info.current,
                )
            problems = self._converter_problems(info, conv)
            if problems:
                raise RegistryError(problems)
            gives = None if conv.takes is None else info.models[v + step].model
            steps.append(_Step(v, v + step, conv.fn, conv.takes, gives, conv.describe()))
        info.chains[key] = steps
        return steps

    @staticmethod
    def _run(info: _Type, steps: list[_Step], data: Any, stamp: Stamp | None) -> Any:
        """Run compiled steps over ``data``, which is what the first step takes: an instance
        of its model when it is typed, JSON builtins otherwise. Returns what the last step
        gives, in the same way. Between a typed and a dict step the data changes form."""
        name = info.name
        typed = steps[0].takes is not None
        for step in steps:
            if step.takes is None:
                if typed:  # from a typed step: its model's builtins
                    data = _builtins_of(info, step, data, stamp)
                    typed = False
                if not isinstance(data, dict):
                    raise _not_an_object(name, step.v_from, step.v_to, data, stamp)
                try:
                    data = step.fn(data)
                except Exception as exc:  # an upgrader bug must surface as a library error
                    # (its text may quote the payload: the exception is the __cause__)
                    text = f"{name}: {step.what} failed: {type(exc).__name__}"
                    raise _step_error(name, step, text, stamp) from exc
            else:
                if not typed:  # from a dict step: validated by the model this one takes
                    data = _fit(info, step, data, stamp, body=False)
                    typed = True
                try:
                    out = step.fn(data)
                except Exception as exc:
                    raise _typed_failure(name, step, exc, stamp) from exc
                if type(out) is not step.gives:
                    raise _wrong_return(name, step, out, stamp)
                data = out
        return data

    def _from_body(self, info: _Type, written: int, target: int, body: bytes, stamp: Stamp) -> Any:
        """A body written at ``written`` as an instance of the ``target`` model, through the
        chain between them. A typed first step has the body decoded straight into its model,
        so a body that does not fit it is refused before any converter runs."""
        steps = self._chain(info, written, target)
        first = steps[0]
        if first.takes is None:
            data = decode_any(body)
        else:
            data = _fit(info, first, body, stamp, body=True)
        return _finish(info, steps, self._run(info, steps, data, stamp))

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
            steps = self._chain(info, version, target)
            data = self._run(info, steps, _given(info, steps, msg), None)
            out = info.models.get(target)
            if out is None:
                body = encode_any(data)
            elif steps[-1].takes is not None:  # a typed step made an instance of the model
                body = out.codec.encode(data)
            else:
                try:
                    body = out.codec.encode(out.codec.from_builtins(data))
                except VersionedMsgsError:
                    raise
                except DecodeErrors as exc:
                    raise PayloadError(
                        f"{name}: the v{target} payload made from v{version} does not fit "
                        f"the v{target} model {_name(out.model)}: {describe_misfit(exc)}",
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
                msg = self._from_body(info, written, target, body, stamp)
                upgraded_from = written
            elif decision == "tolerate":
                msg = codec.decode_tolerant(body)
            else:  # newer than ``target``
                if written <= info.current:  # into= an older model: downgrade to it
                    msg = self._from_body(info, written, target, body, stamp)
                elif route(written, rb, info.current) == "tolerate":
                    # Newer than every model but readable by the current one (into= an older
                    # model): read it as the current version, then downgrade.
                    newest = info.models[info.current].codec.decode_tolerant(body)
                    steps = self._chain(info, info.current, target)
                    data = self._run(info, steps, _given(info, steps, newest), stamp)
                    msg = _finish(info, steps, data)
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
                    f"the payload{how} does not fit the v{target} model {_name(entry.model)}: "
                    f"{describe_misfit(exc)}"
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


# ---- running chains ---------------------------------------------------------------------


def _given(info: _Type, steps: list[_Step], msg: Any) -> Any:
    """A model instance at the chain's first version, as its first step takes it."""
    if steps[0].takes is not None:
        return msg
    return info.models[steps[0].v_from].codec.to_builtins(msg)


def _finish(info: _Type, steps: list[_Step], data: Any) -> Any:
    """What the chain's last step gave, as an instance of the model it leads to."""
    if steps[-1].takes is not None:
        return data  # a typed step: checked to be exactly that model
    return info.models[steps[-1].v_to].codec.from_builtins(data)


def _fit(info: _Type, step: _Step, data: Any, stamp: Stamp | None, *, body: bool) -> Any:
    """``data`` as an instance of the model the typed ``step`` takes: a body decoded straight
    into it (``body``), or the builtins of the step before converted into it. A misfit
    raises a PayloadError naming that model, by field path and kind only; a body that is
    not JSON at all raises msgspec's DecodeError, worded by the caller."""
    entry = info.models[step.v_from]
    try:
        return entry.codec.decode(data) if body else entry.codec.from_builtins(data)
    except msgspec.ValidationError as exc:
        problem: Exception = exc
    except msgspec.DecodeError:
        raise
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        problem = exc
    what = "the payload" if body else f"the v{step.v_from} payload made by the step before"
    text = (
        f"{info.name} v{step.v_from}: {what} does not fit the v{step.v_from} model "
        f"{_name(entry.model)} that {step.what} takes: {describe_misfit(problem)}"
    )
    raise _step_error(info.name, step, text, stamp) from None


def _builtins_of(info: _Type, step: _Step, data: Any, stamp: Stamp | None) -> Any:
    """The JSON builtins of the model instance a typed step gave, for the dict ``step``."""
    try:
        return info.models[step.v_from].codec.to_builtins(data)
    except Exception as exc:  # a value the model's JSON form cannot hold
        text = (
            f"{info.name}: the v{step.v_from} {_name(builtins.type(data))} given to "
            f"{step.what} has no JSON form: {builtins.type(exc).__name__}"
        )
        raise _step_error(info.name, step, text, stamp) from exc


def _step_error(name: str, step: _Step, text: str, stamp: Stamp | None) -> PayloadError:
    """The PayloadError of one step of a chain, about the version it starts from."""
    return PayloadError(text, type=name, version=step.v_from, stamp=stamp)


def _typed_failure(name: str, step: _Step, exc: Exception, stamp: Stamp | None) -> PayloadError:
    """A typed converter raised. Named by its step and the exception's type: the exception's
    text may quote the payload, and the exception itself is the ``__cause__``."""
    text = f"{name}: {step.what} failed: {builtins.type(exc).__name__}"
    return _step_error(name, step, text, stamp)


def _wrong_return(name: str, step: _Step, out: object, stamp: Stamp | None) -> PayloadError:
    """A typed converter returned something other than its next version's model; the
    ``__cause__`` is a TypeError naming both types."""
    got, expected = _name(builtins.type(out)), _name(step.gives)
    text = f"{name}: {step.what} returned {got}, not the v{step.v_to} model {expected}"
    err = _step_error(name, step, text, stamp)
    err.__cause__ = TypeError(f"expected {expected}, got {got}")
    err.__suppress_context__ = True
    return err


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

    A chain starting with a typed step decodes the body straight into that step's model.
    An envelope cannot decode into a Struct that requires a field the envelope lacks (or
    forbids unknown fields); for any other model the body's top-level keys are read first.
    """
    info = registry._info(type)
    steps = registry._chain(info, version, registry.current(type))
    codec = info.models[registry.current(type)].codec
    # This runs once per upgraded record: the common one-step chains inline, and
    # msgspec.convert called directly for a Struct model (pydantic goes through its codec).
    struct_model = codec.model if codec.kind == "msgspec" else None
    convert = msgspec.convert
    from_builtins = codec.from_builtins
    name = info.name
    first = steps[0]

    def refuse(data: object, v_from: int, v_to: int) -> Exception:
        if isinstance(data, dict):
            return ValueError("an embedded envelope: unwrap it first")
        return _not_an_object(name, v_from, v_to, data, None)

    def builtins_start(body: bytes | str) -> Any:
        data = decode_any(body)
        if builtins.type(data) is dict and "vmsg" in data:
            raise refuse(data, version, version)
        return data

    start: Callable[[bytes | str], Any] = builtins_start
    if first.takes is None and len(steps) == 1:  # the common dict case, without the loop
        v_from, v_to, step = first.v_from, first.v_to, first.fn

        def decode_one(body: bytes | str) -> Any:
            data = decode_any(body)
            if builtins.type(data) is not dict or "vmsg" in data:
                raise refuse(data, v_from, v_to)
            try:
                data = step(data)
            except Exception as exc:
                raise ValueError(f"{name}: {first.what} failed") from exc
            if struct_model is not None:
                return convert(data, struct_model)
            return from_builtins(data)

        return decode_one

    if first.takes is not None:
        decode_old = info.models[first.v_from].codec.decode
        start = decode_old
        if not refuses_envelope(first.takes):

            def checked_start(body: bytes | str) -> Any:
                builtins_start(body)
                return decode_old(body)

            start = checked_start

        if len(steps) == 1:  # the common typed case, without the loop
            fn, gives = first.fn, first.gives

            def decode_typed(body: bytes | str) -> Any:
                old = start(body)
                try:
                    new = fn(old)
                except Exception as exc:
                    raise _typed_failure(name, first, exc, None) from exc
                if builtins.type(new) is not gives:
                    raise _wrong_return(name, first, new, None)
                return new

            return decode_typed

    run = registry._run
    last_typed = steps[-1].takes is not None

    def decode(body: bytes | str) -> Any:
        data = run(info, steps, start(body), None)
        if last_typed:
            return data
        if struct_model is not None:
            return convert(data, struct_model)
        return from_builtins(data)

    return decode


def check_converters(registry: Registry) -> None:
    """Raise :class:`RegistryError` for every converter that cannot run as its annotations
    say (the converter lines of :meth:`Registry.check`), for Publisher and Consumer to call
    when they are built, whatever else the registry lacks."""
    found = [
        problem
        for name in registry.types()
        for info in (registry._types[name],)
        for table in (info.upgraders, info.downgraders)
        for f in sorted(table)
        for problem in registry._converter_problems(info, table[f])
    ]
    if found:
        raise RegistryError(found)


def converter_forms(registry: Registry, type: str) -> dict[tuple[str, int], str]:
    """``(kind, from_version) -> "typed" or "dict"`` for every converter of ``type``; raises
    :class:`RegistryError` when a converter's annotations cannot be resolved."""
    info = registry._info(type)
    forms: dict[tuple[str, int], str] = {}
    for table in (info.upgraders, info.downgraders):
        for f in sorted(table):
            conv = table[f]
            if conv.unresolved is not None and not conv.resolve():
                raise RegistryError(registry._converter_problems(info, conv))
            forms[conv.kind, f] = "dict" if conv.takes is None else "typed"
    return forms
