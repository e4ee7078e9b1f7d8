"""versioned_msgs: stamp every message with its type and format version; upgrade on read.

The public surface is re-exported here; implementation lives in private modules.
``import versioned_msgs`` loads msgspec only: boto3 is imported when a client is made and
pydantic never by this package.
"""

from ._aws.batch import BatchFailure, BatchResult, BatchSuccess
from ._aws.consumer import Consumer, RecordResult, Report, consume
from ._aws.metrics import EMFMetrics, MemoryMetrics, MetricsSink
from ._aws.publisher import Publisher
from ._aws.s3reader import S3Reader
from ._core.envelope import Encoded
from ._core.errors import (
    BucketNotAllowedError,
    EventShapeError,
    LimitExceededError,
    MissingStampError,
    PayloadError,
    PinError,
    RecordsFailedError,
    RegistryError,
    SchemaError,
    StaleObjectError,
    StampError,
    UnknownTypeError,
    UnsupportedVersionError,
    VersionedMsgsError,
)
from ._core.meta import Meta
from ._core.registry import RegisteredModel, Registry
from ._core.stamp import Stamp
from ._core.trace import TraceContext

__version__ = "0.1.0.dev0"

__all__ = [
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
    "Report",
    "S3Reader",
    "SchemaError",
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
