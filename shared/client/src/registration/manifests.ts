import { stringify } from "yaml";
import type { IndexedDriver } from "./driver-index.js";

/** One plugin to register: a driver of the index, the name workflows use, the image to run. */
export interface PluginSpec {
  driver: IndexedDriver;
  name: string;
  image: string;
}

export interface Resources {
  cpuRequest: string;
  memoryRequest: string;
  memoryLimit: string;
}

export interface ManifestOptions {
  plugins: PluginSpec[];
  /** Where Argo's controller and argo-server run. */
  namespace: string;
  controllerConfigMap: string;
  serverDeployment: string;
  serverContainer: string;
  serverServiceAccount: string;
  /** Namespaces workflows run in, with the service accounts of their pods (and of artifact GC). */
  workflowServiceAccounts: { namespace: string; name: string }[];
  /** Secrets the configurations refer to; the Roles allow reading these only. */
  secrets: string[];
  connectionTimeoutSeconds?: number;
  resources: Resources;
  /**
   * ARTIFACT_DRIVER_AMBIENT_CREDENTIALS for the plugin containers of workflow
   * and artifact GC pods, written into the controller's `executor.env`
   * (Argo gives those containers the executor's environment); undefined
   * keeps the images' default there (allow: they run as the workflow's
   * service account) and writes no `executor` key.
   */
  workflowAmbientCredentials?: "allow" | "deny";
  /**
   * OpenTelemetry export of every plugin container (docs/observability.md):
   * in workflow and artifact GC pods through the controller's `executor.env`
   * (Argo's executor reads the same variables and exports its own traces
   * there too), and on the argo-server sidecars; undefined: off.
   */
  telemetry?: { endpoint: string; protocol?: "grpc" | "http/protobuf" };
}

export type KubeObject = Record<string, unknown> & { kind: string; metadata: { name: string } };

/** What the argo-server sidecars need from their operator (see the README's security model). */
export function operatorEnvironment(options: ManifestOptions): { name: string; value: string }[] {
  return [
    // Explicit although it is the default: env and file references would let
    // workflow authors read argo-server's own environment and files.
    { name: "ARTIFACT_DRIVER_SECRET_SOURCES", value: "kubernetes" },
    // argo-server's service account may read every Secret of its namespace
    // (Argo's own install grants it): only those the Roles below name, so
    // that no workflow author can have another one sent to an endpoint of
    // their choosing. Empty when --secret was not given: none.
    { name: "ARTIFACT_DRIVER_SECRET_NAMES", value: [...options.secrets].sort().join(",") },
    // Explicit although it is the default beside argo-server: an SDK's default
    // chain there is argo-server's own identity (IRSA role, Workload Identity),
    // which no workflow author may borrow.
    { name: "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS", value: "deny" },
    ...telemetryEnvironment(options),
  ];
}

/** The executor's environment that sets the switch in workflow pods (see ManifestOptions). */
export function workflowEnvironment(options: ManifestOptions): { name: string; value: string }[] {
  return [
    ...(options.workflowAmbientCredentials === undefined
      ? []
      : [
          {
            name: "ARTIFACT_DRIVER_AMBIENT_CREDENTIALS",
            value: options.workflowAmbientCredentials,
          },
        ]),
    ...telemetryEnvironment(options),
  ];
}

/** The OTLP endpoint (and protocol) the plugins export traces and metrics to, if any. */
export function telemetryEnvironment(options: ManifestOptions): { name: string; value: string }[] {
  const { telemetry } = options;
  if (telemetry === undefined) return [];
  return [
    { name: "OTEL_EXPORTER_OTLP_ENDPOINT", value: telemetry.endpoint },
    ...(telemetry.protocol === undefined
      ? []
      : [{ name: "OTEL_EXPORTER_OTLP_PROTOCOL", value: telemetry.protocol }]),
  ];
}

/** Argo's names (workflow/common and ArtifactPluginName in Argo's API). */
export const socketDir = (name: string) => `/tmp/artifact-plugins/${name}`;
export const socketPath = (name: string) => `${socketDir(name)}/socket`;
const socketVolume = (name: string) => `artifact-plugin-${name}`;
const tmpVolume = (name: string) => `artifact-plugin-${name}-tmp`;

/** A plugin name must fit Argo's volume name artifact-plugin-<name> and ours, <name>-tmp. */
export const PLUGIN_NAME = /^[a-z0-9]([a-z0-9-]{0,41}[a-z0-9])?$/;

export const SECRET_ROLE = "artifact-plugin-secrets";

