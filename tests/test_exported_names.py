"""The public surface: ``versioned_msgs.__all__`` is exactly the list below.

Adding a public name is a deliberate act: add it to ``__init__.py`` and to this list.
"""

from __future__ import annotations

import versioned_msgs

EXPECTED = [
    "BatchFailure",
    "BatchResult",
    "BatchSuccess",
    "BucketNotAllowedError",
    "Consumer",
    "EMFMetrics",
    "Encoded",
    "EventShapeError",
    "LimitExceededError",
    "MemoryMetrics",
    "Meta",
    "MetricsSink",
    "MissingStampError",
    "PayloadError",
    "PinError",
    "Publisher",
    "RecordResult",
    "RecordsFailedError",
    "RegisteredModel",
    "Registry",
    "RegistryError",
    "SchemaError",
    "Report",
    "S3Reader",
    "StaleObjectError",
    "Stamp",
    "StampError",
    "TraceContext",
    "UnknownTypeError",
    "UnsupportedVersionError",
    "VersionedMsgsError",
    "consume",
    "__version__",
]


def test_all_is_the_expected_list() -> None:
    """Nothing is exported by accident and nothing public goes missing."""
    assert sorted(versioned_msgs.__all__) == sorted(EXPECTED)


def test_all_is_sorted_with_version_last() -> None:
    """__all__ is kept sorted by hand, with __version__ last."""
    names = versioned_msgs.__all__
    assert names[-1] == "__version__"
    assert names[:-1] == sorted(names[:-1])
    assert len(set(names)) == len(names)


def test_every_name_is_importable() -> None:
    """Every exported name resolves to a real object."""
    for name in versioned_msgs.__all__:
        value = getattr(versioned_msgs, name)
        assert value is not None, name
    assert isinstance(versioned_msgs.__version__, str)


def test_no_private_module_leaks_a_public_name() -> None:
    """Public names that are not in __all__ are only submodules (private or public)."""
    import types

    extra = {
        name
        for name in dir(versioned_msgs)
        if not name.startswith("_")
        and name not in versioned_msgs.__all__
        and not isinstance(getattr(versioned_msgs, name), types.ModuleType)
    }
    assert extra == set()


TESTING_EXPECTED = [
    "Emulator",
    "eventbridge_event",
    "kinesis_event",
    "lambda_kinesis_event",
    "lambda_sqs_event",
    "s3_event",
    "sns_event",
    "sns_sqs_event",
    "sqs_event",
]


def test_the_testing_package_exports_its_builders() -> None:
    """``versioned_msgs.testing`` keeps its public names, whatever its modules are called."""
    import versioned_msgs.testing as testing

    assert sorted(testing.__all__) == TESTING_EXPECTED
    assert all(callable(getattr(testing, name)) for name in testing.__all__)


def test_s3batch_keeps_make_handler() -> None:
    """``from versioned_msgs.s3batch import make_handler`` is a public import path."""
    from versioned_msgs.s3batch import __all__ as names
    from versioned_msgs.s3batch import make_handler

    assert names == ["make_handler"]
    assert callable(make_handler)


def test_the_console_script_and_the_pytest_plugin_resolve() -> None:
    """The installed ``versioned-msgs`` script and the ``pytest11`` plugin entry point load
    the objects they name (a moved module would break both for users)."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="versioned-msgs")
    assert callable(script.load())
    (plugin,) = entry_points(group="pytest11", name="versioned_msgs")
    module = plugin.load()
    assert callable(module.aws)
    assert callable(module.moto_server)
