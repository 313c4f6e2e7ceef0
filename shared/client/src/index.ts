export {
  ARGO_MAX_RECEIVE_MESSAGE_BYTES,
  ArtifactClient,
  ArtifactClientError,
  type ArtifactClientOptions,
  type ByteSource,
  type CallControl,
  DEFAULT_CHUNK_SIZE,
  type FailureKind,
  type Operation,
  rechunk,
} from "./client.js";
