export type {
  CallOptions,
  EntryKind,
  FolderEntry,
  StorageAdapter,
  WriteOptions,
} from "./adapter.js";
export { adapterContext, openStorage } from "./adapter-cache.js";
export { type CommonConfig, commonConfig } from "./config.js";
export { type AdapterContext, type DriverDefinition, defineDriver } from "./driver.js";
export {
  asDriverError,
  DriverError,
  type ErrorCode,
  isAbortError,
  networkErrorCode,
  tlsVerificationCode,
} from "./errors.js";
export { normalizeKey } from "./keys.js";
export type { Logger } from "./log.js";
export {
  type AmbientCredentials,
  allowedSecretNames,
  allowedSecretSources,
  ambientCredentials,
  SecretRef,
  SecretResolver,
  secretRef,
  secretText,
} from "./secrets.js";
export { type RunningServer, serve, startServer } from "./serve.js";
export type { Storage } from "./storage.js";
export { FRAME_BYTES, unlessAborted } from "./streams.js";
export { isTempName } from "./temp-names.js";
export { writeCoalesced } from "./wire.js";
