/**
 * `npm run bench:components`: how long ProgressiveServices take to evaluate under Pulumi's mock
 * runtime, and how many resources each creates. The mock runtime stands in for the engine, so
 * the figures are the program's own cost (component code, Output plumbing, serialization), not
 * AWS's: a lower bound of what `pulumi preview` spends in the program.
 *
 *   npm run bench:components            # 100 services
 *   npm run bench:components -- 300     # another count
 */
import * as pulumi from "@pulumi/pulumi";
import { createMocks, settle, valueOf } from "../components/mocks.js";
import type { PolicyInput } from "../src/policy/index.js";

const count = Number(process.argv[2] ?? 100);
const mocks = createMocks();
await pulumi.runtime.setMocks(mocks, "rollgate-bench", "dev", true);

let t = performance.now();
const { ProgressiveService } = await import("../components/index.js");
const importMs = performance.now() - t;

const LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";
const POLICY: PolicyInput = { profile: "standard", gates: [{ type: "errorRate" }, { type: "latency", thresholdMs: 500 }] };

function service(name: string, i: number): import("../components/index.js").ProgressiveService {
  return new ProgressiveService(name, {
    version: `1.0.${i}`,
    policy: POLICY,
    vpcId: "vpc-0abc",
    loadBalancerArn: LB,
    listenerArn: LISTENER,
    priority: 1 + i,
    hostHeaders: [`${name}.example.com`],
    clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/main",
    image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${name}:1.0.${i}`,
    subnetIds: ["subnet-a", "subnet-b"],
    securityGroupIds: ["sg-tasks"],
  });
}

async function evaluate(names: string[]): Promise<{ ms: number; resources: number }> {
  mocks.reset();
  const start = performance.now();
  const services = names.map((n, i) => service(n, i));
  await Promise.all(services.map((s) => valueOf(s.releaseCommand)));
  await settle();
  return { ms: performance.now() - start, resources: mocks.resources.length };
}

// Warm-up (first construction pays for lazy module loading inside @pulumi/aws).
t = performance.now();
const first = await evaluate(["warmup"]);
const firstMs = performance.now() - t;
const one = await evaluate(["single"]);
let many = await evaluate(Array.from({ length: count }, (_, i) => `svc${i}`));

// Baseline: as many bare resources as one service creates, to separate the mock runtime's own
// per-resource cost from the components' code.
const lb = await import("@pulumi/aws/lb/index.js");
mocks.reset();
const baseStart = performance.now();
const bare = Array.from({ length: one.resources }, (_, i) => new lb.TargetGroup(`bare-${i}`, { vpcId: "vpc-0abc", port: 80 }));
await Promise.all(bare.map((b) => valueOf(b.arn)));
await settle();
const bareMs = performance.now() - baseStart;
mocks.reset();
const again = await evaluate(Array.from({ length: count }, (_, i) => `svc${i}`));
if (again.ms < many.ms) many = again;

const perService = mocks.resources.filter((r) => r.name.startsWith("svc0-") || r.name === "svc0");
const custom = perService.filter((r) => !r.type.startsWith("rollgate:")).length;
const components = perService.length - custom;
const byType = new Map<string, number>();
for (const r of perService) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);

console.log(`ProgressiveService under the Pulumi mock runtime (Node ${process.version}; best of 2 batches)`);
console.log(`  import components/index.js:          ${importMs.toFixed(0)} ms`);
console.log(`  first service (cold, lazy loads):    ${firstMs.toFixed(0)} ms, ${first.resources} resources`);
console.log(`  one service (warm):                  ${one.ms.toFixed(1)} ms, ${one.resources} resources`);
console.log(`  ${count} services:                        ${many.ms.toFixed(0)} ms, ${many.resources} resources`);
console.log(`  per service in the batch:            ${(many.ms / count).toFixed(1)} ms`);
console.log(`  batch / (${count} x one):                  ${(many.ms / (count * one.ms)).toFixed(2)}`);
console.log(`  baseline, ${one.resources} bare TargetGroups:       ${bareMs.toFixed(1)} ms (one service / baseline: ${(one.ms / bareMs).toFixed(2)})`);
console.log(`  resources per service:               ${perService.length} (${custom} cloud resources + ${components} components)`);
for (const [type, n] of [...byType].sort()) console.log(`    ${String(n).padStart(3)}  ${type}`);
