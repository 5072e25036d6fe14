/**
 * The AWS SDK v3 clients the adapters use, built once per process (Lambda container) with an
 * optional endpoint override (moto in tests and the demo).
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export interface AwsClients {
  elbv2: ElasticLoadBalancingV2Client;
  cloudwatch: CloudWatchClient;
  dynamodb: DynamoDBClient;
  /** Document client over `dynamodb` (plain JS values instead of attribute maps). */
  documents: DynamoDBDocumentClient;
  eventbridge: EventBridgeClient;
  sns: SNSClient;
  ecs: ECSClient;
  /** For lifecycle hooks. */
  lambda: LambdaClient;
  /** For the account-wide freeze parameter. */
  ssm?: SSMClient;
}

export interface ClientOptions {
  region?: string;
  /** Endpoint override, e.g. `http://127.0.0.1:5000` for moto. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** SDK retry attempts per call. @default 3 (the SDK default) */
  maxAttempts?: number;
}

export function createClients(options: ClientOptions = {}): AwsClients {
  const config = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
  const dynamodb = new DynamoDBClient(config);
  return {
    elbv2: new ElasticLoadBalancingV2Client(config),
    cloudwatch: new CloudWatchClient(config),
    dynamodb,
    documents: DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
    eventbridge: new EventBridgeClient(config),
    sns: new SNSClient(config),
    ecs: new ECSClient(config),
    lambda: new LambdaClient(config),
    ssm: new SSMClient(config),
  };
}
