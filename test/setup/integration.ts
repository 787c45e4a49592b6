import { testbedSetup } from "./testbed-setup.ts";

/** Integration tests run against every real component of the testbed. */
export default testbedSetup(["kube", "kwok", "helm", "kafka", "redis", "model", "chart-tools", "browser"]);
