"""CloudWatch alarms made by CloudFormation: moto's CloudFormation has no AWS::CloudWatch::Alarm
(it skips the templates' alarms with a warning). The patch here creates, updates and deletes them
in moto's CloudWatch backend as CloudFormation does (PutMetricAlarm with the resource's
properties; Ref is the alarm's name, "AWS::CloudWatch::Alarm", CloudFormation template
reference)."""

from __future__ import annotations

from typing import Any

from objbackup.sandbox.patches.registry import Patch


def _queries(properties: dict[str, Any]) -> list[Any] | None:
    """The Metrics of a metric math alarm as moto's PutMetricAlarm handler builds them."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    found = []
    for query in properties.get("Metrics") or []:
        stat = query.get("MetricStat")
        metric_stat = None
        if stat is not None:
            metric = stat["Metric"]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric["MetricName"],
                    namespace=metric["Namespace"],
                    dimensions=[
                        Dimension(name=d["Name"], value=d["Value"])
                        for d in metric.get("Dimensions", [])
                    ],
                ),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        found.append(
            MetricDataQuery(
                query_id=query["Id"],
                label=query.get("Label"),
                period=query.get("Period"),
                return_data=query.get("ReturnData"),
                expression=query.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return found or None


def _put(name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
    """PutMetricAlarm with a CloudFormation alarm's properties (numbers may come as text)."""
    from moto.cloudwatch.models import cloudwatch_backends

    def number(key: str) -> float | None:
        value = properties.get(key)
        return None if value is None else float(value)

    def actions(key: str) -> list[str]:
        value = properties.get(key) or []
        return [str(item) for item in (value if isinstance(value, list) else [value])]

    period = number("Period")
    cloudwatch_backends[account_id][region].put_metric_alarm(
        name=name,
        namespace=properties.get("Namespace"),  # type: ignore[arg-type]
        metric_name=properties.get("MetricName"),  # type: ignore[arg-type]
        comparison_operator=properties["ComparisonOperator"],
        evaluation_periods=int(number("EvaluationPeriods") or 1),
        period=None if period is None else int(period),  # type: ignore[arg-type]
        threshold=number("Threshold") or 0.0,
        statistic=properties.get("Statistic"),  # type: ignore[arg-type]
        description=properties.get("AlarmDescription", ""),
        dimensions=list(properties.get("Dimensions", [])),
        alarm_actions=actions("AlarmActions"),
        metric_data_queries=_queries(properties),
        ok_actions=actions("OKActions"),
        insufficient_data_actions=actions("InsufficientDataActions"),
        actions_enabled=str(properties.get("ActionsEnabled", True)).lower() == "true",
        treat_missing_data=properties.get("TreatMissingData"),
    )


def close_cloudformation_alarm_gap() -> None:
    """Give moto's CloudFormation an AWS::CloudWatch::Alarm resource backed by its CloudWatch."""
    from moto.cloudformation import parsing
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel

    class StackAlarm(CloudFormationModel):
        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> StackAlarm:
            properties = cloudformation_json.get("Properties", {})
            name = properties.get("AlarmName") or resource_name
            _put(name, properties, account_id, region_name)
            return cls(name)

        # moto may call these with keywords: keep its parameter names.
        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> StackAlarm:
            # PutMetricAlarm overwrites an alarm of the same name: the alarm keeps its name.
            renamed = cloudformation_json.get("Properties", {}).get("AlarmName")
            if renamed and renamed != original_resource.name:
                cls.delete_from_cloudformation_json(
                    original_resource.name, cloudformation_json, account_id, region_name
                )
            return cls.create_from_cloudformation_json(
                original_resource.name, cloudformation_json, account_id, region_name
            )

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    assert parsing.get_model_map()["AWS::CloudWatch::Alarm"] is StackAlarm


PATCHES = (
    Patch(
        "cloudwatch",
        "cloudformation-alarms",
        "CloudFormation creates, updates and deletes AWS::CloudWatch::Alarm resources; moto's "
        "skips them",
        (
            "tests/cli/test_alarm_options.py::test_the_sandbox_creates_updates_and_deletes_the_alarms_with_their_actions",
        ),
        close_cloudformation_alarm_gap,
    ),
)
