"""The README's example: a message type at version 2 whose consumer still reads version 1."""

# --8<-- [start:readme]
import msgspec

import versioned_msgs as vm

registry = vm.Registry()


@registry.message("greeting", version=2)
class Greeting(msgspec.Struct):
    text: str
    lang: str


@registry.upgrader("greeting", from_version=1)  # v1 payloads had no `lang`
def v1_to_v2(payload: dict) -> dict:
    return {**payload, "lang": "en"}


@vm.consume(registry, Greeting)  # a Lambda handler for SQS, SNS, S3, Kinesis or EventBridge
def lambda_handler(msg: Greeting, meta: vm.Meta) -> None:
    print(f"{msg.text} [{msg.lang}] written as v{meta.version}")


def send(queue_url: str) -> str:  # stamped with vmsg-type=greeting, vmsg-version=2
    return vm.Publisher(registry).send(queue_url, Greeting(text="Hi", lang="en"))


# --8<-- [end:readme]
