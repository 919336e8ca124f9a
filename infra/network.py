"""Where the tasks run: a VPC whose tasks reach Slack and AWS outbound only.

Socket Mode needs no inbound connection at all (the bot dials Slack's WebSocket),
so the security group has no ingress rule in any mode, and egress is HTTPS only.

Modes:
- `public` (default, cheapest): public subnets, tasks get a public IP, no NAT
  gateway. Nothing can connect in: the security group has no ingress rule.
- `private`: tasks in private subnets, outbound through NAT gateway(s).
- `private-endpoints`: as `private`, plus interface endpoints for Bedrock runtime,
  Secrets Manager, CloudWatch Logs and ECR (and Bedrock agent runtime when a Knowledge
  Base is the retriever) so AWS traffic stays off the NAT. Slack
  is on the internet, so a NAT gateway is still needed: endpoints cannot replace it.

S3 and DynamoDB gateway endpoints are added in every mode: they are free and keep
document and state traffic on the AWS network.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import NetworkMode

HTTPS = ec2.Port.tcp(443)

INTERFACE_ENDPOINTS: tuple[tuple[str, ec2.InterfaceVpcEndpointAwsService], ...] = (
    ("BedrockRuntime", ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME),
    ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
    ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
    ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
    ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkProps:
    mode: NetworkMode
    nat_gateways: int
    availability_zones: tuple[str, ...]
    flow_log_retention: logs.RetentionDays
    # RETRIEVER=bedrock-kb: the Knowledge Base's Retrieve calls get their own endpoint.
    knowledge_base: bool = False


class Network(Construct):
    """The VPC, the tasks' security group and the subnets the service uses."""

    def __init__(self, scope: Construct, construct_id: str, *, props: NetworkProps) -> None:
        super().__init__(scope, construct_id)
        private = props.mode != "public"
        subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)]
        if private:
            subnets.append(
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                )
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            # Explicit zones avoid an AZ lookup (and its credentials) at synth time.
            availability_zones=list(props.availability_zones) or None,
            max_azs=None if props.availability_zones else 2,
            subnet_configuration=subnets,
            nat_gateways=props.nat_gateways if private else 0,
            # Stripping the default security group's rules needs a custom-resource
            # Lambda; nothing here uses the default group, so it is left alone.
            restrict_default_security_group=False,
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
            },
        )
        # Rejected traffic only: what the security group turned away (in public mode,
        # mostly internet scans of the task's IP), a few MB a month, not every packet.
        flow_log_group = logs.LogGroup(self, "RejectedFlows", retention=props.flow_log_retention)
        self.vpc.add_flow_log(
            "RejectedFlows",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="dualnova tasks: no ingress; HTTPS out to Slack and AWS",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), HTTPS, "Slack Socket Mode, Bedrock, S3, DynamoDB, ECR, Logs"
        )

        self.assign_public_ip = not private
        subnet_type = ec2.SubnetType.PRIVATE_WITH_EGRESS if private else ec2.SubnetType.PUBLIC
        self.task_subnets = ec2.SubnetSelection(subnet_type=subnet_type)
        self.task_subnet_ids: list[str] = self.vpc.select_subnets(
            subnet_type=subnet_type
        ).subnet_ids

        if props.mode == "private-endpoints":
            # The endpoints admit HTTPS from the tasks' group only; the tasks' group
            # itself still has no ingress rule.
            self.endpoint_security_group = ec2.SecurityGroup(
                self,
                "EndpointSecurityGroup",
                vpc=self.vpc,
                description="dualnova interface endpoints: HTTPS from the tasks only",
                allow_all_outbound=False,
            )
            self.endpoint_security_group.add_ingress_rule(
                self.security_group, HTTPS, "HTTPS from dualnova tasks"
            )
            endpoints = list(INTERFACE_ENDPOINTS)
            if props.knowledge_base:
                endpoints.append(
                    (
                        "BedrockAgentRuntime",
                        ec2.InterfaceVpcEndpointAwsService.BEDROCK_AGENT_RUNTIME,
                    )
                )
            for endpoint_id, service in endpoints:
                self.vpc.add_interface_endpoint(
                    endpoint_id,
                    service=service,
                    subnets=self.task_subnets,
                    private_dns_enabled=True,
                    security_groups=[self.endpoint_security_group],
                    open=False,
                )
