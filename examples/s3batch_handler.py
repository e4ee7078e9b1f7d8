"""S3 Batch Operations -> Lambda: upgrade every object listed in the job's manifest in place.

Create the job with the "Invoke AWS Lambda function" operation (invocation schema 1.0 or 2.0)
pointing at this function. Each object is rewritten at the current version with a
conditional write; an object changed meanwhile is reported as a TemporaryFailure and retried.
"""

from __future__ import annotations

from orders import registry
from versioned_msgs.s3batch import make_handler

# The S3 client is made on the first invocation (boto3 reads the Lambda role's credentials).
lambda_handler = make_handler(registry)
