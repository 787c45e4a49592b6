{{/* Names and labels shared by the chart's templates. */}}

{{- define "jude-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "jude-operator.selectorLabels" -}}
app.kubernetes.io/name: jude-operator
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "jude-operator.labels" -}}
{{ include "jude-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jude
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- /* The metrics Service: its name is a DNS label, 63 characters at most with the suffix. */ -}}
{{- define "jude-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "jude-operator.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{- define "jude-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jude-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "jude-operator.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- /* The operator's own image: repository:tag, pinned by image.digest when set. */ -}}
{{- define "jude-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "jude-operator.imageTag" .) -}}
{{- with .Values.image.digest }}@{{ . }}{{ end -}}
{{- end -}}

{{- /*
What this release's operator reconciles: its controllers, sorted, comma-separated; empty with no
replicas. Stamped on the watch Roles / ClusterRole so that another release can see the overlap.
*/ -}}
{{- define "jude-operator.reconciles" -}}
{{- if gt (int .Values.replicaCount) 0 -}}
{{- join "," (sortAlpha (default (list "bootstrap-run" "embedding-model" "nearline-pipeline") .Values.controllers)) -}}
{{- end -}}
{{- end -}}

{{- /*
Two releases whose operators reconcile the same controllers in the same namespace fight over every
child (each rewrites it to its own image and settings, with the same field manager, so nothing
conflicts and nothing says so). Refuse that at helm install/upgrade: the other releases' watch Roles in
the watched namespaces (in every namespace for a cluster-wide release) and, when this release writes
cluster-scoped objects anyway, their ClusterRoles. lookup answers nothing without a cluster (helm
template, Argo CD), and a namespaced release with crds.install=false (whose installer may hold no
cluster-wide read) does not see cluster-wide releases: the cluster-wide release sees it instead.
*/ -}}
{{- define "jude-operator.refuseOverlap" -}}
{{- $mine := compact (splitList "," (include "jude-operator.reconciles" .)) -}}
{{- if $mine -}}
{{- $candidates := list -}}
{{- $rbac := "rbac.authorization.k8s.io/v1" -}}
{{- range $namespace := (.Values.watchNamespaces | default (list "")) -}}
{{- $candidates = concat $candidates (default (list) (lookup $rbac "Role" $namespace "").items) -}}
{{- end -}}
{{- if or (not .Values.watchNamespaces) .Values.crds.install -}}
{{- $candidates = concat $candidates (default (list) (lookup $rbac "ClusterRole" "" "").items) -}}
{{- end -}}
{{- range $candidates -}}
{{- $labels := default (dict) .metadata.labels -}}
{{- $annotations := default (dict) .metadata.annotations -}}
{{- $owner := printf "%s/%s" (get $annotations "meta.helm.sh/release-namespace" | default "?") (get $annotations "meta.helm.sh/release-name" | default (get $labels "app.kubernetes.io/instance")) -}}
{{- if and (eq (get $labels "app.kubernetes.io/name") "jude-operator") (not (hasSuffix "-leader-election" .metadata.name)) (ne (get $labels "app.kubernetes.io/component") "user-access") (ne $owner (printf "%s/%s" $.Release.Namespace $.Release.Name)) -}}
{{- $theirs := list "bootstrap-run" "embedding-model" "nearline-pipeline" -}}
{{- if hasKey $annotations "jude.dev/reconciles" -}}
{{- $theirs = compact (splitList "," (get $annotations "jude.dev/reconciles")) -}}
{{- end -}}
{{- $shared := list -}}
{{- range $mine -}}
{{- if has . $theirs }}{{ $shared = append $shared . }}{{ end -}}
{{- end -}}
{{- if $shared -}}
{{- $where := ternary (printf "in namespace %s (its Role %s/%s)" .metadata.namespace .metadata.namespace .metadata.name) (printf "in every namespace (its ClusterRole %s)" .metadata.name) (hasKey .metadata "namespace") -}}
{{- fail (printf "another jude-operator release, %s, already runs controllers %s %s: two operators would rewrite the same objects back and forth. Give the releases disjoint watchNamespaces or controllers, set replicaCount=0 on one, or uninstall the other first" $owner (join ", " $shared) $where) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /*
A watched namespace holds the operator's Role: one that does not exist made helm install fail half-way
(namespaces "x" not found, a failed release with some objects written) without naming the value. Name
it before anything is written. lookup answers nothing without a cluster (helm template, Argo CD): the
check runs only when it finds a watched namespace, the release namespace, or kube-system (the release
namespace is new with --create-namespace on a first install: helm creates it after rendering, so it
alone told the README's install from helm template, and a failed release was left behind).
*/ -}}
{{- define "jude-operator.requireWatchedNamespaces" -}}
{{- $missing := list -}}
{{- $cluster := not (and (empty (lookup "v1" "Namespace" "" .Release.Namespace)) (empty (lookup "v1" "Namespace" "" "kube-system"))) -}}
{{- range .Values.watchNamespaces -}}
{{- if empty (lookup "v1" "Namespace" "" .) -}}
{{- $missing = append $missing . -}}
{{- else -}}
{{- $cluster = true -}}
{{- end -}}
{{- end -}}
{{- if and $cluster $missing -}}
{{- fail (printf "watchNamespaces: namespace %s does not exist (the operator's Role for it would live there): create it first, or remove it from watchNamespaces" (join ", " $missing)) -}}
{{- end -}}
{{- end -}}

{{- /*
The labels or annotations of a values map (extra) that the chart does not set itself (own, YAML), as
YAML, for the lines after the chart's own. A key the chart sets is left out when it holds the chart's
value and refused otherwise: appended, it would be in the map twice, and the API server keeps the last
(a pod label app.kubernetes.io/name then no longer matches the Deployment's selector).
*/ -}}
{{- define "jude-operator.extraMetadata" -}}
{{- $own := fromYaml .own }}
{{- $rest := dict }}
{{- range $key, $value := .extra }}
{{- if not (hasKey $own $key) }}
{{- $_ := set $rest $key $value }}
{{- else if ne (toString $value) (toString (get $own $key)) }}
{{- fail (printf "%s sets %q to %q, but the chart sets it to %q: leave it out" $.field $key (toString $value) (toString (get $own $key))) }}
{{- end }}
{{- end }}
{{- if $rest }}
{{- toYaml $rest }}
{{- end }}
{{- end -}}
