export {
  ARGO_MAX_RECEIVE_MESSAGE_BYTES,
  ArtifactClient,
  type ArtifactClientOptions,
  type CallControl,
  DEFAULT_CHUNK_SIZE,
} from "./client.js";
export { ArtifactClientError, type FailureKind, type Operation } from "./errors.js";
export { type ByteSource, rechunk } from "./rechunk.js";
