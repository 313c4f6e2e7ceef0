export type { StorageAdapter, WriteOptions } from "./adapter.js";
export { type CommonConfig, commonConfig } from "./config.js";
export { type AdapterContext, type DriverDefinition, defineDriver } from "./driver.js";
export {
  asDriverError,
  DriverError,
  type ErrorCode,
  isAbortError,
  networkErrorCode,
} from "./errors.js";
export { normalizeKey } from "./keys.js";
export type { Logger } from "./log.js";
export { allowedSecretSources, SecretRef, SecretResolver, secretRef } from "./secrets.js";
export { type RunningServer, serve, startServer } from "./serve.js";
export { FRAME_BYTES } from "./service.js";
