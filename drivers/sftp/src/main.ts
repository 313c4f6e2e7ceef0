import { serve } from "@argo-artifact-drivers/core";

// The driver (its schema and SDK) is imported after the socket is bound.
serve(() => import("./driver.js").then((module) => module.driver));
