/**
 * The "checkout" service on Kubernetes: the same policy file as the AWS example, rendered to Argo
 * Rollouts. The comparison gates are judged by rollgate's analysis server (deployed here), which
 * reads the pods' request metrics from Prometheus and answers Argo's web metric provider with the
 * engine's verdicts.
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
  // The gates' verdicts come from rollgate's analysis server (the AWS flavour's sequential test,
  // docs/kubernetes.md), deployed with the service and reading the cluster's Prometheus. Build its
  // image from the repository's Dockerfile and set analysisServerImage.
  analysisServer: {
    deploy: {
      image: config.get("analysisServerImage") ?? "ghcr.io/acme/rollgate-analysis:0.1.0",
      prometheusUrl: config.get("prometheusUrl") ?? "http://prometheus-server.monitoring",
    },
    prometheus: { selector: 'namespace="shop"' },
  },
  installCrds: config.getBoolean("installCrds") ?? false,
});

export const rolloutName = checkout.rolloutName;
export const serviceNames = checkout.serviceNames;
export const analysisTemplateNames = checkout.analysisTemplateNames;
export const ingressName = checkout.ingressName;
export const policyWarnings = checkout.warnings;
export const analysisServerUrl = checkout.analysisServerUrl;
