export { configurationSchema, type JsonSchema, SECRET_REF, secretFields } from "./config-schema.js";
export { externalEntries, repositoryEntries } from "./entries.js";
export {
  type DriverIndex,
  type ExternalEntry,
  entrySchema,
  externalEntrySchema,
  type IndexEntry,
  indexFormatSchema,
  indexSchema,
} from "./format.js";
export { indexEntries, indexOutputs, type Output, staleFiles, writeIndex } from "./generate.js";
export { driverTable, TABLE_END, TABLE_START, withDriverTable } from "./readme-table.js";