/** The workflow-controller ConfigMap's plugin keys, each a YAML string as Argo reads them. */
export function controllerData(options: ManifestOptions): {
  artifactDrivers: string;
  images: string;
  executor?: string;
} {
  const drivers = options.plugins.map((plugin) => ({
    name: plugin.name,
    image: plugin.image,
    ...(options.connectionTimeoutSeconds === undefined
      ? {}
      : { connectionTimeoutSeconds: options.connectionTimeoutSeconds }),
  }));
  // The entrypoint from the index, so that the controller need not pull the
  // image's manifest from the registry to learn what to run.
  const images = Object.fromEntries(
    options.plugins.map((plugin) => [plugin.image, { entrypoint: plugin.driver.image.entrypoint }]),
  );
  const env = workflowEnvironment(options);
  return {
    artifactDrivers: yaml(drivers),
    images: yaml(images),
    ...(env.length > 0 ? { executor: yaml({ env }) } : {}),
  };
}

export function controllerConfigMap(options: ManifestOptions, withNamespace = true): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: options.controllerConfigMap, ...namespaced(options, withNamespace) },
    data: controllerData(options),
  };
}

/** The plugin containers of argo-server, which serve the UI's artifact views and uploads. */
export function sidecars(options: ManifestOptions): Record<string, unknown>[] {
  return options.plugins.map((plugin) => ({
    name: `artifact-plugin-${plugin.name}`,
    image: plugin.image,
    imagePullPolicy: "IfNotPresent",
    // The image's entrypoint stays; Argo's contract is one argument, the socket path.
    args: [socketPath(plugin.name)],
    env: operatorEnvironment(options),
    resources: {
      requests: { cpu: options.resources.cpuRequest, memory: options.resources.memoryRequest },
      limits: { memory: options.resources.memoryLimit },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: plugin.driver.image.user,
      runAsGroup: plugin.driver.image.user,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [
      { name: socketVolume(plugin.name), mountPath: socketDir(plugin.name) },
      // The root file system is read-only; the plugin writes temp files here.
      { name: tmpVolume(plugin.name), mountPath: "/tmp" },
    ],
  }));
}

/** argo-server's own mounts of each socket folder. */
export function serverVolumeMounts(options: ManifestOptions): Record<string, unknown>[] {
  return options.plugins.map((plugin) => ({
    name: socketVolume(plugin.name),
    mountPath: socketDir(plugin.name),
  }));
}

export function serverVolumes(options: ManifestOptions): Record<string, unknown>[] {
  return options.plugins.flatMap((plugin) => [
    { name: socketVolume(plugin.name), emptyDir: {} },
    { name: tmpVolume(plugin.name), emptyDir: {} },
  ]);
}

/** A strategic merge patch of argo-server's Deployment: containers and volumes merge by name, mounts by path. */
export function serverPatch(options: ManifestOptions, withNamespace = true): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: options.serverDeployment, ...namespaced(options, withNamespace) },
    spec: {
      template: {
        spec: {
          containers: [
            { name: options.serverContainer, volumeMounts: serverVolumeMounts(options) },
            ...sidecars(options),
          ],
          volumes: serverVolumes(options),
        },
      },
    },
  };
}

/**
 * Roles allowing `get` of the named Secrets, bound to the service accounts
 * whose pods run the plugin: workflow pods (and artifact GC pods) in their
 * namespaces, argo-server in Argo's. Empty without Secrets.
 */
export function secretRbac(
  options: ManifestOptions,
  scope: "argo" | "workflows" | "all",
): KubeObject[] {
  if (options.secrets.length === 0) return [];
  const subjects = new Map<string, { kind: string; name: string; namespace: string }[]>();
  const add = (namespace: string, name: string) => {
    const list = subjects.get(namespace) ?? [];
    if (!list.some((subject) => subject.name === name)) {
      list.push({ kind: "ServiceAccount", name, namespace });
    }
    subjects.set(namespace, list);
  };
  if (scope !== "workflows") add(options.namespace, options.serverServiceAccount);
  for (const account of options.workflowServiceAccounts) {
    if (scope === "all" || (scope === "argo") === (account.namespace === options.namespace)) {
      add(account.namespace, account.name);
    }
  }
  return [...subjects].flatMap(([namespace, bound]) => [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: SECRET_ROLE, namespace },
      rules: [
        {
          apiGroups: [""],
          resources: ["secrets"],
          resourceNames: [...options.secrets].sort(),
          verbs: ["get"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: SECRET_ROLE, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SECRET_ROLE },
      subjects: bound,
    },
  ]);
}

function namespaced(options: ManifestOptions, withNamespace: boolean): { namespace?: string } {
  return withNamespace ? { namespace: options.namespace } : {};
}

export function yaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}
