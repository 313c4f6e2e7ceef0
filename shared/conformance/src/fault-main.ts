// A driver's plugin with the kit's fault injector around its adapter:
// CONFORMANCE_DRIVER_MODULE is the driver's dist/driver.js (exporting
// `driver`), CONFORMANCE_FAULTS a JSON FaultPlan. Started like any plugin.
import { pathToFileURL } from "node:url";
import type { DriverDefinition } from "@argo-artifact-drivers/core";
import { serve } from "@argo-artifact-drivers/core/serve";
import { type FaultPlan, withFaults } from "./faults.js";

const modulePath = process.env.CONFORMANCE_DRIVER_MODULE;
const plan = JSON.parse(process.env.CONFORMANCE_FAULTS ?? '{"rules":[]}') as FaultPlan;
if (!modulePath) throw new Error("CONFORMANCE_DRIVER_MODULE is not set");

serve(async () => {
  const module = (await import(pathToFileURL(modulePath).href)) as { driver: DriverDefinition };
  return withFaults(module.driver, plan);
});
