// The image's entrypoint. Only the server is imported up front: the driver
// (its configuration schema and SDK) loads once the socket is bound.
import { serve } from "@argo-artifact-drivers/core/serve";

serve(() => import("./driver.js").then((module) => module.driver));
