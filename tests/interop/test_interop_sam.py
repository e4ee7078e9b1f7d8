"""examples/template.yaml through the tools that deploy it: cfn-lint on the template as
written, and the AWS SAM translator (the library behind the ``AWS::Serverless`` transform) on
the template as ``sam package`` leaves it, its CloudFormation output linted too.

``sam package`` uploads the code and rewrites ``CodeUri`` to the ``s3://bucket/key`` of the
upload; the tests do that rewrite themselves (no upload: the translator only reads the URI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from interop_support import import_tool, submodule

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATE = EXAMPLES / "template.yaml"
ARTIFACTS = "sam-artifacts-123456789012"
CODE_KEY = "5d41402abc4b2a76b9719d911017c592"  # sam package names the zip by its MD5

cfnlint_api = import_tool("cfnlint.api", "cfn-lint is not installed")
samtranslator = import_tool("samtranslator", "aws-sam-translator is not installed")
sam_transform = submodule(samtranslator, "translator.transform").transform
yaml_parse = submodule(samtranslator, "yaml_helper").yaml_parse


class _NoManagedPolicies:
    """The translator's managed-policy loader (an IAM ListPolicies call in real use). The
    template names no managed policy, so it must not be consulted."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the template names no managed policy by name")


def _lint(text: str) -> list[str]:
    return [str(m) for m in cfnlint_api.lint(text, regions=["us-east-1"])]


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """The CloudFormation template SAM makes of the packaged template."""
    template = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    assert template["Globals"]["Function"]["CodeUri"] == "."
    template["Globals"]["Function"]["CodeUri"] = f"s3://{ARTIFACTS}/{CODE_KEY}"
    with pytest.MonkeyPatch.context() as mp:  # pseudo parameters: the region, not a profile
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        out: dict[str, Any] = sam_transform(template, {}, _NoManagedPolicies())
    return out


def test_template_passes_cfn_lint() -> None:
    """cfn-lint (with the SAM transform) finds nothing wrong in examples/template.yaml."""
    assert [str(m) for m in cfnlint_api.lint_file(TEMPLATE)] == []


def test_translated_template_passes_cfn_lint(translated: dict[str, Any]) -> None:
    """What SAM generates from it is valid CloudFormation for cfn-lint as well."""
    assert "Transform" not in translated
    assert _lint(json.dumps(translated)) == []
    # the same linter does find faults in such output: a mapping naming a queue not there
    broken = json.loads(json.dumps(translated))
    mapping = broken["Resources"]["OrdersFunctionOrders"]["Properties"]
    mapping["EventSourceArn"] = {"Fn::GetAtt": ["NoSuchQueue", "Arn"]}
    assert any("NoSuchQueue" in problem for problem in _lint(json.dumps(broken)))


def _resources(translated: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in translated["Resources"].items() if v["Type"] == type_}


def test_sam_makes_functions_from_the_packaged_code(translated: dict[str, Any]) -> None:
    """Both functions run the uploaded zip, with the handlers, runtime and sizes of Globals."""
    types = {v["Type"] for v in translated["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    functions = _resources(translated, "AWS::Lambda::Function")
    assert sorted(functions) == ["OrdersFunction", "ProducerFunction"]
    for name, fn in functions.items():
        assert fn["Code"] == {"S3Bucket": ARTIFACTS, "S3Key": CODE_KEY}, name
        assert (fn["Runtime"], fn["Architectures"], fn["Timeout"]) == ("python3.12", ["arm64"], 30)
        handler_file = fn["Handler"].rsplit(".", 1)[0] + ".py"
        assert (EXAMPLES / handler_file).is_file(), handler_file
    orders = functions["OrdersFunction"]
    assert orders["Environment"]["Variables"] == {"PARK_QUEUE_URL": {"Ref": "OrdersParkQueue"}}


def test_sam_wires_partial_batch_responses_to_the_queue(translated: dict[str, Any]) -> None:
    """The SQS event becomes an event source mapping that reads batchItemFailures, and the
    queue's visibility timeout is at least six times the function's timeout."""
    (mapping,) = _resources(translated, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["FunctionName"] == {"Ref": "OrdersFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["OrdersQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    queue = translated["Resources"]["OrdersQueue"]["Properties"]
    timeout = _resources(translated, "AWS::Lambda::Function")["OrdersFunction"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


def _allowed(role: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    return [
        (tuple(s["Action"]), s["Resource"])
        for policy in role.get("Policies", [])
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]


def test_sam_roles_grant_only_what_each_function_needs(translated: dict[str, Any]) -> None:
    """The consumer may send to its park queue and read its queue; the producer may publish
    to its topic; nothing else beyond Lambda's basic logging role."""
    roles = _resources(translated, "AWS::IAM::Role")
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    consumer, producer = roles["OrdersFunctionRole"], roles["ProducerFunctionRole"]
    assert consumer["ManagedPolicyArns"] == [
        basic,
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    ]
    [(actions, resource)] = _allowed(consumer)
    assert actions == ("sqs:SendMessage*",)
    assert resource["Fn::Sub"][1] == {"queueName": {"Fn::GetAtt": ["OrdersParkQueue", "QueueName"]}}
    assert producer["ManagedPolicyArns"] == [basic]
    [(actions, resource)] = _allowed(producer)
    assert actions == ("sns:Publish",)
    assert resource["Fn::Sub"][1] == {"topicName": {"Fn::GetAtt": ["OrdersTopic", "TopicName"]}}
