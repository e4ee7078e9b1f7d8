"""Publish greetings to an SQS queue: `python quickstart_publish.py QUEUE_URL`.

boto3 finds credentials and the region the usual way; set AWS_ENDPOINT_URL to use an
emulator instead of AWS.
"""

from __future__ import annotations

import sys

import versioned_msgs as vm
from quickstart import Greeting, GreetingV1, registry


def main(queue_url: str) -> list[str]:
    publisher = vm.Publisher(registry)  # the SQS client is made on first use
    return [
        publisher.send(queue_url, Greeting(text="Hello", lang="en")),  # stamped greeting v2
        publisher.send(queue_url, GreetingV1(text="Hallo")),  # an old model still writes v1
    ]


if __name__ == "__main__":
    for message_id in main(sys.argv[1]):
        print("sent", message_id)
