"""The error hierarchy: one base, builtin bases where they fit, context as attributes."""

from __future__ import annotations

import pytest

import versioned_msgs as vm

ALL_ERRORS = [
    vm.RegistryError,
    vm.StampError,
    vm.MissingStampError,
    vm.UnknownTypeError,
    vm.UnsupportedVersionError,
    vm.PayloadError,
    vm.LimitExceededError,
    vm.PinError,
    vm.SchemaError,
    vm.EventShapeError,
    vm.StaleObjectError,
    vm.RecordsFailedError,
    vm.BucketNotAllowedError,
]


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_every_error_derives_from_the_base(cls: type[Exception]) -> None:
    """``except vm.VersionedMsgsError`` catches everything the library raises on purpose."""
    assert issubclass(cls, vm.VersionedMsgsError)
    assert issubclass(vm.VersionedMsgsError, Exception)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (vm.StampError, ValueError),
        (vm.MissingStampError, ValueError),
        (vm.PayloadError, ValueError),
        (vm.LimitExceededError, ValueError),
        (vm.UnknownTypeError, LookupError),
    ],
)
def test_builtin_bases(cls: type[Exception], builtin: type[Exception]) -> None:
    """Bad values are ValueErrors and unknown types LookupErrors, for code that expects those."""
    assert issubclass(cls, builtin)


def test_missing_stamp_is_a_stamp_error() -> None:
    """A missing stamp is handled wherever a malformed one is."""
    assert issubclass(vm.MissingStampError, vm.StampError)


def test_registry_and_version_errors_are_not_value_errors() -> None:
    """Registry and version errors are about code and deployments, not about a bad value."""
    assert not issubclass(vm.RegistryError, ValueError)
    assert not issubclass(vm.UnsupportedVersionError, ValueError)


def test_base_carries_message_id() -> None:
    """message_id defaults to None and is set when given."""
    assert vm.VersionedMsgsError("x").message_id is None
    assert vm.VersionedMsgsError("x", message_id="m-1").message_id == "m-1"
    assert str(vm.VersionedMsgsError("x")) == "x"


def test_registry_error_lists_problems() -> None:
    """One problem is the message; several are listed under a count."""
    one = vm.RegistryError(["a: no upgrader from v1 to v2"])
    assert str(one) == "a: no upgrader from v1 to v2"
    assert one.problems == ["a: no upgrader from v1 to v2"]
    two = vm.RegistryError(["p1", "p2"])
    assert str(two) == "2 registry problems:\n  - p1\n  - p2"
    assert two.problems == ["p1", "p2"]


def test_stamp_error_context() -> None:
    """StampError names the field and the value found."""
    err = vm.StampError("bad", field="version", value="02", message_id="m")
    assert (err.field, err.value, err.message_id, str(err)) == ("version", "02", "m", "bad")


def test_unknown_type_error_context() -> None:
    """UnknownTypeError says which type and which types are known, sorted."""
    err = vm.UnknownTypeError("c", ["b", "a"])
    assert (err.type, err.known) == ("c", ["a", "b"])
    assert str(err) == "unknown message type 'c': this registry knows a, b"
    assert str(vm.UnknownTypeError("c", [])) == "unknown message type 'c': this registry knows none"


def test_unsupported_version_error_context() -> None:
    """UnsupportedVersionError carries type, version as written and the reader's current."""
    err = vm.UnsupportedVersionError("m", type="t", version=3, current=2, message_id="id")
    assert (err.type, err.version, err.current, err.message_id) == ("t", 3, 2, "id")


def test_payload_error_context() -> None:
    """PayloadError carries the type, the model version and the stamp read."""
    stamp = vm.Stamp(type="t", version=1)
    err = vm.PayloadError("m", type="t", version=1, stamp=stamp)
    assert (err.type, err.version, err.stamp, err.message_id) == ("t", 1, stamp, None)


def test_limit_exceeded_error_context() -> None:
    """LimitExceededError names the limit with the allowed and actual values."""
    err = vm.LimitExceededError("too big", limit="SQS message size", allowed=1, actual=2)
    assert (err.limit, err.allowed, err.actual, str(err)) == ("SQS message size", 1, 2, "too big")


@pytest.mark.parametrize(
    "err",
    [
        vm.RegistryError(["p1", "p2"]),
        vm.StampError("bad", field="version", value="02", message_id="m"),
        vm.MissingStampError("none", field="type"),
        vm.UnknownTypeError("c", ["a"], message_id="m"),
        vm.UnsupportedVersionError("m", type="t", version=3, current=2),
        vm.PayloadError("m", type="t", version=1, stamp=vm.Stamp(type="t", version=1)),
        vm.LimitExceededError("too big", limit="SQS message size", allowed=1, actual=2),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickle_and_copy(err: vm.VersionedMsgsError) -> None:
    """Errors cross process pools and copies with their message and context intact."""
    import copy
    import pickle

    for back in (pickle.loads(pickle.dumps(err)), copy.copy(err), copy.deepcopy(err)):
        assert type(back) is type(err)
        assert str(back) == str(err)
        assert vars(back) == vars(err)
        assert back.message_id == err.message_id


def test_a_huge_stamp_value_is_cut_in_the_message() -> None:
    """A 256 KiB ``vmsg-type`` is refused with its first characters and its length, never
    echoed in full into the error (and so into every log line that prints it)."""
    huge = "X" * 262_144
    with pytest.raises(vm.StampError) as info:
        vm.Stamp.from_message_attributes(
            {
                "vmsg-type": {"DataType": "String", "StringValue": huge},
                "vmsg-version": {"DataType": "Number", "StringValue": "1"},
            }
        )
    text = str(info.value)
    assert len(text) < 300
    assert "262146 characters" in text  # the repr's length, quotes included


def test_records_failed_error_names_a_handler_exception_by_its_type_only() -> None:
    """A handler's own exception may carry payload values (a card number in a ValueError):
    RecordsFailedError, which Lambda logs, names its type and keeps it on the result."""
    from consumer_models import PRODUCER, OrderV2, consumer_registry

    from versioned_msgs.testing import sns_event

    consumer = vm.Consumer(consumer_registry())

    @consumer.handler(OrderV2)
    def handle(order: OrderV2, meta: vm.Meta) -> None:
        int("4111 1111 1111 1111")

    with pytest.raises(vm.RecordsFailedError) as info:
        consumer.handle_event(sns_event(PRODUCER.encode(OrderV2(id="a", qty=1))), None)
    assert "ValueError" in str(info.value)
    assert "4111" not in str(info.value)
    [failed] = info.value.report.failures
    assert "4111" in str(failed.error)  # the user's exception itself is kept as it was
