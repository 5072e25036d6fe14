/**
 * Refusal to touch a live slot: a new version during a rollout fails the program (in a real run,
 * `pulumi preview`) with a message that says why and what to do. Each scenario runs the program
 * in a child process under the mock runtime, because a failing program is exactly what is tested.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const program = fileURLToPath(new URL("./components-refusal-program.ts", import.meta.url));

function run(scenario: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", program, scenario], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("a release during a rollout is refused at preview", () => {
  // Both programs run at once; each takes a few seconds (loading @pulumi/aws), and much longer on
  // a loaded machine: the timeouts are generous because nothing here measures time.
  const progressing = run("progressing");
  const pending = run("pending");

  test("a new version while another one is progressing: the program fails naming both versions, the step, the slots and the way out", { timeout: 180_000 }, async () => {
    const r = await progressing;
    expect(r.stdout).toContain('ALLOWED {"command":"start","release":{"version":"v2","taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/allowed-slots-dev:1"}}');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'ProgressiveService: version "v3" cannot be released now: release "v2" is progressing at step 2 of 4, and both slots serve live traffic ' +
        '(the blue slot runs "v2" for part of the users, the green slot the rest). Deploying "v3" would replace a live slot\'s workload. ' +
        'Wait for "v2" to finish (rollgate status --function svc-controller-function-',
    );
    expect(r.stderr).toMatch(/or end it with rollgate abort --function svc-controller-function-[0-9a-f]{7} \(traffic goes back to the stable slot\), then run pulumi up again; to keep "v2" going, set version back to "v2"\./);
  });

  test("a new version while the previous one is still being deployed into the idle slot: refused too", { timeout: 180_000 }, async () => {
    const r = await pending;
    expect(r.stdout).toContain('ALLOWED {"command":"start","release":{"version":"v4"');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ProgressiveService: version "v5" cannot be released now: release "v4" is still being deployed into the green slot.');
    expect(r.stderr).toContain('to keep "v4", set version back to "v4".');
  });
});

describe("what a live rollout stands on cannot be re-pointed at preview", () => {
  // The deployed controller reports its service name, rule and load balancer; the same version
  // with one of them changed fails the program naming the argument and the way out.
  const scenarios = {
    serviceName: run("serviceName"),
    loadBalancerArn: run("loadBalancerArn"),
    listenerArn: run("listenerArn"),
    ownListener: run("ownListener"),
  };
  test.each([
    ["serviceName", /ProgressiveService: serviceName cannot change while release "v2" is progressing at step 2 of 4: the controller keeps the rollout's state under the service name "checkout"; as "checkout-eu" it would find no rollout and lose this one/],
    ["loadBalancerArn", /ProgressiveService: loadBalancerArn cannot change while release "v2" is progressing at step 2 of 4: the service's listener rule would be replaced by one on another load balancer, created with all traffic on the blue slot/],
    ["listenerArn", /ProgressiveService: listenerArn cannot change while release "v2" is progressing at step 2 of 4: the service's rule \(and its ring rules\) would be replaced by new ones on another listener/],
    ["ownListener", /ProgressiveService: listenerArn cannot change while release "v2" is progressing at step 2 of 4: without it the service's rule on the shared listener would be replaced by a listener of its own/],
  ] as const)("a changed %s is refused, naming it and the way out", { timeout: 180_000 }, async (scenario, message) => {
    const r = await scenarios[scenario];
    // The same arguments pass the same check (the guard does not refuse everything).
    expect(r.stdout).toContain('ALLOWED {"command":"start","release":{"version":"v2"');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Finish the rollout first \(rollgate status --function svc-controller-function-[0-9a-f]{7}\) or end it \(rollgate abort --function svc-controller-function-[0-9a-f]{7}\), then run pulumi up again; or set \w+ back to "/);
  });
});
