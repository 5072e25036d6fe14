/**
 * The "checkout" service on Kubernetes: the same policy file as the AWS example, rendered to Argo
 * Rollouts. The comparison gates are measured in CloudWatch on the ALB's two target groups, which
 * the AWS Load Balancer Controller creates for the stable and canary Services.
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { KubernetesProgressiveService } from "../../components/kubernetes/index.js";

const config = new pulumi.Config();
const policy = parse(readFileSync(new URL("../shared/policy.yaml", import.meta.url), "utf8"));

const checkout = new KubernetesProgressiveService("checkout", {
  policy,
  // The shared policy starts with an internal audience ring, which the AWS flavour routes by an
  // ALB rule; Argo's ALB routing cannot, so the Kubernetes ladder starts at the 1 % step (with a warning).
  ignoreRingSteps: true,
  image: config.get("image") ?? "ghcr.io/acme/checkout:1.0.0",
  namespace: config.get("namespace") ?? "shop",
  replicas: 3,
  containerPort: 8080,
  ingress: { path: "/", internetFacing: false },
  // The target groups exist once the AWS Load Balancer Controller has reconciled the Ingress;
  // until they are configured the gates see no data, which holds (never passes) every step.
  cloudWatch: {
    loadBalancer: config.get("loadBalancer") ?? "app/k8s-shop-checkout/unset",
    stableTargetGroup: config.get("stableTargetGroup") ?? "targetgroup/k8s-shop-checkout-stable/unset",
    canaryTargetGroup: config.get("canaryTargetGroup") ?? "targetgroup/k8s-shop-checkout-canary/unset",
  },
  installCrds: config.getBoolean("installCrds") ?? false,
});

export const rolloutName = checkout.rolloutName;
export const serviceNames = checkout.serviceNames;
export const analysisTemplateNames = checkout.analysisTemplateNames;
export const ingressName = checkout.ingressName;
export const policyWarnings = checkout.warnings;
