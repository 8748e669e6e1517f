{{/* Names and labels shared by every manifest. */}}

{{- define "cf.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cf.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "cf.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: creditfactory
{{- end -}}

{{/* Selector labels of one component: include "cf.selector" (dict "root" . "component" "web") */}}
{{- define "cf.selector" -}}
app.kubernetes.io/name: {{ include "cf.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cf.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "cf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "cf.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/* Environment of every platform container: settings from the ConfigMap, secrets by reference.
     include "cf.env" (dict "root" . "pooled" true) — pooled containers reach PostgreSQL through PgBouncer. */}}
{{- define "cf.env" -}}
- name: CREDITFACTORY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.existingSecret }}
      key: {{ if and .pooled .root.Values.pgbouncer.enabled }}PGBOUNCER_DATABASE_URL{{ else }}DATABASE_URL{{ end }}
- name: CREDITFACTORY_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ .root.Values.existingSecret }}, key: SECRET_KEY}
- name: CREDITFACTORY_MASTER_KEY
  valueFrom:
    secretKeyRef: {name: {{ .root.Values.existingSecret }}, key: MASTER_KEY}
- name: CREDITFACTORY_BROKER_URL
  valueFrom:
    secretKeyRef: {name: {{ .root.Values.existingSecret }}, key: BROKER_URL, optional: true}
- name: CREDITFACTORY_RATELIMIT_STORAGE_URL
  valueFrom:
    secretKeyRef: {name: {{ .root.Values.existingSecret }}, key: RATELIMIT_STORAGE_URL, optional: true}
- name: CREDITFACTORY_CLUSTERS
  valueFrom:
    secretKeyRef: {name: {{ .root.Values.existingSecret }}, key: CLUSTERS, optional: true}
{{- end -}}

{{/* Writable scratch space on a read-only root filesystem. */}}
{{- define "cf.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
- {name: data, mountPath: /var/lib/creditfactory}
{{- end -}}

{{- define "cf.volumes" -}}
- name: tmp
  emptyDir: {medium: Memory, sizeLimit: 64Mi}
- name: data
  emptyDir: {sizeLimit: 1Gi}
{{- end -}}

{{/* Liveness of a process without a port: its heartbeat file was touched in the last two minutes. */}}
{{- define "cf.heartbeatProbe" -}}
exec:
  command: ["sh", "-c", "test -n \"$(find /tmp/heartbeat -mmin -2 2>/dev/null)\""]
{{- end -}}
