import { serve } from "@argo-artifact-drivers/core";
import { driver } from "./driver.js";

serve(driver);
