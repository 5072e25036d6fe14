export * from "./kubernetes-progressive-service.js";
export {
  ARGO_API_VERSION,
  ArgoMappingError,
  PROMETHEUS_DEFAULTS,
  argoDuration,
  argoWeight,
  guardTemplateName,
  planKubernetes,
  renderKubernetes,
  templateName,
  type ArgoPlan,
  type CloudWatchProvider,
  type K8sObject,
  type MappingIssue,
  type MetricProvider,
  type PrometheusProvider,
  type RenderInput,
  type RenderedKubernetes,
} from "./render.js";
export { CLOUDWATCH_NO_VERDICT, guardCondition, verdictConditions, hasValue } from "./conditions.js";
export { CRD_FILES, defaultCrdDirectory, loadArgoCrds, toStrictJsonSchema, type CrdDocument } from "./crds.js";
