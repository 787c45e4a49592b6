import { testbedSetup } from "./testbed-setup.ts";

/** End-to-end flows use every real component of the testbed, including the local nodes that run pods. */
export default testbedSetup(["kube", "kwok", "helm", "kafka", "redis", "model", "local-nodes"]);
