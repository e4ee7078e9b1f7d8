"""The quick start: one message type in two versions and a Lambda handler for an SQS queue."""

# --8<-- [start:models]
from typing import Any

import msgspec

import versioned_msgs as vm

registry = vm.Registry()


@registry.message("greeting", version=1)
class GreetingV1(msgspec.Struct):
    text: str


@registry.message("greeting", version=2, readable_by=1)  # v1 readers can read v2 as-is
class Greeting(msgspec.Struct):
    text: str
    lang: str = "en"


@registry.upgrader("greeting", from_version=1)
def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "lang": "en"}


# --8<-- [end:models]


# --8<-- [start:consumer]
consumer = vm.Consumer(registry)


@consumer.handler(Greeting)  # v1 messages are upgraded to v2 before they get here
def greet(msg: Greeting, meta: vm.Meta) -> None:
    print(f"{msg.text} [{msg.lang}] written as v{meta.version}")


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)


# --8<-- [end:consumer]
