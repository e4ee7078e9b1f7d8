"""Meta: the immutable facts handed to handlers beside the payload."""

from __future__ import annotations

import pytest

import versioned_msgs as vm


def test_defaults() -> None:
    """Only type and version are required; the rest default to 'not known'."""
    meta = vm.Meta(type="a", version=2)
    assert meta.upgraded_from is None
    assert meta.source is None
    assert meta.message_id is None
    assert meta.attributes == {}
    assert meta.content_type == "application/json"
    assert meta.record is None


def test_meta_is_immutable_and_keyword_only() -> None:
    """Meta is a frozen value built by keyword."""
    meta = vm.Meta(type="a", version=1)
    with pytest.raises(AttributeError):
        meta.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        vm.Meta("a", 1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("version", "model_version", "readable_by", "tolerated"),
    [
        (2, 2, None, False),  # same version
        (1, 2, None, False),  # upgraded
        (3, 2, 2, True),  # newer, readable by the model's version
        (3, 2, 1, True),
        (3, 1, None, False),  # newer, downgraded into an older model
        (3, 1, 2, False),  # newer, readable_by above the model: downgraded, not tolerated
    ],
)
def test_tolerated(
    version: int, model_version: int, readable_by: int | None, tolerated: bool
) -> None:
    """tolerated is True only for a newer payload read as-is thanks to readable_by."""
    meta = vm.Meta(type="a", version=version, model_version=model_version, readable_by=readable_by)
    assert meta.tolerated is tolerated
