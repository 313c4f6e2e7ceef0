export {
  ARGO_MAX_RECEIVE_MESSAGE_BYTES,
  ArtifactClient,
  type ArtifactClientOptions,
  type CallControl,
  DEFAULT_CHUNK_SIZE,
} from "./client.js";
export { ArtifactClientError, type FailureKind, type Operation } from "./errors.js";
export { type ByteSource, rechunk } from "./rechunk.js";
export {
  ConfigChecker,
  type ConfigProblem,
  type ProblemKind,
  type SecretSource,
} from "./registration/config-check.js";
export {
  type DriverIndex,
  driverOfImage,
  findDriver,
  type IndexedDriver,
  loadDriverIndex,
} from "./registration/driver-index.js";
export {
  type ManifestFile,
  type ManifestFormat,
  renderManifests,
} from "./registration/manifest-formats.js";
export type { ManifestOptions, PluginSpec } from "./registration/manifests.js";
export {
  type Finding,
  type InputFile,
  type ValidateOptions,
  type ValidateResult,
  validateFiles,
} from "./registration/validate.js";
