export { sourceFiles } from "./files.js";
export {
  generateDriver,
  renderSkeleton,
  type SkeletonFile,
  TEMPLATE_DIR,
  templateValues,
} from "./generate.js";
export { nameProblem, pascalCase } from "./names.js";
export { render, type TemplateValues } from "./render.js";
export { commandProblems, scriptProblems } from "./scripts.js";
export { ALLOWED_EXTRAS, driverShape, IDENTICAL_FILES, shapeDifferences } from "./shape.js";
