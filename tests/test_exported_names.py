"""The public surface: ``versioned_msgs.__all__`` is exactly the list below.

Adding a public name is a deliberate act: add it to ``__init__.py`` and to this list.
"""

from __future__ import annotations

import versioned_msgs

EXPECTED = [
    "BatchFailure",
    "BatchResult",
    "BatchSuccess",
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
    "Publisher",
    "RecordResult",
    "RecordsFailedError",
    "RegisteredModel",
    "Registry",
    "RegistryError",
    "Report",
    "S3Reader",
    "StaleObjectError",
    "Stamp",
    "StampError",
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
