{{- define "rampart.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rampart.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rampart.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "rampart.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "rampart.serverUrl" -}}
{{ if .Values.server.tlsSecretName }}https{{ else }}http{{ end }}://{{ include "rampart.fullname" . }}-server.{{ .Release.Namespace }}.svc:{{ .Values.server.port }}
{{- end -}}

{{- define "rampart.databaseUrl" -}}
{{- if .Values.postgresql.enabled -}}
postgres://{{ .Values.postgresql.user }}:$(POSTGRES_PASSWORD)@{{ include "rampart.fullname" . }}-postgresql:5432/{{ .Values.postgresql.database }}
{{- else -}}
{{ required "postgresql.enabled is false: set externalDatabase.url" .Values.externalDatabase.url }}
{{- end -}}
{{- end -}}
