"""Schema locks and ``readable_by`` verification (``versioned-msgs lock`` / ``check --lock``).

A lock is a JSON snapshot of every registered (type, version) model's JSON schema. Once a
version has been released its model must not change: a change needs a new version. Schemas
are compared after normalising away what does not reach the wire (titles, descriptions,
``$ref`` names), so renaming a class or editing a docstring is not a change.

The lock also records the form of every upgrader and downgrader, ``"typed"`` or ``"dict"``:
a typed converter has old bodies validated by the old model before it runs, a dict one does
not, so a change of form changes which stored payloads still upgrade. Locks written before
forms were recorded have no ``converters`` entry and are compared on their schemas alone.

``readable_by=r`` on v``n`` claims that readers at v``r``..v``n-1`` can decode a v``n``
payload with their own model. :func:`verify_readable_by` checks that claim from the schemas:
every field an older model requires must be written by the newer one with a type the older
model accepts, shared fields must keep compatible types, and an older model that forbids
unknown fields cannot read a newer payload that adds fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from .._core.errors import RegistryError, SchemaError
from .._core.registry import Registry, converter_forms

__all__ = [
    "LOCK_FORMAT",
    "SchemaError",
    "compare_lock",
    "make_lock",
    "normalize",
    "verify_readable_by",
]

LOCK_FORMAT = 1

# Schema keywords that annotate and never change what a reader accepts.
_ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "deprecated"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_SCHEMA_ONE = frozenset(
    {"items", "additionalProperties", "not", "contains", "propertyNames", "unevaluatedProperties"}
)
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


# ---- lock files -------------------------------------------------------------------------


_KINDS = ("upgrader", "downgrader")


def make_lock(registry: Registry) -> dict[str, Any]:
    """The lock document for every model and converter in ``registry``.

    Raises :class:`SchemaError` when a model has no JSON schema or a converter's form
    cannot be told (its annotations name something undefined).
    """
    types: dict[str, dict[str, Any]] = {}
    for entry in registry.models():
        types.setdefault(entry.type, {})[str(entry.version)] = {
            "model": getattr(entry.model, "__qualname__", repr(entry.model)),
            "readable_by": entry.readable_by,
            "schema": registry.json_schema(entry.type, entry.version),
        }
    converters: dict[str, dict[str, dict[str, str]]] = {}
    for name in registry.types():
        try:
            forms = converter_forms(registry, name)
        except RegistryError as exc:
            raise SchemaError("; ".join(exc.problems)) from None
        for (kind, version), form in forms.items():
            converters.setdefault(name, {}).setdefault(f"{kind}s", {})[str(version)] = form
    return {"versioned_msgs_lock": LOCK_FORMAT, "types": types, "converters": converters}


def dumps_lock(lock: Mapping[str, Any]) -> str:
    """The lock as stable text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(lock, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def loads_lock(text: str, *, where: str) -> dict[str, Any]:
    """Parse a lock file; raises ``ValueError`` naming the file and what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: expected a JSON lock file, got invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("versioned_msgs_lock") != LOCK_FORMAT:
        found = doc.get("versioned_msgs_lock") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(
            f"{where}: expected a versioned-msgs lock (versioned_msgs_lock: {LOCK_FORMAT}), "
            f"found {found!r}"
        )
    types = doc.get("types")
    if not isinstance(types, dict) or not all(
        isinstance(v, dict) and all(isinstance(e, dict) and "schema" in e for e in v.values())
        for v in types.values()
    ):
        raise ValueError(f"{where}: expected 'types' to map each type to versions with a 'schema'")
    converters = doc.get("converters", {})
    if not isinstance(converters, dict) or not all(
        isinstance(kinds, dict)
        and all(
            kind in ("upgraders", "downgraders")
            and isinstance(forms, dict)
            and all(form in ("typed", "dict") for form in forms.values())
            for kind, forms in kinds.items()
        )
        for kinds in converters.values()
    ):
        raise ValueError(
            f"{where}: expected 'converters' to map each type to upgraders and downgraders, "
            f"each version's form 'typed' or 'dict'"
        )
    return doc


def compare_lock(registry: Registry, lock: Mapping[str, Any]) -> list[str]:
    """Problems between the registry and a lock: changed or vanished locked versions.

    Versions registered after the lock was written are fine (that is how models evolve).
    """
    problems: list[str] = []
    known = set(registry.types())
    for type_name in sorted(lock["types"]):
        versions = lock["types"][type_name]
        for v_text in sorted(versions, key=_int_key):
            version = _int_key(v_text)
            if type_name not in known or version not in registry.versions(type_name):
                problems.append(
                    f"{type_name} v{v_text}: locked but no longer registered (re-run "
                    f"`versioned-msgs lock` if it was removed on purpose)"
                )
                continue
            old = normalize(versions[v_text]["schema"])
            try:
                new = normalize(registry.json_schema(type_name, version))
            except SchemaError as exc:
                problems.append(str(exc))
                continue
            if old != new:
                changes = "; ".join(_describe_changes(old, new, "")) or "schema differs"
                problems.append(
                    f"{type_name} v{version}: the model changed since the lock ({changes}); "
                    f"a released version must not change: register the new shape as "
                    f"v{registry.current(type_name) + 1}"
                )
    return problems + _compare_converters(registry, lock.get("converters", {}), known)


def _compare_converters(
    registry: Registry, locked: Mapping[str, Any], known: set[str]
) -> list[str]:
    """Locked converters that are gone or changed form."""
    problems: list[str] = []
    for type_name in sorted(locked):
        forms: dict[tuple[str, int], str] = {}
        if type_name in known:
            try:
                forms = converter_forms(registry, type_name)
            except RegistryError:
                continue  # the registry's own check names the converter it cannot read
        for kind in _KINDS:
            entries = locked[type_name].get(f"{kind}s", {})
            for v_text in sorted(entries, key=_int_key):
                version = _int_key(v_text)
                to = version + 1 if kind == "upgrader" else version - 1
                what = f"{type_name}: the {kind} from v{version} to v{to}"
                now, then = forms.get((kind, version)), entries[v_text]
                if now is None:
                    problems.append(
                        f"{what} is locked but no longer registered (re-run `versioned-msgs "
                        f"lock` if it was removed on purpose)"
                    )
                elif now != then:
                    problems.append(
                        f"{what} was {then} in the lock and is {now} now: a typed converter "
                        f"has old bodies validated by its model first, a dict one does not "
                        f"(re-run `versioned-msgs lock` if the change is deliberate)"
                    )
    return problems


def _int_key(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# ---- normalisation ----------------------------------------------------------------------


def normalize(schema: Any) -> Any:
    """A schema with annotations dropped and every ``$ref`` inlined (cycles keep the ref)."""
    defs = schema.get("$defs", {}) if isinstance(schema, dict) else {}
    return _norm(schema, defs, ())


def _norm(schema: Any, defs: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref[len("#/$defs/") :]
        if name in stack or name not in defs:
            out["$ref"] = "#recursive" if name in stack else ref
        else:
            out.update(_norm(defs[name], defs, (*stack, name)))
    for key, value in schema.items():
        if key in _ANNOTATIONS or key in ("$defs", "$ref"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _norm(v, defs, stack) for k, v in value.items()}
        elif key in _SCHEMA_ONE:
            out[key] = _norm(value, defs, stack)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_norm(v, defs, stack) for v in value]
        elif key == "required" and isinstance(value, list):
            out[key] = sorted(value)
        else:
            out[key] = value
    return out


def _describe_changes(old: Any, new: Any, path: str) -> Iterator[str]:
    """Human-readable field-level differences between two normalised object schemas."""
    old_props = old.get("properties") if isinstance(old, dict) else None
    new_props = new.get("properties") if isinstance(new, dict) else None
    if not isinstance(old_props, dict) or not isinstance(new_props, dict):
        if old != new:
            yield f"{path or 'the model'} changed from {_short(old)} to {_short(new)}"
        return
    old_req = set(old.get("required", []))
    new_req = set(new.get("required", []))
    for name in sorted(set(old_props) | set(new_props)):
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            yield f"field {where!r} removed"
        elif name not in old_props:
            yield f"field {where!r} added" + (" (required)" if name in new_req else "")
        else:
            if (name in old_req) != (name in new_req):
                yield f"field {where!r} became " + ("required" if name in new_req else "optional")
            a, b = old_props[name], new_props[name]
            if a != b:
                if isinstance(a, dict) and "properties" in a and isinstance(b, dict):
                    yield from _describe_changes(a, b, where)
                else:
                    yield f"field {where!r} changed from {_short(a)} to {_short(b)}"
    rest_old = {k: v for k, v in old.items() if k not in ("properties", "required")}
    rest_new = {k: v for k, v in new.items() if k not in ("properties", "required")}
    for key in sorted(set(rest_old) | set(rest_new)):
        if rest_old.get(key) != rest_new.get(key):
            yield (
                f"{key!r} of {path or 'the model'} changed from {_short(rest_old.get(key))} "
                f"to {_short(rest_new.get(key))}"
            )


def _short(schema: Any) -> str:
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


# ---- readable_by ------------------------------------------------------------------------


def verify_readable_by(registry: Registry) -> list[str]:
    """Every false ``readable_by`` claim in the registry, one line per violation."""
    problems: list[str] = []
    for entry in registry.models():
        rb = entry.readable_by
        if rb is None or rb >= entry.version:
            continue
        try:
            new = normalize(registry.json_schema(entry.type, entry.version))
        except SchemaError as exc:
            problems.append(str(exc))
            continue
        for old_version in registry.versions(entry.type):
            if not rb <= old_version < entry.version:
                continue
            try:
                old = normalize(registry.json_schema(entry.type, old_version))
            except SchemaError as exc:
                problems.append(str(exc))
                continue
            for where, why in _readable(old, new, ""):
                problems.append(
                    f"{entry.type} v{entry.version} declares readable_by={rb}, but a "
                    f"v{old_version} reader cannot read it: {where} {why}"
                )
    return problems


_ANY = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


def _json_types(schema: Any) -> frozenset[str]:
    """The JSON types a schema accepts (all of them when it does not say)."""
    if schema is False:
        return frozenset()
    if not isinstance(schema, dict):
        return _ANY
    if "const" in schema:
        return frozenset({_type_of(schema["const"])})
    if isinstance(schema.get("enum"), list):
        return frozenset(_type_of(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            out: frozenset[str] = frozenset()
            for branch in schema[key]:
                out |= _json_types(branch)
            return out
    t = schema.get("type")
    if isinstance(t, str):
        return frozenset({t})
    if isinstance(t, list):
        return frozenset(str(x) for x in t)
    return _ANY


def _type_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _accepts_types(old: frozenset[str], new: frozenset[str]) -> frozenset[str]:
    """The types the new schema may write that the old one rejects."""
    bad = set(new - old)
    if "integer" in bad and "number" in old:
        bad.discard("integer")  # every JSON integer is a number
    return frozenset(bad)


def _only_object(schema: Any) -> dict[str, Any] | None:
    """The object schema itself, or its single object branch in an ``anyOf``/``oneOf``."""
    if not isinstance(schema, dict):
        return None
    if "properties" in schema:
        return schema
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            objs = [b for b in branches if isinstance(b, dict) and "properties" in b]
            if len(objs) == 1:
                return objs[0]
    return None


def _readable(old: Any, new: Any, path: str) -> Iterator[tuple[str, str]]:
    """(where, why) for each way a payload valid for ``new`` can be rejected by ``old``."""
    label = f"field {path!r}" if path else "the payload"
    old_t, new_t = _json_types(old), _json_types(new)
    bad = _accepts_types(old_t, new_t)
    if bad:
        yield (
            label,
            (
                f"may be {', '.join(sorted(bad))} in the newer model, which the older model "
                f"rejects (it accepts {', '.join(sorted(old_t))})"
            ),
        )
        return
    if isinstance(old, dict) and isinstance(new, dict):
        old_enum = old.get("enum", [old["const"]] if "const" in old else None)
        new_enum = new.get("enum", [new["const"]] if "const" in new else None)
        if isinstance(old_enum, list):
            if not isinstance(new_enum, list):
                yield label, f"is limited to {old_enum!r} in the older model but not in the newer"
            else:
                extra = [v for v in new_enum if v not in old_enum]
                if extra:
                    yield label, f"may be {extra!r} in the newer model, unknown to the older"
    old_obj, new_obj = _only_object(old), _only_object(new)
    if old_obj is not None and new_obj is not None:
        yield from _readable_object(old_obj, new_obj, path)
    elif isinstance(old, dict) and isinstance(new, dict):
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            yield from _readable(old["items"], new["items"], f"{path}[]")
        old_ap, new_ap = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_ap, dict) and isinstance(new_ap, dict):
            yield from _readable(old_ap, new_ap, f"{path}{{}}")


def _readable_object(
    old: dict[str, Any], new: dict[str, Any], path: str
) -> Iterator[tuple[str, str]]:
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name in sorted(old.get("required", [])):
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            yield f"field {where!r}", "is required by the older model and missing from the newer"
    for name in sorted(set(old_props) & set(new_props)):
        where = f"{path}.{name}" if path else name
        yield from _readable(old_props[name], new_props[name], where)
    added = sorted(set(new_props) - set(old_props))
    if added and old.get("additionalProperties") is False:
        shown = ", ".join(repr(f"{path}.{n}" if path else n) for n in added)
        yield "the older model", f"forbids unknown fields and the newer adds {shown}"
