// The restricted Pod Security Standard, applied to every pod the operator renders: non-root, read-only
// root filesystem, no privilege escalation, every capability dropped, the runtime's default seccomp.
import type { V1PodSecurityContext, V1SecurityContext } from "@kubernetes/client-node";

/** The numeric non-root user and group of the jude image. */
export const judeUser = 65532;

/** Pod-level security context of every JUDE pod. */
export function restrictedPodSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: judeUser,
    runAsGroup: judeUser,
    fsGroup: judeUser,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container-level security context of every JUDE container. */
export function restrictedContainerSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}
