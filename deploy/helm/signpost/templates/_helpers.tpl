{{/* The image both workloads run. */}}
{{- define "signpost.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* The kube-dns ClusterIP nodelocal also binds. */}}
{{- define "signpost.localips" -}}
{{ .Values.nodelocal.localIP }},{{ .Values.service.clusterIP }}
{{- end -}}

{{/* cluster-dns's Corefile from .Values.servers, in the coredns chart's shape. */}}
{{- define "signpost.corefile" -}}
{{- range $n, $server := .Values.servers }}
{{- if $n }}{{ "\n" }}{{ end }}
{{- range $i, $z := $server.zones }}{{ if $i }} {{ end }}{{ default "." $z.zone }}{{ if $server.port }}:{{ $server.port }}{{ end }}{{ end }} {
{{- range $server.plugins }}
    {{ .name }}{{ if .parameters }} {{ .parameters }}{{ end }}{{ if .configBlock }} {
{{ .configBlock | indent 8 }}
    }{{ end }}
{{- end }}
}
{{- end }}
{{- end -}}
