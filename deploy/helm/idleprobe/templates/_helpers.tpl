{{/* Names and labels shared by the templates. */}}

{{- define "idleprobe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; the serve objects carry it. */}}
{{- define "idleprobe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "idleprobe.responder.fullname" -}}
{{- printf "%s-responder" (include "idleprobe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "idleprobe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "idleprobe.labels" -}}
helm.sh/chart: {{ include "idleprobe.chart" . }}
app.kubernetes.io/name: {{ include "idleprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector of the serve pods. */}}
{{- define "idleprobe.serve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "idleprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: serve
{{- end }}

{{/* Selector of the responder pods. */}}
{{- define "idleprobe.responder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "idleprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: responder
{{- end }}

{{- define "idleprobe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "idleprobe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "idleprobe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The config file as rendered into the ConfigMap. */}}
{{- define "idleprobe.config" -}}
{{- tpl .Values.config . }}
{{- end }}

{{/* Fails on a serve.mode the chart does not know. */}}
{{- define "idleprobe.serve.enabled" -}}
{{- $modes := list "daemonset" "sharded" "none" }}
{{- if not (has .Values.serve.mode $modes) }}
{{- fail (printf "serve.mode: %q is not one of daemonset, sharded, none" .Values.serve.mode) }}
{{- end }}
{{- if ne .Values.serve.mode "none" }}true{{ end }}
{{- end }}

{{/*
The serve pod template: the same for the DaemonSet and the StatefulSet. The
mode adds the node label (daemonset) or the shard flag (sharded).
*/}}
{{- define "idleprobe.serve.podTemplate" -}}
{{- $reload := .Values.serve.configReload }}
{{- if not (has $reload (list "sidecar" "checksum" "none")) }}
{{- fail (printf "serve.configReload: %q is not one of sidecar, checksum, none" $reload) }}
{{- end }}
metadata:
  labels:
    {{- include "idleprobe.serve.selectorLabels" . | nindent 4 }}
    {{- with .Values.serve.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or .Values.serve.podAnnotations (eq $reload "checksum") }}
  annotations:
    {{- if eq $reload "checksum" }}
    checksum/config: {{ include "idleprobe.config" . | sha256sum }}
    {{- end }}
    {{- with .Values.serve.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "idleprobe.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and .Values.serve.hostNetwork (eq .Values.serve.mode "daemonset") }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with .Values.serve.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.serve.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: idleprobe
      image: {{ include "idleprobe.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --config.file=/etc/idleprobe/idleprobe.yml
        - --storage.path=/var/lib/idleprobe/idleprobe-state.json
        - --web.listen-address=:{{ .Values.serve.port }}
        {{- if and (eq .Values.serve.mode "daemonset") .Values.serve.nodeLabel }}
        - --label={{ .Values.serve.nodeLabel }}=$(NODE_NAME)
        {{- end }}
        {{- if eq .Values.serve.mode "sharded" }}
        - --shard=$(POD_NAME)/{{ .Values.serve.shards }}
        {{- end }}
        {{- if not .Values.serve.whichHop }}
        - --no-which-hop
        {{- end }}
        {{- range $k, $v := .Values.serve.extraLabels }}
        - --label={{ $k }}={{ $v }}
        {{- end }}
        {{- with .Values.serve.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
      ports:
        - name: http-metrics
          containerPort: {{ .Values.serve.port }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /-/healthy
          port: http-metrics
        periodSeconds: 30
      readinessProbe:
        httpGet:
          path: /-/ready
          port: http-metrics
        periodSeconds: 10
      resources:
        {{- toYaml .Values.serve.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/idleprobe
          readOnly: true
        - name: data
          mountPath: /var/lib/idleprobe
    {{- if eq $reload "sidecar" }}
    - name: config-reloader
      image: {{ printf "%s:%s" .Values.configReloader.image.repository .Values.configReloader.image.tag }}
      imagePullPolicy: {{ .Values.configReloader.image.pullPolicy }}
      args:
        - --volume-dir=/etc/idleprobe
        - --webhook-url=http://127.0.0.1:{{ .Values.serve.port }}/-/reload
        - --webhook-method=POST
      resources:
        {{- toYaml .Values.configReloader.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/idleprobe
          readOnly: true
    {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "idleprobe.fullname" . }}-config
    {{- if not (and (eq .Values.serve.mode "sharded") .Values.serve.persistence.enabled) }}
    - name: data
      emptyDir:
        sizeLimit: {{ .Values.serve.persistence.size }}
    {{- end }}
  {{- with .Values.serve.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.serve.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.serve.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
